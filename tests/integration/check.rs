//! `cronwheel check`: every kind of broken task file is reported on one line that names
//! the file, the line, the task and the field; good files pass with the right summary.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::util::{check, cronwheel, read_first_line_then_close, repo_file, run, Outcome, TaskDir};

/// The summary of a file holding the valid task `ok` and one rejected entry.
const ONE_BAD: &str = "1 task valid, 1 invalid, 0 disabled";

/// How a case's file comes to be.
enum Input {
    Text(String),
    Bytes(Vec<u8>),
    /// A directory where the file should be.
    Dir,
    /// Nothing at the path.
    Missing,
    /// A YAML comment just over the 16 MiB limit.
    OverLimit,
}

/// One broken file and what `check` must say about it.
struct Case {
    name: &'static str,
    file: &'static str,
    input: Input,
    code: i32,
    /// The line the single error line must name; None for errors without a position.
    line: Option<usize>,
    /// Fragments the error line must contain (task, field, message).
    needles: Vec<String>,
    /// The exact summary on stdout; None when nothing may be printed there.
    summary: Option<&'static str>,
}

impl Case {
    /// An entry rejected in a YAML file whose first entry, the valid task `ok`, takes
    /// lines 1 to 4; the rejected entry is task #2 with task_id `bad`.
    fn entry(name: &'static str, text: String, line: usize, field: &str, message: &str) -> Case {
        Case {
            name,
            file: "tasks.yaml",
            input: Input::Text(text),
            code: 1,
            line: Some(line),
            needles: vec![
                "task #2 (bad)".to_owned(),
                format!("field `{field}`"),
                message.to_owned(),
            ],
            summary: Some(ONE_BAD),
        }
    }

    /// The file as a whole is rejected: one error line, nothing on stdout.
    fn whole(
        name: &'static str,
        file: &'static str,
        input: Input,
        code: i32,
        line: Option<usize>,
        message: &str,
    ) -> Case {
        Case {
            name,
            file,
            input,
            code,
            line,
            needles: vec![message.to_owned()],
            summary: None,
        }
    }

    fn file(mut self, file: &'static str) -> Case {
        self.file = file;
        self
    }

