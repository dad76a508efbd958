//! The task file: its typed form, and how it is read and checked.
//!
//! Reading happens in two stages. `schema` mirrors the file exactly as serde sees it;
//! `validate` turns one raw entry plus the `defaults` block into a [`Task`], collecting
//! errors that name the field. `load` is the only part that touches the file system: it
//! reads the file, walks the entries one by one so that a bad entry is reported at its
//! own line while the good ones still load, and turns every failure into an
//! [`error::TaskError`] or [`error::FileError`].

pub mod error;
pub mod load;
pub mod schema;
pub mod split;
pub mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

/// A task's id, cloned into every timer, queued run and history record that names the
/// task. 16 bytes, like the `Arc<str>` it could be, but an id of up to 15 bytes (most
/// are) is held inline, without an allocation of its own; a longer one is shared.
pub type TaskId = ecow::EcoString;

const _: () = assert!(std::mem::size_of::<TaskId>() == 16 && TaskId::INLINE_LIMIT >= 15);

pub use error::{FileError, TaskError};
pub use load::{load_file, parse_text, Format, Loaded};
pub use schema::{CronExpr, CronKind, Overlap, TaskType, Zone};

/// Worker limit when `max_concurrent` is not set.
pub const DEFAULT_MAX_CONCURRENT: u32 = 64;
/// Shutdown wait when `shutdown_grace_seconds` is not set.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Delay between SIGTERM and SIGKILL when `kill_grace_seconds` is not set.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);
/// First retry delay when `retry_backoff_seconds` is not set.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(10);
/// Runs kept per task when `history_limit` is not set.
pub const DEFAULT_HISTORY_LIMIT: u32 = 1000;

/// A whole task file, every entry checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// The valid tasks, in file order; ids are unique. Each is allocated once, as
    /// it is read, and shared from then on with the registry and the runs, so that a
    /// large file is never held twice while the daemon starts.
    pub tasks: Vec<std::sync::Arc<Task>>,
    pub max_concurrent: u32,
    pub shutdown_grace: Duration,
    pub shell: String,
    pub python: String,
    pub history_limit: u32,
}

/// When a task fires. Shared by the tasks of a file that write the same schedule, so
/// that a task holds one pointer for it (a task of 88 bytes, not 104).
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Every `every`, on a fixed grid.
    Interval(std::sync::Arc<Interval>),
    /// A calendar pattern in the task's time zone.
    Cron(std::sync::Arc<CronPattern>),
    /// Once when the daemon starts.
    Reboot,
}

/// An interval schedule.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    pub every: Duration,
    /// As written: `60s` (interval_seconds) or `1m` (interval).
    pub source: Box<str>,
}

/// A cron schedule: the parsed pattern and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct CronPattern {
    pub pattern: std::sync::Arc<croner::Cron>,
    pub source: Box<str>,
}

// Equal texts parse to equal patterns, so the text alone is the key of the loader's
// memo of schedules (equal values hash alike).
impl std::hash::Hash for CronPattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl Schedule {
    /// The schedule as the operator wrote it.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Interval(i) => format!("every {}", i.source),
            Schedule::Cron(c) => c.source.to_string(),
            Schedule::Reboot => "@reboot".to_owned(),
        }
    }
}

/// What a run executes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run by the configured shell with `-c`.
    Shell(Box<str>),
    /// argv, no shell.
    Exec(Argv),
    /// Import a module and call one of its functions.
    Python(PythonTarget),
}

/// A python task's `module.path:function`, as one string (a task keeps one allocation
/// for it, not two). Validation leaves exactly one `:` in it, between the two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonTarget(Box<str>);

impl PythonTarget {
    /// The target `module:function`; neither holds a `:` (validation checked both
    /// are identifiers).
    pub fn new(module: &str, function: &str) -> PythonTarget {
        debug_assert!(!module.contains(':') && !function.contains(':'));
        PythonTarget(format!("{module}:{function}").into())
    }

    /// The dotted module path.
    pub fn module(&self) -> &str {
        self.0.split_once(':').map_or(&*self.0, |(m, _)| m)
    }

    /// The function to call.
    pub fn function(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, f)| f)
    }
}

/// An exec task's argv: the program, then its arguments. Kept as one string with a
/// NUL between the parts (one allocation a task, not one a part): no part can hold a
/// NUL, as no program could receive it.
#[derive(Clone, PartialEq, Eq)]
pub struct Argv(Box<str>);

impl Argv {
    /// The argv of `parts`, or why there is none: the list is empty, or a part holds a
    /// NUL.
    pub fn new<S: AsRef<str>>(parts: &[S]) -> Result<Argv, &'static str> {
        if parts.is_empty() {
            return Err("empty list: an exec task needs at least the program");
        }
        if parts.iter().any(|p| p.as_ref().contains('\0')) {
            return Err("a part of the list holds a NUL byte, which no program can receive");
        }
        let parts: Vec<&str> = parts.iter().map(AsRef::as_ref).collect();
        Ok(Argv(parts.join("\0").into()))
    }

    /// The program and then each argument.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split('\0')
    }

    /// The program: the first part.
    pub fn program(&self) -> &str {
        self.iter().next().unwrap_or_default()
    }

    /// The arguments: every part after the program.
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.iter().skip(1)
    }
}

