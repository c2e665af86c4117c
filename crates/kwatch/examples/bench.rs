//! Memory, throughput and relist peak of a shared informer over realistic Pods.
//!
//! ```text
//! cargo run --release --example bench -- [--pods N] [--events M]
//! ```
//!
//! Loads N Pods of about 4 KB of JSON each (labels, owner reference, managed fields, two
//! containers with env, resources, probes and mounts, full status) into an in-memory
//! source, and runs a [`SharedInformer`] with three secondary indexes (node, app label,
//! owner) plus the namespace index, and one handler draining its events. Everything runs
//! on one runtime thread. Prints:
//!
//! ```text
//! objects=… pod_json_bytes=… bytes_per_object=… events_per_s=… relist_peak_ratio=…
//! variant=strip_managed_fields bytes_per_object=…
//! ```
//!
//! - `bytes_per_object`: heap bytes the informer (cache, indexes, keys) holds per Pod after
//!   the initial list, counted by the global allocator below.
//! - `events_per_s`: watch events per second through source stream → reflector → cache
//!   (with its indexes) → handler, replaying M pre-recorded modifications from history.
//! - `relist_peak_ratio`: peak heap held by the informer during a forced relist in which
//!   every Pod changed, divided by its steady size.

// The counting allocator needs `unsafe impl GlobalAlloc`; the library itself forbids unsafe.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as System;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kapi::k8s::api::core::v1::{ConfigMap, Pod};
use kwatch::informer::{Event, SharedInformer};
use kwatch::lister::ListerWatcher;
use kwatch::memory::MemoryListerWatcher;
use kwatch::object::{Object, Transform};
use kwatch::packed::Packed;
use kwatch::reflector::ReflectorConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = ALLOCATED.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call forwards to mimalloc with the caller's arguments; the counters are
// only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

fn reset_peak() -> usize {
    let now = allocated();
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// A Pod as a Deployment's ReplicaSet creates it, scheduled and running.
fn realistic_pod(i: usize) -> Pod {
    let app = format!("app-{}", i % 50);
    let ns = format!("team-{}", i % 20);
    let name = format!("{app}-7d9f8b6c5-{i:05x}");
    let node = format!("node-{:03}", i % 200);
    let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let env = |prefix: &str| {
        (0..2)
            .map(|k| json!({"name": format!("{prefix}_VAR_{k}"), "value": format!("value-{k}-{i}")}))
            .collect::<Vec<_>>()
    };
    let container = |cname: &str, image: &str, port: u16| {
        json!({
            "name": cname, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": port, "name": "http", "protocol": "TCP"}],
            "env": env(&cname.to_uppercase()),
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "volumeMounts": [
                {"name": "config", "mountPath": "/etc/config", "readOnly": true},
                {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
            ]
        })
    };
    let status = |cname: &str, image: &str| {
        json!({
            "name": cname, "image": image, "imageID": format!("docker.io/library/{image}@sha256:{:064x}", i),
            "containerID": format!("containerd://{:064x}", i * 7 + 1), "ready": true, "restartCount": 0,
            "state": {"running": {"startedAt": "2024-05-01T10:00:05Z"}}
        })
    };
    let conditions: Vec<serde_json::Value> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2024-05-01T10:00:06Z"}))
        .collect();
    let value = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "generateName": format!("{app}-7d9f8b6c5-"), "namespace": ns,
            "uid": format!("{:08x}-1234-4abc-9def-{:012x}", i, i),
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": app, "pod-template-hash": "7d9f8b6c5", "tier": "backend", "version": "v1.4.2"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "bench/round": "000000000"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8b6c5"),
                "uid": format!("rs-{:08x}-0000-4000-8000-000000000000", i % 50), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2024-05-01T10:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {},
                    "f:ownerReferences": {}}, "f:spec": {"f:containers": {}, "f:dnsPolicy": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2024-05-01T10:00:06Z",
                 "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {"f:status": {"f:conditions": {},
                    "f:containerStatuses": {}, "f:phase": {}}}}
            ]
        },
        "spec": {
            "containers": [container("app", "registry.example.com/team/app:v1.4.2", 8080),
                           container("sidecar", "registry.example.com/infra/proxy:2.3.1", 15001)],
            "volumes": [{"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}},
                        {"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": node,
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ]
        },
        "status": {
            "phase": "Running", "hostIP": "192.168.1.10", "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": "2024-05-01T10:00:01Z", "qosClass": "Burstable",
            "conditions": conditions,
            "containerStatuses": [status("app", "registry.example.com/team/app:v1.4.2"),
                                  status("sidecar", "registry.example.com/infra/proxy:2.3.1")]
        }
    });
    serde_json::from_value(value).unwrap_or_default()
}

