//! `cronwheel next`: firing times compared with instants worked out by hand, across
//! daylight-saving changes, leap days, seconds fields and intervals.

use crate::util::{cronwheel, next, run, table_rows, Outcome, TaskDir};

/// One task of each kind the tests below look at.
const TASKS: &str = r#"tasks:
  - task_id: ny-spring
    cron: "30 2 * * *"
    timezone: America/New_York
    entry_point: echo
  - task_id: ny-fall-hourly
    cron: "30 * * * *"
    timezone: America/New_York
    entry_point: echo
  - task_id: ny-fall-fixed
    cron: "30 1 * * *"
    timezone: America/New_York
    entry_point: echo
  - task_id: berlin-weekdays
    cron: "0 9 * * 1-5"
    timezone: Europe/Berlin
    entry_point: echo
  - task_id: kolkata-seconds
    cron: "15 */10 * * * *"
    timezone: Asia/Kolkata
    entry_point: echo
  - task_id: every-90m
    interval: 1h30m
    entry_point: echo
  - task_id: leap-day
    cron: "0 0 29 2 *"
    timezone: UTC
    entry_point: echo
  - task_id: paused
    interval_seconds: 60
    enabled: false
    entry_point: echo
  - task_id: on-boot
    cron: "@reboot"
    entry_point: echo
  - task_id: feb-30
    cron: "0 0 30 2 *"
    timezone: UTC
    entry_point: echo
"#;

/// Runs `next` on [`TASKS`] and returns the outcome (the temp dir lives until then).
fn next_of(from: &str, n: u32, ids: &[&str]) -> Outcome {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", TASKS);
    next(&path, from, n, ids)
}

/// The (task id, time) rows of a successful run.
fn rows(out: &Outcome) -> Vec<(String, String)> {
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    assert!(out.stdout.starts_with("TASK_ID  "), "{}", out.stdout);
    table_rows(&out.stdout)
        .into_iter()
        .map(|row| match row.as_slice() {
            [id, time] => (id.clone(), time.clone()),
            _ => panic!("row {row:?} does not have two cells:\n{}", out.stdout),
        })
        .collect()
}

/// The rows expected for one task.
fn expect(id: &str, times: &[&str]) -> Vec<(String, String)> {
    times
        .iter()
        .map(|t| (id.to_owned(), (*t).to_owned()))
        .collect()
}

/// New York springs forward on Sunday 2026-03-08: at 02:00 EST (07:00Z) the clocks jump
/// to 03:00 EDT, so 02:30 does not exist that day.
/// - from 2026-03-07T12:00Z = 07:00 EST on the 7th: 02:30 has passed that day;
/// - the 8th: 02:30 falls into the gap, so the task runs once at the first instant
///   after the jump, 03:00 EDT = 2026-03-08T03:00:00-04:00 (07:00Z);
/// - the 9th and 10th: 02:30 EDT = 06:30Z.
#[test]
fn new_york_spring_forward_runs_the_skipped_time_after_the_jump() {
    let out = next_of("2026-03-07T12:00:00Z", 3, &["ny-spring"]);
    assert_eq!(
        out.stdout,
        "TASK_ID    TIME\n\
         ny-spring  2026-03-08T03:00:00-04:00\n\
         ny-spring  2026-03-09T02:30:00-04:00\n\
         ny-spring  2026-03-10T02:30:00-04:00\n"
    );
    rows(&out);
}

/// New York falls back on Sunday 2026-11-01: at 02:00 EDT (06:00Z) the clocks go back to
/// 01:00 EST, so 01:00–01:59 happens twice.
/// From 2026-11-01T04:45Z = 00:45 EDT, `30 * * * *` (wildcard hour) follows elapsed time:
/// - 05:30Z = 01:30 EDT (-04:00), first pass;
/// - 06:30Z = 01:30 EST (-05:00), second pass;
/// - 07:30Z = 02:30 EST; 08:30Z = 03:30 EST.
#[test]
fn new_york_fall_back_wildcard_hour_fires_in_both_passes() {
    let out = next_of("2026-11-01T04:45:00Z", 4, &["ny-fall-hourly"]);
    assert_eq!(
        rows(&out),
        expect(
            "ny-fall-hourly",
            &[
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:30:00-05:00",
                "2026-11-01T03:30:00-05:00",
            ]
        )
    );
}

/// `30 1 * * *` (fixed hour) runs once in the repeated hour, in the first pass
/// (05:30Z = 01:30 EDT); the next day's 01:30 is EST (06:30Z).
#[test]
fn new_york_fall_back_fixed_time_fires_once() {
    let out = next_of("2026-11-01T04:45:00Z", 2, &["ny-fall-fixed"]);
    assert_eq!(
        rows(&out),
        expect(
            "ny-fall-fixed",
            &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
        )
    );
}

