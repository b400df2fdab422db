//! `blueprint`: serves the app (default) or runs an admin command.

use clap::Parser;
use server::commands::{Cli, run, run_sync};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(code) = run_sync(&cli) {
        return code;
    }
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("blueprint: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
