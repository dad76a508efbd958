//! Logs to stderr through tracing: text or JSON, level from `--log-level` or RUST_LOG.
//! When stderr is the journal (JOURNAL_STREAM is set), no timestamps or colours of
//! our own: the journal adds its own.
//!
//! A filter is a default level and per-target levels, `info,task=warn` (tracing's
//! `Targets`); span and field filters are not supported.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Reads a filter: a level (`debug`), or a default level and per-target levels
/// (`info,task=warn`).
pub fn parse_filter(text: &str) -> Result<Targets, String> {
    text.parse::<Targets>().map_err(|e| {
        format!("{e} (expected a level such as debug, or a list such as info,task=warn)")
    })
}

/// Installs the global subscriber. `level` (already checked by [`parse_filter`]) wins
/// over RUST_LOG; default `info`. A RUST_LOG that is not a filter is named in a
/// warning, and `info` applies.
pub fn init(format: LogFormat, level: Option<&Targets>) {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty());
    let (filter, bad_env) = match (level, &from_env) {
        (Some(level), _) => (level.clone(), None),
        (None, Some(text)) => match parse_filter(text) {
            Ok(filter) => (filter, None),
            Err(e) => (info(), Some(e)),
        },
        (None, None) => (info(), None),
    };
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // Ignore "already set": tests may run several commands in one process.
    let _ = match (format, journal) {
        (LogFormat::Text, false) => builder.finish().with(filter).try_init(),
        (LogFormat::Text, true) => builder.without_time().finish().with(filter).try_init(),
        (LogFormat::Json, false) => builder
            .json()
            .flatten_event(true)
            .finish()
            .with(filter)
            .try_init(),
        (LogFormat::Json, true) => builder
            .json()
            .flatten_event(true)
            .without_time()
            .finish()
            .with(filter)
            .try_init(),
    };
    if let Some(e) = bad_env {
        tracing::warn!("RUST_LOG ignored: {e}; logging at info");
    }
}

fn info() -> Targets {
    Targets::new().with_default(tracing::Level::INFO)
}
