//! Run history and task state in an embedded SQLite database.
//!
//! One writer thread owns the only writing connection. The engine sends it
//! [`Record`]s over a channel and never waits: the thread blocks on the channel, lets a
//! burst gather (50 ms, longer while records keep coming, at most 400 ms), takes
//! everything that has queued up, and writes it in one transaction, so a burst of runs
//! costs one commit, made after the burst. When nothing happens it sleeps in `recv` —
//! no periodic flush.
//!
//! The database is in WAL mode: a committed transaction survives a `kill -9` of the
//! daemon (it is in the WAL file), so a kill loses at most the runs in flight and those
//! still queued for the writer: at most the last 400 ms or so. Readers (`cronwheel
//! history`) open their own connections and never block the writer.
//!
//! # Schema (PRAGMA user_version = 1)
//!
//! - `runs`: one row per ended run: task_id, run_id, attempt, scheduled, started,
//!   ended (unix microseconds), outcome, exit_code, signal, output (the last 4 KiB).
//! - `task_state`: per task: last_fire (the scheduled time of its last firing, unix
//!   microseconds), last_run_id, last_outcome, last_ended.

mod query;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rusqlite::Connection;
use tracing::{error, warn};

use crate::config::TaskId;

pub use query::{history, HistoryRow};

/// The database file inside the state directory.
pub const DB_FILE: &str = "state.db";

/// One thing to remember.
#[derive(Debug)]
pub enum Record {
    /// A task fired (a run was handed to a worker) for the firing due at `scheduled`.
    Fired {
        task_id: TaskId,
        scheduled: Timestamp,
    },
    /// A run ended.
    Ended(RunRecord),
}

/// An ended run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub task_id: TaskId,
    pub run_id: String,
    pub attempt: u32,
    pub scheduled: Timestamp,
    pub started: Timestamp,
    pub ended: Timestamp,
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub output: String,
}

/// The state directory as the daemon picks it: `--state-dir`, else
/// `$STATE_DIRECTORY` (set by systemd's StateDirectory=), else `/var/lib/cronwheel`
/// as root, else `$XDG_STATE_HOME/cronwheel` (or `~/.local/state/cronwheel`).
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STATE_DIRECTORY") {
        // systemd may pass several, colon-separated; the first is ours.
        let first = d
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !first.is_empty() {
            return PathBuf::from(first);
        }
    }
    if nix::unistd::Uid::effective().is_root() {
        return PathBuf::from("/var/lib/cronwheel");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("cronwheel");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".local/state/cronwheel")
}

/// What the daemon learns from the database at start-up.
pub struct Opened {
    pub store: Store,
    /// Each task's last firing.
    pub last_fired: LastFired,
}

/// The handle the engine sends records through. Dropping it lets the writer finish
/// what is queued and waits for it, so runs that end during shutdown are recorded.
pub struct Store {
    tx: Option<Sender<Record>>,
    writer: Option<thread::JoinHandle<()>>,
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once the queue is written.
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The database being opened on a thread of its own, so that opening (creating,
/// checking, reading the task state) overlaps the reading of the task file.
/// [`Opening::finish`] waits for it and starts the writer; dropping it waits too, so
/// no half-done open outlives the daemon's start-up.
pub struct Opening {
    dir: PathBuf,
    thread: Option<thread::JoinHandle<Result<(Connection, LastFired), String>>>,
}

/// task_id to the scheduled time of its last firing.
type LastFired = HashMap<String, Timestamp>;

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Opening {
    /// Starts opening (or creating) the database in `dir`.
    pub fn start(dir: &Path) -> Opening {
        let owned = dir.to_path_buf();
        let thread = thread::Builder::new()
            .name("state-open".into())
            .spawn(move || open_dir(&owned))
            .ok();
        Opening {
            dir: dir.to_path_buf(),
            thread,
        }
    }

    /// Waits for the database and starts the writer thread. A directory that cannot be
    /// created or written is an error; a corrupt database was moved aside and replaced
    /// by a new one.
    pub fn finish(mut self, history_limit: u32) -> Result<Opened, String> {
        let opened = match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| "the thread opening the state database failed".to_owned())?,
            // No thread could be started: open it here.
            None => open_dir(&self.dir),
        };
        let (conn, last_fired) = opened?;
        let (tx, rx) = mpsc::channel();
        let writer = thread::Builder::new()
            .name("state".into())
            .spawn(move || writer(conn, &rx, history_limit))
            .map_err(|e| format!("cannot start the state writer: {}", crate::io_message(&e)))?;
        Ok(Opened {
            store: Store {
                tx: Some(tx),
                writer: Some(writer),
            },
            last_fired,
        })
    }
}

