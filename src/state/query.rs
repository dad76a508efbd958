//! Reading the database: each task's last firing (at start-up) and the run history
//! (`cronwheel history`).

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;
use rusqlite::{params, Connection};

use crate::state::schema;

/// task_id to the scheduled time of its last firing.
pub fn last_fired(conn: &Connection) -> rusqlite::Result<HashMap<String, Timestamp>> {
    let mut stmt =
        conn.prepare("SELECT task_id, last_fire FROM task_state WHERE last_fire IS NOT NULL")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, micros) = row?;
        if let Ok(t) = Timestamp::from_microsecond(micros) {
            out.insert(id, t);
        }
    }
    Ok(out)
}

/// One row of `cronwheel history`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    pub task_id: String,
    pub run_id: String,
    pub attempt: u32,
    pub scheduled: String,
    pub started: String,
    pub ended: String,
    pub duration_ms: i64,
    pub outcome: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub output: String,
}

/// The last `limit` runs, newest first, of one task or of all.
pub fn history(dir: &Path, task: Option<&str>, limit: u32) -> Result<Vec<HistoryRow>, String> {
    let path = dir.join(crate::state::DB_FILE);
    if !path.exists() {
        return Err(format!(
            "no history at {} (has the daemon run with this state directory?)",
            path.display()
        ));
    }
    let conn = schema::open_read_only(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let sql = "SELECT task_id, run_id, attempt, scheduled, started, ended, outcome, exit_code, signal, output
               FROM runs WHERE (?1 IS NULL OR task_id = ?1) ORDER BY id DESC LIMIT ?2";
    let mut stmt = conn
        .prepare(sql)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let ts = |micros: i64| {
        Timestamp::from_microsecond(micros).map_or_else(|_| micros.to_string(), |t| t.to_string())
    };
    let rows = stmt
        .query_map(params![task, limit], |r| {
            let started: i64 = r.get(4)?;
            let ended: i64 = r.get(5)?;
            Ok(HistoryRow {
                task_id: r.get(0)?,
                run_id: r.get(1)?,
                attempt: r.get(2)?,
                scheduled: ts(r.get(3)?),
                started: ts(started),
                ended: ts(ended),
                duration_ms: (ended - started) / 1000,
                outcome: r.get(6)?,
                exit_code: r.get(7)?,
                signal: r.get(8)?,
                output: r.get(9)?,
            })
        })
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}
