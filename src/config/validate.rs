//! Raw entries to typed tasks: defaults applied, fields checked against each other.
//!
//! Pure: the system time zone and the user database come in through [`Context`], so
//! these rules are tested without touching the machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::schema::{
    CronKind, EntryPoint, RawDefaults, RawHeader, RawTask, TaskType, Zone,
};
use crate::config::{
    Argv, Command, Config, CronPattern, Extra, Interval, PythonTarget, Schedule, Task,
    DEFAULT_HISTORY_LIMIT, DEFAULT_KILL_GRACE, DEFAULT_MAX_CONCURRENT, DEFAULT_RETRY_BACKOFF,
    DEFAULT_SHUTDOWN_GRACE, NO_EXTRA,
};

/// What validation needs from the machine.
pub struct Context<'a> {
    /// The zone of tasks and defaults that name none.
    pub system_zone: Zone,
    /// Whether a user name exists.
    pub user_exists: &'a (dyn Fn(&str) -> bool + Sync),
}

/// A rejected value: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err<T>(field: &'static str, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field,
        message: message.into(),
    })
}

/// The global keys of a mapping-shaped file, with `tasks` still to be read.
pub fn header(raw: RawHeader, ctx: &Context) -> Result<(Config, RawDefaults), FieldError> {
    let defaults = raw.defaults.unwrap_or_default();
    if let Some(user) = &defaults.user {
        check_user(user, ctx).map_err(|e| FieldError {
            field: "defaults.user",
            message: e.message,
        })?;
    }
    let config = Config {
        tasks: Vec::new(),
        max_concurrent: raw.max_concurrent.map_or(DEFAULT_MAX_CONCURRENT, |c| c.0),
        shutdown_grace: raw
            .shutdown_grace_seconds
            .map_or(DEFAULT_SHUTDOWN_GRACE, |s| Duration::from_secs(s.0)),
        shell: raw.shell.map_or_else(|| "/bin/sh".to_owned(), |s| s.0),
        python: raw.python.map_or_else(|| "python3".to_owned(), |s| s.0),
        history_limit: raw.history_limit.map_or(DEFAULT_HISTORY_LIMIT, |c| c.0),
    };
    Ok((config, defaults))
}

/// The settings of a seed-format file (a bare list): every global key at its default.
pub fn seed_header() -> Config {
    Config {
        tasks: Vec::new(),
        max_concurrent: DEFAULT_MAX_CONCURRENT,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        shell: "/bin/sh".to_owned(),
        python: "python3".to_owned(),
        history_limit: DEFAULT_HISTORY_LIMIT,
    }
}

