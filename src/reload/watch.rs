//! Watching the task file for changes with notify (inotify).
//!
//! The file's *directory* is watched, not the file: editors that save by writing a new
//! file and renaming it over the old one (vim, `sed -i`), delete-then-create, and
//! Kubernetes ConfigMap updates (an atomic swap of the `..data` symlink) all replace the
//! inode a file watch would be attached to. Events are filtered by name; events without
//! a path, and "rescan" events, count as "maybe changed". The watcher only forwards:
//! the engine debounces and compares the content before reloading.

use std::ffi::OsString;
use std::path::Path;
use std::sync::mpsc::Sender;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::engine::event::Event;

/// Keeps the watch alive; dropping it stops watching.
pub struct Watch {
    _watcher: RecommendedWatcher,
}

/// Starts watching the directory of `path`.
pub fn start(path: &Path, events: Sender<Event>) -> Result<Watch, String> {
    let abs = std::path::absolute(path).map_err(|e| {
        format!(
            "cannot resolve {}: {}",
            path.display(),
            crate::io_message(&e)
        )
    })?;
    let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    let name: OsString = abs.file_name().map(OsString::from).unwrap_or_default();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let relevant = match &res {
            Ok(ev) => is_relevant(ev, &name),
            Err(_) => true,
        };
        if relevant {
            let _ = events.send(Event::FileChanged);
        }
    })
    .map_err(|e| format!("cannot start the file watcher: {}", notify_message(&e)))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch {}: {}", dir.display(), notify_message(&e)))?;
    Ok(Watch { _watcher: watcher })
}

/// A watcher error as one line: an I/O error (the inotify limits, say) without std's
/// "(os error N)".
fn notify_message(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::Io(io) => crate::io_message(io),
        _ => e.to_string(),
    }
}

/// Whether an event in the watched directory may have changed the task file.
fn is_relevant(ev: &notify::Event, name: &OsString) -> bool {
    // Opening and reading the file (our own reload does) is not a change.
    if matches!(ev.kind, EventKind::Access(_)) {
        return false;
    }
    if ev.need_rescan() || ev.paths.is_empty() {
        return true;
    }
    ev.paths.iter().any(|p| match p.file_name() {
        Some(f) => f == name.as_os_str() || f == "..data",
        None => true,
    })
}
