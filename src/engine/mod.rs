//! The daemon's main loop: one thread that owns the clock, the [`core::Core`] (registry
//! and timer wheel) and the receiving end of the one event channel.
//!
//! Each turn reads both clocks once, lets the core handle what is due, carries out its
//! actions (hand a run to the executor, ask it to stop a run), then blocks on the
//! channel until the next deadline — or forever when nothing is planned. The executor,
//! the signal thread and the watchers only send events; nothing here polls.

pub mod core;
pub mod event;
mod registry;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::clock;
use crate::commands::Fatal;
use crate::config::Config;
use crate::engine::core::{Action, Core, Now, RunId, Tick};
use crate::engine::event::{Event, Sig};
use crate::exec::{Executor, Job, Outcome, Report, StopMode};
use crate::reload::diff::diff;
use crate::sdnotify;
use crate::state::{Record, RunRecord};

/// How the daemon was asked to run.
pub struct Options<'a> {
    pub config_path: &'a Path,
    pub strict: bool,
    /// Watch the task file for changes (SIGHUP reloads either way).
    pub watch: bool,
    /// Where run history and task state are kept; None: keep nothing.
    pub state_dir: Option<PathBuf>,
}

/// Reads both clocks against the engine's origin.
#[derive(Clone, Copy)]
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

    /// The instant of a tick.
    fn instant(&self, tick: u64) -> Instant {
        self.origin + Duration::from_micros(tick)
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

/// How long before a run is due (2 ms, in ticks) the main loop hands it to the
/// executor, whose spawner then sleeps until the instant itself. The run's start then
/// costs one thread's wake-up at its instant, as a program that sleeps and spawns would,
/// instead of two (this loop's, then a spawner's). Longer than a wake-up and a hand-over take on a
/// loaded machine; short enough that deciding a firing this early changes nothing an
/// operator could see.
const LEAD: Tick = 2_000;

/// A burst of file events within this long is one reload.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// What asked for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    Signal,
    File,
}

