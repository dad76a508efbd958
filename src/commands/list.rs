//! `cronwheel list`: the tasks as a table, with each one's next run from now.

use std::path::Path;

use crate::clock;
use crate::commands::{load_reporting, print_out, rfc3339, table, Fatal};
use crate::config::{Schedule, Task};
use crate::schedule;

pub fn run(path: &Path) -> Result<u8, Fatal> {
    let loaded = load_reporting(path)?;
    let now = clock::wall_now();
    let rows: Vec<Vec<String>> = loaded.config.tasks.iter().map(|t| row(t, now)).collect();
    print_out(&table::render(
        &["ID", "NAME", "SCHEDULE", "TYPE", "ENABLED", "NEXT RUN"],
        &rows,
    ))?;
    Ok(0)
}

fn row(t: &Task, now: jiff::Timestamp) -> Vec<String> {
    let next = if !t.enabled {
        "-".to_owned()
    } else if t.schedule == Schedule::Reboot {
        "at start-up".to_owned()
    } else {
        schedule::upcoming(&t.schedule, &t.zone, now, 1)
            .first()
            .map_or_else(|| "never".to_owned(), rfc3339)
    };
    let mut sched = t.schedule.describe();
    if matches!(t.schedule, Schedule::Cron(..)) {
        sched = format!("{sched} ({})", t.zone.name);
    }
    vec![
        t.id.to_string(),
        t.name().unwrap_or("-").to_owned(),
        sched,
        t.command.task_type().to_string(),
        if t.enabled { "yes" } else { "no" }.to_owned(),
        next,
    ]
}
