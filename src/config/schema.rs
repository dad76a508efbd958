//! The serde mirror of the task file: every key, as written, nothing resolved.
//!
//! Checks that need only one value (a cron expression, a time zone, a range) live in
//! the newtypes below and run during deserialization, so their errors carry the line
//! and column of that value. Checks that combine fields, or need `defaults`, live in
//! `validate.rs`.
//!
//! The structs stay flat on purpose: `#[serde(flatten)]` and untagged enums lose error
//! locations and defeat `deny_unknown_fields`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Ten years in seconds: the longest interval, timeout, delay or jitter accepted.
pub const MAX_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The fields that a task and the `defaults` block share. Written once and expanded
/// into both structs, so the two can never disagree on a key.
macro_rules! raw_struct {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub task_name: Option<String>,
            pub enabled: Option<bool>,
            pub task_type: Option<TaskType>,
            pub timezone: Option<Zone>,
            pub timeout_seconds: Option<Seconds<1>>,
            pub kill_grace_seconds: Option<Seconds<0>>,
            pub overlap: Option<Overlap>,
            pub retries: Option<u32>,
            pub retry_backoff_seconds: Option<Seconds<1>>,
            pub jitter_seconds: Option<Seconds<0>>,
            pub priority: Option<i32>,
            pub working_dir: Option<AbsolutePath>,
            pub env: Option<BTreeMap<EnvName, String>>,
            pub user: Option<String>,
            pub catch_up: Option<bool>,
        }
    };
}

raw_struct!(
    /// One entry of `tasks` (or of the seed's top-level list).
    RawTask {
        task_id: RawTaskId,
        interval_seconds: Option<Seconds<1>>,
        interval: Option<HumanDuration>,
        cron: Option<CronExpr>,
        entry_point: Option<EntryPoint>,
    }
);

raw_struct!(
    /// The `defaults` block: any task key except the id, the schedule and the command.
    #[derive(Default)]
    RawDefaults {}
);

/// The top level of a mapping-shaped file. `tasks` is only checked for shape here;
/// its entries are read one by one by the loader so that one bad entry cannot hide
/// the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    #[serde(default)]
    pub defaults: Option<RawDefaults>,
    pub max_concurrent: Option<Count>,
    pub shutdown_grace_seconds: Option<Seconds<0>>,
    pub shell: Option<NonEmpty>,
    pub python: Option<NonEmpty>,
    pub history_limit: Option<Count>,
    #[allow(dead_code)] // read for its shape only
    pub tasks: Option<TaskList>,
}

/// How a task's command is run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskType {
    /// `<shell> -c <entry_point>`.
    #[default]
    Shell,
    /// `entry_point` is argv, run without a shell.
    Exec,
    /// `entry_point` is `module:function`, called by the configured interpreter.
    Python,
}

/// What a firing does when the previous run of the same task is still going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Log and drop the firing.
    #[default]
    Skip,
    /// Keep at most one pending run, started when the current one ends.
    Queue,
    /// Start another run beside the current one.
    Allow,
    /// Stop the current run, then start the new one.
    Replace,
}

