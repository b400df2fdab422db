//! Background jobs as the browser and API clients see them: a job's state, its progress, queue
//! statistics for the admin view, and the events a running job publishes. Compiled for WASM too,
//! so only serde and chrono here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is in its life. A failed attempt that will be retried is `Queued` again with a
/// later `run_after`; only `Succeeded`, `Dead` and `Cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (possibly until `run_after`).
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Failed on its last allowed attempt (or with an error not worth retrying).
    Dead,
    /// Cancelled by its owner or an admin.
    Cancelled,
}

impl JobState {
    /// Every state, in life-cycle order.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The stored and wire name (`queued`, `running` …).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// A state from its name; None for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the job will never run again on its own.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Dead | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently a job should run; higher priorities are claimed first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum JobPriority {
    /// Whenever there is nothing else (stored as 0).
    Low,
    /// The default (1).
    #[default]
    Normal,
    /// Ahead of normal work (2).
    High,
    /// Ahead of everything (3).
    Urgent,
}

impl JobPriority {
    /// Every priority, lowest first.
    pub const ALL: [JobPriority; 4] =
        [JobPriority::Low, JobPriority::Normal, JobPriority::High, JobPriority::Urgent];

    /// The stored number: 0 low … 3 urgent.
    pub fn as_i32(self) -> i32 {
        match self {
            JobPriority::Low => 0,
            JobPriority::Normal => 1,
            JobPriority::High => 2,
            JobPriority::Urgent => 3,
        }
    }

    /// From the stored number; None outside 0..=3.
    pub fn from_i32(n: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_i32() == n)
    }

    /// The wire name (`low`, `normal`, `high`, `urgent`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobPriority::Low => "low",
            JobPriority::Normal => "normal",
            JobPriority::High => "high",
            JobPriority::Urgent => "urgent",
        }
    }

    /// A priority from its name, ignoring case and surrounding spaces.
    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim();
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(name)).ok_or_else(|| {
            format!("unknown priority {name:?}: expected low, normal, high or urgent")
        })
    }
}

impl fmt::Display for JobPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobPriority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// How far a running job has come, as its handler last reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// 0–100, when the total is known.
    pub percent: Option<i32>,
    /// Units done.
    pub done: Option<i64>,
    /// Units in all.
    pub total: Option<i64>,
    /// What the job is doing now.
    pub message: Option<String>,
}

impl JobProgress {
    /// Progress of `done` out of `total` units, with the percentage worked out (clamped to
    /// 0–100; unknown when `total` is not positive).
    pub fn of(done: i64, total: i64, message: impl Into<String>) -> Self {
        let percent = (total > 0).then(|| {
            let p = done.clamp(0, total).saturating_mul(100) / total;
            i32::try_from(p).unwrap_or(100)
        });
        let message = message.into();
        Self {
            percent,
            done: Some(done),
            total: Some(total),
            message: (!message.is_empty()).then_some(message),
        }
    }

    /// The same progress once the job succeeded, as the store records it: every unit done when
    /// the total is known, and 100 % when any measure is; the message stays.
    pub fn finished(mut self) -> Self {
        if self.total.is_some() {
            self.done = self.total;
        }
        if self.percent.is_some() || self.total.is_some() {
            self.percent = Some(100);
        }
        self
    }
}

/// A background job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: i64,
    /// What kind of work (the name its handler is registered under).
    pub kind: String,
    /// Where it is in its life.
    pub state: JobState,
    /// How urgently it runs.
    pub priority: JobPriority,
    /// The user it runs for (None for system jobs).
    pub owner_id: Option<i64>,
    /// Attempts started so far (a released attempt is not counted).
    pub attempts: i32,
    /// Attempts allowed before it is dead.
    pub max_attempts: i32,
    /// Last reported progress.
    pub progress: JobProgress,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// What the handler returned, once succeeded.
    pub result: Option<serde_json::Value>,
    /// Whether cancellation was asked for while it was running.
    pub cancel_requested: bool,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Not claimed before this time.
    pub run_after: DateTime<Utc>,
    /// When its latest attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The number of jobs of one kind in one state, for the admin view and the queue gauges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Job kind.
    pub kind: String,
    /// State.
    pub state: JobState,
    /// Jobs of this kind in this state.
    pub count: i64,
    /// For `queued`: how long the oldest job that is due has waited past its `run_after`. For
    /// `running`: how long the oldest attempt has been running. None otherwise, or if none.
    pub oldest_age_ms: Option<i64>,
}

