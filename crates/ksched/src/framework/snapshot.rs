//! [`Snapshot`]: the nodes (with their pods) and the cluster objects one scheduling cycle
//! sees, immutable for the cycle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kapi::k8s::api::policy::v1::PodDisruptionBudget;
use kapi::k8s::api::storage::v1::StorageClass;

use crate::types::{NodeInfo, PodInfo, PodPriorities};

/// Cluster objects besides nodes and pods that plugins read.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// Namespace labels by namespace name (namespace selectors of affinity terms).
    pub namespace_labels: HashMap<String, BTreeMap<String, String>>,
    /// PodDisruptionBudgets (preemption).
    pub pdbs: Vec<Arc<PodDisruptionBudget>>,
    /// PersistentVolumeClaims by `namespace/name`.
    pub pvcs: HashMap<String, Arc<PersistentVolumeClaim>>,
    /// PersistentVolumes by name.
    pub pvs: HashMap<String, Arc<PersistentVolume>>,
    /// StorageClasses by name.
    pub storage_classes: HashMap<String, Arc<StorageClass>>,
}

/// An object an event is about (for queueing hints).
#[derive(Debug, Clone)]
pub enum ClusterObject {
    /// A pod.
    Pod(Arc<PodInfo>),
    /// A node.
    Node(Arc<NodeInfo>),
    /// A PVC.
    PersistentVolumeClaim(Arc<PersistentVolumeClaim>),
    /// A PV.
    PersistentVolume(Arc<PersistentVolume>),
    /// A StorageClass.
    StorageClass(Arc<StorageClass>),
    /// Namespace labels.
    Namespace(String, BTreeMap<String, String>),
}

/// Records `node`'s position `i` in the snapshot (copying the node only if it is shared
/// and placed elsewhere).
fn place(node: &mut Arc<NodeInfo>, i: usize) {
    let slot = u32::try_from(i).unwrap_or(u32::MAX);
    if node.slot != slot {
        Arc::make_mut(node).slot = slot;
    }
}

/// Nodes and cluster state for one cycle.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<String, usize>,
    with_affinity: Vec<usize>,
    with_required_anti_affinity: Vec<usize>,
    /// How many nodes report each image name.
    image_nodes: HashMap<String, usize>,
    /// Each node's pod priorities, by position: preemption bounds every node's offer
    /// without visiting its pods.
    priorities: Vec<PodPriorities>,
    /// Other cluster objects.
    pub cluster: Arc<ClusterState>,
    /// The cache generation the snapshot reflects.
    pub generation: u64,
    /// Which node list the positions (`NodeInfo::slot`) belong to: unique per process,
    /// new whenever nodes come or go.
    layout: u64,
    /// Positions of the nodes replaced since [`Snapshot::take_replaced`] (`None`: more
    /// than there are nodes; treat every node as replaced).
    replaced: Option<Vec<u32>>,
}

impl Snapshot {
    /// A snapshot of `nodes` (in this order) and `cluster`.
    pub fn new(nodes: Vec<Arc<NodeInfo>>, cluster: Arc<ClusterState>) -> Self {
        let mut s = Self { nodes, cluster, ..Self::default() };
        s.reindex();
        s
    }

    /// Rebuilds the indexes after `nodes` changed.
    pub(crate) fn reindex(&mut self) {
        static LAYOUTS: AtomicU64 = AtomicU64::new(1);
        self.layout = LAYOUTS.fetch_add(1, Ordering::Relaxed);
        for (i, n) in self.nodes.iter_mut().enumerate() {
            place(n, i);
        }
        self.index = self.nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
        self.with_affinity = (0..self.nodes.len()).filter(|i| !self.nodes[*i].pods_with_affinity.is_empty()).collect();
        self.with_required_anti_affinity =
            (0..self.nodes.len()).filter(|i| !self.nodes[*i].pods_with_required_anti_affinity.is_empty()).collect();
        self.priorities = self.nodes.iter().map(|n| n.pod_priorities()).collect();
        self.image_nodes.clear();
        for n in &self.nodes {
            for name in n.images.keys() {
                *self.image_nodes.entry(name.clone()).or_default() += 1;
            }
        }
    }

    /// Replaces the node list (the cache's update after nodes came or went).
    pub(crate) fn set_nodes(&mut self, nodes: Vec<Arc<NodeInfo>>) {
        self.nodes = nodes;
        self.reindex();
    }

    /// Replaces one node in place (the cache's incremental update); `false` when the
    /// snapshot has no node of that name.
    pub(crate) fn replace(&mut self, mut node: Arc<NodeInfo>) -> bool {
        let Some(&i) = self.index.get(&node.name) else { return false };
        place(&mut node, i);
        if let Some(list) = &mut self.replaced {
            if list.len() >= self.nodes.len() {
                self.replaced = None;
            } else {
                list.push(node.slot);
            }
        }
        let fix = |list: &mut Vec<usize>, has: bool| match (list.binary_search(&i), has) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(pos), false) => {
                list.remove(pos);
            }
            (Err(pos), true) => list.insert(pos, i),
        };
        fix(&mut self.with_affinity, !node.pods_with_affinity.is_empty());
        fix(&mut self.with_required_anti_affinity, !node.pods_with_required_anti_affinity.is_empty());
        if let Some(p) = self.priorities.get_mut(i) {
            *p = node.pod_priorities();
        }
        let old = std::mem::replace(&mut self.nodes[i], node);
        if !Arc::ptr_eq(&old.images, &self.nodes[i].images) {
            for name in old.images.keys() {
                if let Some(c) = self.image_nodes.get_mut(name) {
                    *c = c.saturating_sub(1);
                    if *c == 0 {
                        self.image_nodes.remove(name);
                    }
                }
            }
            for name in self.nodes[i].images.keys() {
                *self.image_nodes.entry(name.clone()).or_default() += 1;
            }
        }
        true
    }

    /// Which node list the nodes' positions belong to (changes when nodes come or go).
    pub(crate) fn layout(&self) -> u64 {
        self.layout
    }

    /// The positions of the nodes replaced since the last call (`None`: possibly all).
    pub(crate) fn take_replaced(&mut self) -> Option<Vec<u32>> {
        self.replaced.replace(Vec::new())
    }

    /// How many nodes report the image `name` (as listed in node status).
    pub fn nodes_with_image(&self, name: &str) -> usize {
        self.image_nodes.get(name).copied().unwrap_or(0)
    }

    /// The pod priorities of the node at position `slot` (as [`NodeInfo::pod_priorities`]).
    pub(crate) fn pod_priorities(&self, slot: usize) -> Option<&PodPriorities> {
        self.priorities.get(slot)
    }

    /// All nodes.
    pub fn nodes(&self) -> &[Arc<NodeInfo>] {
        &self.nodes
    }

    /// A node by name.
    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// Nodes with at least one pod with (anti-)affinity.
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().map(|i| &self.nodes[*i])
    }

    /// Nodes with at least one pod with required anti-affinity.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity.iter().map(|i| &self.nodes[*i])
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