    fn needles(mut self, needles: &[&str]) -> Case {
        self.needles = needles.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    fn also(mut self, needle: &str) -> Case {
        self.needles.push(needle.to_owned());
        self
    }

    fn summary(mut self, summary: &'static str) -> Case {
        self.summary = Some(summary);
        self
    }

    /// Writes the case's file into `dir` and returns the path to check.
    fn materialize(&self, dir: &TaskDir) -> PathBuf {
        match &self.input {
            Input::Text(text) => dir.write(self.file, text),
            Input::Bytes(bytes) => dir.write(self.file, bytes),
            Input::Dir => dir.mkdir(self.file),
            Input::Missing => dir.path(self.file),
            Input::OverLimit => {
                let mut text = b"# ".to_vec();
                text.resize(16 * 1024 * 1024 + 1, b'x');
                dir.write(self.file, text)
            }
        }
    }
}

/// Joins lines into file text, each ending in a newline.
fn lines(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Lines 1 to 4 hold the valid task `ok`; `rest` follows from line 5.
fn after_ok(rest: &[&str]) -> String {
    let mut all = vec![
        "tasks:",                   // 1
        "  - task_id: ok",          // 2
        "    interval: 1m",         // 3
        "    entry_point: echo ok", // 4
    ];
    all.extend_from_slice(rest);
    lines(&all)
}

/// A JSON seed list: line 1 `[`, line 2 the valid task `ok`, `rest` from line 3, then `]`.
fn json_after_ok(rest: &[&str]) -> String {
    let mut all = vec![
        "[",
        r#"  {"task_id": "ok", "interval_seconds": 60, "entry_point": "echo ok"},"#,
    ];
    all.extend_from_slice(rest);
    all.push("]");
    lines(&all)
}

fn cases() -> Vec<Case> {
    let long_id = "x".repeat(65);
    vec![
        // ---- unknown keys --------------------------------------------------------
        Case::entry(
            "unknown task key (typo)",
            after_ok(&[
                "  - task_id: bad",     // 5
                "    interval: 1m",     // 6
                "    entry_pont: echo", // 7
            ]),
            7,
            "entry_pont",
            "unknown field `entry_pont`, expected one of",
        )
        .also("`entry_point`"),
        Case::whole(
            "unknown top-level key",
            "tasks.yaml",
            Input::Text(lines(&[
                "shell: /bin/sh",   // 1
                "max_concurent: 3", // 2
                "tasks: []",        // 3
            ])),
            1,
            Some(2),
            "field `max_concurent`: unknown field `max_concurent`",
        )
        .also("`max_concurrent`"),
        Case::whole(
            "unknown key in defaults",
            "tasks.yaml",
            Input::Text(lines(&[
                "defaults:",            // 1
                "  timezone: UTC",      // 2
                "  timout_seconds: 30", // 3
                "tasks: []",            // 4
            ])),
            1,
            Some(3),
            "field `defaults.timout_seconds`",
        )
        .also("unknown field `timout_seconds`")
        .also("`timeout_seconds`"),
        // ---- task_id ---------------------------------------------------------------
        Case::entry(
            "missing task_id",
            after_ok(&[
                "  - task_name: nameless", // 5
                "    interval: 1m",        // 6
                "    entry_point: echo",   // 7
            ]),
            5,
            "-",
            "-",
        )
        .needles(&["task #2: ", "missing field `task_id`"]),
        Case::entry(
            "task_id with bad characters",
            after_ok(&[
                r#"  - task_id: "bad id!""#, // 5
                "    interval: 1m",          // 6
                "    entry_point: echo",     // 7
            ]),
            5,
            "task_id",
            r#"invalid task_id "bad id!""#,
        )
        .needles(&[
            "task #2",
            "field `task_id`",
            "use 1 to 64 of the characters",
        ]),
        Case::entry(
            "bad task_id after other keys",
            after_ok(&[
                "  - interval: 1m",         // 5
                "    entry_point: echo",    // 6
                r#"    task_id: "bad/id""#, // 7
            ]),
            7,
            "task_id",
            r#"invalid task_id "bad/id""#,
        )
        .needles(&["task #2", "field `task_id`", r#"invalid task_id "bad/id""#]),
        Case::entry(
            "task_id of 65 characters",
            after_ok(&[
                &format!("  - task_id: {long_id}"), // 5
                "    interval: 1m",                 // 6
                "    entry_point: echo",            // 7
            ]),
            5,
            "task_id",
            "use 1 to 64 of the characters",
        )
        .needles(&["task #2", "field `task_id`", "use 1 to 64"]),
        Case::entry(
            "duplicate task_id: reported at the second definition, the first stands",
            after_ok(&[
                "  - task_id: other",        // 5
                "    interval: 2m",          // 6
                "    entry_point: echo",     // 7
                "  - task_id: ok",           // 8
                "    interval: 5m",          // 9
                "    entry_point: echo dup", // 10
            ]),
            8,
            "task_id",
            r#"duplicate task_id "ok": first defined by task #1"#,
        )
        .needles(&[
            "task #3 (ok)",
            "field `task_id`",
            r#"duplicate task_id "ok": first defined by task #1, which stands"#,
        ])
        .summary("2 tasks valid, 1 invalid, 0 disabled"),
        // ---- schedule --------------------------------------------------------------
        // Checks that combine fields are placed at the line where the entry starts.
        Case::entry(
            "no schedule",
            after_ok(&[
                "  - task_id: bad",      // 5
                "    entry_point: echo", // 6
            ]),
            5,
            "schedule",
            "no schedule: set one of interval_seconds, interval, cron",
        ),
        Case::entry(
            "two schedules",
            after_ok(&[
                "  - task_id: bad",           // 5
                "    interval: 1m",           // 6
                r#"    cron: "*/5 * * * *""#, // 7
                "    entry_point: echo",      // 8
            ]),
            5,
            "schedule",
            "set only one of interval, cron",
        ),
        Case::entry(
            "interval_seconds 0",
            after_ok(&[
                "  - task_id: bad",        // 5
                "    interval_seconds: 0", // 6
                "    entry_point: echo",   // 7
            ]),
            6,
            "interval_seconds",
            "must be at least 1, got 0",
        ),
        Case::entry(
            "negative interval_seconds",
            after_ok(&[
                "  - task_id: bad",         // 5
                "    interval_seconds: -5", // 6
                "    entry_point: echo",    // 7
            ]),
            6,
            "interval_seconds",
            "-5",
        ),
        Case::entry(
            "interval_seconds over 10 years",
            after_ok(&[
                "  - task_id: bad",                // 5
                "    interval_seconds: 315360001", // 6
                "    entry_point: echo",           // 7
            ]),
            6,
            "interval_seconds",
            "must be at most 315360000 (10 years), got 315360001",
        ),
        Case::entry(
            "unparseable human duration",
            after_ok(&[
                "  - task_id: bad",        // 5
                "    interval: 5 parsecs", // 6
                "    entry_point: echo",   // 7
            ]),
            6,
            "interval",
            r#"invalid duration "5 parsecs""#,
        )
        .also("write e.g. 90s, 1h30m, 2d"),
        Case::entry(
            "sub-second human duration",
            after_ok(&[
                "  - task_id: bad",      // 5
                "    interval: 1500ms",  // 6
                "    entry_point: echo", // 7
            ]),
            6,
            "interval",
            r#"duration "1500ms" is not a whole number of seconds"#,
        ),
        Case::entry(
            "cron with four fields",
            after_ok(&[
                "  - task_id: bad",       // 5
                r#"    cron: "* * * *""#, // 6
                "    entry_point: echo",  // 7
            ]),
            6,
            "cron",
            r#"cron expression "* * * *" has 4 fields; expected 5"#,
        ),
        Case::entry(
            "cron minute out of range",
            after_ok(&[
                "  - task_id: bad",          // 5
                r#"    cron: "61 * * * *""#, // 6
                "    entry_point: echo",     // 7
            ]),
            6,
            "cron",
            r#"minute field "61""#,
        ),
        Case::entry(
            "cron hour out of range",
            after_ok(&[
                "  - task_id: bad",          // 5
                r#"    cron: "0 24 * * *""#, // 6
                "    entry_point: echo",     // 7
            ]),
            6,
            "cron",
            r#"hour field "24""#,
        ),
        Case::entry(
            "unknown cron macro",
            after_ok(&[
                "  - task_id: bad",            // 5
                r#"    cron: "@fortnightly""#, // 6
                "    entry_point: echo",       // 7
            ]),
            6,
            "cron",
            r#"unknown cron macro "@fortnightly""#,
        ),
        // ---- other task fields -----------------------------------------------------
        Case::entry(
            "unknown time zone in a task",
            after_ok(&[
                "  - task_id: bad",           // 5
                r#"    cron: "0 3 * * *""#,   // 6
                "    timezone: Mars/Olympus", // 7
                "    entry_point: echo",      // 8
            ]),
            7,
            "timezone",
            r#"unknown time zone "Mars/Olympus""#,
        ),
        Case::whole(
            "unknown time zone in defaults",
            "tasks.yaml",
            Input::Text(lines(&[
                "max_concurrent: 4",           // 1
                "defaults:",                   // 2
                "  overlap: queue",            // 3
                "  timezone: Europe/Atlantis", // 4
                "tasks: []",                   // 5
            ])),
            1,
            Some(4),
            "field `defaults.timezone`",
        )
        .also(r#"unknown time zone "Europe/Atlantis""#),
        Case::entry(
            "timeout_seconds 0",
            after_ok(&[
                "  - task_id: bad",       // 5
                "    interval: 1m",       // 6
                "    timeout_seconds: 0", // 7
                "    entry_point: echo",  // 8
            ]),
            7,
            "timeout_seconds",
            "must be at least 1, got 0",
        ),
        Case::entry(
            "bad overlap value",
            after_ok(&[
                "  - task_id: bad",       // 5
                "    interval: 1m",       // 6
                "    overlap: sometimes", // 7
                "    entry_point: echo",  // 8
            ]),
            7,
            "overlap",
            "unknown variant `sometimes`, expected one of `skip`, `queue`, `allow`, `replace`",
        ),
        Case::entry(
            "bad task_type",
            after_ok(&[
                "  - task_id: bad",      // 5
                "    interval: 1m",      // 6
                "    task_type: perl",   // 7
                "    entry_point: echo", // 8
            ]),
            7,
            "task_type",
            "unknown variant `perl`, expected one of `shell`, `exec`, `python`",
        ),
        Case::entry(
            "blank entry_point",
            after_ok(&[
                "  - task_id: bad",          // 5
                "    interval: 1m",          // 6
                r#"    entry_point: "   ""#, // 7
            ]),
            5,
            "entry_point",
            "empty command",
        ),
        Case::entry(
            "exec entry_point given as a string",
            after_ok(&[
                "  - task_id: bad",            // 5
                "    interval: 1m",            // 6
                "    task_type: exec",         // 7
                "    entry_point: /bin/ls -l", // 8
            ]),
            5,
            "entry_point",
            "an exec task takes a list of strings",
        ),
        Case::entry(
            "exec entry_point list holding a map",
            after_ok(&[
                "  - task_id: bad",                   // 5
                "    interval: 1m",                   // 6
                "    task_type: exec",                // 7
                "    entry_point: [/bin/ls, {a: 1}]", // 8
            ]),
            8,
            "entry_point.1",
            "invalid type: map, expected a string",
        ),
        Case::entry(
            "shell entry_point given as a list",
            after_ok(&[
                "  - task_id: bad",          // 5
                "    interval: 1m",          // 6
                "    entry_point: [ls, -l]", // 7
            ]),
            5,
            "entry_point",
            "a shell task takes a command string",
        ),
        Case::entry(
            "python target without a colon",
            after_ok(&[
                "  - task_id: bad",                     // 5
                "    interval: 1m",                     // 6
                "    task_type: python",                // 7
                "    entry_point: reports.daily.build", // 8
            ]),
            5,
            "entry_point",
            r#"invalid python target "reports.daily.build""#,
        ),
        Case::entry(
            "relative working_dir",
            after_ok(&[
                "  - task_id: bad",          // 5
                "    interval: 1m",          // 6
                "    working_dir: tmp/work", // 7
                "    entry_point: echo",     // 8
            ]),
            7,
            "working_dir",
            r#"must be an absolute path, got "tmp/work""#,
        ),
        Case::entry(
            "env value that is a map",
            after_ok(&[
                "  - task_id: bad",      // 5
                "    interval: 1m",      // 6
                "    entry_point: echo", // 7
                "    env:",              // 8
                "      LANG: C",         // 9
                "      NESTED:",         // 10
                "        deeper: 1",     // 11: where the map value starts
            ]),
            11,
            "env.NESTED",
            "invalid type: map, expected a string",
        ),
        Case::entry(
            "user that does not exist",
            after_ok(&[
                "  - task_id: bad",                      // 5
                "    interval: 1m",                      // 6
                "    user: cronwheel-no-such-user-7f3a", // 7
                "    entry_point: echo",                 // 8
            ]),
            5,
            "user",
            r#"user "cronwheel-no-such-user-7f3a" does not exist"#,
        ),
        Case::entry(
            "string where a number is expected",
            after_ok(&[
                "  - task_id: bad",      // 5
                "    interval: 1m",      // 6
                "    retries: three",    // 7
                "    entry_point: echo", // 8
            ]),
            7,
            "retries",
            r#"invalid type: string "three", expected u32"#,
        ),
        Case::entry(
            "string where a boolean is expected",
            after_ok(&[
                "  - task_id: bad",             // 5
                "    interval: 1m",             // 6
                r#"    enabled: "yes please""#, // 7
                "    entry_point: echo",        // 8
            ]),
            7,
            "enabled",
            "expected a boolean",
        ),
        Case::entry(
            "entry that is a scalar, not a mapping",
            after_ok(&[
                "  - echo hello",        // 5
                "  - task_id: after",    // 6
                "    interval: 1m",      // 7
                "    entry_point: echo", // 8
            ]),
            5,
            "-",
            "-",
        )
        .needles(&[
            "task #2",
            "invalid type: string \"echo hello\", expected a task (a mapping",
        ])
        .summary("2 tasks valid, 1 invalid, 0 disabled"),
        // ---- JSON --------------------------------------------------------------------
        Case::entry(
            "JSON: type error",
            json_after_ok(&[
                r#"  {"task_id": "bad","#,            // 3
                r#"   "interval_seconds": "sixty","#, // 4
                r#"   "entry_point": "echo"}"#,       // 5
            ]),
            4,
            "interval_seconds",
            r#"invalid type: string "sixty", expected a whole number of seconds"#,
        )
        .file("tasks.json"),
        Case::entry(
            "JSON: negative number",
            json_after_ok(&[
                r#"  {"task_id": "bad","#,       // 3
                r#"   "interval_seconds": -5,"#, // 4
                r#"   "entry_point": "echo"}"#,  // 5
            ]),
            4,
            "interval_seconds",
            "must not be negative, got -5",
        )
        .file("tasks.json"),
        Case::entry(
            "JSON: invalid cron, placed at its value",
            json_after_ok(&[
                r#"  {"task_id": "bad","#,      // 3
                r#"   "cron": "61 * * * *","#,  // 4
                r#"   "entry_point": "echo"}"#, // 5
            ]),
            4,
            "cron",
            r#"minute field "61""#,
        )
        .file("tasks.json"),
        Case::entry(
            "JSON: missing entry_point",
            json_after_ok(&[
                "  {",                           // 3: the entry starts here
                r#"    "task_id": "bad","#,      // 4
                r#"    "interval_seconds": 60"#, // 5
                "  }", // 6: JSON places checks across fields at the closing brace
            ]),
            6,
            "entry_point",
            "missing: the command to run",
        )
        .file("tasks.json"),
        Case::entry(
            "JSON: unknown key",
            json_after_ok(&[
                r#"  {"task_id": "bad", "interval_seconds": 60,"#, // 3
                r#"   "entrypoint": "echo"}"#,                     // 4
            ]),
            4,
            "entrypoint",
            "unknown field `entrypoint`",
        )
        .file("tasks.json"),
        Case::whole(
            "JSON: trailing comma",
            "tasks.json",
            Input::Text(json_after_ok(&[])),
            2,
            Some(3),
            "trailing comma",
        ),
        Case::whole(
            "JSON: missing comma between keys",
            "tasks.json",
            Input::Text(lines(&[
                r#"[{"task_id": "a","#,                            // 1
                r#"  "interval_seconds": 5 "entry_point": "x"}]"#, // 2
            ])),
            2,
            Some(2),
            "expected `,` or `}`",
        ),
        Case::whole(
            "JSON extension, YAML content",
            "tasks.json",
            Input::Text(lines(&[
                "- task_id: a",
                "  interval: 1m",
                "  entry_point: x",
            ])),
            2,
            Some(1),
            "invalid number",
        ),
        // ---- top level -----------------------------------------------------------------
        Case::whole(
            "max_concurrent 0",
            "tasks.yaml",
            Input::Text(lines(&[
                "shell: /bin/sh",    // 1
                "history_limit: 10", // 2
                "max_concurrent: 0", // 3
                "tasks: []",         // 4
            ])),
            1,
            Some(3),
            "field `max_concurrent`: must be at least 1",
        ),
        Case::whole(
            "tasks is not a list",
            "tasks.yaml",
            Input::Text(lines(&["shell: /bin/sh", "tasks: 5"])),
            1,
            Some(2),
            "field `tasks`",
        )
        .also("invalid type: integer `5`, expected a list of tasks"),
        // ---- syntax ----------------------------------------------------------------------
        Case::whole(
            "YAML: bad indentation",
            "tasks.yaml",
            Input::Text(lines(&[
                "tasks:",               // 1
                "  - task_id: a",       // 2
                "    interval: 1m",     // 3
                "   entry_point: echo", // 4
            ])),
            2,
            Some(4),
            "did not find expected '-' indicator",
        ),
        Case::whole(
            "YAML: tab in indentation",
            "tasks.yaml",
            Input::Text(lines(&[
                "tasks:",         // 1
                "  - task_id: a", // 2
                "\tinterval: 1m", // 3
            ])),
            2,
            Some(3),
            "tab character",
        ),
        // ---- unreadable ----------------------------------------------------------------
        Case::whole(
            "empty file",
            "tasks.yaml",
            Input::Text(String::new()),
            2,
            None,
            "file is empty",
        ),
        Case::whole(
            "whitespace-only file",
            "tasks.yaml",
            Input::Text("   \n\n\t\n  \n".to_owned()),
            2,
            None,
            "file is empty",
        ),
        Case::whole(
            "not UTF-8",
            "tasks.yaml",
            Input::Bytes(b"tasks:\n  - task_id: caf\xe9\n".to_vec()),
            2,
            None,
            "not valid UTF-8 (first bad byte at offset 23)",
        ),
        Case::whole(
            "a directory",
            "tasks.yaml",
            Input::Dir,
            2,
            None,
            "is a directory, not a task file",
        ),
        Case::whole(
            "missing file",
            "absent.yaml",
            Input::Missing,
            2,
            None,
            "cannot read: No such file or directory",
        ),
        Case::whole(
            "file over 16 MiB",
            "huge.yaml",
            Input::OverLimit,
            2,
            None,
            "larger than the 16 MiB limit (16777217 bytes)",
        ),
    ]
}

/// What is wrong with the outcome of `case`, if anything.
fn judge(case: &Case, path: &str, out: &Outcome) -> Option<String> {
    let mut wrong = Vec::new();
    if out.code != case.code {
        wrong.push(format!("exit code {} instead of {}", out.code, case.code));
    }
    let errors = out.stderr_lines();
    if errors.len() != 1 {
        wrong.push(format!("{} error lines instead of 1", errors.len()));
    }
    let first = errors.first().copied().unwrap_or("");
    match case.line {
        Some(line) => {
            let at = |l: usize| first.starts_with(&format!("cronwheel: {path}:{l}:"));
            if !at(line) {
                wrong.push(format!("the error is not placed at line {line}"));
            }
        }
        None => {
            if !first.starts_with(&format!("cronwheel: {path}: ")) {
                wrong.push("the error does not start with `cronwheel: FILE: `".to_owned());
            }
        }
    }
    for needle in &case.needles {
        if !first.contains(needle.as_str()) {
            wrong.push(format!("the error lacks {needle:?}"));
        }
    }
    match case.summary {
        Some(summary) if out.stdout != format!("{summary}\n") => {
            wrong.push(format!("the summary is not {summary:?}"));
        }
        None if !out.stdout.is_empty() => wrong.push("stdout is not empty".to_owned()),
        _ => {}
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{}: {}\n  stdout: {:?}\n  stderr: {:?}",
            case.name,
            wrong.join("; "),
            out.stdout,
            out.stderr
        )
    })
}

#[test]
fn broken_files_are_reported_with_line_and_field() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let dir = TaskDir::new();
        let path = case.materialize(&dir);
        let out = check(&path, &[]);
        failures.extend(judge(case, &path.display().to_string(), &out));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_bad_entry_is_reported_and_the_good_ones_count() {
    let dir = TaskDir::new();
    let path = dir.write(
        "tasks.yaml",
        lines(&[
            "max_concurrent: 4",                    // 1
            "defaults:",                            // 2
            "  timezone: UTC",                      // 3
            "tasks:",                               // 4
            "  - task_id: first",                   // 5   valid
            "    interval: 1m",                     // 6
            "    entry_point: echo 1",              // 7
            "  - task_id: negative-retries",        // 8   #2
            "    interval: 1m",                     // 9
            "    retries: -1",                      // 10  <-
            "    entry_point: echo 2",              // 11
            "  - task_id: second",                  // 12  valid, disabled
            r#"    cron: "@daily""#,                // 13
            "    entry_point: echo 3",              // 14
            "    enabled: false",                   // 15
            "  - task_id: zero-timeout",            // 16  #4
            "    interval_seconds: 60",             // 17
            "    timeout_seconds: 0",               // 18  <-
            "    entry_point: echo 4",              // 19
            "  - task_id: third",                   // 20  valid
            "    interval_seconds: 90",             // 21
            "    task_type: exec",                  // 22
            r#"    entry_point: [/bin/echo, "3"]"#, // 23
            "  - task_id: perl-task",               // 24  #6
            "    interval: 5m",                     // 25
            "    task_type: perl",                  // 26  <-
            "    entry_point: echo 6",              // 27
            "  - task_id: first",                   // 28  #7 duplicate <-
            "    interval: 2m",                     // 29
            "    entry_point: echo 7",              // 30
            "  - task_id: no-schedule",             // 31  #8 <-
            "    entry_point: echo 8",              // 32
        ]),
    );
    let out = check(&path, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "3 tasks valid, 5 invalid, 1 disabled\n");
    let p = path.display();
    let expected = [
        format!("cronwheel: {p}:10:"),
        format!("cronwheel: {p}:18:"),
        format!("cronwheel: {p}:26:"),
        format!("cronwheel: {p}:28:"),
        format!("cronwheel: {p}:31:"),
    ];
    let details = [
        "task #2 (negative-retries), field `retries`: ",
        "task #4 (zero-timeout), field `timeout_seconds`: must be at least 1, got 0",
        "task #6 (perl-task), field `task_type`: unknown variant `perl`",
        "task #7 (first), field `task_id`: duplicate task_id \"first\": first defined by task #1",
        "task #8 (no-schedule), field `schedule`: no schedule",
    ];
    let errors = out.stderr_lines();
    assert_eq!(errors.len(), 5, "{}", out.stderr);
    for ((line, prefix), detail) in errors.iter().zip(&expected).zip(details) {
        assert!(line.starts_with(prefix.as_str()), "{line:?} vs {prefix:?}");
        assert!(line.contains(detail), "{line:?} lacks {detail:?}");
    }
}

#[test]
fn strict_rejects_a_file_with_invalid_entries() {
    let dir = TaskDir::new();
    let path = dir.write(
        "tasks.yaml",
        after_ok(&[
            "  - task_id: bad",
            "    interval: 0s",
            "    entry_point: echo",
        ]),
    );
    let out = check(&path, &["--strict"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout,
        "1 task valid, 1 invalid, 0 disabled (--strict: the file is rejected)\n"
    );
    assert_eq!(out.stderr_lines().len(), 1, "{}", out.stderr);
}

#[test]
fn strict_accepts_a_valid_file() {
    let out = check(&repo_file("config/tasks.yaml"), &["--strict"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "7 tasks valid, 0 invalid, 1 disabled\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn seed_json_from_the_repository_is_valid() {
    let out = check(&repo_file("config/seed-tasks.json"), &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "3 tasks valid, 0 invalid, 1 disabled\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn example_tasks_yaml_from_the_repository_is_valid() {
    let out = check(&repo_file("config/tasks.yaml"), &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "7 tasks valid, 0 invalid, 1 disabled\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn yaml_seed_list_is_valid() {
    let dir = TaskDir::new();
    let path = dir.write(
        "seed.yaml",
        lines(&[
            "- task_id: heartbeat",
            "  task_name: Heartbeat",
            "  interval_seconds: 60",
            "  enabled: true",
            "  task_type: shell",
            "  entry_point: echo alive",
            "- task_id: cleanup",
            "  interval_seconds: 3600",
            "  enabled: false",
            "  entry_point: 'true'",
        ]),
    );
    let out = check(&path, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "2 tasks valid, 0 invalid, 1 disabled\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn values_at_the_limits_are_accepted() {
    let dir = TaskDir::new();
    let id64 = "a".repeat(64);
    let path = dir.write(
        "tasks.yaml",
        lines(&[
            "tasks:",
            &format!("  - task_id: {id64}"),
            "    interval_seconds: 315360000",
            "    entry_point: echo longest",
            "  - task_id: A-z_0.9",
            "    interval: 1s",
            "    entry_point: 42",
            "  - task_id: human",
            "    interval: 1h30m",
            "    task_type: exec",
            "    entry_point: [/bin/echo, 5]",
            "    timeout_seconds: 1",
            "    kill_grace_seconds: 0",
            "    jitter_seconds: 0",
            "    retry_backoff_seconds: 1",
            "    retries: 0",
            "    priority: -2147483648",
            "  - task_id: two-days",
            "    interval: 2d",
            "    task_type: python",
            "    entry_point: 'reports.daily:build_2'",
            "  - task_id: seconds-cron",
            r#"    cron: "*/15 * * * * *""#,
            "    timezone: Asia/Kolkata",
            "    entry_point: echo",
            "    working_dir: /tmp",
            "    env: {LC_ALL: C, EMPTY: ''}",
            "    user: root",
            "    catch_up: true",
            "    overlap: replace",
        ]),
    );
    let mut macros = String::new();
    for (i, m) in [
        "@hourly",
        "@daily",
        "@midnight",
        "@weekly",
        "@monthly",
        "@yearly",
        "@annually",
        "@reboot",
        "@DAILY",
    ]
    .iter()
    .enumerate()
    {
        macros.push_str(&format!(
            "  - task_id: macro-{i}\n    cron: \"{m}\"\n    entry_point: echo\n"
        ));
    }
    std::fs::write(
        &path,
        std::fs::read_to_string(&path).expect("read back") + &macros,
    )
    .expect("append the macros");
    let out = check(&path, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "14 tasks valid, 0 invalid, 0 disabled\n");
    assert_eq!(out.stderr, "");
}

#[test]
fn config_path_comes_from_the_environment() {
    let dir = TaskDir::new();
    let path = dir.write(
        "tasks.yaml",
        after_ok(&["  - task_id: bad", "    entry_point: echo"]),
    );
    let out = run(cronwheel().arg("check").env("CRONWHEEL_CONFIG", &path));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, format!("{ONE_BAD}\n"));
    assert!(
        out.stderr
            .starts_with(&format!("cronwheel: {}:5:", path.display())),
        "{}",
        out.stderr
    );
}

/// A billion-laughs file: nine levels of aliases, each nine times the one below (9^9
/// strings when expanded). The YAML reader skips aliases it does not need and each
/// entry is rejected as soon as its first value has the wrong shape, so nothing is
/// expanded: every entry is reported at once.
#[test]
fn billion_laughs_is_rejected_quickly() {
    let mut text = String::from("tasks:\n  - &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        text.push_str(&format!("  - &{} [{refs}]\n", pair[1]));
    }
    // A task that uses the bomb where strings are expected.
    text.push_str(
        "  - task_id: victim\n    interval: 1m\n    entry_point: echo\n    task_name: *i\n",
    );
    text.push_str(
        "  - task_id: victim2\n    interval: 1m\n    task_type: exec\n    entry_point: *i\n",
    );
    let dir = TaskDir::new();
    let path = dir.write("laughs.yaml", text);

    let started = Instant::now();
    let out = check(&path, &[]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "0 tasks valid, 11 invalid, 0 disabled\n");
    let errors = out.stderr_lines();
    assert_eq!(errors.len(), 11, "{}", out.stderr);
    for (i, line) in errors.iter().take(9).enumerate() {
        assert!(
            line.starts_with(&format!("cronwheel: {}:{}:", path.display(), i + 2)),
            "{line}"
        );
        assert!(
            line.contains("invalid type: sequence, expected a task (a mapping"),
            "{line}"
        );
    }
    assert!(
        errors[9].contains(
            "task #10 (victim), field `task_name`: invalid type: sequence, expected a string"
        ),
        "{}",
        errors[9]
    );
    assert!(
        errors[10].contains(
            "task #11 (victim2), field `entry_point.0`: invalid type: sequence, expected a string"
        ),
        "{}",
        errors[10]
    );
}

/// The classic shape, with the anchors under top-level keys, stops at the first
/// unknown key.
#[test]
fn billion_laughs_at_the_top_level_stops_at_the_unknown_key() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        text.push_str(&format!("{}: &{} [{refs}]\n", pair[1], pair[1]));
    }
    text.push_str("tasks: *i\n");
    let dir = TaskDir::new();
    let path = dir.write("laughs.yaml", text);
    let started = Instant::now();
    let out = check(&path, &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr_lines(),
        [format!(
            "cronwheel: {}:1:1: field `a`: unknown field `a`, expected one of `defaults`, `max_concurrent`, `shutdown_grace_seconds`, `shell`, `python`, `history_limit`, `tasks`",
            path.display()
        )]
    );
}

/// A file holding only comments parses as an empty document: it is rejected, on one
/// line that names the file, without a panic.
#[test]
fn comment_only_file_is_rejected() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", "# nothing here yet\n\n   # still nothing\n");
    let out = check(&path, &[]);
    assert_ne!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "");
    let errors = out.stderr_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].starts_with(&format!("cronwheel: {}", path.display())),
        "{}",
        errors[0]
    );
}

/// The brief and error.rs: a file with nothing in it is unreadable (exit 2, "file is
/// empty"). A comment-only file gets exit 1 and serde's internal wording instead:
/// `invalid type: Option value, expected a list of tasks, or a mapping with a `tasks` list`.
#[test]
fn comment_only_file_is_an_empty_file() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", "# nothing here yet\n\n   # still nothing\n");
    let out = check(&path, &[]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("file is empty"), "{}", out.stderr);
    assert!(!out.stderr.contains("Option value"), "{}", out.stderr);
}

/// A scalar entry has no task_id, but the error names its text as if it were one:
/// `task #2 (echo hello): invalid type: string "echo hello", expected a task …`.
#[test]
fn scalar_entry_is_not_named_by_its_text() {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", after_ok(&["  - echo hello"]));
    let out = check(&path, &[]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("task #2: invalid type"),
        "{}",
        out.stderr
    );
}

/// Whole-file errors print the path twice for values read through a conversion:
/// `field `defaults.timezone`: defaults: unknown time zone …`, `field `tasks`: tasks: …`.
#[test]
fn whole_file_errors_name_the_key_once() {
    let dir = TaskDir::new();
    for (text, field) in [
        (
            "defaults:\n  timezone: Nowhere/Land\ntasks: []\n",
            "defaults",
        ),
        ("shell: /bin/sh\ntasks: 5\n", "tasks"),
    ] {
        let path = dir.write("tasks.yaml", text);
        let out = check(&path, &[]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            !out.stderr.contains(&format!(": {field}: ")),
            "{}",
            out.stderr
        );
    }
}

/// `cronwheel check … 2>&1 | head -1`: the reader of the error lines goes away after
/// the first; check still ends with its usual code, without a panic.
#[test]
fn a_reader_of_the_errors_that_stops_early_changes_nothing_but_the_output() {
    let dir = TaskDir::new();
    // 40 rejected entries whose error lines quote a 2,000-byte value: far more than a
    // pipe holds, so the writes after the reader has gone meet a closed pipe.
    let long = "x".repeat(2000);
    let mut text =
        String::from("tasks:\n  - task_id: ok\n    interval_seconds: 5\n    entry_point: 'true'\n");
    for i in 0..40 {
        text.push_str(&format!(
            "  - task_id: bad{i}\n    cron: \"{long}\"\n    entry_point: 'true'\n"
        ));
    }
    let path = dir.write("tasks.yaml", &text);
    let (first, output) = read_first_line_then_close(
        &["check".as_ref(), "--config".as_ref(), path.as_ref()],
        true,
    );
    assert!(first.contains("bad0"), "{first:?}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "invalid entries: exit 1, not a panic: {output:?}"
    );
}
