//! API server benchmark over HTTPS with a real client (kube-rs), on the embedded durable
//! store: pod creates/s with concurrent clients, the latency of listing 10k pods, and watch
//! fan-out to many watchers. One `name=value` line per figure.
//!
//! ```text
//! cargo run --release -p kapiserver --example apiserver_bench -- --clients 64 --pods 10000 --watchers 1000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kapiserver::{ApiServer, Config};
use kstore::backend::EmbeddedBackend;
use kstore::{Store, StoreConfig};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use tokio_util::sync::CancellationToken;

struct Args {
    clients: usize,
    pods: usize,
    watchers: usize,
    events: usize,
}

fn args() -> Args {
    let mut a = Args { clients: 64, pods: 10_000, watchers: 1000, events: 100 };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--clients", Some(v)) => a.clients = v,
            ("--pods", Some(v)) => a.pods = v,
            ("--watchers", Some(v)) => a.watchers = v,
            ("--events", Some(v)) => a.events = v,
            (other, _) => panic!("unknown or bad flag {other}"),
        }
    }
    a
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}]}
    }))
    .expect("pod")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args();
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::single(1, Some(dir.path().join("store")))).await?;
    let backend = Arc::new(EmbeddedBackend::new(Arc::new(store)));
    let cancel = CancellationToken::new();
    let config = Config { data_dir: dir.path().join("api"), secure_port: 0, ..Config::default() };
    let server = ApiServer::start(config, backend, cancel.clone()).await?;
    server.write_kubeconfig(&dir.path().join("kubeconfig"))?;
    let kc = kube::config::Kubeconfig::read_from(dir.path().join("kubeconfig"))?;
    let client_config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;

    // Creates: `clients` concurrent clients (each its own connection) until `pods` exist.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let client = kube::Client::try_from(client_config.clone())?;
        let next = Arc::clone(&next);
        let total = a.pods;
        tasks.push(tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(client, "default");
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let t = Instant::now();
                pods.create(&PostParams::default(), &pod(&format!("p{i}"))).await.expect("create");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "bench=pod_create clients={} pods={} creates_per_sec={:.0} p50_ms={:.2} p99_ms={:.2}",
        a.clients,
        a.pods,
        a.pods as f64 / secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // Lists of all pods: consistent (no resourceVersion), from the cache ("0"), and paged.
    let client = kube::Client::try_from(client_config.clone())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, params) in [("consistent", ListParams::default()), ("rv0", ListParams::default().match_any())] {
        let mut lat = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let got = pods.list(&params).await?;
            lat.push(t.elapsed());
            assert_eq!(got.items.len(), a.pods);
        }
        lat.sort();
        println!(
            "bench=pod_list mode={name} pods={} p50_ms={:.1} max_ms={:.1}",
            a.pods,
            percentile(&lat, 0.5),
            percentile(&lat, 1.0)
        );
    }
    let t = Instant::now();
    let mut params = ListParams::default().limit(500);
    let mut seen = 0;
    loop {
        let page = pods.list(&params).await?;
        seen += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => params = params.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen, a.pods);
    println!("bench=pod_list mode=paged500 pods={} total_ms={:.1}", a.pods, t.elapsed().as_secs_f64() * 1e3);

    // Watch fan-out: `watchers` watches on a namespace, then `events` creates.
    let ns = "fanout";
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    nss.create(&PostParams::default(), &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}}))?).await?;
    let watched: Api<Pod> = Api::namespaced(client.clone(), ns);
    let rv = watched.list(&ListParams::default()).await?.metadata.resource_version.unwrap_or_default();
    let received = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    let per_conn = 100;
    for chunk in 0..a.watchers.div_ceil(per_conn) {
        let client = kube::Client::try_from(client_config.clone())?;
        for _ in 0..per_conn.min(a.watchers - chunk * per_conn) {
            let api: Api<Pod> = Api::namespaced(client.clone(), ns);
            let mut stream = api.watch(&WatchParams::default().timeout(290), &rv).await?.boxed();
            let received = Arc::clone(&received);
            let want = a.events;
            watchers.push(tokio::spawn(async move {
                let mut n = 0;
                while n < want {
                    match stream.next().await {
                        Some(Ok(WatchEvent::Added(_))) => {
                            n += 1;
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                n
            }));
        }
    }
    let t = Instant::now();
    for i in 0..a.events {
        watched.create(&PostParams::default(), &pod(&format!("w{i}"))).await?;
    }
    let mut complete = 0;
    for w in watchers {
        if w.await? == a.events {
            complete += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let total = received.load(Ordering::Relaxed);
    println!(
        "bench=watch_fanout watchers={} events={} deliveries={total} complete_watchers={complete} seconds={secs:.2} deliveries_per_sec={:.0}",
        a.watchers,
        a.events,
        total as f64 / secs
    );
    cancel.cancel();
    Ok(())
}
