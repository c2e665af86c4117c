//! scheduler_perf-like workloads, in memory (no API server): nodes and pods are fed to the
//! scheduler through its handle and the measured pods are scheduled as fast as it can.
//!
//! ```text
//! cargo run --release -p ksched --example perf -- --workload SchedulingBasic --nodes 5000 --pods 10000
//! ```
//!
//! Prints `workload=… nodes=… pods=… scheduled=… pods_per_s=… p50_attempt_us=… p99_attempt_us=…`.
//! Workloads mirror upstream's `scheduler_perf` definitions: SchedulingBasic,
//! NodeAffinity, TopologySpreading, PodAffinity, PodAntiAffinity, Preemption,
//! Unschedulable.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use kapi::k8s::api::core::v1::{Node, Pod};
use ksched::framework::SchedulerConfig;
use ksched::scheduler::{Outcome, Scheduler};
use serde_json::{Value, json};

// The allocator of the `kube-scheduler` binary, so the figures are what it gets: glibc
// malloc's consolidation of freed chunks on every allocation of 1 KiB or more (the
// per-cycle node lists) showed in the profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ZONES: usize = 3;

fn node(i: usize, cpu: &str, memory: &str) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": format!("node-{i}"), "labels": {
            "kubernetes.io/hostname": format!("node-{i}"),
            "topology.kubernetes.io/zone": format!("zone-{}", i % ZONES)}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"}}}))
        .unwrap(),
    )
}

/// upstream's pod-default: 100m CPU, 500 MiB.
fn pod(name: &str, labels: Value, extra_spec: Value, cpu: &str, priority: i32) -> Arc<Pod> {
    let mut spec = json!({"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": cpu, "memory": "500Mi"}, "limits": {"cpu": cpu, "memory": "500Mi"}}}],
        "priority": priority});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name,
            "labels": labels, "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec}))
        .unwrap(),
    )
}

struct Workload {
    node_cpu: &'static str,
    init_pods: usize,
    init: fn(usize) -> Arc<Pod>,
    measured: fn(usize) -> Arc<Pod>,
    /// Pods added to the queue before the measured ones that can never be scheduled.
    unschedulable: usize,
}

fn workload(name: &str, pods: usize) -> Option<Workload> {
    let basic = |i| pod(&format!("init-{i}"), json!({}), json!({}), "100m", 0);
    Some(match name {
        "SchedulingBasic" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: basic,
            measured: |i| pod(&format!("pod-{i}"), json!({}), json!({}), "100m", 0),
            unschedulable: 0,
        },
        "NodeAffinity" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: basic,
            measured: |i| {
                pod(&format!("pod-{i}"), json!({}), json!({"affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["zone-0", "zone-1"]}]}]}}}}), "100m", 0)
            },
            unschedulable: 0,
        },
        "TopologySpreading" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: basic,
            measured: |i| {
                pod(&format!("pod-{i}"), json!({"color": "blue"}), json!({"topologySpreadConstraints": [
                    {"maxSkew": 5, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"color": "blue"}}}]}), "100m", 0)
            },
            unschedulable: 0,
        },
        "PodAffinity" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: |i| pod(&format!("init-{i}"), json!({"foo": "bar"}), json!({}), "100m", 0),
            measured: |i| {
                pod(&format!("pod-{i}"), json!({"foo": "bar"}), json!({"affinity": {"podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"foo": "bar"}},
                        "topologyKey": "topology.kubernetes.io/zone"}]}}}), "100m", 0)
            },
            unschedulable: 0,
        },
        "PodAntiAffinity" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: |i| pod(&format!("init-{i}"), json!({"color": "green"}), json!({}), "100m", 0),
            measured: |i| {
                pod(&format!("pod-{i}"), json!({"color": "red"}), json!({"affinity": {"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": {"color": "red"}},
                        "topologyKey": "kubernetes.io/hostname"}]}}}), "100m", 0)
            },
            unschedulable: 0,
        },
        "Preemption" => Workload {
            // Each node takes 4 low-priority pods of 900m; each measured pod needs a victim.
            node_cpu: "3600m",
            init_pods: usize::MAX,
            init: |i| pod(&format!("low-{i}"), json!({}), json!({}), "900m", 0),
            measured: |i| pod(&format!("high-{i}"), json!({}), json!({}), "900m", 10),
            unschedulable: 0,
        },
        "Unschedulable" => Workload {
            node_cpu: "4",
            init_pods: 1000,
            init: basic,
            measured: |i| pod(&format!("pod-{i}"), json!({}), json!({}), "100m", 0),
            unschedulable: 200,
        },
        _ => return None,
    })
    .map(|mut w| {
        if w.init_pods == usize::MAX {
            w.init_pods = pods * 4;
        }
        w
    })
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut name, mut nodes, mut pods) = ("SchedulingBasic".to_owned(), 5000usize, 10000usize);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--workload" => name = v,
            "--nodes" => nodes = v.parse().unwrap(),
            "--pods" => pods = v.parse().unwrap(),
            other => panic!("unknown flag {other}; use --workload W --nodes N --pods P"),
        }
    }
    let Some(w) = workload(&name, pods) else { panic!("unknown workload {name}") };
    let config = SchedulerConfig::default();
    let profiles = config.build_profiles(&ksched::memory::registry()).unwrap();
    let (mut scheduler, handle, mut outcomes) = Scheduler::new(profiles, &config, true);
    for i in 0..nodes {
        handle.add_node(node(i, w.node_cpu, "32Gi"));
    }
    // Init pods are placed directly (bound), like scheduler_perf's createPods with a node.
    let init = w.init_pods.min(nodes * 4);
    for i in 0..init {
        let p = (w.init)(i);
        let mut bound = (*p).clone();
        bound.spec.as_mut().unwrap().node_name = Some(format!("node-{}", i % nodes));
        handle.add_pod(Arc::new(bound));
    }
    for i in 0..w.unschedulable {
        handle.add_pod(pod(&format!("huge-{i}"), json!({}), json!({}), "1000", 0));
    }
    scheduler.drain().await;
    while outcomes.try_recv().is_ok() {}

    for i in 0..pods {
        handle.add_pod((w.measured)(i));
    }
    let started = Instant::now();
    let latencies = scheduler.drain_timed().await;
    let elapsed = started.elapsed();
    let mut scheduled = 0usize;
    while let Ok(o) = outcomes.try_recv() {
        if matches!(o, Outcome::Bound { .. }) {
            scheduled += 1;
        }
    }
    let mut l: Vec<u128> = latencies.iter().map(|d| d.as_nanos()).collect();
    l.sort_unstable();
    println!(
        "workload={name} nodes={nodes} pods={pods} scheduled={scheduled} attempts={} elapsed_s={:.3} pods_per_s={:.0} p50_attempt_us={:.1} p99_attempt_us={:.1}",
        l.len(),
        elapsed.as_secs_f64(),
        scheduled as f64 / elapsed.as_secs_f64(),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
    );
}
