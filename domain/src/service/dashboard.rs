//! The dashboard: one read of the caller's state (sources and their sync health, searches, spend,
//! jobs) and whether the installation has a model provider. A part the caller's scopes do not
//! cover stays empty rather than failing the page.

use crate::auth::Principal;
use crate::state::AppState;
use model::error::AppError;
use model::{JobState, Overview, Scope, SourceHealth};

/// How many recent searches and finished jobs the dashboard lists.
const RECENT: i64 = 5;

/// Whether the installation has a model provider. The gateway not answering is not "no
/// provider": then nothing is withheld and a call says what went wrong.
pub async fn model_configured(state: &AppState) -> bool {
    state.llm.providers().await.map_or(true, |p| !p.is_empty())
}

/// The caller's dashboard.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn overview(state: &AppState, user: &Principal) -> Result<Overview, AppError> {
    let can_search = user.scopes.contains(Scope::Search);
    let (sources, searches, budgets, jobs) = tokio::try_join!(
        async { if can_search { super::sources::list(state, user).await } else { Ok(Vec::new()) } },
        async {
            if can_search {
                super::search::history(state, user, RECENT).await
            } else {
                Ok(Vec::new())
            }
        },
        super::usage::my_budgets(state, user),
        super::jobs::list_mine(state, user, 50, 0),
    )?;
    let model_configured = model_configured(state).await;
    let (running_jobs, finished): (Vec<_>, Vec<_>) = jobs
        .items
        .into_iter()
        .partition(|j| matches!(j.state, JobState::Queued | JobState::Running));
    Ok(Overview {
        is_admin: user.scopes.contains(Scope::Admin),
        sources: sources
            .into_iter()
            .map(|s| SourceHealth {
                id: s.id,
                name: s.name,
                documents: s.documents,
                enabled: s.enabled,
                last_sync_at: s.last_sync_at,
                last_status: s.last_status,
            })
            .collect(),
        searches,
        budgets,
        running_jobs,
        recent_jobs: finished.into_iter().take(RECENT as usize).collect(),
        model_configured,
    })
}
