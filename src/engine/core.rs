//! The scheduler's decisions, as a pure state machine: `(state, event, now) -> actions`.
//!
//! [`Core`] owns the task registry, the timer wheel and the queue of runs waiting for a
//! worker — here, one of the `max_concurrent` slots for runs in flight, not a thread.
//! The main loop feeds it the time and what happened (a deadline passed, a run
//! ended, the wall clock was set) and carries out the [`Action`]s it returns. It reads
//! no clock and starts no process, so its tests drive it with a simulated clock.
//!
//! # Time
//!
//! The wheel runs on one timeline: microseconds of the monotonic clock since the
//! engine started ([`Tick`]). Interval tasks live on a grid `phase + k·every` of that
//! timeline, so run time and late wake-ups never shift them. Cron firings are wall-clock
//! instants; each is placed on the timeline by its distance from the current wall time,
//! and placed again when the wall clock is set ([`Core::clock_changed`]).
//!
//! # Invariants
//!
//! - An enabled, schedulable task has exactly one pending firing timer (`Entry::timer`).
//! - `Entry::active` counts the task's runs that are running or waiting for a worker.
//! - `busy <= max_concurrent`: a run is only started when a worker is free.

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tracing::{debug, info, warn};

use crate::config::{Config, Overlap, Schedule, Task, TaskId, Zone};
use crate::engine::registry::{Keyed, Registry};
use crate::reload::diff::Plan;
use crate::schedule;
use crate::wheel::{Key, Wheel};

/// A point on the engine's monotonic timeline, in microseconds.
pub type Tick = u64;

/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// A backward wall-clock step longer than this re-plans cron tasks from the new time
/// (as Vixie cron does); a shorter one waits, so no firing runs twice.
const BIG_STEP_BACK: SignedDuration = SignedDuration::from_hours(3);

/// The time as the core sees it: both clocks, read together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono: Tick,
    pub wall: Timestamp,
}

impl Now {
    /// The wall-clock instant of a tick, by its distance from now.
    pub fn wall_at(&self, tick: Tick) -> Timestamp {
        let delta = tick as i128 - self.mono as i128;
        let d = SignedDuration::from_micros(delta.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
        self.wall.checked_add(d).unwrap_or(self.wall)
    }

    /// The tick of a wall-clock instant, rounded up so a firing is never early; an
    /// instant in the past is now.
    pub fn tick_at(&self, wall: Timestamp) -> Tick {
        let nanos = wall.as_nanosecond() - self.wall.as_nanosecond();
        if nanos <= 0 {
            return self.mono;
        }
        let micros = (nanos as u128).div_ceil(1000).min(u64::MAX as u128) as u64;
        self.mono.saturating_add(micros)
    }
}

/// Next cron firings by pattern text, then zone name; see [`Core::next_cron_memo`].
type CronMemo = HashMap<String, Vec<(Arc<str>, Option<Timestamp>)>>;

/// Identifies a run across the engine.
pub type RunId = u64;

/// What the main loop must do.
#[derive(Debug)]
pub enum Action {
    /// Hand this run to a free worker.
    Start(StartRun),
    /// Stop a running run: gracefully (SIGTERM, SIGKILL after the task's grace), or now.
    Stop { run: RunId, kill_now: bool },
}

/// A run to start.
#[derive(Clone, Debug)]
pub struct StartRun {
    pub run: RunId,
    pub task: Arc<Task>,
    /// 1 for the first attempt of a firing.
    pub attempt: u32,
    /// When the firing was due (before jitter), on the wall clock.
    pub scheduled: Timestamp,
    /// When the run is due on the timeline (after jitter). It may still lie ahead when
    /// the run is handed over early ([`Core::advance_until`]); the run must not start
    /// before it.
    pub due: Tick,
}

/// An optional wall-clock instant in 12 bytes, where `Option<Timestamp>` takes 24:
/// every task holds one and every pending firing one. Seconds in two halves (so the
/// alignment is 4) and nanoseconds, with an out-of-range nanosecond for none.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PackedWall([u32; 3]);

impl std::fmt::Debug for PackedWall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl PackedWall {
    const NONE: PackedWall = PackedWall([0, 0, i32::MIN as u32]);

