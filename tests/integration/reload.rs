//! Hot reload of `cronwheel run`: the task file changed in place, replaced by a rename,
//! swapped through symlinks as a Kubernetes ConfigMap is, broken, deleted, or changed
//! with `--no-watch` and SIGHUP; what a reload keeps and changes; and the root-only
//! refusal of a file others could change. Every wait is for an event (a log line); a
//! "this did not happen" is checked up to a later event that did.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::util::{
    count, cronwheel, is_end, is_output, is_reload, is_start, message, mkdir_755, of_task,
    reload_counts, replace_by_rename, run, run_output, secs_between, select, str_field,
    swap_symlink, timestamp, write_in_place, write_new, Daemon, TaskDir, WAIT,
};

/// A 1 s interval task that shows the daemon is still firing.
const TICK: &str = "
  - task_id: tick
    interval_seconds: 1
    entry_point: 'echo tick'
";

/// A task a reload adds.
const FRESH: &str = "
  - task_id: fresh
    interval_seconds: 1
    entry_point: 'echo fresh'
";

/// The run_id of a line.
fn run_id(v: &Value) -> &str {
    str_field(v, "run_id")
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat the task file").ino()
}

/// Waits for the first run of `task` after the cursor to end, checks it succeeded, and
/// returns its output lines.
fn next_run_output(d: &mut Daemon, task: &str) -> Vec<String> {
    let end = d.wait_for(|v| is_end(v, task), WAIT);
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    run_output(&d.log(), run_id(&end))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Times printed by `date +%s.%N`, as their distance from the first one's grid: each
/// `(t - t0)` folded to [-0.5, 0.5) s around a whole number of seconds. Their spread
/// is how far the runs strayed from a 1 s grid.
fn grid_spread(times: &[f64]) -> f64 {
    let offsets: Vec<f64> = times
        .iter()
        .map(|t| {
            let d = t - times[0];
            d - d.round()
        })
        .collect();
    offsets.iter().cloned().fold(f64::MIN, f64::max)
        - offsets.iter().cloned().fold(f64::MAX, f64::min)
}

/// The times a task printed with `date +%s.%N` (the last word of each output line).
fn printed_times(log: &[Value], task: &str) -> Vec<f64> {
    select(log, |v| is_output(v) && of_task(v, task))
        .iter()
        .map(|v| {
            message(v)
                .split_whitespace()
                .last()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("not a time: {v}"))
        })
        .collect()
}

fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return false;
    }
    eprintln!("skipped {test}: the ownership checks only apply when running as root");
    true
}

#[test]
fn an_in_place_edit_reloads_and_the_new_task_runs() {
    let mut d = Daemon::start(&format!("tasks:{TICK}"));
    let file = d.task_file();
    let before = inode(&file);
    write_in_place(&file, &format!("tasks:{TICK}{FRESH}"));
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(
        message(&line),
        "reload: 1 added, 0 removed, 0 changed, 1 unchanged",
        "{line}"
    );
    assert_eq!(str_field(&line, "level"), "INFO", "{line}");
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(inode(&file), before, "the edit must keep the inode");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
}

#[test]
fn a_file_replaced_by_a_rename_reloads() {
    let mut d = Daemon::start(&format!("tasks:{TICK}"));
    let file = d.task_file();
    let before = inode(&file);
    replace_by_rename(&file, &format!("tasks:{TICK}{FRESH}"));
    assert_ne!(inode(&file), before, "the rename must bring a new inode");
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
}

