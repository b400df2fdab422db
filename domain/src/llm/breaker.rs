use super::error::LlmError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When a provider's circuit opens and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before one probe is let through.
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, cooldown: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Cooldown over: one call (the probe) is in flight; its outcome closes or reopens.
    HalfOpen,
}

/// A circuit breaker: after `failure_threshold` consecutive failures the provider is not
/// called for `cooldown`; then one probe decides. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    phase: Arc<Mutex<Phase>>,
}

/// What an admin view shows of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe is deciding.
    HalfOpen,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, phase: Arc::new(Mutex::new(Phase::Closed { failures: 0 })) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        let mut guard = self.phase.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Ok if a call may go out now (possibly as the probe); CircuitOpen otherwise.
    pub fn allow(&self, provider: &str) -> Result<(), LlmError> {
        let now = Instant::now();
        self.with(|phase| match *phase {
            Phase::Closed { .. } => Ok(()),
            Phase::Open { until } if now >= until => {
                *phase = Phase::HalfOpen;
                Ok(())
            }
            Phase::Open { until } => {
                Err(LlmError::CircuitOpen { provider: provider.to_string(), retry_in: until - now })
            }
            Phase::HalfOpen => Err(LlmError::CircuitOpen {
                provider: provider.to_string(),
                retry_in: Duration::from_secs(1),
            }),
        })
    }

    /// A call succeeded (or the provider answered at all): close.
    pub fn record_success(&self) {
        self.with(|phase| *phase = Phase::Closed { failures: 0 });
    }

    /// A call failed because of the provider: count it, open at the threshold; a failed probe
    /// reopens at once.
    pub fn record_failure(&self) {
        let cooldown = self.config.cooldown;
        let threshold = self.config.failure_threshold.max(1);
        self.with(|phase| {
            *phase = match *phase {
                Phase::Closed { failures } if failures + 1 < threshold => {
                    Phase::Closed { failures: failures + 1 }
                }
                Phase::Open { until } => Phase::Open { until },
                _ => Phase::Open { until: Instant::now() + cooldown },
            }
        });
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        self.with(|phase| match *phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen => BreakerState::HalfOpen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker::new(BreakerConfig { failure_threshold: threshold, cooldown })
    }

    #[test]
    fn opens_at_the_threshold_and_refuses_during_the_cooldown() {
        let b = breaker(2, Duration::from_secs(60));
        b.record_failure();
        assert!(b.allow("p").is_ok());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(b.allow("p"), Err(LlmError::CircuitOpen { .. })));
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn after_the_cooldown_one_probe_decides() {
        // A zero cooldown is over at once.
        let b = breaker(1, Duration::ZERO);
        b.record_failure();
        assert!(b.allow("p").is_ok(), "the probe goes out");
        assert!(b.allow("p").is_err(), "only one probe at a time");
        b.record_success();
        assert!(b.allow("p").is_ok() && b.allow("p").is_ok(), "closed again");

        let b = breaker(1, Duration::ZERO);
        b.record_failure();
        assert!(b.allow("p").is_ok());
        b.record_failure();
        assert_eq!(b.state(), BreakerState::HalfOpen, "reopened with a zero cooldown");
    }
}
