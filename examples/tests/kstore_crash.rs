//! Crash test: 128 clients write while the server is killed with SIGKILL; after each
//! restart every write that was acknowledged must be there. Repeated 20 times on the same
//! data directory (`KSTORE_CRASH_ITERATIONS` overrides the count).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kstore::client::Client;
use kstore::{PutRequest, RangeRequest};
use support::*;

const CLIENTS: usize = 128;
const CONNECTIONS: usize = 16;

async fn connect(endpoint: &str) -> Client {
    for _ in 0..200 {
        if let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(1), Client::connect(endpoint)).await {
            if c.range(&RangeRequest::key(Bytes::from_static(b"probe"))).await.is_ok() {
                return c;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {endpoint} did not come up");
}

async fn read_all(c: &Client) -> HashMap<usize, u64> {
    let resp = c.range(&RangeRequest::prefix(Bytes::from_static(b"c/"))).await.unwrap();
    resp.kvs
        .iter()
        .map(|kv| {
            let key = std::str::from_utf8(&kv.key).unwrap();
            let client: usize = key.trim_start_matches("c/").parse().unwrap();
            (client, std::str::from_utf8(&kv.value).unwrap().parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let iterations: usize = std::env::var("KSTORE_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let root = tempfile::tempdir().unwrap();
    let (mut members, cluster) = members(root.path(), 1);
    let m = &mut members[0];
    // Last acknowledged value per client, carried across crashes.
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    let mut total_acked = 0u64;
    for iteration in 0..iterations {
        m.start(&cluster, "new");
        let endpoint = m.endpoint();
        let first = connect(&endpoint).await;

        // Verify: every client's key holds at least its last acknowledged value.
        let stored = read_all(&first).await;
        for (c, a) in acked.iter().enumerate() {
            let want = a.load(Ordering::SeqCst);
            let got = stored.get(&c).copied().unwrap_or(0);
            assert!(got >= want, "iteration {iteration}: client {c} acknowledged {want} but the store has {got}");
            // Continue after whatever reached the store (an unacknowledged write may have).
            a.store(got, Ordering::SeqCst);
        }

        // Write load: 128 clients over 16 connections, each writing increasing values.
        let mut conns = vec![first];
        for _ in 1..CONNECTIONS {
            conns.push(connect(&endpoint).await);
        }
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let kv = conns[c % CONNECTIONS].clone();
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = acked[c].load(Ordering::SeqCst);
                let mut ok = 0u64;
                loop {
                    n += 1;
                    let put = PutRequest {
                        key: Bytes::from(format!("c/{c}")),
                        value: Bytes::from(n.to_string()),
                        ..PutRequest::default()
                    };
                    match tokio::time::timeout(Duration::from_secs(2), kv.put(&put)).await {
                        Ok(Ok(_)) => {
                            acked[c].store(n, Ordering::SeqCst);
                            ok += 1;
                        }
                        _ => return ok,
                    }
                }
            }));
        }
        let run_ms = 300 + (iteration as u64 * 97) % 500;
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        m.kill();
        for t in tasks {
            total_acked += t.await.unwrap();
        }
    }
    // One last restart to check the final round.
    m.start(&cluster, "new");
    let client = connect(&m.endpoint()).await;
    let stored = read_all(&client).await;
    for (c, a) in acked.iter().enumerate() {
        let got = stored.get(&c).copied().unwrap_or(0);
        assert!(got >= a.load(Ordering::SeqCst), "final check: client {c}");
    }
    assert!(total_acked > 1000, "the load ran ({total_acked} acknowledged writes)");
    eprintln!("crash test: iterations={iterations} acknowledged_writes={total_acked}");
}