    fn new(wall: Option<Timestamp>) -> PackedWall {
        match wall {
            None => PackedWall::NONE,
            Some(t) => {
                let secs = t.as_second() as u64;
                // Nanoseconds of a timestamp are within ±999,999,999, never i32::MIN.
                PackedWall([
                    secs as u32,
                    (secs >> 32) as u32,
                    t.subsec_nanosecond() as u32,
                ])
            }
        }
    }

    fn get(self) -> Option<Timestamp> {
        let [lo, hi, nanos] = self.0;
        if self == PackedWall::NONE {
            return None;
        }
        let secs = (u64::from(hi) << 32 | u64::from(lo)) as i64;
        // Made from a valid timestamp by `new`, so always valid again.
        Timestamp::new(secs, nanos as i32).ok()
    }
}

/// A timer on the wheel.
#[derive(Clone, Debug)]
enum Timer {
    /// The task's next scheduled firing, due at `wall` (for cron tasks, the wall
    /// instant; for interval tasks, none: derived from the tick).
    Fire {
        task: TaskId,
        grid: Tick,
        wall: PackedWall,
    },
    /// A retry of a failed run.
    Retry {
        task: TaskId,
        attempt: u32,
        scheduled: Timestamp,
    },
}

/// A firing that waits: for a worker (in `ready`) or for the task's current run
/// (overlap queue and replace).
#[derive(Clone, Debug)]
struct Pending {
    attempt: u32,
    scheduled: Timestamp,
    due: Tick,
}

/// One task in the registry.
struct Entry {
    task: Arc<Task>,
    /// The grid origin of an interval task.
    phase: Tick,
    /// The pending firing timer (a [`Timer::Fire`], which holds the wall instant it
    /// stands for).
    timer: Option<Key>,
    /// Runs running or waiting for a worker.
    active: u32,
    /// The run to start when the current one ends (overlap queue or replace); boxed,
    /// as it is rare, to keep the entry small.
    queued: Option<Box<Pending>>,
    /// The last firing that ran, on the wall clock.
    last_wall: PackedWall,
}

impl Keyed for Entry {
    fn id(&self) -> &str {
        &self.task.id
    }
}

/// A run waiting for a worker; the heap pops the highest priority, then the earliest.
#[derive(Debug)]
struct Ready {
    priority: i32,
    due: Tick,
    seq: u64,
    task: TaskId,
    pending: Pending,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then(other.due.cmp(&self.due))
            .then(other.seq.cmp(&self.seq))
    }
}

/// A run in flight, as the core knows it.
#[derive(Debug)]
pub struct Running {
    /// The task's id (the registry's key).
    pub task: TaskId,
    pub attempt: u32,
    /// When the firing was due (before jitter), on the wall clock.
    pub scheduled: Timestamp,
    stopping: bool,
}

/// The scheduler state machine. See the module docs.
pub struct Core {
    tasks: Registry<Entry>,
    wheel: Wheel<Timer>,
    ready: BinaryHeap<Ready>,
    running: HashMap<RunId, Running>,
    max_concurrent: usize,
    next_run: RunId,
    seq: u64,
    rng: u64,
    /// False once shutting down: timers are dropped and nothing new starts.
    firing: bool,
    /// Prefix of run ids: the wall-clock second the core started.
    run_prefix: i64,
    /// Tasks that fired, with the grid point they fired for, waiting for
    /// [`Core::replan`].
    unplanned: Vec<(TaskId, Tick)>,
    /// See [`Core::next_cron_memo`]: the instant the memo is for, and its entries by
    /// (pattern text, zone name).
    cron_memo: (Option<Timestamp>, CronMemo),
}

