//! [`NodeStatuses`]: the Filter statuses of the nodes a cycle rejected.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::Status;
use crate::plugins::fasthash::Fnv;
use crate::types::NodeInfo;

/// The Filter statuses of the nodes a scheduling cycle rejected (upstream `NodeToStatus`),
/// which PostFilter plugins (preemption) read.
///
/// A pod that fits nowhere is rejected by every node, so this is filled once per node on
/// every such cycle: statuses are kept by the node's position in the cycle's
/// [`Snapshot`](super::Snapshot) (a vector, no hashing, no copy of the name). Look a node
/// up with a [`NodeInfo`] of that snapshot; nodes outside a snapshot (built by hand) are
/// kept by name.
///
/// ```
/// use ksched::framework::{NodeStatuses, Status};
/// use ksched::types::NodeInfo;
///
/// let node = NodeInfo::new(std::sync::Arc::new(serde_json::from_value(
///     serde_json::json!({"metadata": {"name": "n1"}}),
/// ).unwrap()));
/// let mut statuses = NodeStatuses::default();
/// statuses.insert(&node, Status::unschedulable("Insufficient cpu"));
/// assert_eq!(statuses.get(&node).map(|s| s.to_string()).as_deref(), Some("Insufficient cpu"));
/// assert_eq!(statuses.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct NodeStatuses {
    /// By snapshot position; success where the node was not rejected (or not judged).
    by_slot: Vec<Status>,
    /// Nodes without a snapshot position.
    by_name: HashMap<String, Status, BuildHasherDefault<Fnv>>,
    rejected: usize,
}

impl NodeStatuses {
    /// Room for the nodes of a snapshot of `nodes` nodes (one allocation rather than a
    /// growing vector when most nodes are rejected).
    pub(crate) fn reserve_slots(&mut self, nodes: usize) {
        if self.by_slot.len() < nodes {
            self.by_slot.resize_with(nodes, Status::success);
        }
    }

    /// Records `node`'s rejection (a success status is not recorded), replacing an
    /// earlier one.
    pub fn insert(&mut self, node: &NodeInfo, status: Status) {
        self.insert_at(node.slot, node, status);
    }

    /// [`NodeStatuses::insert`] with the node's position already read (`node` is then
    /// only read for a node outside a snapshot).
    pub(crate) fn insert_at(&mut self, slot: u32, node: &NodeInfo, status: Status) {
        if status.is_success() {
            return;
        }
        let had = if slot == u32::MAX {
            self.by_name.insert(node.name.clone(), status).is_some()
        } else {
            let slot = slot as usize;
            if slot >= self.by_slot.len() {
                self.by_slot.resize_with(slot + 1, Status::success);
            }
            !std::mem::replace(&mut self.by_slot[slot], status).is_success()
        };
        if !had {
            self.rejected += 1;
        }
    }

    /// `node`'s rejection, if it was rejected.
    pub fn get(&self, node: &NodeInfo) -> Option<&Status> {
        let by_slot = self.by_slot.get(node.slot as usize).filter(|s| !s.is_success());
        by_slot.or_else(|| if self.by_name.is_empty() { None } else { self.by_name.get(&node.name) })
    }

    /// How many nodes were rejected.
    pub fn len(&self) -> usize {
        self.rejected
    }

    /// Whether no node was rejected.
    pub fn is_empty(&self) -> bool {
        self.rejected == 0
    }

    /// The rejections (nodes in snapshot order, then the others).
    pub fn values(&self) -> impl Iterator<Item = &Status> {
        self.by_slot.iter().filter(|s| !s.is_success()).chain(self.by_name.values())
    }
}

impl<'a> FromIterator<(&'a NodeInfo, Status)> for NodeStatuses {
    fn from_iter<T: IntoIterator<Item = (&'a NodeInfo, Status)>>(iter: T) -> Self {
        let mut statuses = Self::default();
        for (node, status) in iter {
            statuses.insert(node, status);
        }
        statuses
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, snapshot};
    use serde_json::json;

    #[test]
    fn statuses_follow_snapshot_positions_and_names() {
        let named = |n: &str| node(json!({"metadata": {"name": n}}));
        let snap = snapshot(vec![named("a"), named("b"), named("c")], vec![]);
        let (a, c) = (snap.get("a").unwrap(), snap.get("c").unwrap());
        let mut statuses = NodeStatuses::default();
        statuses.reserve_slots(snap.len());
        statuses.insert(c, Status::unschedulable("full"));
        statuses.insert(a, Status::success());
        assert_eq!(
            (statuses.len(), statuses.get(a), statuses.get(c).map(Status::to_string)),
            (1, None, Some("full".into()))
        );
        statuses.insert(c, Status::unresolvable("tainted"));
        assert_eq!(statuses.len(), 1, "a second rejection replaces the first");

        // A node outside the snapshot is kept by name.
        let outside = named("z");
        statuses.insert(&outside, Status::unschedulable("gone"));
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses.get(&outside).map(Status::to_string).as_deref(), Some("gone"));
        let all: Vec<String> = statuses.values().map(Status::to_string).collect();
        assert_eq!(all, ["tainted", "gone"]);
        assert!(statuses.get(snap.get("b").unwrap()).is_none());
    }
}
