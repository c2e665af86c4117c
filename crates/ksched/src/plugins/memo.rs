//! Per-node results kept from one scheduling cycle to the next.
//!
//! PodTopologySpread and InterPodAffinity count pods over every node of the snapshot in
//! PreFilter. Between two cycles usually one node changed (the pod just assumed), so they
//! keep each node's contribution and its running totals, keyed by what the count depends
//! on, and recompute only the nodes that changed: the per-cycle cost falls from a walk over
//! every pod of the cluster to one pointer comparison per node.
//!
//! Snapshot nodes are immutable behind `Arc`s and replaced when they change, so "the same
//! allocation as last time" means "unchanged". A slot holds a `Weak`: a node the snapshot
//! dropped is freed (only its allocation stays until the slot is refreshed), and its address
//! cannot be reused by another node while the slot compares against it.

use std::sync::{Arc, Mutex, Weak};

use crate::types::NodeInfo;

/// How a memoized count is built: what one node contributes, and how a contribution
/// enters (`sign` = 1) or leaves (`sign` = −1) the totals.
pub(crate) trait Tally {
    /// One node's contribution.
    type Value;
    /// The contribution of `node`.
    fn compute(&mut self, node: &NodeInfo) -> Self::Value;
    /// Adds (`sign` = 1) or subtracts (`sign` = −1) a contribution.
    fn apply(&mut self, value: &Self::Value, sign: i64);
}

/// Each snapshot slot's node (as last seen) and its contribution.
#[derive(Debug)]
pub(crate) struct NodeMemo<V> {
    slots: Vec<(Weak<NodeInfo>, V)>,
}

impl<V> Default for NodeMemo<V> {
    fn default() -> Self {
        Self { slots: Vec::new() }
    }
}

impl<V> NodeMemo<V> {
    /// Brings the contributions in line with `nodes`, recomputing the slots whose node
    /// changed; returns how many were recomputed (or dropped).
    pub(crate) fn refresh<T: Tally<Value = V>>(&mut self, nodes: &[Arc<NodeInfo>], tally: &mut T) -> usize {
        let mut changed = 0;
        while self.slots.len() > nodes.len() {
            if let Some((_, v)) = self.slots.pop() {
                tally.apply(&v, -1);
                changed += 1;
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            match self.slots.get_mut(i) {
                Some((seen, _)) if std::ptr::eq(seen.as_ptr(), Arc::as_ptr(node)) => continue,
                Some((seen, v)) => {
                    tally.apply(v, -1);
                    let new = tally.compute(node);
                    tally.apply(&new, 1);
                    *seen = Arc::downgrade(node);
                    *v = new;
                }
                None => {
                    let new = tally.compute(node);
                    tally.apply(&new, 1);
                    self.slots.push((Arc::downgrade(node), new));
                }
            }
            changed += 1;
        }
        changed
    }
}

/// A few memoized entries by key, the least recently used dropped beyond the capacity.
/// The lock is taken by the (serial) scheduling cycle, so it is not contended.
pub(crate) struct MemoCache<E> {
    inner: Mutex<Entries<E>>,
    capacity: usize,
}

struct Entries<E> {
    tick: u64,
    list: Vec<(String, u64, E)>,
}

impl<E> std::fmt::Debug for MemoCache<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map_or(0, |e| e.list.len());
        f.debug_struct("MemoCache").field("entries", &n).field("capacity", &self.capacity).finish()
    }
}

impl<E: Default> MemoCache<E> {
    /// An empty cache holding at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { inner: Mutex::new(Entries { tick: 0, list: Vec::new() }), capacity: capacity.max(1) }
    }

    /// Runs `f` on the entry of `key`, made empty when absent.
    pub(crate) fn with<R>(&self, key: &str, f: impl FnOnce(&mut E) -> R) -> R {
        // A panic in `f` leaves at worst a half-updated entry; drop it rather than trust it.
        let mut guard = self.inner.lock().unwrap_or_else(|e| {
            let mut g = e.into_inner();
            g.list.clear();
            g
        });
        let entries = &mut *guard;
        entries.tick += 1;
        let tick = entries.tick;
        let at = match entries.list.iter().position(|(k, _, _)| k == key) {
            Some(i) => i,
            None => {
                if entries.list.len() >= self.capacity
                    && let Some(oldest) = (0..entries.list.len()).min_by_key(|i| entries.list[*i].1)
                {
                    entries.list.swap_remove(oldest);
                }
                entries.list.push((key.to_owned(), tick, E::default()));
                entries.list.len() - 1
            }
        };
        let slot = &mut entries.list[at];
        slot.1 = tick;
        f(&mut slot.2)
    }

    /// Drops every entry (tests).
    #[cfg(test)]
    pub(crate) fn clear(&self) {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner).list.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::sized_node;

    #[derive(Default)]
    struct PodCount {
        total: i64,
        computed: usize,
    }

    impl Tally for PodCount {
        type Value = i64;
        fn compute(&mut self, node: &NodeInfo) -> i64 {
            self.computed += 1;
            node.pods.len() as i64 + 1
        }
        fn apply(&mut self, value: &i64, sign: i64) {
            self.total += sign * value;
        }
    }

    #[test]
    fn only_changed_nodes_are_recomputed() {
        let mut nodes: Vec<Arc<NodeInfo>> =
            (0..4).map(|i| Arc::new(sized_node(&format!("n{i}"), "1", "1Gi"))).collect();
        let mut memo = NodeMemo::default();
        let mut t = PodCount::default();
        assert_eq!(memo.refresh(&nodes, &mut t), 4);
        assert_eq!((t.total, t.computed), (4, 4));
        assert_eq!(memo.refresh(&nodes, &mut t), 0);
        // A replaced node (same content, new allocation) is recomputed.
        nodes[2] = Arc::new((*nodes[2]).clone());
        assert_eq!(memo.refresh(&nodes, &mut t), 1);
        assert_eq!((t.total, t.computed), (4, 5));
        // Removed and added nodes.
        nodes.truncate(1);
        assert_eq!(memo.refresh(&nodes, &mut t), 3);
        assert_eq!(t.total, 1);
        nodes.push(Arc::new(sized_node("x", "1", "1Gi")));
        assert_eq!(memo.refresh(&nodes, &mut t), 1);
        assert_eq!(t.total, 2);
    }

    #[test]
    fn cache_drops_the_least_recently_used() {
        let cache: MemoCache<i32> = MemoCache::new(2);
        cache.with("a", |e| *e = 1);
        cache.with("b", |e| *e = 2);
        assert_eq!(cache.with("a", |e| *e), 1);
        cache.with("c", |e| *e = 3);
        assert_eq!(cache.with("a", |e| *e), 1);
        assert_eq!(cache.with("b", |e| *e), 0, "b was the least recently used");
        cache.clear();
        assert_eq!(cache.with("a", |e| *e), 0);
    }
}
