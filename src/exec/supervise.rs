//! Starting a run (on a spawner thread) and supervising every run in flight (on the
//! supervisor thread): one `epoll` over each run's stdout, stderr and pidfd, the
//! timeouts and kill graces on a deadline heap, stop requests from the mailbox.
//!
//! Only the supervisor signals or reaps a run's process group, and it signals the group
//! only before it reaps the leader, so the group id cannot have been reused by an
//! unrelated process.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tracing::{info, warn};

use crate::exec::executor::{Mailbox, Msg};
use crate::exec::output::{Budget, LineBuffer, Verdict};
use crate::exec::spawn::{self, Identity};
use crate::exec::{Job, Outcome, Report};

/// What the executor calls, on the supervisor thread, with the runs that ended.
pub type Sink = Box<dyn FnMut(Vec<(u64, Report)>) + Send>;

/// What the engine asks of a running run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// SIGTERM to the group, SIGKILL after the task's kill_grace.
    Graceful,
    /// SIGKILL to the group now.
    Kill,
}

/// The epoll token of the mailbox's eventfd; run tokens are `key << 2 | stream`.
const WAKE: u64 = u64::MAX;
const STDOUT: u64 = 0;
const STDERR: u64 = 1;
const PIDFD: u64 = 2;
/// How often runs without a pidfd (kernels before 5.3) are checked for their exit.
const NO_PIDFD_POLL: Duration = Duration::from_millis(100);
/// Bytes read from a pipe at a time; one buffer serves every run.
const READ_BUF: usize = 64 * 1024;
/// Reads of a pipe when its run ends.
const READS_PER_TURN: usize = 16;

/// One started run.
pub struct Running {
    key: u64,
    job: Job,
    child: Child,
    pgid: Pid,
    pidfd: Option<OwnedFd>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out_lines: LineBuffer,
    err_lines: LineBuffer,
    budget: Budget,
    start: Instant,
    timeout_at: Option<Instant>,
    kill_at: Option<Instant>,
    timed_out: bool,
    stopped: bool,
    /// Its descriptors are in the epoll already (added by the spawner).
    watched: bool,
}

/// Starts a job (on a spawner thread). A run that cannot start gives its report.
pub fn start(key: u64, job: Job) -> Result<Running, Report> {
    let task = &job.task;
    // Everything that can be done before the run is due is done first.
    let prepared = Identity::for_task(task).map(|who| spawn::command(&job, &who));
    if let Some(at) = job.not_before {
        sleep_until(at);
    }
    let start = Instant::now();
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
    let mut cmd = match prepared {
        Ok(cmd) => cmd,
        Err(m) => return Err(spawn_error(m)),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let program = cmd.get_program().to_string_lossy().into_owned();
            return Err(spawn_error(format!("{program}: {}", crate::io_message(&e))));
        }
    };
    let pid = child.id();
    info!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, pid, "run started");
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let timeout_at = task.timeout().map(|t| start + t);
    Ok(Running {
        key,
        pgid: Pid::from_raw(pid as i32),
        pidfd: pidfd_open(pid),
        child,
        stdout,
        stderr,
        out_lines: LineBuffer::default(),
        err_lines: LineBuffer::default(),
        budget: Budget::default(),
        start,
        timeout_at,
        kill_at: None,
        timed_out: false,
        stopped: false,
        watched: false,
        job,
    })
}

/// Hands a started run to the supervisor (on the spawner thread).
///
/// A run with a pidfd and no timeout needs nothing from the supervisor until one of
/// its descriptors has an event, so the spawner queues it without waking the
/// supervisor and adds its descriptors to the epoll itself, after queueing: an event
/// finds the run in the mailbox. This is sound because the supervisor closes a pipe
/// only on that pipe's own event, and ends the run (closing everything) only on the
/// pidfd's event, which is added last — so every descriptor is still open when the
/// spawner adds it. Other runs (a deadline to keep, no pidfd to wait on) wake the
/// supervisor, which adds them itself.
pub(super) fn hand_over(mut run: Running, mailbox: &Mailbox) {
    if run.timeout_at.is_some() || run.pidfd.is_none() {
        mailbox.post(Msg::Started(Box::new(run)));
        return;
    }
    let key = run.key;
    let fds: Vec<(i32, u64)> = run.descriptors().collect();
    run.watched = true;
    mailbox.post_quietly(Msg::Started(Box::new(run)));
    for (fd, stream) in fds {
        // SAFETY: the descriptor is open: the run owns it, and the supervisor closes it
        // only after an event of this descriptor or of the pidfd, which are added here
        // first (see above).
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if let Err(e) = mailbox
            .epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, key << 2 | stream))
        {
            warn!(error = %e, "cannot watch a run's descriptor");
        }
    }
    // A stop asked for before the start must not wait for the run's first event. The
    // supervisor counts a held stop before it looks for the run's start in the mailbox
    // again, and the start was queued above: either the count shows here, or the
    // supervisor finds the start when it handles the stop.
    fence(Ordering::SeqCst);
    if mailbox.held_stops.load(Ordering::SeqCst) > 0 {
        mailbox.wake();
    }
}