/// One entry, with the defaults block applied.
pub fn task(raw: RawTask, d: &RawDefaults, ctx: &Context) -> Result<Task, FieldError> {
    let schedule = schedule(&raw)?;
    let task_type = raw.task_type.or(d.task_type).unwrap_or_default();
    let command = command(task_type, raw.entry_point)?;
    let user = raw.user.or_else(|| d.user.clone());
    if let Some(user) = &user {
        check_user(user, ctx)?;
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in d.env.iter().flatten().chain(raw.env.iter().flatten()) {
        env.insert(k.0.clone(), v.clone());
    }
    // Seconds from the file are at most ten years (schema::Seconds), far below u32::MAX.
    let secs = |s: u64| u32::try_from(s).unwrap_or(u32::MAX);
    let extra = Extra {
        name: raw
            .task_name
            .or_else(|| d.task_name.clone())
            .map(String::into_boxed_str),
        working_dir: raw
            .working_dir
            .or_else(|| d.working_dir.clone())
            .map(|p| p.0.into_boxed_path()),
        env,
        user: user.map(String::into_boxed_str),
        kill_grace_secs: raw
            .kill_grace_seconds
            .or(d.kill_grace_seconds)
            .map_or(secs(DEFAULT_KILL_GRACE.as_secs()), |s| secs(s.0)),
        retry_backoff_secs: raw
            .retry_backoff_seconds
            .or(d.retry_backoff_seconds)
            .map_or(secs(DEFAULT_RETRY_BACKOFF.as_secs()), |s| secs(s.0)),
        jitter_secs: raw
            .jitter_seconds
            .or(d.jitter_seconds)
            .map_or(0, |s| secs(s.0)),
    };
    Ok(Task {
        id: raw.task_id.0.into(),
        enabled: raw.enabled.or(d.enabled).unwrap_or(true),
        schedule,
        zone: shared_zone(
            raw.timezone
                .as_ref()
                .or(d.timezone.as_ref())
                .unwrap_or(&ctx.system_zone),
        ),
        command,
        timeout_secs: raw
            .timeout_seconds
            .or(d.timeout_seconds)
            .map_or(0, |s| secs(s.0)),
        overlap: raw.overlap.or(d.overlap).unwrap_or_default(),
        retries: raw.retries.or(d.retries).unwrap_or(0),
        priority: raw.priority.or(d.priority).unwrap_or(0),
        catch_up: raw.catch_up.or(d.catch_up).unwrap_or(false),
        extra: (extra != NO_EXTRA).then(|| EXTRAS.with(|memo| intern(memo, extra))),
    })
}

/// Values shared between the tasks read during the current load: tasks that set the
/// same extras or write the same schedule share one copy (`defaults` with an `env`
/// would otherwise copy its map into every task). The loader empties these around each
/// load ([`forget_shared`]); a reader thread takes its copies with it when it ends.
type Memo<T> = std::cell::RefCell<std::collections::HashSet<Arc<T>>>;

thread_local! {
    static EXTRAS: Memo<Extra> = Memo::default();
    static INTERVALS: Memo<Interval> = Memo::default();
    static CRONS: Memo<CronPattern> = Memo::default();
    /// By name: the zones of one file are few (the tz database holds about 600).
    static ZONES: std::cell::RefCell<Vec<Arc<Zone>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `zone`, shared with the tasks read before that take the same.
fn shared_zone(zone: &Zone) -> Arc<Zone> {
    ZONES.with(|memo| {
        let mut zones = memo.borrow_mut();
        if let Some(known) = zones.iter().find(|z| z.name == zone.name) {
            return known.clone();
        }
        let shared = Arc::new(zone.clone());
        zones.push(shared.clone());
        shared
    })
}

/// `value`, shared with the tasks read before that had an equal one.
fn intern<T, V>(memo: &Memo<T>, value: V) -> Arc<T>
where
    T: ?Sized + Eq + std::hash::Hash,
    V: std::borrow::Borrow<T> + Into<Arc<T>>,
{
    let mut set = memo.borrow_mut();
    if let Some(known) = set.get(value.borrow()) {
        return known.clone();
    }
    let new: Arc<T> = value.into();
    set.insert(new.clone());
    new
}

/// Empties the memos of shared values (see [`Memo`]).
pub fn forget_shared() {
    EXTRAS.with(|set| set.borrow_mut().clear());
    INTERVALS.with(|set| set.borrow_mut().clear());
    CRONS.with(|set| set.borrow_mut().clear());
    ZONES.with(|zones| zones.borrow_mut().clear());
}

/// An interval schedule, shared as [`intern`] shares.
fn interval(every: Duration, source: impl Into<Box<str>>) -> Schedule {
    let value = Interval {
        every,
        source: source.into(),
    };
    Schedule::Interval(INTERVALS.with(|memo| intern(memo, value)))
}

fn schedule(raw: &RawTask) -> Result<Schedule, FieldError> {
    let given: Vec<&str> = [
        raw.interval_seconds.is_some().then_some("interval_seconds"),
        raw.interval.is_some().then_some("interval"),
        raw.cron.is_some().then_some("cron"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() > 1 {
        return err("schedule", format!("set only one of {}", given.join(", ")));
    }
    if let Some(s) = raw.interval_seconds {
        return Ok(interval(Duration::from_secs(s.0), format!("{}s", s.0)));
    }
    if let Some(h) = &raw.interval {
        return Ok(interval(Duration::from_secs(h.seconds), h.source.trim()));
    }
    match &raw.cron {
        Some(c) => Ok(match &c.kind {
            CronKind::Pattern(p) => Schedule::Cron(CRONS.with(|memo| {
                intern(
                    memo,
                    CronPattern {
                        pattern: p.clone(),
                        source: c.source.trim().into(),
                    },
                )
            })),
            CronKind::Reboot => Schedule::Reboot,
        }),
        None => err(
            "schedule",
            "no schedule: set one of interval_seconds, interval, cron",
        ),
    }
}

fn command(task_type: TaskType, entry: Option<EntryPoint>) -> Result<Command, FieldError> {
    const F: &str = "entry_point";
    let Some(entry) = entry else {
        return err(F, "missing: the command to run");
    };
    match (task_type, entry) {
        (TaskType::Shell, EntryPoint::Text(s)) => {
            if s.trim().is_empty() {
                return err(F, "empty command");
            }
            Ok(Command::Shell(s.into_boxed_str()))
        }
        (TaskType::Shell, EntryPoint::List(_)) => err(
            F,
            "a shell task takes a command string; set task_type: exec to run a list [program, args…]",
        ),
        (TaskType::Exec, EntryPoint::List(argv)) => match argv.first() {
            Some(p) if p.trim().is_empty() => err(F, "empty program name"),
            _ => match Argv::new(&argv) {
                Ok(argv) => Ok(Command::Exec(argv)),
                Err(message) => err(F, message),
            },
        },
        (TaskType::Exec, EntryPoint::Text(_)) => err(
            F,
            "an exec task takes a list of strings [program, args…]; set task_type: shell to run a command string",
        ),
        (TaskType::Python, EntryPoint::Text(s)) => python_target(&s),
        (TaskType::Python, EntryPoint::List(_)) => err(F, "a python task takes \"module:function\""),
    }
}

fn python_target(s: &str) -> Result<Command, FieldError> {
    let ident = |p: &str| {
        let mut chars = p.chars();
        matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    };
    match s.split_once(':') {
        Some((module, function)) if module.split('.').all(ident) && ident(function) => {
            Ok(Command::Python(PythonTarget::new(module, function)))
        }
        _ => err(
            "entry_point",
            format!("invalid python target {s:?}: expected \"module.path:function\""),
        ),
    }
}

fn check_user(user: &str, ctx: &Context) -> Result<(), FieldError> {
    if user.is_empty() {
        return err("user", "empty user name");
    }
    if !(ctx.user_exists)(user) {
        return err("user", format!("user {user:?} does not exist"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with<'a>(users: &'a (dyn Fn(&str) -> bool + Sync)) -> Context<'a> {
        Context {
            system_zone: Zone::try_from("UTC".to_owned()).expect("UTC is in every tz database"),
            user_exists: users,
        }
    }

    fn raw(yaml: &str) -> RawTask {
        serde_yaml::from_str(yaml).expect("test input is a well-formed task")
    }

    fn check(yaml: &str) -> Result<Task, FieldError> {
        let users = |u: &str| u == "backup";
        task(raw(yaml), &RawDefaults::default(), &ctx_with(&users))
    }

    #[test]
    fn field_errors_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("task_id: a\nentry_point: x", "schedule", "no schedule"),
            (
                "task_id: a\ninterval_seconds: 5\ncron: '* * * * *'\nentry_point: x",
                "schedule",
                "only one of interval_seconds, cron",
            ),
            ("task_id: a\ninterval_seconds: 5", "entry_point", "missing"),
            (
                "task_id: a\ninterval_seconds: 5\nentry_point: '  '",
                "entry_point",
                "empty command",
            ),
            (
                "task_id: a\ninterval_seconds: 5\nentry_point: [ls]",
                "entry_point",
                "shell task takes a command string",
            ),
            (
                "task_id: a\ninterval_seconds: 5\ntask_type: exec\nentry_point: ls",
                "entry_point",
                "list of strings",
            ),
            (
                "task_id: a\ninterval_seconds: 5\ntask_type: exec\nentry_point: []",
                "entry_point",
                "empty list",
            ),
            (
                "task_id: a\ninterval_seconds: 5\ntask_type: exec\nentry_point: [echo, \"a\\0b\"]",
                "entry_point",
                "NUL byte",
            ),
            (
                "task_id: a\ninterval_seconds: 5\ntask_type: python\nentry_point: 'mod'",
                "entry_point",
                "invalid python target",
            ),
            (
                "task_id: a\ninterval_seconds: 5\ntask_type: python\nentry_point: 'a-b:f'",
                "entry_point",
                "invalid python target",
            ),
            (
                "task_id: a\ninterval_seconds: 5\nentry_point: x\nuser: nobody-here",
                "user",
                "does not exist",
            ),
        ];
        for (yaml, field, msg) in cases {
            let e = check(yaml).expect_err(yaml);
            assert_eq!(e.field, *field, "{yaml}");
            assert!(e.message.contains(msg), "{yaml}: {}", e.message);
        }
    }

    #[test]
    fn an_argv_keeps_every_part_in_order_empty_ones_too() {
        let t = check("task_id: a\ninterval_seconds: 5\ntask_type: exec\nentry_point: [/bin/echo, '', 'a b', '', x]")
            .expect("valid");
        let Command::Exec(argv) = &t.command else {
            panic!("{:?}", t.command);
        };
        assert_eq!(argv.program(), "/bin/echo");
        assert_eq!(argv.args().collect::<Vec<_>>(), ["", "a b", "", "x"]);
        assert_eq!(format!("{argv:?}"), r#"["/bin/echo", "", "a b", "", "x"]"#);
        let one = Argv::new(&["true"]).expect("a program");
        assert_eq!((one.program(), one.args().count()), ("true", 0));
        // Lists that differ only in where a part ends are different lists.
        assert_ne!(Argv::new(&["a", "b"]), Argv::new(&["a b"]));
        assert_ne!(Argv::new(&["a", ""]), Argv::new(&["a"]));
    }

    #[test]
    fn defaults_apply_and_task_keys_win() {
        let d: RawDefaults = serde_yaml::from_str(
            "timezone: Europe/Berlin\ntimeout_seconds: 60\noverlap: queue\ntask_type: exec\nenv: {A: '1', B: '2'}\npriority: 5\nworking_dir: /srv\nuser: backup\njitter_seconds: 9\nkill_grace_seconds: 3",
        )
        .expect("valid defaults");
        let users = |_: &str| true;
        let t = task(
            raw("task_id: a\ninterval: 1h30m\nentry_point: [ls, -l]\npriority: 7\nenv: {B: three}\ntask_name: Listing\nuser: web\nretry_backoff_seconds: 2"),
            &d,
            &ctx_with(&users),
        )
        .expect("valid task");
        assert_eq!(&*t.zone.name, "Europe/Berlin");
        assert_eq!(t.timeout(), Some(Duration::from_secs(60)));
        assert_eq!(t.overlap, crate::config::Overlap::Queue);
        assert_eq!(t.command, Command::Exec(Argv::new(&["ls", "-l"]).unwrap()));
        assert_eq!(t.priority, 7);
        let env: Vec<(&str, &str)> = t.env().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "1"), ("B", "three")]);
        assert_eq!(
            (t.name(), t.user(), t.working_dir()),
            (
                Some("Listing"),
                Some("web"),
                Some(std::path::Path::new("/srv"))
            )
        );
        assert_eq!(
            (t.jitter(), t.kill_grace(), t.retry_backoff()),
            (
                Duration::from_secs(9),
                Duration::from_secs(3),
                Duration::from_secs(2)
            )
        );
        assert_eq!(
            t.schedule,
            Schedule::Interval(
                Interval {
                    every: Duration::from_secs(5400),
                    source: "1h30m".into()
                }
                .into()
            )
        );
    }

    #[test]
    fn seed_defaults() {
        let t =
            check("task_id: a\ninterval_seconds: 60\nentry_point: 'echo hi'").expect("valid task");
        assert!(t.enabled);
        assert_eq!(t.command, Command::Shell("echo hi".into()));
        assert_eq!(t.timeout(), None);
        assert_eq!(t.kill_grace(), DEFAULT_KILL_GRACE);
        assert_eq!(t.retry_backoff(), DEFAULT_RETRY_BACKOFF);
        assert_eq!(
            (t.jitter(), t.name(), t.user(), t.working_dir()),
            (Duration::ZERO, None, None, None)
        );
        assert_eq!(t.env().count(), 0);
        assert_eq!(&*t.zone.name, "UTC");
        assert_eq!(t.retries, 0);
        assert!(t.extra.is_none(), "a task at the defaults keeps no extras");
    }

    #[test]
    fn python_target_parts() {
        let t = check("task_id: a\ninterval_seconds: 5\ntask_type: python\nentry_point: 'reports.daily:build'")
            .expect("valid task");
        let Command::Python(target) = &t.command else {
            panic!("{:?}", t.command);
        };
        assert_eq!(
            (target.module(), target.function()),
            ("reports.daily", "build")
        );
    }
}