/// One way of caching Pods.
struct Mode<K> {
    name: &'static str,
    make: fn(usize) -> K,
    node: fn(&K) -> Option<String>,
    transform: Option<fn() -> Transform<K>>,
}

fn typed_node(p: &Pod) -> Option<String> {
    p.spec.as_ref().and_then(|s| s.node_name.clone())
}

fn packed_pod(i: usize) -> Packed<Pod> {
    match Packed::pack(&realistic_pod(i)) {
        Ok(p) => p,
        Err(e) => panic!("pack: {e}"),
    }
}

/// A small object: what the pipeline costs when objects are cheap to copy.
fn small_configmap(i: usize) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some(format!("team-{}", i % 20));
    c.metadata.name = Some(format!("config-{i:05x}"));
    c.metadata.labels = Some([("app".to_owned(), format!("app-{}", i % 50))].into());
    c.metadata.annotations = Some([("bench/round".to_owned(), "000000000".to_owned())].into());
    c
}

fn configmap_node(c: &ConfigMap) -> Option<String> {
    c.metadata.name.as_ref().map(|n| n[..8].to_owned())
}

fn packed_node(p: &Packed<Pod>) -> Option<String> {
    p.field("spec.nodeName").map(str::to_owned)
}

fn build<K: Object>(mode: &Mode<K>, lw: impl ListerWatcher<K> + 'static) -> SharedInformer<K> {
    let node = mode.node;
    let mut b = SharedInformer::builder(lw)
        .config(ReflectorConfig::new("pods"))
        .index("node", move |p: &K| node(p).into_iter().collect())
        .index("app", |p: &K| p.labels().and_then(|l| l.get("app")).cloned().into_iter().collect())
        .index("owner", |p: &K| p.metadata().owner_references.iter().flatten().map(|o| o.uid.clone()).collect());
    if let Some(t) = mode.transform {
        b = b.transform(t());
    }
    match b.build() {
        Ok(inf) => inf,
        Err(e) => panic!("informer: {e}"),
    }
}

/// An informer with one handler that drains its events and reports progress.
struct Running {
    /// Highest resourceVersion the handler has seen, and whether it got `Synced`.
    progress: tokio::sync::watch::Receiver<(u64, bool)>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn rv_of<K: Object>(event: &Event<K>) -> Option<u64> {
    match event {
        Event::Added(o) | Event::Resync(o) | Event::Updated { new: o, .. } | Event::Deleted { obj: o, .. } => {
            o.resource_version().and_then(|rv| rv.parse().ok())
        }
        Event::Synced | Event::Lagged { .. } => None,
    }
}

impl Running {
    async fn start<K: Object>(informer: SharedInformer<K>) -> Self {
        let cancel = CancellationToken::new();
        let mut sub = informer.subscribe(1024, None);
        let (tx, progress) = tokio::sync::watch::channel((0, false));
        let drain = tokio::spawn(async move {
            while let Some(first) = sub.recv().await {
                // Report once per burst, not per event.
                let (mut max, mut synced) = (0, false);
                for event in std::iter::once(first).chain(std::iter::from_fn(|| sub.try_recv())) {
                    max = max.max(rv_of(&event).unwrap_or(0));
                    synced |= matches!(event, Event::Synced);
                }
                tx.send_modify(|(m, s)| {
                    *m = (*m).max(max);
                    *s |= synced;
                });
            }
        });
        let run = tokio::spawn({
            let informer = informer.clone();
            let cancel = cancel.clone();
            async move {
                let _ = informer.run(cancel).await;
            }
        });
        let mut running = Self { progress, cancel, tasks: vec![drain, run] };
        let _ = running.progress.wait_for(|(_, synced)| *synced).await;
        running
    }

    async fn wait_for_revision(&mut self, revision: u64) {
        let _ = self.progress.wait_for(|(rv, _)| *rv >= revision).await;
    }

