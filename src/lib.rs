//! cronwheel: a cron-like scheduler daemon.
//!
//! `config` reads the task file, `schedule` computes firing times, `wheel` keeps the
//! timers; the `commands` are what the binary offers. [`run`] is the whole program
//! behind the command line, callable from tests.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod engine;
pub mod exec;
pub mod logging;
pub mod reload;
pub mod schedule;
pub mod sdnotify;
pub mod signals;
pub mod state;
pub mod wallclock;
pub mod wheel;

pub use commands::Fatal;

/// An I/O error as one line for an operator: `Display` without the "(os error N)" that
/// std appends, which says nothing to a reader.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Runs one command line. `Ok` carries the exit code of a command that ran to its end.
pub fn run(cli: cli::Cli) -> Result<u8, Fatal> {
    use cli::Command;
    match cli.command {
        Command::Run {
            config,
            strict,
            no_watch,
            state_dir,
            no_state,
            log,
        } => {
            logging::init(log.log_format, log.log_level.as_ref());
            engine::run(&engine::Options {
                config_path: &config.path,
                strict,
                watch: !no_watch,
                state_dir: (!no_state).then(|| state_dir.unwrap_or_else(state::default_dir)),
            })?;
            Ok(0)
        }
        Command::Exec { config, task, log } => {
            logging::init(log.log_format, log.log_level.as_ref());
            let loaded = commands::load_checked(&config.path)?;
            for e in &loaded.errors {
                tracing::error!("{e}");
            }
            engine::exec_once(&loaded.config, &task)
        }
        Command::Check { config, strict } => commands::check::run(&config.path, strict),
        Command::List { config } => commands::list::run(&config.path),
        Command::History {
            state_dir,
            count,
            json,
            task,
        } => commands::history::run(
            &state_dir.unwrap_or_else(state::default_dir),
            task.as_deref(),
            count,
            json,
        ),
        Command::Next {
            config,
            count,
            from,
            tasks,
        } => commands::next::run(&config.path, count as usize, from.as_deref(), &tasks),
    }
}
