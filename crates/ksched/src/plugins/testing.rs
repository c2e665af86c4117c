//! Test helpers: pods, nodes and snapshots from JSON.

use std::sync::Arc;

use serde_json::Value;

use crate::framework::{ClusterState, Snapshot};
use crate::types::{NodeInfo, PodInfo};

/// A pod from JSON (`metadata.namespace` defaults to `default`).
pub(crate) fn pod(v: Value) -> Arc<PodInfo> {
    let p: kapi::k8s::api::core::v1::Pod = serde_json::from_value(v).expect("pod JSON");
    Arc::new(PodInfo::new(Arc::new(p)))
}

/// A node from JSON.
pub(crate) fn node(v: Value) -> NodeInfo {
    let n: kapi::k8s::api::core::v1::Node = serde_json::from_value(v).expect("node JSON");
    NodeInfo::new(Arc::new(n))
}

/// A node named `name` with `cpu` and `memory` allocatable (and 110 pods).
pub(crate) fn sized_node(name: &str, cpu: &str, memory: &str) -> NodeInfo {
    node(serde_json::json!({"metadata": {"name": name},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"}}}))
}

/// A snapshot of `nodes` with `pods` placed on them (by `spec.nodeName`).
pub(crate) fn snapshot(nodes: Vec<NodeInfo>, pods: Vec<Arc<PodInfo>>) -> Snapshot {
    snapshot_with(nodes, pods, ClusterState::default())
}

/// [`snapshot`] with cluster state (namespace labels, PDBs, volumes).
pub(crate) fn snapshot_with(mut nodes: Vec<NodeInfo>, pods: Vec<Arc<PodInfo>>, cluster: ClusterState) -> Snapshot {
    for p in pods {
        if let Some(n) = nodes.iter_mut().find(|n| Some(&n.name) == p.node_name.as_ref()) {
            n.add_pod(p);
        }
    }
    Snapshot::new(nodes.into_iter().map(Arc::new).collect(), Arc::new(cluster))
}

/// The nodes as PreScore gets them (the filtered list borrows the snapshot's nodes).
pub(crate) fn refs(nodes: &[Arc<NodeInfo>]) -> Vec<&NodeInfo> {
    nodes.iter().map(|n| &**n).collect()
}
