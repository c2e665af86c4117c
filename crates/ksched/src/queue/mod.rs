//! The scheduling queue (upstream `pkg/scheduler/backend/queue`), as a pure state machine:
//! every time-dependent method takes `now`; the scheduler's loop owns the clock, calls
//! [`SchedulingQueue::flush`] every [`BACKOFF_FLUSH_INTERVAL`] (or at
//! [`SchedulingQueue::next_backoff_expiry`]) and [`SchedulingQueue::flush_unschedulable_leftover`]
//! every [`LEFTOVER_FLUSH_INTERVAL`].
//!
//! - activeQ: a heap ordered by the QueueSort plugin (first-in first-out among equals);
//! - backoffQ: pods waiting for their backoff to expire, ordered by expiry;
//! - unschedulablePods: pods an attempt found unschedulable, waiting for an event whose
//!   queueing hints say it may help (or for the leftover flush);
//! - gated pods: PreEnqueue rejected them; an update or a hinted event re-runs PreEnqueue;
//! - in-flight pods (popped, not done) and the events received meanwhile, so an event
//!   during an attempt is not lost;
//! - the nominator (pods nominated to nodes by preemption).
//!
//! `QueuedPodInfo::timestamp` (what QueueSort compares) counts nanoseconds from the first
//! `now` the queue was given; it is set when a pod is added and when an attempt fails.
//!
//! The Prometheus gauge `scheduler_pending_pods{queue="active|backoff|unschedulable|gated"}`
//! is [`SchedulingQueue::pending_counts`].

mod active;
mod backoff;
mod by_slot;
mod events;
mod heap;
mod hints;
mod inflight;
mod nominator;
mod unschedulable;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_backoff;
#[cfg(test)]
mod tests_events;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use self::by_slot::NominationsBySlot;
pub use self::hints::{QueueingHintMap, WILDCARD_EVENT};
pub use self::nominator::NominatedPods;
pub(crate) use self::nominator::NominationChanges;

use self::active::ActiveQueue;
use self::backoff::{BackoffQueue, backoff_duration, windowed_expiry};
use self::hints::Strategy;
use self::inflight::{InFlight, RecordedEvent};
use self::nominator::{Nominator, status_nominated_node};
use self::unschedulable::UnschedulablePods;
use crate::framework::{ClusterEvent, ClusterObject, PreEnqueuePlugin, QueueSortPlugin, QueuedPodInfo};
use crate::types::PodInfo;

/// Default backoff after the first failed attempt.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Default cap of the backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Default longest stay in unschedulablePods before the leftover flush retries a pod.
pub const DEFAULT_MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);
/// How often upstream flushes backoffQ.
pub const BACKOFF_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often upstream runs the leftover flush of unschedulablePods.
pub const LEFTOVER_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// Queue timings (`podInitialBackoffSeconds`, `podMaxBackoffSeconds`,
/// `podMaxInUnschedulablePodsDuration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Backoff after the first failed attempt (1 s).
    pub initial_backoff: Duration,
    /// Backoff cap (10 s).
    pub max_backoff: Duration,
    /// Longest stay in unschedulablePods before a retry regardless of events (5 min).
    pub max_in_unschedulable: Duration,
    /// Upstream's `SchedulerPopFromBackoffQ` (beta, on by default since 1.33): when activeQ
    /// is empty, [`SchedulingQueue::pop`] takes the first pod a plugin rejected from
    /// backoffQ without waiting for its backoff; backoff ends on whole-second windows, in
    /// which pods are in QueueSort order; PreEnqueue runs when a pod enters backoffQ.
    pub pop_from_backoff: bool,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_in_unschedulable: DEFAULT_MAX_IN_UNSCHEDULABLE,
            pop_from_backoff: true,
        }
    }
}

/// Where a pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodLocation {
    /// activeQ.
    Active,
    /// backoffQ.
    Backoff,
    /// unschedulablePods.
    Unschedulable,
    /// Held by a PreEnqueue plugin.
    Gated,
    /// Popped, being scheduled or bound.
    InFlight,
}

