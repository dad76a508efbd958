//! cronwheel: a cron-like scheduler daemon.
pub mod wheel;
