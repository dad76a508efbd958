//! Run history and task state (`--state-dir`, `state.db`): interval phases and missed
//! cron firings across restarts, a `kill -9` under load, a corrupt or unusable
//! database, retention, `cronwheel history` and `--no-state`. Real daemons on real
//! time; every wait is for a log line or a database row, with a generous bound.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use rusqlite::OptionalExtension;
use serde_json::Value;

use crate::util::{
    count, cronwheel, db_has_run, db_run_ids, is_end, is_run_end, is_start, message, of_task,
    open_db, poll_db, run, run_output, select, str_field, timestamp, Daemon, TaskDir, WAIT,
};

/// Microseconds per second.
const SEC_US: i64 = 1_000_000;

/// The run_id of a line.
fn run_id(v: &Value) -> &str {
    str_field(v, "run_id")
}

/// The line "run history and task state are kept" (logged before "cronwheel started").
fn kept_line(d: &Daemon) -> Value {
    d.log()
        .into_iter()
        .find(|v| message(v) == "run history and task state are kept")
        .unwrap_or_else(|| panic!("no \"state kept\" line; log:\n{}", d.dump()))
}

/// The `scheduled` column (unix µs) of run `run`, once the writer has committed it.
fn scheduled_of(state: &Path, run: &str) -> i64 {
    let mut scheduled = None;
    let found = poll_db(state, WAIT, |c| {
        scheduled = c
            .query_row("SELECT scheduled FROM runs WHERE run_id = ?1", [run], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?;
        Ok(scheduled.is_some())
    });
    assert!(found, "run {run} never showed up in {}", state.display());
    scheduled.expect("set when found")
}

/// The unix time a run of `date +%s.%N` printed.
fn printed_time(log: &[Value], run: &str) -> f64 {
    let out = run_output(log, run);
    let line = out
        .first()
        .unwrap_or_else(|| panic!("run {run} printed nothing"));
    line.trim()
        .parse()
        .unwrap_or_else(|e| panic!("run {run} printed {line:?}, not a time: {e}"))
}

/// Bytes that are not an SQLite database.
fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    // Whatever came out, it must not start with the SQLite header.
    buf[0] = b'X';
    buf
}

#[test]
fn a_restart_keeps_the_phase_of_an_interval_task() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: phase
    interval_seconds: 5
    entry_point: 'date +%s.%N'
",
    );
    let state = dir.path("state");
    let mut d = Daemon::start_on(&config, &state);

    // The latest run, and its firing's scheduled time as the history keeps it. Stop
    // about 3 s into the next cycle; should this machine have been too slow to get
    // there in time, take the next cycle.
    let (old_run, old_scheduled) = loop {
        let end = d.wait_for(|v| is_end(v, "phase"), WAIT);
        let run = run_id(&end).to_owned();
        let scheduled = scheduled_of(&state, &run);
        let target = scheduled + 3 * SEC_US;
        let now = jiff::Timestamp::now().as_microsecond();
        if now <= target + 200_000 {
            // A bounded wait on the clock: this test is about time.
            if target > now {
                std::thread::sleep(Duration::from_micros((target - now) as u64));
            }
            break (run, scheduled);
        }
    };
    d.sigterm_and_wait();
    let stopped_at = jiff::Timestamp::now().as_microsecond();
    assert!(
        (stopped_at - old_scheduled - 3 * SEC_US).abs() <= 500_000,
        "stopped {} µs after the firing, not 3 s",
        stopped_at - old_scheduled
    );
    let t_old = printed_time(&d.log(), &old_run);

    let mut d = Daemon::start_on(&config, &state);
    assert_eq!(kept_line(&d)["tasks_remembered"], 1, "{}", d.dump());
    let started_line = d
        .log()
        .into_iter()
        .find(|v| message(v) == "cronwheel started")
        .expect("waited for it");
    let start = d.wait_for(|v| is_start(v, "phase"), WAIT);
    let end = d.wait_for(|v| is_end(v, "phase"), WAIT);
    let new_run = run_id(&end).to_owned();
    assert_eq!(run_id(&start), new_run, "{}", d.dump());

    // About 2 s after the restart (the rest of the old cycle), not 5 s.
    let after = (timestamp(&start) - timestamp(&started_line))
        .total(jiff::Unit::Second)
        .expect("seconds");
    assert!(
        (after - 2.0).abs() <= 0.7,
        "the first run after the restart started {after:.3} s after it, not about 2 s; log:\n{}",
        d.dump()
    );
    // On the old grid: one period after the last firing, by the printed times…
    let t_new = printed_time(&d.log(), &new_run);
    let diff = t_new - t_old;
    let periods = (diff / 5.0).round();
    assert!(
        periods == 1.0 && (diff - 5.0 * periods).abs() <= 0.3,
        "the runs printed {t_old} and {t_new}: {diff:.3} s apart, not one 5 s period"
    );
    // …and by the scheduled times in the history, within a few milliseconds.
    let new_scheduled = scheduled_of(&state, &new_run);
    assert!(
        (new_scheduled - old_scheduled - 5 * SEC_US).abs() < 5_000,
        "scheduled {old_scheduled} then {new_scheduled} µs: not 5 s apart"
    );
}