/// A queued pod with the queue's bookkeeping.
#[derive(Debug, Clone)]
struct Entry {
    info: QueuedPodInfo,
    /// `info.timestamp` as an instant: when the pod was added or last failed.
    timestamp: Instant,
    /// When its backoff ends.
    backoff_expiry: Instant,
    /// The PreEnqueue plugin holding it.
    gating_plugin: Option<&'static str>,
    /// Order of entry into its current queue (ties of QueueSort and of expiry).
    seq: u64,
}

impl heap::Keyed for Entry {
    fn key(&self) -> &str {
        &self.info.pod.key
    }
}

/// The scheduling queue.
pub struct SchedulingQueue {
    settings: QueueSettings,
    pre_enqueue: HashMap<String, Vec<Arc<dyn PreEnqueuePlugin>>>,
    hints: QueueingHintMap,
    active: ActiveQueue,
    backoff: BackoffQueue,
    unschedulable: UnschedulablePods,
    in_flight: InFlight,
    nominator: Nominator,
    /// The instant `QueuedPodInfo::timestamp` counts from (the first `now` seen).
    epoch: Option<Instant>,
    seq: u64,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulingQueue")
            .field("pending", &self.pending_counts())
            .field("in_flight", &self.in_flight.len())
            .field("settings", &self.settings)
            .finish()
    }
}