impl Core {
    /// A core for the tasks of `config` (taken out of it), with every enabled task
    /// planned from `now`. With `boot`, `@reboot` tasks are due at once. `last_fired`
    /// holds each task's last firing from the state database, so interval grids and
    /// missed cron firings survive a restart.
    pub fn new(
        config: &mut Config,
        now: Now,
        boot: bool,
        seed: u64,
        last_fired: &HashMap<String, Timestamp>,
    ) -> Core {
        let tasks = std::mem::take(&mut config.tasks);
        let mut core = Core {
            tasks: Registry::with_capacity(tasks.len()),
            wheel: Wheel::with_capacity(now.mono, tasks.len()),
            ready: BinaryHeap::new(),
            running: HashMap::new(),
            max_concurrent: config.max_concurrent.max(1) as usize,
            next_run: 1,
            seq: 0,
            rng: seed | 1,
            firing: true,
            run_prefix: now.wall.as_second(),
            unplanned: Vec::new(),
            cron_memo: (None, HashMap::new()),
        };
        for task in tasks {
            let id = task.id.clone();
            let last = last_fired.get(&*task.id).copied();
            core.add(task, now, boot);
            if let Some(last) = last {
                core.resume(&id, last, now);
            }
        }
        core
    }

    /// Continues a task from its last firing before a restart: an interval task keeps
    /// its grid (and runs once now if a firing was missed); a cron task with
    /// `catch_up` runs once now if firings were missed, otherwise they are skipped.
    fn resume(&mut self, id: &TaskId, last: Timestamp, now: Now) {
        let Some(entry) = self.tasks.get_mut(id) else {
            return;
        };
        if !entry.task.enabled {
            return;
        }
        let task = entry.task.clone();
        let elapsed = (now.wall.as_microsecond() - last.as_microsecond()).max(0) as u64;
        let catch_up = match &task.schedule {
            Schedule::Interval(i) => {
                let every = (i.every.as_micros() as u64).max(1);
                // The first grid point after now of the grid through `last`.
                entry.phase = now.mono + every - elapsed % every;
                if elapsed >= every {
                    let missed_at = last.as_microsecond() + ((elapsed / every) * every) as i64;
                    info!(task_id = %id, "a firing was missed while the daemon was down; running once now");
                    Timestamp::from_microsecond(missed_at).ok()
                } else {
                    None
                }
            }
            Schedule::Cron(c) => {
                let cron = &c.pattern;
                entry.last_wall = PackedWall::new(Some(last));
                let mut missed = 0u32;
                let mut latest = None;
                let mut t = last;
                while let Some(z) = schedule::next_cron(cron, &task.zone, t) {
                    if z.timestamp() > now.wall || missed >= 10_000 {
                        break;
                    }
                    missed += 1;
                    t = z.timestamp();
                    latest = Some(t);
                }
                match latest {
                    Some(at) if task.catch_up => {
                        info!(task_id = %id, missed, "catch-up: firings were missed while the daemon was down; running once now");
                        Some(at)
                    }
                    Some(_) => {
                        info!(task_id = %id, missed, "firings missed while the daemon was down are skipped (catch_up: false)");
                        None
                    }
                    None => None,
                }
            }
            Schedule::Reboot => None,
        };
        self.plan(id, now, false);
        if let Some(scheduled) = catch_up {
            // Replace the planned timer by one due now; its firing plans the next.
            if let Some(key) = self.tasks.get_mut(id).and_then(|e| e.timer.take()) {
                self.wheel.cancel(key);
            }
            let key = self.wheel.insert(
                now.mono,
                Timer::Fire {
                    task: id.clone(),
                    grid: now.mono,
                    wall: PackedWall::new(Some(scheduled)),
                },
            );
            if let Some(entry) = self.tasks.get_mut(id) {
                entry.timer = Some(key);
            }
        }
    }

    /// Adds a task and plans its first firing.
    fn add(&mut self, task: Arc<Task>, now: Now, boot: bool) {
        let id = task.id.clone();
        self.tasks.insert(Entry {
            task,
            phase: now.mono,
            timer: None,
            active: 0,
            queued: None,
            last_wall: PackedWall::NONE,
        });
        self.plan(&id, now, boot);
    }

