//! The command line: `serve` (default), `create-admin`, `check-config`.

use crate::config::Settings;
use crate::startup::{Application, build_state, shutdown_signal};
use crate::telemetry::init_tracing;
use clap::{Parser, Subcommand};
use model::{DisplayName, Email, NewAccount, Password};
use std::io::Read;
use std::process::ExitCode;

/// Blueprint: an engineering team's AI workbench.
#[derive(Debug, Parser)]
#[command(name = "blueprint", version)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and API.
    Serve,
    /// Create an admin account, or make an existing account admin and reset its password.
    /// The password comes from BLUEPRINT_ADMIN_PASSWORD or, if unset, standard input.
    CreateAdmin {
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Load and validate the configuration, print it with secrets hidden, and exit.
    CheckConfig,
    /// Embed every stored chunk that lacks a vector of the configured embedding model, mark
    /// the documents for re-indexing (running instances pick them up), and rebuild an index from
    /// the database to report its size.
    Reindex,
    /// Internal: extract one file from standard input under resource limits and print it as
    /// JSON (the server runs itself this way for every uploaded file).
    #[command(name = "extract-worker", hide = true)]
    ExtractWorker {
        /// Address-space limit, bytes.
        #[arg(long)]
        memory_bytes: u64,
        /// CPU-time limit, seconds.
        #[arg(long)]
        cpu_secs: u64,
    },
}

/// Runs the commands that must not start an async runtime (the extraction worker limits its
/// own address space first); `None` for the rest.
pub fn run_sync(cli: &Cli) -> Option<ExitCode> {
    match cli.command {
        Some(Command::ExtractWorker { memory_bytes, cpu_secs }) => {
            Some(domain::knowledge::sandbox::worker_main(memory_bytes, cpu_secs))
        }
        _ => None,
    }
}

/// Runs the command; configuration errors print one line naming the key and exit with 2.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("blueprint: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings.log.level, settings.log.format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::CreateAdmin { email, name } => create_admin(settings, &email, &name).await,
        Command::CheckConfig => {
            println!("{settings:#?}");
            Ok(())
        }
        Command::Reindex => reindex(settings).await,
        Command::ExtractWorker { .. } => {
            Err(anyhow::anyhow!("extract-worker runs without a runtime"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blueprint: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = settings.database.url.redacted();
    let app = Application::build(settings).await?;
    tracing::info!(database = %db, "Blueprint is ready");
    println!("Blueprint is serving at http://127.0.0.1:{}", app.port());
    app.run_until_stopped(shutdown_signal()).await
}

async fn create_admin(settings: Settings, email: &str, name: &str) -> anyhow::Result<()> {
    let password = match std::env::var("BLUEPRINT_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {}", e.message))?;
    let password = Password::parse(&password, Some(&email))
        .map_err(|e| anyhow::anyhow!("password: {}", e.message))?;
    let display_name =
        DisplayName::parse(name).map_err(|e| anyhow::anyhow!("--name: {}", e.message))?;
    let state = build_state(&settings).await?;
    let user = domain::service::accounts::create_admin(
        &state,
        NewAccount { email, password, display_name },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("admin ready: {} (id {})", user.email, user.id);
    Ok(())
}

/// `blueprint reindex`: fills in missing vectors and rebuilds an index to report on it.
async fn reindex(settings: Settings) -> anyhow::Result<()> {
    let state = build_state(&settings).await?;
    let started = std::time::Instant::now();
    let embedded = state.knowledge.embed_missing(&state.store).await?;
    let documents = state.knowledge.rebuild(&state.store).await?;
    let s = state.knowledge.status();
    println!(
        "embedded {embedded} chunk texts; index rebuilt from the database: {documents} documents, \
         {} chunks, {} vectors of {} dimensions ({}), in {:.1} s",
        s.chunks,
        s.vectors,
        s.dimensions,
        s.embedder.unwrap_or_else(|| "no embedder".into()),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
