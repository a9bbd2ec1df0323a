//! The `latchkey` binary: configuration, the CLI, composition of the HTTP server, TLS and
//! background tasks. Business rules live in `latchkey-core`; this crate wires things up.

mod cli;
mod commands;
mod logging;
mod output;
mod server;
mod tls;
mod workflow_pages;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, for scripts and people alike.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