#[test]
fn a_configmap_symlink_swap_reloads() {
    // The layout the kubelet makes for a mounted ConfigMap:
    //   tasks.yaml -> ..data/tasks.yaml, ..data -> ..2026_v1
    let dir = TaskDir::new();
    mkdir_755(&dir.path("..2026_v1"));
    write_new(
        &dir.path("..2026_v1/tasks.yaml"),
        &format!(
            "tasks:{TICK}  - task_id: old\n    interval_seconds: 1\n    entry_point: 'echo old'\n"
        ),
    );
    std::os::unix::fs::symlink("..2026_v1", dir.path("..data")).unwrap();
    std::os::unix::fs::symlink("..data/tasks.yaml", dir.path("tasks.yaml")).unwrap();
    let config = dir.path("tasks.yaml");
    let v1 = dir.path("..2026_v1");
    let v2 = dir.path("..2026_v2");
    let data = dir.path("..data");
    let mut d = Daemon::start_in(dir, &config, &[], &[]);
    d.wait_for(|v| is_start(v, "old"), WAIT);

    // An update: a new timestamped directory, then `..data` swapped to it atomically.
    mkdir_755(&v2);
    write_new(&v2.join("tasks.yaml"), &format!("tasks:{TICK}{FRESH}"));
    swap_symlink(&data, "..2026_v2");
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(
        message(&line),
        "reload: 1 added, 1 removed, 0 changed, 1 unchanged",
        "{line}"
    );
    assert_eq!(reload_counts(&line), [1, 1, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
    // The kubelet then deletes the old version: nothing to reload.
    std::fs::remove_dir_all(&v1).unwrap();
    // Two ticks later, the removed task has not started again, and there was no other
    // reload, failed or applied.
    let mark = d.mark();
    let log = d.wait_count_since(mark, 2, |v| is_start(v, "tick"), WAIT);
    let at = log
        .iter()
        .position(|v| v == &line)
        .expect("the reload line");
    assert_eq!(count(&log[at..], |v| is_start(v, "old")), 0, "{}", d.dump());
    assert_eq!(count(&log, is_reload), 1, "{}", d.dump());
    assert_eq!(
        count(&log, |v| message(v).starts_with("reload failed")),
        0,
        "{}",
        d.dump()
    );
}

#[test]
fn garbage_fails_the_reload_and_the_tasks_keep_firing_until_it_is_fixed() {
    let mut d = Daemon::start(&format!("tasks:{TICK}"));
    let file = d.task_file();
    write_in_place(&file, "tasks: [unclosed\n  - {");
    let failed = d.wait_for(|v| message(v).starts_with("reload failed"), WAIT);
    assert_eq!(
        message(&failed),
        "reload failed; the current tasks keep running unchanged",
        "{failed}"
    );
    assert_eq!(str_field(&failed, "level"), "ERROR", "{failed}");
    assert!(
        str_field(&failed, "error").contains("tasks.yaml"),
        "{failed}"
    );
    // The tasks keep firing.
    let mark = d.mark();
    d.wait_count_since(mark, 2, |v| is_end(v, "tick"), WAIT);

    write_in_place(&file, &format!("tasks:{TICK}{FRESH}"));
    let line = d.wait_for(is_reload, WAIT);
    // The diff is against the tasks that kept running, not against the garbage.
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
    let log = d.log();
    assert_eq!(count(&log, is_reload), 1, "{}", d.dump());
}

#[test]
fn a_deleted_file_keeps_the_tasks_and_its_return_reloads() {
    let mut d = Daemon::start(&format!("tasks:{TICK}"));
    let file = d.task_file();
    std::fs::remove_file(&file).unwrap();
    let gone = d.wait_for(|v| message(v).starts_with("the task file is gone"), WAIT);
    assert_eq!(str_field(&gone, "level"), "WARN", "{gone}");
    let mark = d.mark();
    d.wait_count_since(mark, 2, |v| is_end(v, "tick"), WAIT);

    write_new(&file, &format!("tasks:{TICK}{FRESH}"));
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
    assert_eq!(count(&d.log(), is_reload), 1, "{}", d.dump());
}

#[test]
fn a_touch_reloads_nothing() {
    let dir = TaskDir::new();
    let file = dir.write("tasks.yaml", format!("tasks:{TICK}"));
    let mut d = Daemon::start_in(dir, &file, &["--log-level", "debug"], &[]);
    // Same bytes, new mtime: a change event with nothing to reload, told at debug.
    let same = std::fs::read_to_string(&file).unwrap();
    write_in_place(&file, &same);
    let touched = d.wait_for(
        |v| message(v) == "task file touched but unchanged; nothing to reload",
        WAIT,
    );
    assert_eq!(str_field(&touched, "level"), "DEBUG", "{touched}");
    let mark = d.mark();
    // Past the debounce: two ticks later, a real change.
    d.wait_count_since(mark, 2, |v| is_end(v, "tick"), WAIT);
    write_in_place(&file, &format!("tasks:{TICK}{FRESH}"));
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(count(&d.log(), is_reload), 1, "{}", d.dump());
}

#[test]
fn with_no_watch_only_sighup_reloads() {
    let dir = TaskDir::new();
    let config = dir.write("tasks.yaml", format!("tasks:{TICK}"));
    let mut d = Daemon::start_in(dir, &config, &["--no-watch"], &[]);
    write_in_place(&config, &format!("tasks:{TICK}{FRESH}"));
    let edited = d.mark();
    // Three ticks, well past the debounce: a watcher would have reloaded by now.
    d.wait_count_since(edited, 3, |v| is_end(v, "tick"), WAIT);
    d.signal(Signal::SIGHUP);
    let hup = d.wait_for(
        |v| message(v) == "reloading the task file" && str_field(v, "signal") == "SIGHUP",
        WAIT,
    );
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
    let log = d.log();
    let at_hup = log.iter().position(|v| v == &hup).expect("the SIGHUP line");
    let before = &log[..at_hup];
    assert_eq!(count(before, is_reload), 0, "{}", d.dump());
    assert_eq!(count(before, |v| is_start(v, "fresh")), 0, "{}", d.dump());
    assert_eq!(count(&log, is_reload), 1, "{}", d.dump());
}

#[test]
fn fifty_rewrites_in_a_second_give_few_reloads_and_firing_goes_on() {
    let a =
        format!("tasks:{TICK}  - task_id: x\n    interval_seconds: 1\n    entry_point: 'echo A'\n");
    let b = a.replace("echo A", "echo B");
    let mut d = Daemon::start(&a);
    let file = d.task_file();
    d.wait_for(|v| is_start(v, "tick"), WAIT);
    let burst = d.mark();
    // A then B, 25 times each, 20 ms apart: ends on B, a change.
    for i in 0..50 {
        write_in_place(&file, if i % 2 == 0 { &a } else { &b });
        std::thread::sleep(Duration::from_millis(20));
    }
    // One more change after the burst; its reload is the barrier.
    let c = format!(
        "{b}  - task_id: marker\n    interval_seconds: 1\n    entry_point: 'echo marker'\n"
    );
    write_in_place(&file, &c);
    let last = d.wait_for(|v| is_reload(v) && v["added"] == 1, WAIT);
    assert_eq!(next_run_output(&mut d, "marker"), ["marker"]);
    // x now runs B: the last content.
    assert_eq!(next_run_output(&mut d, "x"), ["B"]);
    d.wait_for(|v| is_start(v, "tick"), WAIT);
    assert!(d.is_running());

    let log = d.log();
    let at_last = log
        .iter()
        .position(|v| v == &last)
        .expect("the last reload line");
    let reloads = count(&log[burst..at_last], is_reload);
    assert!(
        reloads <= 10,
        "{reloads} reloads for 50 rewrites:\n{}",
        d.dump()
    );
    // tick kept firing on its grid through the burst and after it.
    let ticks = select(&log[burst..], |v| is_start(v, "tick"));
    assert!(ticks.len() >= 2, "{}", d.dump());
    for w in ticks.windows(2) {
        let gap = secs_between(w[0], w[1]);
        assert!(gap < 1.6, "{gap} s between ticks:\n{}", d.dump());
    }
    // A reload may only fail on a file caught empty between a truncation and its write.
    let failed = select(&log, |v| message(v).starts_with("reload failed"));
    assert!(
        failed
            .iter()
            .all(|v| str_field(v, "error").contains("empty")),
        "{}",
        d.dump()
    );
}

#[test]
fn an_unchanged_interval_task_keeps_its_grid_across_ten_reloads() {
    let yaml = |k: u32| {
        format!(
            "tasks:
  - task_id: grid
    interval_seconds: 1
    entry_point: 'date +%s.%N'
  - task_id: other
    cron: '0 0 1 1 *'
    entry_point: 'echo {k}'
"
        )
    };
    let mut d = Daemon::start(&yaml(0));
    let file = d.task_file();
    let first = d.mark();
    d.wait_count_since(first, 2, |v| is_output(v) && of_task(v, "grid"), WAIT);
    for k in 1..=10 {
        write_in_place(&file, &yaml(k));
        let line = d.wait_for(is_reload, WAIT);
        assert_eq!(reload_counts(&line), [0, 0, 1, 1, 0], "reload {k}: {line}");
    }
    let after = d.mark();
    let log = d.wait_count_since(after, 2, |v| is_output(v) && of_task(v, "grid"), WAIT);
    assert_eq!(count(&log, is_reload), 10, "{}", d.dump());
    let times = printed_times(&log, "grid");
    assert!(times.len() >= 5, "{times:?}");
    let spread = grid_spread(&times);
    assert!(spread < 0.05, "the grid moved by {spread} s: {times:?}");
}

/// A `slow` run is going when a reload to `after` (with `tick` unchanged) unschedules
/// its task: the reload line is `summary`, the run finishes normally, and the task
/// does not start again.
fn unscheduled_while_running(after: &str, summary: &str) {
    let mut d = Daemon::start(&format!(
        "tasks:{TICK}  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 3; echo finished'
"
    ));
    let started = d.wait_for(|v| is_start(v, "slow"), WAIT);
    write_in_place(&d.task_file(), after);
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(message(&line), summary, "{line}");
    let end = d.wait_for(|v| is_end(v, "slow"), WAIT);
    assert_eq!(run_id(&end), run_id(&started), "{}", d.dump());
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    assert_ne!(end["stopped"], true, "{end}");
    assert!(timestamp(&line) < timestamp(&end), "{}", d.dump());
    assert_eq!(run_output(&d.log(), run_id(&end)), ["finished"]);
    // Longer than its interval after the end: it never started again.
    let mark = d.mark();
    let log = d.wait_count_since(mark, 3, |v| is_start(v, "tick"), WAIT);
    assert_eq!(count(&log, |v| is_start(v, "slow")), 1, "{}", d.dump());
}

#[test]
fn a_task_removed_while_running_finishes_and_does_not_start_again() {
    unscheduled_while_running(
        &format!("tasks:{TICK}"),
        "reload: 0 added, 1 removed, 0 changed, 1 unchanged",
    );
}

#[test]
fn a_task_disabled_while_running_finishes_and_does_not_start_again() {
    unscheduled_while_running(
        &format!(
            "tasks:{TICK}  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 3; echo finished'
    enabled: false
"
        ),
        "reload: 0 added, 0 removed, 1 changed, 1 unchanged",
    );
}

#[test]
fn an_entry_that_became_invalid_keeps_its_previous_definition() {
    let old = format!(
        "tasks:{TICK}  - task_id: typo\n    interval_seconds: 1\n    entry_point: 'echo old'\n"
    );
    let mut d = Daemon::start(&old);
    d.wait_for(|v| is_start(v, "typo"), WAIT);
    write_in_place(
        &d.task_file(),
        &old.replace("entry_point: 'echo old'", "entry_pointt: 'echo new'"),
    );
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(
        message(&line),
        "reload: 0 added, 0 removed, 0 changed, 1 unchanged, 1 invalid (previous definition kept)",
        "{line}"
    );
    assert_eq!(reload_counts(&line), [0, 0, 0, 1, 1], "{line}");
    let log = d.log();
    assert!(
        log.iter().any(|v| str_field(v, "level") == "ERROR"
            && message(v).contains("(typo)")
            && message(v).contains("entry_pointt")),
        "{}",
        d.dump()
    );
    // It keeps firing, with its old command.
    for _ in 0..2 {
        assert_eq!(next_run_output(&mut d, "typo"), ["old"]);
    }
}

#[test]
fn a_changed_command_applies_from_the_next_run_on_the_same_grid() {
    let yaml = |word: &str| {
        format!(
            "tasks:
  - task_id: cmd
    interval_seconds: 1
    entry_point: 'echo {word} $(date +%s.%N)'
"
        )
    };
    let mut d = Daemon::start(&yaml("A"));
    let first = d.mark();
    d.wait_count_since(first, 2, |v| is_output(v) && of_task(v, "cmd"), WAIT);
    write_in_place(&d.task_file(), &yaml("B"));
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [0, 0, 1, 0, 0], "{line}");
    let after = d.mark();
    let log = d.wait_count_since(after, 3, |v| is_output(v) && of_task(v, "cmd"), WAIT);

    // Each run's word and start, in start order: A… then B…, switching at the reload.
    let runs: Vec<(String, &Value)> = select(&log, |v| is_start(v, "cmd"))
        .into_iter()
        .filter_map(|s| {
            let out = run_output(&log, run_id(s));
            Some((out.first()?.split_whitespace().next()?.to_owned(), s))
        })
        .collect();
    let words: Vec<&str> = runs.iter().map(|(w, _)| w.as_str()).collect();
    let switch = words.iter().position(|w| *w == "B").expect("a run of B");
    assert!(switch >= 2, "{words:?}");
    assert!(words[switch..].iter().all(|w| *w == "B"), "{words:?}");
    assert!(words.len() - switch >= 2, "{words:?}");
    // The first B run is the first one started after the reload (a run dispatched in
    // the same instant as the reload may log its start just after it).
    assert!(secs_between(&line, runs[switch].1) > -0.1, "{}", d.dump());
    assert!(
        secs_between(runs[switch - 1].1, &line) > -0.1,
        "{}",
        d.dump()
    );
    let spread = grid_spread(&printed_times(&log, "cmd"));
    assert!(spread < 0.05, "the grid moved by {spread} s:\n{}", d.dump());
}

// ---- Root: a file others could change is refused ---------------------------------------

/// `cronwheel run` on `config`, expected to exit at once.
fn run_refused(config: &Path) -> crate::util::Outcome {
    run(cronwheel()
        .arg("run")
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "--no-watch"])
        .timeout(WAIT))
}

