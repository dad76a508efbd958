//! `cronwheel check`: validate a task file and say what is wrong, one line each.

use std::path::Path;

use crate::commands::{check_checked, print_err, print_out, Fatal};

/// Prints each problem on stderr and a summary on stdout. Exit 0 valid, 1 invalid
/// entries (or invalid global keys), 2 unreadable or unparseable.
pub fn run(path: &Path, strict: bool) -> Result<u8, Fatal> {
    let loaded = check_checked(path)?;
    for e in &loaded.errors {
        print_err(&format!("cronwheel: {e}"));
    }
    let (valid, disabled) = (loaded.valid, loaded.disabled);
    print_out(&format!(
        "{valid} {} valid, {} invalid, {disabled} disabled{}\n",
        if valid == 1 { "task" } else { "tasks" },
        loaded.errors.len(),
        if strict && !loaded.errors.is_empty() {
            " (--strict: the file is rejected)"
        } else {
            ""
        }
    ))?;
    Ok(if loaded.errors.is_empty() { 0 } else { 1 })
}