#[test]
fn missed_cron_firings_run_once_with_catch_up_and_are_skipped_without() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: c_yes
    cron: '0 * * * *'
    catch_up: true
    entry_point: 'echo caught-up'
  - task_id: c_no
    cron: '0 * * * *'
    entry_point: 'echo should-not-run'
  - task_id: tick
    interval_seconds: 1
    entry_point: 'true'
",
    );
    let state = dir.path("state");
    // A first run creates the database.
    let mut d = Daemon::start_on(&config, &state);
    d.sigterm_and_wait();
    drop(d);

    // Both tasks last fired three hours ago.
    let three_hours_ago = jiff::Timestamp::now().as_microsecond() - 3 * 3600 * SEC_US;
    {
        let conn = open_db(&state);
        for task in ["c_yes", "c_no"] {
            conn.execute(
                "INSERT INTO task_state (task_id, last_fire) VALUES (?1, ?2)
                 ON CONFLICT (task_id) DO UPDATE SET last_fire = excluded.last_fire",
                rusqlite::params![task, three_hours_ago],
            )
            .expect("set last_fire");
        }
    }

    let restart = jiff::Timestamp::now();
    let mut d = Daemon::start_on(&config, &state);
    let log = d.log();
    let caught = select(&log, |v| {
        of_task(v, "c_yes") && message(v).starts_with("catch-up: firings were missed")
    });
    assert_eq!(caught.len(), 1, "{}", d.dump());
    let missed = caught[0]["missed"].as_u64().expect("a missed count");
    assert!(
        (2..=4).contains(&missed),
        "missed = {missed}: {}",
        caught[0]
    );
    let skipped = select(&log, |v| {
        of_task(v, "c_no")
            && message(v)
                == "firings missed while the daemon was down are skipped (catch_up: false)"
    });
    assert_eq!(skipped.len(), 1, "{}", d.dump());
    let missed = skipped[0]["missed"].as_u64().expect("a missed count");
    assert!(
        (2..=4).contains(&missed),
        "missed = {missed}: {}",
        skipped[0]
    );

    // c_yes runs at once.
    let start = d.wait_for(|v| is_start(v, "c_yes"), WAIT);
    let secs = (timestamp(&start) - restart)
        .total(jiff::Unit::Second)
        .expect("seconds");
    assert!(
        secs < 5.0,
        "the catch-up run started {secs:.3} s after the restart"
    );
    let end = d.wait_for(|v| is_end(v, "c_yes"), WAIT);
    assert_eq!(
        run_output(&d.log(), run_id(&end)),
        ["caught-up"],
        "{}",
        d.dump()
    );
    // Its firing is the latest missed one: on the hour, within the last hour.
    let scheduled = scheduled_of(&state, run_id(&end));
    assert_eq!(scheduled % (3600 * SEC_US), 0, "scheduled {scheduled} µs");
    assert!(
        scheduled <= restart.as_microsecond()
            && scheduled > restart.as_microsecond() - 3600 * SEC_US,
        "scheduled {scheduled} µs, restart {restart}"
    );

    // A second later (two runs of tick) c_no still has not run.
    d.wait_for(|v| is_end(v, "tick"), WAIT);
    d.wait_for(|v| is_end(v, "tick"), WAIT);
    assert_eq!(count(&d.log(), |v| is_start(v, "c_no")), 0, "{}", d.dump());
}

