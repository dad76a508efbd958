//! The core driven by a simulated clock: no threads, no processes, no sleeping.

use jiff::Timestamp;

use crate::config::from_test_yaml as config;
use crate::engine::core::{Action, Core, Now, RunId, StartRun};

const S: u64 = 1_000_000;

/// A simulated clock: both clocks move together unless stepped.
pub struct Sim {
    pub core: Core,
    pub now: Now,
    pub started: Vec<(u64, StartRun)>,
    pub stops: Vec<(RunId, bool)>,
    /// End every run successfully as soon as it starts.
    pub auto_finish: bool,
    /// Wake this many ticks before each deadline and hand the due runs over early, as
    /// the daemon's main loop does.
    pub lead: u64,
}

impl Sim {
    pub fn new(yaml: &str, wall: &str) -> Sim {
        Sim::with_history(yaml, wall, &[])
    }

    /// A sim whose state database remembers these last firings.
    pub fn with_history(yaml: &str, wall: &str, last: &[(&str, &str)]) -> Sim {
        let now = Now {
            mono: 0,
            wall: wall.parse::<Timestamp>().expect("valid instant"),
        };
        let last: std::collections::HashMap<String, Timestamp> = last
            .iter()
            .map(|(id, t)| ((*id).to_owned(), t.parse().expect("valid instant")))
            .collect();
        let core = Core::new(&mut config(yaml), now, true, 42, &last);
        Sim {
            core,
            now,
            started: Vec::new(),
            stops: Vec::new(),
            auto_finish: false,
            lead: 0,
        }
    }

    fn take(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                // A run starts when it is handed over, or at its due tick when it was
                // handed over early.
                Action::Start(s) if self.auto_finish => {
                    let run = s.run;
                    self.started.push((s.due.max(self.now.mono), s));
                    let more = self.core.finished(run, true, self.now);
                    self.take(more);
                }
                Action::Start(s) => self.started.push((s.due.max(self.now.mono), s)),
                Action::Stop { run, kill_now } => self.stops.push((run, kill_now)),
            }
        }
    }

    /// Moves both clocks to `mono`, handling every deadline on the way, as the main
    /// loop would: wake at each deadline, advance.
    pub fn run_until(&mut self, mono: u64) {
        let mut guard = 0u64;
        loop {
            guard += 1;
            assert!(
                guard < 100_000_000,
                "the core keeps asking for wake-ups at {}",
                self.now.mono
            );
            let next = self.core.next_deadline().filter(|&d| d <= mono);
            let to = next
                .map_or(mono, |d| d.saturating_sub(self.lead))
                .max(self.now.mono);
            self.step_to(to);
            let actions = self.core.advance_until(self.now, self.now.mono + self.lead);
            self.take(actions);
            self.core.replan(self.now);
            if next.is_none() {
                break;
            }
        }
    }

    fn step_to(&mut self, mono: u64) {
        let delta = mono - self.now.mono;
        self.now.mono = mono;
        self.now.wall += jiff::SignedDuration::from_micros(delta as i64);
    }

    pub fn finish(&mut self, run: RunId, success: bool) {
        let actions = self.core.finished(run, success, self.now);
        self.take(actions);
    }

    pub fn starts_of(&self, id: &str) -> Vec<u64> {
        self.started
            .iter()
            .filter(|(_, s)| *s.task.id == *id)
            .map(|(t, _)| *t)
            .collect()
    }
}

#[test]
fn reboot_runs_once_at_start_and_intervals_follow_the_grid() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: boot, cron: '@reboot', entry_point: x}\n- {task_id: tick, interval_seconds: 1, entry_point: x, overlap: allow}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(5 * S + 10);
    assert_eq!(sim.starts_of("boot"), [0]);
    assert_eq!(sim.starts_of("tick"), [S, 2 * S, 3 * S, 4 * S, 5 * S]);
}

