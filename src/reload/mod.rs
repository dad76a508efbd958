//! Hot reload: noticing that the task file changed (`watch`), and working out what a
//! new version of it changes (`diff`).

pub mod diff;
pub mod watch;
