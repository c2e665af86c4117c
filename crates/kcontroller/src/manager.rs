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

/// Runs the selected controllers until `cancel` fires (or leadership is lost). Metrics go
/// to `registry`.
///
/// # Errors
/// A controller that cannot be built, invalid leader election settings, or lost leadership.
pub async fn run(
    client: Client,
    config: ManagerConfig,
    registry: &mut Registry,
    cancel: CancellationToken,
) -> Result<(), ManagerError> {
    let selected = config.selected()?;
    let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::register(registry));
    let metrics = ControllerMetrics::register(registry);
    let mut ctx = Context::new(client.clone(), informers.clone(), metrics, config.instance.clone())?;
    ctx.node_monitor_grace_period = config.node_monitor_grace_period;
    ctx.node_monitor_period = config.node_monitor_period;
    let work = move |leading: CancellationToken| async move {
        let mut running = Vec::new();
        for name in &selected {
            match controllers::build(name, &ctx, leading.clone()) {
                Ok(r) => running.push(async move { (name, r.await) }),
                Err(e) => error!(controller = %name, error = %e, "cannot start controller"),
            }
        }
        info!(controllers = ?selected, "starting controllers");
        informers.start(leading.clone());
        for (name, result) in join_all(running).await {
            if let Err(e) = result {
                error!(controller = %name, error = %e, "controller stopped with an error");
            }
        }
    };
    match config.leader_election {
        None => {
            work(cancel).await;
            Ok(())
        }
        Some(le) => {
            let elector = LeaderElector::new(client, le)?.with_metrics(registry);
            elector.run(cancel, work).await?;
            Ok(())
        }
    }
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