impl SchedulingQueue {
    /// A queue ordered by `sort`, with the PreEnqueue plugins of each profile (by
    /// `schedulerName`) and the events each profile's plugins registered.
    pub fn new(
        sort: Arc<dyn QueueSortPlugin>,
        pre_enqueue: HashMap<String, Vec<Arc<dyn PreEnqueuePlugin>>>,
        hints: QueueingHintMap,
        settings: QueueSettings,
    ) -> Self {
        Self {
            settings,
            pre_enqueue,
            hints,
            backoff: BackoffQueue::new(Arc::clone(&sort), settings.pop_from_backoff),
            active: ActiveQueue::new(sort),
            unschedulable: UnschedulablePods::default(),
            in_flight: InFlight::default(),
            nominator: Nominator::default(),
            epoch: None,
            seq: 0,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// A new pending pod: activeQ if PreEnqueue admits it, else gated. A pod the queue
    /// already holds is updated instead.
    pub fn add(&mut self, pod: Arc<PodInfo>, now: Instant) {
        if let Some(old) = self.current_pod(&pod.key) {
            self.update(&old, pod, now);
            return;
        }
        let entry = self.new_entry(Arc::clone(&pod), now);
        if self.move_to_active(entry) == PodLocation::Active
            && let Some(node) = status_nominated_node(&pod)
        {
            let node = node.to_owned();
            self.nominator.add(pod, &node);
        }
    }

    /// A pending pod changed. In flight: the update is recorded as events for its return.
    /// In activeQ or backoffQ: updated in place. Gated: PreEnqueue runs again. In
    /// unschedulablePods: the update's events (`UnscheduledPod` label / scale-down / gates /
    /// update) are checked against the hints of the plugins that rejected it. Unknown: added.
    pub fn update(&mut self, old: &Arc<PodInfo>, new: Arc<PodInfo>, now: Instant) {
        let key = new.key.clone();
        let events = events::pod_update_events(old, &new);
        let (old_obj, new_obj) = (ClusterObject::Pod(Arc::clone(old)), ClusterObject::Pod(Arc::clone(&new)));
        if let Some(f) = self.in_flight.get_mut(&key)
            && !f.deleted
        {
            f.pod = Arc::clone(&new);
            for event in events {
                self.in_flight.record(RecordedEvent { event, old: Some(old_obj.clone()), new: Some(new_obj.clone()) });
            }
            self.nominator.update(old, &new);
            return;
        }
        if self.active.update_pod(&key, Arc::clone(&new)) || self.backoff.update_pod(&key, Arc::clone(&new)) {
            self.nominator.update(old, &new);
            return;
        }
        if let Some(mut entry) = self.unschedulable.remove(&key) {
            entry.info.pod = Arc::clone(&new);
            self.nominator.update(old, &new);
            let strategy = if entry.gating_plugin.is_some() {
                Strategy::AfterBackoff
            } else {
                events
                    .iter()
                    .map(|e| self.hints.strategy(&entry.info, e, Some(&old_obj), Some(&new_obj)))
                    .max()
                    .unwrap_or(Strategy::Skip)
            };
            self.requeue(entry, strategy, now);
            return;
        }
        self.add(new, now);
    }

    /// A pod was deleted (or bound by someone else): it leaves the queue and the
    /// nominator; if in flight, it will not come back. Returns whether it was queued.
    pub fn delete(&mut self, key: &str) -> bool {
        self.nominator.remove(key);
        if let Some(f) = self.in_flight.get_mut(key) {
            f.deleted = true;
        }
        self.active.remove(key).is_some()
            || self.backoff.remove(key).is_some()
            || self.unschedulable.remove(key).is_some()
    }

    /// The first pod of activeQ, with its attempts incremented and its rejecting plugins
    /// cleared; it is in flight until [`done`](Self::done) or
    /// [`add_unschedulable`](Self::add_unschedulable).
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPodInfo> {
        let mut entry = match self.active.pop() {
            Some(e) => e,
            None if self.settings.pop_from_backoff => self.backoff.pop_rejected()?,
            None => return None,
        };
        entry.info.attempts = entry.info.attempts.saturating_add(1);
        entry.info.unschedulable_plugins.clear();
        entry.info.pending_plugins.clear();
        self.in_flight.start(Arc::clone(&entry.info.pod), now);
        Some(entry.info)
    }

    /// The attempt of `key` is over (scheduled and bound, or given up).
    pub fn done(&mut self, key: &str) {
        self.in_flight.finish(key);
    }

    /// A popped pod failed, with `unschedulable_plugins` / `pending_plugins` set by the
    /// scheduler (both empty: an error). If an event received during the attempt may help
    /// per the hints, it goes to backoffQ or activeQ; else to unschedulablePods (errors to
    /// backoffQ). The latest version of the pod is used; a pod deleted meanwhile or already
    /// queued is dropped (`None`). Ends the in-flight record, like [`done`](Self::done).
    pub fn add_unschedulable(&mut self, mut info: QueuedPodInfo, now: Instant) -> Option<PodLocation> {
        let key = info.pod.key.clone();
        if self.active.contains(&key) || self.backoff.contains(&key) || self.unschedulable.contains(&key) {
            self.in_flight.finish(&key);
            return None;
        }
        if let Some(f) = self.in_flight.get(&key) {
            if f.deleted {
                self.in_flight.finish(&key);
                return None;
            }
            if !f.pod.uid.is_empty() && !info.pod.uid.is_empty() && f.pod.uid != info.pod.uid {
                // A stale attempt of a pod deleted and re-created under the same name.
                return None;
            }
            info.pod = Arc::clone(&f.pod);
        }
        info.timestamp = self.stamp(now);
        let mut expiry =
            now + backoff_duration(info.attempts, self.settings.initial_backoff, self.settings.max_backoff);
        if self.settings.pop_from_backoff {
            expiry = windowed_expiry(self.epoch.unwrap_or(now), expiry);
        }
        let strategy = if info.unschedulable_plugins.is_empty() && info.pending_plugins.is_empty() {
            Strategy::AfterBackoff
        } else {
            let mut s = Strategy::Skip;
            for e in self.in_flight.events_since(&key) {
                s = s.max(self.hints.strategy(&info, &e.event, e.old.as_ref(), e.new.as_ref()));
                if s == Strategy::Immediately || (s == Strategy::AfterBackoff && info.pending_plugins.is_empty()) {
                    break;
                }
            }
            s
        };
        self.in_flight.finish(&key);
        let entry = Entry { info, timestamp: now, backoff_expiry: expiry, gating_plugin: None, seq: self.next_seq() };
        Some(self.requeue(entry, strategy, now))
    }

    /// A cluster event: every unschedulable pod (and every gated pod whose gating plugin
    /// registered for the event) is moved if the hints of the plugins that rejected it say
    /// so; the event is kept for in-flight pods. Returns how many pods moved to activeQ or
    /// backoffQ.
    pub fn on_event(
        &mut self,
        event: ClusterEvent,
        old: Option<&ClusterObject>,
        new: Option<&ClusterObject>,
        now: Instant,
    ) -> usize {
        if !self.hints.is_event_of_interest(&event) {
            return 0;
        }
        self.move_pods(
            |hints, e| match e.gating_plugin {
                Some(p) => hints.plugin_registered_for(&e.info.pod.scheduler_name, p, &event),
                None => true,
            },
            &event,
            old,
            new,
            now,
        )
    }

    /// Upstream `MoveAllToActiveOrBackoffQueue` without objects; with [`WILDCARD_EVENT`]
    /// every unschedulable pod moves. Returns how many moved.
    pub fn move_all_to_active_or_backoff(&mut self, event: ClusterEvent, now: Instant) -> usize {
        self.on_event(event, None, None, now)
    }

    /// Moves `key` to activeQ now (from unschedulablePods or backoffQ; PreEnqueue still
    /// applies). If it is in flight, it will be retried when it comes back. Returns whether
    /// it entered activeQ.
    pub fn activate(&mut self, key: &str) -> bool {
        if let Some(entry) = self.unschedulable.remove(key).or_else(|| self.backoff.remove(key)) {
            return self.move_to_active(entry) == PodLocation::Active;
        }
        if let Some(f) = self.in_flight.get(key) {
            let pod = ClusterObject::Pod(Arc::clone(&f.pod));
            self.in_flight.record(RecordedEvent { event: WILDCARD_EVENT, old: None, new: Some(pod) });
        }
        false
    }

    /// Moves the pods of backoffQ whose backoff expired at `now` to activeQ (PreEnqueue
    /// runs again). Returns how many entered activeQ.
    pub fn flush(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        for entry in self.backoff.pop_expired(now) {
            // With `pop_from_backoff`, PreEnqueue ran when the pod entered backoffQ.
            let location =
                if self.settings.pop_from_backoff { self.push_active(entry) } else { self.move_to_active(entry) };
            moved += usize::from(location == PodLocation::Active);
        }
        moved
    }

    /// Moves the pods that stayed in unschedulablePods longer than `max_in_unschedulable`
    /// to backoffQ or activeQ (upstream `UnschedulableTimeout`). Returns how many moved.
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) -> usize {
        let max = self.settings.max_in_unschedulable;
        let stale = |e: &Entry| now.saturating_duration_since(e.timestamp) > max;
        if !self.unschedulable.iter().any(stale) {
            return 0;
        }
        self.move_pods(
            |hints, e| {
                stale(e)
                    && e.gating_plugin
                        .is_none_or(|p| hints.plugin_registered_for(&e.info.pod.scheduler_name, p, &WILDCARD_EVENT))
            },
            &WILDCARD_EVENT,
            None,
            None,
            now,
        )
    }

    /// When the first backoff in backoffQ expires.
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff.next_expiry()
    }

