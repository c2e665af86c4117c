//! Memory and recovery time of a durable single-node store.
//!
//! ```text
//! cargo run --release -p kstore --example recovery -- --keys 1000000
//! ```
//!
//! Loads N keys (64-byte keys, 256-byte values, like etcd's published 1M-key figure) through
//! the replicated path (WAL with fsync, snapshots), reports the process's resident memory,
//! restarts the store from disk and reports how long it took until every key was back.
//! Prints one line:
//! `bench=kstore_recovery keys=… load_s=… rss_mb=… disk_mb=… recovery_s=… rss_after_recovery_mb=…`
//! (recovery runs in a second process, so its memory figure is the recovered store's alone).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kstore::{PutRequest, RangeRequest, Store, StoreConfig};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn dir_mb(path: &std::path::Path) -> f64 {
    fn walk(p: &std::path::Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(p) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(path) as f64 / (1 << 20) as f64
}

fn key(i: u64) -> Bytes {
    Bytes::from(format!("/registry/pods/namespace-{:04}/pod-{:040}", i % 1000, i).into_bytes())
}

async fn run(keys: u64) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cfg = StoreConfig::single(1, Some(dir.path().to_path_buf()));
    cfg.tick = Duration::from_millis(10);
    let store = Arc::new(Store::open(cfg.clone()).await.map_err(|e| e.to_string())?);
    let value = Bytes::from(vec![b'v'; 256]);
    let started = Instant::now();
    // Single-key puts from 256 concurrent clients: the API server's write pattern.
    let writers = 256u64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, value) = (store.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < keys {
                store
                    .put(PutRequest { key: key(i), value: value.clone(), ..PutRequest::default() })
                    .await
                    .map_err(|e| e.to_string())?;
                i += writers;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let load_s = started.elapsed().as_secs_f64();
    let rss = rss_mb();
    let revision = store.revision();
    let store = Arc::into_inner(store).ok_or("store still shared")?;
    store.shutdown().await.map_err(|e| e.to_string())?;
    let disk = dir_mb(dir.path());

    // Recover in a fresh process, so that its memory figure is the recovered store's alone.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .args([
            "--recover",
            &dir.path().display().to_string(),
            "--keys",
            &keys.to_string(),
            "--revision",
            &revision.to_string(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let recovered = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(format!("recovery process failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    println!("bench=kstore_recovery keys={keys} load_s={load_s:.1} rss_mb={rss:.0} disk_mb={disk:.0} {recovered}");
    Ok(())
}

async fn recover(dir: std::path::PathBuf, keys: u64, revision: i64) -> Result<(), String> {
    let mut cfg = StoreConfig::single(1, Some(dir));
    cfg.tick = Duration::from_millis(10);
    let started = Instant::now();
    let store = Store::open(cfg).await.map_err(|e| e.to_string())?;
    while store.revision() < revision {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recovery_s = started.elapsed().as_secs_f64();
    let count = store
        .range(&RangeRequest {
            key: Bytes::from_static(b"/"),
            range_end: Bytes::from_static(b"\0"),
            count_only: true,
            ..RangeRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?
        .count;
    if count as u64 != keys {
        return Err(format!("recovered {count} keys, wrote {keys}"));
    }
    println!("recovery_s={recovery_s:.2} rss_after_recovery_mb={:.0}", rss_mb());
    store.shutdown().await.map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    let mut keys = 1_000_000u64;
    let mut recover_dir = None;
    let mut revision = 0i64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        match (a.as_str(), value) {
            ("--keys", Some(n)) if n.parse::<u64>().is_ok() => keys = n.parse().unwrap_or(keys),
            ("--recover", Some(d)) => recover_dir = Some(std::path::PathBuf::from(d)),
            ("--revision", Some(r)) if r.parse::<i64>().is_ok() => revision = r.parse().unwrap_or(0),
            _ => {
                eprintln!("usage: recovery [--keys N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("recovery: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match recover_dir {
        Some(dir) => rt.block_on(recover(dir, keys, revision)),
        None => rt.block_on(run(keys)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recovery: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
