//! The signal thread: SIGTERM, SIGINT and SIGHUP become events on the engine's channel.
//! It only forwards; the engine decides. SIGCHLD is not handled: the executor learns of
//! each exit from the run's pidfd, and SIGCHLD stays blocked (see
//! `exec::block_sigchld`).

use std::sync::mpsc::Sender;
use std::thread;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::engine::event::{Event, Sig};

/// Installs the handlers and starts the forwarding thread.
pub fn forward(events: Sender<Event>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in signals.forever() {
                let sig = match s {
                    SIGTERM => Sig::Terminate,
                    SIGINT => Sig::Interrupt,
                    _ => Sig::Hangup,
                };
                if events.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}
