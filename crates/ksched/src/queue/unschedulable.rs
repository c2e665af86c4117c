//! unschedulablePods: pods a scheduling attempt found unschedulable, waiting for an event
//! (or the leftover flush) — and the gated pods that PreEnqueue kept out of activeQ, which
//! live here too (as upstream keeps them), counted apart.

use std::collections::HashMap;

use super::Entry;

/// The unschedulable (and gated) pods.
#[derive(Default)]
pub(super) struct UnschedulablePods {
    pods: HashMap<String, Entry>,
    gated: usize,
}

impl UnschedulablePods {
    /// `(unschedulable, gated)`.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.pods.len() - self.gated, self.gated)
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    pub(super) fn get(&self, key: &str) -> Option<&Entry> {
        self.pods.get(key)
    }

    /// Adds or replaces.
    pub(super) fn insert(&mut self, entry: Entry) {
        let gated = entry.gating_plugin.is_some();
        if let Some(old) = self.pods.insert(entry.info.pod.key.clone(), entry) {
            self.gated -= usize::from(old.gating_plugin.is_some());
        }
        self.gated += usize::from(gated);
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.pods.remove(key)?;
        self.gated -= usize::from(e.gating_plugin.is_some());
        Some(e)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.pods.values()
    }
}