    /// Arms the task's next firing after `now` (or after its last grid point).
    fn plan(&mut self, id: &TaskId, now: Now, boot: bool) {
        let Some(entry) = self.tasks.get_mut(id) else {
            return;
        };
        if let Some(key) = entry.timer.take() {
            self.wheel.cancel(key);
        }
        if !entry.task.enabled || !self.firing {
            return;
        }
        let task = entry.task.clone();
        let (grid, wall) = match &task.schedule {
            Schedule::Interval(i) => {
                let every = (i.every.as_micros() as u64).max(1);
                (schedule::next_on_grid(entry.phase, every, now.mono), None)
            }
            Schedule::Cron(c) => {
                let (cron, source) = (&c.pattern, &c.source);
                let after = entry.last_wall.get().map_or(now.wall, |l| l.max(now.wall));
                match self.next_cron_memo(cron, source, &task.zone, after) {
                    Some(t) => (now.tick_at(t), Some(t)),
                    None => {
                        warn!(task_id = %task.id, "cron schedule has no future firing; task will not run");
                        return;
                    }
                }
            }
            Schedule::Reboot if boot => (now.mono, Some(now.wall)),
            Schedule::Reboot => return,
        };
        let deadline = grid.saturating_add(self.jitter(&task));
        let key = self.wheel.insert(
            deadline,
            Timer::Fire {
                task: id.clone(),
                grid,
                wall: PackedWall::new(wall),
            },
        );
        if let Some(entry) = self.tasks.get_mut(id) {
            entry.timer = Some(key);
        }
    }

    /// The next firing of a cron pattern after `after`, remembered for as long as
    /// `after` stays the same: when many tasks share a pattern and fire together (or
    /// start together), it is computed once, not once per task.
    fn next_cron_memo(
        &mut self,
        cron: &croner::Cron,
        source: &str,
        zone: &Zone,
        after: Timestamp,
    ) -> Option<Timestamp> {
        if self.cron_memo.0 != Some(after) {
            self.cron_memo.0 = Some(after);
            self.cron_memo.1.clear();
        }
        // Looked up by reference: a hit (the common case at start-up) allocates nothing.
        let known = self.cron_memo.1.get(source).and_then(|zones| {
            zones
                .iter()
                .find(|(z, _)| *z == zone.name)
                .map(|(_, next)| *next)
        });
        if let Some(next) = known {
            return next;
        }
        let next = schedule::next_cron(cron, zone, after).map(|z| z.timestamp());
        self.cron_memo
            .1
            .entry(source.to_owned())
            .or_default()
            .push((zone.name.clone(), next));
        next
    }

    fn jitter(&mut self, task: &Task) -> Tick {
        let span = task.jitter().as_micros() as u64;
        if span == 0 {
            return 0;
        }
        // xorshift64: uniform enough to spread firings; no cryptographic need here.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % span
    }

    /// The earliest tick at which [`Core::advance`] has work, if any. Valid after
    /// [`Core::replan`].
    pub fn next_deadline(&self) -> Option<Tick> {
        debug_assert!(self.unplanned.is_empty(), "replan() must follow advance()");
        self.wheel.next_deadline()
    }

    /// Handles every timer due at `now`, then starts what the free workers allow.
    pub fn advance(&mut self, now: Now) -> Vec<Action> {
        self.advance_until(now, now.mono)
    }

