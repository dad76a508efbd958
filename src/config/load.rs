//! Reading the task file: the only place that touches the file system.
//!
//! # Theory of operation
//!
//! A serde error stops a whole deserialization, yet one bad entry must not hide the
//! others. So the file is read in passes over the original text:
//!
//! 1. The *header* pass reads the top level: a bare list (the seed's format), or a
//!    mapping whose global keys and `defaults` are checked; `tasks` is only checked for
//!    shape. An error here fails the file as a whole.
//! 2. A *tasks* pass walks `tasks` from entry `start` on, skipping earlier entries with
//!    `IgnoredAny`, deserializing and validating each entry inside the deserializer, so
//!    that a rejected entry's error carries its line and column (for a check that spans
//!    fields, the line where the entry starts). The first rejected entry ends the pass;
//!    the next pass starts right after it, and on its way reads just the task_id of the
//!    rejected entry so the error can name it.
//!
//! Before them, `single_pass` tries the common case, a good file, in one pass; a YAML
//! file of 64 KiB and more is first tried in pieces on two threads (`in_pieces`, at
//! the cuts `split` proposes and under the checks `in_pieces` adds). A file with E bad
//! entries is parsed E + 3 times, after the try in pieces when it was large.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_path_to_error::{Segment, Track};

use crate::config::error::{FileError, FileErrorKind, Position, TaskError};
use crate::config::schema::{self, RawDefaults, RawHeader, RawTask};
use crate::config::split;
use crate::config::validate::{self, Context};
use crate::config::{Config, Task, TaskId};
use crate::io_message;

/// Files larger than this are refused whole.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The syntax a file is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// `.json` files are JSON; everything else is YAML.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// A file that could be used: its valid tasks, and the entries that were rejected.
#[derive(Debug)]
pub struct Loaded {
    /// The settings and valid tasks (`tasks` stays empty when only counting).
    pub config: Config,
    pub errors: Vec<TaskError>,
    /// Valid tasks, and how many of them are disabled.
    pub valid: usize,
    pub disabled: usize,
    /// Hash of the file's bytes, to tell a real change from a touch.
    pub content_hash: u64,
}

/// Reads and checks the task file at `path`.
pub fn load_file(path: &Path, ctx: &Context) -> Result<Loaded, FileError> {
    let label = path.display().to_string();
    let text = read_text(path, &label)?;
    parse_text(&label, &text, Format::of(path), ctx)
}

/// Checks the task file at `path` without keeping its tasks, only counting them, so
/// checking a large file needs little more memory than parsing it.
pub fn check_file(path: &Path, ctx: &Context) -> Result<Loaded, FileError> {
    let label = path.display().to_string();
    let text = read_text(path, &label)?;
    forget_memos();
    let result = parse_passes(&label, &text, Format::of(path), ctx, false);
    forget_memos();
    result
}