#[test]
fn retries_back_off_exponentially_from_the_failure() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: f, interval_seconds: 3600, entry_point: x, retries: 3, retry_backoff_seconds: 10}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(3600 * S);
    assert_eq!(sim.starts_of("f"), [3600 * S]);
    // Each attempt fails at once; the next one comes 10 s, 20 s, 40 s later.
    for expected in [3610 * S, 3630 * S, 3670 * S] {
        let run = sim.started.last().expect("a run started").1.run;
        sim.finish(run, false);
        sim.run_until(expected);
        assert_eq!(*sim.starts_of("f").last().expect("started"), expected);
    }
    let attempts: Vec<u32> = sim.started.iter().map(|(_, s)| s.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    // The fourth attempt fails too: retries are used up.
    let run = sim.started.last().expect("a run started").1.run;
    sim.finish(run, false);
    sim.run_until(3700 * S);
    assert_eq!(sim.started.len(), 4);
}

#[test]
fn overlap_skip_drops_firings_while_running() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: t, interval_seconds: 1, entry_point: x}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(4 * S);
    // The first run never ends: the firings at 2, 3 and 4 s are skipped.
    assert_eq!(sim.starts_of("t"), [S]);
    let first = sim.started[0].1.run;
    sim.finish(first, true);
    sim.run_until(5 * S);
    assert_eq!(sim.starts_of("t"), [S, 5 * S]);
}

#[test]
fn overlap_queue_keeps_one_pending_run() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: t, interval_seconds: 1, entry_point: x, overlap: queue}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(4 * S + 500_000);
    assert_eq!(sim.starts_of("t"), [S]);
    let first = sim.started[0].1.run;
    sim.finish(first, true);
    // One queued run starts at once; the others were coalesced into it.
    assert_eq!(sim.starts_of("t"), [S, 4 * S + 500_000]);
    let second = sim.started[1].1.run;
    sim.finish(second, true);
    assert_eq!(sim.started.len(), 2);
    sim.run_until(5 * S);
    assert_eq!(sim.starts_of("t"), [S, 4 * S + 500_000, 5 * S]);
}

#[test]
fn overlap_allow_runs_side_by_side() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: t, interval_seconds: 1, entry_point: x, overlap: allow}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(3 * S);
    assert_eq!(sim.starts_of("t"), [S, 2 * S, 3 * S]);
    assert_eq!(sim.core.running(), 3);
}

#[test]
fn overlap_replace_stops_the_old_run_then_starts_the_new_one() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: t, interval_seconds: 10, entry_point: x, overlap: replace}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(20 * S);
    let first = sim.started[0].1.run;
    assert_eq!(sim.stops, [(first, false)]);
    assert_eq!(
        sim.starts_of("t"),
        [10 * S],
        "the new run waits for the old one to end"
    );
    sim.now.mono += 3 * S;
    sim.finish(first, false);
    assert_eq!(sim.starts_of("t"), [10 * S, 23 * S]);
    // A stopped run is not retried, even with retries set: it did not fail by itself.
    assert_eq!(sim.core.running(), 1);
}

#[test]
fn busy_workers_start_higher_priority_first_then_earlier() {
    let mut sim = Sim::new(
        "max_concurrent: 1\ntasks:\n\
         - {task_id: low, interval_seconds: 10, entry_point: x, priority: 1}\n\
         - {task_id: high, interval_seconds: 10, entry_point: x, priority: 9}\n\
         - {task_id: mid, interval_seconds: 10, entry_point: x, priority: 5}\n\
         - {task_id: mid2, interval_seconds: 10, entry_point: x, priority: 5}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(10 * S);
    let order = |sim: &Sim| -> Vec<String> {
        sim.started
            .iter()
            .map(|(_, s)| s.task.id.to_string())
            .collect()
    };
    assert_eq!(order(&sim), ["high"]);
    for _ in 0..3 {
        let run = sim.started.last().expect("one running").1.run;
        sim.finish(run, true);
    }
    assert_eq!(order(&sim), ["high", "mid", "mid2", "low"]);
}

#[test]
fn interval_grid_survives_late_wakeups_and_coalesces_missed_firings() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: t, interval_seconds: 1, entry_point: x, overlap: allow}\n",
        "2026-01-01T00:00:00Z",
    );
    sim.run_until(S);
    // The loop wakes 3.7 s late (machine suspended or overloaded): one run, not three.
    sim.now.mono = 4 * S + 700_000;
    let actions = sim.core.advance(sim.now);
    sim.core.replan(sim.now);
    assert_eq!(actions.len(), 1);
    sim.started.clear();
    sim.run_until(7 * S);
    assert_eq!(
        sim.starts_of("t"),
        [5 * S, 6 * S, 7 * S],
        "still on the original grid"
    );
}

