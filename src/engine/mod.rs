//! The daemon's main loop: one thread that owns the clock, the [`core::Core`] (registry
//! and timer wheel) and the receiving end of the one event channel.
//!
//! Each turn reads both clocks once, lets the core handle what is due, carries out its
//! actions (hand a run to a worker, ask a worker to stop its run), then blocks on the
//! channel until the next deadline — or forever when nothing is planned. Workers, the
//! signal thread and the wall-clock watcher only send events; nothing here polls.

pub mod core;
pub mod event;
mod pool;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::clock;
use crate::commands::Fatal;
use crate::config::Config;
use crate::engine::core::{Action, Core, Now, RunId};
use crate::engine::event::{Event, Sig};
use crate::engine::pool::Pool;
use crate::exec::{request_stop, Job, StopMode};

/// How the daemon was asked to run.
pub struct Options<'a> {
    pub config_path: &'a Path,
    pub strict: bool,
}

/// Reads both clocks against the engine's origin.
struct Clock {
    origin: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        let mono = clock::mono_now()
            .saturating_duration_since(self.origin)
            .as_micros() as u64;
        Now {
            mono,
            wall: clock::wall_now(),
        }
    }

    /// How long to wait from `now` until `tick`.
    fn until(&self, now: Now, tick: u64) -> Duration {
        Duration::from_micros(tick.saturating_sub(now.mono))
    }
}

/// Where shutdown stands.
enum Shutdown {
    Running,
    /// Stopped firing; waiting for runs to end until the grace deadline.
    Draining {
        until: Instant,
    },
    /// Runs were asked to stop; waiting for them to end.
    Terminating,
}

/// Runs the daemon until SIGTERM or SIGINT, then shuts down cleanly.
pub fn run(opts: &Options) -> Result<(), Fatal> {
    let loaded = crate::commands::load(opts.config_path)?;
    for e in &loaded.errors {
        error!("{e}");
    }
    if opts.strict && !loaded.errors.is_empty() {
        return Err(Fatal::new(
            1,
            format!(
                "{}: {} invalid task entries (--strict)",
                opts.config_path.display(),
                loaded.errors.len()
            ),
        ));
    }
    let config = loaded.config;

    let (tx, rx) = mpsc::channel::<Event>();
    crate::signals::forward(tx.clone())
        .map_err(|e| Fatal::new(2, format!("cannot install signal handlers: {e}")))?;
    if let Err(e) = crate::wallclock::watch(tx.clone()) {
        warn!(error = %e, "cannot watch for wall-clock changes; cron tasks will not re-plan after a clock step");
    }

    let clock = Clock {
        origin: clock::mono_now(),
    };
    let start = clock.now();
    let seed = start.wall.as_nanosecond() as u64 ^ u64::from(std::process::id());
    let mut core = Core::new(&config, start, true, seed);
    let mut daemon = Daemon {
        pool: Pool::new(tx.clone()),
        controls: HashMap::new(),
        boot_id: start.wall.as_second(),
        shell: Arc::from(config.shell.as_str()),
        python: Arc::from(config.python.as_str()),
    };
    drop(tx);
    info!(
        tasks = core.task_count(),
        enabled = config.tasks.iter().filter(|t| t.enabled).count(),
        file = %opts.config_path.display(),
        "cronwheel started"
    );

    let grace = config.shutdown_grace;
    let mut shutdown = Shutdown::Running;
    loop {
        let now = clock.now();
        let actions = core.advance(now);
        daemon.carry_out(actions, &core);

        if !matches!(shutdown, Shutdown::Running) && core.running() == 0 {
            info!("all runs ended; exiting");
            return Ok(());
        }
        let deadline = match shutdown {
            Shutdown::Draining { until } => Some(until.saturating_duration_since(Instant::now())),
            _ => core.next_deadline().map(|t| clock.until(now, t)),
        };
        let event = match deadline {
            Some(d) => match rx.recv_timeout(d) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            },
            None => match rx.recv() {
                Ok(ev) => Some(ev),
                Err(_) => return Ok(()),
            },
        };
        if let Shutdown::Draining { until } = shutdown {
            if Instant::now() >= until {
                warn!(
                    running = core.running(),
                    "shutdown grace over: stopping the runs still going"
                );
                daemon.carry_out(core.stop_all(false), &core);
                shutdown = Shutdown::Terminating;
            }
        }
        let Some(event) = event else { continue };
        match event {
            Event::Started { run, pid } => {
                tracing::debug!(run_id = run, pid, "run started");
            }
            Event::Finished { run, report } => {
                daemon.controls.remove(&run);
                let now = clock.now();
                let actions = core.finished(run, report.outcome.is_success(), now);
                daemon.carry_out(actions, &core);
            }
            Event::ClockChanged => {
                info!("the wall clock was set; re-planning cron tasks");
                core.clock_changed(clock.now());
            }
            Event::Signal(Sig::Hangup) => {
                warn!("SIGHUP received; this build reloads the task file only on restart");
            }
            Event::Signal(sig @ (Sig::Terminate | Sig::Interrupt)) => match shutdown {
                Shutdown::Running => {
                    core.stop_firing();
                    info!(signal = ?sig, running = core.running(), grace_s = grace.as_secs(), "shutting down: no new runs; waiting for the running ones");
                    shutdown = Shutdown::Draining {
                        until: Instant::now() + grace,
                    };
                }
                Shutdown::Draining { .. } => {
                    info!(
                        running = core.running(),
                        "second signal: stopping the running runs now"
                    );
                    daemon.carry_out(core.stop_all(false), &core);
                    shutdown = Shutdown::Terminating;
                }
                Shutdown::Terminating => {
                    info!(
                        running = core.running(),
                        "third signal: killing the running runs"
                    );
                    daemon.carry_out(core.stop_all(true), &core);
                }
            },
        }
    }
}

