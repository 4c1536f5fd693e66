//! `sandbar`: the one user-facing binary. It parses arguments, resolves settings once, and hands
//! each subcommand to its module under `commands/`.

mod args;
mod commands;
mod progress;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let default_level = match cli.global.verbose {
        0 => "sandbar=info,sandbar_runtime=info",
        1 => "sandbar=debug,sandbar_runtime=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
