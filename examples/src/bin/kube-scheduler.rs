//! `kube-scheduler`: the ksched scheduler against an API server, with kube-scheduler's
//! flag names: profiles from a KubeSchedulerConfiguration file, leader election on the
//! `kube-system/kube-scheduler` Lease.
//!
//! ```text
//! kube-scheduler --kubeconfig admin.conf [--config scheduler.yaml]
//! ```
//!
//! Metrics and `/healthz` are served over plain HTTP on `--metrics-bind-address` (upstream
//! serves them over HTTPS on `--secure-port` 10259).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser};
use kcluster::flags::{hostname, parse_duration};
use kcontroller::informers::Informers;
use kcontroller::leader::{LeaderElectionConfig, LeaderElector};
use ksched::framework::SchedulerConfig;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Schedules pods onto nodes.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Kubeconfig of the API server (in-cluster configuration when unset).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// A KubeSchedulerConfiguration file (profiles, plugins, args).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Schedule only while holding the leader election Lease.
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
    #[arg(long, default_value = "kube-scheduler")]
    leader_elect_resource_name: String,
    /// Namespace of the Lease.
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    /// Where to serve /metrics and /healthz (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:10259")]
    metrics_bind_address: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let kube = match &args.kubeconfig {
        Some(path) => kwatch::http::Config::from_kubeconfig(path, None)?,
        None => kwatch::http::Config::infer()?,
    };
    let client = kwatch::http::Client::new(&kube)?;
    let config = match &args.config {
        Some(path) => SchedulerConfig::from_yaml(&std::fs::read_to_string(path)?)?,
        None => SchedulerConfig::default(),
    };
    let registry = ksched::kube::registry(&client);
    // Fail early on a bad configuration rather than after winning the election.
    config.build_profiles(&registry)?;

    let cancel = kcluster::serve::shutdown_signal()?;
    let mut metrics = Registry::default();
    let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::register(&mut metrics));
    let scheduler_metrics = ksched::scheduler::SchedulerMetrics::register(&mut metrics);
    let elector = if args.leader_elect {
        let le = LeaderElectionConfig::new(
            &args.leader_elect_resource_namespace,
            &args.leader_elect_resource_name,
            format!("{}_{}", hostname(), uuid::Uuid::new_v4()),
        )
        .durations(
            args.leader_elect_lease_duration,
            args.leader_elect_renew_deadline,
            args.leader_elect_retry_period,
        );
        Some(LeaderElector::new(client.clone(), le)?.with_metrics(&mut metrics))
    } else {
        None
    };
    let addr = kcluster::serve::serve_metrics(args.metrics_bind_address, Arc::new(metrics), cancel.clone()).await?;
    tracing::info!(%addr, "serving /metrics and /healthz");
    let work = move |leading: CancellationToken| async move {
        if let Err(e) =
            ksched::kube::run(client, &config, &registry, &informers, Some(scheduler_metrics), leading).await
        {
            tracing::error!(error = %e, "scheduler stopped");
        }
    };
    match elector {
        Some(e) => e.run(cancel, work).await?,
        None => work(cancel).await,
    }
    Ok(())
}
