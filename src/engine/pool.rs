//! The worker threads that run tasks. The pool grows on demand up to the number of
//! runs in flight, which the core keeps at or below `max_concurrent`; idle workers
//! block on the job channel and cost no wake-ups.

use std::sync::mpsc::Sender;
use std::thread;

use crossbeam_channel::Receiver;

use tracing::error;

use crate::engine::core::RunId;
use crate::engine::event::Event;
use crate::exec::{self, Job};

pub struct Pool {
    jobs: crossbeam_channel::Sender<(RunId, Job)>,
    /// Every worker receives from this multi-consumer channel directly: a burst of
    /// due runs reaches idle workers in parallel, not one lock hand-off at a time.
    queue: Receiver<(RunId, Job)>,
    events: Sender<Event>,
    threads: usize,
}

impl Pool {
    pub fn new(events: Sender<Event>) -> Pool {
        let (jobs, queue) = crossbeam_channel::unbounded();
        Pool {
            jobs,
            queue,
            events,
            threads: 0,
        }
    }

    /// Hands a job to a worker; `in_flight` is the number of runs that will then be
    /// running, so there is a worker for each.
    pub fn submit(&mut self, run: RunId, job: Job, in_flight: usize) {
        while self.threads < in_flight {
            let queue = self.queue.clone();
            let events = self.events.clone();
            let spawned = thread::Builder::new()
                .name(format!("worker-{}", self.threads))
                .stack_size(256 * 1024)
                .spawn(move || worker(&queue, &events));
            match spawned {
                Ok(_) => self.threads += 1,
                Err(e) => {
                    error!(error = %e, "cannot start a worker thread; runs wait for a free one");
                    break;
                }
            }
        }
        // The receiving side lives as long as the pool's own `queue` handle.
        let _ = self.jobs.send((run, job));
    }
}

fn worker(queue: &Receiver<(RunId, Job)>, events: &Sender<Event>) {
    loop {
        let Ok((run, job)) = queue.recv() else { return };
        // The worker logs the start itself; the main loop only hears of the end.
        let report = exec::execute(&job);
        if events.send(Event::Finished { run, report }).is_err() {
            return;
        }
    }
}
