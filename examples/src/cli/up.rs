//! `kcluster up`: the whole cluster in this process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

use crate::cluster::{Cluster, ClusterConfig, NodesConfig, RuntimeChoice};
use kproxy::agent::ProxyMode;

/// `kcluster up`.
#[derive(Debug, clap::Args)]
pub struct Up {
    /// Store, certificates and kubeconfig; kept across restarts.
    #[arg(long, default_value = "./kcluster-data")]
    data_dir: PathBuf,
    /// The API server's HTTPS port.
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1")]
    bind_address: IpAddr,
    /// External etcd or kstore-server client URLs instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    store_endpoints: Vec<String>,
    /// Where metrics and /healthz are served (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:10249")]
    metrics_bind_address: SocketAddr,
    /// Where cluster DNS answers (UDP and TCP).
    #[arg(long, default_value = "127.0.0.1:10053")]
    dns_address: SocketAddr,
    /// Number of nodes (kubelets in this process).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// The first node's container runtime; the other nodes use the fake runtime.
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Auto)]
    runtime: RuntimeChoice,
    /// containerd's CRI socket (for `--runtime auto|containerd`).
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    container_runtime_endpoint: String,
    /// The containerd node's IP (default loopback).
    #[arg(long)]
    node_ip: Option<Ipv4Addr>,
    /// kube-proxy's mode on the containerd node.
    #[arg(long, value_enum, default_value_t = Proxy::Nftables)]
    proxy_mode: Proxy,
    /// The pod network, for kube-proxy's masquerade rules.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_cidr: String,
    /// Static pod manifests run by the first node's kubelet.
    #[arg(long)]
    pod_manifest_path: Option<PathBuf>,
    /// How long a node may miss heartbeats before its pods are evicted.
    #[arg(long, default_value = "40s", value_parser = crate::flags::parse_duration)]
    node_monitor_grace_period: std::time::Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = crate::flags::parse_duration)]
    node_monitor_period: std::time::Duration,
}

/// kube-proxy's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Proxy {
    /// nftables rules.
    Nftables,
    /// iptables rules.
    Iptables,
    /// IPVS virtual servers.
    Ipvs,
    /// No kube-proxy.
    None,
}

/// Runs `kcluster up` until Ctrl-C or SIGTERM.
pub async fn up(args: Up) -> Result<(), super::BoxError> {
    let cancel = crate::serve::shutdown_signal()?;
    let config = ClusterConfig {
        data_dir: args.data_dir,
        port: args.port,
        bind_address: args.bind_address,
        store_endpoints: args.store_endpoints,
        metrics_address: args.metrics_bind_address,
        dns_address: Some(args.dns_address),
        nodes: NodesConfig {
            count: args.nodes,
            runtime: args.runtime,
            containerd_socket: PathBuf::from(
                args.container_runtime_endpoint.strip_prefix("unix://").unwrap_or(&args.container_runtime_endpoint),
            ),
            node_ip: args.node_ip,
            static_pod_path: args.pod_manifest_path,
            ..NodesConfig::default()
        },
        proxy_mode: match args.proxy_mode {
            Proxy::Nftables => Some(ProxyMode::Nftables),
            Proxy::Iptables => Some(ProxyMode::Iptables),
            Proxy::Ipvs => Some(ProxyMode::Ipvs),
            Proxy::None => None,
        },
        cluster_cidr: args.cluster_cidr,
        node_monitor_grace_period: args.node_monitor_grace_period,
        node_monitor_period: args.node_monitor_period,
        in_process_watches: true,
    };
    let started = Instant::now();
    let cluster = Cluster::start(&config, cancel.clone(), |step| {
        eprintln!("[{:>5.1}s] started {step}", started.elapsed().as_secs_f64());
    })
    .await?;
    eprintln!("kubeconfig: {}", cluster.kubeconfig().display());
    eprintln!("  export KUBECONFIG={}; kubectl get nodes", cluster.kubeconfig().display());
    let want = config.nodes.count;
    cluster
        .wait_nodes_ready(want, |n| eprintln!("[{:>5.1}s] {n}/{want} nodes Ready", started.elapsed().as_secs_f64()))
        .await;
    println!("ready");
    cluster.wait().await;
    eprintln!("stopped");
    Ok(())
}
