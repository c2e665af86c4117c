//! [`NominationsBySlot`]: the nominations by their node's position in the scheduler's
//! snapshot, which filtering reads for every node it checks.

use std::sync::Arc;

use super::nominator::{NodeNominations, NominatedPods, NominationChanges};
use crate::framework::Snapshot;
use crate::types::{NodeInfo, PodInfo};

/// Nominations by the position of their node in the scheduler's snapshot: filtering
/// asks for every node it checks, by position rather than by hashing the node's name.
/// Kept in step with the queue by the changes since the last cycle (one consumer per
/// queue: the scheduling loop).
#[derive(Debug, Default)]
pub struct NominationsBySlot {
    slots: Vec<Option<SlotNominations>>,
    /// The snapshot layout the positions refer to.
    layout: Option<u64>,
    /// Nodes with nominations.
    nodes: usize,
}

/// The nominations to one node of the snapshot, with what filtering reads on every
/// check kept inline (no pointer to follow, no lock, no reference count to touch).
#[derive(Debug)]
pub(crate) struct SlotNominations {
    entry: Arc<NodeNominations>,
    min_priority: i32,
    max_priority: i32,
    /// The snapshot's node with every nominated pod added, and that node's generation:
    /// what a pod of at most `min_priority` is filtered against (pods of higher priority
    /// count only some of them: [`NodeNominations::node_with`]).
    all: Arc<NodeInfo>,
    generation: u64,
}

impl SlotNominations {
    fn new(entry: Arc<NodeNominations>, node: &NodeInfo) -> Self {
        let mut all = NodeInfo::clone(node);
        for p in &entry.pods {
            all.add_pod(Arc::clone(p));
        }
        Self {
            min_priority: entry.priorities.iter().copied().min().unwrap_or(i32::MAX),
            max_priority: entry.priorities.iter().copied().max().unwrap_or(i32::MIN),
            entry,
            all: Arc::new(all),
            generation: node.generation,
        }
    }

    /// The pods nominated here.
    pub(crate) fn entry(&self) -> &NodeNominations {
        &self.entry
    }

    /// Whether none of the pods counts for a pod of `priority`.
    pub(crate) fn none_counts(&self, priority: i32) -> bool {
        self.max_priority < priority
    }

    /// `node` with the pods that count for `pod` added (`own`: this is the pod's own
    /// nominated node); `None` when none counts.
    pub(crate) fn node_with(&self, node: &Arc<NodeInfo>, pod: &PodInfo, own: bool) -> Option<NodeWith<'_>> {
        if self.none_counts(pod.priority) {
            return None;
        }
        if !own && self.min_priority >= pod.priority && self.generation == node.generation {
            return Some(NodeWith::Shared(&self.all));
        }
        self.entry.node_with(node, pod, own).map(NodeWith::Copy)
    }
}

/// A node with nominated pods added.
#[derive(Debug)]
pub(crate) enum NodeWith<'a> {
    /// Every nominated pod, prepared for the cycle.
    Shared(&'a NodeInfo),
    /// Some of them.
    Copy(Arc<NodeInfo>),
}

impl std::ops::Deref for NodeWith<'_> {
    type Target = NodeInfo;
    fn deref(&self) -> &NodeInfo {
        match self {
            NodeWith::Shared(n) => n,
            NodeWith::Copy(n) => n,
        }
    }
}

impl NominationsBySlot {
    /// Catches up with `nominated` for `snapshot`, given what changed since last time:
    /// the nodes whose nominations changed, and the positions of the nodes the snapshot
    /// replaced (`None`: possibly all).
    pub(crate) fn sync(
        &mut self,
        snapshot: &Snapshot,
        nominated: &NominatedPods,
        changes: NominationChanges,
        replaced: Option<Vec<u32>>,
    ) {
        let incremental = self.layout == Some(snapshot.layout());
        match (changes, replaced) {
            (NominationChanges::Nodes(names), Some(replaced)) if incremental => {
                for name in names {
                    if let Some(node) = snapshot.get(&name) {
                        let entry = nominated.0.get(&name).map(|e| SlotNominations::new(Arc::clone(e), node));
                        self.set(node.slot as usize, entry);
                    }
                }
                for slot in replaced {
                    let node = snapshot.nodes().get(slot as usize);
                    let current = self.slots.get(slot as usize).and_then(Option::as_ref);
                    if let (Some(node), Some(current)) = (node, current)
                        && current.generation != node.generation
                    {
                        let entry = SlotNominations::new(Arc::clone(&current.entry), node);
                        self.set(slot as usize, Some(entry));
                    }
                }
            }
            _ => {
                self.slots.clear();
                self.slots.resize_with(snapshot.len(), || None);
                self.nodes = 0;
                for (name, entry) in nominated.0.iter() {
                    if let Some(node) = snapshot.get(name) {
                        self.set(node.slot as usize, Some(SlotNominations::new(Arc::clone(entry), node)));
                    }
                }
                self.layout = Some(snapshot.layout());
            }
        }
    }

    fn set(&mut self, slot: usize, entry: Option<SlotNominations>) {
        let Some(place) = self.slots.get_mut(slot) else { return };
        let old = std::mem::replace(place, entry);
        match (old.is_some(), place.is_some()) {
            (false, true) => self.nodes += 1,
            (true, false) => self.nodes -= 1,
            _ => {}
        }
    }

