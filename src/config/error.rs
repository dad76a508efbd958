//! Errors of the task file, split by consequence: a [`FileError`] means the file as a
//! whole cannot be used (nothing from it is applied); a [`TaskError`] rejects one entry
//! while the others load.
//!
//! Both print as one line a person can act on: `file:line:column: what, where`.

use std::fmt;

/// A position in the task file, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Why the file as a whole was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileErrorKind {
    /// It could not be opened or read, is a directory, too large, not UTF-8, or empty.
    Unreadable,
    /// It is not well-formed YAML or JSON, or its top level has the wrong shape.
    Syntax,
    /// It parses, but a top-level key or the `defaults` block is invalid.
    Invalid,
    /// The daemon runs as root and the file, or its directory, could be changed by
    /// someone else.
    Unsafe,
}

/// The file cannot be used at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub kind: FileErrorKind,
    pub position: Option<Position>,
    pub message: String,
}

impl FileError {
    pub fn new(file: &str, kind: FileErrorKind, message: impl Into<String>) -> Self {
        FileError {
            file: file.to_owned(),
            kind,
            position: None,
            message: message.into(),
        }
    }

    /// The exit code of `cronwheel check` for this failure: 2 when the file cannot be
    /// read, parsed or trusted, 1 when it parses but is invalid.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            FileErrorKind::Unreadable | FileErrorKind::Syntax | FileErrorKind::Unsafe => 2,
            FileErrorKind::Invalid => 1,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.position)?;
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileError {}

/// One task entry was rejected; the others load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskError {
    pub file: String,
    pub position: Option<Position>,
    /// 0-based index in the task list.
    pub index: usize,
    /// The entry's task_id, when it could be read.
    pub task_id: Option<String>,
    /// The offending field (`cron`, `env.FOO`, …), when known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.position)?;
        write!(f, "task #{}", self.index + 1)?;
        if let Some(id) = &self.task_id {
            write!(f, " ({id})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TaskError {}

fn write_location(f: &mut fmt::Formatter<'_>, file: &str, pos: Option<Position>) -> fmt::Result {
    match pos {
        Some(p) => write!(f, "{file}:{}:{}: ", p.line, p.column),
        None => write!(f, "{file}: "),
    }
}
