//! What the dashboard shows a signed-in user: their real state, and the first steps still open.

use crate::{BudgetStatus, Job, SearchHistoryEntry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One source the user can see, with its sync health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHealth {
    /// Source id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Documents indexed.
    pub documents: i64,
    /// Whether it syncs on schedule (false: paused).
    pub enabled: bool,
    /// When it last synced, if ever.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// How that sync ended (`succeeded`, `failed` …).
    pub last_status: Option<String>,
}

impl SourceHealth {
    /// The last sync failed.
    pub fn failing(&self) -> bool {
        self.last_status.as_deref().is_some_and(|s| s == "failed" || s == "dead")
    }
}

/// The dashboard for one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// The user may administer (steps and gaps are worded for admins).
    pub is_admin: bool,
    /// Sources the user can see (empty without the `search` scope).
    pub sources: Vec<SourceHealth>,
    /// The user's recent distinct searches, newest first.
    pub searches: Vec<SearchHistoryEntry>,
    /// The user's budgets (their own and the global one).
    pub budgets: Vec<BudgetStatus>,
    /// The user's queued and running jobs.
    pub running_jobs: Vec<Job>,
    /// The user's most recently finished jobs.
    pub recent_jobs: Vec<Job>,
    /// At least one model provider is configured.
    pub model_configured: bool,
}

/// A first step on the dashboard, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FirstStep {
    /// Add a source or upload files (done once a visible source has documents).
    AddSource,
    /// Search once.
    Search,
    /// Configure a model provider (an admin's step; members are told to ask one).
    ConfigureModel,
}

impl Overview {
    /// The steps still open, in order.
    pub fn open_steps(&self) -> Vec<FirstStep> {
        let mut steps = Vec::new();
        if !self.sources.iter().any(|s| s.documents > 0) {
            steps.push(FirstStep::AddSource);
        }
        if self.searches.is_empty() {
            steps.push(FirstStep::Search);
        }
        if !self.model_configured {
            steps.push(FirstStep::ConfigureModel);
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_close_as_they_are_done() {
        let mut o = Overview::default();
        assert_eq!(
            o.open_steps(),
            [FirstStep::AddSource, FirstStep::Search, FirstStep::ConfigureModel]
        );
        o.sources.push(SourceHealth {
            id: 1,
            name: "Files".into(),
            documents: 0,
            enabled: true,
            last_sync_at: None,
            last_status: None,
        });
        assert_eq!(o.open_steps()[0], FirstStep::AddSource, "an empty source is not a step done");
        o.sources[0].documents = 3;
        o.model_configured = true;
        assert_eq!(o.open_steps(), [FirstStep::Search]);
        o.searches.push(SearchHistoryEntry { q: "x".into(), results: 0, at: Utc::now() });
        assert!(o.open_steps().is_empty());
    }
}
