//! A binary heap with an index by key, so entries can be found, updated and removed in
//! O(log n) (upstream `pkg/scheduler/backend/heap`). The order is given by the caller on
//! every call, which lets the active queue use the QueueSort plugin.

use std::collections::HashMap;

/// Something stored in a [`KeyedHeap`].
pub(super) trait Keyed {
    /// The unique key (`namespace/name`).
    fn key(&self) -> &str;
}

/// A min-heap (by `less`) indexed by key.
#[derive(Debug)]
pub(super) struct KeyedHeap<T> {
    items: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for KeyedHeap<T> {
    fn default() -> Self {
        Self { items: Vec::new(), index: HashMap::new() }
    }
}

impl<T: Keyed> KeyedHeap<T> {
    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether an entry has `key`.
    pub(super) fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The entry with `key`.
    pub(super) fn get(&self, key: &str) -> Option<&T> {
        self.index.get(key).map(|i| &self.items[*i])
    }

    /// The first entry.
    pub(super) fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    /// All entries, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    /// Adds `item`, replacing an entry with the same key.
    pub(super) fn push(&mut self, item: T, less: &impl Fn(&T, &T) -> bool) {
        if let Some(&i) = self.index.get(item.key()) {
            self.items[i] = item;
            self.fix(i, less);
            return;
        }
        let i = self.items.len();
        self.index.insert(item.key().to_owned(), i);
        self.items.push(item);
        self.sift_up(i, less);
    }

    /// Removes and returns the first entry.
    pub(super) fn pop(&mut self, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.remove_at(0, less))
    }

    /// Removes the entry with `key`.
    pub(super) fn remove(&mut self, key: &str, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
        let i = *self.index.get(key)?;
        Some(self.remove_at(i, less))
    }

    /// Changes the entry with `key` in place (its key must stay) and restores the order;
    /// `false` when there is no such entry.
    pub(super) fn update(&mut self, key: &str, f: impl FnOnce(&mut T), less: &impl Fn(&T, &T) -> bool) -> bool {
        let Some(&i) = self.index.get(key) else { return false };
        f(&mut self.items[i]);
        debug_assert_eq!(self.items[i].key(), key, "update must not change the key");
        self.fix(i, less);
        true
    }

    fn remove_at(&mut self, i: usize, less: &impl Fn(&T, &T) -> bool) -> T {
        let last = self.items.len() - 1;
        self.swap(i, last);
        let item = self.items.pop().expect("non-empty: index pointed into it");
        self.index.remove(item.key());
        if i < self.items.len() {
            self.fix(i, less);
        }
        item
    }

    fn fix(&mut self, i: usize, less: &impl Fn(&T, &T) -> bool) {
        if !self.sift_up(i, less) {
            self.sift_down(i, less);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.items.swap(a, b);
        // Both keys are indexed already: update in place, no key copy.
        for i in [a, b] {
            if let Some(slot) = self.index.get_mut(self.items[i].key()) {
                *slot = i;
            }
        }
    }

    /// Returns whether the entry moved.
    fn sift_up(&mut self, mut i: usize, less: &impl Fn(&T, &T) -> bool) -> bool {
        let start = i;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !less(&self.items[i], &self.items[parent]) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
        i != start
    }

    fn sift_down(&mut self, mut i: usize, less: &impl Fn(&T, &T) -> bool) {
        let n = self.items.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && less(&self.items[l], &self.items[best]) {
                best = l;
            }
            if r < n && less(&self.items[r], &self.items[best]) {
                best = r;
            }
            if best == i {
                return;
            }
            self.swap(i, best);
            i = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone)]
    struct Item(String, i32);

    impl Keyed for Item {
        fn key(&self) -> &str {
            &self.0
        }
    }

    fn less(a: &Item, b: &Item) -> bool {
        a.1 < b.1
    }

    #[test]
    fn pops_in_order_with_updates_and_removals() {
        let mut h = KeyedHeap::default();
        for (i, v) in [5, 3, 9, 1, 7, 2, 8].into_iter().enumerate() {
            h.push(Item(format!("k{i}"), v), &less);
        }
        assert!(h.update("k2", |it| it.1 = 0, &less));
        assert_eq!(h.remove("k3", &less).map(|i| i.1), Some(1));
        h.push(Item("k0".into(), 10), &less);
        assert_eq!(h.len(), 6);
        let mut out = Vec::new();
        while let Some(it) = h.pop(&less) {
            out.push(it.1);
        }
        assert_eq!(out, vec![0, 2, 3, 7, 8, 10]);
        assert!(!h.contains("k0"));
    }
}
