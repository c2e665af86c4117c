//! `etcd-bench`: a load generator for any etcd v3 endpoint (etcd or kstore-server).
//!
//! ```text
//! etcd-bench --endpoint 127.0.0.1:2379 --workload put --clients 128 --conns 16 --secs 10
//! ```
//!
//! Workloads: `put` (256-byte values, random keys), `get` (linearizable) and `get-serializable`
//! on one key, `txn-cas` (compare mod_revision then put, the API server's update), and
//! `watch` (watchers on one prefix, writers putting `--events` events). Prints one line:
//! `workload=… clients=… ops_per_s=… p50_ms=… p99_ms=…` (for `watch`: deliveries per
//! second and event latency from write to delivery).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use kstore::client::Client;
use kstore::watch::{WatchMessage, WatchRequest};
use kstore::{
    Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, RequestOp, ResponseOp, TxnRequest, prefix_end,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    Put,
    Get,
    GetSerializable,
    TxnCas,
    Watch,
}

/// Load generator for etcd v3 endpoints.
#[derive(Debug, Parser)]
struct Args {
    /// host:port of the server.
    #[arg(long)]
    endpoint: String,
    /// What to run.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Concurrent clients (writers, for `watch`).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// gRPC connections shared by the clients.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Seconds to run (not for `watch`).
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 256)]
    value_size: usize,
    /// Watchers (for `watch`).
    #[arg(long, default_value_t = 200)]
    watchers: usize,
    /// Events written (for `watch`).
    #[arg(long, default_value_t = 10_000)]
    events: u64,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

