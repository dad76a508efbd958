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

/// Runs `cronwheel ARGS…` and reads the first line of its stdout (`from_stderr`
/// false) or stderr (true), then closes that pipe, as `head -1` does; the other stream
/// is collected. Returns the line and how the binary ended.
pub fn read_first_line_then_close(
    args: &[&std::ffi::OsStr],
    from_stderr: bool,
) -> (String, std::process::Output) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cronwheel"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cronwheel");
    let mut line = String::new();
    let read = |r: &mut dyn std::io::Read, line: &mut String| {
        std::io::BufReader::new(r)
            .read_line(line)
            .expect("read the first line");
    };
    if from_stderr {
        read(
            &mut child.stderr.take().expect("stderr is piped"),
            &mut line,
        );
    } else {
        read(
            &mut child.stdout.take().expect("stdout is piped"),
            &mut line,
        );
    }
    let output = child.wait_with_output().expect("wait for cronwheel");
    (line, output)
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

/// `cronwheel next --config PATH --from=FROM -n N [ids…]` (one argument, so that a
/// FROM starting with `-` is a value).
pub fn next(path: &Path, from: &str, n: u32, ids: &[&str]) -> Outcome {
    run(cronwheel()
        .arg("next")
        .arg("--config")
        .arg(path)
        .arg(format!("--from={from}"))
        .args(["-n", &n.to_string()])
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

// ---------------------------------------------------------------------------------------
// The daemon under test (`cronwheel run`), its JSON log, and /proc inspection.
// ---------------------------------------------------------------------------------------

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// How long any single event may take to show up. Generous: the CI machine has two slow
/// cores and the tests run in parallel.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `cronwheel run --config F --log-format json`, with its stderr parsed line
/// by line by a reader thread. Dropping it SIGKILLs the daemon and the process groups of
/// its runs.
pub struct Daemon {
    _dir: TaskDir,
    child: Child,
    /// Held open so that a run which wrongly inherited the daemon's stdin would block.
    _stdin: Option<ChildStdin>,
    /// One message per log line; the lines themselves are in `log`.
    lines: Receiver<Value>,
    /// Every line so far: a JSON object, or a JSON string for a line that is not JSON.
    log: Arc<Mutex<Vec<Value>>>,
    /// Where `wait_for` resumes its scan of `log`.
    cursor: usize,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// Writes `yaml` as the task file and starts the daemon on it; returns once it has
    /// logged "cronwheel started".
    pub fn start(yaml: &str) -> Daemon {
        Daemon::start_with_env(yaml, &[])
    }

    /// As [`Daemon::start`], with extra variables in the daemon's own environment.
    pub fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = TaskDir::new();
        let path = dir.write("tasks.yaml", yaml);
        Daemon::start_in(dir, &path, &[], env)
    }

    /// Starts `cronwheel run --log-format json ARGS…` with a controlled environment
    /// (no CRONWHEEL_CONFIG, STATE_DIRECTORY, RUST_LOG or JOURNAL_STREAM; TZ=UTC) plus
    /// `env`; `dir` lives as long as the daemon. Returns once it logged "cronwheel
    /// started".
    fn launch(dir: TaskDir, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cronwheel"));
        cmd.arg("run")
            .args(["--log-format", "json"])
            .args(args)
            .env_remove("CRONWHEEL_CONFIG")
            .env_remove("STATE_DIRECTORY")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LOG")
            .env_remove("JOURNAL_STREAM")
            .env("TZ", "UTC")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and allocates nothing. It makes the kernel
        // kill the daemon should this test thread die without running Drop.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start cronwheel run");
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                let text = text.trim_end_matches(['\n', '\r']);
                let value: Value = serde_json::from_str(text)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| Value::String(text.to_owned()));
                shared.lock().unwrap().push(value.clone());
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let mut daemon = Daemon {
            _dir: dir,
            child,
            _stdin: stdin,
            lines,
            log,
            cursor: 0,
            status: None,
        };
        daemon.wait_for(|v| message(v) == "cronwheel started", WAIT);
        daemon
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// A copy of every log line so far.
    pub fn log(&self) -> Vec<Value> {
        self.log.lock().unwrap().clone()
    }

    /// The first line after the previous `wait_for` match that satisfies `pred`; panics
    /// with the log when none comes within `timeout`.
    pub fn wait_for(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().unwrap();
                if let Some(i) = (self.cursor..log.len()).find(|&i| pred(&log[i])) {
                    self.cursor = i + 1;
                    return log[i].clone();
                }
            }
            self.next_line(deadline, "a matching log line");
        }
    }

    /// Waits until `cond` holds for the whole log so far, and returns that log; panics
    /// with the log when it does not within `timeout`.
    pub fn wait_until(&mut self, cond: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let log = self.log.lock().unwrap();
                if cond(&log) {
                    return log.clone();
                }
            }
            self.next_line(deadline, "the log to satisfy a condition");
        }
    }

    /// Blocks until one more line has been read; panics at `deadline` or at the end of
    /// the daemon's stderr.
    fn next_line(&mut self, deadline: Instant, what: &str) {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                panic!("timed out waiting for {what}; log:\n{}", self.dump())
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!(
                    "the daemon closed stderr while waiting for {what}; log:\n{}",
                    self.dump()
                )
            }
        }
    }

    /// The log, for failure messages: the last lines, each cut to a readable length.
    pub fn dump(&self) -> String {
        let log = self.log.lock().unwrap();
        let skip = log.len().saturating_sub(150);
        let mut out = format!("({} lines, {skip} not shown)\n", log.len());
        for v in &log[skip..] {
            let line = v.to_string();
            let cut: String = line.chars().take(400).collect();
            out.push_str(&cut);
            out.push('\n');
        }
        out
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: Signal) {
        assert!(self.status.is_none(), "the daemon has already exited");
        kill(Pid::from_raw(self.pid()), sig).expect("signal the daemon");
    }

    /// Waits for the daemon to exit; panics with the log when it is still running after
    /// `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let child = &mut self.child;
        let mut status = None;
        let exited = poll_until(timeout, || {
            status = child.try_wait().expect("wait for the daemon");
            status.is_some()
        });
        if !exited {
            panic!(
                "the daemon did not exit within {timeout:?}; log:\n{}",
                self.dump()
            );
        }
        self.status = status;
        // The reader thread sees end of file now; let it hand over the last lines.
        let _ = poll_until(Duration::from_secs(5), || {
            matches!(self.lines.try_recv(), Err(mpsc::TryRecvError::Disconnected))
        });
        self.status.expect("set above")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            // Process groups of the daemon's live descendants, and of the runs whose
            // leader is not reaped yet (started, not ended: the pgid cannot be reused).
            let mut groups: Vec<i32> = descendants(self.pid()).iter().map(|p| p.pgrp).collect();
            groups.extend(runs_in_flight(&self.log()));
            let own = nix::unistd::getpgrp().as_raw();
            groups.sort_unstable();
            groups.dedup();
            for g in groups.into_iter().filter(|&g| g > 1 && g != own) {
                let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            let log = self.log();
            let bad = log.iter().find(|v| {
                v.as_str()
                    .is_some_and(|s| s.contains("panicked") || s.contains("RUST_BACKTRACE"))
            });
            assert!(bad.is_none(), "the daemon panicked: {bad:?}");
        }
    }
}

