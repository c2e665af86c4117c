//! Probe settings with upstream defaults and the threshold logic that turns single
//! attempts into a result: pure, no I/O.
//!
//! ```
//! use knode::probes::{ProbeKind, ProbeResult, ProbeSettings, ProbeTracker};
//!
//! let mut t = ProbeTracker::new(ProbeKind::Liveness, ProbeSettings::default());
//! assert_eq!(t.result(), ProbeResult::Success);
//! assert_eq!(t.observe(false), None);
//! assert_eq!(t.observe(false), None);
//! assert_eq!(t.observe(false), Some(ProbeResult::Failure)); // failureThreshold 3
//! ```

use std::time::Duration;

use kapi::k8s::api::core::v1::Probe;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProbeKind {
    /// Restarts the container on failure.
    Liveness,
    /// Decides whether the container is ready.
    Readiness,
    /// Holds off the other probes until it passes; restarts the container on failure.
    Startup,
}

impl ProbeKind {
    /// The name upstream uses in events and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "Liveness",
            Self::Readiness => "Readiness",
            Self::Startup => "Startup",
        }
    }
}

/// The result of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProbeResult {
    /// Passing.
    Success,
    /// Failing (past the failure threshold).
    Failure,
    /// Not known yet.
    Unknown,
}

/// A probe's timing and thresholds, with upstream defaults for unset fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeSettings {
    /// Delay before the first attempt (default 0).
    pub initial_delay: Duration,
    /// Time between attempts (default 10 s).
    pub period: Duration,
    /// Time an attempt may take (default 1 s).
    pub timeout: Duration,
    /// Consecutive successes to pass (default 1).
    pub success_threshold: u32,
    /// Consecutive failures to fail (default 3).
    pub failure_threshold: u32,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        }
    }
}

impl ProbeSettings {
    /// The settings of `probe`; zero or negative values fall back to the defaults.
    pub fn from_probe(probe: &Probe) -> Self {
        let d = Self::default();
        let secs =
            |v: Option<i32>, min: i32| v.filter(|v| *v >= min).map(|v| Duration::from_secs(v.unsigned_abs().into()));
        let count = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0);
        Self {
            initial_delay: secs(probe.initial_delay_seconds, 0).unwrap_or(d.initial_delay),
            period: secs(probe.period_seconds, 1).unwrap_or(d.period),
            timeout: secs(probe.timeout_seconds, 1).unwrap_or(d.timeout),
            success_threshold: count(probe.success_threshold).unwrap_or(d.success_threshold),
            failure_threshold: count(probe.failure_threshold).unwrap_or(d.failure_threshold),
        }
    }
}

/// The running result of one probe of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTracker {
    kind: ProbeKind,
    settings: ProbeSettings,
    result: ProbeResult,
    successes: u32,
    failures: u32,
}

impl ProbeTracker {
    /// A tracker in the initial state: readiness starts failing, liveness passing, startup
    /// unknown (as upstream).
    pub fn new(kind: ProbeKind, settings: ProbeSettings) -> Self {
        let result = match kind {
            ProbeKind::Readiness => ProbeResult::Failure,
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Startup => ProbeResult::Unknown,
        };
        Self { kind, settings, result, successes: 0, failures: 0 }
    }

    /// The probe kind.
    pub fn kind(&self) -> ProbeKind {
        self.kind
    }

    /// The settings.
    pub fn settings(&self) -> ProbeSettings {
        self.settings
    }

    /// The current result.
    pub fn result(&self) -> ProbeResult {
        self.result
    }

    /// Records one attempt; returns the new result when it changed.
    pub fn observe(&mut self, passed: bool) -> Option<ProbeResult> {
        let next = if passed {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            // A startup or liveness probe passes on the first success, as upstream (their
            // successThreshold must be 1).
            let threshold = if self.kind == ProbeKind::Readiness { self.settings.success_threshold } else { 1 };
            (self.successes >= threshold).then_some(ProbeResult::Success)
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
            (self.failures >= self.settings.failure_threshold).then_some(ProbeResult::Failure)
        };
        match next {
            Some(r) if r != self.result => {
                self.result = r;
                Some(r)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let s = ProbeSettings::from_probe(&Probe::default());
        assert_eq!(s, ProbeSettings::default());
        assert_eq!(
            (s.period, s.timeout, s.success_threshold, s.failure_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 1, 3)
        );
        let p = Probe {
            period_seconds: Some(2),
            failure_threshold: Some(1),
            timeout_seconds: Some(0),
            ..Default::default()
        };
        let s = ProbeSettings::from_probe(&p);
        assert_eq!((s.period, s.failure_threshold, s.timeout), (Duration::from_secs(2), 1, Duration::from_secs(1)));
    }

    #[test]
    fn readiness_needs_success_threshold() {
        let settings = ProbeSettings { success_threshold: 2, ..Default::default() };
        let mut t = ProbeTracker::new(ProbeKind::Readiness, settings);
        assert_eq!(t.result(), ProbeResult::Failure);
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(true), Some(ProbeResult::Success));
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(true), None, "failures below threshold keep the result");
        assert_eq!((t.observe(false), t.observe(false), t.observe(false)), (None, None, Some(ProbeResult::Failure)));
    }

    #[test]
    fn startup_passes_once() {
        let mut t = ProbeTracker::new(ProbeKind::Startup, ProbeSettings { success_threshold: 5, ..Default::default() });
        assert_eq!(t.result(), ProbeResult::Unknown);
        assert_eq!(t.observe(true), Some(ProbeResult::Success));
    }

    #[test]
    fn liveness_flips_after_threshold_failures() {
        let mut t =
            ProbeTracker::new(ProbeKind::Liveness, ProbeSettings { failure_threshold: 2, ..Default::default() });
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(false), None, "a success resets the failure count");
        assert_eq!(t.observe(false), Some(ProbeResult::Failure));
        assert_eq!(t.kind().as_str(), "Liveness");
    }
}
