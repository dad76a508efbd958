//! The supervision loop of one run. See the module docs of `exec` for why the worker,
//! and only the worker, signals and reaps its child.

use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{ChildStderr, ChildStdout, ExitStatus};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tracing::{info, warn};

use crate::exec::output::{Budget, LineBuffer, Verdict};
use crate::exec::spawn::{self, Identity};
use crate::exec::{Job, Outcome, Report};

/// What the engine asks of a running run through its control pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StopMode {
    /// SIGTERM to the group, SIGKILL after the task's kill_grace.
    Graceful = 1,
    /// SIGKILL to the group now.
    Kill = 2,
}

/// Asks the worker supervising a run to stop it. Harmless when the run is already over
/// (the write fails with EPIPE, which is ignored).
pub fn request_stop(control: &OwnedFd, mode: StopMode) {
    let _ = nix::unistd::write(control, &[mode as u8]);
}

/// Runs a job to its end on the calling thread.
pub fn execute(job: &Job) -> Report {
    let start = Instant::now();
    let task = &job.task;
    let spawn_error = |message: String| {
        let outcome = Outcome::SpawnError(message);
        let duration = start.elapsed();
        warn!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, duration_ms = duration.as_millis() as u64, outcome = outcome.name(), "run ended: {outcome}");
        Report {
            outcome,
            duration,
            stopped: false,
            output_tail: String::new(),
        }
    };
    let who = match Identity::for_task(task) {
        Ok(w) => w,
        Err(m) => return spawn_error(m),
    };
    let mut cmd = spawn::command(job, &who);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let program = cmd.get_program().to_string_lossy().into_owned();
            return spawn_error(format!("{program}: {}", io_message(&e)));
        }
    };
    let pid = child.id();
    info!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, pid, "run started");

    let mut run = Supervised {
        job,
        pgid: Pid::from_raw(pid as i32),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        out_lines: LineBuffer::default(),
        err_lines: LineBuffer::default(),
        budget: Budget::default(),
        timed_out: false,
        stopped: false,
    };
    let pidfd = pidfd_open(pid);
    run.watch(start, pidfd.as_ref(), || has_exited(pid));
    // The leader has exited but is not reaped yet, so its pid still names the group. A
    // run that was timed out or stopped loses its whole group, grandchildren included,
    // before the leader is reaped.
    if run.timed_out || run.stopped {
        run.signal(Signal::SIGKILL);
    }
    let status = child.wait();
    run.drain();
    let outcome = match status {
        _ if run.timed_out => Outcome::Timeout,
        Ok(status) => outcome_of(status),
        Err(e) => Outcome::SpawnError(format!("cannot wait for the child: {e}")),
    };
    let duration = start.elapsed();
    let duration_ms = duration.as_millis() as u64;
    if outcome.is_success() {
        info!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, duration_ms, outcome = outcome.name(), "run ended: {outcome}");
    } else {
        warn!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, duration_ms, outcome = outcome.name(), stopped = run.stopped, "run ended: {outcome}");
    }
    Report {
        outcome,
        duration,
        stopped: run.stopped,
        output_tail: run.budget.tail(),
    }
}

/// Whether the child has exited, without reaping it (WNOWAIT), so that its process
/// group can still be signalled safely.
fn has_exited(pid: u32) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read for a waitid result; 0 means "not exited yet".
    rc == 0 && unsafe { info.si_pid() } != 0
}

fn outcome_of(status: ExitStatus) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Success,
        (Some(c), _) => Outcome::Failed(c),
        (None, Some(s)) => Outcome::Killed(s),
        (None, None) => Outcome::Failed(-1),
    }
}

fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// A pidfd for the child: readable once it has exited. Lets one `poll` wait on the
/// child, its pipes, the control pipe and a deadline together, without SIGCHLD.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new file descriptor or -1;
    // it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

struct Supervised<'a> {
    job: &'a Job,
    pgid: Pid,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out_lines: LineBuffer,
    err_lines: LineBuffer,
    budget: Budget,
    timed_out: bool,
    stopped: bool,
}

