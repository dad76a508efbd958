//! `cronwheel run`: the real daemon on real task files, observed through its JSON log
//! and /proc. Every wait is for an event (a log line, a process gone), with a generous
//! bound; nothing sleeps for a fixed time.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::util::{
    children_of, count, descendants, group_gone, is_end, is_output, is_run_end, is_start,
    live_members, message, of_task, pid_of, poll_until, proc_stat, secs_between, select, str_field,
    timestamp, Daemon, Sampler, WAIT,
};

/// A 1 s interval task that shows the daemon is still firing.
const TICK: &str = "
  - task_id: tick
    interval_seconds: 1
    entry_point: 'echo tick'
";

/// The run_id of a line.
fn run_id(v: &Value) -> &str {
    str_field(v, "run_id")
}

/// The output lines of run `run`, in order.
fn output_of<'a>(log: &'a [Value], run: &str) -> Vec<&'a str> {
    log.iter()
        .filter(|v| is_output(v) && run_id(v) == run)
        .map(message)
        .collect()
}

/// Walks the starts and ends of `task` in log order; the most runs at once.
fn max_concurrent_runs(log: &[Value], task: &str) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for v in log {
        if is_start(v, task) {
            now += 1;
            max = max.max(now);
        } else if is_end(v, task) {
            now = now.saturating_sub(1);
        }
    }
    max
}

#[test]
fn a_failed_run_is_logged_with_its_exit_code_and_firing_goes_on() {
    let mut d = Daemon::start(&format!(
        "tasks:
  - task_id: fails
    cron: '@reboot'
    entry_point: 'exit 3'
{TICK}"
    ));
    let end = d.wait_for(|v| is_end(v, "fails"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "failed", "{end}");
    assert_eq!(str_field(&end, "level"), "WARN", "{end}");
    assert!(message(&end).contains("exit 3"), "{end}");
    // Two more runs of another task after the failure.
    for _ in 0..2 {
        let tick = d.wait_for(|v| is_end(v, "tick"), WAIT);
        assert_eq!(str_field(&tick, "outcome"), "success", "{tick}");
    }
    // No retries by default: the failed task ran once.
    assert_eq!(count(&d.log(), |v| is_start(v, "fails")), 1, "{}", d.dump());
}

#[test]
fn a_run_killed_by_a_signal_is_killed() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: k9
    cron: '@reboot'
    entry_point: 'kill -9 $$'
",
    );
    let end = d.wait_for(|v| is_end(v, "k9"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "killed", "{end}");
    assert!(message(&end).contains("SIGKILL"), "{end}");
}

#[test]
fn a_timeout_kills_the_whole_process_group() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    cron: '@reboot'
    entry_point: 'sleep 100 & sleep 100'
    timeout_seconds: 1
    kill_grace_seconds: 1
",
    );
    let started = d.wait_for(|v| is_start(v, "slow"), WAIT);
    let pgid = pid_of(&started);
    // The run leads its own group, and the background sleep is in it.
    assert_eq!(proc_stat(pgid).map(|p| p.pgrp), Some(pgid));
    let two = poll_until(WAIT, || live_members(pgid).len() >= 2);
    assert!(two, "the grandchild never showed up in group {pgid}");

    d.wait_for(
        |v| of_task(v, "slow") && message(v).starts_with("timeout: SIGTERM"),
        WAIT,
    );
    let end = d.wait_for(|v| is_end(v, "slow"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "timeout", "{end}");
    assert!(end["duration_ms"].as_u64().unwrap() >= 1000, "{end}");
    let daemon = d.pid();
    let gone = poll_until(WAIT, || group_gone(pgid, daemon));
    assert!(
        gone,
        "process group {pgid} still has members: {:?}",
        live_members(pgid)
    );
}

#[test]
fn ten_mib_of_output_is_truncated_once_and_memory_stays_small() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: loud
    cron: '@reboot'
    entry_point: 'head -c 10485760 /dev/zero | tr ''\\0'' a | fold -w 1000'
",
    );
    let rss = Sampler::start(d.pid(), "VmRSS");
    let started = d.wait_for(|v| is_start(v, "loud"), WAIT);
    let run = run_id(&started).to_owned();
    let end = d.wait_for(|v| is_end(v, "loud"), Duration::from_secs(60));
    let max_rss_kb = rss.finish();
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");

    let log = d.log();
    let truncated = count(&log, |v| {
        run_id(v) == run && message(v).starts_with("output truncated")
    });
    assert_eq!(truncated, 1, "{}", d.dump());
    let lines = output_of(&log, &run);
    assert!(
        (1000..=1100).contains(&lines.len()),
        "{} output lines logged",
        lines.len()
    );
    assert!(lines
        .iter()
        .all(|l| l.len() == 1000 && l.bytes().all(|b| b == b'a')));
    assert!(max_rss_kb > 0, "VmRSS was never read");
    assert!(
        max_rss_kb < 64 * 1024,
        "the daemon's RSS reached {max_rss_kb} kB"
    );
}