    /// The nominations for `snapshot` (tests of the cycle).
    #[cfg(test)]
    pub(crate) fn of(snapshot: &Snapshot, nominated: &NominatedPods) -> Self {
        let mut s = Self::default();
        s.sync(snapshot, nominated, NominationChanges::All, None);
        s
    }

    /// The nominations to the node at position `slot`.
    pub(crate) fn get(&self, slot: u32) -> Option<&SlotNominations> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// Whether no pod is nominated to a node of the snapshot.
    pub fn is_empty(&self) -> bool {
        self.nodes == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::testing::node;
    use crate::queue::nominator::tests::pending;
    use crate::queue::nominator::{MAX_LISTED_CHANGES, Nominator};
    use serde_json::json;

    #[test]
    fn nominations_by_position_follow_changes_and_new_layouts() {
        let named = |n: &str| node(json!({"metadata": {"name": n}}));
        let mut snapshot = Snapshot::new(vec![Arc::new(named("n1")), Arc::new(named("n2"))], Arc::default());
        let slot = |s: &Snapshot, n: &str| s.get(n).unwrap().slot;
        let names = |by: &NominationsBySlot, s: &Snapshot, n: &str| -> Vec<String> {
            by.get(slot(s, n)).map(|e| e.entry().pods().iter().map(|p| p.name.clone()).collect()).unwrap_or_default()
        };
        let mut nominator = Nominator::default();
        let mut by_slot = NominationsBySlot::default();
        let sync = |nominator: &mut Nominator, by_slot: &mut NominationsBySlot, s: &Snapshot| {
            let changes = nominator.take_changes();
            by_slot.sync(s, &nominator.snapshot(), changes, Some(Vec::new()));
        };
        sync(&mut nominator, &mut by_slot, &snapshot);
        assert!(by_slot.is_empty());

        let (a, b) = (pending("a", 5), pending("b", 10));
        nominator.add(Arc::clone(&a), "n1");
        nominator.add(Arc::clone(&b), "n2");
        sync(&mut nominator, &mut by_slot, &snapshot);
        assert_eq!(
            (names(&by_slot, &snapshot, "n1"), names(&by_slot, &snapshot, "n2")),
            (vec!["a".into()], vec!["b".into()])
        );

        // Moved: the old node loses it, the new one has it (incremental: same layout).
        nominator.add(Arc::clone(&a), "n2");
        sync(&mut nominator, &mut by_slot, &snapshot);
        assert!(names(&by_slot, &snapshot, "n1").is_empty());
        assert_eq!(names(&by_slot, &snapshot, "n2"), ["b", "a"]);

        // A nominated node changes (more CPU): the node prepared with its nominated pods
        // follows, once the snapshot reports it replaced.
        let n2 = snapshot.get("n2").unwrap();
        let low = pending("low", 0);
        let with = by_slot.get(n2.slot).unwrap().node_with(n2, &low, false).unwrap();
        assert!(matches!(with, NodeWith::Shared(_)), "every nominated pod counts: the prepared copy");
        assert_eq!((with.pods.len(), with.allocatable.milli_cpu), (2, 0));
        let mut bigger = NodeInfo::clone(n2);
        bigger.generation += 1;
        bigger.allocatable.milli_cpu = 4000;
        let _ = snapshot.take_replaced();
        assert!(snapshot.replace(Arc::new(bigger)));
        let n2 = snapshot.get("n2").unwrap();
        let stale = by_slot.get(n2.slot).unwrap().node_with(n2, &low, false).unwrap();
        assert!(matches!(stale, NodeWith::Copy(_)), "not the copy of an older version of the node");
        assert_eq!(stale.allocatable.milli_cpu, 4000);
        let replaced = snapshot.take_replaced();
        by_slot.sync(&snapshot, &nominator.snapshot(), nominator.take_changes(), replaced);
        let n2 = snapshot.get("n2").unwrap();
        let with = by_slot.get(n2.slot).unwrap().node_with(n2, &low, false).unwrap();
        assert!(matches!(with, NodeWith::Shared(_)));
        assert_eq!((with.pods.len(), with.allocatable.milli_cpu), (2, 4000));

        // A node added: new positions, rebuilt from scratch.
        snapshot.set_nodes(vec![Arc::new(named("n0")), Arc::new(named("n2")), Arc::new(named("n1"))]);
        nominator.remove(&b.key);
        sync(&mut nominator, &mut by_slot, &snapshot);
        assert_eq!(names(&by_slot, &snapshot, "n2"), ["a"]);
        assert!(names(&by_slot, &snapshot, "n0").is_empty() && names(&by_slot, &snapshot, "n1").is_empty());

        // Too many changes to list: everything is looked at again.
        for i in 0..(MAX_LISTED_CHANGES + 1) {
            nominator.add(pending(&format!("p{i}"), 1), if i % 2 == 0 { "n0" } else { "n1" });
        }
        assert!(matches!(nominator.take_changes(), NominationChanges::All));
        by_slot.sync(&snapshot, &nominator.snapshot(), NominationChanges::All, None);
        assert_eq!(
            names(&by_slot, &snapshot, "n0").len() + names(&by_slot, &snapshot, "n1").len(),
            MAX_LISTED_CHANGES + 1
        );
        nominator.remove(&a.key);
        sync(&mut nominator, &mut by_slot, &snapshot);
        assert!(names(&by_slot, &snapshot, "n2").is_empty());
        assert!(!by_slot.is_empty());
    }
}
