//! The `cronwheel` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cronwheel::cli::Cli::parse();
    match cronwheel::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            cronwheel::commands::print_err(&format!("cronwheel: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