#[test]
fn cron_follows_the_wall_clock_through_a_step() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: c, cron: '0 * * * *', entry_point: x, overlap: allow}\n",
        "2026-01-01T00:30:00Z",
    );
    sim.run_until(1800 * S);
    assert_eq!(sim.starts_of("c"), [1800 * S], "01:00");
    // At 01:10 (mono 2400 s) the wall clock is stepped 20 minutes forward, to 01:30:
    // 02:00 is now 30 minutes of monotonic time away, not 50.
    sim.run_until(2400 * S);
    sim.now.wall += jiff::SignedDuration::from_mins(20);
    sim.core.clock_changed(sim.now);
    sim.run_until(4200 * S);
    assert_eq!(sim.starts_of("c"), [1800 * S, 4200 * S]);
}

#[test]
fn a_small_backward_step_does_not_repeat_a_firing() {
    let mut sim = Sim::new(
        "tasks:\n- {task_id: c, cron: '0 * * * *', entry_point: x, overlap: allow}\n",
        "2026-01-01T00:30:00Z",
    );
    sim.run_until(1800 * S + 60 * S);
    assert_eq!(sim.starts_of("c"), [1800 * S]);
    // 01:01 -> stepped back to 00:56: 01:00 already ran and does not run again.
    sim.now.wall -= jiff::SignedDuration::from_mins(5);
    sim.core.clock_changed(sim.now);
    sim.run_until(1860 * S + 3900 * S);
    assert_eq!(
        sim.starts_of("c"),
        [1800 * S, 1860 * S + 3840 * S],
        "next is 02:00 on the new clock"
    );
}

/// Drives 10,000 tasks (intervals and cron patterns in several zones) through a
/// simulated year and checks every firing against the schedule functions.
#[test]
fn ten_thousand_tasks_through_a_simulated_year() {
    use crate::config::Schedule;
    use crate::schedule;

    let crons = [
        "0 3 * * *",
        "30 2 * * 0",
        "0 0 1 * *",
        "15 */6 * * *",
        "0 12 29 2 *",
        "45 1 * * 1-5",
    ];
    let zones = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",
    ];
    let mut yaml = String::from("tasks:\n");
    for i in 0..10_000 {
        if i % 2 == 0 {
            let every = 3600 * (1 + i % 97) + i % 61;
            yaml.push_str(&format!(
                "- {{task_id: i{i}, interval_seconds: {every}, entry_point: x, overlap: allow}}\n"
            ));
        } else {
            let (c, z) = (crons[i % crons.len()], zones[i % zones.len()]);
            yaml.push_str(&format!(
                "- {{task_id: c{i}, cron: '{c}', timezone: {z}, entry_point: x, overlap: allow}}\n"
            ));
        }
    }
    let start = "2026-01-01T00:00:00Z";
    let mut sim = Sim::new(&yaml, start);
    sim.auto_finish = true;
    let year = 365 * 24 * 3600 * S;
    sim.run_until(year);
    let t0: Timestamp = start.parse().expect("valid instant");

    let mut by_task: std::collections::HashMap<&str, Vec<(u64, Timestamp)>> =
        std::collections::HashMap::new();
    for (tick, s) in &sim.started {
        by_task
            .entry(&*s.task.id)
            .or_default()
            .push((*tick, s.scheduled));
    }
    let cfg = config(&yaml);
    let mut total = 0;
    for task in &cfg.tasks {
        let got = by_task.get(&*task.id).cloned().unwrap_or_default();
        let expected: Vec<u64> = match &task.schedule {
            Schedule::Interval(i) => {
                let e = i.every.as_micros() as u64;
                (1..).map(|k| k * e).take_while(|&t| t <= year).collect()
            }
            Schedule::Cron(..) => {
                let end = t0 + jiff::SignedDuration::from_micros(year as i64);
                schedule::upcoming(&task.schedule, &task.zone, t0, 2000)
                    .into_iter()
                    .map(|z| z.timestamp())
                    .take_while(|t| *t <= end)
                    .map(|t| (t.as_microsecond() - t0.as_microsecond()) as u64)
                    .collect()
            }
            Schedule::Reboot => Vec::new(),
        };
        let ticks: Vec<u64> = got.iter().map(|(t, _)| *t).collect();
        assert_eq!(ticks, expected, "task {}", task.id);
        for (tick, scheduled) in &got {
            assert_eq!(
                scheduled.as_microsecond() - t0.as_microsecond(),
                *tick as i64,
                "task {}",
                task.id
            );
        }
        total += ticks.len();
    }
    assert!(total > 100_000, "a meaningful number of firings: {total}");
}