/// Runs the daemon until SIGTERM or SIGINT, then shuts down cleanly.
pub fn run(opts: &Options) -> Result<(), Fatal> {
    // Before any thread starts, so that every thread inherits the mask.
    crate::exec::block_sigchld();
    // The database is opened while the task file is read.
    let opening = opts.state_dir.as_deref().map(crate::state::Opening::start);
    let loaded = crate::commands::load_checked(opts.config_path)?;
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
    // The reader's buffers are free now; giving their pages back before the registry
    // and the wheel are built keeps the start-up's peak near the daemon's resting size.
    release_free_memory();
    let mut config = loaded.config;
    let mut content_hash = loaded.content_hash;

    let (tx, rx) = mpsc::channel::<Event>();
    crate::signals::forward(tx.clone()).map_err(|e| {
        Fatal::new(
            2,
            format!("cannot install signal handlers: {}", crate::io_message(&e)),
        )
    })?;
    if let Err(e) = crate::wallclock::watch(tx.clone()) {
        warn!(error = %e, "cannot watch for wall-clock changes; cron tasks will not re-plan after a clock step");
    }
    let _watch = if opts.watch {
        match crate::reload::watch::start(opts.config_path, tx.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(error = %e, "file watching is off; SIGHUP still reloads");
                None
            }
        }
    } else {
        None
    };

    let (store, last_fired) = match (opening, &opts.state_dir) {
        (Some(opening), Some(dir)) => {
            let opened = opening
                .finish(config.history_limit)
                .map_err(|e| Fatal::new(2, e))?;
            info!(dir = %dir.display(), tasks_remembered = opened.last_fired.len(), "run history and task state are kept");
            (Some(opened.store), opened.last_fired)
        }
        _ => (None, HashMap::new()),
    };

    let clock = Clock {
        origin: clock::mono_now(),
    };
    let start = clock.now();
    let seed = start.wall.as_nanosecond() as u64 ^ u64::from(std::process::id());
    let enabled = config.tasks.iter().filter(|t| t.enabled).count();
    // The core takes the tasks; what stays in `config` are the global settings.
    let mut core = Core::new(&mut config, start, true, seed, &last_fired);
    let invalid = loaded.errors.len();
    drop(loaded.errors);
    drop(last_fired);
    release_free_memory();
    let finished = tx.clone();
    let executor = Executor::start(Box::new(move |runs| {
        // The main loop outlives the executor's use of this sender.
        let _ = finished.send(Event::Finished(runs));
    }))
    .map_err(executor_error)?;
    let mut daemon = Daemon {
        executor,
        store,
        shell: Arc::from(config.shell.as_str()),
        python: Arc::from(config.python.as_str()),
        clock,
    };
    drop(tx);
    info!(
        tasks = core.task_count(),
        enabled,
        invalid,
        file = %opts.config_path.display(),
        "cronwheel started"
    );
    sdnotify::ready(&status(&core, start));
    let watchdog = sdnotify::watchdog_interval();
    let mut watchdog_at = watchdog.map(|w| Instant::now() + w);

    let mut grace = config.shutdown_grace;
    let mut shutdown = Shutdown::Running;
    let mut reload_at: Option<Instant> = None;
    loop {
        let now = clock.now();
        let actions = core.advance_until(now, now.mono + LEAD);
        daemon.carry_out(actions, &core);
        core.replan(now);

        if !matches!(shutdown, Shutdown::Running) && core.running() == 0 {
            info!("all runs ended; exiting");
            return Ok(());
        }
        // The earliest of: the next timer, the end of the shutdown grace, a debounced
        // reload, the watchdog ping. None of them: sleep until an event.
        let wake = [
            match shutdown {
                Shutdown::Draining { until } => Some(until),
                _ => core
                    .next_deadline()
                    .map(|t| clock.instant(t.saturating_sub(LEAD))),
            },
            reload_at,
            watchdog_at,
        ]
        .into_iter()
        .flatten()
        .min();
        let event = match wake {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(ev) => Some(ev),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            },
            None => match rx.recv() {
                Ok(ev) => Some(ev),
                Err(_) => return Ok(()),
            },
        };
        let instant = Instant::now();
        if let Shutdown::Draining { until } = shutdown {
            if instant >= until {
                warn!(
                    running = core.running(),
                    "shutdown grace over: stopping the runs still going"
                );
                daemon.carry_out(core.stop_all(false), &core);
                shutdown = Shutdown::Terminating;
            }
        }
        if let (Some(at), Some(every)) = (watchdog_at, watchdog) {
            if instant >= at {
                sdnotify::watchdog(&status(&core, clock.now()));
                watchdog_at = Some(instant + every);
            }
        }
        if reload_at.is_some_and(|at| instant >= at) {
            reload_at = None;
            if matches!(shutdown, Shutdown::Running) {
                reload(
                    opts.config_path,
                    Trigger::File,
                    &mut core,
                    &mut daemon,
                    &mut content_hash,
                    &mut grace,
                    &clock,
                );
            }
        }
        let Some(event) = event else { continue };
        match event {
            Event::Finished(runs) => {
                let now = clock.now();
                for (run, mut report) in runs {
                    daemon.record_end(&core, run, &mut report, now.wall);
                    let actions = core.finished(run, report.outcome.is_success(), now);
                    daemon.carry_out(actions, &core);
                }
            }
            Event::ClockChanged => {
                info!("the wall clock was set; re-planning cron tasks");
                core.clock_changed(clock.now());
            }
            Event::FileChanged => {
                reload_at = Some(Instant::now() + DEBOUNCE);
            }
            Event::Signal(Sig::Hangup) => {
                info!(signal = "SIGHUP", "reloading the task file");
                if matches!(shutdown, Shutdown::Running) {
                    reload(
                        opts.config_path,
                        Trigger::Signal,
                        &mut core,
                        &mut daemon,
                        &mut content_hash,
                        &mut grace,
                        &clock,
                    );
                }
            }
            Event::Signal(sig @ (Sig::Terminate | Sig::Interrupt)) => {
                let signal = if sig == Sig::Terminate {
                    "SIGTERM"
                } else {
                    "SIGINT"
                };
                match shutdown {
                    Shutdown::Running => {
                        sdnotify::stopping();
                        core.stop_firing();
                        info!(
                            signal,
                            running = core.running(),
                            grace_s = grace.as_secs(),
                            "shutting down: no new runs; waiting for the running ones"
                        );
                        shutdown = Shutdown::Draining {
                            until: Instant::now() + grace,
                        };
                    }
                    Shutdown::Draining { .. } => {
                        info!(
                            signal,
                            running = core.running(),
                            "second signal: stopping the running runs now"
                        );
                        daemon.carry_out(core.stop_all(false), &core);
                        shutdown = Shutdown::Terminating;
                    }
                    Shutdown::Terminating => {
                        info!(
                            signal,
                            running = core.running(),
                            "third signal: killing the running runs"
                        );
                        daemon.carry_out(core.stop_all(true), &core);
                    }
                }
            }
        }
    }
}

/// Returns the memory freed after loading (the YAML parser's event buffers) to the
/// system, so a long-running daemon's resident size reflects its tasks, not the peak of
/// reading the file.
fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it takes no pointers
    // from us and is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The STATUS= line: tasks, runs in flight, next firing.
fn status(core: &Core, now: Now) -> String {
    let next = core.next_deadline().map_or_else(
        || "none".to_owned(),
        |t| {
            now.wall_at(t)
                .round(jiff::Unit::Second)
                .map_or_else(|_| "?".to_owned(), |w| w.to_string())
        },
    );
    format!(
        "{} tasks, {} running, next firing {next}",
        core.task_count(),
        core.running()
    )
}

