//! `cronwheel history`: recent runs from the state database, as a table or JSON lines.
//! Reads through its own read-only connection, so it works while the daemon runs.

use std::path::Path;

use crate::commands::{print_out, table, Fatal};
use crate::state;

pub fn run(dir: &Path, task: Option<&str>, count: u32, json: bool) -> Result<u8, Fatal> {
    let rows = state::history(dir, task, count).map_err(|e| Fatal::new(2, e))?;
    if json {
        let mut lines = String::new();
        for row in &rows {
            let line = serde_json::to_string(row)
                .map_err(|e| Fatal::new(2, format!("cannot encode a row: {e}")))?;
            lines.push_str(&line);
            lines.push('\n');
        }
        print_out(&lines)?;
        return Ok(0);
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let code = match (r.exit_code, r.signal) {
                (Some(c), _) => c.to_string(),
                (None, Some(s)) => format!("signal {s}"),
                (None, None) => "-".to_owned(),
            };
            let first_line = r
                .output
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            vec![
                r.started.clone(),
                r.task_id.clone(),
                format!("{} ms", r.duration_ms),
                r.outcome.clone(),
                code,
                first_line,
            ]
        })
        .collect();
    print_out(&table::render(
        &["START", "TASK", "DURATION", "OUTCOME", "CODE", "OUTPUT"],
        &table_rows,
    ))?;
    Ok(0)
}
