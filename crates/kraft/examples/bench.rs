//! Throughput and latency of a 3-node group.
//!
//! ```text
//! cargo run --release -p kraft --example bench -- --nodes 3 --clients C --secs S [--durable]
//! ```
//!
//! Without `--durable`: all nodes in one process, in-memory log, in-process network, empty
//! payloads (the shape of openraft's minimal benchmark). With `--durable`: nodes talk over
//! loopback TCP and persist through the write-ahead log with fsync (group commit).
//! Each client proposes, waits for the result, and repeats. Prints one line:
//! `bench=raft nodes=… clients=… durable=… ops_per_s=… p50_us=… p99_us=…`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kraft::node::tcp::{self, TcpTransport};
use kraft::node::{MemNetwork, MemStorage, Node, NodeConfig, NodeHandle, Start, StateMachine, WalStorage};
use kraft::wal::WalOptions;
use kraft::{Config, NodeId, Role};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

// The benchmark binary uses mimalloc: glibc malloc's arena locks, contended between the
// two runtime threads, cost about a tenth of the run otherwise.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Noop;

impl StateMachine for Noop {
    fn apply(&mut self, _index: u64, _data: Bytes) -> Bytes {
        Bytes::new()
    }
    fn snapshot(&self) -> Bytes {
        Bytes::new()
    }
    fn restore(&mut self, _data: &[u8]) {}
}

struct Args {
    nodes: u64,
    clients: usize,
    secs: u64,
    durable: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args { nodes: 3, clients: 64, secs: 5, durable: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).ok_or(format!("{flag} needs a number"));
        match flag.as_str() {
            "--nodes" => a.nodes = num()?,
            "--clients" => a.clients = num()? as usize,
            "--secs" => a.secs = num()?,
            "--durable" => a.durable = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn node_config(id: NodeId) -> NodeConfig {
    let mut raft = Config::new(id);
    raft.max_inflight_msgs = 4096;
    raft.max_size_per_msg = 4 << 20;
    let mut c = NodeConfig::new(raft);
    c.tick = Duration::from_millis(50);
    c.snapshot_entries = 100_000;
    c.keep_entries = 10_000;
    c.queue = 1 << 16;
    c
}

async fn leader(handles: &[NodeHandle]) -> Result<NodeHandle, String> {
    for _ in 0..500 {
        for h in handles {
            if h.status().await.map_err(|e| e.to_string())?.role == Role::Leader {
                return Ok(h.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("no leader elected".into())
}

async fn run(args: Args) -> Result<(), String> {
    let ids: Vec<NodeId> = (1..=args.nodes).collect();
    let start = || Start::Bootstrap { voters: ids.clone(), learners: vec![] };
    let stop = CancellationToken::new();
    let mut nodes = Vec::new();
    let _dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    if args.durable {
        let mut listeners = HashMap::new();
        let mut addrs = HashMap::new();
        for &id in &ids {
            let l = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            addrs.insert(id, l.local_addr().map_err(|e| e.to_string())?);
            listeners.insert(id, l);
        }
        for &id in &ids {
            let peers = addrs.iter().filter(|(p, _)| **p != id).map(|(&p, &a)| (p, a)).collect();
            let storage =
                WalStorage::open(_dir.path().join(id.to_string()), WalOptions::default()).map_err(|e| e.to_string())?;
            let node = Node::start(node_config(id), start(), storage, TcpTransport::new(peers, stop.clone()), Noop)
                .map_err(|e| e.to_string())?;
            let listener = listeners.remove(&id).ok_or("listener")?;
            tokio::spawn(tcp::serve(listener, node.inbox(), stop.clone()));
            nodes.push(node);
        }
    } else {
        let net = MemNetwork::new();
        for &id in &ids {
            let node = Node::start(node_config(id), start(), MemStorage::new(), net.transport(), Noop)
                .map_err(|e| e.to_string())?;
            net.register(id, node.inbox());
            nodes.push(node);
        }
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(Node::handle).collect();
    let leader = leader(&handles).await?;
    // Warm up.
    for _ in 0..100 {
        leader.propose(Bytes::new()).await.map_err(|e| e.to_string())?;
    }
    // A flag rather than a clock read per operation ends the run; latency is sampled on
    // every 8th operation to keep the harness's own cost (clock reads) out of the figures.
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let h = leader.clone();
        let running = running.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(1 << 14);
            let mut ops = 0u64;
            while running.load(Ordering::Relaxed) {
                let sample = ops % 8 == 0;
                let t = sample.then(Instant::now);
                if h.propose(Bytes::new()).await.is_err() {
                    break;
                }
                ops += 1;
                if let Some(t) = t {
                    lat.push(t.elapsed().as_micros() as u32);
                }
            }
            (ops, lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    running.store(false, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut total_ops = 0u64;
    for t in tasks {
        let (ops, lat) = t.await.map_err(|e| e.to_string())?;
        total_ops += ops;
        all.extend(lat);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct =
        |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    println!(
        "bench=raft nodes={} clients={} durable={} ops_per_s={:.0} p50_us={} p99_us={}",
        args.nodes,
        args.clients,
        args.durable,
        total_ops as f64 / secs,
        pct(0.50),
        pct(0.99)
    );
    for node in nodes {
        let _ = node.shutdown().await;
    }
    stop.cancel();
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
