//! Running tasks: spawning each run in its own process group, streaming its output into
//! the log, enforcing its timeout, stopping it on request, and reaping it.
//!
//! `spawn` builds the command; `executor` owns the threads (a few spawners, one
//! supervisor); `supervise` starts a run and is the one loop that watches every run's
//! pipes, pidfd and deadlines.

mod executor;
mod output;
mod spawn;
mod supervise;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Task;

pub use executor::Executor;
pub use spawn::Identity;
pub use supervise::{Sink, StopMode};

/// Blocks SIGCHLD in the calling thread and in every thread it starts afterwards.
///
/// Runs end through their pidfds, not SIGCHLD, but the kernel still sends SIGCHLD at
/// each exit. Its default action is to ignore it — yet while the spawning thread has
/// every signal blocked (as `posix_spawn` does for a moment), the signal is queued for
/// the process instead, and the kernel wakes some thread that does not block it, only
/// for that thread to drop it: hundreds of needless wake-ups a second under load.
/// Blocked everywhere, one SIGCHLD stays pending and wakes nobody. Children start with
/// an empty mask (std's spawn resets it), so they are unaffected.
pub fn block_sigchld() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    // Fails only for an invalid `how`, which this is not.
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

/// Everything a worker needs to run one task once.
pub struct Job {
    pub run_id: String,
    pub task: Arc<Task>,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    pub shell: Arc<str>,
    pub python: Arc<str>,
    /// Not to be started before this instant: a run handed over ahead of its time is
    /// prepared at once and started when it is due.
    pub not_before: Option<Instant>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Success,
    /// A non-zero exit status.
    Failed(i32),
    /// Ended by a signal it did not ask for (not our timeout).
    Killed(i32),
    /// Stopped because it ran past `timeout_seconds`.
    Timeout,
    /// Could not be started; the message says why.
    SpawnError(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// The short name used in logs and history.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed(_) => "failed",
            Outcome::Killed(_) => "killed",
            Outcome::Timeout => "timeout",
            Outcome::SpawnError(_) => "spawn_error",
        }
    }

    /// The exit code `cronwheel exec` returns for this outcome: the task's own, 124 on
    /// timeout (as timeout(1)), 128 + signal when killed, 127 when it could not start.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failed(c) => (*c & 0xff) as u8,
            Outcome::Killed(s) => (128 + *s).clamp(0, 255) as u8,
            Outcome::Timeout => 124,
            Outcome::SpawnError(_) => 127,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success => f.write_str("success (exit 0)"),
            Outcome::Failed(c) => write!(f, "failed (exit {c})"),
            Outcome::Killed(s) => write!(f, "killed (signal {})", signal_name(*s)),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::SpawnError(m) => write!(f, "spawn_error ({m})"),
        }
    }
}

fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map_or_else(|_| sig.to_string(), |s| s.as_str().to_owned())
}

/// The end of a run.
#[derive(Clone, Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub duration: Duration,
    /// True when the run was stopped on request (replace, shutdown), not by itself.
    pub stopped: bool,
    /// The last bytes of its output, stdout and stderr interleaved as read.
    pub output_tail: String,
}