/// Berlin moves to summer time on Sunday 2026-03-29 (01:00Z: 02:00 CET -> 03:00 CEST).
/// From Thursday 2026-03-26T12:00Z = 13:00 CET, `0 9 * * 1-5` fires on Friday the 27th
/// at 09:00 CET (+01:00), skips the weekend, then Monday the 30th and Tuesday the 31st at
/// 09:00 CEST (+02:00).
#[test]
fn berlin_weekdays_across_summer_time() {
    let out = next_of("2026-03-26T12:00:00Z", 3, &["berlin-weekdays"]);
    assert_eq!(
        rows(&out),
        expect(
            "berlin-weekdays",
            &[
                "2026-03-27T09:00:00+01:00",
                "2026-03-30T09:00:00+02:00",
                "2026-03-31T09:00:00+02:00",
            ]
        )
    );
}

/// Six fields, seconds first: `15 */10 * * * *` is second 15 of minutes 0, 10, 20, …
/// From 2026-01-01T00:00Z = 05:30:00 IST (+05:30): 05:30:15, 05:40:15, 05:50:15.
#[test]
fn six_field_cron_has_a_seconds_field() {
    let out = next_of("2026-01-01T00:00:00Z", 3, &["kolkata-seconds"]);
    assert_eq!(
        rows(&out),
        expect(
            "kolkata-seconds",
            &[
                "2026-01-01T05:30:15+05:30",
                "2026-01-01T05:40:15+05:30",
                "2026-01-01T05:50:15+05:30",
            ]
        )
    );
}

/// An interval task is taken to be loaded at --from: `1h30m` from 12:00Z fires at
/// 13:30Z, 15:00Z, 16:30Z. It names no zone, so it is shown in the system zone (TZ=UTC).
#[test]
fn interval_counts_from_the_start() {
    let out = next_of("2026-03-07T12:00:00Z", 3, &["every-90m"]);
    assert_eq!(
        rows(&out),
        expect(
            "every-90m",
            &[
                "2026-03-07T13:30:00+00:00",
                "2026-03-07T15:00:00+00:00",
                "2026-03-07T16:30:00+00:00",
            ]
        )
    );
}

/// With TZ=Europe/Berlin the same instants are shown at +01:00 (March 7th is winter
/// time): 13:30Z = 14:30+01:00, 15:00Z = 16:00+01:00.
#[test]
fn tasks_without_a_zone_are_shown_in_the_system_zone() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", TASKS);
    let out = run(cronwheel()
        .env("TZ", "Europe/Berlin")
        .arg("next")
        .arg("--config")
        .arg(&path)
        .args(["--from", "2026-03-07T12:00:00Z", "-n", "2", "every-90m"]));
    assert_eq!(
        rows(&out),
        expect(
            "every-90m",
            &["2026-03-07T14:30:00+01:00", "2026-03-07T16:00:00+01:00"]
        )
    );
}

/// `0 0 29 2 *` only matches in leap years: after 2026, 2028 and 2032 (2030 is not one).
#[test]
fn leap_day_fires_only_in_leap_years() {
    let out = next_of("2026-03-07T12:00:00Z", 2, &["leap-day"]);
    assert_eq!(
        rows(&out),
        expect(
            "leap-day",
            &["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]
        )
    );
}

/// February 30th never comes: one row saying so, quickly.
#[test]
fn impossible_date_never_fires() {
    let out = next_of("2026-03-07T12:00:00Z", 3, &["feb-30"]);
    assert_eq!(rows(&out), expect("feb-30", &["never"]));
}

#[test]
fn count_sets_the_rows_per_task() {
    let one = next_of("2026-03-07T12:00:00Z", 1, &["every-90m", "leap-day"]);
    assert_eq!(
        rows(&one),
        [
            expect("every-90m", &["2026-03-07T13:30:00+00:00"]),
            expect("leap-day", &["2028-02-29T00:00:00+00:00"]),
        ]
        .concat()
    );
    let seven = next_of("2026-03-07T12:00:00Z", 7, &["every-90m"]);
    let times: Vec<String> = rows(&seven).into_iter().map(|(_, t)| t).collect();
    assert_eq!(times.len(), 7);
    assert_eq!(times[6], "2026-03-07T22:30:00+00:00"); // 12:00 + 7 × 1h30m
}

#[test]
fn default_count_is_five() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", TASKS);
    let out = run(cronwheel()
        .args(["next", "--from", "2026-03-07T12:00:00Z", "--config"])
        .arg(&path)
        .arg("every-90m"));
    assert_eq!(rows(&out).len(), 5);
}

#[test]
fn count_of_zero_is_refused() {
    let out = next_of("2026-03-07T12:00:00Z", 0, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("invalid value '0' for '-n <COUNT>'"),
        "{}",
        out.stderr
    );
}