/// Reads a file as UTF-8 text with the size and type checks of a task file.
pub fn read_text(path: &Path, label: &str) -> Result<String, FileError> {
    let unreadable = |msg: String| FileError::new(label, FileErrorKind::Unreadable, msg);
    let meta = std::fs::metadata(path)
        .map_err(|e| unreadable(format!("cannot read: {}", io_message(&e))))?;
    if meta.is_dir() {
        return Err(unreadable("is a directory, not a task file".into()));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| unreadable(format!("cannot open: {}", io_message(&e))))?;
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE_BYTES) as usize);
    // Read one byte past the limit, so a file that grows while read is still caught.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(format!("cannot read: {}", io_message(&e))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "larger than the 16 MiB limit ({} bytes)",
            meta.len()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        unreadable(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The rule cron and sshd's StrictModes apply when the daemon runs as root: the task
/// file and the directory holding it must be owned by root and not writable by group
/// or others, since whoever can change the file runs commands as root.
pub fn check_ownership(path: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::MetadataExt;
    let label = path.display().to_string();
    // A missing file is reported by the read that follows.
    let Ok(real) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let dir = real.parent().unwrap_or(Path::new("/")).to_path_buf();
    for (what, p) in [("the task file", &real), ("its directory", &dir)] {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        let unsafe_err = |why: String| FileError::new(&label, FileErrorKind::Unsafe, why);
        if meta.uid() != 0 {
            return Err(unsafe_err(format!(
                "refused: {what} {} is owned by uid {}, not root, and the daemon runs as root",
                p.display(),
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(unsafe_err(format!(
                "refused: {what} {} is writable by group or others (mode {:o}) and the daemon runs as root; run chmod go-w",
                p.display(),
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// Parses and checks task-file text. `label` names the file in messages.
pub fn parse_text(
    label: &str,
    text: &str,
    format: Format,
    ctx: &Context,
) -> Result<Loaded, FileError> {
    forget_memos();
    let result = parse_passes(label, text, format, ctx, true);
    forget_memos();
    result
}

/// Empties what one load remembers to share between its tasks (parsed cron patterns,
/// extras), so nothing outlives the file it came from.
fn forget_memos() {
    schema::forget_parsed();
    validate::forget_shared();
}

/// The passes over the text (see the module docs). With `keep` false, valid tasks are
/// counted, not kept.
fn parse_passes(
    label: &str,
    text: &str,
    format: Format,
    ctx: &Context,
    keep: bool,
) -> Result<Loaded, FileError> {
    let content_hash = content_hash(text);
    if text.trim().is_empty() {
        return Err(FileError::new(
            label,
            FileErrorKind::Unreadable,
            "file is empty",
        ));
    }
    let pieces = || match format {
        Format::Yaml if text.len() >= SPLIT_MIN_BYTES => in_pieces(text, ctx, keep),
        _ => None,
    };
    if let Some((config, valid, disabled)) =
        pieces().or_else(|| single_pass(text, format, ctx, keep))
    {
        return Ok(Loaded {
            config,
            errors: Vec::new(),
            valid,
            disabled,
            content_hash,
        });
    }
    let file_err = |e: RawError, kind: FileErrorKind| FileError {
        file: label.to_owned(),
        position: e.position,
        // A syntax error is about the text, not about a field.
        message: if kind == FileErrorKind::Syntax {
            e.message
        } else {
            e.located_message()
        },
        kind,
    };
    let header = match run_pass(text, format, HeaderSeed) {
        Ok(h) => h,
        Err(e) => {
            // The YAML parser reports malformed text while values are being visited, so
            // a failed header pass is told apart by a pass that only checks the syntax.
            let syntax = match format {
                Format::Yaml => run_pass(text, format, SyntaxSeed).err(),
                Format::Json => None,
            };
            return Err(match syntax {
                Some(s) => file_err(s, FileErrorKind::Syntax),
                // A document of the wrong shape (a scalar at the top) is a syntax error too.
                None if e.path.is_empty() || (e.is_syntax && format == Format::Json) => {
                    file_err(e, FileErrorKind::Syntax)
                }
                None => file_err(e, FileErrorKind::Invalid),
            });
        }
    };
    let (mut config, defaults, is_list) = match header {
        Header::Empty => {
            return Err(FileError::new(
                label,
                FileErrorKind::Unreadable,
                "file is empty (it holds only comments)",
            ))
        }
        Header::List => (validate::seed_header(), RawDefaults::default(), true),
        Header::Map(raw) => {
            let (config, defaults) = validate::header(*raw, ctx).map_err(|e| FileError {
                file: label.to_owned(),
                kind: FileErrorKind::Invalid,
                position: None,
                message: format!("field `{}`: {}", e.field, e.message),
            })?;
            (config, defaults, false)
        }
    };

    let mut walk = Walk::new(defaults, ctx, is_list, keep);
    let mut errors: Vec<TaskError> = Vec::new();
    loop {
        let outcome = run_pass(text, format, TopSeed(&mut walk));
        // The id of the entry that failed in the previous pass, read on this pass's way.
        if let (Some(last), Some(id)) = (errors.last_mut(), walk.probed_id.take()) {
            last.task_id.get_or_insert(id);
        }
        let e = match outcome {
            Ok(()) => break,
            Err(e) => e,
        };
        let Some(index) = walk.cursor.take() else {
            // Not inside an entry being checked: the file itself is broken.
            return Err(file_err(e, FileErrorKind::Syntax));
        };
        let field = walk
            .failed_field
            .take()
            .map(str::to_owned)
            .or_else(|| e.field_below_entry());
        errors.push(TaskError {
            file: label.to_owned(),
            position: e.position,
            index,
            task_id: walk.failed_id.take(),
            field,
            message: e.message,
        });
        walk.start = index + 1;
        walk.probe = Some(index);
    }
    config.tasks = walk.tasks;
    let (valid, disabled) = (walk.valid, walk.disabled);
    Ok(Loaded {
        config,
        errors,
        valid,
        disabled,
        content_hash,
    })
}

/// A hash of the file's text, to tell a real change from a touch: each 8-byte word
/// goes through a step that is one-to-one in the running hash and in the word, so two
/// texts of the same length that differ in one word always hash apart. Cheaper than
/// SipHash by far (a 1.3 MB file in a fraction of a millisecond); nothing here needs a
/// keyed hash.
fn content_hash(text: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, w: u64| (h.rotate_left(23) ^ w).wrapping_mul(K);
    let bytes = text.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let mut h = step(0, bytes.len() as u64);
    for c in &mut chunks {
        // chunks_exact yields slices of exactly 8 bytes.
        h = step(h, u64::from_le_bytes(c.try_into().unwrap_or_default()));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    step(h, u64::from_le_bytes(tail))
}

/// Files at least this large are read in pieces on two threads (`in_pieces`).
const SPLIT_MIN_BYTES: usize = 64 * 1024;
/// About how much text a piece holds. The parser keeps a whole piece's events in
/// memory, many times its text: read whole, a 1.3 MB file of 10,000 tasks took the
/// daemon's peak resident size to 30 MB; in pieces of this size, to 18 MB, with a
/// shorter start-up (35 against 38 ms), as small buffers stay in the cache. Pieces of
/// 8 KiB rather than 16 take 0.1 MB off the peak for about 1 ms of start-up.
const PIECE_BYTES: usize = 8 * 1024;

/// What a good file's one-pass read found.
struct OnePass {
    config: Config,
    valid: usize,
    disabled: usize,
    /// When tasks are only counted: every task_id read, duplicates included (see
    /// [`Walk::ids`]).
    ids: Vec<TaskId>,
}

/// The common case in one pass: a well-formed file whose every entry is valid and
/// whose `defaults` (if any) come before `tasks`. Anything else returns None, and the
/// passes of the module docs run instead, which find and place every error.
fn single_pass(
    text: &str,
    format: Format,
    ctx: &Context,
    keep: bool,
) -> Option<(Config, usize, usize)> {
    one_pass(text, format, ctx, keep)?.finish()
}

/// One pass over `text` that collects ids rather than checking them: a file whose
/// every entry is valid still fails the common case when [`OnePass::finish`] finds an
/// id twice.
fn one_pass(text: &str, format: Format, ctx: &Context, keep: bool) -> Option<OnePass> {
    let mut walk = Walk::new(RawDefaults::default(), ctx, false, keep);
    walk.ids = Some(Vec::new());
    // Any error sends the caller to the passes that place it, so this one needs no path.
    let header = match format {
        Format::Yaml => SingleSeed(&mut walk)
            .deserialize(serde_yaml::Deserializer::from_str(text))
            .ok()?,
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let header = SingleSeed(&mut walk).deserialize(&mut de).ok()?;
            de.end().ok()?;
            header
        }
    };
    let mut config = match header {
        None => validate::seed_header(),
        Some(raw) => validate::header(*raw, ctx).ok()?.0,
    };
    config.tasks = walk.tasks;
    Some(OnePass {
        config,
        valid: walk.valid,
        disabled: walk.disabled,
        ids: walk.ids.unwrap_or_default(),
    })
}

/// `single_pass` for a large YAML file in pieces on two threads: the file is cut where
/// [`split::cut`] says it can be, into pieces of about [`PIECE_BYTES`] (at least two),
/// and read by [`read_pieces`]. Every piece repeats the file's head, so every piece but
/// the last holds at least four times the head's text.
fn in_pieces(text: &str, ctx: &Context, keep: bool) -> Option<(Config, usize, usize)> {
    read_pieces(text, &plan_pieces(text)?, ctx, keep)
}

/// The cuts [`in_pieces`] reads at.
fn plan_pieces(text: &str) -> Option<split::Pieces> {
    let bytes = text.len() / text.len().div_ceil(PIECE_BYTES).max(2);
    let pieces = split::cut(text, bytes)?;
    if pieces.head_end * 4 > bytes {
        return split::cut(text, pieces.head_end * 4);
    }
    Some(pieces)
}

/// Reads the `pieces` of `text`, each as a whole file: the first half of them on this
/// thread and the second half on another, one piece after the other, so the parser's
/// buffers stay those of one piece. The tasks follow in file order. None when the
/// file's head does not read on its own, when the second thread cannot start, when any
/// piece fails, or when an id appears twice; the caller then reads the file whole, and
/// the outcome is the same as if it had from the start.
fn read_pieces(
    text: &str,
    pieces: &split::Pieces,
    ctx: &Context,
    keep: bool,
) -> Option<(Config, usize, usize)> {
    // The head must read on its own: a `tasks:` line that `cut` took for the key may
    // lie inside a quoted string that the head leaves open.
    if pieces.head_end > 0 && one_pass(&text[..pieces.head_end], Format::Yaml, ctx, false).is_none()
    {
        return None;
    }
    let half = pieces.count().div_ceil(2);
    let read = |range: std::ops::Range<usize>| -> Option<Vec<OnePass>> {
        range
            .map(|i| one_pass(&pieces.piece(text, i), Format::Yaml, ctx, keep))
            .collect()
    };
    let (first, second) = std::thread::scope(|s| {
        let reader = std::thread::Builder::new()
            .name("load".into())
            .spawn_scoped(s, || read(half..pieces.count()))
            .ok()?;
        let first = read(0..half);
        Some((first?, reader.join().ok()??))
    })?;
    OnePass::concat(first.into_iter().chain(second).collect())?.finish()
}

impl OnePass {
    /// The reads of consecutive pieces as one, its lists allocated once at their
    /// length: grown piece by piece, they would take up to twice that, and this is the
    /// moment the file's text and all its tasks are held at once.
    fn concat(parts: Vec<OnePass>) -> Option<OnePass> {
        let tasks: usize = parts.iter().map(|p| p.config.tasks.len()).sum();
        let ids: usize = parts.iter().map(|p| p.ids.len()).sum();
        let mut parts = parts.into_iter();
        let mut whole = parts.next()?;
        whole
            .config
            .tasks
            .reserve_exact(tasks - whole.config.tasks.len());
        whole.ids.reserve_exact(ids - whole.ids.len());
        for part in parts {
            whole.append(part);
        }
        Some(whole)
    }

    /// Appends the read of the pieces that follow.
    fn append(&mut self, next: OnePass) {
        self.ids.extend(next.ids);
        self.config.tasks.extend(next.config.tasks);
        self.valid += next.valid;
        self.disabled += next.disabled;
    }

    /// The file's settings and counts; None when an id was read twice. Kept tasks are
    /// checked by sorting their positions (4 bytes a task, where a table of ids takes
    /// about 40, and 80 while it grows): this is the moment the daemon holds the file's
    /// text and all its tasks at once.
    fn finish(mut self) -> Option<(Config, usize, usize)> {
        let tasks = &self.config.tasks;
        let twice = if tasks.is_empty() {
            self.ids.sort_unstable();
            self.ids.windows(2).any(|w| w[0] == w[1])
        } else {
            // A task file holds at most 16 MiB, so far fewer than 2^32 tasks.
            let mut order: Vec<u32> = (0..tasks.len()).map(|i| i as u32).collect();
            let id = |i: u32| &*tasks[i as usize].id;
            order.sort_unstable_by(|&a, &b| id(a).cmp(id(b)));
            order.windows(2).any(|w| id(w[0]) == id(w[1]))
        };
        (!twice).then_some((self.config, self.valid, self.disabled))
    }
}

/// The top level in one pass: global keys, `defaults`, then `tasks` entry by entry.
/// Fails (for the caller to fall back) on anything unusual.
struct SingleSeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for SingleSeed<'_, '_> {
    type Value = Option<Box<RawHeader>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SingleSeed<'_, '_> {
    type Value = Option<Box<RawHeader>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of tasks, or a mapping with a `tasks` list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.is_list = true;
        TasksSeed(self.0).visit_seq(seq)?;
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let walk = self.0;
        let mut h = RawHeader {
            defaults: None,
            max_concurrent: None,
            shutdown_grace_seconds: None,
            shell: None,
            python: None,
            history_limit: None,
            tasks: None,
        };
        let mut keys: Vec<String> = Vec::new();
        let fallback = || de::Error::custom("not the common case");
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                return Err(fallback());
            }
            match key.as_str() {
                "defaults" if !keys.iter().any(|k| k == "tasks") => {
                    let d: Option<RawDefaults> = map.next_value()?;
                    walk.defaults = d.clone().unwrap_or_default();
                    h.defaults = d;
                }
                "max_concurrent" => h.max_concurrent = map.next_value()?,
                "shutdown_grace_seconds" => h.shutdown_grace_seconds = map.next_value()?,
                "shell" => h.shell = map.next_value()?,
                "python" => h.python = map.next_value()?,
                "history_limit" => h.history_limit = map.next_value()?,
                "tasks" => map.next_value_seed(TasksSeed(&mut *walk))?,
                _ => return Err(fallback()),
            }
            keys.push(key);
        }
        Ok(Some(Box::new(h)))
    }
}

/// A deserialization error, taken apart.
struct RawError {
    position: Option<Position>,
    path: Vec<Segment>,
    message: String,
    is_syntax: bool,
}

impl RawError {
    /// The path below `tasks[i]` (`cron`, `env.FOO`), when the error lies there.
    fn field_below_entry(&self) -> Option<String> {
        let mut segs = self.path.iter().peekable();
        if matches!(segs.peek(), Some(Segment::Map { key }) if key == "tasks") {
            segs.next();
        }
        if !matches!(segs.next(), Some(Segment::Seq { .. })) {
            return None;
        }
        let rest: Vec<String> = segs
            .filter_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        (!rest.is_empty()).then(|| rest.join("."))
    }

    /// The message with the path in front, for errors outside task entries.
    fn located_message(&self) -> String {
        let path: Vec<String> = self
            .path
            .iter()
            .filter_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                Segment::Seq { index } => Some(format!("[{index}]")),
                _ => None,
            })
            .collect();
        if path.is_empty() {
            self.message.clone()
        } else {
            format!(
                "field `{}`: {}",
                path.join(".").replace(".[", "["),
                self.message
            )
        }
    }
}

/// Runs one deserialization pass over the text with path tracking.
fn run_pass<S, T>(text: &str, format: Format, seed: S) -> Result<T, RawError>
where
    S: for<'de> DeserializeSeed<'de, Value = T>,
{
    let mut track = Track::new();
    match format {
        Format::Yaml => {
            let de = serde_yaml::Deserializer::from_str(text);
            let result = seed.deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
            result.map_err(|e| {
                let path: Vec<Segment> = track.path().iter().cloned().collect();
                let position = e.location().map(|l| Position {
                    line: l.line(),
                    column: l.column(),
                });
                // Errors from the YAML parser itself arise before any value is visited.
                let is_syntax = path.is_empty();
                RawError {
                    position,
                    message: strip_yaml_path(&strip_position_suffix(&e.to_string()), &path),
                    path,
                    is_syntax,
                }
            })
        }
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let result = seed
                .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
                .and_then(|v| de.end().map(|()| v));
            result.map_err(|e| {
                let path: Vec<Segment> = track.path().iter().cloned().collect();
                RawError {
                    position: (e.line() > 0).then(|| Position {
                        line: e.line(),
                        column: e.column(),
                    }),
                    message: strip_position_suffix(&e.to_string()),
                    is_syntax: !e.is_data(),
                    path,
                }
            })
        }
    }
}

/// Removes the first " at line N column M" of a message (the position is printed in
/// front instead), and serde_yaml's own path prefix.
fn strip_position_suffix(msg: &str) -> String {
    let Some(at) = msg.find(" at line ") else {
        return msg.to_owned();
    };
    let rest = &msg[at + " at line ".len()..];
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = digits(rest);
    let after_line = &rest[n..];
    let end = match after_line.strip_prefix(" column ") {
        Some(col) => n + " column ".len() + digits(col),
        None => n,
    };
    format!("{}{}", &msg[..at], &rest[end..])
}

/// Removes serde_yaml's own path prefix (`tasks[3].cron: `); the path is reported
/// separately.
fn strip_yaml_path(msg: &str, path: &[Segment]) -> String {
    let mut p = String::new();
    for seg in path {
        match seg {
            Segment::Map { key } => {
                if !p.is_empty() {
                    p.push('.');
                }
                p.push_str(key);
            }
            Segment::Seq { index } => p.push_str(&format!("[{index}]")),
            _ => {}
        }
    }
    // The error may come from a level above or below the tracked path; try each prefix.
    let mut candidate = p.as_str();
    loop {
        if let Some(rest) = msg
            .strip_prefix(candidate)
            .and_then(|r| r.strip_prefix(": "))
        {
            if !candidate.is_empty() {
                return rest.to_owned();
            }
        }
        match candidate.rfind(['.', '[']) {
            Some(i) if i > 0 => candidate = &candidate[..i],
            _ => return msg.to_owned(),
        }
    }
}

/// Walks the whole document, checking only that it is well-formed.
struct SyntaxSeed;

impl<'de> DeserializeSeed<'de> for SyntaxSeed {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        IgnoredAny::deserialize(d).map(drop)
    }
}

/// What the header pass found.
enum Header {
    /// Only comments, or an explicit null.
    Empty,
    List,
    Map(Box<RawHeader>),
}

struct HeaderSeed;

impl<'de> DeserializeSeed<'de> for HeaderSeed {
    type Value = Header;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_any(HeaderSeed)
    }
}

impl<'de> Visitor<'de> for HeaderSeed {
    type Value = Header;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of tasks, or a mapping with a `tasks` list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Header, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Header::List)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Header, E> {
        Ok(Header::Empty)
    }
    fn visit_none<E: de::Error>(self) -> Result<Header, E> {
        Ok(Header::Empty)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Header, A::Error> {
        RawHeader::deserialize(MapAccessDeserializer::new(map)).map(|h| Header::Map(Box::new(h)))
    }
}

/// State carried across the tasks passes.
struct Walk<'a> {
    defaults: RawDefaults,
    ctx: &'a Context<'a>,
    is_list: bool,
    /// Entries before this index were handled by earlier passes.
    start: usize,
    /// The entry being checked, while one is.
    cursor: Option<usize>,
    /// An entry rejected by the previous pass, whose task_id this pass reads.
    probe: Option<usize>,
    probed_id: Option<String>,
    /// Set when validation (not serde) rejects an entry.
    failed_id: Option<String>,
    failed_field: Option<&'static str>,
    tasks: Vec<std::sync::Arc<Task>>,
    /// Keep valid tasks in `tasks`; otherwise only count them.
    keep: bool,
    valid: usize,
    disabled: usize,
    /// task_id to the index of its first definition.
    seen: HashMap<TaskId, usize>,
    /// Set in the one-pass read of the common case ([`one_pass`]), where `seen` stays
    /// empty: duplicates are found once, at the end ([`OnePass::finish`]), among the
    /// kept tasks or, when tasks are only counted, among the ids gathered here.
    ids: Option<Vec<TaskId>>,
}

impl<'a> Walk<'a> {
    /// A walk from the first entry, with nothing seen yet.
    fn new(defaults: RawDefaults, ctx: &'a Context<'a>, is_list: bool, keep: bool) -> Self {
        Walk {
            defaults,
            ctx,
            is_list,
            start: 0,
            cursor: None,
            probe: None,
            probed_id: None,
            failed_id: None,
            failed_field: None,
            tasks: Vec::new(),
            keep,
            valid: 0,
            disabled: 0,
            seen: HashMap::new(),
            ids: None,
        }
    }
}

/// Finds the task list: the document itself, or the value of `tasks`.
struct TopSeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_list {
            d.deserialize_seq(TasksSeed(self.0))
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping with a `tasks` list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "tasks" {
                map.next_value_seed(TasksSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct TasksSeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for TasksSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TasksSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of tasks")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let walk = self.0;
        let mut index = 0;
        loop {
            if index < walk.start {
                let more = if walk.probe == Some(index) {
                    seq.next_element_seed(IdProbe { entry: true })?
                        .map(|id| walk.probed_id = id)
                } else {
                    seq.next_element::<IgnoredAny>()?.map(drop)
                };
                if more.is_none() {
                    return Ok(());
                }
            } else {
                walk.cursor = Some(index);
                if seq.next_element_seed(TaskSeed(&mut *walk))?.is_none() {
                    walk.cursor = None;
                    return Ok(());
                }
                walk.cursor = None;
            }
            index += 1;
        }
    }
}

/// Reads and checks one entry.
struct TaskSeed<'w, 'a>(&'w mut Walk<'a>);

impl<'de> DeserializeSeed<'de> for TaskSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TaskSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a task (a mapping with task_id, a schedule and entry_point)")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let walk = self.0;
        let raw = RawTask::deserialize(MapAccessDeserializer::new(map))?;
        let id = raw.task_id.0.clone();
        let index = walk.cursor.unwrap_or_default();
        // Errors returned from here, inside the entry's map, are placed by the YAML
        // deserializer at the line where the entry starts.
        if let Some(first) = walk.seen.get(id.as_str()) {
            walk.failed_id = Some(id.clone());
            walk.failed_field = Some("task_id");
            return Err(de::Error::custom(format!(
                "duplicate task_id {id:?}: first defined by task #{}, which stands",
                first + 1
            )));
        }
        match validate::task(raw, &walk.defaults, walk.ctx) {
            Ok(task) => {
                // The task's own id, shared with it.
                match &mut walk.ids {
                    Some(ids) if !walk.keep => ids.push(task.id.clone()),
                    Some(_) => {}
                    None => drop(walk.seen.insert(task.id.clone(), index)),
                }
                walk.valid += 1;
                walk.disabled += usize::from(!task.enabled);
                if walk.keep {
                    walk.tasks.push(std::sync::Arc::new(task));
                }
                Ok(())
            }
            Err(e) => {
                walk.failed_id = Some(id);
                walk.failed_field = Some(e.field);
                Err(de::Error::custom(e.message))
            }
        }
    }
}

/// Reads just the task_id of an entry, accepting anything. As the entry itself
/// (`entry: true`) it yields the string value of its `task_id` key; an entry that is not
/// a mapping has no id. As a key or value inside it, it yields the string, if it is one.
#[derive(Clone, Copy)]
struct IdProbe {
    entry: bool,
}

impl<'de> DeserializeSeed<'de> for IdProbe {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IdProbe {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        let inner = IdProbe { entry: false };
        let mut id = None;
        while let Some(key) = map.next_key_seed(inner)? {
            if self.entry && key.as_deref() == Some("task_id") {
                id = map.next_value_seed(inner)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(id)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<String>, E> {
        Ok((!self.entry).then(|| v.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Zone;

    fn ctx() -> Context<'static> {
        Context {
            system_zone: Zone::try_from("UTC".to_owned()).expect("UTC is in every tz database"),
            user_exists: &|_| true,
        }
    }

    /// Entries of every shape a file may hold, several with lines that look like list
    /// entries deeper inside them.
    fn entry(i: usize) -> String {
        entry_shaped(i, i)
    }

    /// Entry `i` (id `t{i}`) in one of six shapes.
    fn entry_shaped(shape: usize, i: usize) -> String {
        match shape % 6 {
            0 => format!("  - task_id: t{i}\n    cron: \"*/5 * * * *\"\n    entry_point: echo {i}\n"),
            1 => format!(
                "  - task_id: t{i}\n    interval_seconds: {}\n    task_type: exec\n    entry_point:\n    - /bin/echo\n    - '- {i}'\n",
                i + 1
            ),
            2 => format!(
                "  # entry {i}\n  - task_id: t{i}\n    interval: 1h\n    entry_point: |\n      echo start\n      - not an entry\n    env: {{ A: \"1\", B: x }}\n\n"
            ),
            3 => format!(
                "  - task_id: t{i}\n    cron: \"0 3 * * *\"\n    timezone: Europe/Berlin\n    entry_point: >\n      echo folded\n      line\n    retries: 2\n    enabled: false\n"
            ),
            4 => format!(
                "  -   task_id: t{i}\n      interval_seconds: 60\n      entry_point: \"echo a\n        b\"\n      overlap: queue\n"
            ),
            _ => format!("  - {{task_id: t{i}, interval_seconds: 30, entry_point: date}}\n"),
        }
    }

    fn file(head: &str, n: usize) -> String {
        let mut text = head.to_owned();
        for i in 0..n {
            text.push_str(&entry(i));
        }
        text
    }

    /// The read in pieces and the one-pass read of the same text agree in everything,
    /// whether every entry is a piece, or the file is cut in two, three or five.
    fn assert_same(text: &str) {
        for bytes in [1, text.len() / 5, text.len() / 3, text.len() / 2] {
            assert_same_in_pieces(text, bytes);
        }
    }

    /// `text` read in pieces cut every `bytes` or more.
    fn in_pieces_of(text: &str, ctx: &Context, bytes: usize) -> Option<(Config, usize, usize)> {
        read_pieces(text, &split::cut(text, bytes)?, ctx, true)
    }

    fn assert_same_in_pieces(text: &str, bytes: usize) {
        let ctx = ctx();
        let (two, valid2, disabled2) = in_pieces_of(text, &ctx, bytes).expect("the file is cut");
        let (one, valid1, disabled1) =
            single_pass(text, Format::Yaml, &ctx, true).expect("a good file");
        assert_eq!(two.tasks, one.tasks);
        assert_eq!(
            (
                two.max_concurrent,
                two.shutdown_grace,
                &two.shell,
                &two.python,
                two.history_limit
            ),
            (
                one.max_concurrent,
                one.shutdown_grace,
                &one.shell,
                &one.python,
                one.history_limit
            )
        );
        assert_eq!((valid2, disabled2), (valid1, disabled1));
        assert_eq!(valid1, one.tasks.len());
    }

    #[test]
    fn pieces_read_what_one_pass_reads() {
        let head = "max_concurrent: 7\nshell: /bin/bash\ndefaults:\n  timeout_seconds: 30\n  env:\n    GREETING: hi\n\ntasks:   # all of them\n";
        for n in [2, 3, 7, 60] {
            assert_same(&file(head, n));
        }
        // A bare list, a list at the margin, CRLF line ends.
        let bare: String = (0..40)
            .map(|i| entry(i).replace("\n  ", "\n").trim_start().to_owned())
            .collect();
        assert_same(&format!("# a list\n{bare}"));
        assert_same(&format!("tasks:\n{bare}"));
        assert_same(&file(head, 30).replace('\n', "\r\n"));
    }

    /// Pieces a task list is built from, at the list's indentation of two spaces: the
    /// six shapes of `entry`, and the unusual: lines that look like entries inside
    /// quoted strings or a bracketed list, an anchor and its alias, an alias to the
    /// head, an id that may repeat, comments, anchor names given again (the head's
    /// among them), ampersands in a command, a lone CR, a quote
    /// left open.
    fn piece(kind: u8, i: usize) -> String {
        match kind {
            6 => format!("  - task_id: q{i}\n    interval_seconds: 5\n    entry_point: \"echo\n  - task_id: fake{i}\n    x\"\n"),
            7 => format!("  - task_id: s{i}\n    interval_seconds: 5\n    entry_point: 'echo\n  - it'\n"),
            8 => format!("  - task_id: f{i}\n    task_type: exec\n    interval_seconds: 5\n    entry_point: [/bin/echo,\n  - x]\n"),
            9 => format!("  - task_id: a{i}\n    interval_seconds: 5\n    entry_point: &cmd{i} echo {i}\n  - task_id: b{i}\n    interval_seconds: 5\n    entry_point: *cmd{i}\n"),
            10 => "  - task_id: same\n    interval_seconds: 5\n    entry_point: x\n".to_owned(),
            11 => "  # a comment\n\n#   at the margin\n".to_owned(),
            12 => format!("  - task_id: h{i}\n    interval_seconds: 5\n    entry_point: *sh\n"),
            13 => format!("  - task_id: r{i}\n    interval_seconds: 5\n    entry_point: &r{} echo {i}\n", i % 2),
            14 => format!("  - task_id: u{i}\n    interval_seconds: 5\n    entry_point: *r{}\n", i % 2),
            15 => format!("  - task_id: x{i}\n    interval_seconds: 5\n    entry_point: &sh echo {i}\n"),
            16 => format!("  - task_id: m{i}\n    interval_seconds: 5\n    entry_point: make && make install &>/dev/null\n"),
            17 => format!("  - task_id: c{i}\n    interval_seconds: 5\n    entry_point: x\ry\n"),
            18 => format!("  - task_id: o{i}\n    interval_seconds: 5\n    entry_point: echo \"\n"),
            19 => format!("  - task_id: p{i}\n    interval_seconds: 5\n    entry_point: echo '\n"),
            _ => entry_shaped(usize::from(kind), i),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        /// Whenever the read in pieces succeeds, the file read whole gives the same.
        #[test]
        fn a_file_read_in_pieces_reads_as_the_whole(
            bytes in 1usize..600,
            head in 0usize..4,
            kinds in proptest::collection::vec(0u8..80, 2..40),
            crlf in proptest::bool::ANY,
            after in proptest::bool::ANY,
        ) {
            // Heads: plain; a top-level mapping indented by one space whose first
            // `tasks:` line at the margin lies inside a quoted string (the list that
            // follows is the string's, up to a quote in a later entry).
            let mut text = [
                "shell: &sh /bin/sh\ntasks:\n",
                "shell: &sh /bin/sh\ndefaults: {timeout_seconds: 9}\ntasks: # the list\n",
                " shell: \"/bin/sh\ntasks:\n  - x\"\n tasks:\n",
                " shell: '/bin/sh\ntasks:\n  - x'\n tasks:\n",
            ][head]
                .to_owned();
            for (i, k) in kinds.iter().enumerate() {
                text.push_str(&piece(*k, i));
            }
            if after {
                text.push_str("max_concurrent: 3\n");
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            let ctx = ctx();
            if let Some((two, valid2, disabled2)) = in_pieces_of(&text, &ctx, bytes) {
                let one = single_pass(&text, Format::Yaml, &ctx, true);
                let (one, valid1, disabled1) = one.expect("a file read in pieces reads whole");
                proptest::prop_assert_eq!(&two.tasks, &one.tasks);
                proptest::prop_assert_eq!((valid2, disabled2), (valid1, disabled1));
                proptest::prop_assert_eq!(settings(&two), settings(&one));
                proptest::prop_assert!(!after, "a key after the list is never cut");
            }
        }

        /// A good file of the usual shapes, cut every `bytes`, reads in pieces, and as
        /// the whole.
        #[test]
        fn a_good_file_reads_in_pieces_as_the_whole(
            bytes in 1usize..2000,
            head in 0usize..2,
            shapes in proptest::collection::vec(0usize..6, 2..60),
            crlf in proptest::bool::ANY,
        ) {
            let mut text = [
                "shell: &sh /bin/sh\npython: python3\nhistory_limit: 7\ntasks:\n",
                "# a bare list\n",
            ][head]
                .to_owned();
            for (i, shape) in shapes.iter().enumerate() {
                let entry = entry_shaped(*shape, i);
                text.push_str(&if head == 1 { entry.replace("\n  ", "\n").trim_start().to_owned() } else { entry });
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            let ctx = ctx();
            let (one, valid1, disabled1) =
                single_pass(&text, Format::Yaml, &ctx, true).expect("a good file");
            match in_pieces_of(&text, &ctx, bytes) {
                Some((two, valid2, disabled2)) => {
                    proptest::prop_assert_eq!(&two.tasks, &one.tasks);
                    proptest::prop_assert_eq!((valid2, disabled2), (valid1, disabled1));
                    proptest::prop_assert_eq!(settings(&two), settings(&one));
                }
                // No cut: no entry but the first lies `bytes` from the start.
                None => proptest::prop_assert!(split::cut(&text, bytes).is_none()),
            }
        }
    }

    /// The global settings of a read, to compare two reads.
    fn settings(c: &Config) -> (u32, std::time::Duration, &str, &str, u32) {
        (
            c.max_concurrent,
            c.shutdown_grace,
            &c.shell,
            &c.python,
            c.history_limit,
        )
    }

    /// `n` entries of three lines each, `f0`…: entry i starts on line 2 + 3i of a file
    /// that begins with `tasks:`.
    fn filler(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "  - task_id: f{i}\n    interval_seconds: {}\n    entry_point: echo {i}\n",
                    i + 1
                )
            })
            .collect()
    }

    /// Through the loader's entry point, a large good file reads as in one pass.
    #[test]
    fn a_large_file_reads_through_parse_text_as_in_one_pass() {
        let ctx = ctx();
        let text = format!("shell: /bin/sh\ntasks:\n{}", filler(4000));
        assert!(text.len() >= 4 * PIECE_BYTES);
        assert!(in_pieces(&text, &ctx, true).is_some());
        let loaded = parse_text("big.yaml", &text, Format::Yaml, &ctx).expect("a good file");
        let (one, valid, _) = single_pass(&text, Format::Yaml, &ctx, true).expect("a good file");
        assert_eq!(loaded.config.tasks, one.tasks);
        assert_eq!((loaded.valid, loaded.errors.len()), (valid, 0));
    }

    /// A large file is read in pieces of about PIECE_BYTES; a file with a large head,
    /// which every piece repeats, in pieces of four heads at least.
    #[test]
    fn pieces_hold_piece_bytes_and_four_heads_at_least() {
        let ctx = ctx();
        let gaps = |text: &str, p: &split::Pieces| -> Vec<usize> {
            let mut at = vec![0];
            at.extend(&p.cuts);
            at.push(text.len());
            at.windows(2).map(|w| w[1] - w[0]).collect()
        };
        let text = format!("tasks:\n{}", filler(4000));
        let p = plan_pieces(&text).expect("a cut");
        let n = text.len().div_ceil(PIECE_BYTES);
        assert!(
            (n - 1..=n).contains(&p.count()),
            "{} pieces, {n} expected",
            p.count()
        );
        let g = gaps(&text, &p);
        assert!(
            g[..g.len() - 1].iter().all(|&b| b >= text.len() / n),
            "{g:?}"
        );
        // A head of some 60 KiB (a long comment): pieces of 240 KiB and more.
        let notes: String = (0..3000)
            .map(|i| format!("# note {i:05}: a line\n"))
            .collect();
        let text = format!("shell: /bin/bash\n{notes}tasks:\n{}", filler(12000));
        let p = plan_pieces(&text).expect("a cut");
        assert!(p.head_end > 60_000);
        let g = gaps(&text, &p);
        assert!(p.count() >= 2);
        assert!(
            g[..g.len() - 1].iter().all(|&b| b >= 4 * p.head_end),
            "{g:?}"
        );
        let (config, valid, _) = in_pieces(&text, &ctx, true).expect("read in pieces");
        assert_eq!((config.tasks.len(), valid), (12000, 12000));
        assert_eq!(config.shell, "/bin/bash");
    }

    /// Through the loader's entry point, a large file with bad entries in several
    /// pieces and one id in the first and the last is read whole: every error at its
    /// entry and line, the rest kept.
    #[test]
    fn a_large_file_with_bad_entries_in_several_pieces_reports_each_at_its_line() {
        let ctx = ctx();
        let n = 4000;
        let text = format!("tasks:\n{}", filler(n))
            .replace("interval_seconds: 2\n", "interval_seconds: 0\n")
            .replace("interval_seconds: 1401\n", "interval_seconds: x\n")
            + "  - task_id: f0\n    interval_seconds: 5\n    entry_point: again\n";
        assert!(text.len() >= 4 * PIECE_BYTES);
        assert!(in_pieces(&text, &ctx, true).is_none());
        let loaded = parse_text("big.yaml", &text, Format::Yaml, &ctx).expect("a usable file");
        let found: Vec<(usize, Option<&str>, Option<usize>)> = loaded
            .errors
            .iter()
            .map(|e| (e.index, e.task_id.as_deref(), e.position.map(|p| p.line)))
            .collect();
        // Entry i starts on line 2 + 3i; its interval_seconds is the line after.
        assert_eq!(
            found,
            [
                (1, Some("f1"), Some(6)),
                (1400, Some("f1400"), Some(4203)),
                (n, Some("f0"), Some(2 + 3 * n)),
            ]
        );
        assert_eq!(loaded.config.tasks.len(), n - 2);
        assert_eq!(&*loaded.config.tasks[0].id, "f0");
        assert_eq!(
            loaded.config.tasks[0].command,
            crate::config::Command::Shell("echo 0".into())
        );
    }

    #[test]
    fn a_cut_that_would_change_the_reading_falls_back_to_the_whole_file() {
        let ctx = ctx();
        // A line that looks like an entry is inside a quoted string.
        let quoted = "tasks:\n  - task_id: a\n    interval_seconds: 5\n    entry_point: \"echo one\n  - two\"\n  - task_id: b\n    interval_seconds: 5\n    entry_point: x\n";
        let pieces = split::cut(quoted, 1).expect("a cut");
        assert_eq!(&quoted[pieces.cuts[0]..pieces.cuts[0] + 9], "  - two\"\n");
        assert!(in_pieces_of(quoted, &ctx, 1).is_none());
        let loaded = parse_text("q.yaml", quoted, Format::Yaml, &ctx).expect("a good file");
        assert_eq!(loaded.config.tasks.len(), 2);
        assert_eq!(
            loaded.config.tasks[0].command,
            crate::config::Command::Shell("echo one - two".into())
        );
        // An alias in the second piece to an anchor in the first.
        let aliased = "tasks:\n  - task_id: a\n    interval_seconds: 5\n    entry_point: &cmd echo\n  - task_id: b\n    interval_seconds: 5\n    entry_point: *cmd\n";
        assert!(in_pieces_of(aliased, &ctx, 1).is_none());
        let loaded = parse_text("a.yaml", aliased, Format::Yaml, &ctx).expect("a good file");
        assert_eq!(
            loaded.config.tasks[1].command,
            crate::config::Command::Shell("echo".into())
        );
        // A lone CR is a line break to YAML: here it puts a key after the list.
        let cr = "tasks:\n  - task_id: a\n    interval_seconds: 5\n    entry_point: x\n  - task_id: b\n    interval_seconds: 5\n    entry_point: y\rmax_concurrent: 3\n";
        assert!(in_pieces_of(cr, &ctx, 1).is_none());
        let loaded = parse_text("cr.yaml", cr, Format::Yaml, &ctx).expect("a good file");
        assert_eq!(
            (loaded.config.tasks.len(), loaded.config.max_concurrent),
            (2, 3)
        );
        // An anchor name given again: in the head and an entry, or in two entries (the
        // YAML reader counts anchors to resolve aliases; a piece counts differently).
        for again in [
            "shell: &x /bin/sh\ntasks:\n  - task_id: a\n    interval_seconds: 5\n    entry_point: &x echo one\n  - task_id: b\n    interval_seconds: 5\n    entry_point: *x\n",
            "- task_id: a\n  interval_seconds: 5\n  entry_point: &x one\n  task_name: padding padding padding padding padding padding padding padding padding padding padding padding padding\n- task_id: b\n  interval_seconds: 5\n  entry_point: &x two\n- task_id: c\n  interval_seconds: 5\n  entry_point: &y three\n- task_id: d\n  interval_seconds: 5\n  entry_point: *x\n",
        ] {
            assert!(in_pieces_of(again, &ctx, 1).is_none(), "{again}");
        }
        // The first `tasks:` line at the margin lies in a quoted string of a mapping
        // indented by one space; the real list belongs to the second `tasks`.
        let hidden = " shell: \"/bin/sh\ntasks:\n  - x\"\n tasks:\n  - task_id: a\n    interval_seconds: 5\n    entry_point: x\n  - task_id: b\n    interval_seconds: 5\n    entry_point: echo \"\n";
        assert!(in_pieces_of(hidden, &ctx, 1).is_none());
        let loaded = parse_text("h.yaml", hidden, Format::Yaml, &ctx).expect("a good file");
        assert_eq!(loaded.config.tasks.len(), 2);
        // The same id in two pieces: reported at the second one's line, as in one piece.
        let twice = file("tasks:\n", 20) + &entry(0);
        assert!(in_pieces_of(&twice, &ctx, 1).is_none());
        let loaded = parse_text("d.yaml", &twice, Format::Yaml, &ctx).expect("a usable file");
        assert_eq!(loaded.errors.len(), 1);
        assert_eq!(loaded.errors[0].task_id.as_deref(), Some("t0"));
        assert_eq!(loaded.errors[0].index, 20);
        assert_eq!(loaded.config.tasks.len(), 20);
    }

    /// Tasks that set the same extras (here through `defaults`) or write the same
    /// schedule share one copy of them.
    #[test]
    fn tasks_share_equal_extras_schedule_texts_and_zones() {
        let text = "defaults:\n  env: {PATH: /usr/bin, LANG: C}\n  working_dir: /srv\ntasks:\n  - {task_id: a, interval_seconds: 5, entry_point: x}\n  - {task_id: b, interval_seconds: 5, entry_point: y}\n  - {task_id: c, interval_seconds: 5, entry_point: z, env: {LANG: de_DE}}\n  - {task_id: d, cron: '0 3 * * *', entry_point: x, timezone: Asia/Tokyo}\n  - {task_id: e, cron: '0 3 * * *', entry_point: x, timezone: Asia/Tokyo}\n";
        let loaded = parse_text("e.yaml", text, Format::Yaml, &ctx()).expect("a good file");
        let t = &loaded.config.tasks;
        let extra = |i: usize| t[i].extra.as_ref().expect("extras");
        assert!(std::sync::Arc::ptr_eq(extra(0), extra(1)));
        assert!(!std::sync::Arc::ptr_eq(extra(0), extra(2)));
        let env = |i: usize| {
            t[i].env()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(env(1), ["LANG=C", "PATH=/usr/bin"]);
        assert_eq!(env(2), ["LANG=de_DE", "PATH=/usr/bin"]);
        assert_eq!(t[2].working_dir(), Some(Path::new("/srv")));
        let interval = |i: usize| match &t[i].schedule {
            crate::config::Schedule::Interval(every) => every.clone(),
            other => panic!("{other:?}"),
        };
        assert!(std::sync::Arc::ptr_eq(&interval(0), &interval(2)));
        assert_eq!(&*interval(0).source, "5s");
        let cron = |i: usize| match &t[i].schedule {
            crate::config::Schedule::Cron(pattern) => pattern.clone(),
            other => panic!("{other:?}"),
        };
        assert!(std::sync::Arc::ptr_eq(&cron(3), &cron(4)));
        assert_eq!(&*cron(3).source, "0 3 * * *");
        // The system zone (UTC here), and a zone two tasks name.
        assert!(std::sync::Arc::ptr_eq(&t[0].zone, &t[2].zone));
        assert!(std::sync::Arc::ptr_eq(&t[3].zone, &t[4].zone));
        assert_eq!((&*t[0].zone.name, &*t[4].zone.name), ("UTC", "Asia/Tokyo"));
    }

    /// The common case collects ids without checking them, so an id read twice must
    /// send the file to the passes, in one piece or across pieces, and they report it.
    #[test]
    fn an_id_read_twice_leaves_the_common_case_and_is_reported() {
        let ctx = ctx();
        let mut text = file("tasks:\n", 60);
        text.push_str(&entry_shaped(0, 7));
        assert!(single_pass(&text, Format::Yaml, &ctx, true).is_none());
        assert!(single_pass(&text, Format::Yaml, &ctx, false).is_none());
        // Cut into pieces small enough that the two definitions lie in different ones.
        let pieces = split::cut(&text, text.len() / 4).expect("the file is cut");
        assert!(pieces.count() >= 3);
        assert!(read_pieces(&text, &pieces, &ctx, true).is_none());
        assert!(single_pass(&file("tasks:\n", 60), Format::Yaml, &ctx, true).is_some());

        let loaded = parse_text("t.yaml", &text, Format::Yaml, &ctx).expect("usable");
        assert_eq!(loaded.valid, 60);
        assert_eq!(loaded.config.tasks.len(), 60);
        let [err] = &loaded.errors[..] else {
            panic!("one error: {:?}", loaded.errors)
        };
        assert_eq!((err.index, err.task_id.as_deref()), (60, Some("t7")));
        assert!(
            err.message.contains("first defined by task #8"),
            "{}",
            err.message
        );
    }

    /// The hash tells every kind of small edit from the unchanged text.
    #[test]
    fn the_content_hash_changes_with_any_edit() {
        let text =
            "tasks:\n  - task_id: backup\n    cron: \"0 3 * * *\"\n    entry_point: run.sh\n";
        let base = content_hash(text);
        let copy = String::from(text);
        assert_eq!(base, content_hash(&copy), "same text, same hash");
        let mut seen = vec![base];
        // Every single-byte change, in the full words and in the tail.
        for i in 0..text.len() {
            let mut b = text.as_bytes().to_vec();
            b[i] = if b[i] == b'x' { b'y' } else { b'x' };
            let h = content_hash(std::str::from_utf8(&b).unwrap());
            assert_ne!(h, base, "a change at byte {i} went unseen");
            seen.push(h);
        }
        // Growing or shrinking by whitespace, and the empty text.
        for t in [
            &text[..text.len() - 1],
            &format!("{text} "),
            &format!("{text}\n"),
            "",
        ] {
            let h = content_hash(t);
            assert_ne!(h, base);
            seen.push(h);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), text.len() + 5, "no two edits hash alike");
    }
}
