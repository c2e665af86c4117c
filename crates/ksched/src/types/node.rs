//! [`NodeInfo`]: a node with the pods the scheduler counts on it, and the sums plugins need
//! (requested resources, used host ports, pods with affinity), kept up to date as pods are
//! added and removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kapi::k8s::api::core::v1::{Node, Taint};

use super::pod::{HostPort, PodInfo};
use super::resource::Resource;

/// An image present on a node (how many nodes have it: [`crate::framework::Snapshot::nodes_with_image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImageState {
    /// Size in bytes.
    pub size: i64,
}

/// What preemption's search reads of a node's pods without visiting them: a bound on the
/// best victims the node can offer ([`NodeInfo::pod_priorities`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodPriorities {
    /// The lowest priority among the pods (`i32::MAX` without pods).
    pub min_priority: i32,
    /// The latest `status.startTime` among the pods that have one.
    pub latest_start: Option<jiff::Timestamp>,
    /// Whether some pod has no start time (it counts as started "now").
    pub unstarted: bool,
}

impl Default for PodPriorities {
    fn default() -> Self {
        Self { min_priority: i32::MAX, latest_start: None, unstarted: false }
    }
}

/// A node as the scheduler sees it.
///
/// Laid out in declaration order, with what Filter reads on every node first: a pod that
/// fits nowhere is checked against every node, and the check then costs about one
/// cache miss per line of the node it touches.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct NodeInfo {
    /// Position in the snapshot that holds this node (set by the snapshot; `u32::MAX`
    /// outside one): plugins keep per-node data in arrays indexed by it instead of
    /// looking the node's labels up on every cycle.
    pub(crate) slot: u32,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// Taints.
    pub taints: Arc<[Taint]>,
    /// The pods on the node (assumed ones included).
    pub pods: Vec<Arc<PodInfo>>,
    /// `status.allocatable`.
    pub allocatable: Resource,
    /// Σ requests of the pods on the node.
    pub requested: Resource,
    /// Bumped on every change; snapshots copy nodes whose generation moved.
    pub generation: u64,
    /// Host ports in use.
    pub used_ports: HashSet<HostPort>,
    /// Σ non-zero requests (CPU and memory, with the 100m / 200 MiB defaults) for scoring.
    pub non_zero_requested: Resource,
    /// The node as received.
    pub node: Arc<Node>,
    /// Name.
    pub name: String,
    /// The name as a shared string (score lists carry it without copying).
    pub key: Arc<str>,
    /// Labels (shared by the copies of the node the scheduler makes).
    pub labels: Arc<BTreeMap<String, String>>,
    /// Pods with any pod (anti-)affinity.
    pub pods_with_affinity: Vec<Arc<PodInfo>>,
    /// Pods with required anti-affinity.
    pub pods_with_required_anti_affinity: Vec<Arc<PodInfo>>,
    /// Images on the node by every name they have.
    pub images: Arc<HashMap<String, ImageState>>,
    /// PVCs mounted by pods on the node (`namespace/name` → pods).
    pub pvc_refs: HashMap<String, usize>,
}

impl NodeInfo {
    /// A node with no pods.
    pub fn new(node: Arc<Node>) -> Self {
        let mut info = Self {
            name: String::new(),
            key: Arc::from(""),
            labels: Arc::default(),
            taints: Arc::from([]),
            unschedulable: false,
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            used_ports: HashSet::new(),
            images: Arc::default(),
            pvc_refs: HashMap::new(),
            generation: 0,
            slot: u32::MAX,
            node: Arc::clone(&node),
        };
        info.set_node(node);
        info
    }

    /// Replaces the node object (labels, taints, allocatable …), keeping the pods.
    pub fn set_node(&mut self, node: Arc<Node>) {
        self.name = node.metadata.name.clone().unwrap_or_default();
        if *self.key != *self.name {
            self.key = Arc::from(self.name.as_str());
        }
        self.labels = Arc::new(node.metadata.labels.clone().unwrap_or_default());
        let spec = node.spec.clone().unwrap_or_default();
        self.taints = spec.taints.unwrap_or_default().into();
        self.unschedulable = spec.unschedulable.unwrap_or(false);
        let status = node.status.clone().unwrap_or_default();
        self.allocatable = status.allocatable.as_ref().map(Resource::from_list).unwrap_or_default();
        let mut images = HashMap::new();
        for image in status.images.iter().flatten() {
            let state = ImageState { size: image.size_bytes.unwrap_or(0) };
            for name in image.names.iter().flatten() {
                images.insert(name.clone(), state);
            }
        }
        self.images = Arc::new(images);
        self.node = node;
    }

