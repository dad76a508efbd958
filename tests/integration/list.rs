//! `cronwheel list`: one aligned row per valid task. The NEXT RUN column depends on the
//! wall clock and is only checked for its shape.

use crate::util::{cronwheel, read_first_line_then_close, run, table_rows, Outcome, TaskDir};

const HEADER: [&str; 6] = ["ID", "NAME", "SCHEDULE", "TYPE", "ENABLED", "NEXT RUN"];

const TASKS: &str = r#"tasks:
  - task_id: beat
    task_name: Heartbeat
    interval_seconds: 10
    entry_point: echo hi
  - task_id: nightly-backup
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    task_type: exec
    entry_point: [/bin/true]
  - task_id: py
    task_name: Python job
    interval: 15m
    task_type: python
    entry_point: "json:dumps"
    enabled: false
  - task_id: boot
    cron: "@reboot"
    entry_point: echo up
  - task_id: broken
    interval: 0s
    entry_point: x
"#;

fn list(text: &str) -> (Outcome, String) {
    let dir = TaskDir::new();
    let path = dir.write("tasks.yaml", text);
    let out = run(cronwheel().arg("list").arg("--config").arg(&path));
    (out, path.display().to_string())
}

/// Whether `s` looks like an RFC 3339 instant as the binary prints it.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 25
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && matches!(b[b.len() - 6], b'+' | b'-')
        && b[b.len() - 3] == b':'
}

#[test]
fn one_row_per_valid_task() {
    let (out, path) = list(TASKS);
    assert_eq!(out.code, 0, "{out:?}");
    // The invalid entry is reported, the others are listed.
    let errors = out.stderr_lines();
    assert_eq!(errors.len(), 1, "{}", out.stderr);
    assert!(
        errors[0].starts_with(&format!(
            "cronwheel: {path}:21:15: task #5 (broken), field `interval`"
        )),
        "{}",
        errors[0]
    );

    let header: Vec<&str> = out
        .stdout
        .lines()
        .next()
        .expect("a header line")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header, HEADER);

    let rows = table_rows(&out.stdout);
    let fixed: Vec<&[String]> = rows.iter().map(|r| &r[..5]).collect();
    let want: [[&str; 5]; 4] = [
        ["beat", "Heartbeat", "every 10s", "shell", "yes"],
        [
            "nightly-backup",
            "-",
            "0 3 * * * (Europe/Berlin)",
            "exec",
            "yes",
        ],
        ["py", "Python job", "every 15m", "python", "no"],
        ["boot", "-", "@reboot", "shell", "yes"],
    ];
    assert_eq!(fixed, want, "{}", out.stdout);
    for row in &rows {
        assert_eq!(row.len(), 6, "{row:?}");
    }
    let next: Vec<&str> = rows.iter().map(|r| r[5].as_str()).collect();
    assert!(
        is_rfc3339(next[0]) && next[0].ends_with("+00:00"),
        "{next:?}"
    );
    assert!(is_rfc3339(next[1]), "{next:?}");
    assert!(next[1].contains("T03:00:00+0"), "{next:?}");
    assert_eq!(next[2], "-", "a disabled task has no next run");
    assert_eq!(next[3], "at start-up");
}

/// Every column starts at the same character offset in every line.
#[test]
fn columns_are_aligned() {
    let (out, _) = list(TASKS);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    let header = lines[0];
    for (i, title) in HEADER.iter().enumerate().skip(1) {
        let offset = header.find(title).expect("the title is in the header");
        for line in &lines[1..] {
            let chars: Vec<char> = line.chars().collect();
            assert!(
                chars.len() > offset
                    && chars[offset - 1] == ' '
                    && chars[offset - 2] == ' '
                    && chars[offset] != ' ',
                "column {i} ({title}) does not start at {offset} in {line:?}\n{}",
                out.stdout
            );
        }
    }
    // ENABLED holds yes/no at exactly the header's offset.
    let enabled = header.find("ENABLED").expect("ENABLED in the header");
    let values: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.chars().skip(enabled).take(3).collect::<String>())
        .collect();
    assert_eq!(values, ["yes", "yes", "no ", "yes"]);
}

#[test]
fn seed_list_file_is_listed() {
    let (out, _) = list(
        "- task_id: a\n  interval_seconds: 60\n  entry_point: echo a\n- task_id: b\n  interval_seconds: 300\n  enabled: false\n  entry_point: echo b\n",
    );
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stderr, "");
    let rows = table_rows(&out.stdout);
    let fixed: Vec<&[String]> = rows.iter().map(|r| &r[..5]).collect();
    let want: [[&str; 5]; 2] = [
        ["a", "-", "every 60s", "shell", "yes"],
        ["b", "-", "every 300s", "shell", "no"],
    ];
    assert_eq!(fixed, want);
}

#[test]
fn unreadable_file_fails_like_check() {
    let dir = TaskDir::new();
    let path = dir.path("absent.yaml");
    let out = run(cronwheel().arg("list").arg("--config").arg(&path));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "cronwheel: {}: cannot read: No such file or directory\n",
            path.display()
        )
    );
}

/// A file of `n` tasks, large enough (over 64 KiB from about 700 tasks) to be read in
/// two halves, in three shapes.
fn many_tasks(n: usize) -> String {
    let mut text = String::from("defaults:\n  timeout_seconds: 60\ntasks:\n");
    for i in 0..n {
        text.push_str(&match i % 3 {
            0 => format!("  - task_id: t{i}\n    interval_seconds: {}\n    entry_point: echo {i}\n", i + 1),
            1 => format!("  - task_id: t{i}\n    cron: \"{} 3 * * *\"\n    task_type: exec\n    entry_point:\n    - /bin/echo\n    - \"- {i}\"\n", i % 60),
            _ => format!("  - task_id: t{i}\n    interval: 1h\n    entry_point: |\n      echo {i}\n      - not an entry\n    enabled: false\n"),
        });
    }
    text
}

#[test]
fn a_large_file_is_listed_whole_and_in_order() {
    let n = 3000;
    let text = many_tasks(n);
    assert!(text.len() > 200 * 1024);
    let (out, _) = list(&text);
    assert_eq!(out.code, 0, "{out:?}");
    let rows = table_rows(&out.stdout);
    assert_eq!(rows.len(), n, "one row per task");
    for (i, row) in rows.iter().enumerate() {
        let schedule = match i % 3 {
            0 => format!("every {}s", i + 1),
            1 => format!("{} 3 * * * (UTC)", i % 60),
            _ => "every 1h".to_owned(),
        };
        let enabled = if i % 3 == 2 { "no" } else { "yes" };
        assert_eq!(
            (&*row[0], &*row[2], &*row[4]),
            (&*format!("t{i}"), &*schedule, enabled),
            "row {i}"
        );
    }
}

/// `cronwheel list | head -1`: the reader goes away after the first line; the listing
/// ends quietly.
#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    let dir = TaskDir::new();
    // Far more output than a pipe holds, so the writes after the reader has gone meet
    // a closed pipe.
    let path = dir.write("tasks.yaml", many_tasks(3000));
    let (header, output) = read_first_line_then_close(
        &["list".as_ref(), "--config".as_ref(), path.as_ref()],
        false,
    );
    assert!(header.starts_with("ID "), "{header:?}");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