    /// Nominates `pod` to `node` (preemption), replacing an earlier nomination.
    pub fn nominate(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.nominator.add(pod, node);
    }

    /// Drops the nomination of `key`.
    pub fn remove_nomination(&mut self, key: &str) {
        self.nominator.remove(key);
    }

    /// The node `key` is nominated to.
    pub fn nominated_node(&self, key: &str) -> Option<&str> {
        self.nominator.node_of(key)
    }

    /// The nominations as they are now, for a scheduling cycle to read without the lock.
    pub fn nominations(&self) -> NominatedPods {
        self.nominator.snapshot()
    }

    /// The nominations as they are now and the nodes whose nominations changed since the
    /// last call, for the scheduling loop's [`NominationsBySlot`].
    pub(crate) fn nominations_and_changes(&mut self) -> (NominatedPods, NominationChanges) {
        (self.nominator.snapshot(), self.nominator.take_changes())
    }

    /// Pods nominated to `node`, in nomination order.
    pub fn nominated_pods_for_node(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.nominator.for_node(node)
    }

    /// `(active, backoff, unschedulable, gated)`.
    pub fn pending_counts(&self) -> (usize, usize, usize, usize) {
        let (unschedulable, gated) = self.unschedulable.counts();
        (self.active.len(), self.backoff.len(), unschedulable, gated)
    }

