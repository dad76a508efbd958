//! Integration tests: the real `cronwheel` binary on task files written to temp dirs.

mod check;
mod list;
mod next;
mod util;