/// Reads the task file again and applies what changed. A file that fails as a whole
/// changes nothing; an entry that became invalid keeps its previous definition.
fn reload(
    path: &Path,
    trigger: Trigger,
    core: &mut Core,
    daemon: &mut Daemon,
    content_hash: &mut u64,
    grace: &mut Duration,
    clock: &Clock,
) {
    let loaded = match crate::commands::load_checked(path) {
        Ok(l) => l,
        Err(e) if !path.exists() => {
            warn!(error = %e, "the task file is gone; the current tasks keep running until it comes back");
            return;
        }
        Err(e) => {
            error!(error = %e, "reload failed; the current tasks keep running unchanged");
            return;
        }
    };
    if trigger == Trigger::File && loaded.content_hash == *content_hash {
        tracing::debug!("task file touched but unchanged; nothing to reload");
        return;
    }
    sdnotify::reloading();
    for e in &loaded.errors {
        error!("{e}");
    }
    let invalid: HashSet<String> = loaded
        .errors
        .iter()
        .filter_map(|e| e.task_id.clone())
        .collect();
    let plan = diff(core.tasks(), &loaded.config.tasks, &invalid);
    let now = clock.now();
    core.apply(&plan, loaded.config.max_concurrent, now);
    daemon.shell = Arc::from(loaded.config.shell.as_str());
    daemon.python = Arc::from(loaded.config.python.as_str());
    *grace = loaded.config.shutdown_grace;
    *content_hash = loaded.content_hash;
    info!(
        added = plan.added.len(),
        removed = plan.removed.len(),
        changed = plan.replanned.len() + plan.updated.len(),
        unchanged = plan.unchanged,
        kept = plan.kept.len(),
        "{}",
        plan.summary()
    );
    drop(loaded);
    release_free_memory();
    sdnotify::ready(&status(core, now));
}

/// The main loop's hands: the executor and the state store.
struct Daemon {
    executor: Executor,
    store: Option<crate::state::Store>,
    shell: Arc<str>,
    python: Arc<str>,
    /// Places the runs' due ticks in time.
    clock: Clock,
}

impl Daemon {
    fn carry_out(&mut self, actions: Vec<Action>, core: &Core) {
        for action in actions {
            match action {
                Action::Start(start) => {
                    if let (Some(store), Some(run)) = (&self.store, core.run(start.run)) {
                        store.record(Record::Fired {
                            task_id: run.task.clone(),
                            scheduled: start.scheduled,
                        });
                    }
                    let job = Job {
                        run_id: core.run_name(start.run),
                        task: start.task,
                        attempt: start.attempt,
                        shell: self.shell.clone(),
                        python: self.python.clone(),
                        not_before: Some(self.clock.instant(start.due)),
                    };
                    self.executor.submit(start.run, job);
                }
                Action::Stop { run, kill_now } => {
                    let mode = if kill_now {
                        StopMode::Kill
                    } else {
                        StopMode::Graceful
                    };
                    self.executor.stop(run, mode);
                }
            }
        }
    }
}

impl Daemon {
    /// Sends an ended run to the history; before [`Core::finished`], which forgets the
    /// run. Takes the output tail out of the report.
    fn record_end(&self, core: &Core, run: RunId, report: &mut Report, ended: jiff::Timestamp) {
        let (Some(store), Some(info)) = (&self.store, core.run(run)) else {
            return;
        };
        let started = jiff::SignedDuration::try_from(report.duration)
            .ok()
            .and_then(|d| ended.checked_sub(d).ok())
            .unwrap_or(ended);
        let (exit_code, signal) = match &report.outcome {
            Outcome::Success => (Some(0), None),
            Outcome::Failed(c) => (Some(*c), None),
            Outcome::Killed(s) => (None, Some(*s)),
            Outcome::Timeout | Outcome::SpawnError(_) => (None, None),
        };
        let output = match &report.outcome {
            Outcome::SpawnError(m) => m.clone(),
            _ => std::mem::take(&mut report.output_tail),
        };
        store.record(Record::Ended(RunRecord {
            task_id: info.task.clone(),
            run_id: core.run_name(run),
            attempt: info.attempt,
            scheduled: info.scheduled,
            started,
            ended,
            outcome: report.outcome.name(),
            exit_code,
            signal,
            output,
        }));
    }
}

/// The error of an executor that could not start its threads.
fn executor_error(e: std::io::Error) -> Fatal {
    Fatal::new(
        2,
        format!(
            "cannot start the executor threads: {}",
            crate::io_message(&e)
        ),
    )
}

/// Runs one task now, in the foreground, through the same executor; returns the
/// exit code of `cronwheel exec`.
pub fn exec_once(config: &Config, task_id: &str) -> Result<u8, Fatal> {
    let Some(task) = config.tasks.iter().find(|t| *t.id == *task_id) else {
        return Err(Fatal::new(
            2,
            format!("no valid task with task_id {task_id:?}"),
        ));
    };
    let job = Job {
        run_id: format!("exec-{}", std::process::id()),
        task: task.clone(),
        attempt: 1,
        shell: Arc::from(config.shell.as_str()),
        python: Arc::from(config.python.as_str()),
        not_before: None,
    };
    crate::exec::block_sigchld();
    let (tx, rx) = mpsc::channel();
    let executor = Executor::start(Box::new(move |runs| {
        for (_, report) in runs {
            let _ = tx.send(report);
        }
    }))
    .map_err(executor_error)?;
    executor.submit(0, job);
    let report = rx
        .recv()
        .map_err(|_| Fatal::new(2, "the executor stopped before the run ended"))?;
    Ok(report.outcome.exit_code())
}
#[cfg(test)]
pub(crate) mod tests;
