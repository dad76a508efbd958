//! The core driven by a simulated clock: no threads, no processes, no sleeping.

use jiff::Timestamp;

use crate::config::validate::Context;
use crate::config::{self, Config, Format, Zone};
use crate::engine::core::{Action, Core, Now, RunId, StartRun};

const S: u64 = 1_000_000;

pub fn config(yaml: &str) -> Config {
    let ctx = Context {
        system_zone: Zone::try_from("UTC".to_owned()).expect("UTC exists"),
        user_exists: &|_| true,
    };
    let loaded = config::parse_text("test.yaml", yaml, Format::Yaml, &ctx).expect("valid file");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.config
}

/// A simulated clock: both clocks move together unless stepped.
pub struct Sim {
    pub core: Core,
    pub now: Now,
    pub started: Vec<(u64, StartRun)>,
    pub stops: Vec<(RunId, bool)>,
}

impl Sim {
    pub fn new(yaml: &str, wall: &str) -> Sim {
        let now = Now {
            mono: 0,
            wall: wall.parse::<Timestamp>().expect("valid instant"),
        };
        let core = Core::new(&config(yaml), now, true, 42);
        Sim {
            core,
            now,
            started: Vec::new(),
            stops: Vec::new(),
        }
    }

    fn take(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Start(s) => self.started.push((self.now.mono, s)),
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
            let to = next.unwrap_or(mono).max(self.now.mono);
            self.step_to(to);
            let actions = self.core.advance(self.now);
            self.take(actions);
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
            .filter(|(_, s)| s.task.id == id)
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