    /// Whether `key` is pending in the queue (any sub-queue, gated included; not in flight).
    pub fn contains(&self, key: &str) -> bool {
        self.active.contains(key) || self.backoff.contains(key) || self.unschedulable.contains(key)
    }

    /// Where `key` is.
    pub fn location(&self, key: &str) -> Option<PodLocation> {
        if self.active.contains(key) {
            Some(PodLocation::Active)
        } else if self.backoff.contains(key) {
            Some(PodLocation::Backoff)
        } else if let Some(e) = self.unschedulable.get(key) {
            Some(if e.gating_plugin.is_some() { PodLocation::Gated } else { PodLocation::Unschedulable })
        } else if self.in_flight.get(key).is_some_and(|f| !f.deleted) {
            Some(PodLocation::InFlight)
        } else {
            None
        }
    }

    /// The queued info of a pending pod.
    pub fn get(&self, key: &str) -> Option<&QueuedPodInfo> {
        let e = self.active.get(key).or_else(|| self.backoff.get(key)).or_else(|| self.unschedulable.get(key))?;
        Some(&e.info)
    }

    /// Every pending pod with its location (debugging, the cache dumper).
    pub fn pending_pods(&self) -> Vec<(Arc<PodInfo>, PodLocation)> {
        let un = |e: &Entry| if e.gating_plugin.is_some() { PodLocation::Gated } else { PodLocation::Unschedulable };
        let mut out: Vec<_> = self.active.iter().map(|e| (Arc::clone(&e.info.pod), PodLocation::Active)).collect();
        out.extend(self.backoff.iter().map(|e| (Arc::clone(&e.info.pod), PodLocation::Backoff)));
        out.extend(self.unschedulable.iter().map(|e| (Arc::clone(&e.info.pod), un(e))));
        out
    }

    /// Keys of the in-flight pods, oldest first, with when they were popped.
    pub fn in_flight_pods(&self) -> Vec<(String, Instant)> {
        self.in_flight.keys().filter_map(|k| self.in_flight.get(k).map(|f| (k.to_owned(), f.since))).collect()
    }

    // --- internals ---

    fn stamp(&mut self, now: Instant) -> u128 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_nanos()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn new_entry(&mut self, pod: Arc<PodInfo>, now: Instant) -> Entry {
        let ts = self.stamp(now);
        let info = QueuedPodInfo {
            pod,
            timestamp: ts,
            attempts: 0,
            initial_timestamp: ts,
            unschedulable_plugins: Default::default(),
            pending_plugins: Default::default(),
        };
        Entry { info, timestamp: now, backoff_expiry: now, gating_plugin: None, seq: 0 }
    }

    /// The pod as the queue knows it (pending or in flight).
    fn current_pod(&self, key: &str) -> Option<Arc<PodInfo>> {
        if let Some(info) = self.get(key) {
            return Some(Arc::clone(&info.pod));
        }
        self.in_flight.get(key).filter(|f| !f.deleted).map(|f| Arc::clone(&f.pod))
    }