/// The pids (= process group ids) of runs that logged "run started" but not "run ended".
fn runs_in_flight(log: &[Value]) -> Vec<i32> {
    let mut live: Vec<(String, i32)> = Vec::new();
    for v in log {
        if message(v) == "run started" {
            if let Some(pid) = v["pid"].as_i64() {
                live.push((str_field(v, "run_id").to_owned(), pid as i32));
            }
        } else if is_run_end(v) {
            live.retain(|(run, _)| run != str_field(v, "run_id"));
        }
    }
    live.into_iter().map(|(_, pid)| pid).collect()
}

/// Polls `cond` every 20 ms until it holds (true) or `bound` has passed (false).
pub fn poll_until(bound: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- Reading log lines ------------------------------------------------------------------

/// The `message` of a log line ("" when absent).
pub fn message(v: &Value) -> &str {
    str_field(v, "message")
}

/// A string field of a log line ("" when absent or not a string).
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether a line is about task `task`.
pub fn of_task(v: &Value, task: &str) -> bool {
    str_field(v, "task_id") == task
}

/// "run started" of task `task`.
pub fn is_start(v: &Value, task: &str) -> bool {
    of_task(v, task) && message(v) == "run started"
}

/// The end of a run, spawn errors included: "run ended: …".
pub fn is_run_end(v: &Value) -> bool {
    message(v).starts_with("run ended")
}

/// "run ended" of task `task`.
pub fn is_end(v: &Value, task: &str) -> bool {
    of_task(v, task) && message(v).starts_with("run ended")
}

/// A line the task itself printed (target "task", with a stream).
pub fn is_output(v: &Value) -> bool {
    str_field(v, "target") == "task" && v.get("stream").is_some()
}

/// The lines of the log that satisfy `pred`.
pub fn select(log: &[Value], pred: impl Fn(&Value) -> bool) -> Vec<&Value> {
    log.iter().filter(|v| pred(v)).collect()
}

/// How many lines of the log satisfy `pred`.
pub fn count(log: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    log.iter().filter(|v| pred(v)).count()
}

/// The `timestamp` of a log line.
pub fn timestamp(v: &Value) -> jiff::Timestamp {
    str_field(v, "timestamp")
        .parse()
        .unwrap_or_else(|e| panic!("no RFC 3339 timestamp in {v}: {e}"))
}

/// Seconds from line `a` to line `b`, by their timestamps.
pub fn secs_between(a: &Value, b: &Value) -> f64 {
    (timestamp(b) - timestamp(a))
        .total(jiff::Unit::Second)
        .expect("a span of seconds")
}

/// The `pid` of a "run started" line.
pub fn pid_of(v: &Value) -> i32 {
    v["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {v}")) as i32
}