/// `entry_point` as written: a string, or a list of strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryPoint {
    Text(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for EntryPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = EntryPoint;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EntryPoint, E> {
                Ok(EntryPoint::Text(v.to_owned()))
            }
            // A plain YAML scalar such as `true` or `42` is a valid shell command.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<EntryPoint, E> {
                Ok(EntryPoint::Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EntryPoint, E> {
                Ok(EntryPoint::Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EntryPoint, E> {
                Ok(EntryPoint::Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EntryPoint, A::Error> {
                let mut argv = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    argv.push(arg);
                }
                Ok(EntryPoint::List(argv))
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

/// Implements `Deserialize` through `TryFrom<String>` or `TryFrom<u32>`. The check runs
/// inside the visitor, while the deserializer still stands on the value, so a rejected
/// value is reported at its own line and column.
macro_rules! checked {
    ($ty:ty, String) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        <$ty>::try_from(v.to_owned()).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
    ($ty:ty, u32) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a whole number")
                    }
                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$ty, E> {
                        let n = u32::try_from(n).map_err(|_| {
                            E::custom(format!("must be at most {}, got {n}", u32::MAX))
                        })?;
                        <$ty>::try_from(n).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$ty, E> {
                        match u64::try_from(n) {
                            Ok(n) => self.visit_u64(n),
                            Err(_) => Err(E::custom(format!("must not be negative, got {n}"))),
                        }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// A task id: `[A-Za-z0-9_.-]{1,64}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RawTaskId(pub String);
checked!(RawTaskId, String);

impl TryFrom<String> for RawTaskId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if s.is_empty() || s.len() > 64 || !s.chars().all(ok_char) {
            return Err(format!(
                "invalid task_id {s:?}: use 1 to 64 of the characters A-Z a-z 0-9 _ . -"
            ));
        }
        Ok(RawTaskId(s))
    }
}

/// A whole number of seconds, at least `MIN`, at most ten years.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds<const MIN: u64>(pub u64);

impl<'de, const MIN: u64> Deserialize<'de> for Seconds<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecondsVisitor<const MIN: u64>;
        impl<const MIN: u64> Visitor<'_> for SecondsVisitor<MIN> {
            type Value = Seconds<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number of seconds, at least {MIN}")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Seconds<MIN>, E> {
                if n < MIN {
                    return Err(E::custom(format!("must be at least {MIN}, got {n}")));
                }
                if n > MAX_SECONDS {
                    return Err(E::custom(format!(
                        "must be at most {MAX_SECONDS} (10 years), got {n}"
                    )));
                }
                Ok(Seconds(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Seconds<MIN>, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("must not be negative, got {n}"))),
                }
            }
        }
        d.deserialize_any(SecondsVisitor::<MIN>)
    }
}

/// A positive count (workers, history rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u32);
checked!(Count, u32);

impl TryFrom<u32> for Count {
    type Error = &'static str;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        if n == 0 {
            Err("must be at least 1")
        } else {
            Ok(Count(n))
        }
    }
}

/// A string that is not empty or blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonEmpty(pub String);
checked!(NonEmpty, String);

impl TryFrom<String> for NonEmpty {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.trim().is_empty() {
            Err("must not be empty")
        } else {
            Ok(NonEmpty(s))
        }
    }
}

/// An absolute path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsolutePath(pub PathBuf);
checked!(AbsolutePath, String);

impl TryFrom<String> for AbsolutePath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.starts_with('/') {
            Ok(AbsolutePath(PathBuf::from(s)))
        } else {
            Err(format!("must be an absolute path, got {s:?}"))
        }
    }
}

/// An environment variable name: not empty, no `=`, no NUL.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnvName(pub String);
checked!(EnvName, String);

impl TryFrom<String> for EnvName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.contains(['=', '\0']) {
            Err(format!("invalid environment variable name {s:?}"))
        } else {
            Ok(EnvName(s))
        }
    }
}

/// A human duration such as `90s`, `1h30m` or `2d`: whole seconds, 1 s to 10 years.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HumanDuration {
    pub source: String,
    pub seconds: u64,
}
checked!(HumanDuration, String);

impl TryFrom<String> for HumanDuration {
    type Error = String;
    fn try_from(source: String) -> Result<Self, String> {
        let d = humantime::parse_duration(source.trim())
            .map_err(|e| format!("invalid duration {source:?} ({e}); write e.g. 90s, 1h30m, 2d"))?;
        if d.subsec_nanos() != 0 {
            return Err(format!(
                "duration {source:?} is not a whole number of seconds"
            ));
        }
        let seconds = d.as_secs();
        if seconds == 0 || seconds > MAX_SECONDS {
            return Err(format!(
                "duration {source:?} is out of range: between 1s and 10 years"
            ));
        }
        Ok(HumanDuration { source, seconds })
    }
}

/// An IANA time zone name, looked up in the system's time zone database.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// Shared by the tasks that take the same zone from the defaults or the system.
    pub name: std::sync::Arc<str>,
    pub tz: jiff::tz::TimeZone,
}
checked!(Zone, String);

impl TryFrom<String> for Zone {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        match jiff::tz::TimeZone::get(&name) {
            Ok(tz) => Ok(Zone {
                name: name.into(),
                tz,
            }),
            Err(_) => Err(format!(
                "unknown time zone {name:?} (expected an IANA name such as Europe/Berlin)"
            )),
        }
    }
}