impl std::fmt::Debug for Argv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Command {
    pub fn task_type(&self) -> TaskType {
        match self {
            Command::Shell(_) => TaskType::Shell,
            Command::Exec(_) => TaskType::Exec,
            Command::Python(_) => TaskType::Python,
        }
    }
}

/// One valid task, defaults applied. Kept small, as a daemon may hold tens of thousands:
/// times in whole seconds (the file gives them so), and what few tasks set in one
/// record, shared by the tasks that set the same.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Cloned into the timers, runs and records that name the task (see [`TaskId`]).
    pub id: TaskId,
    pub enabled: bool,
    pub schedule: Schedule,
    /// Zone for cron schedules and for displaying times.
    /// Shared by the tasks of a file that take the same zone.
    pub zone: std::sync::Arc<Zone>,
    pub command: Command,
    pub overlap: Overlap,
    pub retries: u32,
    pub priority: i32,
    pub catch_up: bool,
    /// Seconds; 0: no time limit (a limit is 1 s at least).
    timeout_secs: u32,
    /// None when the task sets none of it; shared by the tasks of a file that set the
    /// same (most often through `defaults`).
    extra: Option<std::sync::Arc<Extra>>,
}

/// What few tasks set, or set other than the default. Kept out of [`Task`] itself so
/// that a task is 88 bytes, not 104: malloc serves it (in its `Arc`) from 112-byte
/// chunks, not 128.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Extra {
    name: Option<Box<str>>,
    working_dir: Option<Box<std::path::Path>>,
    env: BTreeMap<String, String>,
    user: Option<Box<str>>,
    kill_grace_secs: u32,
    retry_backoff_secs: u32,
    /// Seconds; 0: no jitter.
    jitter_secs: u32,
}

/// The extras of a task that sets none.
static NO_EXTRA: Extra = Extra {
    name: None,
    working_dir: None,
    env: BTreeMap::new(),
    user: None,
    kill_grace_secs: DEFAULT_KILL_GRACE.as_secs() as u32,
    retry_backoff_secs: DEFAULT_RETRY_BACKOFF.as_secs() as u32,
    jitter_secs: 0,
};

impl Task {
    /// True when the way the task fires differs (what the reload diff re-plans).
    pub fn schedule_differs(&self, other: &Task) -> bool {
        self.schedule != other.schedule
            || self.zone.name != other.zone.name
            || self.extra().jitter_secs != other.extra().jitter_secs
    }

    /// None: no time limit.
    pub fn timeout(&self) -> Option<Duration> {
        (self.timeout_secs > 0).then(|| secs(self.timeout_secs))
    }

    /// The wait between SIGTERM and SIGKILL.
    pub fn kill_grace(&self) -> Duration {
        secs(self.extra().kill_grace_secs)
    }

    /// The delay before the first retry; each further retry waits twice as long.
    pub fn retry_backoff(&self) -> Duration {
        secs(self.extra().retry_backoff_secs)
    }

    /// The most a firing is delayed at random; zero: no jitter.
    pub fn jitter(&self) -> Duration {
        secs(self.extra().jitter_secs)
    }

    fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    pub fn name(&self) -> Option<&str> {
        self.extra.as_ref()?.name.as_deref()
    }

    pub fn working_dir(&self) -> Option<&std::path::Path> {
        self.extra.as_ref()?.working_dir.as_deref()
    }

    /// Variables set for each run, on top of the clean environment.
    pub fn env(&self) -> impl Iterator<Item = (&String, &String)> {
        self.extra.iter().flat_map(|e| e.env.iter())
    }

    /// The user each run switches to (when the daemon runs as root).
    pub fn user(&self) -> Option<&str> {
        self.extra.as_ref()?.user.as_deref()
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}

impl std::fmt::Display for TaskType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TaskType::Shell => "shell",
            TaskType::Exec => "exec",
            TaskType::Python => "python",
        })
    }
}

/// Reads a task file's text that must be valid, with UTC as the system zone and every
/// user existing: the tasks and settings the tests of other modules start from.
#[cfg(test)]
pub(crate) fn from_test_yaml(yaml: &str) -> Config {
    let ctx = validate::Context {
        system_zone: Zone::try_from("UTC".to_owned()).expect("UTC is in every tz database"),
        user_exists: &|_| true,
    };
    let loaded = parse_text("test.yaml", yaml, Format::Yaml, &ctx).expect("valid file");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    loaded.config
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task of 88 bytes, which malloc serves from 112-byte chunks in its `Arc` (at
    /// 104 bytes it would take 128, at 112 bytes 144).
    #[test]
    fn a_task_keeps_its_size() {
        assert_eq!(std::mem::size_of::<Task>(), 88);
    }
}