#[test]
fn as_root_a_group_writable_task_file_is_refused() {
    if skip_unless_root("as_root_a_group_writable_task_file_is_refused") {
        return;
    }
    let dir = TaskDir::new();
    let config = dir.path("tasks.yaml");
    write_new(&config, &format!("tasks:{TICK}"));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let want = format!(
        "cronwheel: {}: refused: the task file {} is writable by group or others (mode 664) and the daemon runs as root; run chmod go-w",
        config.display(),
        std::fs::canonicalize(&config).unwrap().display()
    );
    let started = run_refused(&config);
    assert_eq!(started.code, 2, "{started:?}");
    assert_eq!(started.stderr_lines(), [want.as_str()], "{started:?}");
    let checked = crate::util::check(&config, &[]);
    assert_eq!(checked.code, 2, "{checked:?}");
    assert_eq!(checked.stderr_lines(), [want.as_str()], "{checked:?}");
}

#[test]
fn as_root_a_group_writable_directory_is_refused() {
    if skip_unless_root("as_root_a_group_writable_directory_is_refused") {
        return;
    }
    let dir = TaskDir::new();
    let sub = dir.path("etc");
    mkdir_755(&sub);
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o775)).unwrap();
    let config = sub.join("tasks.yaml");
    write_new(&config, &format!("tasks:{TICK}"));
    let want = format!(
        "refused: its directory {} is writable by group or others (mode 775)",
        std::fs::canonicalize(&sub).unwrap().display()
    );
    for out in [run_refused(&config), crate::util::check(&config, &[])] {
        assert_eq!(out.code, 2, "{out:?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(lines[0].contains(&want), "{out:?}");
    }
}

