//! The command line, as clap definitions only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A cron-like scheduler daemon: a YAML task file, a tickless timer wheel, hot reload.
#[derive(Debug, Parser)]
#[command(name = "cronwheel", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground until SIGTERM or SIGINT.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Refuse to start when any task entry is invalid.
        #[arg(long)]
        strict: bool,
        /// Do not watch the task file; reload only on SIGHUP.
        #[arg(long)]
        no_watch: bool,
        /// Where run history and task state are kept [default: $STATE_DIRECTORY, else
        /// /var/lib/cronwheel as root, else $XDG_STATE_HOME/cronwheel].
        #[arg(long, value_name = "DIR", conflicts_with = "no_state")]
        state_dir: Option<PathBuf>,
        /// Keep no history or state: interval phases restart and missed firings are forgotten.
        #[arg(long)]
        no_state: bool,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Run one task now, in the foreground, and exit with its exit code
    /// (124 on timeout, 128+N when killed by signal N, 127 when it cannot start).
    Exec {
        #[command(flatten)]
        config: ConfigArg,
        /// The task to run (disabled tasks too).
        #[arg(value_name = "TASK_ID")]
        task: String,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Check a task file: one line per problem, then a summary.
    /// Exit 0 when valid, 1 when entries are invalid, 2 when the file cannot be read or parsed.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Treat any invalid entry as a failure of the whole file.
        #[arg(long)]
        strict: bool,
    },
    /// Show recent runs from the state database, newest first.
    History {
        /// The state directory [default: as `run` picks it].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// How many runs.
        #[arg(short = 'n', default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        /// Only this task.
        #[arg(value_name = "TASK_ID")]
        task: Option<String>,
    },
    /// Show the tasks as a table: id, name, schedule, type, enabled, next run.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Show the next firing times of each task (or of the tasks named).
    Next {
        #[command(flatten)]
        config: ConfigArg,
        /// How many firings per task.
        #[arg(short = 'n', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        count: u32,
        /// Count from this instant (RFC 3339, e.g. 2026-11-26T10:00:00Z) instead of now.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only these tasks.
        #[arg(value_name = "TASK_ID")]
        tasks: Vec<String>,
    },
}

/// Where the task file is.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The task file (YAML, or JSON when it ends in .json).
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        env = "CRONWHEEL_CONFIG",
        default_value = "/etc/cronwheel/tasks.yaml"
    )]
    pub path: PathBuf,
}

/// Logging options.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// Log level or filter (e.g. debug, or info,task=warn); overrides RUST_LOG.
    #[arg(long, value_name = "LEVEL", value_parser = crate::logging::parse_filter)]
    pub log_level: Option<tracing_subscriber::filter::Targets>,
}
