//! The nominator: pods that preemption nominated to a node, waiting for their victims to
//! go. Filtering counts them as present on that node (upstream `nominator.go`).

use crate::plugins::fasthash::FastMap;
use std::sync::Arc;

use crate::types::PodInfo;

/// `status.nominatedNodeName`, when set.
pub(super) fn status_nominated_node(pod: &PodInfo) -> Option<&str> {
    pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The nominated pods by node at one moment: what a scheduling cycle reads for every node
/// it filters, without locking the queue. Cheap to take (shared until the queue changes
/// its nominations next).
#[derive(Debug, Clone, Default)]
pub struct NominatedPods(Arc<FastMap<String, Vec<Arc<PodInfo>>>>);

impl NominatedPods {
    /// Pods nominated to `node`, in nomination order.
    pub fn for_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.0.get(node).map_or(&[], Vec::as_slice)
    }

    /// Whether no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Nominations from `(node, pods)` pairs (tests of the cycle).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: Vec<(&str, Vec<Arc<PodInfo>>)>) -> Self {
        Self(Arc::new(pairs.into_iter().map(|(n, p)| (n.to_owned(), p)).collect()))
    }
}

/// Nominated pods by node, in nomination order.
#[derive(Default)]
pub(super) struct Nominator {
    by_node: NominatedPods,
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
        Arc::make_mut(&mut self.by_node.0).entry(node.to_owned()).or_default().push(pod);
    }

    /// Drops the nomination of `key`; returns the node it was nominated to.
    pub(super) fn remove(&mut self, key: &str) -> Option<String> {
        let node = self.by_pod.remove(key)?;
        let by_node = Arc::make_mut(&mut self.by_node.0);
        if let Some(pods) = by_node.get_mut(&node) {
            pods.retain(|p| p.key != key);
            if pods.is_empty() {
                by_node.remove(&node);
            }
        }
        Some(node)
    }

    /// The node `key` is nominated to.
    pub(super) fn node_of(&self, key: &str) -> Option<&str> {
        self.by_pod.get(key).map(String::as_str)
    }

    /// All nominations as they are now.
    pub(super) fn snapshot(&self) -> NominatedPods {
        self.by_node.clone()
    }

    /// Pods nominated to `node`.
    pub(super) fn for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.by_node.for_node(node).to_vec()
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
