//! The nominator: pods that preemption nominated to a node, waiting for their victims to
//! go. Filtering counts them as present on that node (upstream `nominator.go`).

use crate::plugins::fasthash::FastMap;
use std::sync::Arc;

use crate::types::PodInfo;

/// `status.nominatedNodeName`, when set.
pub(super) fn status_nominated_node(pod: &PodInfo) -> Option<&str> {
    pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
}

/// Nominated pods by node, in nomination order.
#[derive(Default)]
pub(super) struct Nominator {
    by_node: FastMap<String, Vec<Arc<PodInfo>>>,
    by_pod: FastMap<String, String>,
}

impl Nominator {
    /// Nominates `pod` to `node`, replacing an earlier nomination. Pods already bound are
    /// not nominated.
    pub(super) fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.remove(&pod.key);
        if pod.node_name.is_some() {
            return;
        }
        self.by_pod.insert(pod.key.clone(), node.to_owned());
        self.by_node.entry(node.to_owned()).or_default().push(pod);
    }

    /// Drops the nomination of `key`; returns the node it was nominated to.
    pub(super) fn remove(&mut self, key: &str) -> Option<String> {
        let node = self.by_pod.remove(key)?;
        if let Some(pods) = self.by_node.get_mut(&node) {
            pods.retain(|p| p.key != key);
            if pods.is_empty() {
                self.by_node.remove(&node);
            }
        }
        Some(node)
    }

    /// The node `key` is nominated to.
    pub(super) fn node_of(&self, key: &str) -> Option<&str> {
        self.by_pod.get(key).map(String::as_str)
    }

    /// Whether no pod is nominated.
    pub(super) fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }

    /// Pods nominated to `node`.
    pub(super) fn for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.by_node.get(node).cloned().unwrap_or_default()
    }

    /// A pod was updated: the nomination follows `status.nominatedNodeName` when either
    /// version has one; otherwise an in-memory nomination is kept, with the new pod
    /// (upstream `UpdateNominatedPod`).
    pub(super) fn update(&mut self, old: &PodInfo, new: &Arc<PodInfo>) {
        let node = match (status_nominated_node(old), status_nominated_node(new)) {
            (None, None) => self.node_of(&old.key).map(str::to_owned),
            (_, n) => n.map(str::to_owned),
        };
        self.remove(&old.key);
        if let Some(node) = node {
            self.add(Arc::clone(new), &node);
        }
    }
}
