//! `kube-controller-manager`: the built-in controllers (deployment, replicaset,
//! replicationcontroller, job, garbage-collector, namespace, endpointslice, node-lifecycle,
//! serviceaccount) in one process, under leader election, with upstream's flag names.
//!
//! ```text
//! kube-controller-manager --kubeconfig admin.conf --controllers '*'
//! ```
//!
//! Metrics (`controller_runtime_*`, `workqueue_*`, `leader_election_master_status`) and
//! `/healthz` are served over plain HTTP on `--metrics-bind-address` (upstream serves them
//! over HTTPS on `--secure-port`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser};
use kcluster::flags::{hostname, parse_duration};
use kcontroller::leader::LeaderElectionConfig;
use kcontroller::manager::{self, ManagerConfig};
use prometheus_client::registry::Registry;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the built-in Kubernetes controllers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Kubeconfig of the API server (in-cluster configuration when unset).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Controllers to run: `*` for all, `name` to add one, `-name` to remove one.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// Run only while holding the leader election Lease.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    leader_elect: bool,
    /// How long a non-leader waits before taking over an unrenewed lease.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    leader_elect_lease_duration: Duration,
    /// How long the leader keeps trying to renew before giving up.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    leader_elect_renew_deadline: Duration,
    /// Time between acquire or renew attempts.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    leader_elect_retry_period: Duration,
    /// Name of the Lease.
    #[arg(long, default_value = "kube-controller-manager")]
    leader_elect_resource_name: String,
    /// Namespace of the Lease.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    /// How long a node may go without a heartbeat before it is marked unreachable.
    #[arg(long, default_value = "40s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    node_monitor_period: Duration,
    /// Where to serve /metrics and /healthz (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:10257")]
    metrics_bind_address: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let config = match &args.kubeconfig {
        Some(path) => kwatch::http::Config::from_kubeconfig(path, None)?,
        None => kwatch::http::Config::infer()?,
    };
    let client = kwatch::http::Client::new(&config)?;
    // Upstream's identity: hostname plus a unique suffix.
    let identity = format!("{}_{}", hostname(), uuid::Uuid::new_v4());
    let mut mc = ManagerConfig::new(format!("kube-controller-manager-{}", hostname()));
    mc.controllers = args.controllers.clone();
    mc.node_monitor_grace_period = args.node_monitor_grace_period;
    mc.node_monitor_period = args.node_monitor_period;
    if args.leader_elect {
        mc.leader_election = Some(
            LeaderElectionConfig::new(
                &args.leader_elect_resource_namespace,
                &args.leader_elect_resource_name,
                identity,
            )
            .durations(
                args.leader_elect_lease_duration,
                args.leader_elect_renew_deadline,
                args.leader_elect_retry_period,
            ),
        );
    }
    mc.selected()?;

    let cancel = kcluster::serve::shutdown_signal()?;
    let mut registry = Registry::default();
    let manager = manager::Manager::new(client, mc, &mut registry)?;
    let registry = Arc::new(registry);
    let addr = kcluster::serve::serve_metrics(args.metrics_bind_address, registry, cancel.clone()).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    manager.run(cancel).await?;
    Ok(())
}
