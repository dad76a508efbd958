//! Opening, checking and migrating the database, and writing batches.

use std::collections::HashMap;
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

/// A task's row of `task_state` as a batch leaves it; None keeps what is there.
#[derive(Default)]
struct StateUpdate<'a> {
    last_fire: Option<i64>,
    last_run: Option<(&'a str, &'static str, i64)>,
}

/// Writes a batch of records in one transaction: a row per ended run, one `task_state`
/// update per task however many of its records the batch holds, then prunes the
/// history of the tasks that got new runs to the last `limit` runs.
pub fn write_batch(conn: &mut Connection, batch: &[Record], limit: u32) -> rusqlite::Result<()> {
    let mut states: HashMap<&str, StateUpdate> = HashMap::new();
    let tx = conn.transaction()?;
    {
        let mut run = tx.prepare_cached(
            "INSERT INTO runs (task_id, run_id, attempt, scheduled, started, ended, outcome, exit_code, signal, output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for r in batch {
            match r {
                Record::Fired { task_id, scheduled } => {
                    let s = states.entry(task_id).or_default();
                    let at = scheduled.as_microsecond();
                    s.last_fire = Some(s.last_fire.map_or(at, |f| f.max(at)));
                }
                Record::Ended(e) => {
                    run.execute(params![
                        e.task_id.as_str(),
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
                    states.entry(&e.task_id).or_default().last_run =
                        Some((&e.run_id, e.outcome, e.ended.as_microsecond()));
                }
            }
        }
        let mut state = tx.prepare_cached(
            "INSERT INTO task_state (task_id, last_fire, last_run_id, last_outcome, last_ended)
                 VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (task_id) DO UPDATE SET
                 last_fire = CASE WHEN last_fire IS NULL THEN excluded.last_fire
                                  WHEN excluded.last_fire IS NULL THEN last_fire
                                  ELSE max(last_fire, excluded.last_fire) END,
                 last_run_id = coalesce(excluded.last_run_id, last_run_id),
                 last_outcome = coalesce(excluded.last_outcome, last_outcome),
                 last_ended = coalesce(excluded.last_ended, last_ended)",
        )?;
        let mut prune = tx.prepare_cached(
            "DELETE FROM runs WHERE task_id = ?1 AND id <= (
                 SELECT id FROM runs WHERE task_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        )?;
        for (task, s) in &states {
            let (run_id, outcome, ended) = match s.last_run {
                Some((run_id, outcome, ended)) => (Some(run_id), Some(outcome), Some(ended)),
                None => (None, None, None),
            };
            state.execute(params![task, s.last_fire, run_id, outcome, ended])?;
            if s.last_run.is_some() {
                prune.execute(params![task, limit])?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::config::TaskId;
    use crate::state::RunRecord;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn ended(task: &str, run: &str, scheduled: i64, outcome: &'static str) -> Record {
        Record::Ended(RunRecord {
            task_id: TaskId::from(task),
            run_id: run.into(),
            attempt: 1,
            scheduled: at(scheduled),
            started: at(scheduled),
            ended: at(scheduled + 1),
            outcome,
            exit_code: Some(0),
            signal: None,
            output: String::new(),
        })
    }

    fn fired(task: &str, scheduled: i64) -> Record {
        Record::Fired {
            task_id: TaskId::from(task),
            scheduled: at(scheduled),
        }
    }

    type Row = (Option<i64>, Option<String>, Option<String>, Option<i64>);

    fn state_of(conn: &Connection, task: &str) -> Row {
        conn.query_row(
            "SELECT last_fire, last_run_id, last_outcome, last_ended FROM task_state WHERE task_id = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    /// Each batch leaves one row per task: the latest firing, and the last run that
    /// ended; a batch without one of them keeps what the row had.
    #[test]
    fn a_batch_merges_firings_and_ends_into_the_task_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_checked(&dir.path().join("state.db")).unwrap();
        let batch = [
            fired("a", 10),
            fired("a", 20),
            ended("a", "r-1", 10, "success"),
            ended("a", "r-2", 20, "failed"),
            fired("b", 5),
        ];
        write_batch(&mut conn, &batch, 1000).unwrap();
        let s = 1_000_000;
        assert_eq!(
            state_of(&conn, "a"),
            (
                Some(20 * s),
                Some("r-2".into()),
                Some("failed".into()),
                Some(21 * s)
            )
        );
        assert_eq!(state_of(&conn, "b"), (Some(5 * s), None, None, None));

        // Only firings: the last run stays. Only an end: the last firing stays, and
        // a firing older than the recorded one never moves it back.
        write_batch(
            &mut conn,
            &[fired("a", 30), ended("b", "r-3", 5, "success")],
            1000,
        )
        .unwrap();
        write_batch(&mut conn, &[fired("a", 25)], 1000).unwrap();
        assert_eq!(
            state_of(&conn, "a"),
            (
                Some(30 * s),
                Some("r-2".into()),
                Some("failed".into()),
                Some(21 * s)
            )
        );
        assert_eq!(
            state_of(&conn, "b"),
            (
                Some(5 * s),
                Some("r-3".into()),
                Some("success".into()),
                Some(6 * s)
            )
        );
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 3);
    }

    /// The history store's SQLite is built without the extensions no query here uses
    /// (`.cargo/config.toml`): their code would otherwise be mapped into the daemon.
    #[test]
    fn sqlite_is_built_without_unused_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_checked(&dir.path().join("state.db")).unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .unwrap();
        let gone = [
            "ENABLE_FTS3",
            "ENABLE_FTS5",
            "ENABLE_RTREE",
            "ENABLE_STAT4",
            "ENABLE_DBSTAT_VTAB",
            "SOUNDEX",
        ];
        for gone in gone {
            assert!(!options.iter().any(|o| o == gone), "{gone} in {options:?}");
        }
        let set = [
            "OMIT_JSON",
            "OMIT_LOAD_EXTENSION",
            "OMIT_SHARED_CACHE",
            "OMIT_DEPRECATED",
            "DEFAULT_MEMSTATUS=0",
            "DEFAULT_PCACHE_INITSZ=0",
        ];
        for set in set {
            assert!(options.iter().any(|o| o == set), "{set} not in {options:?}");
        }
        // What the history does need still works: a row goes in and comes back.
        write_batch(&mut conn, &[fired("a", 1)], 10).unwrap();
        assert_eq!(state_of(&conn, "a").0, Some(1_000_000));
    }
}