    async fn stop(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn load<K: Object>(mode: &Mode<K>, pods: usize) -> MemoryListerWatcher<K> {
    let src = MemoryListerWatcher::new();
    for i in 0..pods {
        if let Err(e) = src.create((mode.make)(i)) {
            panic!("create: {e}");
        }
    }
    src
}

/// Changes an object without changing its size (a fixed-width annotation value).
fn touch<K: Object>(src: &MemoryListerWatcher<K>, mut obj: K, round: usize) {
    obj.metadata_mut().annotations.get_or_insert_default().insert("bench/round".into(), format!("{round:09}"));
    if let Err(e) = src.update(obj) {
        panic!("update: {e}");
    }
}

struct Figures {
    bytes_per_object: usize,
    events_per_s: f64,
    relist_peak_ratio: f64,
}

/// Events recorded per batch of the throughput phase (history is compacted between
/// batches, so the source's memory stays bounded).
const BATCH: usize = 20_000;

async fn measure<K: Object>(mode: &Mode<K>, pods: usize, events: usize) -> Figures {
    // Steady memory, then a relist in which every Pod changed while the informer was
    // disconnected (history compacted, so it cannot resume the watch).
    let src = load(mode, pods);
    let base = allocated();
    let mut running = Running::start(build(mode, src.clone())).await;
    let steady = allocated().saturating_sub(base);
    // The runtime's only thread is ours until the next await: the informer sees none of
    // these changes before the compaction.
    src.drop_watches(None);
    for (round, obj) in src.objects().into_iter().enumerate() {
        touch(&src, obj, round);
    }
    src.compact();
    let before_relist = reset_peak();
    running.wait_for_revision(src.revision()).await;
    let peak = PEAK.load(Ordering::Relaxed);

    // Throughput: record a batch of modifications (the runtime's only thread is busy, so
    // the informer does not run meanwhile), then time how long the informer takes to
    // apply them and deliver them to the handler.
    let objects = src.objects();
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < events {
        let batch = BATCH.min(events - done);
        for i in done..done + batch {
            touch(&src, objects[i % objects.len()].clone(), i);
        }
        let started = Instant::now();
        running.wait_for_revision(src.revision()).await;
        elapsed += started.elapsed();
        src.compact();
        done += batch;
    }
    running.stop().await;

    Figures {
        bytes_per_object: steady / pods,
        events_per_s: events as f64 / elapsed.as_secs_f64(),
        relist_peak_ratio: (peak.saturating_sub(before_relist) + steady) as f64 / steady.max(1) as f64,
    }
}

fn report<K: Object>(mode: &Mode<K>, pods: usize, figures: &Figures, json_bytes: usize) {
    println!(
        "mode={} objects={pods} pod_json_bytes={json_bytes} bytes_per_object={} events_per_s={:.0} relist_peak_ratio={:.3}",
        mode.name, figures.bytes_per_object, figures.events_per_s, figures.relist_peak_ratio
    );
}

async fn bench(pods: usize, events: usize, only: Option<String>) {
    let json_bytes = serde_json::to_vec(&realistic_pod(pods / 2)).map_or(0, |v| v.len());
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let typed = Mode { name: "typed", make: realistic_pod, node: typed_node, transform: None };
    if wanted(typed.name) {
        let f = measure(&typed, pods, events).await;
        report(&typed, pods, &f, json_bytes);
    }
    let stripped = Mode {
        name: "typed_strip_managed_fields",
        make: realistic_pod,
        node: typed_node,
        transform: Some(Transform::<Pod>::strip_managed_fields as fn() -> Transform<Pod>),
    };
    if wanted(stripped.name) {
        let f = measure(&stripped, pods, events).await;
        report(&stripped, pods, &f, json_bytes);
    }
    let packed = Mode { name: "packed", make: packed_pod, node: packed_node, transform: None };
    if wanted(packed.name) {
        let f = measure(&packed, pods, events).await;
        report(&packed, pods, &f, json_bytes);
    }
    let small = Mode { name: "small_configmap", make: small_configmap, node: configmap_node, transform: None };
    if wanted(small.name) {
        let f = measure(&small, pods, events).await;
        let json = serde_json::to_vec(&small_configmap(0)).map_or(0, |v| v.len());
        report(&small, pods, &f, json);
    }
}

fn main() {
    let mut pods = 10_000;
    let mut events = 200_000;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), number) {
            ("--pods", Some(v)) => pods = v.max(1),
            ("--events", Some(v)) => events = v,
            ("--mode", _) if value.is_some() => only = value,
            _ => {
                eprintln!("usage: bench [--pods N] [--events M] [--mode typed|typed_strip_managed_fields|packed]");
                std::process::exit(2);
            }
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    rt.block_on(bench(pods, events, only));
}
