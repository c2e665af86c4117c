//! backoffQ: pods that may be retried once their backoff expires, ordered by expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Entry;
use super::heap::KeyedHeap;
use crate::types::PodInfo;

/// The backoff after `attempts` attempts: none before the first attempt, then
/// `initial × 2^(attempts−1)`, capped at `max` (upstream `calculateBackoffDuration`).
pub(super) fn backoff_duration(attempts: u32, initial: Duration, max: Duration) -> Duration {
    if attempts == 0 || initial.is_zero() {
        return Duration::ZERO;
    }
    let mut d = initial;
    for _ in 1..attempts {
        // Doubling would pass the cap (and cannot overflow this way).
        if d > max.saturating_sub(d) {
            return max;
        }
        d += d;
    }
    d.min(max)
}

fn less(a: &Entry, b: &Entry) -> bool {
    (a.backoff_expiry, a.seq) < (b.backoff_expiry, b.seq)
}

/// The backoff queue.
#[derive(Default)]
pub(super) struct BackoffQueue {
    heap: KeyedHeap<Entry>,
}

impl BackoffQueue {
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
        self.heap.push(entry, &less);
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Entry> {
        self.heap.remove(key, &less)
    }

    pub(super) fn update_pod(&mut self, key: &str, pod: Arc<PodInfo>) -> bool {
        self.heap.update(key, |e| e.info.pod = pod, &less)
    }

    /// The earliest expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.backoff_expiry)
    }

    /// Removes the pods whose backoff has expired at `now`, earliest first.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Vec<Entry> {
        let mut out = Vec::new();
        while self.heap.peek().is_some_and(|e| e.backoff_expiry <= now) {
            out.extend(self.heap.pop(&less));
        }
        out
    }
}
