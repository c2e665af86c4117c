//! `kube-apiserver`: the Kubernetes API server over an embedded kstore (`--data-dir`) or
//! an etcd cluster (`--etcd-servers`), with kube-apiserver's flag names.
//!
//! ```text
//! kube-apiserver --data-dir /var/lib/kapi --secure-port 6443 --write-kubeconfig admin.conf
//! kubectl --kubeconfig admin.conf get namespaces
//! ```

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use kapiserver::kubelet::KubeletClientConfig;
use kapiserver::{ApiServer, Config};
use kstore::backend::{DynBackend, EmbeddedBackend, RemoteBackend};
use kstore::{Store, StoreConfig};

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The Kubernetes API server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Data directory: the embedded store (unless --etcd-servers), certificates, tokens.
    #[arg(long, default_value = "./kapiserver-data")]
    data_dir: PathBuf,
    /// Use these etcd (or kstore-server) client URLs instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    etcd_servers: Vec<String>,
    /// HTTPS port.
    #[arg(long, default_value_t = 6443)]
    secure_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_address: IpAddr,
    /// Address advertised to clients and in the `kubernetes` endpoints.
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Write an admin kubeconfig here once serving.
    #[arg(long)]
    write_kubeconfig: Option<PathBuf>,
    /// Serving certificate (PEM); generated in the data directory when unset.
    #[arg(long)]
    tls_cert_file: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long)]
    tls_private_key_file: Option<PathBuf>,
    /// CA for client certificates; the generated CA when unset.
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Static tokens: token,user,uid,"group1,group2" per line.
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Service ClusterIP range.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: String,
    /// Service NodePort range.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: String,
    /// CA that kubelets' serving certificates are verified with (unverified when unset).
    #[arg(long)]
    kubelet_certificate_authority: Option<PathBuf>,
    /// Client certificate presented to kubelets.
    #[arg(long, requires = "kubelet_client_key")]
    kubelet_client_certificate: Option<PathBuf>,
    /// Key of `--kubelet-client-certificate`.
    #[arg(long, requires = "kubelet_client_certificate")]
    kubelet_client_key: Option<PathBuf>,
}

async fn backend(args: &Args) -> Result<DynBackend, Box<dyn std::error::Error>> {
    if args.etcd_servers.is_empty() {
        let store = Store::open(StoreConfig::single(1, Some(args.data_dir.join("store")))).await?;
        return Ok(Arc::new(EmbeddedBackend::new(Arc::new(store))));
    }
    // Several members: requests are spread over those that answer, so losing a minority
    // of an etcd cluster does not stop the API server.
    // The store may be starting beside us (static pods start together): wait for it for a
    // while, as kube-apiserver does, rather than exit into a restart back-off.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match RemoteBackend::connect_cluster(&args.etcd_servers).await {
            Ok(b) => return Ok(Arc::new(b)),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("no etcd server reachable at {}: {e}", args.etcd_servers.join(",")).into());
            }
            Err(e) => tracing::warn!(error = %e, "waiting for the store"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let backend = backend(&args).await?;
    let cancel = kcluster::serve::shutdown_signal()?;
    let config = Config {
        bind_address: args.bind_address,
        secure_port: args.secure_port,
        data_dir: args.data_dir.clone(),
        tls_cert_file: args.tls_cert_file.clone(),
        tls_private_key_file: args.tls_private_key_file.clone(),
        client_ca_file: args.client_ca_file.clone(),
        token_auth_file: args.token_auth_file.clone(),
        service_cluster_ip_range: args.service_cluster_ip_range.clone(),
        service_node_port_range: args.service_node_port_range.clone(),
        advertise_address: args.advertise_address,
        kubelet: KubeletClientConfig {
            certificate_authority: args.kubelet_certificate_authority.clone(),
            client_certificate: args.kubelet_client_certificate.clone(),
            client_key: args.kubelet_client_key.clone(),
        },
        ..Config::default()
    };
    let server = ApiServer::start(config, backend, cancel.clone()).await?;
    if let Some(path) = &args.write_kubeconfig {
        server.write_kubeconfig(path)?;
        eprintln!("kubeconfig written to {}", path.display());
    }
    println!("serving on {}", server.url());
    cancel.cancelled().await;
    server.wait().await;
    Ok(())
}