impl Supervised<'_> {
    fn signal(&self, sig: Signal) {
        // ESRCH (the group is already gone) is the expected, harmless failure.
        let _ = killpg(self.pgid, sig);
    }

    /// Waits until the leader exits, streaming output and acting on the deadline and on
    /// stop requests. `exited` checks the child without reaping it.
    fn watch(&mut self, start: Instant, pidfd: Option<&OwnedFd>, mut exited: impl FnMut() -> bool) {
        for fd in [
            self.stdout.as_ref().map(|s| s.as_raw_fd()),
            self.stderr.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        {
            set_nonblocking(fd);
        }
        let grace = self.job.task.kill_grace;
        let mut timeout_at = self.job.task.timeout.map(|t| start + t);
        let mut kill_at: Option<Instant> = None;
        let mut control_open = true;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let now = Instant::now();
            if timeout_at.is_some_and(|t| now >= t) {
                timeout_at = None;
                self.timed_out = true;
                warn!(task_id = %self.job.task.id, run_id = %self.job.run_id, "timeout: SIGTERM to the process group");
                self.signal(Signal::SIGTERM);
                kill_at.get_or_insert(now + grace);
            }
            if kill_at.is_some_and(|t| now >= t) {
                kill_at = None;
                warn!(task_id = %self.job.task.id, run_id = %self.job.run_id, "still running after the kill grace: SIGKILL to the process group");
                self.signal(Signal::SIGKILL);
            }
            let wait = [timeout_at, kill_at]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.saturating_duration_since(now));

            let out_fd = self.stdout.as_ref().map(|s| s.as_fd());
            let err_fd = self.stderr.as_ref().map(|s| s.as_fd());
            let ctl_fd = control_open.then(|| self.job.control.as_fd());
            let pid_fd = pidfd.map(|p| p.as_fd());
            let mut fds: Vec<PollFd> = [out_fd, err_fd, ctl_fd, pid_fd]
                .iter()
                .map(|fd| {
                    PollFd::new(
                        fd.unwrap_or(self.job.control.as_fd()),
                        if fd.is_some() {
                            PollFlags::POLLIN
                        } else {
                            PollFlags::empty()
                        },
                    )
                })
                .collect();
            // Without a pidfd (kernels before 5.3), fall back to checking every 100 ms.
            let wait = if pidfd.is_none() {
                Some(wait.map_or(Duration::from_millis(100), |w| {
                    w.min(Duration::from_millis(100))
                }))
            } else {
                wait
            };
            let timeout = wait.map_or(PollTimeout::NONE, |w| {
                PollTimeout::try_from(w.as_millis().saturating_add(1).min(i32::MAX as u128) as i32)
                    .unwrap_or(PollTimeout::MAX)
            });
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {}
            }
            let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            let (out_ready, err_ready, ctl_ready, pid_ready) =
                (ready(0), ready(1), ready(2), ready(3));
            drop(fds);
            if out_ready {
                self.read_stdout(&mut buf);
            }
            if err_ready {
                self.read_stderr(&mut buf);
            }
            if ctl_ready {
                let mut byte = [0u8; 16];
                match nix::unistd::read(&self.job.control, &mut byte) {
                    Ok(0) | Err(_) => control_open = false,
                    Ok(n) => {
                        self.stopped = true;
                        if byte[..n].contains(&(StopMode::Kill as u8)) {
                            self.signal(Signal::SIGKILL);
                            kill_at = None;
                        } else if kill_at.is_none() {
                            self.signal(Signal::SIGTERM);
                            kill_at = Some(Instant::now() + grace);
                        }
                    }
                }
            }
            if (pid_ready || pidfd.is_none()) && exited() {
                return;
            }
        }
    }

    fn read_stdout(&mut self, buf: &mut [u8]) {
        if let Some(mut s) = self.stdout.take() {
            if read_available(
                &mut s,
                buf,
                &mut self.out_lines,
                &mut self.budget,
                self.job,
                "stdout",
            ) {
                self.stdout = Some(s);
            } else {
                self.out_lines
                    .finish(|l| log_line(&mut self.budget, self.job, "stdout", l));
            }
        }
    }

    fn read_stderr(&mut self, buf: &mut [u8]) {
        if let Some(mut s) = self.stderr.take() {
            if read_available(
                &mut s,
                buf,
                &mut self.err_lines,
                &mut self.budget,
                self.job,
                "stderr",
            ) {
                self.stderr = Some(s);
            } else {
                self.err_lines
                    .finish(|l| log_line(&mut self.budget, self.job, "stderr", l));
            }
        }
    }

    /// Reads what the pipes hold now, then lets them go: output a background
    /// grandchild writes after the leader exited is not waited for.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        self.read_stdout(&mut buf);
        self.read_stderr(&mut buf);
        self.out_lines
            .finish(|l| log_line(&mut self.budget, self.job, "stdout", l));
        self.err_lines
            .finish(|l| log_line(&mut self.budget, self.job, "stderr", l));
        self.stdout = None;
        self.stderr = None;
    }
}

/// Reads until the pipe would block. False at end of file.
fn read_available(
    src: &mut impl Read,
    buf: &mut [u8],
    lines: &mut LineBuffer,
    budget: &mut Budget,
    job: &Job,
    stream: &str,
) -> bool {
    loop {
        match src.read(buf) {
            Ok(0) => return false,
            Ok(n) => lines.push(&buf[..n], |l| log_line(budget, job, stream, l)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn log_line(budget: &mut Budget, job: &Job, stream: &str, line: &[u8]) {
    match budget.take(line) {
        Verdict::Log => {
            let text = String::from_utf8_lossy(line);
            info!(target: "task", task_id = %job.task.id, run_id = %job.run_id, stream, "{text}");
        }
        Verdict::Truncate => {
            warn!(target: "task", task_id = %job.task.id, run_id = %job.run_id, "output truncated: more than 1 MiB; the rest of this run's output is not logged");
        }
        Verdict::Drop => {}
    }
}

fn set_nonblocking(fd: i32) {
    // SAFETY: `fd` is a pipe end owned by the Child handle that outlives this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
        let _ = fcntl(
            fd,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        );
    }
}