/// Named tasks come in the order given, disabled ones included.
#[test]
fn selected_tasks_in_the_order_named() {
    let out = next_of(
        "2026-03-07T12:00:00Z",
        2,
        &["paused", "on-boot", "leap-day"],
    );
    assert_eq!(
        out.stdout,
        "TASK_ID   TIME\n\
         paused    2026-03-07T12:01:00+00:00\n\
         paused    2026-03-07T12:02:00+00:00\n\
         on-boot   at start-up (@reboot)\n\
         leap-day  2028-02-29T00:00:00+00:00\n\
         leap-day  2032-02-29T00:00:00+00:00\n"
    );
}

/// Without ids every enabled task is listed, in file order; `paused` is left out and
/// `@reboot` has a single row.
#[test]
fn all_enabled_tasks_without_ids() {
    let out = next_of("2026-11-01T04:45:00Z", 1, &[]);
    assert_eq!(
        rows(&out),
        vec![
            ("ny-spring".into(), "2026-11-01T02:30:00-05:00".into()),
            ("ny-fall-hourly".into(), "2026-11-01T01:30:00-04:00".into()),
            ("ny-fall-fixed".into(), "2026-11-01T01:30:00-04:00".into()),
            ("berlin-weekdays".into(), "2026-11-02T09:00:00+01:00".into()),
            ("kolkata-seconds".into(), "2026-11-01T10:20:15+05:30".into()),
            ("every-90m".into(), "2026-11-01T06:15:00+00:00".into()),
            ("leap-day".into(), "2028-02-29T00:00:00+00:00".into()),
            ("on-boot".into(), "at start-up (@reboot)".into()),
            ("feb-30".into(), "never".into()),
        ]
    );
}

#[test]
fn unknown_task_id_fails() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", TASKS);
    let out = next(&path, "2026-03-07T12:00:00Z", 1, &["every-90m", "nope"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "cronwheel: no valid task with task_id \"nope\" in {}\n",
            path.display()
        )
    );
}

/// An entry that is invalid is reported, and cannot be asked for by its id.
#[test]
fn invalid_task_cannot_be_selected() {
    let dir = TaskDir::new();
    let path = dir.write(
        "tasks.yaml",
        "tasks:\n  - task_id: ok\n    interval: 1m\n    entry_point: x\n  - task_id: broken\n    interval: 0s\n    entry_point: x\n",
    );
    let out = next(&path, "2026-03-07T12:00:00Z", 1, &["broken"]);
    assert_eq!(out.code, 1, "{out:?}");
    let errors = out.stderr_lines();
    assert_eq!(errors.len(), 2, "{}", out.stderr);
    assert!(
        errors[0].contains("task #2 (broken), field `interval`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("no valid task with task_id \"broken\""),
        "{}",
        errors[1]
    );

    // The valid one is still shown, with the bad entry reported on stderr.
    let out = next(&path, "2026-03-07T12:00:00Z", 1, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "TASK_ID  TIME\nok       2026-03-07T12:01:00+00:00\n"
    );
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
}

#[test]
fn invalid_from_is_refused_with_a_clear_message() {
    for from in [
        "yesterday",
        "2026-03-07T12:00:00",
        "2026-02-30T00:00:00Z",
        "",
    ] {
        let out = next_of(from, 1, &[]);
        assert_ne!(out.code, 0, "{from:?}: {out:?}");
        assert_eq!(out.stdout, "", "{from:?}");
        assert_eq!(
            out.stderr,
            format!(
                "cronwheel: invalid --from {from:?}: expected an RFC 3339 instant such as 2026-11-26T10:00:00Z\n"
            )
        );
    }
}

/// A well-formed instant past the last one the clock can count, or before the first, is
/// refused as such, not as malformed.
#[test]
fn a_from_out_of_range_is_refused_as_out_of_range() {
    for from in [
        "9999-12-31T23:59:59Z",
        "9999-12-30T23:00:00Z",
        "9999-12-31T12:00:00+05:00",
        "-009999-01-01T00:00:00Z",
    ] {
        let out = next_of(from, 1, &[]);
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (2, ""),
            "{from:?}: {out:?}"
        );
        assert_eq!(
            out.stderr,
            format!(
                "cronwheel: invalid --from {from:?}: outside the instants that can be counted, -009999-01-02T01:59:59Z to 9999-12-30T22:00:00Z\n"
            )
        );
    }
}

/// An offset other than Z is accepted and means the same instant.
#[test]
fn from_with_an_offset() {
    let out = next_of("2026-03-07T07:00:00-05:00", 1, &["every-90m"]);
    assert_eq!(
        rows(&out),
        expect("every-90m", &["2026-03-07T13:30:00+00:00"])
    );
}
