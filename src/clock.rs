//! The one place that reads the clocks. Everything else takes time as an argument,
//! so it can be driven by a simulated clock in tests.

use std::time::Instant;

/// The wall clock, for cron schedules and for display.
pub fn wall_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// The monotonic clock, for interval schedules and timeouts.
pub fn mono_now() -> Instant {
    Instant::now()
}