// ---- /proc --------------------------------------------------------------------------------

/// The fields of /proc/PID/stat the tests need.
#[derive(Clone, Copy, Debug)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

/// /proc/PID/stat of one process, None when it is gone.
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything; the rest follows the
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        state,
        ppid,
        pgrp,
    })
}

/// Every process visible in /proc.
pub fn all_procs() -> Vec<ProcStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Every descendant of `pid` (children, their children, …).
pub fn descendants(pid: i32) -> Vec<ProcStat> {
    let procs = all_procs();
    let mut found: Vec<ProcStat> = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for p in procs.iter().filter(|p| p.ppid == parent) {
            if !found.iter().any(|f| f.pid == p.pid) {
                found.push(*p);
                parents.push(p.pid);
            }
        }
    }
    found
}

/// The children of `pid` as its threads list them in /proc/PID/task/*/children.
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Whether the process group `pgid` has no living member: `kill(-pgid, 0)` fails with
/// ESRCH, or every member left is a zombie that is not the daemon's to reap (an orphan
/// waiting for init; some container inits never reap).
pub fn group_gone(pgid: i32, daemon: i32) -> bool {
    match kill(Pid::from_raw(-pgid), None) {
        Err(Errno::ESRCH) => true,
        _ => all_procs()
            .iter()
            .filter(|p| p.pgrp == pgid)
            .all(|p| p.state == 'Z' && p.ppid != daemon),
    }
}

/// The living (non-zombie) members of process group `pgid`.
pub fn live_members(pgid: i32) -> Vec<ProcStat> {
    all_procs()
        .into_iter()
        .filter(|p| p.pgrp == pgid && p.state != 'Z')
        .collect()
}