    /// The PreEnqueue plugin that rejects `pod` (the previous gating plugin runs first).
    fn gating_plugin(&self, pod: &PodInfo, previous: Option<&'static str>) -> Option<&'static str> {
        let plugins = self.pre_enqueue.get(&pod.scheduler_name)?;
        let first = previous.and_then(|g| plugins.iter().find(|p| p.name() == g));
        first
            .into_iter()
            .chain(plugins.iter().filter(|p| Some(p.name()) != previous))
            .find(|p| !p.pre_enqueue(pod).is_success())
            .map(|p| p.name())
    }

    /// activeQ if PreEnqueue admits the pod, else gated.
    fn move_to_active(&mut self, entry: Entry) -> PodLocation {
        match self.admit(entry) {
            Ok(entry) => self.push_active(entry),
            Err(location) => location,
        }
    }

    /// PreEnqueue: the entry back when every plugin admits it, else it is gated here.
    fn admit(&mut self, mut entry: Entry) -> Result<Entry, PodLocation> {
        entry.seq = self.next_seq();
        if let Some(p) = self.gating_plugin(&entry.info.pod, entry.gating_plugin) {
            entry.gating_plugin = Some(p);
            entry.info.unschedulable_plugins.insert(p);
            self.unschedulable.insert(entry);
            return Err(PodLocation::Gated);
        }
        if let Some(p) = entry.gating_plugin.take() {
            entry.info.unschedulable_plugins.remove(p);
        }
        Ok(entry)
    }

    /// activeQ, PreEnqueue having admitted the pod.
    fn push_active(&mut self, mut entry: Entry) -> PodLocation {
        entry.seq = self.next_seq();
        self.active.push(entry);
        PodLocation::Active
    }

    fn requeue(&mut self, mut entry: Entry, strategy: Strategy, now: Instant) -> PodLocation {
        match strategy {
            Strategy::Skip => {
                let loc = if entry.gating_plugin.is_some() { PodLocation::Gated } else { PodLocation::Unschedulable };
                self.unschedulable.insert(entry);
                loc
            }
            Strategy::AfterBackoff if entry.backoff_expiry > now => {
                if self.settings.pop_from_backoff {
                    // PreEnqueue runs on the way into backoffQ: a pod there may be popped.
                    entry = match self.admit(entry) {
                        Ok(entry) => entry,
                        Err(location) => return location,
                    };
                }
                entry.seq = self.next_seq();
                self.backoff.push(entry);
                PodLocation::Backoff
            }
            _ => self.move_to_active(entry),
        }
    }

    /// Moves the unschedulable pods that `candidate` selects and whose hints say `event`
    /// may help (in the order they entered the pool), then keeps the event for in-flight
    /// pods. Returns how many went to activeQ or backoffQ.
    fn move_pods(
        &mut self,
        candidate: impl Fn(&QueueingHintMap, &Entry) -> bool,
        event: &ClusterEvent,
        old: Option<&ClusterObject>,
        new: Option<&ClusterObject>,
        now: Instant,
    ) -> usize {
        let hints = &self.hints;
        let mut to_move: Vec<(u64, String, Strategy)> = self
            .unschedulable
            .iter()
            .filter(|e| candidate(hints, e))
            .filter_map(|e| match hints.strategy(&e.info, event, old, new) {
                Strategy::Skip => None,
                s => Some((e.seq, e.info.pod.key.clone(), s)),
            })
            .collect();
        to_move.sort_unstable_by_key(|(seq, _, _)| *seq);
        let mut moved = 0;
        for (_, key, strategy) in to_move {
            if let Some(entry) = self.unschedulable.remove(&key)
                && matches!(self.requeue(entry, strategy, now), PodLocation::Active | PodLocation::Backoff)
            {
                moved += 1;
            }
        }
        self.in_flight.record(RecordedEvent { event: *event, old: old.cloned(), new: new.cloned() });
        moved
    }
}