thread_local! {
    /// Patterns parsed during the current load, by text. A parsed pattern is large
    /// (croner keeps a bitfield per field, years included) and slow to build, and task
    /// files repeat the same few patterns, so equal texts read on one thread share one
    /// `Arc` (a file read in pieces on two threads parses each pattern once per thread). The loader
    /// empties this around each load ([`forget_parsed`]), so it never outgrows a file;
    /// the second reader thread takes its copy with it when it ends.
    static PARSED: std::cell::RefCell<std::collections::HashMap<String, Arc<croner::Cron>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Empties the cache of parsed cron patterns (see `PARSED`).
pub fn forget_parsed() {
    PARSED.with(|p| p.borrow_mut().clear());
}

/// What a `cron` key holds once parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CronKind {
    /// A calendar pattern.
    Pattern(Arc<croner::Cron>),
    /// `@reboot`: once when the daemon starts.
    Reboot,
}

/// A cron expression: 5 fields, 6 fields (seconds first) or an @-macro.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    /// The text as written, for logs and listings.
    pub source: String,
    pub kind: CronKind,
}
checked!(CronExpr, String);

impl TryFrom<String> for CronExpr {
    type Error = String;
    fn try_from(source: String) -> Result<Self, String> {
        let text = source.trim();
        let lower = text.to_ascii_lowercase();
        let expanded = match lower.as_str() {
            "@reboot" => {
                return Ok(CronExpr {
                    source,
                    kind: CronKind::Reboot,
                })
            }
            "@midnight" => "0 0 * * *",
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@hourly" => text,
            m if m.starts_with('@') => {
                return Err(format!(
                    "unknown cron macro {text:?} (expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @reboot)"
                ))
            }
            _ => {
                let fields = text.split_whitespace().count();
                if fields != 5 && fields != 6 {
                    return Err(format!(
                        "cron expression {text:?} has {fields} fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"
                    ));
                }
                text
            }
        };
        if let Some(cron) = PARSED.with(|p| p.borrow().get(expanded).cloned()) {
            return Ok(CronExpr {
                source,
                kind: CronKind::Pattern(cron),
            });
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build();
        match parser.parse(expanded) {
            Ok(cron) => {
                let cron = Arc::new(cron);
                PARSED.with(|p| p.borrow_mut().insert(expanded.to_owned(), cron.clone()));
                Ok(CronExpr {
                    source,
                    kind: CronKind::Pattern(cron),
                })
            }
            Err(e) => Err(format!(
                "invalid cron expression {text:?}: {}{}",
                culprit_field(&parser, expanded),
                cron_message(&e)
            )),
        }
    }
}

/// Names the first field that fails on its own (the others set to `*`), so the
/// message can say "minute field "61"" instead of only croner's generic text.
fn culprit_field(parser: &croner::parser::CronParser, expr: &str) -> String {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[&str] = if fields.len() == 6 {
        &[
            "second",
            "minute",
            "hour",
            "day-of-month",
            "month",
            "day-of-week",
        ]
    } else {
        &["minute", "hour", "day-of-month", "month", "day-of-week"]
    };
    if fields.len() != names.len() {
        return String::new();
    }
    for (i, field) in fields.iter().enumerate() {
        let alone: Vec<&str> = (0..fields.len())
            .map(|j| if j == i { *field } else { "*" })
            .collect();
        if parser.parse(&alone.join(" ")).is_err() {
            return format!("{} field {field:?}: ", names[i]);
        }
    }
    String::new()
}

/// croner's messages, without its type names.
fn cron_message(e: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    match e {
        E::EmptyPattern => "empty".to_owned(),
        E::InvalidPattern(m) | E::IllegalCharacters(m) | E::ComponentError(m) => m.clone(),
        other => other.to_string(),
    }
}

impl FromStr for CronExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CronExpr::try_from(s.to_owned())
    }
}

/// The value of `tasks`: checked to be a list (or empty); the entries are skipped.
#[derive(Debug)]
pub struct TaskList;

impl<'de> Deserialize<'de> for TaskList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = TaskList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of tasks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TaskList, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(TaskList)
            }
            fn visit_unit<E: de::Error>(self) -> Result<TaskList, E> {
                Ok(TaskList)
            }
        }
        d.deserialize_seq(ListVisitor)
    }
}
