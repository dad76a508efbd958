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

use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

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
    /// Stop requests the supervisor holds for runs not started yet. While there are
    /// any, a spawner wakes the supervisor for every run it starts, so a held stop is
    /// carried out at the start, not at the run's first event.
    pub(super) held_stops: AtomicUsize,
}

impl Mailbox {
    /// Queues a message and wakes the supervisor if it sleeps.
    pub(super) fn post(&self, msg: Msg) {
        // The receiver lives as long as the mailbox.
        let _ = self.tx.send(msg);
        self.wake();
    }

    /// Wakes the supervisor if it sleeps, so it reads the messages queued so far.
    pub(super) fn wake(&self) {
        // Pairs with the fence in the supervisor between setting `asleep` and its last
        // look at the channel: either it sees the messages or this sees it asleep.
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
            held_stops: AtomicUsize::new(0),
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
    // A spawner sleeps until a run is due (`Job::not_before`); with the kernel's
    // default slack of 50 µs its wake-up could be put off by that much.
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects this thread only.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    // Runs started and not yet handed to the supervisor. While more runs are queued
    // (a burst of firings), a spawner starts them first and hands the started ones
    // over when the queue is empty: the supervisor's and the main loop's work for the
    // runs' ends then follows the burst instead of taking the CPU from its spawns.
    // Meanwhile a held run's output waits in its pipe and its exit in its pidfd.
    let mut held: Vec<Running> = Vec::new();
    let hand_over_held = |held: &mut Vec<Running>| {
        for run in held.drain(..) {
            supervise::hand_over(run, mailbox);
        }
    };
    loop {
        let (key, job) = if held.is_empty() {
            match queue.recv() {
                Ok(next) => next,
                Err(_) => return,
            }
        } else {
            match queue.try_recv() {
                Ok(next) => next,
                Err(_) => {
                    hand_over_held(&mut held);
                    continue;
                }
            }
        };
        // A run to wait for: what was started goes to the supervisor first.
        if job.not_before.is_some_and(|at| at > Instant::now()) {
            hand_over_held(&mut held);
        }
        match supervise::start(key, job) {
            Ok(run) => {
                held.push(run);
                if held.len() >= MAX_HELD {
                    hand_over_held(&mut held);
                }
            }
            Err(report) => mailbox.post(Msg::NotStarted(key, report)),
        }
    }
}

/// At most this many started runs wait for a spawner to hand them over.
const MAX_HELD: usize = 32;

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::Executor;
    use crate::exec::{Job, Outcome, Report, StopMode};

    fn job(command: &str, not_before: Instant) -> Job {
        let yaml =
            format!("tasks:\n- {{task_id: t, interval_seconds: 60, entry_point: {command:?}}}\n");
        let mut config = crate::config::from_test_yaml(&yaml);
        Job {
            run_id: "t-1".into(),
            task: config.tasks.remove(0),
            attempt: 1,
            shell: Arc::from("/bin/sh"),
            python: Arc::from("python3"),
            not_before: Some(not_before),
        }
    }

    fn executor() -> (Executor, mpsc::Receiver<Report>) {
        let (tx, rx) = mpsc::channel();
        let executor = Executor::start(Box::new(move |runs| {
            for (_, report) in runs {
                let _ = tx.send(report);
            }
        }))
        .expect("threads start");
        (executor, rx)
    }

    /// A run handed over ahead of its instant starts at that instant, not before: the
    /// child reads the wall clock, which moves with the monotonic one.
    #[test]
    fn a_run_handed_over_early_does_not_start_before_its_instant() {
        let (executor, rx) = executor();
        let wall = SystemTime::now();
        let at = Instant::now() + Duration::from_millis(300);
        let earliest =
            wall.duration_since(UNIX_EPOCH).expect("after 1970") + Duration::from_millis(300);
        executor.submit(1, job("date +%s%N", at));
        let report = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the run ends");
        assert_eq!(report.outcome, Outcome::Success, "{report:?}");
        let started: u128 = report
            .output_tail
            .trim()
            .parse()
            .expect("date printed nanoseconds");
        assert!(
            started >= earliest.as_nanos(),
            "started {} ms before its instant",
            (earliest.as_nanos() - started) / 1_000_000
        );
    }

    /// A stop asked for while the run waits for its instant is carried out when it
    /// starts.
    #[test]
    fn a_stop_before_the_instant_stops_the_run_when_it_starts() {
        let (executor, rx) = executor();
        executor.submit(
            1,
            job("sleep 30", Instant::now() + Duration::from_millis(200)),
        );
        executor.stop(1, StopMode::Kill);
        let report = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the run ends, stopped");
        assert!(report.stopped, "{report:?}");
        assert_eq!(report.outcome, Outcome::Killed(9), "{report:?}");
    }
}
