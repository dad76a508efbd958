//! Logs to stderr through tracing: text or JSON, level from `--log-level` or RUST_LOG.
//! When stderr is the journal (JOURNAL_STREAM is set), no timestamps or colours of
//! our own: the journal adds its own.
//!
//! A filter is a default level and per-target levels, `info,task=warn` (tracing's
//! `Targets`); span and field filters are not supported.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What a filter looks like, for error messages.
const EXPECTED: &str = "expected a level such as debug, or a list such as info,task=warn";

/// Reads a filter: a level (`debug`), or a default level and per-target levels
/// (`info,task=warn`). Empty parts are skipped; a bare word must be a level (a
/// misspelt `warning` would otherwise name a target and silence everything else), and
/// span or field filters (`[…]`) are refused.
pub fn parse_filter(text: &str) -> Result<Targets, String> {
    let parts: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(format!("empty filter ({EXPECTED})"));
    }
    for part in &parts {
        if part.contains('[') || part.contains('{') {
            return Err(format!(
                "{part:?}: span and field filters are not supported ({EXPECTED})"
            ));
        }
        if !part.contains('=') && part.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "{part:?} is not a level: off, error, warn, info, debug or trace; a target takes one as target=level ({EXPECTED})"
            ));
        }
    }
    parts
        .join(",")
        .parse::<Targets>()
        .map_err(|e| format!("{e} ({EXPECTED})"))
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
    // The filter decides; the builder's own cap (info unless told) must not.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
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

#[cfg(test)]
mod tests {
    use super::parse_filter;
    use tracing::level_filters::LevelFilter;
    use tracing::Level;

    #[test]
    fn a_filter_is_a_level_and_levels_by_target() {
        let f = parse_filter(" info , task=warn ,").expect("a filter");
        assert_eq!(f.default_level(), Some(LevelFilter::INFO));
        assert!(!f.would_enable("task", &Level::INFO));
        assert!(f.would_enable("task", &Level::WARN));
        assert!(f.would_enable("cronwheel::engine", &Level::INFO));
        assert!(!f.would_enable("cronwheel::engine", &Level::DEBUG));
        let f = parse_filter("debug").expect("a level");
        assert!(f.would_enable("cronwheel::engine", &Level::DEBUG));
        assert!(!f.would_enable("cronwheel::engine", &Level::TRACE));
        let f = parse_filter("warn,cronwheel::engine=trace").expect("a filter");
        assert!(f.would_enable("cronwheel::engine::core", &Level::TRACE));
        assert!(!f.would_enable("cronwheel::exec", &Level::INFO));
    }

    #[test]
    fn what_is_not_a_filter_is_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty filter"),
            (" , ", "empty filter"),
            ("warning", "\"warning\" is not a level"),
            ("dbug,task=warn", "\"dbug\" is not a level"),
            ("x[span]=debug", "span and field filters"),
            ("x[{field}]=debug", "span and field filters"),
            ("task=loud", "expected a level"),
        ] {
            let e = parse_filter(text).expect_err(text);
            assert!(e.contains(reason), "{text:?}: {e}");
        }
    }
}