/// A numeric field of /proc/PID/status ("VmRSS" in kB, "Threads"), None when gone.
pub fn status_field(pid: i32, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples a /proc/PID/status field every 25 ms on a thread and keeps its maximum.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: i32, field: &'static str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(v) = status_field(pid, field) {
                    m.fetch_max(v, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        Sampler {
            stop,
            max,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the largest value seen.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::Relaxed)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// Reloads: a daemon on a task file the test laid out itself, files changed the ways
// editors and Kubernetes change them, and the "reload:" lines.
// ---------------------------------------------------------------------------------------

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

impl Daemon {
    /// Starts `cronwheel run --config CONFIG --log-format json EXTRA…` on a task file
    /// the test has already laid out in `dir` (a symlink, a sub-directory…), with the
    /// same controlled environment as [`Daemon::start_with_env`]; returns once it has
    /// logged "cronwheel started".
    pub fn start_in(dir: TaskDir, config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        // Each daemon keeps its own history, in its own temp dir.
        let state = dir.path("state");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--config".as_ref(),
            config.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        Daemon::launch(dir, &args, env)
    }

    /// The task file of a daemon made by [`Daemon::start`].
    pub fn task_file(&self) -> PathBuf {
        self._dir.path("tasks.yaml")
    }

    /// How many lines the log has now: a mark for [`Daemon::wait_count_since`] and for
    /// slicing the log at "what happened after this".
    pub fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Waits until `n` lines logged at or after `mark` satisfy `pred`; returns the whole
    /// log. Leaves the `wait_for` cursor alone.
    pub fn wait_count_since(
        &mut self,
        mark: usize,
        n: usize,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Vec<Value> {
        self.wait_until(
            |log| count(&log[mark.min(log.len())..], &pred) >= n,
            timeout,
        )
    }

    /// Whether the daemon is still running.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }
}

/// Writes `content` over the file at `path` in place, as `>` in a shell does: the same
/// inode, truncated, then written.
pub fn write_in_place(path: &Path, content: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {} for writing: {e}", path.display()));
    f.write_all(content.as_bytes())
        .expect("write the task file");
}

/// Creates (or truncates) the file at `path` with mode 0644 whatever the umask, so the
/// daemon running as root does not refuse it as group-writable.
pub fn write_new(path: &Path, content: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(content.as_bytes())
        .expect("write the task file");
}

/// Replaces the file at `path` as editors that save atomically do: writes `PATH.tmp`,
/// then renames it over `path`.
pub fn replace_by_rename(path: &Path, content: &str) {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write_new(&tmp, content);
    std::fs::rename(&tmp, path).expect("rename the new task file over the old one");
}

/// Creates the directory `path` with mode 0755 whatever the umask.
pub fn mkdir_755(path: &Path) {
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

/// Points the symlink `link` at `target` atomically, as the kubelet swaps `..data`: a
/// new symlink `LINK_tmp` renamed over `link`.
pub fn swap_symlink(link: &Path, target: &str) {
    let mut tmp = link.as_os_str().to_owned();
    tmp.push("_tmp");
    let tmp = PathBuf::from(tmp);
    std::os::unix::fs::symlink(target, &tmp).expect("create the new symlink");
    std::fs::rename(&tmp, link).expect("rename the new symlink over the old one");
}

/// An applied reload: its one info line, "reload: A added, R removed, …".
pub fn is_reload(v: &Value) -> bool {
    message(v).starts_with("reload: ")
}

/// The counts of a reload line: [added, removed, changed, unchanged, kept].
pub fn reload_counts(v: &Value) -> [u64; 5] {
    ["added", "removed", "changed", "unchanged", "kept"]
        .map(|k| v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}")))
}

/// The output lines of run `run`, in order.
pub fn run_output<'a>(log: &'a [Value], run: &str) -> Vec<&'a str> {
    log.iter()
        .filter(|v| is_output(v) && str_field(v, "run_id") == run)
        .map(message)
        .collect()
}

// --- state helpers ---
// A daemon on a state directory the test owns (so it can be restarted on the same
// state), and bounded reads of the state database.

impl Daemon {
    /// Starts `cronwheel run --log-format json ARGS…` with the same controlled
    /// environment as [`Daemon::start_with_env`] (no `STATE_DIRECTORY` unless `env`
    /// sets it) and no `--state-dir` of its own; returns once it has logged "cronwheel
    /// started".
    pub fn start_args(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Daemon {
        // Nothing of this daemon's lives in its TaskDir: the test owns the task file
        // and the state directory, so they outlive the daemon.
        Daemon::launch(TaskDir::new(), args, env)
    }

    /// `cronwheel run --config CONFIG --state-dir STATE --log-format json`: a daemon the
    /// test can stop and start again on the same state.
    pub fn start_on(config: &Path, state: &Path) -> Daemon {
        Daemon::start_args(
            &[
                "--config".as_ref(),
                config.as_os_str(),
                "--state-dir".as_ref(),
                state.as_os_str(),
            ],
            &[],
        )
    }

    /// SIGTERM, then waits for a clean exit (status 0).
    pub fn sigterm_and_wait(&mut self) {
        self.signal(Signal::SIGTERM);
        let status = self.wait_exit(WAIT);
        assert!(
            status.success(),
            "the daemon exited with {status:?}; log:\n{}",
            self.dump()
        );
    }
}

/// The state database in `state_dir`, opened read-write (as after a crash, so that
/// SQLite may recover its WAL) with a busy timeout.
pub fn open_db(state_dir: &Path) -> rusqlite::Connection {
    let path = state_dir.join("state.db");
    assert!(path.is_file(), "no database at {}", path.display());
    let conn = rusqlite::Connection::open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(5))
        .expect("set a busy timeout");
    conn
}

/// Polls the state database in `state_dir` (read-only, beside a running daemon) every
/// 20 ms until `cond` holds (true) or `bound` has passed (false). A database that does
/// not exist yet, or a read that fails (busy), counts as "not yet".
pub fn poll_db(
    state_dir: &Path,
    bound: Duration,
    mut cond: impl FnMut(&rusqlite::Connection) -> rusqlite::Result<bool>,
) -> bool {
    let path = state_dir.join("state.db");
    poll_until(bound, || {
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return false;
        };
        let _ = conn.busy_timeout(Duration::from_secs(2));
        cond(&conn).unwrap_or(false)
    })
}

/// The run_ids of the rows of `runs`, oldest row first.
pub fn db_run_ids(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT run_id FROM runs ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    ids.collect()
}

/// Whether the row of run `run_id` is in `runs`.
pub fn db_has_run(conn: &rusqlite::Connection, run_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM runs WHERE run_id = ?1",
        [run_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}