#[test]
fn a_missing_program_is_a_spawn_error_and_firing_goes_on() {
    let mut d = Daemon::start(&format!(
        "tasks:
  - task_id: ghost
    cron: '@reboot'
    task_type: exec
    entry_point: ['/nonexistent/x']
{TICK}"
    ));
    let failed = d.wait_for(
        |v| of_task(v, "ghost") && message(v).contains("spawn_error"),
        WAIT,
    );
    assert_eq!(str_field(&failed, "level"), "WARN", "{failed}");
    assert!(message(&failed).starts_with("run ended"), "{failed}");
    assert!(message(&failed).contains("/nonexistent/x"), "{failed}");
    assert_eq!(failed["outcome"], "spawn_error", "{failed}");
    assert!(failed.get("duration_ms").is_some(), "{failed}");
    let tick = d.wait_for(|v| is_end(v, "tick"), WAIT);
    assert_eq!(str_field(&tick, "outcome"), "success", "{tick}");
    assert_eq!(count(&d.log(), |v| is_start(v, "ghost")), 0);
}

#[test]
fn a_run_reading_stdin_sees_end_of_file_at_once() {
    // The daemon's own stdin is a pipe that stays open: a run that inherited it would
    // block in `cat` until its timeout.
    let mut d = Daemon::start(
        "tasks:
  - task_id: reader
    cron: '@reboot'
    entry_point: 'cat; echo done'
    timeout_seconds: 15
",
    );
    let end = d.wait_for(|v| is_end(v, "reader"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    assert!(end["duration_ms"].as_u64().unwrap() < 5000, "{end}");
    assert_eq!(output_of(&d.log(), run_id(&end)), ["done"]);
}

#[test]
fn a_run_gets_a_clean_environment() {
    let mut d = Daemon::start_with_env(
        "tasks:
  - task_id: envdump
    cron: '@reboot'
    entry_point: 'env | sort'
    env: { MY_VAR: my-value }
",
        &[("CRONWHEEL_TEST_LEAK", "1")],
    );
    let end = d.wait_for(|v| is_end(v, "envdump"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    let run = run_id(&end).to_owned();
    let log = d.log();
    let lines = output_of(&log, &run);
    for want in [
        "CRONWHEEL_TASK_ID=envdump".to_owned(),
        format!("CRONWHEEL_RUN_ID={run}"),
        "PATH=/usr/local/bin:/usr/bin:/bin".to_owned(),
        "MY_VAR=my-value".to_owned(),
        "SHELL=/bin/sh".to_owned(),
    ] {
        assert!(lines.contains(&want.as_str()), "no {want} in {lines:?}");
    }
    // Nothing of the daemon's own environment (it has CRONWHEEL_TEST_LEAK and TZ) gets
    // through; the shell may add its own PWD.
    let allowed = [
        "HOME",
        "LOGNAME",
        "USER",
        "SHELL",
        "PATH",
        "MY_VAR",
        "CRONWHEEL_TASK_ID",
        "CRONWHEEL_RUN_ID",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ];
    for line in &lines {
        let name = line.split('=').next().unwrap();
        assert!(
            allowed.contains(&name),
            "unexpected variable {line:?} in {lines:?}"
        );
    }
}

#[test]
fn overlap_skip_drops_firings_while_a_run_is_going() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 1.5'
    overlap: skip
",
    );
    let log = d.wait_until(|log| count(log, |v| is_end(v, "slow")) >= 2, WAIT);
    let skipped = count(&log, |v| {
        of_task(v, "slow") && message(v).starts_with("skipped: the previous run is still running")
    });
    assert!(skipped >= 1, "{}", d.dump());
    assert_eq!(max_concurrent_runs(&log, "slow"), 1, "{}", d.dump());
    // Every skip falls while a run is going.
    let mut running = 0;
    for v in &log {
        if is_start(v, "slow") {
            running += 1;
        } else if is_end(v, "slow") {
            running -= 1;
        } else if of_task(v, "slow") && message(v).starts_with("skipped") {
            assert_eq!(running, 1, "a skip with no run going: {v}");
        }
    }
}

#[test]
fn overlap_queue_keeps_one_pending_run_started_when_the_current_ends() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 2.3'
    overlap: queue
",
    );
    let log = d.wait_until(|log| count(log, |v| is_start(v, "slow")) >= 3, WAIT);
    assert_eq!(max_concurrent_runs(&log, "slow"), 1, "{}", d.dump());
    let starts = select(&log, |v| is_start(v, "slow"));
    let ends = select(&log, |v| is_end(v, "slow"));
    assert!(ends.len() >= 2, "{}", d.dump());
    for k in 1..3 {
        let gap = secs_between(ends[k - 1], starts[k]);
        assert!(
            (0.0..0.5).contains(&gap),
            "run {} started {gap} s after the end of run {k}",
            k + 1
        );
    }
    // Two firings fall in each run: one is queued, the other dropped.
    let dropped = count(&log, |v| {
        of_task(v, "slow") && message(v).starts_with("skipped: a run is already queued")
    });
    assert!(dropped >= 1, "{}", d.dump());
}

