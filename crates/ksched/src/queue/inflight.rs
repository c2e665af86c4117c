//! In-flight tracking: pods popped and not yet done, and the events received meanwhile,
//! so that a pod coming back unschedulable is requeued if an event during its attempt may
//! have helped (upstream `inFlightPods` / `inFlightEvents`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::framework::{ClusterEvent, ClusterObject};
use crate::types::PodInfo;

/// An event with its objects.
#[derive(Debug, Clone)]
pub(super) struct RecordedEvent {
    pub(super) event: ClusterEvent,
    pub(super) old: Option<ClusterObject>,
    pub(super) new: Option<ClusterObject>,
}

/// One pod being scheduled or bound.
#[derive(Debug)]
pub(super) struct InFlightPod {
    /// Position in the event sequence when it was popped.
    seq: u64,
    /// The latest version of the pod (updates during the attempt replace it).
    pub(super) pod: Arc<PodInfo>,
    /// When it was popped.
    pub(super) since: Instant,
    /// Deleted during the attempt: it must not come back.
    pub(super) deleted: bool,
}

/// In-flight pods and events.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    pods: HashMap<String, InFlightPod>,
    /// Pods by pop sequence (the oldest bounds which events are still needed).
    order: BTreeMap<u64, String>,
    events: VecDeque<(u64, RecordedEvent)>,
    next: u64,
}

impl InFlight {
    pub(super) fn len(&self) -> usize {
        self.pods.len()
    }

    /// Events kept (they are dropped once no pod needs them).
    #[cfg(test)]
    pub(super) fn events_len(&self) -> usize {
        self.events.len()
    }

    pub(super) fn get(&self, key: &str) -> Option<&InFlightPod> {
        self.pods.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut InFlightPod> {
        self.pods.get_mut(key)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.order.values().map(String::as_str)
    }

    /// A pod was popped.
    pub(super) fn start(&mut self, pod: Arc<PodInfo>, now: Instant) {
        let seq = self.bump();
        self.order.insert(seq, pod.key.clone());
        if let Some(old) = self.pods.insert(pod.key.clone(), InFlightPod { seq, pod, since: now, deleted: false }) {
            self.order.remove(&old.seq);
        }
    }

    /// Records an event if any pod is in flight; returns whether it was recorded.
    pub(super) fn record(&mut self, event: RecordedEvent) -> bool {
        if self.pods.is_empty() {
            return false;
        }
        let seq = self.bump();
        self.events.push_back((seq, event));
        true
    }

    /// The events received since `key` was popped.
    pub(super) fn events_since(&self, key: &str) -> impl Iterator<Item = &RecordedEvent> {
        let since = self.pods.get(key).map(|p| p.seq);
        self.events.iter().filter(move |(s, _)| since.is_some_and(|since| *s > since)).map(|(_, e)| e)
    }

    /// The attempt of `key` is over; events no remaining pod needs are dropped.
    pub(super) fn finish(&mut self, key: &str) -> Option<InFlightPod> {
        let p = self.pods.remove(key)?;
        self.order.remove(&p.seq);
        let oldest = self.order.keys().next().copied().unwrap_or(u64::MAX);
        while self.events.front().is_some_and(|(s, _)| *s < oldest) {
            self.events.pop_front();
        }
        Some(p)
    }

    fn bump(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}
