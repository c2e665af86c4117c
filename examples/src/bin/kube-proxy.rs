//! `kube-proxy`: the kproxy agent against an API server, with kube-proxy's flag names.
//! Watches Services and EndpointSlices and programs iptables, nftables or IPVS rules on this
//! node.
//!
//! ```text
//! kube-proxy --kubeconfig admin.conf --proxy-mode nftables --cluster-cidr 10.244.0.0/16
//! ```
//!
//! Needs root (or CAP_NET_ADMIN) and `iptables-restore`/`iptables` or `nft` (IPVS mode:
//! `ipvsadm`, `ipset`, `ip` and a kernel with `ip_vs`), plus `conntrack`. Metrics and `/healthz` are served over plain HTTP on
//! `--metrics-bind-address`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kapi::k8s::api::core::v1::Node;
use kcluster::flags::{hostname, parse_duration};
use kproxy::agent::{Agent, AgentConfig, ProxyMetrics, ProxyMode, SystemRunner};
use kproxy::model::{Cidr, ProxyConfig};
use kwatch::http::Api;
use prometheus_client::registry::Registry;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Which rules to program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// iptables-restore documents in the nat and filter tables.
    Iptables,
    /// One nftables table `ip kube-proxy`.
    Nftables,
    /// IPVS virtual servers (not implemented by the agent yet).
    Ipvs,
}

/// Programs Service virtual IPs on this node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Which proxy mode to use.
    #[arg(long, value_enum, default_value = "iptables")]
    proxy_mode: Mode,
    /// Kubeconfig of the API server (in-cluster configuration when unset).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The pod CIDR: traffic from outside it to cluster IPs is masqueraded.
    #[arg(long)]
    cluster_cidr: Option<String>,
    /// This node's name, if not the hostname.
    #[arg(long)]
    hostname_override: Option<String>,
    /// This node's IPv4 addresses (NodePort destinations), comma-separated. Default: the
    /// Node object's InternalIP addresses.
    #[arg(long, value_delimiter = ',')]
    node_ip: Vec<Ipv4Addr>,
    /// Where to serve /metrics and /healthz (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:10249")]
    metrics_bind_address: SocketAddr,
    /// Minimum time between rule syncs (changes meanwhile are batched).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    min_sync_period: Duration,
    /// Time between full syncs.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    sync_period: Duration,
    /// Masquerade all traffic sent to Service cluster IPs.
    #[arg(long)]
    masquerade_all: bool,
    /// IPVS mode: the scheduler of every virtual server (rr, lc, dh, sh, sed, nq).
    #[arg(long, default_value = "rr")]
    ipvs_scheduler: String,
}

/// The Node object's InternalIP (else ExternalIP) IPv4 addresses, if it exists.
async fn node_ips(client: &kwatch::http::Client, node: &str) -> Vec<Ipv4Addr> {
    let nodes: Api<Node> = Api::all(client.clone());
    let Ok(Some(n)) = nodes.get_opt(node).await else { return Vec::new() };
    let addrs = n.status.and_then(|s| s.addresses).unwrap_or_default();
    ["InternalIP", "ExternalIP"]
        .iter()
        .map(|t| addrs.iter().filter(|a| a.type_ == *t).filter_map(|a| a.address.parse().ok()).collect::<Vec<_>>())
        .find(|v| !v.is_empty())
        .unwrap_or_default()
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
    let node_name = args.hostname_override.clone().unwrap_or_else(hostname);
    let mut proxy = ProxyConfig::new(node_name.clone());
    proxy.cluster_cidr = args.cluster_cidr.as_deref().map(Cidr::parse).transpose()?;
    proxy.masquerade_all = args.masquerade_all;
    proxy.node_ips = if args.node_ip.is_empty() { node_ips(&client, &node_name).await } else { args.node_ip.clone() };
    if proxy.node_ips.is_empty() {
        tracing::warn!(node = %node_name, "no node IPs known (no Node object, no --node-ip): NodePorts only match LOCAL addresses in iptables mode");
    }
    let mode = match args.proxy_mode {
        Mode::Iptables => ProxyMode::Iptables,
        Mode::Nftables => ProxyMode::Nftables,
        Mode::Ipvs => ProxyMode::Ipvs,
    };
    let mut config = AgentConfig::new(proxy, mode);
    config.min_sync_period = args.min_sync_period;
    config.sync_period = args.sync_period;
    config.ipvs_scheduler = kproxy::ipvs::Scheduler::parse(&args.ipvs_scheduler)?;

    let cancel = kcluster::serve::shutdown_signal()?;
    let mut registry = Registry::default();
    let informer_metrics = kwatch::metrics::Metrics::register(&mut registry);
    let metrics = ProxyMetrics::register(&mut registry);
    let agent = Agent::new(config, Arc::new(SystemRunner::new()), metrics)?;
    let addr = kcluster::serve::serve_metrics(args.metrics_bind_address, Arc::new(registry), cancel.clone()).await?;
    tracing::info!(%addr, node = %node_name, mode = %mode, "serving /metrics and /healthz");
    agent.run(client, Some(&informer_metrics), cancel).await?;
    Ok(())
}
