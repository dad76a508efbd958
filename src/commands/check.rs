//! `cronwheel check`: validate a task file and say what is wrong, one line each.

use std::path::Path;

use crate::commands::{load_checked, Fatal};

/// Prints each problem on stderr and a summary on stdout. Exit 0 valid, 1 invalid
/// entries (or invalid global keys), 2 unreadable or unparseable.
pub fn run(path: &Path, strict: bool) -> Result<u8, Fatal> {
    let loaded = load_checked(path)?;
    for e in &loaded.errors {
        eprintln!("cronwheel: {e}");
    }
    let tasks = &loaded.config.tasks;
    let disabled = tasks.iter().filter(|t| !t.enabled).count();
    let valid = tasks.len();
    println!(
        "{valid} {} valid, {} invalid, {disabled} disabled{}",
        if valid == 1 { "task" } else { "tasks" },
        loaded.errors.len(),
        if strict && !loaded.errors.is_empty() {
            " (--strict: the file is rejected)"
        } else {
            ""
        }
    );
    Ok(if loaded.errors.is_empty() { 0 } else { 1 })
}