/// Opens (or creates) the database in `dir` and reads each task's last firing.
fn open_dir(dir: &Path) -> Result<(Connection, LastFired), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create the state directory {}: {}",
            dir.display(),
            crate::io_message(&e)
        )
    })?;
    let path = dir.join(DB_FILE);
    let conn = match schema::open_checked(&path) {
        Ok(c) => c,
        Err(schema::OpenError::Corrupt(why)) => {
            let aside = dir.join(format!(
                "{DB_FILE}.corrupt-{}",
                jiff::Timestamp::now().as_second()
            ));
            warn!(path = %path.display(), aside = %aside.display(), reason = %why, "the state database is corrupt; moving it aside and starting a new one");
            std::fs::rename(&path, &aside).map_err(|e| {
                format!(
                    "cannot move the corrupt database {} aside: {}",
                    path.display(),
                    crate::io_message(&e)
                )
            })?;
            for ext in ["-wal", "-shm"] {
                let side = dir.join(format!("{DB_FILE}{ext}"));
                let _ = std::fs::rename(
                    &side,
                    dir.join(format!(
                        "{DB_FILE}.corrupt-{}{ext}",
                        jiff::Timestamp::now().as_second()
                    )),
                );
            }
            schema::open_checked(&path).map_err(|e| e.to_string())?
        }
        Err(e) => {
            return Err(format!(
                "cannot open the state database {}: {e}",
                path.display()
            ))
        }
    };
    let last_fired =
        query::last_fired(&conn).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((conn, last_fired))
}

impl Store {
    /// Queues a record; never blocks.
    pub fn record(&self, r: Record) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(r);
        }
    }
}

/// Gives the calling thread the lowest priority (nice 19). When a burst of runs keeps
/// every core busy, the history waits for the gaps instead of delaying spawns; nice
/// (unlike SCHED_IDLE) still gives the writer a share, so it never starves.
fn lower_priority() {
    // SAFETY: gettid and setpriority take and return plain integers; on Linux a
    // thread id names just this thread for PRIO_PROCESS.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
    };
    if rc != 0 {
        warn!(error = %std::io::Error::last_os_error(), "cannot lower the state writer's priority");
    }
}

/// How long the writer lets records gather after the first one of a batch.
///
/// Under load runs end a few at a time, spread over the second; written as they come,
/// each would wake the writer and cost a transaction of its own. Sleeping (not waiting
/// on the channel) for this long after the first record lets the rest of the burst
/// queue up without waking the writer, and costs one transaction for all of it.
const GATHER: Duration = Duration::from_millis(50);

/// After [`GATHER`], the writer goes on gathering in steps of this length for as long
/// as records keep arriving, so that the transaction of a burst (many runs due at once)
/// comes after the burst's spawns instead of competing with them for the CPU...
const QUIET: Duration = Duration::from_millis(20);

/// ...but never longer than this after the first record: records reach the database
/// well inside the one second a `kill -9` may lose, however busy the daemon is.
const MAX_GATHER: Duration = Duration::from_millis(400);

/// The writer thread: one transaction per batch of whatever has queued up.
fn writer(mut conn: Connection, rx: &Receiver<Record>, history_limit: u32) {
    lower_priority();
    while let Ok(first) = rx.recv() {
        let since = Instant::now();
        thread::sleep(GATHER);
        let mut batch = vec![first];
        loop {
            let before = batch.len();
            batch.extend(rx.try_iter());
            if batch.len() == before || since.elapsed() >= MAX_GATHER {
                break;
            }
            thread::sleep(QUIET);
        }
        if let Err(e) = schema::write_batch(&mut conn, &batch, history_limit) {
            // A full disk or an I/O error loses this batch, not the scheduler.
            error!(error = %e, records = batch.len(), "cannot write run history; scheduling goes on");
        }
    }
}
