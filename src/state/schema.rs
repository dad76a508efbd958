//! Opening, checking and migrating the database, and writing batches.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use rusqlite::{params, Connection, ErrorCode, OpenFlags};

use crate::state::Record;

/// The schema version this build writes (PRAGMA user_version).
const VERSION: i64 = 1;

/// Migrations, in order: entry i brings the schema from version i to i + 1.
const MIGRATIONS: &[&str] = &["CREATE TABLE runs (
        id         INTEGER PRIMARY KEY,
        task_id    TEXT NOT NULL,
        run_id     TEXT NOT NULL,
        attempt    INTEGER NOT NULL,
        scheduled  INTEGER NOT NULL,
        started    INTEGER NOT NULL,
        ended      INTEGER NOT NULL,
        outcome    TEXT NOT NULL,
        exit_code  INTEGER,
        signal     INTEGER,
        output     TEXT NOT NULL
     );
     CREATE INDEX runs_by_task ON runs (task_id, id);
     CREATE TABLE task_state (
        task_id      TEXT PRIMARY KEY,
        last_fire    INTEGER,
        last_run_id  TEXT,
        last_outcome TEXT,
        last_ended   INTEGER
     );"];

/// Why the database could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The file is not a database, or fails the integrity check.
    Corrupt(String),
    Other(rusqlite::Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Corrupt(why) => write!(f, "corrupt database: {why}"),
            OpenError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                OpenError::Corrupt(e.to_string())
            }
            _ => OpenError::Other(e),
        }
    }
}

/// Opens the database for writing: WAL mode, integrity checked, schema migrated.
pub fn open_checked(path: &Path) -> Result<Connection, OpenError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OpenError::Other(rusqlite::Error::InvalidQuery));
    }
    // NORMAL is durable against a crash of the process (committed pages are in the
    // WAL); only an OS crash may lose the last transactions.
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(OpenError::Corrupt(check));
    }
    migrate(&conn)?;
    Ok(conn)
}

/// Opens the database read-only, for `cronwheel history`.
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    debug_assert_eq!(MIGRATIONS.len() as i64, VERSION);
    Ok(())
}

/// Writes a batch of records in one transaction, then prunes the history of the tasks
/// that got new runs to the last `limit` runs.
pub fn write_batch(conn: &mut Connection, batch: &[Record], limit: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut touched: HashSet<&str> = HashSet::new();
    {
        let mut fired = tx.prepare_cached(
            "INSERT INTO task_state (task_id, last_fire) VALUES (?1, ?2)
             ON CONFLICT (task_id) DO UPDATE SET last_fire = max(coalesce(last_fire, 0), excluded.last_fire)",
        )?;
        let mut run = tx.prepare_cached(
            "INSERT INTO runs (task_id, run_id, attempt, scheduled, started, ended, outcome, exit_code, signal, output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut state = tx.prepare_cached(
            "INSERT INTO task_state (task_id, last_run_id, last_outcome, last_ended) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (task_id) DO UPDATE SET last_run_id = excluded.last_run_id,
                 last_outcome = excluded.last_outcome, last_ended = excluded.last_ended",
        )?;
        for r in batch {
            match r {
                Record::Fired { task_id, scheduled } => {
                    fired.execute(params![task_id, scheduled.as_microsecond()])?;
                }
                Record::Ended(e) => {
                    run.execute(params![
                        e.task_id,
                        e.run_id,
                        e.attempt,
                        e.scheduled.as_microsecond(),
                        e.started.as_microsecond(),
                        e.ended.as_microsecond(),
                        e.outcome,
                        e.exit_code,
                        e.signal,
                        e.output,
                    ])?;
                    state.execute(params![
                        e.task_id,
                        e.run_id,
                        e.outcome,
                        e.ended.as_microsecond()
                    ])?;
                    touched.insert(&e.task_id);
                }
            }
        }
        let mut prune = tx.prepare_cached(
            "DELETE FROM runs WHERE task_id = ?1 AND id <= (
                 SELECT id FROM runs WHERE task_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?;
        for task in touched {
            prune.execute(params![task, limit])?;
        }
    }
    tx.commit()
}
