//! The scheduler cache: nodes with the pods on them, including pods *assumed* on a node
//! before their binding is confirmed, and the incremental [`Snapshot`] of it each cycle
//! works on.
//!
//! Pod states follow upstream: a pod is assumed when the scheduling cycle picks its node
//! (so the next cycle already counts it), confirmed when the informer reports it bound, or
//! forgotten when binding fails. Snapshots are updated by generation: only nodes changed
//! since the last snapshot are copied.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kapi::k8s::api::core::v1::Node;

use crate::framework::{ClusterState, Snapshot};
use crate::types::{NodeInfo, PodInfo};

/// Errors of cache operations (they indicate a caller bug or a race, never input errors of
/// the cluster).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The pod is already in the cache.
    #[error("pod {0} is already in the cache")]
    PodExists(String),
    /// The pod is not assumed (forget/finish of a pod not assumed).
    #[error("pod {0} is not assumed")]
    NotAssumed(String),
}

#[derive(Debug, Clone)]
struct PodState {
    pod: Arc<PodInfo>,
    node: String,
    assumed: bool,
}

/// Zone of a node for spreading the snapshot order (upstream's node tree).
fn zone_of(n: &NodeInfo) -> String {
    let region = n.labels.get("topology.kubernetes.io/region").map(String::as_str).unwrap_or("");
    let zone = n.labels.get("topology.kubernetes.io/zone").map(String::as_str).unwrap_or("");
    format!("{region}:\x00:{zone}")
}