/// The main loop's hands: the worker pool and the control pipes of runs in flight.
struct Daemon {
    pool: Pool,
    controls: HashMap<RunId, OwnedFd>,
    boot_id: i64,
    shell: Arc<str>,
    python: Arc<str>,
}

impl Daemon {
    fn carry_out(&mut self, actions: Vec<Action>, core: &Core) {
        for action in actions {
            match action {
                Action::Start(start) => {
                    let (read, write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
                        Ok(p) => p,
                        Err(e) => {
                            error!(task_id = %start.task.id, error = %e, "cannot create a control pipe; run not started");
                            continue;
                        }
                    };
                    self.controls.insert(start.run, write);
                    let job = Job {
                        run_id: format!("{}-{}", self.boot_id, start.run),
                        task: start.task,
                        attempt: start.attempt,
                        shell: self.shell.clone(),
                        python: self.python.clone(),
                        control: read,
                    };
                    self.pool.submit(start.run, job, core.running());
                }
                Action::Stop { run, kill_now } => {
                    if let Some(ctl) = self.controls.get(&run) {
                        let mode = if kill_now {
                            StopMode::Kill
                        } else {
                            StopMode::Graceful
                        };
                        request_stop(ctl, mode);
                    }
                }
            }
        }
    }
}

/// Runs one task now, in the foreground, through the same executor; returns the
/// exit code of `cronwheel exec`.
pub fn exec_once(config: &Config, task_id: &str) -> Result<u8, Fatal> {
    let Some(task) = config.tasks.iter().find(|t| t.id == task_id) else {
        return Err(Fatal::new(
            2,
            format!("no valid task with task_id {task_id:?}"),
        ));
    };
    let (read, _write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Fatal::new(2, format!("cannot create a pipe: {e}")))?;
    let job = Job {
        run_id: format!("exec-{}", std::process::id()),
        task: Arc::new(task.clone()),
        attempt: 1,
        shell: Arc::from(config.shell.as_str()),
        python: Arc::from(config.python.as_str()),
        control: read,
    };
    let report = crate::exec::execute(&job, &mut |_| {});
    Ok(report.outcome.exit_code())
}
#[cfg(test)]
mod tests;