    /// Accounts for `pod` on this node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.milli_cpu += pod.non_zero_milli_cpu;
        self.non_zero_requested.memory += pod.non_zero_memory;
        for p in &pod.host_ports {
            self.used_ports.insert(p.clone());
        }
        for c in &pod.pvcs {
            *self.pvc_refs.entry(format!("{}/{c}", pod.namespace)).or_default() += 1;
        }
        if pod.has_affinity() {
            self.pods_with_affinity.push(Arc::clone(&pod));
        }
        if !pod.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity.push(Arc::clone(&pod));
        }
        self.pods.push(pod);
    }

    /// Removes the pod with `key` (`namespace/name`); `false` when it is not here.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else { return false };
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.milli_cpu -= pod.non_zero_milli_cpu;
        self.non_zero_requested.memory -= pod.non_zero_memory;
        for p in &pod.host_ports {
            // Another pod may use the same port (on another IP, or a conflicting one that
            // was assumed): recompute from the remaining pods.
            if !self.pods.iter().any(|o| o.host_ports.contains(p)) {
                self.used_ports.remove(p);
            }
        }
        for c in &pod.pvcs {
            let k = format!("{}/{c}", pod.namespace);
            if let Some(n) = self.pvc_refs.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.pvc_refs.remove(&k);
                }
            }
        }
        self.pods_with_affinity.retain(|p| p.key != key);
        self.pods_with_required_anti_affinity.retain(|p| p.key != key);
        true
    }

    /// The lowest priority and latest start among the node's pods.
    pub fn pod_priorities(&self) -> PodPriorities {
        let mut out = PodPriorities::default();
        for p in &self.pods {
            out.min_priority = out.min_priority.min(p.priority);
            match p.pod.status.as_ref().and_then(|s| s.start_time.as_ref()) {
                Some(t) => out.latest_start = Some(out.latest_start.map_or(t.0, |l| l.max(t.0))),
                None => out.unstarted = true,
            }
        }
        out
    }

    /// Whether a host port conflicts with one in use (same protocol and port, and the same
    /// IP or either side on `0.0.0.0`).
    pub fn port_conflicts(&self, want: &HostPort) -> bool {
        self.used_ports.iter().any(|u| {
            u.protocol == want.protocol
                && u.port == want.port
                && (u.ip == want.ip || u.ip == "0.0.0.0" || want.ip == "0.0.0.0")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_and_remove_keep_sums() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"zone": "a"}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "images": [{"names": ["busybox:1"], "sizeBytes": 1000}]}}))
        .unwrap();
        let mut n = NodeInfo::new(Arc::new(node));
        assert_eq!(n.allocatable.milli_cpu, 4000);
        assert_eq!(n.images["busybox:1"].size, 1000);
        let pod = |name: &str, port: i32| {
            Arc::new(PodInfo::new(Arc::new(
                serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [
                    {"name": "c", "resources": {"requests": {"cpu": "1"}}, "ports": [{"containerPort": 80, "hostPort": port}]}]}}))
                .unwrap(),
            )))
        };
        n.add_pod(pod("a", 80));
        n.add_pod(pod("b", 81));
        assert_eq!(n.requested.milli_cpu, 2000);
        assert!(n.port_conflicts(&HostPort { protocol: "TCP".into(), ip: "10.0.0.1".into(), port: 80 }));
        assert!(n.remove_pod("default/a"));
        assert!(!n.remove_pod("default/a"));
        assert_eq!(n.requested.milli_cpu, 1000);
        assert_eq!(n.non_zero_requested.memory, crate::types::resource::DEFAULT_MEMORY_REQUEST);
        assert!(!n.port_conflicts(&HostPort { protocol: "TCP".into(), ip: "0.0.0.0".into(), port: 80 }));
    }
}
