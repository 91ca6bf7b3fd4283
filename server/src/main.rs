//! The `linli` binary: parses the command line, reads the configuration, sets up logging, runs the command.

use clap::Parser;
use linli_server::cli::{self, Cli};
use linli_server::config::Config;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("LINLI_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("linli: {e}");
            return ExitCode::from(2);
        }
    };
    match cli::run(cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linli: {e}");
            ExitCode::FAILURE
        }
    }
}
