//! The worker threads that run tasks. The pool grows on demand up to the number of
//! runs in flight, which the core keeps at or below `max_concurrent`; idle workers
//! block on the job channel and cost no wake-ups.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

use tracing::error;

use crate::engine::core::RunId;
use crate::engine::event::Event;
use crate::exec::{self, Job, Progress};

pub struct Pool {
    jobs: Sender<(RunId, Job)>,
    queue: Arc<Mutex<Receiver<(RunId, Job)>>>,
    events: Sender<Event>,
    threads: usize,
}

impl Pool {
    pub fn new(events: Sender<Event>) -> Pool {
        let (jobs, queue) = mpsc::channel();
        Pool {
            jobs,
            queue: Arc::new(Mutex::new(queue)),
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

fn worker(queue: &Mutex<Receiver<(RunId, Job)>>, events: &Sender<Event>) {
    loop {
        let next = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok((run, job)) = next else { return };
        let report = exec::execute(&job, &mut |p| {
            if let Progress::Started { pid } = p {
                let _ = events.send(Event::Started { run, pid });
            }
        });
        if events.send(Event::Finished { run, report }).is_err() {
            return;
        }
    }
}