#[test]
fn overlap_allow_runs_the_same_task_twice_at_once() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 2.5'
    overlap: allow
",
    );
    let log = d.wait_until(|log| count(log, |v| is_start(v, "slow")) >= 2, WAIT);
    assert_eq!(count(&log, |v| is_end(v, "slow")), 0, "{}", d.dump());
    assert_eq!(max_concurrent_runs(&log, "slow"), 2);
    let daemon = d.pid();
    let sleeping = descendants(daemon)
        .iter()
        .filter(|p| p.ppid == daemon && p.state != 'Z')
        .count();
    assert!(sleeping >= 2, "{sleeping} runs alive");
}

#[test]
fn overlap_replace_stops_the_current_run_and_starts_a_new_one() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 60'
    overlap: replace
    kill_grace_seconds: 5
",
    );
    let first = d.wait_for(|v| is_start(v, "slow"), WAIT);
    let stopping = d.wait_for(
        |v| of_task(v, "slow") && message(v).starts_with("stopping the current run"),
        WAIT,
    );
    let ended = d.wait_for(|v| is_end(v, "slow"), WAIT);
    assert_eq!(run_id(&ended), run_id(&first), "{}", d.dump());
    assert_eq!(str_field(&ended, "outcome"), "killed", "{ended}");
    assert!(message(&ended).contains("SIGTERM"), "{ended}");
    assert_eq!(ended["stopped"], true, "{ended}");
    let second = d.wait_for(|v| is_start(v, "slow"), WAIT);
    assert_ne!(run_id(&second), run_id(&first));
    assert!(timestamp(&stopping) <= timestamp(&ended));
    // SIGTERM did it: well before the 5 s kill grace.
    assert!(secs_between(&stopping, &ended) < 4.0, "{}", d.dump());
    assert!(secs_between(&ended, &second) < 1.0, "{}", d.dump());
}

/// The `run_id` of "stopping the current run" must name the run being stopped, as the
/// run's own lines do.
#[test]
fn overlap_replace_names_the_stopped_run_by_its_run_id() {
    let mut d = Daemon::start(
        "tasks:
  - task_id: slow
    interval_seconds: 1
    entry_point: 'sleep 60'
    overlap: replace
",
    );
    let first = d.wait_for(|v| is_start(v, "slow"), WAIT);
    let stopping = d.wait_for(
        |v| of_task(v, "slow") && message(v).starts_with("stopping the current run"),
        WAIT,
    );
    assert_eq!(stopping["run_id"], first["run_id"], "{stopping}");
}

