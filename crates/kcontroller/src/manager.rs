//! The controller manager: the built-in controllers in one process, over one set of shared
//! informers, optionally under leader election — the library behind the
//! `kube-controller-manager` binary.

use std::time::Duration;

use futures_util::future::join_all;
use kwatch::http::Client;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::controllers::{self, BuildError, Context};
use crate::informers::Informers;
use crate::leader::{ConfigError, LeaderElectionConfig, LeaderElector, LeadershipLost};
use crate::runtime::ControllerMetrics;

/// Errors of the manager.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// A controller could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The leader election settings are invalid.
    #[error(transparent)]
    LeaderElection(#[from] ConfigError),
    /// Leadership was lost; the controllers were stopped.
    #[error(transparent)]
    Lost(#[from] LeadershipLost),
}

/// What to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// Controllers to run, by name; `*` means all, `-name` removes one (upstream syntax).
    pub controllers: Vec<String>,
    /// Leader election, or none to run unconditionally.
    pub leader_election: Option<LeaderElectionConfig>,
    /// `reportingInstance` of events.
    pub instance: String,
    /// Node heartbeat grace period (40 s).
    pub node_monitor_grace_period: Duration,
    /// Node health check period (5 s).
    pub node_monitor_period: Duration,
}

impl ManagerConfig {
    /// All controllers, no leader election.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            controllers: vec!["*".into()],
            leader_election: None,
            instance: instance.into(),
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
        }
    }

    /// The controllers selected by [`ManagerConfig::controllers`].
    ///
    /// # Errors
    /// An unknown controller name.
    pub fn selected(&self) -> Result<Vec<&'static str>, BuildError> {
        let mut out: Vec<&'static str> = Vec::new();
        for item in &self.controllers {
            let (negate, name) = match item.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, item.as_str()),
            };
            if name == "*" {
                for n in controllers::NAMES {
                    if !out.contains(n) {
                        out.push(n);
                    }
                }
                continue;
            }
            let Some(known) = controllers::NAMES.iter().copied().find(|n| *n == name) else {
                return Err(BuildError::Unknown(name.to_owned()));
            };
            if negate {
                out.retain(|n| *n != known);
            } else if !out.contains(&known) {
                out.push(known);
            }
        }
        Ok(out)
    }
}

/// The built-in controllers, ready to run. Building registers every metric, so the
/// registry can be shared (served) before [`Manager::run`].
pub struct Manager {
    client: Client,
    selected: Vec<&'static str>,
    ctx: Context,
    elector: Option<LeaderElector>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("controllers", &self.selected).finish()
    }
}

impl Manager {
    /// Prepares the selected controllers; metrics go to `registry`.
    ///
    /// # Errors
    /// An unknown controller, an informer that cannot be built, or invalid leader election
    /// settings.
    pub fn new(client: Client, config: ManagerConfig, registry: &mut Registry) -> Result<Self, ManagerError> {
        let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::register(registry));
        Self::with_informers(client, config, informers, registry)
    }

    /// As [`Manager::new`], with the controllers' informers taken from `informers`: in a
    /// process that runs other components too (a scheduler, DNS), one watch per resource
    /// feeds them all instead of one per component. [`Manager::run`] starts them (again).
    ///
    /// # Errors
    /// As [`Manager::new`].
    pub fn with_informers(
        client: Client,
        config: ManagerConfig,
        informers: Informers,
        registry: &mut Registry,
    ) -> Result<Self, ManagerError> {
        let selected = config.selected()?;
        let metrics = ControllerMetrics::register(registry);
        let mut ctx = Context::new(client.clone(), informers, metrics, config.instance.clone())?;
        ctx.node_monitor_grace_period = config.node_monitor_grace_period;
        ctx.node_monitor_period = config.node_monitor_period;
        let elector = match config.leader_election {
            Some(le) => Some(LeaderElector::new(client.clone(), le)?.with_metrics(registry)),
            None => None,
        };
        Ok(Self { client, selected, ctx, elector })
    }

    /// Runs until `cancel` fires (or leadership is lost): waits for leadership if elected,
    /// then starts the informers and the controllers; on the way out, stops them and
    /// releases the lease.
    ///
    /// # Errors
    /// Lost leadership (the controllers have stopped; upstream exits then).
    pub async fn run(self, cancel: CancellationToken) -> Result<(), ManagerError> {
        let Manager { client: _, selected, ctx, elector } = self;
        let work = move |leading: CancellationToken| async move {
            let mut running = Vec::new();
            for name in &selected {
                match controllers::build(name, &ctx, leading.clone()) {
                    Ok(r) => running.push(async move { (name, r.await) }),
                    Err(e) => error!(controller = %name, error = %e, "cannot start controller"),
                }
            }
            info!(controllers = ?selected, "starting controllers");
            ctx.informers.start(leading.clone());
            for (name, result) in join_all(running).await {
                if let Err(e) = result {
                    error!(controller = %name, error = %e, "controller stopped with an error");
                }
            }
        };
        match elector {
            None => {
                work(cancel).await;
                Ok(())
            }
            Some(elector) => Ok(elector.run(cancel, work).await?),
        }
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// [`Manager::new`] then [`Manager::run`].
///
/// # Errors
/// See both.
pub async fn run(
    client: Client,
    config: ManagerConfig,
    registry: &mut Registry,
    cancel: CancellationToken,
) -> Result<(), ManagerError> {
    Manager::new(client, config, registry)?.run(cancel).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_selection_follows_upstream_syntax() {
        let mut c = ManagerConfig::new("test");
        assert_eq!(c.selected().unwrap().len(), controllers::NAMES.len());
        c.controllers = vec!["*".into(), "-namespace".into()];
        assert!(!c.selected().unwrap().contains(&"namespace"));
        c.controllers = vec!["serviceaccount".into()];
        assert_eq!(c.selected().unwrap(), ["serviceaccount"]);
        c.controllers = vec!["bogus".into()];
        assert!(c.selected().is_err());
    }
}
