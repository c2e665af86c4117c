//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's rules and defaults
//! (lease 15 s, renew deadline 10 s, retry period 2 s).
//!
//! The decisions are a pure function of the observed Lease and the local clock
//! ([`Elector::try_acquire_or_renew`]); [`LeaderElector`] drives them against the API.
//!
//! # Correctness
//! Expiry is judged by when *this process* last saw the lease record change, measured with
//! its own monotonic clock, never by the timestamps written in the Lease: clocks of
//! different machines need not agree, only run at about the same rate. A candidate
//! therefore waits a full `lease_duration` after the last change it observed before taking
//! over. The holder gives up when it has not renewed for `renew_deadline`, which is shorter
//! than `lease_duration`, so it stops acting before anyone else may start. Writes are
//! conditional on the Lease's resourceVersion, so of two candidates only one wins.

mod driver;

use std::time::{Duration, Instant};

use jiff::Timestamp;
use kapi::k8s::api::coordination::v1::{Lease, LeaseSpec};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::MicroTime;

pub use driver::{LeaderElector, LeadershipLost};

/// Errors of the leader election configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The durations break client-go's rule `lease > renew deadline > 1.2 × retry period > 0`.
    #[error("leader election: {0}")]
    Durations(String),
    /// The identity or lease name is empty.
    #[error("leader election: {0} must not be empty")]
    Empty(&'static str),
}

/// Settings of an election.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease (`kube-system`).
    pub namespace: String,
    /// Name of the Lease (`kube-controller-manager`).
    pub name: String,
    /// This candidate's identity (hostname + a unique suffix).
    pub identity: String,
    /// How long a non-leader waits after the last observed change before taking over (15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up (10 s).
    pub renew_deadline: Duration,
    /// Time between attempts (2 s, jittered by up to 1.2×).
    pub retry_period: Duration,
    /// Release the lease on shutdown so the next leader need not wait for expiry (true).
    pub release_on_cancel: bool,
}

/// client-go's `JitterFactor`.
pub const JITTER_FACTOR: f64 = 1.2;

impl LeaderElectionConfig {
    /// The defaults for a lease `namespace/name` held as `identity`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: true,
        }
    }

    /// Sets the three durations.
    #[must_use]
    pub fn durations(mut self, lease: Duration, renew_deadline: Duration, retry_period: Duration) -> Self {
        self.lease_duration = lease;
        self.renew_deadline = renew_deadline;
        self.retry_period = retry_period;
        self
    }

    /// Checks client-go's constraints.
    ///
    /// # Errors
    /// Empty names, or durations out of order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::Empty("identity"));
        }
        if self.name.is_empty() {
            return Err(ConfigError::Empty("lease name"));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::Durations("leaseDuration must be greater than renewDeadline".into()));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(ConfigError::Durations("renewDeadline must be greater than retryPeriod*JitterFactor".into()));
        }
        if self.retry_period.is_zero() {
            return Err(ConfigError::Durations("retryPeriod must be greater than zero".into()));
        }
        Ok(())
    }
}

/// The part of a Lease an election reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// `spec.holderIdentity` (empty: released).
    pub holder: String,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// `spec.acquireTime`.
    pub acquire_time: Option<Timestamp>,
    /// `spec.renewTime`.
    pub renew_time: Option<Timestamp>,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
}

impl LeaseRecord {
    /// Reads the record from a Lease.
    pub fn from_lease(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.unwrap_or_default(),
            lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
            acquire_time: spec.acquire_time.map(|t| t.0),
            renew_time: spec.renew_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
        }
    }

    /// Writes the record into a Lease's spec (other spec fields are kept).
    pub fn apply_to(&self, lease: &mut Lease) {
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.holder.clone()).filter(|h| !h.is_empty());
        spec.lease_duration_seconds = Some(self.lease_duration_seconds);
        spec.acquire_time = self.acquire_time.map(MicroTime);
        spec.renew_time = self.renew_time.map(MicroTime);
        spec.lease_transitions = Some(self.transitions);
    }
}

/// What to write after observing the Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// No Lease exists: create it with this record.
    Create(LeaseRecord),
    /// Take or renew the Lease: update it (conditionally) with this record.
    Update(LeaseRecord),
    /// Someone else holds a lease that has not expired.
    HeldBy(String),
}

/// The pure state of one candidate: what it last observed and when.
#[derive(Debug, Clone)]
pub struct Elector {
    config: LeaderElectionConfig,
    observed: Option<LeaseRecord>,
    observed_at: Option<Instant>,
}

impl Elector {
    /// A candidate with `config` (validate it first).
    pub fn new(config: LeaderElectionConfig) -> Self {
        Self { config, observed: None, observed_at: None }
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// client-go's `tryAcquireOrRenew`: given the current Lease record (`None` when there is
    /// no Lease), the local monotonic `now` and the wall clock `wall`, what to write.
    pub fn try_acquire_or_renew(&mut self, current: Option<&LeaseRecord>, now: Instant, wall: Timestamp) -> Decision {
        let secs = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let mut record = LeaseRecord {
            holder: self.config.identity.clone(),
            lease_duration_seconds: secs,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: 0,
        };
        let Some(current) = current else {
            return Decision::Create(record);
        };
        // Expiry is measured from when we saw the record change, on our own clock.
        if self.observed.as_ref() != Some(current) {
            self.observed = Some(current.clone());
            self.observed_at = Some(now);
        }
        let observed_at = self.observed_at.unwrap_or(now);
        let held_by_other = !current.holder.is_empty() && current.holder != self.config.identity;
        if held_by_other && observed_at + self.config.lease_duration > now {
            return Decision::HeldBy(current.holder.clone());
        }
        if current.holder == self.config.identity {
            record.acquire_time = current.acquire_time;
            record.transitions = current.transitions;
        } else {
            record.transitions = current.transitions.saturating_add(1);
        }
        Decision::Update(record)
    }

    /// Notes a successful write of `record` (it is now what we observe).
    pub fn wrote(&mut self, record: LeaseRecord, now: Instant) {
        self.observed = Some(record);
        self.observed_at = Some(now);
    }

    /// The record that releases the lease (client-go's `release`): no holder, a one-second
    /// duration, transitions kept. `None` unless we are the observed holder.
    pub fn release_record(&self, wall: Timestamp) -> Option<LeaseRecord> {
        let observed = self.observed.as_ref()?;
        if observed.holder != self.config.identity {
            return None;
        }
        Some(LeaseRecord {
            holder: String::new(),
            lease_duration_seconds: 1,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: observed.transitions,
        })
    }

    /// The holder we last observed.
    pub fn observed_holder(&self) -> Option<&str> {
        self.observed.as_ref().map(|r| r.holder.as_str()).filter(|h| !h.is_empty())
    }
}

#[cfg(test)]
mod tests;
