//! `blueprint`: serves the app (default) or runs an admin command.

use clap::Parser;
use server::commands::{Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    run(Cli::parse()).await
}
