//! backoffQ: pods that may be retried once their backoff expires.
//!
//! Two heaps, as upstream since `SchedulerPopFromBackoffQ` (1.33): pods rejected by
//! plugins, which the scheduler may pop early when activeQ is empty, and pods that failed
//! with an error, which always wait out their backoff. With the gate on, backoff ends on
//! whole-second windows (upstream `backoffQOrderingWindowDuration`), and within a window
//! the pods are in QueueSort order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Entry;
use super::heap::KeyedHeap;
use crate::framework::QueueSortPlugin;
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

/// The ordering window of backoffQ with `SchedulerPopFromBackoffQ`.
pub(super) const ORDERING_WINDOW: Duration = Duration::from_secs(1);

/// When a backoff that would end at `expiry` ends on whole-second windows counted from
/// `epoch`: upstream truncates the expiry to its window and treats the pod as backing off
/// while that is not before the current window, so it ends at the start of the next one.
pub(super) fn windowed_expiry(epoch: Instant, expiry: Instant) -> Instant {
    let windows = expiry.saturating_duration_since(epoch).as_secs();
    epoch + ORDERING_WINDOW * u32::try_from(windows.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The backoff queue.
pub(super) struct BackoffQueue {
    /// Pods some plugin rejected (may be popped early).
    pods: KeyedHeap<Entry>,
    /// Pods whose attempt failed with an error.
    errors: KeyedHeap<Entry>,
    sort: Arc<dyn QueueSortPlugin>,
    /// Whether pods of one window are in QueueSort order (with `SchedulerPopFromBackoffQ`).
    windowed: bool,
}

/// Whether an entry failed with an error rather than a rejection (upstream puts those in
/// `podErrorBackoffQ`).
fn is_error(e: &Entry) -> bool {
    e.info.unschedulable_plugins.is_empty() && e.info.pending_plugins.is_empty()
}

fn by_expiry(a: &Entry, b: &Entry) -> bool {
    (a.backoff_expiry, a.seq) < (b.backoff_expiry, b.seq)
}

impl BackoffQueue {
    pub(super) fn new(sort: Arc<dyn QueueSortPlugin>, windowed: bool) -> Self {
        Self { pods: KeyedHeap::default(), errors: KeyedHeap::default(), sort, windowed }
    }

    pub(super) fn len(&self) -> usize {
        self.pods.len() + self.errors.len()
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.pods.contains(key) || self.errors.contains(key)
    }

    pub(super) fn get(&self, key: &str) -> Option<&Entry> {
        self.pods.get(key).or_else(|| self.errors.get(key))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.pods.iter().chain(self.errors.iter())
    }

    pub(super) fn push(&mut self, entry: Entry) {
        if is_error(&entry) {
            self.errors.push(entry, &by_expiry);
        } else {
            let (sort, windowed) = (self.sort.as_ref(), self.windowed);
            self.pods.push(entry, &|a, b| less(sort, windowed, a, b));
        }
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<Entry> {
        let (sort, windowed) = (self.sort.as_ref(), self.windowed);
        self.pods.remove(key, &|a, b| less(sort, windowed, a, b)).or_else(|| self.errors.remove(key, &by_expiry))
    }

    pub(super) fn update_pod(&mut self, key: &str, pod: Arc<PodInfo>) -> bool {
        let (sort, windowed) = (self.sort.as_ref(), self.windowed);
        if self.pods.contains(key) {
            return self.pods.update(key, |e| e.info.pod = pod, &|a, b| less(sort, windowed, a, b));
        }
        self.errors.update(key, |e| e.info.pod = pod, &by_expiry)
    }

    /// The earliest expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        let (a, b) = (self.pods.peek().map(|e| e.backoff_expiry), self.errors.peek().map(|e| e.backoff_expiry));
        a.into_iter().chain(b).min()
    }

    /// Removes the pods whose backoff has expired at `now`.
    pub(super) fn pop_expired(&mut self, now: Instant) -> Vec<Entry> {
        let (sort, windowed) = (self.sort.as_ref(), self.windowed);
        let mut out = Vec::new();
        while self.pods.peek().is_some_and(|e| e.backoff_expiry <= now) {
            out.extend(self.pods.pop(&|a, b| less(sort, windowed, a, b)));
        }
        while self.errors.peek().is_some_and(|e| e.backoff_expiry <= now) {
            out.extend(self.errors.pop(&by_expiry));
        }
        out
    }

    /// The first pod some plugin rejected, backoff over or not (upstream `popBackoff`);
    /// pods that failed with an error are not taken.
    pub(super) fn pop_rejected(&mut self) -> Option<Entry> {
        let (sort, windowed) = (self.sort.as_ref(), self.windowed);
        self.pods.pop(&|a, b| less(sort, windowed, a, b))
    }
}

/// The order of rejected pods: by end of backoff; with windows, pods whose backoff ends
/// in the same window by QueueSort (upstream `lessBackoffCompletedWithPriority`); then the
/// order they entered.
fn less(sort: &dyn QueueSortPlugin, windowed: bool, a: &Entry, b: &Entry) -> bool {
    if a.backoff_expiry != b.backoff_expiry || !windowed {
        return (a.backoff_expiry, a.seq) < (b.backoff_expiry, b.seq);
    }
    super::active::less(sort, a, b)
}
