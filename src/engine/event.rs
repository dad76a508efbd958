//! Everything that can happen to the engine, as one type on one channel.

use crate::engine::core::RunId;
use crate::exec::Report;

/// A signal the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    Terminate,
    Interrupt,
    Hangup,
}

/// One thing that happened, sent by the executor, the signal thread, the clock watcher
/// or the file watcher.
#[derive(Debug)]
pub enum Event {
    /// Runs are over (those the executor saw end at about the same moment).
    Finished(Vec<(RunId, Report)>),
    Signal(Sig),
    /// The wall clock was set (NTP step, `date -s`, resume from suspend).
    ClockChanged,
    /// Something happened to the task file or its directory.
    FileChanged,
}
