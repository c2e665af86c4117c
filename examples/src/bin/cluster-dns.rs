//! `cluster-dns`: the cluster's DNS server (the CoreDNS role) — answers
//! `<svc>.<ns>.svc.cluster.local` A and SRV queries from the API's Services and
//! EndpointSlices, and refuses everything else (it forwards nothing).
//!
//! ```text
//! cluster-dns --kubeconfig admin.conf --listen 127.0.0.1:10053
//! dig @127.0.0.1 -p 10053 kubernetes.default.svc.cluster.local
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use kcluster::dns::DnsServer;
use kcontroller::informers::Informers;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves cluster DNS.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Kubeconfig of the API server (in-cluster configuration when unset).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// UDP and TCP address to answer on.
    #[arg(long, default_value = "0.0.0.0:53")]
    listen: SocketAddr,
    /// The cluster domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let kube = match &args.kubeconfig {
        Some(path) => kwatch::http::Config::from_kubeconfig(path, None)?,
        None => kwatch::http::Config::infer()?,
    };
    let client = kwatch::http::Client::new(&kube)?;
    let cancel = kcluster::serve::shutdown_signal()?;
    let mut registry = prometheus_client::registry::Registry::default();
    let informers = Informers::new(client, kwatch::metrics::Metrics::register(&mut registry));
    let server = DnsServer::start(args.listen, &args.cluster_domain, &informers, cancel.clone()).await?;
    informers.start(cancel.clone());
    tracing::info!(addr = %server.local_addr(), zone = %args.cluster_domain, "serving DNS");
    cancel.cancelled().await;
    Ok(())
}