#[test]
fn an_interval_task_keeps_its_phase_across_a_restart() {
    // Last fired at 00:00:00 with a 5 s interval; restarted at 00:00:03: the next
    // firing is 2 s later, not 5.
    let sim_yaml = "tasks:\n- {task_id: t, interval_seconds: 5, entry_point: x, overlap: allow}\n";
    let mut sim = Sim::with_history(
        sim_yaml,
        "2026-01-01T00:00:03Z",
        &[("t", "2026-01-01T00:00:00Z")],
    );
    sim.run_until(12 * S);
    assert_eq!(sim.starts_of("t"), [2 * S, 7 * S, 12 * S]);
}

#[test]
fn an_overdue_interval_task_runs_once_at_start_then_keeps_its_grid() {
    let sim_yaml = "tasks:\n- {task_id: t, interval_seconds: 5, entry_point: x, overlap: allow}\n";
    // Down for 23 s: four firings were missed; one run now, then the old grid (25 s).
    let mut sim = Sim::with_history(
        sim_yaml,
        "2026-01-01T00:00:23Z",
        &[("t", "2026-01-01T00:00:00Z")],
    );
    sim.run_until(8 * S);
    assert_eq!(sim.starts_of("t"), [0, 2 * S, 7 * S]);
    assert_eq!(
        sim.started[0].1.scheduled.to_string(),
        "2026-01-01T00:00:20Z"
    );
}

#[test]
fn missed_cron_firings_run_once_with_catch_up_and_are_skipped_without() {
    let yaml = "tasks:\n\
        - {task_id: yes, cron: '0 * * * *', entry_point: x, catch_up: true, overlap: allow}\n\
        - {task_id: no, cron: '0 * * * *', entry_point: x}\n";
    // Last fired at 01:00; down until 04:30: 02:00, 03:00 and 04:00 were missed.
    let last = [
        ("yes", "2026-01-01T01:00:00Z"),
        ("no", "2026-01-01T01:00:00Z"),
    ];
    let mut sim = Sim::with_history(yaml, "2026-01-01T04:30:00Z", &last);
    sim.run_until(1800 * S);
    assert_eq!(sim.starts_of("yes"), [0, 1800 * S]);
    assert_eq!(sim.starts_of("no"), [1800 * S]);
    let first = &sim
        .started
        .iter()
        .find(|(_, s)| &*s.task.id == "yes")
        .expect("ran")
        .1;
    assert_eq!(first.scheduled.to_string(), "2026-01-01T04:00:00Z");
}

