//! Integration tests: the real `cronwheel` binary on task files written to temp dirs.

mod check;
mod exec;
mod list;
mod next;
mod notify;
mod reload;
mod run;
mod state;
mod util;