#[test]
fn a_kill_9_under_load_keeps_the_database_sound_and_the_runs_that_ended() {
    const TASKS: usize = 100;
    let mut yaml = String::from("max_concurrent: 200\ntasks:\n");
    for i in 0..TASKS {
        yaml.push_str(&format!(
            "  - task_id: s{i:03}\n    cron: '* * * * * *'\n    entry_point: 'sleep 0.05'\n"
        ));
    }
    let dir = TaskDir::new();
    let config = dir.write("tasks.yaml", &yaml);
    let state = dir.path("state");
    let mut d = Daemon::start_on(&config, &state);

    d.wait_count_since(0, 300, is_run_end, Duration::from_secs(60));
    // Kill in the middle of a burst: at least 10 runs started and not ended (each run
    // lasts 50 ms, so the runs of one second overlap).
    let mark = d.mark();
    d.wait_until(
        |log| {
            let since = &log[mark.min(log.len())..];
            let started = count(since, |v| message(v) == "run started");
            started >= count(since, is_run_end) + 10
        },
        WAIT,
    );
    let killed_at = jiff::Timestamp::now();
    d.signal(Signal::SIGKILL);
    let status = d.wait_exit(WAIT);
    assert!(!status.success(), "{status:?}");
    let log = d.log();
    drop(d);

    let conn = open_db(&state);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let in_db: HashSet<String> = db_run_ids(&conn).expect("read runs").into_iter().collect();
    let cutoff = killed_at
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .expect("a time");
    let ended_before: Vec<&str> = log
        .iter()
        .filter(|v| is_run_end(v) && timestamp(v) < cutoff)
        .map(run_id)
        .collect();
    assert!(
        ended_before.len() >= 150,
        "only {} runs ended more than 1 s before the kill",
        ended_before.len()
    );
    let lost: Vec<&&str> = ended_before
        .iter()
        .filter(|r| !in_db.contains(**r))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} runs that ended more than 1 s before the kill are not in the history: {:?}",
        lost.len(),
        ended_before.len(),
        &lost[..lost.len().min(20)]
    );
    let fired: i64 = conn
        .query_row(
            "SELECT count(*) FROM task_state WHERE last_fire IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("read task_state");
    assert_eq!(fired, TASKS as i64);
    drop(conn);

    // The daemon starts again on the same state, remembers the tasks and records runs.
    let mut d = Daemon::start_on(&config, &state);
    assert_eq!(
        kept_line(&d)["tasks_remembered"],
        TASKS as u64,
        "{}",
        d.dump()
    );
    let end = d.wait_for(is_run_end, WAIT);
    let run = run_id(&end).to_owned();
    assert!(
        poll_db(&state, WAIT, |c| db_has_run(c, &run)),
        "run {run} of the restarted daemon never showed up in the history"
    );
}

#[test]
fn a_corrupt_database_is_moved_aside_and_replaced() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: alive
    interval_seconds: 1
    entry_point: 'echo alive'
