//! The nominator: pods that preemption nominated to a node, waiting for their victims to
//! go. Filtering counts them as present on that node (upstream `nominator.go`).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::plugins::fasthash::FastMap;
use crate::types::{NodeInfo, PodInfo};

/// `status.nominatedNodeName`, when set.
pub(super) fn status_nominated_node(pod: &PodInfo) -> Option<&str> {
    pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The nominated pods by node at one moment: what a scheduling cycle reads, without
/// locking the queue. Cheap to take (shared until the queue changes its nominations next).
#[derive(Debug, Clone, Default)]
pub struct NominatedPods(pub(super) Arc<FastMap<String, Arc<NodeNominations>>>);

/// The pods nominated to one node, and the last copy of the node made with them added.
#[derive(Debug, Default)]
pub(crate) struct NodeNominations {
    pub(super) pods: Vec<Arc<PodInfo>>,
    /// `pods[i].priority`, side by side: filtering reads them for every node it checks
    /// while nominations stand, without visiting each pod.
    pub(super) priorities: Vec<i32>,
    /// Every pod filtered while these nominations stand checks the node with them added:
    /// the copy is made once (per node version and set of counted pods), not per cycle.
    copy: Mutex<Option<CopyWith>>,
}

impl Clone for NodeNominations {
    fn clone(&self) -> Self {
        let copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Self { pods: self.pods.clone(), priorities: self.priorities.clone(), copy: Mutex::new(copy) }
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

impl NodeNominations {
    /// The pods, in nomination order.
    pub(crate) fn pods(&self) -> &[Arc<PodInfo>] {
        &self.pods
    }

    /// Whether `pods[i]` counts as present when filtering for `pod`: nominated pods of at
    /// least its priority do (upstream `addNominatedPods`), except `pod` itself, which
    /// can only be here when this is its own nominated node (`own`).
    pub(crate) fn counts(&self, i: usize, pod: &PodInfo, own: bool) -> bool {
        self.priorities[i] >= pod.priority && !(own && self.pods[i].key == pod.key)
    }

    /// `node` with the pods that count for `pod` added (upstream `addNominatedPods`
    /// without PreFilter extensions); `None` when none counts. The copy is shared with
    /// the cycles that ask for the same node version and pods.
    pub(crate) fn node_with(&self, node: &Arc<NodeInfo>, pod: &PodInfo, own: bool) -> Option<Arc<NodeInfo>> {
        let mut added = 0u64;
        let mut any = false;
        for i in 0..self.pods.len() {
            if self.counts(i, pod, own) {
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
            for (i, p) in self.pods.iter().enumerate() {
                if self.counts(i, pod, own) {
                    with.add_pod(Arc::clone(p));
                }
            }
            Arc::new(with)
        };
        if self.pods.len() > MAX_CACHED {
            return Some(build());
        }
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
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
}

impl NominatedPods {
    /// Pods nominated to `node`, in nomination order.
    pub fn for_node(&self, node: &str) -> &[Arc<PodInfo>] {
        self.0.get(node).map_or(&[], |n| n.pods.as_slice())
    }

    /// Whether no pod is nominated.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Nominations from `(node, pods)` pairs (tests of the cycle).
    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: Vec<(&str, Vec<Arc<PodInfo>>)>) -> Self {
        Self(Arc::new(
            pairs
                .into_iter()
                .map(|(n, pods)| {
                    let priorities = pods.iter().map(|p| p.priority).collect();
                    (n.to_owned(), Arc::new(NodeNominations { pods, priorities, copy: Mutex::default() }))
                })
                .collect(),
        ))
    }
}

/// What changed in the nominations since a [`NominationsBySlot`] last caught up.
#[derive(Debug)]
pub(crate) enum NominationChanges {
    /// Too much to list: look at every node.
    All,
    /// The nominations of these nodes changed.
    Nodes(Vec<String>),
}

/// How many changed nodes are listed before [`NominationChanges::All`] is cheaper.
pub(super) const MAX_LISTED_CHANGES: usize = 4096;

/// Nominated pods by node, in nomination order.
#[derive(Default)]
pub(super) struct Nominator {
    by_node: NominatedPods,
    by_pod: FastMap<String, String>,
    /// Nodes whose nominations changed since [`Nominator::take_changes`].
    changed: Vec<String>,
    /// More changed than listed.
    overflow: bool,
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
        let entry = Arc::make_mut(Arc::make_mut(&mut self.by_node.0).entry(node.to_owned()).or_default());
        entry.priorities.push(pod.priority);
        entry.pods.push(pod);
        *entry.copy.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        self.touch(node);
    }

    fn touch(&mut self, node: &str) {
        if self.overflow {
            return;
        }
        if self.changed.len() >= MAX_LISTED_CHANGES {
            self.overflow = true;
            self.changed.clear();
        } else {
            self.changed.push(node.to_owned());
        }
    }

    /// The nodes whose nominations changed since the last call.
    pub(super) fn take_changes(&mut self) -> NominationChanges {
        if std::mem::take(&mut self.overflow) {
            return NominationChanges::All;
        }
        NominationChanges::Nodes(std::mem::take(&mut self.changed))
    }

    /// Drops the nomination of `key`; returns the node it was nominated to.
    pub(super) fn remove(&mut self, key: &str) -> Option<String> {
        let node = self.by_pod.remove(key)?;
        let by_node = Arc::make_mut(&mut self.by_node.0);
        if let Some(entry) = by_node.get_mut(&node) {
            let entry = Arc::make_mut(entry);
            if let Some(i) = entry.pods.iter().position(|p| p.key == key) {
                entry.pods.remove(i);
                entry.priorities.remove(i);
            }
            *entry.copy.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
            if entry.pods.is_empty() {
                by_node.remove(&node);
            }
        }
        self.touch(&node);
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
pub(super) mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    /// A pending pod of `priority` asking for 100m CPU.
    pub(in crate::queue) fn pending(name: &str, priority: i32) -> Arc<PodInfo> {
        pod(json!({"metadata": {"name": name}, "spec": {"priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}}))
    }

    /// `node` with the pods nominated to it that count for `pod` (not its own node).
    fn with(snap: &NominatedPods, node: &Arc<NodeInfo>, pod: &PodInfo) -> Option<Arc<NodeInfo>> {
        snap.0.get(&node.name)?.node_with(node, pod, false)
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
        let (low, mid, high) = (pending("low", 0), pending("mid", 10), pending("high", 11));
        let first = with(&snap, &n1, &low).unwrap();
        assert_eq!((first.pods.len(), first.requested.milli_cpu), (2, 200));
        assert!(Arc::ptr_eq(&first, &with(&snap, &n1, &low).unwrap()), "same node and pods: the same copy");
        assert!(n1.pods.is_empty(), "the node itself is not changed");

        // Another set of pods counted (those of at least the pod's priority): a copy with those.
        let only_b = with(&snap, &n1, &mid).unwrap();
        assert_eq!(only_b.pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(with(&snap, &n1, &high).is_none(), "none counted: no copy");
        // On its own nominated node, a pod does not count itself.
        let entry = snap.0.get("n1").unwrap();
        assert!(entry.node_with(&n1, &b, true).is_none(), "b does not count itself; a is of lower priority");
        assert_eq!(entry.node_with(&n1, &b, false).unwrap().pods.len(), 1, "elsewhere, a pod named b would count");

        // A new version of the node: a new copy of it.
        let mut changed = NodeInfo::clone(&n1);
        changed.generation += 1;
        changed.allocatable.milli_cpu = 2000;
        let changed = Arc::new(changed);
        let again = with(&snap, &changed, &low).unwrap();
        assert!(!Arc::ptr_eq(&again, &first));
        assert_eq!((again.allocatable.milli_cpu, again.pods.len()), (2000, 2));

        // A nomination withdrawn: later snapshots no longer add it; the earlier one still does.
        nominator.remove(&a.key);
        assert_eq!(with(&nominator.snapshot(), &changed, &low).unwrap().pods.len(), 1);
        assert_eq!(with(&snap, &changed, &low).unwrap().pods.len(), 2);
        // A node without nominations.
        let n2 = Arc::new(node(json!({"metadata": {"name": "n2"}})));
        assert!(with(&nominator.snapshot(), &n2, &low).is_none());
    }
}