#[test]
fn as_root_a_reload_of_a_group_writable_file_is_refused_and_the_tasks_stay() {
    if skip_unless_root("as_root_a_reload_of_a_group_writable_file_is_refused_and_the_tasks_stay") {
        return;
    }
    let mut d = Daemon::start(&format!("tasks:{TICK}"));
    let file = d.task_file();
    let refused = |v: &Value| {
        message(v) == "reload failed; the current tasks keep running unchanged"
            && str_field(v, "error").contains("refused: the task file")
            && str_field(v, "error").contains("(mode 664)")
    };
    // The chmod alone is a change event: the reload it triggers is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    let first = d.wait_for(refused, WAIT);
    assert_eq!(str_field(&first, "level"), "ERROR", "{first}");
    // So is a real change to the group-writable file.
    write_in_place(&file, &format!("tasks:{TICK}{FRESH}"));
    d.wait_for(refused, WAIT);
    let mark = d.mark();
    let log = d.wait_count_since(mark, 2, |v| is_end(v, "tick"), WAIT);
    assert_eq!(count(&log, is_reload), 0, "{}", d.dump());
    assert_eq!(count(&log, |v| is_start(v, "fresh")), 0, "{}", d.dump());

    // chmod go-w: the change is now applied.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 0, 0, 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
}

