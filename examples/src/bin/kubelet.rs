//! `kubelet`: the knode kubelet against an API server, with kubelet's flag names. Runs pods
//! through a CRI runtime (`--container-runtime-endpoint`), or, for fake nodes, through the
//! in-memory fake runtime (`--container-runtime-endpoint fake`, or a socket that does not
//! exist) with resources from `--fake-cpu`/`--fake-memory`.
//!
//! ```text
//! kubelet --kubeconfig admin.conf --hostname-override node-1 \
//!     --container-runtime-endpoint unix:///run/containerd/containerd.sock
//! kubelet --kubeconfig admin.conf --node-name fake-1 --container-runtime-endpoint fake \
//!     --fake-cpu 8 --fake-memory 32Gi --root-dir /tmp/fake-1
//! ```
//!
//! Static pods are read from `--pod-manifest-path` and shown as mirror pods. Not served:
//! the kubelet API on :10250 (exec, logs, port-forward).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use kcluster::flags::{hostname, parse_duration};
use knode::{Kubelet, KubeletConfig};

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs the pods bound to this node.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Kubeconfig of the API server (in-cluster configuration when unset).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The node's name (default: the hostname).
    #[arg(long, visible_alias = "node-name")]
    hostname_override: Option<String>,
    /// CRI endpoint (`unix:///run/containerd/containerd.sock`); `fake` for the in-memory runtime.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    container_runtime_endpoint: String,
    /// Run pods on the in-memory fake runtime (kcri::fake): a fake node, like KWOK's.
    #[arg(long)]
    fake_runtime: bool,
    /// Root of the kubelet's files (pod volumes under `<root>/pods`).
    #[arg(long, default_value = "/var/lib/kubelet")]
    root_dir: PathBuf,
    /// Root of pod logs.
    #[arg(long, default_value = "/var/log/pods")]
    pod_logs_dir: PathBuf,
    /// Labels to register with: `key=value,…`.
    #[arg(long, default_value = "")]
    node_labels: String,
    /// Taints to register with: `key=value:Effect,…` (or `key:Effect`).
    #[arg(long, default_value = "")]
    register_with_taints: String,
    /// Whether to register the Node.
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    register_node: bool,
    /// The node's IP (default: the address of the default route).
    #[arg(long)]
    node_ip: Option<IpAddr>,
    /// `spec.podCIDR` to register with.
    #[arg(long)]
    pod_cidr: Option<String>,
    /// Maximum number of pods.
    #[arg(long, default_value_t = 110)]
    max_pods: i64,
    /// CPU capacity of a fake node (`8`, `7500m`); the host's otherwise.
    #[arg(long)]
    fake_cpu: Option<String>,
    /// Memory capacity of a fake node (`32Gi`); the host's otherwise.
    #[arg(long)]
    fake_memory: Option<String>,
    /// How often node status is computed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    node_status_update_frequency: Duration,
    /// Periodic resync of every pod.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    sync_frequency: Duration,
    /// Directory of static pod manifests.
    #[arg(long)]
    pod_manifest_path: Option<PathBuf>,
    /// How often the static pod directory is rescanned.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    file_check_frequency: Duration,
    /// Address of the kubelet API (HTTPS; `kubectl logs` through the API server). It does
    /// not authenticate callers, as upstream's flag defaults: keep it off untrusted networks.
    #[arg(long, default_value = "0.0.0.0")]
    address: IpAddr,
    /// Port of the kubelet API (0 = a free port, reported in the Node's status).
    #[arg(long, default_value_t = 10250)]
    port: u16,
    /// Serving certificate of the kubelet API (self-signed under `<root-dir>/pki` when unset).
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Key of `--tls-cert-file`.
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Name servers of ClusterFirst pods, comma-separated.
    #[arg(long, value_delimiter = ',')]
    cluster_dns: Vec<std::net::IpAddr>,
    /// The cluster's DNS domain (searched by ClusterFirst pods), e.g. cluster.local.
    #[arg(long, default_value = "")]
    cluster_domain: String,
    /// The host's resolver configuration, for pods with dnsPolicy Default ("" for none).
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let kube = match &args.kubeconfig {
        Some(path) => kwatch::http::Config::from_kubeconfig(path, None)?,
        None => kwatch::http::Config::infer()?,
    };
    let client = kwatch::http::Client::new(&kube)?;
    let node_name = args.hostname_override.clone().unwrap_or_else(hostname).to_lowercase();

    let (runtime, images) = kcluster::node::runtime(&args.container_runtime_endpoint, args.fake_runtime).await?;

    let mut config = KubeletConfig::new(
        node_name,
        kcluster::node::capacity(args.max_pods, args.fake_cpu.as_deref(), args.fake_memory.as_deref())?,
    );
    config.labels = knode::config::parse_labels(&args.node_labels)?;
    config.taints = knode::config::parse_taints(&args.register_with_taints)?;
    config.register_node = args.register_node;
    config.node_ip = args.node_ip;
    config.pod_cidr = args.pod_cidr.clone();
    config.root_dir = args.root_dir.clone();
    config.pod_log_dir = args.pod_logs_dir.clone();
    config.node_status_update_frequency = args.node_status_update_frequency;
    config.sync_frequency = args.sync_frequency;
    config.static_pod_path = args.pod_manifest_path.clone();
    config.file_check_frequency = args.file_check_frequency;
    config.address = args.address;
    config.port = args.port;
    config.tls_cert_file = args.tls_cert_file.clone();
    config.tls_private_key_file = args.tls_private_key_file.clone();
    config.cluster_dns = args.cluster_dns.clone();
    config.cluster_domain = args.cluster_domain.clone();
    config.resolv_conf = args.resolv_conf.clone();
    let kubelet = Kubelet::builder(config).runtime(runtime, images).client(client).build()?;

    let cancel = kcluster::serve::shutdown_signal()?;
    kubelet.run(cancel).await?;
    Ok(())
}