    /// Handles every timer due by `until` (at or after `now`), then starts what the
    /// free workers allow. Runs due after `now` are handed over early, each with the
    /// tick it is due ([`StartRun::due`]), so the executor can be waiting at that
    /// instant instead of learning of the run after it. Every decision (overlap, a
    /// free worker, the next firing) is taken as if the timer had passed.
    pub fn advance_until(&mut self, now: Now, until: Tick) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some((_, deadline, timer)) = self.wheel.poll(until.max(now.mono)) {
            match timer {
                Timer::Fire { task, grid, wall } => {
                    self.fire(&task, grid, wall.get(), deadline, now, &mut actions)
                }
                Timer::Retry {
                    task,
                    attempt,
                    scheduled,
                } => {
                    let pending = Pending {
                        attempt,
                        scheduled,
                        due: deadline,
                    };
                    self.admit(&task, pending, &mut actions);
                }
            }
        }
        self.dispatch(&mut actions);
        actions
    }

    fn fire(
        &mut self,
        id: &TaskId,
        grid: Tick,
        wall: Option<Timestamp>,
        deadline: Tick,
        now: Now,
        actions: &mut Vec<Action>,
    ) {
        let Some(entry) = self.tasks.get_mut(id) else {
            return;
        };
        entry.timer = None;
        let scheduled = wall.unwrap_or_else(|| now.wall_at(grid));
        entry.last_wall = PackedWall::new(Some(scheduled));
        if let Schedule::Interval(i) = &entry.task.schedule {
            let every = (i.every.as_micros() as u64).max(1);
            let missed = now.mono.saturating_sub(grid) / every;
            if missed > 0 {
                info!(task_id = %id, missed, "firings missed while busy were coalesced into this one");
            }
        }
        let pending = Pending {
            attempt: 1,
            scheduled,
            due: deadline,
        };
        self.admit(id, pending, actions);
        if !matches!(
            self.tasks.get(id).map(|e| &e.task.schedule),
            Some(Schedule::Reboot)
        ) {
            self.unplanned.push((id.clone(), grid));
        }
    }

    /// Plans the next firing of every task that fired in the last [`Core::advance`].
    /// Split from `advance` so the main loop can hand the due runs to workers first:
    /// with many tasks due at once, computing their next cron firings would otherwise
    /// delay every start.
    ///
    /// The next firing is the first after the one that fired, which may still lie
    /// ahead of `now` when it was handed over early ([`Core::advance_until`]): it is
    /// planned as of that grid point, both clocks moved together.
    pub fn replan(&mut self, now: Now) {
        for (id, grid) in std::mem::take(&mut self.unplanned) {
            // A reload may have planned it already.
            if self.tasks.get(&id).is_some_and(|e| e.timer.is_none()) {
                let at = if grid > now.mono {
                    Now {
                        mono: grid,
                        wall: now.wall_at(grid),
                    }
                } else {
                    now
                };
                self.plan(&id, at, false);
            }
        }
    }

    /// Applies the overlap policy to a firing (or retry) of a task.
    fn admit(&mut self, id: &TaskId, pending: Pending, actions: &mut Vec<Action>) {
        if !self.firing {
            return;
        }
        let Some(entry) = self.tasks.get_mut(id) else {
            return;
        };
        if entry.active > 0 {
            match entry.task.overlap {
                Overlap::Skip => {
                    info!(task_id = %id, "skipped: the previous run is still running (overlap: skip)");
                    return;
                }
                Overlap::Queue => {
                    if entry.queued.is_some() {
                        info!(task_id = %id, "skipped: a run is already queued (overlap: queue)");
                    } else {
                        debug!(task_id = %id, "queued until the current run ends (overlap: queue)");
                        entry.queued = Some(Box::new(pending));
                    }
                    return;
                }
                Overlap::Replace => {
                    entry.queued = Some(Box::new(pending));
                    for (run, r) in self.running.iter_mut() {
                        if &r.task == id && !r.stopping {
                            let run_id = format!("{}-{run}", self.run_prefix);
                            info!(task_id = %id, run_id, "stopping the current run (overlap: replace)");
                            r.stopping = true;
                            actions.push(Action::Stop {
                                run: *run,
                                kill_now: false,
                            });
                        }
                    }
                    // Runs of this task still waiting for a worker are replaced outright.
                    let before = self.ready.len();
                    self.ready.retain(|r| &r.task != id);
                    let dropped = (before - self.ready.len()) as u32;
                    entry.active -= dropped;
                    if entry.active == 0 {
                        let p = entry.queued.take().expect("queued was set above");
                        self.enqueue(id, *p);
                    }
                    return;
                }
                Overlap::Allow => {}
            }
        }
        self.enqueue(id, pending);
    }

    fn enqueue(&mut self, id: &TaskId, pending: Pending) {
        let Some(entry) = self.tasks.get_mut(id) else {
            return;
        };
        entry.active += 1;
        self.seq += 1;
        self.ready.push(Ready {
            priority: entry.task.priority,
            due: pending.due,
            seq: self.seq,
            task: id.clone(),
            pending,
        });
    }

    /// Starts waiting runs while workers are free.
    fn dispatch(&mut self, actions: &mut Vec<Action>) {
        while self.running.len() < self.max_concurrent {
            let Some(ready) = self.ready.pop() else { break };
            let Some(entry) = self.tasks.get(&ready.task) else {
                continue;
            };
            let run = self.next_run;
            self.next_run += 1;
            self.running.insert(
                run,
                Running {
                    task: ready.task.clone(),
                    attempt: ready.pending.attempt,
                    scheduled: ready.pending.scheduled,
                    stopping: false,
                },
            );
            actions.push(Action::Start(StartRun {
                run,
                task: entry.task.clone(),
                attempt: ready.pending.attempt,
                scheduled: ready.pending.scheduled,
                due: ready.pending.due,
            }));
        }
    }

    /// A run ended: frees its worker, schedules a retry after a failure, starts a
    /// queued run, and fills free workers.
    pub fn finished(&mut self, run: RunId, success: bool, now: Now) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(r) = self.running.remove(&run) else {
            return actions;
        };
        if let Some(entry) = self.tasks.get_mut(&r.task) {
            entry.active = entry.active.saturating_sub(1);
            let task = entry.task.clone();
            if !success && !r.stopping && r.attempt <= task.retries && self.firing {
                let delay = backoff(task.retry_backoff(), r.attempt);
                info!(task_id = %task.id, attempt = r.attempt + 1, delay_s = delay.as_secs(), "retry scheduled");
                let due = now.mono.saturating_add(delay.as_micros() as u64);
                self.wheel.insert(
                    due,
                    Timer::Retry {
                        task: r.task.clone(),
                        attempt: r.attempt + 1,
                        scheduled: r.scheduled,
                    },
                );
            }
            if entry.active == 0 {
                if let Some(p) = entry.queued.take() {
                    if self.firing {
                        self.enqueue(&r.task, *p);
                    }
                }
            }
        }
        self.dispatch(&mut actions);
        actions
    }

    /// The wall clock was set: place every cron firing again by its wall instant.
    pub fn clock_changed(&mut self, now: Now) {
        let planned: Vec<(TaskId, Timestamp)> = self
            .tasks
            .values()
            .filter(|e| matches!(e.task.schedule, Schedule::Cron(..)))
            .filter_map(|e| Some((e.task.id.clone(), self.planned_wall(e.timer?)?)))
            .collect();
        for (id, wall) in planned {
            let Some(entry) = self.tasks.get_mut(&id) else {
                continue;
            };
            let stepped_far_back = wall.duration_since(now.wall) > BIG_STEP_BACK;
            if stepped_far_back {
                entry.last_wall = PackedWall::NONE;
                self.plan(&id, now, false);
                continue;
            }
            if let Some(key) = entry.timer.take() {
                self.wheel.cancel(key);
            }
            let task = entry.task.clone();
            let grid = now.tick_at(wall);
            let deadline = grid.saturating_add(self.jitter(&task));
            let entry = self.tasks.get_mut(&id).expect("looked up above");
            entry.timer = Some(self.wheel.insert(
                deadline,
                Timer::Fire {
                    task: id.clone(),
                    grid,
                    wall: PackedWall::new(Some(wall)),
                },
            ));
        }
    }

    /// The wall instant a pending firing timer stands for; None for a stale key or an
    /// interval firing.
    fn planned_wall(&self, key: Key) -> Option<Timestamp> {
        match self.wheel.get(key)? {
            Timer::Fire { wall, .. } => wall.get(),
            Timer::Retry { .. } => None,
        }
    }

    /// Stops firing: drops every timer and every run not yet started.
    pub fn stop_firing(&mut self) {
        self.firing = false;
        for entry in self.tasks.values_mut() {
            if let Some(key) = entry.timer.take() {
                self.wheel.cancel(key);
            }
            entry.queued = None;
        }
        while let Some(r) = self.ready.pop() {
            if let Some(e) = self.tasks.get_mut(&r.task) {
                e.active = e.active.saturating_sub(1);
            }
        }
        // Retry timers are not tracked per task; poll them out of the wheel.
        while self.wheel.poll(u64::MAX).is_some() {}
    }

    /// Stop actions for every run in flight.
    pub fn stop_all(&mut self, kill_now: bool) -> Vec<Action> {
        self.running
            .iter_mut()
            .filter(|(_, r)| kill_now || !r.stopping)
            .map(|(run, r)| {
                r.stopping = true;
                Action::Stop {
                    run: *run,
                    kill_now,
                }
            })
            .collect()
    }

    /// The tasks in the registry.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values().map(|e| &*e.task)
    }

    /// Applies a reload. Unchanged and updated tasks keep their timers; replanned ones
    /// start a new grid from `now`; removed ones lose their timer and pending runs while
    /// a run in flight finishes normally.
    pub fn apply(&mut self, plan: &Plan, max_concurrent: u32, now: Now) {
        self.max_concurrent = max_concurrent.max(1) as usize;
        for id in &plan.removed {
            if let Some(entry) = self.tasks.remove(id.as_str()) {
                if let Some(key) = entry.timer {
                    self.wheel.cancel(key);
                }
            }
        }
        let removed: Vec<&str> = plan.removed.iter().map(String::as_str).collect();
        self.ready.retain(|r| !removed.contains(&&*r.task));
        for task in &plan.updated {
            if let Some(entry) = self.tasks.get_mut(&task.id) {
                entry.task = task.clone();
            }
        }
        for task in &plan.replanned {
            let id = task.id.clone();
            if let Some(entry) = self.tasks.get_mut(&id) {
                entry.task = task.clone();
                entry.phase = now.mono;
                entry.last_wall = PackedWall::NONE;
                if !task.enabled {
                    entry.queued = None;
                }
            }
            self.plan(&id, now, false);
        }
        self.tasks.reserve(plan.added.len());
        for task in &plan.added {
            self.add(task.clone(), now, false);
        }
    }

    /// The run id that runs, logs and history show: `<start second>-<counter>`.
    pub fn run_name(&self, run: RunId) -> String {
        format!("{}-{run}", self.run_prefix)
    }

    /// A run in flight (or handed over and not yet ended).
    pub fn run(&self, run: RunId) -> Option<&Running> {
        self.running.get(&run)
    }

    /// Runs in flight.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Tasks in the registry.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }
}

