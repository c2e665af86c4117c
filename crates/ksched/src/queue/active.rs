//! activeQ: the pods ready to be scheduled, ordered by the QueueSort plugin (first-in
//! first-out among pods it considers equal).

use std::sync::Arc;

use super::Entry;
use super::heap::KeyedHeap;
use crate::framework::QueueSortPlugin;
use crate::types::PodInfo;

/// Whether `a` goes before `b`: QueueSort, then the order the pods entered the queue.
pub(super) fn less(sort: &dyn QueueSortPlugin, a: &Entry, b: &Entry) -> bool {
    if sort.less(&a.info, &b.info) {
        true
    } else if sort.less(&b.info, &a.info) {
        false
    } else {
        a.seq < b.seq
    }
}

/// The active queue.
pub(super) struct ActiveQueue {
    heap: KeyedHeap<Entry>,
    sort: Arc<dyn QueueSortPlugin>,
}

impl ActiveQueue {
    pub(super) fn new(sort: Arc<dyn QueueSortPlugin>) -> Self {
        Self { heap: KeyedHeap::default(), sort }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.heap.contains(key)
    }

    pub(super) fn get(&self, key: &str) -> Option<&Entry> {
        self.heap.get(key)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.heap.iter()
    }

    pub(super) fn push(&mut self, entry: Entry) {
        let sort = self.sort.as_ref();
        self.heap.push(entry, &|a, b| less(sort, a, b));
    }

    pub(super) fn pop(&mut self) -> Option<Entry> {
        let sort = self.sort.as_ref();
        self.heap.pop(&|a, b| less(sort, a, b))
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Entry> {
        let sort = self.sort.as_ref();
        self.heap.remove(key, &|a, b| less(sort, a, b))
    }

    /// Replaces the pod of a queued entry (its position may change).
    pub(super) fn update_pod(&mut self, key: &str, pod: Arc<PodInfo>) -> bool {
        let sort = self.sort.as_ref();
        self.heap.update(key, |e| e.info.pod = pod, &|a, b| less(sort, a, b))
    }
}