",
    );
    let state = dir.mkdir("state");
    let garbage = random_bytes(4096);
    std::fs::write(state.join("state.db"), &garbage).expect("write the garbage");

    let before = jiff::Timestamp::now().as_second();
    let mut d = Daemon::start_on(&config, &state);
    let after = jiff::Timestamp::now().as_second();
    let log = d.log();
    let warned = select(&log, |v| {
        message(v) == "the state database is corrupt; moving it aside and starting a new one"
    });
    assert_eq!(warned.len(), 1, "{}", d.dump());
    assert_eq!(str_field(warned[0], "level"), "WARN", "{}", warned[0]);

    // Scheduling goes on, on a new database.
    let end = d.wait_for(|v| is_end(v, "alive"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    let run = run_id(&end).to_owned();
    assert!(
        poll_db(&state, WAIT, |c| db_has_run(c, &run)),
        "run {run} never showed up in the new database"
    );

    // The old file is kept aside, untouched, under a name with the time it was moved.
    let asides: Vec<String> = std::fs::read_dir(&state)
        .expect("list the state dir")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with("state.db.corrupt-"))
        .collect();
    let aside = asides
        .iter()
        .find(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .unwrap_or_else(|| panic!("no aside file among {asides:?}"));
    let secs: i64 = aside["state.db.corrupt-".len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{aside}: not unix seconds: {e}"));
    assert!(
        (before - 1..=after + 1).contains(&secs),
        "{aside}: not between {before} and {after}"
    );
    assert!(
        str_field(warned[0], "aside").ends_with(aside.as_str()),
        "{}",
        warned[0]
    );
    assert_eq!(
        std::fs::read(state.join(aside)).expect("read the aside file"),
        garbage
    );
    d.sigterm_and_wait();
    let conn = open_db(&state);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
}

#[test]
fn an_unusable_state_dir_is_a_start_up_error() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: t
    interval_seconds: 1
    entry_point: 'true'
",
    );
    let file = dir.write("regular-file", "not a directory\n");
    let db_dir = dir.mkdir("db-is-a-dir");
    std::fs::create_dir(db_dir.join("state.db")).expect("create state.db as a directory");
    let cases = [
        (file.join("state"), "cannot create the state directory"),
        (file.clone(), "cannot create the state directory"),
        (db_dir.clone(), "cannot open the state database"),
    ];
    for (state, expected) in cases {
        let out = run(cronwheel()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(["--log-format", "json"])
            .arg("--state-dir")
            .arg(&state)
            .env_remove("STATE_DIRECTORY")
            .timeout(WAIT));
        assert_eq!(out.code, 2, "--state-dir {}: {out:?}", state.display());
        // One plain line: the JSON log may only hold lines from before the failure.
        let plain: Vec<&str> = out
            .stderr_lines()
            .into_iter()
            .filter(|l| serde_json::from_str::<Value>(l).is_err())
            .collect();
        assert_eq!(plain.len(), 1, "--state-dir {}: {out:?}", state.display());
        let line = plain[0];
        assert!(
            line.starts_with(&format!("cronwheel: {expected} "))
                && line.contains(&*state.to_string_lossy())
                && !line.contains("os error"),
            "--state-dir {}: {line:?}",
            state.display()
        );
        assert!(!out.stderr.contains("cronwheel started"), "{}", out.stderr);
    }
}

#[test]
fn history_keeps_the_last_history_limit_runs_per_task() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "history_limit: 5
tasks:
  - task_id: keep
    interval_seconds: 1
    entry_point: 'echo again'
  - task_id: once
    cron: '@reboot'
    entry_point: 'echo once'
",
    );
    let state = dir.path("state");
    let mut d = Daemon::start_on(&config, &state);
    let log = d.wait_count_since(0, 8, |v| is_end(v, "keep"), Duration::from_secs(40));
    let ended: Vec<String> = log
        .iter()
        .filter(|v| is_end(v, "keep"))
        .map(|v| run_id(v).to_owned())
        .take(8)
        .collect();
    assert!(
        poll_db(&state, WAIT, |c| db_has_run(c, &ended[7])),
        "the 8th run {} never showed up in the history",
        ended[7]
    );
    let conn = open_db(&state);
    let keep: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE task_id = ?1",
            ["keep"],
            |r| r.get(0),
        )
        .expect("count runs");
    assert_eq!(keep, 5, "runs of keep: {:?}", db_run_ids(&conn));
    for old in &ended[..3] {
        assert!(
            !db_has_run(&conn, old).expect("read runs"),
            "the old run {old} was not pruned"
        );
    }
    assert!(db_has_run(&conn, &ended[7]).expect("read runs"));
    // Pruning is per task: the one run of another task stays.
    let once: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE task_id = ?1",
            ["once"],
            |r| r.get(0),
        )
        .expect("count runs");
    assert_eq!(once, 1);
}

/// `history -n 0` is refused as `next -n 0` is, before the state is opened.
#[test]
fn history_count_of_zero_is_refused() {
    let out = history(Path::new("/nonexistent/state"), &["-n", "0"]);
    assert_eq!((out.code, out.stdout.as_str()), (2, ""), "{out:?}");
    assert!(
        out.stderr.contains("invalid value '0' for '-n <COUNT>'"),
        "{}",
        out.stderr
    );
}

