//! The subcommands, one file each, and what they share: loading the task file with the
//! machine's time zone and user database, and printing aligned tables.

pub mod check;
pub mod history;
pub mod list;
pub mod next;
mod table;

use std::fmt;
use std::path::Path;

use crate::config::validate::Context;
use crate::config::{self, FileError, Loaded, Zone};

/// An error that ends a command: one line for stderr and the exit code.
#[derive(Debug)]
pub struct Fatal {
    message: String,
    code: u8,
}

impl Fatal {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Fatal {
            message: message.into(),
            code,
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fatal {}

impl From<FileError> for Fatal {
    fn from(e: FileError) -> Self {
        Fatal::new(e.exit_code(), e.to_string())
    }
}

/// Writes a command's output to stdout. A reader that stops reading early
/// (`cronwheel list | head`) ends the output quietly, as it does for ripgrep, and the
/// command exits with its usual code; any other write error ends it with exit 2.
pub fn print_out(text: &str) -> Result<(), Fatal> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fatal::new(
            2,
            format!("cannot write to stdout: {}", crate::io_message(&e)),
        )),
    }
}

/// Writes one line to stderr. When stderr itself is gone (a closed pipe), there is
/// nowhere left to report to, and the line is dropped.
pub fn print_err(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// The machine's local time zone, for tasks that name none.
pub fn system_zone() -> Zone {
    let tz = jiff::tz::TimeZone::system();
    let name = tz.iana_name().unwrap_or("local").into();
    Zone { name, tz }
}

/// Whether a user exists in the system's user database.
pub fn user_exists(name: &str) -> bool {
    matches!(nix::unistd::User::from_name(name), Ok(Some(_)))
}

/// Loads the task file with the machine's zone and user database.
pub fn load(path: &Path) -> Result<Loaded, FileError> {
    let ctx = Context {
        system_zone: system_zone(),
        user_exists: &user_exists,
    };
    config::load_file(path, &ctx)
}

/// Checks the task file as `load_checked` would load it, counting tasks instead of
/// keeping them.
pub fn check_checked(path: &Path) -> Result<Loaded, FileError> {
    if nix::unistd::Uid::effective().is_root() {
        config::load::check_ownership(path)?;
    }
    let ctx = Context {
        system_zone: system_zone(),
        user_exists: &user_exists,
    };
    config::load::check_file(path, &ctx)
}

/// Loads the task file as the daemon does: when running as root, a file that others
/// could change is refused first.
pub fn load_checked(path: &Path) -> Result<Loaded, FileError> {
    if nix::unistd::Uid::effective().is_root() {
        config::load::check_ownership(path)?;
    }
    load(path)
}

/// Loads the task file for a command that shows tasks: invalid entries are reported
/// on stderr, the valid ones are shown.
pub fn load_reporting(path: &Path) -> Result<Loaded, Fatal> {
    let loaded = load(path)?;
    for e in &loaded.errors {
        print_err(&format!("cronwheel: {e}"));
    }
    Ok(loaded)
}

/// An instant in RFC 3339, in a task's zone: `2026-11-26T22:00:00+01:00`.
pub fn rfc3339(z: &jiff::Zoned) -> String {
    if z.subsec_nanosecond() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
    }
}