async fn connections(args: &Args) -> Result<Vec<Client>, String> {
    let mut out = Vec::new();
    for _ in 0..args.conns.max(1) {
        out.push(Client::connect(&args.endpoint).await.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Runs `op` in `clients` loops for `secs`; returns (ops/s, sorted latencies in µs).
async fn closed_loop<F, Fut>(args: &Args, conns: &[Client], op: F) -> Result<(f64, Vec<u64>), String>
where
    F: Fn(Client, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, op, running) = (conns[c % conns.len()].clone(), op.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while running.load(Ordering::Relaxed) {
                let t = Instant::now();
                op(client.clone(), c, n).await?;
                lat.push(t.elapsed().as_micros() as u64);
                n += 1;
            }
            Ok::<Vec<u64>, String>(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.secs)).await;
    running.store(false, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok((all.len() as f64 / secs, all))
}

fn key(c: usize, n: u64) -> Bytes {
    // Random-looking keys spread over the keyspace, like `benchmark put` with random keys.
    let h = (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    Bytes::from(format!("bench/{:016x}", h % 100_000))
}

async fn run(args: Args) -> Result<(), String> {
    let conns = connections(&args).await?;
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let label = match args.workload {
        Workload::Put => "put",
        Workload::Get => "get-linearizable",
        Workload::GetSerializable => "get-serializable",
        Workload::TxnCas => "txn-cas",
        Workload::Watch => "watch",
    };
    let (ops, lat) = match args.workload {
        Workload::Put => {
            let v = value.clone();
            closed_loop(&args, &conns, move |c, i, n| {
                let req = PutRequest { key: key(i, n), value: v.clone(), ..PutRequest::default() };
                async move { c.put(&req).await.map(|_| ()).map_err(|e| e.to_string()) }
            })
            .await?
        }
        Workload::Get | Workload::GetSerializable => {
            let k = Bytes::from_static(b"bench/get");
            conns[0]
                .put(&PutRequest { key: k.clone(), value: value.clone(), ..PutRequest::default() })
                .await
                .map_err(|e| e.to_string())?;
            let serializable = args.workload == Workload::GetSerializable;
            closed_loop(&args, &conns, move |c, _, _| {
                let req = RangeRequest { serializable, ..RangeRequest::key(k.clone()) };
                async move { c.range(&req).await.map(|_| ()).map_err(|e| e.to_string()) }
            })
            .await?
        }
        Workload::TxnCas => {
            // Each client updates its own key with If ModRevision == last seen Then Put Else
            // Range, remembering the revision it wrote (or the one the Else branch returned).
            let revs: Arc<Vec<AtomicU64>> = Arc::new((0..args.clients).map(|_| AtomicU64::new(0)).collect());
            let v = value.clone();
            closed_loop(&args, &conns, move |c, i, _| {
                let k = Bytes::from(format!("bench/cas/{i}"));
                let expected = revs[i].load(Ordering::Relaxed) as i64;
                let txn = TxnRequest {
                    compare: vec![Compare {
                        key: k.clone(),
                        range_end: Bytes::new(),
                        result: CompareResult::Equal,
                        target: CompareTarget::Mod(expected),
                    }],
                    success: vec![RequestOp::Put(PutRequest {
                        key: k.clone(),
                        value: v.clone(),
                        ..PutRequest::default()
                    })],
                    failure: vec![RequestOp::Range(RangeRequest::key(k))],
                };
                let revs = revs.clone();
                async move {
                    let resp = c.txn(&txn).await.map_err(|e| e.to_string())?;
                    let next = if resp.succeeded {
                        resp.revision
                    } else {
                        match resp.responses.first() {
                            Some(ResponseOp::Range(r)) => r.kvs.first().map_or(0, |kv| kv.mod_revision),
                            _ => 0,
                        }
                    };
                    revs[i].store(next as u64, Ordering::Relaxed);
                    Ok(())
                }
            })
            .await?
        }
        Workload::Watch => return watch(&args, &conns, value).await,
    };
    println!(
        "workload={label} clients={} conns={} ops_per_s={ops:.0} p50_ms={:.2} p99_ms={:.2}",
        args.clients,
        args.conns,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
    Ok(())
}

/// Watch fan-out: `watchers` watch one prefix; `clients` writers put `events` values that
/// carry their send time; reports deliveries per second and delivery latency.
async fn watch(args: &Args, conns: &[Client], value: Bytes) -> Result<(), String> {
    let prefix = Bytes::from_static(b"bench/watch/");
    let epoch = Instant::now();
    let mut watchers = Vec::new();
    for w in 0..args.watchers {
        let c = conns[w % conns.len()].clone();
        let req = WatchRequest { key: prefix.clone(), range_end: prefix_end(&prefix), ..WatchRequest::default() };
        let mut stream = c.watch(&req).await.map_err(|e| e.to_string())?;
        match stream.next().await.map_err(|e| e.to_string())? {
            Some(WatchMessage::Created { .. }) => {}
            other => return Err(format!("watch not created: {other:?}")),
        }
        let total = args.events;
        watchers.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(total as usize);
            while (lat.len() as u64) < total {
                match stream.next().await {
                    Ok(Some(WatchMessage::Events { events, .. })) => {
                        let now = epoch.elapsed().as_micros() as u64;
                        for e in events {
                            let sent =
                                e.kv.value.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                            lat.push(now.saturating_sub(sent));
                        }
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            lat
        }));
    }
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..args.clients.max(1) {
        let (c, next, prefix, value) = (conns[w % conns.len()].clone(), next.clone(), prefix.clone(), value.clone());
        let total = args.events;
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), String>(());
                }
                let mut v = value.to_vec();
                let stamp = (epoch.elapsed().as_micros() as u64).to_le_bytes();
                let n8 = v.len().min(8);
                v[..n8].copy_from_slice(&stamp[..n8]);
                let mut k = prefix.to_vec();
                k.extend_from_slice(format!("{:06}", n % 1000).as_bytes());
                c.put(&PutRequest { key: k.into(), value: v.into(), ..PutRequest::default() })
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }));
    }
    for w in writers {
        w.await.map_err(|e| e.to_string())??;
    }
    let mut all = Vec::new();
    for w in watchers {
        let lat = tokio::time::timeout(Duration::from_secs(120), w)
            .await
            .map_err(|_| "watchers timed out".to_string())?
            .map_err(|e| e.to_string())?;
        all.extend(lat);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    println!(
        "workload=watch watchers={} writers={} events={} deliveries={} deliveries_per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        args.watchers,
        args.clients,
        args.events,
        all.len(),
        all.len() as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