/// `cronwheel history --state-dir DIR ARGS…`.
fn history(state: &Path, args: &[&str]) -> crate::util::Outcome {
    run(cronwheel()
        .arg("history")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("STATE_DIRECTORY"))
}

/// The non-empty lines of stdout, each parsed as a JSON object.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

#[test]
fn history_shows_runs_newest_first_as_a_table_or_json_lines() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: ok
    cron: '@reboot'
    entry_point: 'echo hello-ok; echo second line'
  - task_id: bad
    cron: '@reboot'
    entry_point: 'echo oops >&2; exit 3'
",
    );
    let state = dir.path("state");
    let mut d = Daemon::start_on(&config, &state);
    let log = d.wait_until(
        |log| count(log, |v| is_end(v, "ok")) == 1 && count(log, |v| is_end(v, "bad")) == 1,
        WAIT,
    );
    let run_of = |task: &str| {
        run_id(log.iter().find(|v| is_end(v, task)).expect("waited for it")).to_owned()
    };
    let (ok_run, bad_run) = (run_of("ok"), run_of("bad"));
    assert!(
        poll_db(&state, WAIT, |c| Ok(
            db_has_run(c, &ok_run)? && db_has_run(c, &bad_run)?
        )),
        "the two runs never showed up in the history"
    );
    d.sigterm_and_wait();
    drop(d);
    // Newest first is the order the history recorded them in, newest row first.
    let mut newest_first = db_run_ids(&open_db(&state)).expect("read runs");
    newest_first.reverse();
    assert_eq!(newest_first.len(), 2);
    let task_of_run = |r: &str| if r == ok_run { "ok" } else { "bad" };

    // The table.
    let out = history(&state, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(
        header,
        ["START", "TASK", "DURATION", "OUTCOME", "CODE", "OUTPUT"]
    );
    let rows = crate::util::table_rows(&out.stdout);
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    for (row, run) in rows.iter().zip(&newest_first) {
        let task = task_of_run(run);
        let expected = match task {
            "ok" => ["ok", "success", "0", "hello-ok"],
            _ => ["bad", "failed", "3", "oops"],
        };
        assert_eq!(row.len(), 6, "{row:?}");
        row[0]
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|e| panic!("START {:?}: {e}", row[0]));
        let ms = row[2]
            .strip_suffix(" ms")
            .and_then(|n| n.parse::<u64>().ok());
        assert!(ms.is_some(), "DURATION {:?}", row[2]);
        assert_eq!(
            [&*row[1], &*row[3], &*row[4], &*row[5]],
            expected,
            "{}",
            out.stdout
        );
    }

    // JSON lines.
    let out = history(&state, &["--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let all = json_lines(&out.stdout);
    assert_eq!(all.len(), 2, "{}", out.stdout);
    let keys = [
        "task_id",
        "run_id",
        "attempt",
        "scheduled",
        "started",
        "ended",
        "duration_ms",
        "outcome",
        "exit_code",
        "signal",
        "output",
    ];
    for (v, run) in all.iter().zip(&newest_first) {
        let mut have: Vec<&str> = v
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        have.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(have, want, "{v}");
        assert_eq!(str_field(v, "run_id"), run, "{v}");
        assert_eq!(v["attempt"], 1, "{v}");
        assert!(v["duration_ms"].is_u64(), "{v}");
        assert!(v["signal"].is_null(), "{v}");
        let started: jiff::Timestamp = str_field(v, "started").parse().expect("started");
        let ended: jiff::Timestamp = str_field(v, "ended").parse().expect("ended");
        let scheduled: jiff::Timestamp = str_field(v, "scheduled").parse().expect("scheduled");
        assert!(scheduled <= started && started <= ended, "{v}");
        match task_of_run(run) {
            "ok" => {
                assert_eq!(str_field(v, "task_id"), "ok");
                assert_eq!(str_field(v, "outcome"), "success");
                assert_eq!(v["exit_code"], 0);
                assert_eq!(str_field(v, "output"), "hello-ok\nsecond line\n");
            }
            _ => {
                assert_eq!(str_field(v, "task_id"), "bad");
                assert_eq!(str_field(v, "outcome"), "failed");
                assert_eq!(v["exit_code"], 3);
                assert_eq!(str_field(v, "output"), "oops\n");
            }
        }
    }

    // -n 1: the newest only.
    let out = history(&state, &["--json", "-n", "1"]);
    assert_eq!(out.code, 0, "{out:?}");
    let one = json_lines(&out.stdout);
    assert_eq!(one, all[..1], "{}", out.stdout);

    // A task filter.
    let out = history(&state, &["--json", "bad"]);
    assert_eq!(out.code, 0, "{out:?}");
    let bad = json_lines(&out.stdout);
    assert_eq!(bad.len(), 1, "{}", out.stdout);
    assert_eq!(str_field(&bad[0], "run_id"), bad_run);
    let out = history(&state, &["ok"]);
    let rows = crate::util::table_rows(&out.stdout);
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert_eq!(rows[0][1], "ok");
    let out = history(&state, &["--json", "no-such-task"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");

    // No database: exit 2 and a message naming where it looked.
    for missing in [dir.path("no-such-dir"), dir.mkdir("empty")] {
        let out = history(&missing, &[]);
        assert_eq!(out.code, 2, "{out:?}");
        assert_eq!(out.stdout, "", "{out:?}");
        let lines = out.stderr_lines();
        assert_eq!(lines.len(), 1, "{out:?}");
        assert!(
            lines[0].starts_with("cronwheel: no history at ")
                && lines[0].contains(&*missing.to_string_lossy()),
            "{out:?}"
        );
    }
}

#[test]
fn no_state_keeps_no_database_in_the_default_location() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: once
    cron: '@reboot'
    entry_point: 'echo once'
",
    );
    let state_directory = dir.mkdir("state-directory");
    let home = dir.mkdir("home");
    let xdg = dir.mkdir("xdg");
    let env = [
        ("STATE_DIRECTORY", state_directory.to_str().expect("UTF-8")),
        ("HOME", home.to_str().expect("UTF-8")),
        ("XDG_STATE_HOME", xdg.to_str().expect("UTF-8")),
    ];
    let entries = |p: &Path| std::fs::read_dir(p).expect("list a dir").count();

    let mut d = Daemon::start_args(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--no-state".as_ref(),
        ],
        &env,
    );
    d.wait_for(|v| is_end(v, "once"), WAIT);
    d.sigterm_and_wait();
    assert_eq!(
        count(&d.log(), |v| message(v)
            == "run history and task state are kept"),
        0,
        "{}",
        d.dump()
    );
    drop(d);
    for p in [&state_directory, &home, &xdg] {
        assert_eq!(entries(p), 0, "{} is not empty", p.display());
    }

    // The control: without --no-state the same daemon keeps its history there.
    let mut d = Daemon::start_args(&["--config".as_ref(), config.as_os_str()], &env);
    assert_eq!(
        str_field(&kept_line(&d), "dir"),
        state_directory.to_str().expect("UTF-8")
    );
    let end = d.wait_for(|v| is_end(v, "once"), WAIT);
    let run = run_id(&end).to_owned();
    assert!(
        poll_db(&state_directory, WAIT, |c| db_has_run(c, &run)),
        "run {run} never showed up in $STATE_DIRECTORY"
    );
}

#[test]
fn a_run_that_ends_during_the_shutdown_drain_is_in_the_history() {
    let dir = TaskDir::new();
    let config = dir.write(
        "tasks.yaml",
        "tasks:
  - task_id: slow
    cron: '@reboot'
    entry_point: 'sleep 1; echo done'
",
    );
    let state = dir.path("state");
    let mut d = Daemon::start_on(&config, &state);
    let start = d.wait_for(|v| is_start(v, "slow"), WAIT);
    d.sigterm_and_wait();
    assert_eq!(count(&d.log(), |v| is_end(v, "slow")), 1, "{}", d.dump());
    let run = run_id(&start).to_owned();
    assert!(
        db_has_run(&open_db(&state), &run).expect("read runs"),
        "run {run} ended during the drain and the daemon exited cleanly, but the history \
         does not have it; log:\n{}",
        d.dump()
    );
}
