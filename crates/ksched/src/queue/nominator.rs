//! The nominator: pods that preemption nominated to a node, waiting for their victims to
//! go. Filtering counts them as present on that node (upstream `nominator.go`).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::plugins::fasthash::FastMap;
use crate::types::{NodeInfo, PodInfo};

/// `status.nominatedNodeName`, when set.
pub(super) fn status_nominated_node(pod: &PodInfo) -> Option<&str> {
    pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The nominated pods by node at one moment: what a scheduling cycle reads for every node
/// it filters, without locking the queue. Cheap to take (shared until the queue changes
/// its nominations next).
#[derive(Debug, Clone, Default)]
pub struct NominatedPods(Arc<FastMap<String, NodeNominations>>);

/// The pods nominated to one node, and the last copy of the node made with them added.
#[derive(Debug, Default)]
struct NodeNominations {
    pods: Vec<Arc<PodInfo>>,
    /// Every pod filtered while these nominations stand checks the node with them added:
    /// the copy is made once (per node version and set of counted pods), not per cycle.
    copy: Mutex<Option<CopyWith>>,
}

impl Clone for NodeNominations {
    fn clone(&self) -> Self {
        let copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Self { pods: self.pods.clone(), copy: Mutex::new(copy) }
    }
}

/// A copy of a node with some of its nominated pods added.
#[derive(Debug, Clone)]
struct CopyWith {
    /// The node copied: a weak reference keeps its address from being reused while the
    /// copy is compared against it.
    base: Weak<NodeInfo>,
    generation: u64,
    /// Which of the nominated pods were added (bit `i`: `pods[i]`).
    added: u64,
    node: Arc<NodeInfo>,
}

/// Nodes with more nominated pods than this are copied afresh each time (the set of pods
/// added is kept as a bit mask).
const MAX_CACHED: usize = 64;

impl NominatedPods {
    /// Pods nominated to `node`, in nomination order.
    pub fn for_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.0.get(node).map_or(&[], |n| n.pods.as_slice())
    }

    /// Whether no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `node` with the pods nominated to it that `counts` selects added (upstream
    /// `addNominatedPods` without PreFilter extensions); `None` when it selects none. The
    /// copy is shared with the cycles that ask for the same node version and pods.
    pub(crate) fn node_with(&self, node: &Arc<NodeInfo>, counts: impl Fn(&PodInfo) -> bool) -> Option<Arc<NodeInfo>> {
        let entry = self.0.get(&node.name)?;
        let mut added = 0u64;
        let mut any = false;
        for (i, p) in entry.pods.iter().enumerate() {
            if counts(p) {
                any = true;
                if i < MAX_CACHED {
                    added |= 1 << i;
                }
            }
        }
        if !any {
            return None;
        }
        let build = || {
            let mut with = NodeInfo::clone(node);
            for p in entry.pods.iter().filter(|p| counts(p)) {
                with.add_pod(Arc::clone(p));
            }
            Arc::new(with)
        };
        if entry.pods.len() > MAX_CACHED {
            return Some(build());
        }
        let mut copy = entry.copy.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = copy.as_ref()
            && std::ptr::eq(c.base.as_ptr(), Arc::as_ptr(node))
            && c.generation == node.generation
            && c.added == added
        {
            return Some(Arc::clone(&c.node));
        }
        let with = build();
        *copy =
            Some(CopyWith { base: Arc::downgrade(node), generation: node.generation, added, node: Arc::clone(&with) });
        Some(with)
    }

    /// Nominations from `(node, pods)` pairs (tests of the cycle).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: Vec<(&str, Vec<Arc<PodInfo>>)>) -> Self {
        Self(Arc::new(
            pairs
                .into_iter()
                .map(|(n, pods)| (n.to_owned(), NodeNominations { pods, copy: Mutex::default() }))
                .collect(),
        ))
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
        let entry = Arc::make_mut(&mut self.by_node.0).entry(node.to_owned()).or_default();
        entry.pods.push(pod);
        *entry.copy.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Drops the nomination of `key`; returns the node it was nominated to.
    pub(super) fn remove(&mut self, key: &str) -> Option<String> {
        let node = self.by_pod.remove(key)?;
        let by_node = Arc::make_mut(&mut self.by_node.0);
        if let Some(entry) = by_node.get_mut(&node) {
            entry.pods.retain(|p| p.key != key);
            *entry.copy.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
            if entry.pods.is_empty() {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    fn pending(name: &str, priority: i32) -> Arc<PodInfo> {
        pod(json!({"metadata": {"name": name}, "spec": {"priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}}))
    }

    #[test]
    fn copies_with_nominated_pods_are_shared_until_the_node_or_the_pods_change() {
        let n1 =
            Arc::new(node(json!({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "1", "pods": "10"}}})));
        let (a, b) = (pending("a", 5), pending("b", 10));
        let mut nominator = Nominator::default();
        nominator.add(Arc::clone(&a), "n1");
        nominator.add(Arc::clone(&b), "n1");
        let snap = nominator.snapshot();
        let all = |_: &PodInfo| true;
        let first = snap.node_with(&n1, all).unwrap();
        assert_eq!((first.pods.len(), first.requested.milli_cpu), (2, 200));
        assert!(Arc::ptr_eq(&first, &snap.node_with(&n1, all).unwrap()), "same node and pods: the same copy");
        assert!(n1.pods.is_empty(), "the node itself is not changed");

        // Another set of pods counted: a copy with those.
        let high = snap.node_with(&n1, |p| p.priority >= 10).unwrap();
        assert_eq!(high.pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(snap.node_with(&n1, |p| p.priority > 10).is_none(), "none counted: no copy");

        // A new version of the node: a new copy of it.
        let mut changed = NodeInfo::clone(&n1);
        changed.generation += 1;
        changed.allocatable.milli_cpu = 2000;
        let changed = Arc::new(changed);
        let again = snap.node_with(&changed, all).unwrap();
        assert!(!Arc::ptr_eq(&again, &first));
        assert_eq!((again.allocatable.milli_cpu, again.pods.len()), (2000, 2));

        // A nomination withdrawn: later snapshots no longer add it; the earlier one still does.
        nominator.remove(&a.key);
        assert_eq!(nominator.snapshot().node_with(&changed, all).unwrap().pods.len(), 1);
        assert_eq!(snap.node_with(&changed, all).unwrap().pods.len(), 2);
        // A node without nominations.
        let n2 = Arc::new(node(json!({"metadata": {"name": "n2"}})));
        assert!(nominator.snapshot().node_with(&n2, all).is_none());
    }
}
