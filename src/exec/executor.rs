//! The executor: a few spawner threads that start runs, and one supervisor thread that
//! watches every run in flight.
//!
//! Spawning is the part that takes a thread: `posix_spawn` blocks its caller until the
//! child has exec'd. Everything after that — output, exit, deadlines, stop requests —
//! is readiness on file descriptors, which one `epoll` loop serves for all runs at
//! once. So the number of threads is fixed (spawners plus one), however many runs are
//! in flight, and a run costs no thread of its own while it runs.
//!
//! Messages reach the supervisor over one channel. A poster wakes it through an
//! eventfd only when it is asleep in `epoll_wait`; a busy supervisor picks messages up
//! on its next turn without a system call on either side.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use nix::sys::epoll::{Epoll, EpollCreateFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tracing::error;

use crate::exec::supervise::{self, Running, Sink};
use crate::exec::{Job, Report, StopMode};

/// What the supervisor is told.
pub(super) enum Msg {
    /// A run was handed to the spawners; it is not started yet. Stop requests for it
    /// are held until it is.
    Submitted(u64),
    /// A spawner started the run; the supervisor watches it from now on.
    Started(Box<Running>),
    /// A spawner could not start the run.
    NotStarted(u64, Report),
    /// Stop a run (or, when it is not started yet, stop it as soon as it is).
    Stop(u64, StopMode),
}

/// The supervisor's inbox, and its epoll, which spawners add runs to.
pub(super) struct Mailbox {
    pub(super) epoll: Epoll,
    tx: Sender<Msg>,
    pub(super) rx: Receiver<Msg>,
    pub(super) wake: EventFd,
    /// True while the supervisor sleeps (or is about to) in `epoll_wait`.
    pub(super) asleep: AtomicBool,
}

impl Mailbox {
    /// Queues a message and wakes the supervisor if it sleeps.
    pub(super) fn post(&self, msg: Msg) {
        // The receiver lives as long as the mailbox.
        let _ = self.tx.send(msg);
        // Pairs with the fence in the supervisor between setting `asleep` and its last
        // look at the channel: either it sees this message or this sees it asleep.
        fence(Ordering::SeqCst);
        if self.asleep.swap(false, Ordering::SeqCst) {
            let _ = self.wake.write(1);
        }
    }

    /// Queues a message the supervisor needs only when something else wakes it: an
    /// event of a run the message is about, or a later message.
    pub(super) fn post_quietly(&self, msg: Msg) {
        let _ = self.tx.send(msg);
    }
}

/// Runs jobs: hands each to a spawner thread, then to the supervisor, and reports each
/// run's end to the sink given at creation.
pub struct Executor {
    jobs: Sender<(u64, Job)>,
    mailbox: Arc<Mailbox>,
}

impl Executor {
    /// Starts the spawner threads and the supervisor. `sink` is called on the
    /// supervisor thread with the keys and reports of the runs that ended, a batch at a
    /// time.
    pub fn start(sink: Sink) -> std::io::Result<Executor> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        let mailbox = Arc::new(Mailbox {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            tx,
            rx,
            wake,
            asleep: AtomicBool::new(false),
        });
        let supervisor = supervise::Supervisor::new(mailbox.clone(), sink)?;
        thread::Builder::new()
            .name("supervisor".into())
            .stack_size(256 * 1024)
            .spawn(move || supervisor.run())?;

        let (jobs, queue) = crossbeam_channel::unbounded::<(u64, Job)>();
        for i in 0..spawner_count() {
            let queue = queue.clone();
            let mailbox = mailbox.clone();
            let started = thread::Builder::new()
                .name(format!("spawner-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || spawner(&queue, &mailbox));
            if let Err(e) = started {
                // One spawner is enough to run everything, only more slowly.
                if i == 0 {
                    return Err(e);
                }
                error!(error = %e, "cannot start another spawner thread; going on with {i}");
                break;
            }
        }
        Ok(Executor { jobs, mailbox })
    }

    /// Starts a run. `key` names it in stop requests and in the report; keys of runs
    /// in flight must differ and be below 2^62.
    pub fn submit(&self, key: u64, job: Job) {
        self.mailbox.post_quietly(Msg::Submitted(key));
        // The spawners hold the receiving side for as long as the executor lives.
        let _ = self.jobs.send((key, job));
    }

    /// Asks for a run to be stopped: gracefully (SIGTERM, SIGKILL after its grace) or
    /// at once. Harmless when it has already ended.
    pub fn stop(&self, key: u64, mode: StopMode) {
        self.mailbox.post(Msg::Stop(key, mode));
    }
}

/// Spawners: as many as the machine has cores, at least two (one spawn may be slow,
/// a user switch forks), at most four.
fn spawner_count() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

fn spawner(queue: &Receiver<(u64, Job)>, mailbox: &Mailbox) {
    while let Ok((key, job)) = queue.recv() {
        match supervise::start(key, job) {
            Ok(run) => supervise::hand_over(run, mailbox),
            Err(report) => mailbox.post(Msg::NotStarted(key, report)),
        }
    }
}