/// A deadline of one run: its timeout or the end of its kill grace.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Timeout,
    Kill,
}

/// A run not started yet, with the stop asked of it meanwhile.
type Pending = Option<StopMode>;

pub(super) struct Supervisor {
    mailbox: Arc<Mailbox>,
    sink: Sink,
    runs: HashMap<u64, Running>,
    pending: HashMap<u64, Pending>,
    deadlines: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    /// Runs watched without a pidfd.
    unwatched: usize,
    buf: Vec<u8>,
    /// Reports of the runs that ended this turn, handed to the sink together.
    ended: Vec<(u64, Report)>,
}

impl Supervisor {
    pub(super) fn new(mailbox: Arc<Mailbox>, sink: Sink) -> std::io::Result<Supervisor> {
        mailbox.epoll.add(
            mailbox.wake.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, WAKE),
        )?;
        Ok(Supervisor {
            mailbox,
            sink,
            runs: HashMap::new(),
            pending: HashMap::new(),
            deadlines: BinaryHeap::new(),
            unwatched: 0,
            buf: vec![0; READ_BUF],
            ended: Vec::new(),
        })
    }

    /// The supervisor thread: runs until the process exits.
    pub(super) fn run(mut self) {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            self.read_mail();
            let wait = self.fire_deadlines();
            if !self.ended.is_empty() {
                (self.sink)(std::mem::take(&mut self.ended));
            }
            self.mailbox.asleep.store(true, Ordering::SeqCst);
            // Pairs with the fence in `Mailbox::post`.
            fence(Ordering::SeqCst);
            if !self.mailbox.rx.is_empty() {
                self.mailbox.asleep.store(false, Ordering::SeqCst);
                continue;
            }
            let timeout = wait.map_or(EpollTimeout::NONE, |w| {
                // Rounded up: waking a millisecond early would only mean another turn.
                let ms = w.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
                EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
            });
            let n = match self.mailbox.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    warn!(error = %e, "epoll_wait failed; retrying");
                    std::thread::sleep(Duration::from_millis(10));
                    0
                }
            };
            self.mailbox.asleep.store(false, Ordering::SeqCst);
            for event in &events[..n] {
                self.handle(event.data());
            }
            if self.unwatched > 0 {
                self.check_unwatched();
            }
        }
    }

    fn read_mail(&mut self) {
        while let Ok(msg) = self.mailbox.rx.try_recv() {
            match msg {
                Msg::Submitted(key) => {
                    self.pending.insert(key, None);
                }
                Msg::Started(run) => self.watch(*run),
                Msg::NotStarted(key, report) => {
                    if let Some(Some(_)) = self.pending.remove(&key) {
                        self.mailbox.held_stops.fetch_sub(1, Ordering::SeqCst);
                    }
                    self.ended.push((key, report));
                }
                Msg::Stop(key, mode) => {
                    if let Some(pending) = self.pending.get_mut(&key) {
                        if pending.is_none() {
                            self.mailbox.held_stops.fetch_add(1, Ordering::SeqCst);
                        }
                        // A kill asked after a graceful stop wins.
                        if *pending != Some(StopMode::Kill) {
                            *pending = Some(mode);
                        }
                    } else if self.runs.contains_key(&key) {
                        self.stop(key, mode);
                    }
                }
            }
        }
    }

    fn watch(&mut self, run: Running) {
        let key = run.key;
        let stop = self.pending.remove(&key).flatten();
        if stop.is_some() {
            self.mailbox.held_stops.fetch_sub(1, Ordering::SeqCst);
        }
        if !run.watched {
            for (fd, stream) in run.descriptors() {
                // SAFETY: `run` owns the descriptor and lives through this call.
                let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                if let Err(e) = self
                    .mailbox
                    .epoll
                    .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, key << 2 | stream))
                {
                    warn!(task_id = %run.job.task.id, run_id = %run.job.run_id, error = %e, "cannot watch the run's descriptors");
                }
            }
        }
        if run.pidfd.is_none() {
            self.unwatched += 1;
        }
        if let Some(at) = run.timeout_at {
            self.deadlines.push(Reverse((at, key, Due::Timeout)));
        }
        self.runs.insert(key, run);
        if let Some(mode) = stop {
            self.stop(key, mode);
        }
    }

    fn stop(&mut self, key: u64, mode: StopMode) {
        let Some(run) = self.runs.get_mut(&key) else {
            return;
        };
        run.stopped = true;
        match mode {
            StopMode::Kill => {
                run.signal(Signal::SIGKILL);
                run.kill_at = None;
            }
            StopMode::Graceful if run.kill_at.is_none() => {
                run.signal(Signal::SIGTERM);
                let at = Instant::now() + run.job.task.kill_grace();
                run.kill_at = Some(at);
                self.deadlines.push(Reverse((at, key, Due::Kill)));
            }
            StopMode::Graceful => {}
        }
    }

    /// Acts on the deadlines that are due; returns how long until the next one.
    fn fire_deadlines(&mut self) -> Option<Duration> {
        let now = Instant::now();
        while let Some(&Reverse((at, key, due))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(run) = self.runs.get_mut(&key) else {
                continue;
            };
            match due {
                Due::Timeout if run.timeout_at == Some(at) => {
                    run.timeout_at = None;
                    run.timed_out = true;
                    warn!(task_id = %run.job.task.id, run_id = %run.job.run_id, "timeout: SIGTERM to the process group");
                    run.signal(Signal::SIGTERM);
                    if run.kill_at.is_none() {
                        let at = now + run.job.task.kill_grace();
                        run.kill_at = Some(at);
                        self.deadlines.push(Reverse((at, key, Due::Kill)));
                    }
                }
                Due::Kill if run.kill_at == Some(at) => {
                    run.kill_at = None;
                    warn!(task_id = %run.job.task.id, run_id = %run.job.run_id, "still running after the kill grace: SIGKILL to the process group");
                    run.signal(Signal::SIGKILL);
                }
                // Superseded: the run was stopped another way meanwhile.
                _ => {}
            }
        }
        let next = self
            .deadlines
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(now));
        if self.unwatched > 0 {
            Some(next.map_or(NO_PIDFD_POLL, |n| n.min(NO_PIDFD_POLL)))
        } else {
            next
        }
    }

    fn handle(&mut self, token: u64) {
        if token == WAKE {
            // Only empties the counter; the mail is read at the top of the loop.
            let _ = self.mailbox.wake.read();
            return;
        }
        let key = token >> 2;
        if !self.runs.contains_key(&key) {
            // A run a spawner added to the epoll: its message is in the mailbox.
            self.read_mail();
        }
        let Some(run) = self.runs.get_mut(&key) else {
            // Ended earlier in this batch of events.
            return;
        };
        match token & 3 {
            // The pipes block, but epoll said this one is readable, so one read
            // returns at once; more data brings another event.
            STDOUT => {
                if !run.read(STDOUT, &mut self.buf, 1) {
                    close(&self.mailbox.epoll, &mut run.stdout);
                }
            }
            STDERR => {
                if !run.read(STDERR, &mut self.buf, 1) {
                    close(&self.mailbox.epoll, &mut run.stderr);
                }
            }
            _ => self.end(key),
        }
    }

    fn check_unwatched(&mut self) {
        let ended: Vec<u64> = self
            .runs
            .values()
            .filter(|r| r.pidfd.is_none() && has_exited(r.child.id()))
            .map(|r| r.key)
            .collect();
        for key in ended {
            self.end(key);
        }
    }

    /// The leader has exited (it is a zombie, not reaped): finish the run.
    fn end(&mut self, key: u64) {
        let Some(mut run) = self.runs.remove(&key) else {
            return;
        };
        if run.pidfd.is_none() {
            self.unwatched -= 1;
        }
        // The leader's pid still names the group. A run that was timed out or stopped
        // loses its whole group, grandchildren included, before the leader is reaped.
        if run.timed_out || run.stopped {
            run.signal(Signal::SIGKILL);
        }
        let status = run.child.wait();
        // What the pipes hold now is logged; output a background grandchild writes
        // after the leader exited is not waited for (nor read past one turn's worth).
        for fd in [
            run.stdout.as_ref().map(|s| s.as_raw_fd()),
            run.stderr.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        {
            set_nonblocking(fd);
        }
        run.read(STDOUT, &mut self.buf, READS_PER_TURN);
        run.read(STDERR, &mut self.buf, READS_PER_TURN);
        close(&self.mailbox.epoll, &mut run.stdout);
        close(&self.mailbox.epoll, &mut run.stderr);
        close(&self.mailbox.epoll, &mut run.pidfd);
        run.flush_lines();
        let outcome = match status {
            _ if run.timed_out => Outcome::Timeout,
            Ok(status) => outcome_of(status),
            Err(e) => Outcome::SpawnError(format!(
                "cannot wait for the child: {}",
                crate::io_message(&e)
            )),
        };
        let duration = run.start.elapsed();
        let (task, job) = (&run.job.task, &run.job);
        let duration_ms = duration.as_millis() as u64;
        if outcome.is_success() {
            info!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, duration_ms, outcome = outcome.name(), "run ended: {outcome}");
        } else {
            warn!(task_id = %task.id, run_id = %job.run_id, attempt = job.attempt, duration_ms, outcome = outcome.name(), stopped = run.stopped, "run ended: {outcome}");
        }
        let report = Report {
            outcome,
            duration,
            stopped: run.stopped,
            output_tail: run.budget.tail(),
        };
        self.ended.push((key, report));
    }
}

