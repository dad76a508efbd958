//! Learning that the wall clock was set, from the kernel, without polling.
//!
//! A timerfd on CLOCK_REALTIME armed far in the future with `TFD_TIMER_ABSTIME |
//! TFD_TIMER_CANCEL_ON_SET` makes a blocked `read` fail with ECANCELED whenever the
//! clock is set (NTP step, `date -s`, resume). A thread blocked on that read sends one
//! `ClockChanged` event each time; in between it never wakes.

use std::sync::mpsc::Sender;
use std::thread;

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::engine::event::Event;

/// Starts the watcher thread.
pub fn watch(events: Sender<Event>) -> std::io::Result<()> {
    let timer = TimerFd::new(ClockId::CLOCK_REALTIME, TimerFlags::TFD_CLOEXEC)
        .map_err(std::io::Error::from)?;
    arm(&timer).map_err(std::io::Error::from)?;
    thread::Builder::new()
        .name("wallclock".into())
        .spawn(move || {
            let mut buf = [0u8; 8];
            loop {
                match nix::unistd::read(&timer, &mut buf) {
                    Err(Errno::ECANCELED) => {
                        if events.send(Event::ClockChanged).is_err() || arm(&timer).is_err() {
                            return;
                        }
                    }
                    Err(Errno::EINTR) => {}
                    // The far-future expiry fired (the clock was set past it), or a read
                    // error: arm again, or give up quietly if that fails too.
                    _ => {
                        if arm(&timer).is_err() {
                            return;
                        }
                    }
                }
            }
        })?;
    Ok(())
}

fn arm(timer: &TimerFd) -> nix::Result<()> {
    // About the year 2106: never reached in practice, so the timer only ever ends by
    // being cancelled.
    let far = TimeSpec::new(i64::from(i32::MAX) * 2, 0);
    timer.set(
        Expiration::OneShot(far),
        TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
    )
}
