//! `kcluster`: a whole cluster in one process, or its control plane as static pods.
//!
//! ```text
//! kcluster up [--data-dir ./kcluster-data] [--port 6443] [--nodes N] [--runtime auto|containerd|fake]
//!             [--store-endpoints URL,…] [--proxy-mode nftables|iptables|ipvs|none]
//!             [--container-runtime-endpoint unix:///run/containerd/containerd.sock] [--node-ip IP]
//! export KUBECONFIG=./kcluster-data/kubeconfig; kubectl get nodes
//!
//! kcluster control-plane --manifest-dir /etc/kubernetes/manifests --data-dir /var/lib/kcluster
//! kcluster image --out runtime.tar && ctr -n k8s.io images import runtime.tar
//! kubelet --pod-manifest-path /etc/kubernetes/manifests --kubeconfig /var/lib/kcluster/kubelet.conf
//! ```
//!
//! Restarting `up` with the same data directory keeps every object. With a node on
//! containerd, kube-proxy programs this machine's rules for it (root needed), and its pods
//! resolve names through the `kube-dns` Service when `--node-ip` gives an address they can
//! reach.

use clap::Parser;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A small real Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: kcluster::cli::Command,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match kcluster::cli::run(Args::parse().command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcluster: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
