//! `Application`: binds the listener, starts the workers, serves until a shutdown signal and
//! drains within the grace period.

use super::router::*;
use super::state::*;
use super::{HttpSettings, ServerState};
use crate::config::Settings;
use axum::Router;
use domain::jobs::{CronHandle, CronScheduler, JobRunner, RunnerConfig, RunnerHandle};
use domain::state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    listener: tokio::net::TcpListener,
    router: Router,
    grace: Duration,
    runner: Option<RunnerHandle>,
    cron: CronHandle,
    /// Renews this instance's LLM reservations and reaps expired ones (any instance's).
    housekeeping: tokio::task::JoinHandle<()>,
    /// The state, for tests and commands.
    pub state: AppState,
}

impl Application {
    /// Builds state and router and binds the listener (`server.addr`; port 0 picks one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(&settings).await?;
        Self::build_with_state(settings, state).await
    }

    /// As `build`, with a prepared state.
    pub async fn build_with_state(settings: Settings, state: AppState) -> anyhow::Result<Self> {
        let leptos_options = leptos_options(&settings);
        let server_state = ServerState {
            leptos_options,
            app: state.clone(),
            metrics: crate::telemetry::metrics_handle(),
            http: Arc::new(HttpSettings {
                trust_forwarded_for: settings.server.trust_forwarded_for,
                secure: settings.auth.secure_cookies,
                metrics_token: settings.server.metrics_token.0.clone(),
            }),
        };
        let router = router(server_state, &settings);
        let listener = tokio::net::TcpListener::bind(settings.server.addr)
            .await
            .map_err(|e| anyhow::anyhow!("could not listen on {}: {e}", settings.server.addr))?;
        let port = listener.local_addr()?.port();
        state.knowledge.start(state.store.clone());
        // A newly configured embedding model's vectors are made by a job, with progress.
        match domain::service::embedding::enqueue_if_needed(&state).await {
            Ok(Some(job)) => {
                tracing::info!(job = job.id, "vectors of the configured model are being made")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not enqueue the embedding job")
            }
        }
        let housekeeping = state.llm.start_housekeeping();
        // The tokenizers of the configured routes load once, off the request path.
        let routed: Vec<String> =
            settings.llm.routes.values().flatten().map(|t| t.model.clone()).collect();
        tokio::task::spawn_blocking(move || domain::llm::tokens::warm_up(&routed));
        let registry = job_registry(&settings, &state)?;
        let schedules = job_schedules(&settings, &registry)?;
        let runner = settings.jobs.workers.then(|| {
            JobRunner::start(
                state.store.clone(),
                registry,
                RunnerConfig {
                    poll_interval: Duration::from_millis(settings.jobs.poll_interval_ms),
                    lease: Duration::from_secs(settings.jobs.lease_secs),
                    heartbeat_every: Duration::from_secs(settings.jobs.heartbeat_secs),
                    ..RunnerConfig::default()
                },
                state.jobs.events.clone(),
            )
        });
        if let Some(runner) = &runner {
            let _ = state.jobs.notifier.set(runner.notifier());
        }
        let cron = CronScheduler::start(
            state.store.clone(),
            schedules,
            runner.as_ref().map(RunnerHandle::notifier),
            Duration::from_secs(1),
        );
        Ok(Self {
            port,
            listener,
            router,
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
            runner,
            cron,
            housekeeping,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish for up to the
    /// grace period.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let mut runner_rx = rx.clone();
        let stop_tx = tx.clone();
        let grace = self.grace;
        let serve = axum::serve(
            self.listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                grace_secs = grace.as_secs(),
                "shutting down: draining in-flight requests and running jobs"
            );
            let _ = tx.send(true);
        });
        let deadline = async move {
            let _ = rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        let http = async move {
            let result = tokio::select! {
                r = serve => r.map_err(anyhow::Error::from),
                () = deadline => {
                    tracing::warn!("grace period over; dropping remaining connections");
                    Ok(())
                }
            };
            let _ = stop_tx.send(true);
            result
        };
        // Jobs stop with the server: no new claims, running handlers get the grace period,
        // the rest go back to the queue for another instance or the next start.
        let (runner, cron) = (self.runner, self.cron);
        let gateway = self.state.llm.clone();
        let jobs = async move {
            let _ = runner_rx.wait_for(|stopping| *stopping).await;
            cron.shutdown().await;
            if let Some(runner) = runner {
                let released = runner.shutdown(grace).await;
                tracing::info!(released, "job runner stopped");
            }
        };
        let (result, ()) = tokio::join!(http, jobs);
        // Every stream that ended has its settlement running: let it reach the ledger before
        // the process exits (requests were drained above, so no new ones start).
        let left = gateway.drain_settlements(grace).await;
        if left > 0 {
            tracing::error!(left, "LLM calls left unsettled at shutdown");
        }
        // Reservations still open (grace ran out) expire and are reaped by another instance or
        // the next start.
        self.housekeeping.abort();
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