/// The cache.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    pods: HashMap<String, PodState>,
    generation: u64,
    /// The node set or image counts changed: the snapshot's list must be rebuilt.
    relist: bool,
    cluster: Arc<ClusterState>,
    cluster_changed: bool,
    /// Nodes changed since the last snapshot update.
    dirty: HashSet<String>,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Self {
        Self { relist: true, ..Self::default() }
    }

    fn bump(&mut self, node: &str) {
        self.generation += 1;
        if let Some(n) = self.nodes.get_mut(node) {
            n.generation = self.generation;
            self.dirty.insert(node.to_owned());
        }
    }

    /// Adds or updates a node.
    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        match self.nodes.get_mut(&name) {
            Some(n) => {
                let images_before: Vec<String> = n.images.keys().cloned().collect();
                n.set_node(node);
                if images_before.len() != n.images.len() || images_before.iter().any(|i| !n.images.contains_key(i)) {
                    self.relist = true;
                }
            }
            None => {
                let mut info = NodeInfo::new(node);
                // Pods the informer reported before their node.
                for p in self.pods.values().filter(|p| p.node == name) {
                    info.add_pod(Arc::clone(&p.pod));
                }
                self.nodes.insert(name.clone(), info);
                self.relist = true;
            }
        }
        self.bump(&name);
    }

    /// Removes a node (its pods stay in the cache until they are deleted).
    pub fn remove_node(&mut self, name: &str) {
        if self.nodes.remove(name).is_some() {
            self.generation += 1;
            self.relist = true;
        }
    }

    /// Adds a bound pod reported by the informer; confirms it when it was assumed.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        let Some(node) = pod.node_name.clone() else { return };
        if let Some(old) = self.pods.remove(&pod.key) {
            // Confirmation of an assumed pod (possibly bound elsewhere), or a re-add.
            if let Some(n) = self.nodes.get_mut(&old.node) {
                n.remove_pod(&pod.key);
            }
            self.bump(&old.node);
        }
        if let Some(n) = self.nodes.get_mut(&node) {
            n.add_pod(Arc::clone(&pod));
        }
        self.pods.insert(pod.key.clone(), PodState { pod, node: node.clone(), assumed: false });
        self.bump(&node);
    }

    /// Updates a bound pod (labels, requests …).
    pub fn update_pod(&mut self, pod: Arc<PodInfo>) {
        self.add_pod(pod);
    }

    /// Removes a pod (deleted, or no longer bound).
    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            if let Some(n) = self.nodes.get_mut(&old.node) {
                n.remove_pod(key);
            }
            self.bump(&old.node);
        }
    }

    /// Counts `pod` on `node` before its binding is confirmed.
    ///
    /// # Errors
    /// The pod is already in the cache.
    pub fn assume_pod(&mut self, pod: &PodInfo, node: &str) -> Result<Arc<PodInfo>, CacheError> {
        if self.pods.contains_key(&pod.key) {
            return Err(CacheError::PodExists(pod.key.clone()));
        }
        let mut assumed = pod.clone();
        assumed.node_name = Some(node.to_owned());
        let assumed = Arc::new(assumed);
        if let Some(n) = self.nodes.get_mut(node) {
            n.add_pod(Arc::clone(&assumed));
        }
        self.pods.insert(pod.key.clone(), PodState { pod: Arc::clone(&assumed), node: node.to_owned(), assumed: true });
        self.bump(node);
        Ok(assumed)
    }

    /// Drops an assumed pod (its binding failed).
    ///
    /// # Errors
    /// The pod is not assumed.
    pub fn forget_pod(&mut self, key: &str) -> Result<(), CacheError> {
        match self.pods.get(key) {
            Some(p) if p.assumed => {}
            _ => return Err(CacheError::NotAssumed(key.to_owned())),
        }
        self.remove_pod(key);
        Ok(())
    }

    /// Whether the pod is assumed (not yet confirmed).
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of pods (bound and assumed).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Replaces the cluster objects plugins read (namespaces, PDBs, volumes).
    pub fn set_cluster_state(&mut self, cluster: ClusterState) {
        self.cluster = Arc::new(cluster);
        self.cluster_changed = true;
    }

    /// Edits the cluster objects in place.
    pub fn update_cluster_state(&mut self, f: impl FnOnce(&mut ClusterState)) {
        f(Arc::make_mut(&mut self.cluster));
        self.cluster_changed = true;
    }

    /// The cluster objects.
    pub fn cluster_state(&self) -> &Arc<ClusterState> {
        &self.cluster
    }

    /// Brings `snapshot` up to date: only nodes whose generation moved are copied; the
    /// list is rebuilt (zone-interleaved) when nodes came or went.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.cluster_changed || !Arc::ptr_eq(&snapshot.cluster, &self.cluster) {
            snapshot.cluster = Arc::clone(&self.cluster);
            self.cluster_changed = false;
        }
        if self.relist {
            self.relist = false;
            self.dirty.clear();
            snapshot.set_nodes(self.ordered_nodes());
        } else {
            for name in self.dirty.drain() {
                if let Some(n) = self.nodes.get(&name) {
                    snapshot.replace(Arc::new(n.clone()));
                }
            }
        }
        snapshot.generation = self.generation;
    }

    /// Nodes interleaved across zones (one from each zone in turn), as upstream's node tree
    /// orders them, so sampling a prefix covers zones evenly.
    fn ordered_nodes(&self) -> Vec<Arc<NodeInfo>> {
        let mut zones: BTreeMap<String, Vec<&NodeInfo>> = BTreeMap::new();
        for n in self.nodes.values() {
            zones.entry(zone_of(n)).or_default().push(n);
        }
        for list in zones.values_mut() {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut i = 0;
        loop {
            let mut any = false;
            for list in zones.values() {
                if let Some(n) = list.get(i) {
                    out.push(Arc::new((*n).clone()));
                    any = true;
                }
            }
            if !any {
                break;
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, zone: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "10"},
                    "images": [{"names": ["img:1"], "sizeBytes": 100}]}}))
            .unwrap(),
        )
    }

    fn pod(name: &str, node: Option<&str>) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}))
            .unwrap(),
        )))
    }

    #[test]
    fn assume_confirm_forget_and_incremental_snapshots() {
        let mut c = Cache::new();
        c.upsert_node(node("a1", "a"));
        c.upsert_node(node("a2", "a"));
        c.upsert_node(node("b1", "b"));
        let mut snap = Snapshot::default();
        c.update_snapshot(&mut snap);
        let names: Vec<&str> = snap.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a1", "b1", "a2"], "zones interleaved");
        assert_eq!(snap.nodes_with_image("img:1"), 3);

        let p = pod("p", None);
        c.assume_pod(&p, "b1").unwrap();
        assert!(c.is_assumed("ns/p"));
        let before_a1 = Arc::clone(snap.get("a1").unwrap());
        c.update_snapshot(&mut snap);
        assert_eq!(snap.get("b1").unwrap().requested.milli_cpu, 1000);
        assert!(Arc::ptr_eq(&before_a1, snap.get("a1").unwrap()), "unchanged nodes are not copied");

        // The informer confirms the binding.
        c.add_pod(pod("p", Some("b1")));
        assert!(!c.is_assumed("ns/p"));
        assert_eq!(c.forget_pod("ns/p"), Err(CacheError::NotAssumed("ns/p".into())));
        c.update_snapshot(&mut snap);
        assert_eq!(snap.get("b1").unwrap().pods.len(), 1);

        // A failed binding is forgotten.
        let q = pod("q", None);
        c.assume_pod(&q, "a1").unwrap();
        assert!(c.assume_pod(&q, "a1").is_err());
        c.forget_pod("ns/q").unwrap();
        c.update_snapshot(&mut snap);
        assert_eq!(snap.get("a1").unwrap().requested.milli_cpu, 0);

        c.remove_node("a2");
        c.update_snapshot(&mut snap);
        assert_eq!(snap.len(), 2);
        assert_eq!(snap.nodes_with_image("img:1"), 2);
    }

    #[test]
    fn pods_reported_before_their_node_are_counted() {
        let mut c = Cache::new();
        c.add_pod(pod("early", Some("late-node")));
        c.upsert_node(node("late-node", "a"));
        let mut snap = Snapshot::default();
        c.update_snapshot(&mut snap);
        assert_eq!(snap.get("late-node").unwrap().pods.len(), 1);
    }
}
