//! `cronwheel exec`: one task in the foreground, its exit code passed through.

use std::path::PathBuf;

use crate::util::{cronwheel, run, Outcome, TaskDir};

const TASKS: &str = "tasks:
  - task_id: ok
    interval_seconds: 60
    entry_point: 'echo out-line; echo err-line >&2'
  - task_id: three
    interval_seconds: 60
    entry_point: 'exit 3'
  - task_id: slow
    interval_seconds: 60
    entry_point: 'sleep 100 & sleep 100'
    timeout_seconds: 1
    kill_grace_seconds: 1
  - task_id: missing
    interval_seconds: 60
    task_type: exec
    entry_point: ['/nonexistent/x']
  - task_id: k9
    interval_seconds: 60
    entry_point: 'kill -9 $$'
  - task_id: off
    interval_seconds: 60
    entry_point: 'echo ran-while-disabled'
    enabled: false
";

fn exec(dir: &TaskDir, task: &str, extra: &[&str]) -> Outcome {
    exec_with_rust_log(dir, task, None, extra)
}

/// `exec`, with RUST_LOG set to `rust_log` when it is given.
fn exec_with_rust_log(
    dir: &TaskDir,
    task: &str,
    rust_log: Option<&str>,
    extra: &[&str],
) -> Outcome {
    let path: PathBuf = dir.write("tasks.yaml", TASKS);
    let mut cmd = cronwheel();
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    run(cmd
        .env_remove("JOURNAL_STREAM")
        .arg("exec")
        .arg("--config")
        .arg(path)
        .args(extra)
        .arg(task))
}

/// The line of stderr that holds `needle`.
fn line_with<'a>(out: &'a Outcome, needle: &str) -> &'a str {
    out.stderr_lines()
        .into_iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} on stderr:\n{}", out.stderr))
}

#[test]
fn exec_logs_the_output_of_a_successful_task_and_exits_0() {
    let dir = TaskDir::new();
    let out = exec(&dir, "ok", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout, "",
        "the task's output goes to the log, not stdout"
    );
    let line = line_with(&out, "out-line");
    assert!(
        line.contains("task_id=ok") && line.contains("stdout"),
        "{line}"
    );
    let line = line_with(&out, "err-line");
    assert!(
        line.contains("task_id=ok") && line.contains("stderr"),
        "{line}"
    );
}

#[test]
fn exec_log_format_json_gives_one_object_per_output_line() {
    let dir = TaskDir::new();
    let out = exec(&dir, "ok", &["--log-format", "json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<serde_json::Value> = out
        .stderr_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let output: Vec<(&str, &str)> = lines
        .iter()
        .filter(|v| v["target"] == "task")
        .map(|v| {
            (
                v["stream"].as_str().unwrap(),
                v["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(output, [("stdout", "out-line"), ("stderr", "err-line")]);
}

#[test]
fn exec_passes_the_exit_code_through() {
    let dir = TaskDir::new();
    let out = exec(&dir, "three", &[]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(line_with(&out, "run ended").contains("exit 3"));
}

#[test]
fn exec_exits_124_on_timeout() {
    let dir = TaskDir::new();
    let out = exec(&dir, "slow", &[]);
    assert_eq!(out.code, 124, "{out:?}");
    line_with(&out, "timeout: SIGTERM to the process group");
}

#[test]
fn exec_exits_127_when_the_program_is_missing() {
    let dir = TaskDir::new();
    let out = exec(&dir, "missing", &[]);
    assert_eq!(out.code, 127, "{out:?}");
    assert!(line_with(&out, "spawn_error").contains("/nonexistent/x"));
}

#[test]
fn exec_exits_128_plus_the_signal_when_killed() {
    let dir = TaskDir::new();
    let out = exec(&dir, "k9", &[]);
    assert_eq!(out.code, 128 + 9, "{out:?}");
    assert!(line_with(&out, "run ended").contains("SIGKILL"));
}

#[test]
fn exec_runs_a_disabled_task() {
    let dir = TaskDir::new();
    let out = exec(&dir, "off", &[]);
    assert_eq!(out.code, 0, "{out:?}");
    line_with(&out, "ran-while-disabled");
}

#[test]
fn exec_of_an_unknown_task_exits_2() {
    let dir = TaskDir::new();
    let out = exec(&dir, "nope", &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stdout, "");
    let line = line_with(&out, "nope");
    assert!(line.contains("no valid task"), "{line}");
}

#[test]
fn a_log_filter_sets_levels_by_target_from_the_flag_or_rust_log() {
    let dir = TaskDir::new();
    // The task's output lines are target `task`, at info.
    let out = exec(&dir, "ok", &["--log-level", "info,task=warn"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("out-line"), "{}", out.stderr);
    assert!(
        out.stderr.contains("INFO"),
        "other targets stay at info:\n{}",
        out.stderr
    );
    let from_env = exec_with_rust_log(&dir, "ok", Some("info,task=warn"), &[]);
    assert_eq!(from_env.code, 0, "{from_env:?}");
    assert!(!from_env.stderr.contains("out-line"), "{}", from_env.stderr);
    // The flag wins over RUST_LOG.
    let both = exec_with_rust_log(&dir, "ok", Some("info,task=warn"), &["--log-level", "info"]);
    assert!(both.stderr.contains("out-line"), "{}", both.stderr);
}

#[test]
fn a_log_filter_that_is_not_one_is_refused_and_a_bad_rust_log_is_named() {
    let dir = TaskDir::new();
    let out = exec(&dir, "ok", &["--log-level", "task=loud"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("--log-level") && out.stderr.contains("task=loud"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("out-line"),
        "nothing ran:\n{}",
        out.stderr
    );
    let bad_env = exec_with_rust_log(&dir, "ok", Some("task=loud"), &[]);
    assert_eq!(bad_env.code, 0, "{bad_env:?}");
    let warning = line_with(&bad_env, "RUST_LOG ignored");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        bad_env.stderr.contains("out-line"),
        "info applies:\n{}",
        bad_env.stderr
    );
}