/// One job kind's queue at a glance, for the admin view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindQueue {
    /// Job kind.
    pub kind: String,
    /// Jobs waiting (due or not).
    pub queued: i64,
    /// Jobs running now.
    pub running: i64,
    /// Dead letters: jobs that used up their attempts, kept until retried or discarded.
    pub dead: i64,
    /// How long the oldest due job has waited to start, in milliseconds.
    pub oldest_waiting_ms: Option<i64>,
    /// How long the longest-running attempt has run, in milliseconds.
    pub longest_running_ms: Option<i64>,
    /// Jobs that succeeded within the window.
    pub succeeded_recent: i64,
    /// Jobs that died within the window.
    pub dead_recent: i64,
    /// Jobs cancelled within the window.
    pub cancelled_recent: i64,
    /// Mean run time of the jobs that succeeded within the window, in milliseconds.
    pub avg_run_ms: Option<i64>,
}

/// The whole queue at a glance: per kind depth, age and recent throughput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOverview {
    /// One row per kind that has jobs, by name.
    pub kinds: Vec<KindQueue>,
    /// The window the `*_recent` counts cover, in seconds.
    pub window_secs: i64,
    /// When it was read.
    pub at: DateTime<Utc>,
}

impl QueueOverview {
    /// Jobs per minute that succeeded within the window, all kinds together.
    pub fn throughput_per_min(&self) -> f64 {
        let done: i64 = self.kinds.iter().map(|k| k.succeeded_recent).sum();
        done as f64 * 60.0 / self.window_secs.max(1) as f64
    }
}

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEventKind {
    /// A worker started an attempt.
    Started,
    /// The handler reported progress.
    Progress,
    /// The handler succeeded.
    Completed,
    /// The attempt failed and the job will run again at `retry_at`.
    Retrying,
    /// The attempt failed and no attempts are left (or the error was permanent).
    Dead,
    /// The job stopped because it was cancelled.
    Cancelled,
}

/// An event a job publishes as it runs, for live views (the browser decodes it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    /// Job id.
    pub job_id: i64,
    /// The user it runs for: who may see this event.
    pub owner_id: Option<i64>,
    /// Job kind.
    pub kind: String,
    /// What happened.
    pub event: JobEventKind,
    /// The job's state after it.
    pub state: JobState,
    /// Progress, on `progress` events.
    pub progress: Option<JobProgress>,
    /// The error, on `retrying`, `dead` and `cancelled` events.
    pub error: Option<String>,
    /// When the next attempt may start, on `retrying` events.
    pub retry_at: Option<DateTime<Utc>>,
    /// When it happened.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_progress_is_complete_and_keeps_its_message() {
        let p = JobProgress::of(7, 10, "step 7 of 10").finished();
        assert_eq!((p.done, p.total, p.percent), (Some(10), Some(10), Some(100)));
        assert_eq!(p.message.as_deref(), Some("step 7 of 10"));
        let bare = JobProgress { message: Some("working".into()), ..JobProgress::default() };
        assert_eq!(bare.clone().finished(), bare, "nothing measured: nothing made up");
    }

    #[test]
    fn priority_parses_names_in_any_case() {
        assert_eq!(JobPriority::parse(" Urgent "), Ok(JobPriority::Urgent));
        assert_eq!("low".parse::<JobPriority>(), Ok(JobPriority::Low));
        assert!(JobPriority::parse("critical").is_err());
    }

    #[test]
    fn priority_numbers_round_trip_and_order() {
        for p in JobPriority::ALL {
            assert_eq!(JobPriority::from_i32(p.as_i32()), Some(p));
        }
        assert_eq!(JobPriority::from_i32(4), None);
        assert!(JobPriority::Urgent > JobPriority::High && JobPriority::Normal > JobPriority::Low);
    }

    #[test]
    fn state_names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        assert_eq!(JobState::parse("failed"), None);
    }

    #[test]
    fn progress_percent_is_clamped_and_unknown_without_total() {
        assert_eq!(JobProgress::of(5, 20, "x").percent, Some(25));
        assert_eq!(JobProgress::of(30, 20, "").percent, Some(100));
        assert_eq!(JobProgress::of(30, 20, "").message, None);
        assert_eq!(JobProgress::of(3, 0, "counting").percent, None);
    }
}
