//! Pod startup latency: `kcluster` in process (store, API server, scheduler, controllers,
//! N kubelets), P pods created through the API, and for each the time from its create
//! request to the informer seeing it Running.
//!
//! ```text
//! cargo run --release -p kcluster --example pod-startup -- --nodes 50 --pods 1000
//! cargo run --release -p kcluster --example pod-startup -- --containerd --pods 20
//! ```
//!
//! With `--containerd` there is one node on a real containerd, started by the example in
//! a network namespace of its own with a bridge CNI network and offline-built busybox and
//! pause images (`kcri::testing`; needs root, containerd, runc, busybox-static and the CNI
//! plugins). Otherwise the nodes run the fake runtime.
//!
//! Prints one line: `runtime=… nodes=… pods=… p50_ms=… p99_ms=… max_ms=… total_s=… bound_p50_ms=…
//! bound_p99_ms=…` (the `bound_` figures: until the watch sees the pod bound to a node).
//! `--requests` also prints the API server's request counts by verb and resource to stderr.
//! `--http-watches` has the cluster's components watch over HTTP rather than in process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kapi::k8s::api::core::v1::Pod;
use kcluster::cluster::{Cluster, ClusterConfig, NodesConfig, RuntimeChoice};
use kcontroller::informers::Informers;
use kwatch::http::{Api, PostParams};
use kwatch::informer::Event;
use tokio_util::sync::CancellationToken;

// The allocator of the `kcluster` binary, so the figures are those of the shipped cluster:
// with glibc malloc, allocation and free took about a quarter of this benchmark's CPU samples.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pod(i: usize, image: &str) -> Result<Pod, serde_json::Error> {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("startup-{i}"), "namespace": "default", "labels": {"bench": "startup"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": image,
            "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}}}]}
    }))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Logs only when asked (`RUST_LOG=knode=info`), on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let real = args.iter().any(|a| a == "--containerd");
    let (nodes, pods) =
        if real { (1, arg(&args, "--pods", 20)) } else { (arg(&args, "--nodes", 50), arg(&args, "--pods", 1000)) };
    let containerd = if real {
        let cd = kcri::testing::Containerd::start_isolated().await;
        cd.import_images().await;
        Some(cd)
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!("kcluster-pod-startup-{}", std::process::id()));
    let node_config = match &containerd {
        Some(cd) => NodesConfig {
            count: 1,
            runtime: RuntimeChoice::Containerd,
            containerd_socket: cd.socket().to_path_buf(),
            ..NodesConfig::default()
        },
        None => NodesConfig { count: nodes, runtime: RuntimeChoice::Fake, ..NodesConfig::default() },
    };
    let image = if real { kcri::testing::BUSYBOX } else { "busybox" };
    let config = ClusterConfig {
        data_dir: dir.clone(),
        port: 0,
        metrics_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        dns_address: None,
        nodes: node_config,
        // The process runs in the host's network namespace, whose rules are not ours.
        proxy_mode: None,
        in_process_watches: !args.iter().any(|a| a == "--http-watches"),
        ..ClusterConfig::default()
    };
    let cancel = CancellationToken::new();
    let cluster = Cluster::start(&config, cancel.clone(), |_| {}).await?;
    tokio::time::timeout(Duration::from_secs(120), cluster.wait_nodes_ready(nodes, |_| {})).await?;

    // Watch pods; note when each is first seen Running.
    let client = cluster.client().clone();
    let mut registry = prometheus_client::registry::Registry::default();
    let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::register(&mut registry));
    let mut sub = informers.get::<Pod>()?.subscribe(4096, None);
    informers.start(cancel.clone());
    let running: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let bound: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = Arc::clone(&running);
    let seen_bound = Arc::clone(&bound);
    tokio::spawn(async move {
        while let Some(ev) = sub.recv().await {
            let p = match ev {
                Event::Added(p) | Event::Updated { new: p, .. } => p,
                _ => continue,
            };
            if p.spec.as_ref().is_some_and(|s| s.node_name.is_some()) {
                let name = p.metadata.name.clone().unwrap_or_default();
                seen_bound
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
            if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") {
                let name = p.metadata.name.clone().unwrap_or_default();
                seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(name).or_insert_with(Instant::now);
            }
        }
    });

    // Create the pods, 32 requests in flight.
    let api: Api<Pod> = Api::namespaced(client, "default");
    let started = Instant::now();
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..pods {
        let (api, created, permit) = (api.clone(), Arc::clone(&created), Arc::clone(&sem).acquire_owned().await?);
        let p = pod(i, image)?;
        tasks.spawn(async move {
            let name = p.metadata.name.clone().unwrap_or_default();
            let at = Instant::now();
            let r = api.create(&p, &PostParams::default()).await;
            drop(permit);
            if r.is_ok() {
                created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name, at);
            }
            r.map(|_| ())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() < pods {
        if Instant::now() > deadline {
            return Err("timed out waiting for pods to run".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = started.elapsed();
    let created = created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let running = running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut lat: Vec<f64> = created
        .iter()
        .filter_map(|(name, at)| running.get(name).map(|r| r.saturating_duration_since(*at).as_secs_f64() * 1e3))
        .collect();
    lat.sort_by(f64::total_cmp);
    // The scheduling part: create request → the watch sees the pod bound to a node.
    let bound = bound.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    let mut sched: Vec<f64> = created
        .iter()
        .filter_map(|(name, at)| bound.get(name).map(|b| b.saturating_duration_since(*at).as_secs_f64() * 1e3))
        .collect();
    sched.sort_by(f64::total_cmp);
    println!(
        "runtime={} nodes={nodes} pods={pods} p50_ms={:.0} p99_ms={:.0} max_ms={:.0} total_s={:.1} bound_p50_ms={:.0} bound_p99_ms={:.0}",
        if real { "containerd" } else { "fake" },
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0),
        total.as_secs_f64(),
        percentile(&sched, 0.5),
        percentile(&sched, 0.99)
    );
    if args.iter().any(|a| a == "--requests") {
        // Where the API server's work went: requests by verb and resource, to stderr.
        let resp = cluster.client().send(hyper::Method::GET, "/metrics", None).await?;
        let body = http_body_util::BodyExt::collect(resp.into_body()).await?.to_bytes();
        for line in String::from_utf8_lossy(&body).lines() {
            if line.starts_with("apiserver_request_total{") {
                eprintln!("{line}");
            }
        }
    }
    if containerd.is_some() {
        // Stop the containers before containerd goes away.
        for i in 0..pods {
            api.delete(&format!("startup-{i}"), &Default::default()).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while !api.list(&Default::default()).await?.items.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    cancel.cancel();
    cluster.wait().await;
    if let Some(cd) = containerd {
        cd.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