/// A clock step re-places a pending firing by the instant its timer stands for: a
/// catch-up run due at start-up stays due at once (and runs once), and the hourly
/// firings after it follow the new wall clock.
#[test]
fn a_clock_step_keeps_a_pending_catch_up() {
    let yaml = "tasks:\n\
        - {task_id: c, cron: '0 * * * *', entry_point: x, catch_up: true, overlap: allow}\n";
    let last = [("c", "2026-01-01T01:00:00Z")];
    let mut sim = Sim::with_history(yaml, "2026-01-01T04:30:00Z", &last);
    // Before anything runs, the wall clock is stepped 10 minutes forward, to 04:40.
    sim.now.wall += jiff::SignedDuration::from_mins(10);
    sim.core.clock_changed(sim.now);
    sim.run_until(1800 * S);
    assert_eq!(
        sim.starts_of("c"),
        [0, 1200 * S],
        "04:00 now, 05:00 in 20 minutes"
    );
    assert_eq!(
        sim.started[0].1.scheduled.to_string(),
        "2026-01-01T04:00:00Z"
    );
}

/// Handing runs over ahead of their time moves no start: the same runs start at the same
/// ticks, none before it is due, and each is handed over at most the lead early.
#[test]
fn handing_runs_over_early_changes_no_start() {
    let yaml = "max_concurrent: 3\ntasks:\n\
        - {task_id: tick, interval_seconds: 1, entry_point: x, overlap: allow}\n\
        - {task_id: jittered, interval_seconds: 7, jitter_seconds: 3, entry_point: x}\n\
        - {task_id: minutely, cron: '* * * * *', entry_point: x, priority: 5}\n\
        - {task_id: quarter, cron: '*/15 * * * *', timezone: Europe/Berlin, entry_point: x}\n\
        - {task_id: slow, interval_seconds: 2, entry_point: x, overlap: queue}\n";
    let run = |lead: u64| {
        let mut sim = Sim::new(yaml, "2026-03-29T00:30:00Z");
        sim.lead = lead;
        let mut handed = Vec::new();
        // End each run 1.5 s after it started, so overlap, queueing and busy workers
        // all come into play.
        let mut ends: Vec<(u64, RunId)> = Vec::new();
        let until = 3 * 3600 * S;
        let mut turns = 0;
        while sim.now.mono < until {
            turns += 1;
            assert!(
                turns < 1_000_000,
                "stuck at {} (lead {lead}), ends {ends:?}, next {:?}",
                sim.now.mono,
                sim.core.next_deadline()
            );
            let before = sim.started.len();
            let next_end = ends.iter().map(|(t, _)| *t).min().unwrap_or(until);
            let next_timer = sim.core.next_deadline().unwrap_or(until);
            let to = next_end.min(next_timer.saturating_sub(lead)).min(until);
            sim.run_until(to.max(sim.now.mono));
            for (t, run) in std::mem::take(&mut ends) {
                if t <= sim.now.mono {
                    sim.finish(run, true);
                } else {
                    ends.push((t, run));
                }
            }
            for (start, s) in &sim.started[before..] {
                handed.push((sim.now.mono, *start));
                ends.push((start + 3 * S / 2, s.run));
            }
            if sim.core.next_deadline().is_none() && ends.is_empty() {
                break;
            }
        }
        let starts: Vec<(u64, String, Timestamp, u32)> = sim
            .started
            .iter()
            .map(|(t, s)| (*t, s.task.id.to_string(), s.scheduled, s.attempt))
            .collect();
        (starts, handed)
    };
    let (on_time, _) = run(0);
    let lead = 2_000;
    let (early, handed) = run(lead);
    assert!(on_time.len() > 10_000, "{} starts", on_time.len());
    assert_eq!(early, on_time);
    for (at, start) in handed {
        assert!(
            at <= start && start - at <= lead,
            "handed over at {at}, started at {start}"
        );
    }
}