#[test]
fn retries_back_off_exponentially() {
    let mut d = Daemon::start(&format!(
        "tasks:
  - task_id: flaky
    cron: '@reboot'
    entry_point: 'exit 1'
    retries: 2
    retry_backoff_seconds: 1
{TICK}"
    ));
    let last = d.wait_for(|v| is_end(v, "flaky") && v["attempt"] == 3, WAIT);
    assert_eq!(str_field(&last, "outcome"), "failed");
    // One tick after the last attempt: the main loop has handled its end by then.
    d.wait_for(|v| is_start(v, "tick"), WAIT);
    let log = d.log();
    let starts = select(&log, |v| is_start(v, "flaky"));
    let attempts: Vec<u64> = starts
        .iter()
        .map(|v| v["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "{}", d.dump());
    let scheduled = select(&log, |v| {
        of_task(v, "flaky") && message(v) == "retry scheduled"
    });
    let next: Vec<u64> = scheduled
        .iter()
        .map(|v| v["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(next, [2, 3], "{}", d.dump());
    let gap1 = secs_between(starts[0], starts[1]);
    let gap2 = secs_between(starts[1], starts[2]);
    assert!((0.95..2.0).contains(&gap1), "gap 1: {gap1} s");
    assert!((1.95..3.5).contains(&gap2), "gap 2: {gap2} s");
    assert!(gap2 > gap1 * 1.5, "gap 1: {gap1} s, gap 2: {gap2} s");
}

#[test]
fn an_interval_task_fires_on_its_grid_without_drift() {
    // The run takes 0.3 s, so a schedule counted from the end of the previous run would
    // drift by that much per run.
    let mut d = Daemon::start(
        "tasks:
  - task_id: grid
    interval_seconds: 1
    entry_point: 'date +%s.%N; sleep 0.3'
",
    );
    let log = d.wait_until(
        |log| count(log, |v| is_output(v) && of_task(v, "grid")) >= 6,
        WAIT,
    );
    let times: Vec<f64> = select(&log, |v| is_output(v) && of_task(v, "grid"))
        .iter()
        .map(|v| {
            message(v)
                .parse()
                .unwrap_or_else(|_| panic!("not a time: {v}"))
        })
        .collect();
    for w in times.windows(2) {
        let d = w[1] - w[0];
        assert!((0.9..=1.1).contains(&d), "{d} s between runs: {times:?}");
    }
    let offsets: Vec<f64> = times
        .iter()
        .enumerate()
        .map(|(k, t)| t - times[0] - k as f64)
        .collect();
    let spread = offsets.iter().cloned().fold(f64::MIN, f64::max)
        - offsets.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.05, "offsets from the grid {offsets:?}");
}

#[test]
fn two_hundred_runs_leave_no_zombie_and_few_threads() {
    let mut yaml = String::from("max_concurrent: 8\ntasks:\n");
    for i in 0..40 {
        yaml.push_str(&format!(
            "  - task_id: t{i}\n    interval_seconds: 1\n    entry_point: 'true'\n"
        ));
    }
    let mut d = Daemon::start(&yaml);
    let daemon = d.pid();
    let threads = Sampler::start(daemon, "Threads");
    let ended = |v: &Value| message(v).starts_with("run ended");
    let log = d.wait_until(|log| count(log, ended) >= 200, Duration::from_secs(40));
    let max_threads = threads.finish();
    assert_eq!(
        count(&log, |v| ended(v) && str_field(v, "outcome") != "success"),
        0,
        "{}",
        d.dump()
    );
    let zombies = || -> Vec<i32> {
        let mut pids: Vec<i32> = descendants(daemon)
            .iter()
            .filter(|p| p.ppid == daemon)
            .map(|p| p.pid)
            .collect();
        pids.extend(children_of(daemon));
        pids.into_iter()
            .filter(|&p| proc_stat(p).is_some_and(|s| s.state == 'Z'))
            .collect()
    };
    // A run that has just exited is a zombie for a moment, until its worker reaps it;
    // one that stays a zombie is a leak.
    let clean = poll_until(Duration::from_secs(10), || zombies().is_empty());
    assert!(clean, "zombie children of the daemon: {:?}", zombies());
    assert!(max_threads > 0, "Threads was never read");
    assert!(max_threads <= MAX_THREADS, "{max_threads} threads");
}

/// The daemon's threads whatever the runs in flight: the main loop, the signal,
/// wall-clock, file-watch and state-writer threads, the supervisor, and at most four
/// spawners.
const MAX_THREADS: u64 = 5 + 1 + 4;

#[test]
fn sixty_runs_in_flight_share_a_fixed_set_of_threads() {
    let mut yaml = String::from("max_concurrent: 100\ntasks:\n");
    for i in 0..60 {
        yaml.push_str(&format!(
            "  - task_id: t{i}\n    interval_seconds: 5\n    entry_point: 'sleep 3'\n"
        ));
    }
    let mut d = Daemon::start(&yaml);
    let daemon = d.pid();
    // Every task fires at the same instant (the grid of 5 s) and its run sleeps 3 s.
    d.wait_until(
        |log| count(log, |v| message(v) == "run started") >= 60,
        Duration::from_secs(30),
    );
    let threads = Sampler::start(daemon, "Threads");
    let in_flight = descendants(daemon)
        .iter()
        .filter(|p| p.ppid == daemon)
        .count();
    let log = d.wait_until(
        |log| count(log, |v| message(v).starts_with("run ended")) >= 60,
        Duration::from_secs(30),
    );
    let max_threads = threads.finish();
    assert!(
        in_flight >= 30,
        "only {in_flight} runs in flight at once; the test needs many"
    );
    assert_eq!(
        count(&log, |v| is_run_end(v)
            && str_field(v, "outcome") != "success"),
        0,
        "{}",
        d.dump()
    );
    assert!(max_threads > 0, "Threads was never read");
    assert!(
        max_threads <= MAX_THREADS,
        "{max_threads} threads with {in_flight} runs in flight"
    );
}

/// The kernel sends SIGCHLD at every exit; a thread that does not block it is woken to
/// drop it whenever the spawning thread has its signals blocked. Threads with nothing
/// to do must sleep through a burst of runs.
#[test]
fn idle_threads_sleep_through_a_hundred_runs() {
    let mut yaml = String::from("max_concurrent: 100\ntasks:\n");
    for i in 0..50 {
        yaml.push_str(&format!(
            "  - task_id: t{i}\n    interval_seconds: 1\n    entry_point: 'true'\n"
        ));
    }
    let mut d = Daemon::start(&yaml);
    let daemon = d.pid();
    d.wait_until(
        |log| count(log, |v| message(v).starts_with("run ended")) >= 50,
        Duration::from_secs(30),
    );
    let before = thread_switches(daemon, "signals");
    d.wait_until(
        |log| count(log, |v| message(v).starts_with("run ended")) >= 150,
        Duration::from_secs(30),
    );
    let after = thread_switches(daemon, "signals");
    assert!(before.is_some(), "no thread named signals in {daemon}");
    assert_eq!(before, after, "the signal thread woke while 100 runs ended");
}

/// Voluntary plus involuntary context switches of the daemon's thread named `name`.
fn thread_switches(pid: i32, name: &str) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).ok()?;
        return Some(
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum(),
        );
    }
    None
}

