//! The async side of leader election: reads and writes the Lease on a timer.

use std::future::Future;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kapi::k8s::api::coordination::v1::Lease;
use kwatch::http::{Api, Client, ClientError, PostParams};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{ConfigError, Decision, Elector, JITTER_FACTOR, LeaderElectionConfig, LeaseRecord};

/// Leadership was lost (the lease could not be renewed within the renew deadline). The
/// work that ran under it has been cancelled; upstream components exit at this point.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leader election lost: lease {0} not renewed within the renew deadline")]
pub struct LeadershipLost(pub String);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

/// Runs work only while this process holds the Lease.
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    elector: Elector,
    status: Gauge,
}

impl LeaderElector {
    /// A candidate using `client` to reach the Lease.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn new(client: Client, config: LeaderElectionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let api = Api::namespaced(client, &config.namespace);
        Ok(Self { api, elector: Elector::new(config), status: Gauge::default() })
    }

    /// Reports `leader_election_master_status{name}` (1 while leading) into `registry`.
    #[must_use]
    pub fn with_metrics(mut self, registry: &mut Registry) -> Self {
        let family = Family::<NameLabel, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
            family.clone(),
        );
        self.status = family.get_or_create(&NameLabel { name: self.elector.config().name.clone() }).clone();
        self
    }

    /// The configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        self.elector.config()
    }

    /// Runs `work` while leading: waits to acquire the Lease, starts `work` with a token
    /// that is cancelled when leadership ends, renews the Lease, and returns when `cancel`
    /// fires (after `work` has finished and the Lease is released) or when leadership is
    /// lost (after `work` has finished).
    ///
    /// # Cancel safety
    /// Dropping the future drops `work` and leaves the Lease to expire; cancel the token for
    /// a clean release.
    pub async fn run<F, Fut>(mut self, cancel: CancellationToken, work: F) -> Result<(), LeadershipLost>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if !self.acquire(&cancel).await {
            return Ok(());
        }
        let leading = cancel.child_token();
        let task = tokio::spawn(work(leading.clone()));
        let outcome = self.renew(&cancel).await;
        leading.cancel();
        let _ = task.await;
        self.status.set(0);
        match outcome {
            Ok(()) => {
                if self.config().release_on_cancel {
                    self.release().await;
                }
                Ok(())
            }
            Err(lost) => Err(lost),
        }
    }

    fn jittered(&self) -> Duration {
        let base = self.config().retry_period;
        base + base.mul_f64(rand::random::<f64>() * JITTER_FACTOR)
    }

    /// Tries until the Lease is ours; `false` when cancelled first.
    async fn acquire(&mut self, cancel: &CancellationToken) -> bool {
        let mut last_holder = String::new();
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(lease = %self.config().name, identity = %self.config().identity, "acquired the lease");
                    self.status.set(1);
                    return true;
                }
                Ok(false) => {
                    let holder = self.elector.observed_holder().unwrap_or_default().to_owned();
                    if holder != last_holder {
                        info!(lease = %self.config().name, %holder, "the lease is held by another candidate");
                        last_holder = holder;
                    }
                }
                Err(e) => warn!(lease = %self.config().name, error = %e, "error acquiring the lease"),
            }
            tokio::select! {
                () = cancel.cancelled() => return false,
                () = tokio::time::sleep(self.jittered()) => {}
            }
        }
    }

    /// Renews every retry period; each renewal may retry until the renew deadline.
    async fn renew(&mut self, cancel: &CancellationToken) -> Result<(), LeadershipLost> {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.config().retry_period) => {}
            }
            let deadline = Instant::now() + self.config().renew_deadline;
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => debug!("lease renewal refused"),
                    Err(e) => debug!(error = %e, "lease renewal failed"),
                }
                if Instant::now() + self.config().retry_period > deadline {
                    warn!(lease = %self.config().name, "failed to renew the lease within the renew deadline");
                    return Err(LeadershipLost(self.config().name.clone()));
                }
                tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    () = tokio::time::sleep(self.config().retry_period) => {}
                }
            }
        }
    }

    /// One read and (maybe) one conditional write. `Ok(true)` when we hold the lease.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, ClientError> {
        let name = self.config().name.clone();
        let current = self.api.get_opt(&name).await?;
        let record = current.as_ref().map(LeaseRecord::from_lease);
        let decision = self.elector.try_acquire_or_renew(record.as_ref(), Instant::now(), Timestamp::now());
        let (written, record) = match decision {
            Decision::HeldBy(_) => return Ok(false),
            Decision::Create(record) => {
                let mut lease = Lease::default();
                lease.metadata.name = Some(name);
                lease.metadata.namespace = Some(self.config().namespace.clone());
                record.apply_to(&mut lease);
                (self.api.create(&lease, &PostParams::default()).await, record)
            }
            Decision::Update(record) => {
                let Some(mut lease) = current else { return Ok(false) };
                record.apply_to(&mut lease);
                // Conditional on the resourceVersion we read: one winner per round.
                (self.api.replace(&name, &lease, &PostParams::default()).await, record)
            }
        };
        match written {
            Ok(_) => {
                self.elector.wrote(record, Instant::now());
                Ok(true)
            }
            Err(ClientError::Api(e)) if e.code() == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up so the next candidate need not wait for it to expire.
    async fn release(&mut self) {
        let Some(record) = self.elector.release_record(Timestamp::now()) else { return };
        let name = self.config().name.clone();
        match self.api.get_opt(&name).await {
            Ok(Some(mut lease)) if LeaseRecord::from_lease(&lease).holder == self.config().identity => {
                record.apply_to(&mut lease);
                match self.api.replace(&name, &lease, &PostParams::default()).await {
                    Ok(_) => info!(lease = %name, "released the lease"),
                    Err(e) => warn!(lease = %name, error = %e, "failed to release the lease"),
                }
            }
            Ok(_) => {}
            Err(e) => warn!(lease = %name, error = %e, "failed to read the lease for release"),
        }
    }
}
