//! `cronwheel next`: the next firing times of each task, in the task's own zone.

use std::path::Path;

use crate::clock;
use crate::commands::{load_reporting, print_out, rfc3339, table, Fatal};
use crate::config::{Schedule, Task};
use crate::schedule;

/// Prints `count` firings per task after `from` (default: now). With task ids, only
/// those tasks (disabled ones included); otherwise every enabled task.
pub fn run(path: &Path, count: usize, from: Option<&str>, ids: &[String]) -> Result<u8, Fatal> {
    let from = match from {
        Some(s) => s.parse::<jiff::Timestamp>().map_err(|_| {
            // A well-formed instant (with its offset) that is refused lies outside the
            // range of times.
            let pieces = jiff::fmt::temporal::Pieces::parse(s);
            let why = if pieces.is_ok_and(|p| p.offset().is_some()) {
                "outside the instants that can be counted, -009999-01-02T01:59:59Z to 9999-12-30T22:00:00Z"
            } else {
                "expected an RFC 3339 instant such as 2026-11-26T10:00:00Z"
            };
            Fatal::new(2, format!("invalid --from {s:?}: {why}"))
        })?,
        None => clock::wall_now(),
    };
    let loaded = load_reporting(path)?;
    let tasks = &loaded.config.tasks;
    let chosen: Vec<&Task> = if ids.is_empty() {
        tasks.iter().filter(|t| t.enabled).map(|t| &**t).collect()
    } else {
        let mut chosen = Vec::new();
        for id in ids {
            match tasks.iter().find(|t| *t.id == **id) {
                Some(t) => chosen.push(&**t),
                None => {
                    return Err(Fatal::new(
                        1,
                        format!("no valid task with task_id {id:?} in {}", path.display()),
                    ))
                }
            }
        }
        chosen
    };
    let mut rows = Vec::new();
    for t in chosen {
        if t.schedule == Schedule::Reboot {
            rows.push(vec![t.id.to_string(), "at start-up (@reboot)".to_owned()]);
            continue;
        }
        let times = schedule::upcoming(&t.schedule, &t.zone, from, count);
        if times.is_empty() {
            rows.push(vec![t.id.to_string(), "never".to_owned()]);
        }
        rows.extend(times.iter().map(|z| vec![t.id.to_string(), rfc3339(z)]));
    }
    print_out(&table::render(&["TASK_ID", "TIME"], &rows))?;
    Ok(0)
}