#[test]
fn sigterm_waits_the_grace_then_stops_the_runs_and_exits_0() {
    let mut d = Daemon::start(
        "shutdown_grace_seconds: 1
tasks:
  - task_id: sleeper
    cron: '@reboot'
    entry_point: 'sleep 60'
",
    );
    let started = d.wait_for(|v| is_start(v, "sleeper"), WAIT);
    let pgid = pid_of(&started);
    let sent = Instant::now();
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", d.dump());
    assert!(sent.elapsed() < Duration::from_secs(15));
    let daemon = d.pid();
    assert!(
        poll_until(WAIT, || group_gone(pgid, daemon)),
        "group {pgid}: {:?}",
        live_members(pgid)
    );
    let log = d.log();
    let shutting = select(&log, |v| message(v).starts_with("shutting down"));
    let ended = select(&log, |v| is_end(v, "sleeper"));
    assert_eq!((shutting.len(), ended.len()), (1, 1), "{}", d.dump());
    assert_eq!(ended[0]["stopped"], true, "{}", ended[0]);
    // The run was given the grace before it was stopped.
    let waited = secs_between(shutting[0], ended[0]);
    assert!((0.9..10.0).contains(&waited), "stopped after {waited} s");
    assert_eq!(
        message(log.last().unwrap()),
        "all runs ended; exiting",
        "{}",
        d.dump()
    );
}

#[test]
fn a_second_sigterm_skips_the_grace() {
    let mut d = Daemon::start(
        "shutdown_grace_seconds: 30
tasks:
  - task_id: sleeper
    cron: '@reboot'
    entry_point: 'sleep 60'
",
    );
    let started = d.wait_for(|v| is_start(v, "sleeper"), WAIT);
    let pgid = pid_of(&started);
    let sent = Instant::now();
    d.signal(Signal::SIGTERM);
    // Two signals sent back to back may be delivered as one; wait for the first.
    d.wait_for(|v| message(v).starts_with("shutting down"), WAIT);
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", d.dump());
    assert!(sent.elapsed() < Duration::from_secs(15));
    let daemon = d.pid();
    assert!(
        poll_until(WAIT, || group_gone(pgid, daemon)),
        "group {pgid}: {:?}",
        live_members(pgid)
    );
}

#[test]
fn reboot_runs_once_at_start() {
    let mut d = Daemon::start(&format!(
        "tasks:
  - task_id: boot
    cron: '@reboot'
    entry_point: 'echo booted'
{TICK}"
    ));
    let log = d.wait_until(|log| count(log, |v| is_end(v, "tick")) >= 3, WAIT);
    let boots = select(&log, |v| is_start(v, "boot"));
    assert_eq!(boots.len(), 1, "{}", d.dump());
    let started = select(&log, |v| message(v) == "cronwheel started");
    assert!(secs_between(started[0], boots[0]) < 1.0, "{}", d.dump());
    let first_tick = select(&log, |v| is_start(v, "tick"));
    assert!(timestamp(boots[0]) < timestamp(first_tick[0]));
}