/// `n` tasks that never come due within the test, `idle0`…: with TICK a file over
/// 64 KiB from about 800 tasks on, large enough for the loader to read in two halves.
fn idle_tasks(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("  - task_id: idle{i}\n    interval_seconds: 86400\n    entry_point: 'echo idle {i}'\n")
        })
        .collect()
}

#[test]
fn a_large_file_starts_whole_and_reloads_by_its_diff() {
    let n = 2000;
    let old = format!("tasks:{TICK}{}", idle_tasks(n));
    assert!(old.len() > 128 * 1024);
    let mut d = Daemon::start(&old);
    let log = d.log();
    let started = select(&log, |v| message(v) == "cronwheel started");
    assert_eq!(started.len(), 1, "{}", d.dump());
    assert_eq!(
        started[0]["tasks"].as_u64(),
        Some(n as u64 + 1),
        "{}",
        started[0]
    );
    // One task removed (the first), one changed (one near the middle), one added (last).
    let new =
        old.replace(
            "  - task_id: idle0\n    interval_seconds: 86400\n    entry_point: 'echo idle 0'\n",
            "",
        )
        .replace(
            "  - task_id: idle1000\n    interval_seconds: 86400\n",
            "  - task_id: idle1000\n    interval_seconds: 43200\n",
        ) + FRESH;
    write_in_place(&d.task_file(), &new);
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(reload_counts(&line), [1, 1, 1, n as u64 - 1, 0], "{line}");
    assert_eq!(next_run_output(&mut d, "fresh"), ["fresh"]);
}