/// The delay before retry `attempt + 1`: the base, doubled per attempt, at most 1 h.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod packed_wall {
    use super::PackedWall;
    use jiff::Timestamp;

    #[test]
    fn a_packed_wall_instant_is_the_instant_or_none() {
        let instants = [
            Timestamp::MIN,
            Timestamp::new(-1, -500_000_000).unwrap(),
            Timestamp::new(-1, 0).unwrap(),
            Timestamp::UNIX_EPOCH,
            Timestamp::new(0, 1).unwrap(),
            Timestamp::new(1_764_000_000, 999_999_999).unwrap(),
            Timestamp::new(1 << 33, 123).unwrap(),
            Timestamp::MAX,
        ];
        for t in instants {
            let packed = PackedWall::new(Some(t));
            assert_ne!(packed, PackedWall::NONE, "{t}");
            assert_eq!(packed.get(), Some(t));
        }
        assert_eq!(PackedWall::new(None).get(), None);
        assert_eq!(PackedWall::NONE.get(), None);
        assert_eq!(std::mem::size_of::<PackedWall>(), 12);
    }
}

#[cfg(test)]
mod sizes {
    /// A registry entry and a timer, as every task holds one of each: 56 and 40 bytes.
    #[test]
    fn entries_and_timers_keep_their_sizes() {
        assert_eq!(std::mem::size_of::<super::Entry>(), 56);
        assert_eq!(std::mem::size_of::<super::Timer>(), 40);
    }
}
