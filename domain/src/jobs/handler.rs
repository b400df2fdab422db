//! What a job handler is: a plain async fn `(JobContext, serde_json::Value) -> HandlerResult`
//! registered under its kind with a `KindConfig`. The context lets a handler report progress
//! and notice cancellation; it never touches the store itself (the runner does).

use futures::future::BoxFuture;
use model::{Job, JobProgress};
use rand::Rng;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// What a handler returns: the job's result, or why the attempt failed.
pub type HandlerResult = Result<serde_json::Value, JobError>;

/// Why an attempt failed. Any error converts with `?`; the stored text is the whole cause
/// chain. A `permanent` error makes the job dead at once instead of retrying it.
pub struct JobError {
    error: anyhow::Error,
    permanent: bool,
}

impl JobError {
    /// A failure worth retrying, from a message.
    pub fn msg(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self { error: anyhow::Error::msg(message), permanent: false }
    }

    /// A failure that another attempt cannot fix (bad payload, missing input): no retries.
    pub fn permanent(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self { error: anyhow::Error::msg(message), permanent: true }
    }

    /// Whether the job should not be retried.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The text stored as the job's `last_error`: the error and its causes.
    pub fn message(&self) -> String {
        format!("{:#}", self.error)
    }
}

// Like anyhow::Error, JobError is deliberately not std::error::Error, so this blanket impl can
// exist and `?` works on any error type.
impl<E: Into<anyhow::Error>> From<E> for JobError {
    fn from(e: E) -> Self {
        Self { error: e.into(), permanent: false }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobError")
            .field("error", &self.message())
            .field("permanent", &self.permanent)
            .finish()
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

/// How the runner treats one kind of job.
#[derive(Debug, Clone)]
pub struct KindConfig {
    /// Jobs of this kind one runner runs at once (at least 1).
    pub concurrency: usize,
    /// Attempts at most, whatever the job row allows (the smaller of the two wins).
    pub max_attempts: i32,
    /// An attempt running longer than this is stopped and counts as failed.
    pub timeout: Duration,
    /// Delay before the second attempt; it doubles with each further attempt.
    pub backoff_base: Duration,
    /// The delay never exceeds this.
    pub backoff_max: Duration,
}

impl Default for KindConfig {
    fn default() -> Self {
        Self {
            concurrency: 1,
            max_attempts: crate::store::DEFAULT_MAX_ATTEMPTS,
            timeout: Duration::from_secs(5 * 60),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

impl KindConfig {
    /// The delay after failed attempt number `attempt` (1-based): `backoff_base * 2^(attempt-1)`
    /// capped at `backoff_max`, then jittered down to between half and all of it, so that jobs
    /// that failed together do not all retry together.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(0);
        let full = self.backoff_base.saturating_mul(1_u32 << doublings).min(self.backoff_max);
        let half = full / 2;
        half + (full - half).mul_f64(rand::rng().random_range(0.0..=1.0))
    }
}

/// A type-erased handler.
pub(crate) type BoxedHandler =
    Arc<dyn Fn(JobContext, serde_json::Value) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// A registered kind: its settings and its handler.
#[derive(Clone)]
pub(crate) struct RegisteredKind {
    pub config: KindConfig,
    pub handler: BoxedHandler,
}

/// The handlers a runner knows, by kind.
#[derive(Clone, Default)]
pub struct JobRegistry {
    kinds: BTreeMap<String, RegisteredKind>,
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for jobs of `kind` (a second registration of a kind replaces the
    /// first).
    pub fn register<F, Fut>(
        &mut self,
        kind: impl Into<String>,
        config: KindConfig,
        handler: F,
    ) -> &mut Self
    where
        F: Fn(JobContext, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let handler: BoxedHandler = Arc::new(move |ctx, payload| Box::pin(handler(ctx, payload)));
        self.kinds.insert(kind.into(), RegisteredKind { config, handler });
        self
    }

    /// Changes how many jobs of `kind` one runner runs at once (at least 1). False if the kind
    /// is not registered.
    pub fn set_concurrency(&mut self, kind: &str, concurrency: usize) -> bool {
        match self.kinds.get_mut(kind) {
            Some(k) => {
                k.config.concurrency = concurrency.max(1);
                true
            }
            None => false,
        }
    }

    /// The registered kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// A kind's settings.
    pub fn config(&self, kind: &str) -> Option<&KindConfig> {
        self.kinds.get(kind).map(|k| &k.config)
    }

    pub(crate) fn into_kinds(self) -> BTreeMap<String, RegisteredKind> {
        self.kinds
    }
}

/// What a running handler can see and do besides its payload. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    job_id: i64,
    attempt: i32,
    owner_id: Option<i64>,
    cancel: watch::Receiver<bool>,
    /// The latest progress not yet written; the runner takes it on its next heartbeat.
    pending: Mutex<Option<JobProgress>>,
}

impl JobContext {
    pub(crate) fn new(job: &Job, cancel: watch::Receiver<bool>) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                job_id: job.id,
                attempt: job.attempts,
                owner_id: job.owner_id,
                cancel,
                pending: Mutex::new(None),
            }),
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> i64 {
        self.inner.job_id
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> i32 {
        self.inner.attempt
    }

    /// The user the job runs for.
    pub fn owner_id(&self) -> Option<i64> {
        self.inner.owner_id
    }

    /// Reports progress. Cheap: only the latest report is kept, and the runner stores and
    /// publishes it at most every 250 ms.
    pub fn progress(&self, done: i64, total: i64, message: impl Into<String>) {
        let progress = JobProgress::of(done, total, message);
        *self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(progress);
    }

    /// Whether the owner or an admin asked the job to stop. Handlers should then return soon;
    /// an error returned after cancellation makes the job cancelled instead of retried.
    pub fn is_cancelled(&self) -> bool {
        *self.inner.cancel.borrow()
    }

    /// Resolves once cancellation is asked for (seen on the runner's next heartbeat).
    pub async fn cancelled(&self) {
        let mut cancel = self.inner.cancel.clone();
        if cancel.wait_for(|c| *c).await.is_err() {
            // The runner let go of this attempt; it is being stopped, not cancelled.
            std::future::pending::<()>().await;
        }
    }

    /// Takes the progress reported since the last call.
    pub(crate) fn take_progress(&self) -> Option<JobProgress> {
        self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Puts back progress that could not be written, unless newer progress arrived meanwhile.
    pub(crate) fn restore_progress(&self, progress: JobProgress) {
        let mut pending = self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.is_none() {
            *pending = Some(progress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = KindConfig {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(20),
            ..KindConfig::default()
        };
        for _ in 0..50 {
            let first = config.backoff(1);
            assert!(first >= Duration::from_secs(1) && first <= Duration::from_secs(2));
            let third = config.backoff(3);
            assert!(third >= Duration::from_secs(4) && third <= Duration::from_secs(8));
            let late = config.backoff(40);
            assert!(late >= Duration::from_secs(10) && late <= Duration::from_secs(20));
        }
    }

    #[test]
    fn job_error_keeps_the_cause_chain() {
        let err: JobError = anyhow::anyhow!("disk full").context("writing the report").into();
        assert_eq!(err.message(), "writing the report: disk full");
        assert!(!err.is_permanent());
        assert!(JobError::permanent("bad payload").is_permanent());
        let io: JobError = std::io::Error::other("broken pipe").into();
        assert_eq!(io.to_string(), "broken pipe");
    }
}
