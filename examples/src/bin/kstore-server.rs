//! `kstore-server`: an etcd-compatible server with etcd's flag names.
//!
//! ```text
//! kstore-server --name s1 --data-dir /var/lib/s1 \
//!   --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
//!   --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
//!   --initial-cluster s1=http://127.0.0.1:2380 --initial-cluster-state new
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kcluster::flags::{parse_initial_cluster, parse_urls};
use kstore::grpc::{ClusterInfo, MemberInfo, Server};
use kstore::member_id_for_peer;
use kstore::{Store, StoreConfig};
use tokio::net::TcpListener;

// mimalloc: glibc malloc (allocation, free, consolidation) took about 13% of
// kstore-server's CPU samples under etcd-bench's put load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ClusterState {
    New,
    Existing,
}

/// An etcd-compatible key-value server (kstore replicated by kraft).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Human-readable name of this member.
    #[arg(long, default_value = "default")]
    name: String,
    /// Data directory (default: `NAME.etcd`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// URLs to listen on for client traffic.
    #[arg(long, default_value = "http://localhost:2379")]
    listen_client_urls: String,
    /// Client URLs advertised to the cluster.
    #[arg(long, default_value = "http://localhost:2379")]
    advertise_client_urls: String,
    /// URLs to listen on for peer traffic.
    #[arg(long, default_value = "http://localhost:2380")]
    listen_peer_urls: String,
    /// Peer URLs advertised to the cluster.
    #[arg(long, default_value = "http://localhost:2380")]
    initial_advertise_peer_urls: String,
    /// Initial cluster: name=peer-url,…
    #[arg(long, default_value = "default=http://localhost:2380")]
    initial_cluster: String,
    /// `new` to bootstrap, `existing` to join a running cluster.
    #[arg(long, value_enum, default_value = "new")]
    initial_cluster_state: ClusterState,
    /// Heartbeat interval in milliseconds (one Raft tick).
    #[arg(long, default_value_t = 100)]
    heartbeat_interval: u64,
    /// Election timeout in milliseconds.
    #[arg(long, default_value_t = 1000)]
    election_timeout: u64,
    /// Applied entries between snapshots.
    #[arg(long, default_value_t = 100_000)]
    snapshot_count: u64,
    /// Largest request accepted, in bytes.
    #[arg(long, default_value_t = 1_572_864)]
    max_request_bytes: usize,
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = parse_initial_cluster(&args.initial_cluster)?;
    let Some(&(_, my_peer)) = cluster.iter().find(|(n, _)| *n == args.name) else {
        return Err(kcluster::flags::FlagError::NotAMember(args.name.clone()).into());
    };
    let client_addrs = parse_urls(&args.listen_client_urls)?;
    let peer_listen = parse_urls(&args.listen_peer_urls)?.into_iter().next();
    let id = member_id_for_peer(my_peer);
    let mut cfg =
        StoreConfig::single(id, Some(args.data_dir.clone().unwrap_or_else(|| format!("{}.etcd", args.name).into())));
    cfg.tick = Duration::from_millis(args.heartbeat_interval.max(1));
    cfg.election_ticks = u32::try_from((args.election_timeout / args.heartbeat_interval.max(1)).max(2)).unwrap_or(10);
    cfg.snapshot_entries = args.snapshot_count;
    cfg.join = args.initial_cluster_state == ClusterState::Existing;
    // Always with peers (even alone), so that members can be added later.
    cfg.peers = cluster.iter().map(|(_, a)| (member_id_for_peer(*a), *a)).collect::<BTreeMap<_, _>>();
    cfg.peer_listen = peer_listen;
    let members: Vec<MemberInfo> = cluster
        .iter()
        .map(|(n, a)| MemberInfo {
            id: member_id_for_peer(*a),
            name: n.clone(),
            peer_urls: vec![format!("http://{a}")],
            client_urls: if *n == args.name {
                args.advertise_client_urls.split(',').map(|s| s.trim().to_owned()).collect()
            } else {
                Vec::new()
            },
            is_learner: false,
        })
        .collect();
    let store = Arc::new(Store::open(cfg).await?);
    let stop = kcluster::serve::shutdown_signal()?;
    let mut servers = Vec::new();
    for addr in client_addrs {
        let listener = TcpListener::bind(addr).await?;
        let server = Server::new(store.clone())
            .cluster(ClusterInfo { members: members.clone() })
            .max_request_bytes(args.max_request_bytes);
        servers.push(tokio::spawn(server.serve(listener, stop.clone())));
    }
    tracing::info!(name = %args.name, id = format!("{id:x}"), "kstore-server ready to serve client requests");
    stop.cancelled().await;
    tracing::info!("shutting down");
    for s in servers {
        s.await??;
    }
    if let Some(store) = Arc::into_inner(store) {
        store.shutdown().await?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kstore-server: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kstore-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
