//! Helpers shared by the integration tests: a temporary directory for task files, the
//! real `cronwheel` binary with a controlled environment, and the checks every run of it
//! must pass (no panic, no Debug dump).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A temporary directory holding task files, removed when dropped.
pub struct TaskDir {
    dir: TempDir,
}

impl TaskDir {
    pub fn new() -> TaskDir {
        TaskDir {
            dir: tempfile::Builder::new()
                .prefix("cronwheel-it-")
                .tempdir()
                .expect("create a temporary directory"),
        }
    }

    /// Where a file named `name` is (or would be) in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `content` to the file `name` and returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).expect("write a task file");
        path
    }

    /// Creates the sub-directory `name` and returns its path.
    pub fn mkdir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir(&path).expect("create a directory");
        path
    }
}

/// A file of the repository, such as `config/tasks.yaml`.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The binary, with an environment that does not depend on the machine: no
/// `CRONWHEEL_CONFIG`, `TZ=UTC` so tasks without a time zone are shown in UTC, and no
/// `RUST_BACKTRACE`/`RUST_LOG` that would change what a failure prints.
pub fn cronwheel() -> Command {
    let mut cmd = Command::cargo_bin("cronwheel").expect("the cronwheel binary is built");
    cmd.env_remove("CRONWHEEL_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .env("TZ", "UTC");
    cmd
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs `cmd` to its end and checks that it exited normally, without a panic or a Debug
/// dump on either stream.
pub fn run(cmd: &mut Command) -> Outcome {
    let output = cmd.output().expect("run the cronwheel binary");
    let out = Outcome {
        code: output
            .status
            .code()
            .unwrap_or_else(|| panic!("cronwheel was killed by a signal: {output:?}")),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    assert_clean(&out);
    out
}

/// No output may show a panic, a backtrace hint or a Debug-formatted error.
pub fn assert_clean(out: &Outcome) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for bad in ["panicked", "RUST_BACKTRACE", "Error("] {
            assert!(
                !text.contains(bad),
                "{stream} contains {bad:?}:\n--- stdout\n{}--- stderr\n{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

/// `cronwheel check --config PATH [extra…]`.
pub fn check(path: &Path, extra: &[&str]) -> Outcome {
    run(cronwheel()
        .arg("check")
        .arg("--config")
        .arg(path)
        .args(extra))
}

/// `cronwheel next --config PATH --from FROM -n N [ids…]`.
pub fn next(path: &Path, from: &str, n: u32, ids: &[&str]) -> Outcome {
    run(cronwheel()
        .arg("next")
        .arg("--config")
        .arg(path)
        .args(["--from", from, "-n", &n.to_string()])
        .args(ids))
}

/// The rows of a table printed by `next` or `list`, header excluded, each split on runs
/// of two or more spaces.
pub fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .skip(1)
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}