/// Sleeps until `at` (an instant of the monotonic clock); returns at once when it has
/// passed.
fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// Stops watching a descriptor and closes it.
fn close<T: AsFd>(epoll: &Epoll, fd: &mut Option<T>) {
    if let Some(fd) = fd.take() {
        // Deleted explicitly, not left to the close: under load some child is always
        // between its spawn and its exec, holding a copy of every descriptor, and
        // epoll forgets a descriptor only when the last copy is closed. Left in, a
        // closed pipe at end of file would be reported again and again.
        let _ = epoll.delete(fd.as_fd());
    }
}

impl Running {
    /// The descriptors to watch, with their stream tokens; the pidfd last.
    fn descriptors(&self) -> impl Iterator<Item = (i32, u64)> {
        [
            (self.stdout.as_ref().map(|s| s.as_raw_fd()), STDOUT),
            (self.stderr.as_ref().map(|s| s.as_raw_fd()), STDERR),
            (self.pidfd.as_ref().map(|p| p.as_raw_fd()), PIDFD),
        ]
        .into_iter()
        .filter_map(|(fd, stream)| fd.map(|fd| (fd, stream)))
    }

    fn signal(&self, sig: Signal) {
        // ESRCH (the group is already gone) is the expected, harmless failure.
        let _ = killpg(self.pgid, sig);
    }

