//! The reflector's relist backoff: client-go's `NewExponentialBackoffManager(800ms, 30s,
//! 2min, 2.0, 1.0)` as a pure state machine. Time and randomness are inputs.

use std::time::{Duration, Instant};

/// Parameters of the exponential backoff between list-and-watch attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The first delay (800 ms).
    pub initial: Duration,
    /// The largest delay before jitter (30 s).
    pub max: Duration,
    /// Growth per attempt (2.0).
    pub factor: f64,
    /// Each delay `d` becomes a random value in `[d, d + jitter·d)` (1.0).
    pub jitter: f64,
    /// When no delay was asked for during this long, the next one starts again from
    /// `initial` (2 min): the server is taken as healthy again.
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(800),
            max: Duration::from_secs(30),
            factor: 2.0,
            jitter: 1.0,
            reset_after: Duration::from_secs(120),
        }
    }
}

impl BackoffConfig {
    /// Checks the parameters; the message names the first bad one.
    pub fn validate(&self) -> Result<(), String> {
        if self.initial.is_zero() {
            return Err("backoff initial delay must be positive".into());
        }
        if self.max < self.initial {
            return Err(format!("backoff max {:?} is below the initial delay {:?}", self.max, self.initial));
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!("backoff factor {} must be a finite number >= 1", self.factor));
        }
        if !(self.jitter.is_finite() && self.jitter >= 0.0) {
            return Err(format!("backoff jitter {} must be a finite number >= 0", self.jitter));
        }
        Ok(())
    }
}

/// Exponential backoff with jitter and reset after a quiet period.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    /// The delay the next call returns, before jitter.
    next: Duration,
    /// When a delay was last asked for (client-go's `lastBackoffStart`).
    last: Instant,
}

impl Backoff {
    /// A backoff whose quiet-period clock starts at `now`.
    pub fn new(config: BackoffConfig, now: Instant) -> Self {
        Self { config, next: config.initial, last: now }
    }

    /// The delay to wait now. `random` is a uniform sample from `[0, 1)`; values outside are
    /// clamped.
    pub fn next_delay(&mut self, now: Instant, random: f64) -> Duration {
        if now.saturating_duration_since(self.last) > self.config.reset_after {
            self.next = self.config.initial;
        }
        self.last = now;
        let base = self.next;
        let grown = Duration::try_from_secs_f64(base.as_secs_f64() * self.config.factor).unwrap_or(self.config.max);
        self.next = grown.min(self.config.max);
        let random = if random.is_finite() { random.clamp(0.0, 1.0) } else { 0.0 };
        let extra = Duration::try_from_secs_f64(base.as_secs_f64() * self.config.jitter * random).unwrap_or_default();
        base.saturating_add(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        (d.as_secs_f64() * 1000.0).round() / 1000.0
    }

    #[test]
    fn client_go_sequence_without_jitter() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default(), t0);
        let got: Vec<f64> = (0..9).map(|i| secs(b.next_delay(t0 + Duration::from_secs(i), 0.0))).collect();
        assert_eq!(got, [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0]);
    }

    #[test]
    fn jitter_is_up_to_one_more_delay() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default(), t0);
        assert_eq!(secs(b.next_delay(t0, 0.5)), 1.2);
        assert_eq!(secs(b.next_delay(t0, 0.999)), 3.198);
        // At the cap the wait stays within [30 s, 60 s), client-go's "0.22 QPS".
        for _ in 0..10 {
            b.next_delay(t0, 0.0);
        }
        assert_eq!(secs(b.next_delay(t0, 0.0)), 30.0);
        assert!(b.next_delay(t0, 0.9999) < Duration::from_secs(60));
        // Out-of-range samples are clamped.
        assert_eq!(secs(b.next_delay(t0, 7.0)), 60.0);
        assert_eq!(secs(b.next_delay(t0, f64::NAN)), 30.0);
    }

    #[test]
    fn resets_after_two_quiet_minutes() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default(), t0);
        for _ in 0..5 {
            b.next_delay(t0, 0.0);
        }
        assert_eq!(secs(b.next_delay(t0 + Duration::from_secs(120), 0.0)), 25.6, "exactly 2 min is not quiet enough");
        let t1 = t0 + Duration::from_secs(120);
        assert_eq!(secs(b.next_delay(t1 + Duration::from_millis(120_001), 0.0)), 0.8);
        assert_eq!(secs(b.next_delay(t1 + Duration::from_secs(121), 0.0)), 1.6);
    }

    #[test]
    fn the_quiet_period_counts_from_creation() {
        let t0 = Instant::now();
        let mut b = Backoff::new(BackoffConfig::default(), t0);
        assert_eq!(secs(b.next_delay(t0 + Duration::from_secs(600), 0.0)), 0.8);
    }

    #[test]
    fn validation() {
        assert!(BackoffConfig::default().validate().is_ok());
        let bad = BackoffConfig { factor: 0.5, ..BackoffConfig::default() };
        assert!(bad.validate().unwrap_err().contains("factor 0.5"));
        let bad = BackoffConfig { max: Duration::from_millis(1), ..BackoffConfig::default() };
        assert!(bad.validate().unwrap_err().contains("max"));
        let bad = BackoffConfig { initial: Duration::ZERO, ..BackoffConfig::default() };
        assert!(bad.validate().is_err());
        let bad = BackoffConfig { jitter: -1.0, ..BackoffConfig::default() };
        assert!(bad.validate().is_err());
    }
}