    /// Reads what one stream (STDOUT or STDERR) holds, at most `reads` times. False
    /// at end of file, or when the stream is closed already.
    fn read(&mut self, stream: u64, buf: &mut [u8], reads: usize) -> bool {
        let (pipe, lines, name): (Option<&mut dyn Read>, _, _) = if stream == STDOUT {
            (
                self.stdout.as_mut().map(|p| p as &mut dyn Read),
                &mut self.out_lines,
                "stdout",
            )
        } else {
            (
                self.stderr.as_mut().map(|p| p as &mut dyn Read),
                &mut self.err_lines,
                "stderr",
            )
        };
        let Some(pipe) = pipe else {
            return false;
        };
        read_available(pipe, buf, lines, &mut self.budget, &self.job, name, reads)
    }

    /// Logs the last lines that ended without a newline.
    fn flush_lines(&mut self) {
        let (budget, job) = (&mut self.budget, &self.job);
        self.out_lines
            .finish(|l| log_line(budget, job, "stdout", l));
        self.err_lines
            .finish(|l| log_line(budget, job, "stderr", l));
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

/// A pidfd for the child: readable once it has exited, so the child's end is one more
/// event in the supervisor's epoll, without SIGCHLD.
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

/// Reads until the pipe would block, or `reads` times: a child that writes without
/// pause must not keep the supervisor from the other runs (the pipe stays readable, so
/// the next turn goes on). False at end of file.
fn read_available(
    src: &mut dyn Read,
    buf: &mut [u8],
    lines: &mut LineBuffer,
    budget: &mut Budget,
    job: &Job,
    stream: &str,
    reads: usize,
) -> bool {
    for _ in 0..reads {
        match src.read(buf) {
            Ok(0) => return false,
            Ok(n) => lines.push(&buf[..n], |l| log_line(budget, job, stream, l)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
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
    // SAFETY: `fd` is a pipe end owned by the run, which outlives this call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    // A fresh pipe's read end has no other status flag to keep (F_SETFL ignores the
    // access mode), so there is nothing to read first.
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
}
