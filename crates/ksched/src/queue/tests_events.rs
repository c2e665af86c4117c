//! Queue tests: queueing hints, Pending plugins, in-flight events, activation, profiles.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::tests::{PROFILE, key, pod, pop_and_fail, queue, queue_with, secs};
use super::{PodLocation, QueueingHintMap, WILDCARD_EVENT};
use crate::framework::{
    ActionType, ClusterEvent, ClusterEventWithHint, ClusterObject, EventResource, Plugin, PreEnqueuePlugin,
    QueueingHint, Status,
};
use crate::plugins::testing;
use crate::types::PodInfo;

fn node(name: &str, labeled: bool) -> ClusterObject {
    let labels = if labeled { json!({"zone": "a"}) } else { json!({}) };
    ClusterObject::Node(Arc::new(testing::node(json!({"metadata": {"name": name, "labels": labels}}))))
}

fn node_add() -> ClusterEvent {
    ClusterEvent::new(EventResource::Node, ActionType::ADD)
}

/// Plugin "A" registered for Node ADD, worth a retry only for nodes with a `zone` label.
fn labeled_node_hints() -> QueueingHintMap {
    let mut hints = QueueingHintMap::new();
    hints.register(
        PROFILE,
        "A",
        Some(vec![ClusterEventWithHint::with_hint(
            EventResource::Node,
            ActionType::ADD,
            |_pod, _old, new| match new {
                Some(ClusterObject::Node(n))
                    if n.node.metadata.labels.as_ref().is_some_and(|l| l.contains_key("zone")) =>
                {
                    QueueingHint::Queue
                }
                _ => QueueingHint::Skip,
            },
        )]),
    );
    hints.register(
        PROFILE,
        "B",
        Some(vec![ClusterEventWithHint::new(EventResource::PersistentVolume, ActionType::ADD)]),
    );
    hints
}

#[test]
fn hints_decide_whether_an_event_moves_a_pod() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    q.add(pod("p", 0), t0);
    q.add(pod("other", 0), t0);
    assert_eq!(pop_and_fail(&mut q, "p", &["A"], t0), Some(PodLocation::Unschedulable));
    assert_eq!(pop_and_fail(&mut q, "other", &["B"], t0), Some(PodLocation::Unschedulable));
    // An unlabeled node: the hint says Skip.
    assert_eq!(q.on_event(node_add(), None, Some(&node("n1", false)), t0 + secs(5)), 0);
    assert_eq!(q.pending_counts(), (0, 0, 2, 0));
    // A node update: nobody registered for it.
    let upd = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_LABEL);
    assert_eq!(q.on_event(upd, Some(&node("n1", false)), Some(&node("n1", true)), t0 + secs(5)), 0);
    // A labeled node: p moves (its backoff is over: activeQ); "other" was rejected by B,
    // which registered nothing relevant, and stays.
    assert_eq!(q.on_event(node_add(), None, Some(&node("n2", true)), t0 + secs(5)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
    assert_eq!(q.location(&key("other")), Some(PodLocation::Unschedulable));
    // B's event moves "other".
    let pv = ClusterEvent::new(EventResource::PersistentVolume, ActionType::ADD);
    assert_eq!(q.move_all_to_active_or_backoff(pv, t0 + secs(5)), 1);
    assert_eq!(q.pending_counts(), (2, 0, 0, 0));
}

#[test]
fn a_moved_pod_still_serves_its_backoff() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    q.add(pod("p", 0), t0);
    pop_and_fail(&mut q, "p", &["A"], t0);
    assert_eq!(q.on_event(node_add(), None, Some(&node("n", true)), t0 + Duration::from_millis(400)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Backoff));
    assert_eq!(q.next_backoff_expiry(), Some(t0 + secs(1)));
    assert_eq!(q.flush(t0 + secs(1)), 1);
    assert_eq!(q.pop(t0 + secs(1)).unwrap().attempts, 2);
}

#[test]
fn pending_plugins_skip_the_backoff() {
    let t0 = Instant::now();
    let mut hints = labeled_node_hints();
    hints.register(PROFILE, "P", Some(vec![ClusterEventWithHint::new(EventResource::Node, ActionType::ADD)]));
    let mut q = queue(hints);
    q.add(pod("p", 0), t0);
    let mut info = q.pop(t0).unwrap();
    info.pending_plugins.insert("P");
    info.unschedulable_plugins.insert("A");
    assert_eq!(q.add_unschedulable(info, t0), Some(PodLocation::Unschedulable));
    // Still within the 1 s backoff, but the Pending plugin said Queue: activeQ at once.
    assert_eq!(q.on_event(node_add(), None, Some(&node("n", false)), t0 + Duration::from_millis(10)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
}

#[test]
fn plugins_without_registrations_get_every_event() {
    let t0 = Instant::now();
    let mut hints = QueueingHintMap::new();
    hints.register(PROFILE, "C", None);
    let mut q = queue(hints);
    q.add(pod("p", 0), t0);
    pop_and_fail(&mut q, "p", &["C"], t0);
    let ev = ClusterEvent::new(EventResource::StorageClass, ActionType::DELETE);
    assert_eq!(q.on_event(ev, None, None, t0 + secs(2)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
}

#[test]
fn events_during_an_attempt_are_not_lost() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    for name in ["early", "helped", "unhelped"] {
        q.add(pod(name, 0), t0);
    }
    // An event before the pop does not count for the attempt.
    let early = q.pop(t0).unwrap();
    q.done(&key("early"));
    q.on_event(node_add(), None, Some(&node("n0", true)), t0);
    let mut early = early;
    early.unschedulable_plugins.insert("A");
    assert_eq!(q.add_unschedulable(early, t0), Some(PodLocation::Unschedulable));

    let mut helped = q.pop(t0).unwrap();
    let mut unhelped = q.pop(t0).unwrap();
    assert_eq!(q.location(&key("helped")), Some(PodLocation::InFlight));
    // While both are in flight: an unlabeled node, then a labeled one for "helped" only
    // (both arrive during both attempts; the hint is per plugin).
    q.on_event(node_add(), None, Some(&node("n1", false)), t0 + Duration::from_millis(100));
    q.on_event(node_add(), None, Some(&node("n2", true)), t0 + Duration::from_millis(200));
    helped.unschedulable_plugins.insert("A");
    unhelped.unschedulable_plugins.insert("B");
    let now = t0 + Duration::from_millis(300);
    assert_eq!(q.add_unschedulable(helped, now), Some(PodLocation::Backoff));
    assert_eq!(q.add_unschedulable(unhelped, now), Some(PodLocation::Unschedulable));
    // No in-flight pod left: the recorded events are dropped.
    assert_eq!(q.in_flight.events_len(), 0);
    assert!(q.in_flight_pods().is_empty());
}

#[test]
fn events_are_kept_only_while_needed() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    q.add(pod("a", 0), t0);
    q.add(pod("b", 0), t0);
    // No pod in flight: nothing recorded.
    q.on_event(node_add(), None, Some(&node("n0", true)), t0);
    assert_eq!(q.in_flight.events_len(), 0);
    q.pop(t0).unwrap();
    q.on_event(node_add(), None, Some(&node("n1", true)), t0);
    q.pop(t0).unwrap();
    q.on_event(node_add(), None, Some(&node("n2", true)), t0);
    assert_eq!(q.in_flight.events_len(), 2);
    // "a" done: the event before "b" was popped is no longer needed.
    q.done(&key("a"));
    assert_eq!(q.in_flight.events_len(), 1);
    q.done(&key("b"));
    assert_eq!(q.in_flight.events_len(), 0);
}

#[test]
fn an_update_during_the_attempt_is_an_event_for_it() {
    let t0 = Instant::now();
    let mut hints = QueueingHintMap::new();
    hints.register(
        PROFILE,
        "Affinity",
        Some(vec![ClusterEventWithHint::new(EventResource::UnscheduledPod, ActionType::UPDATE_POD_LABEL)]),
    );
    let mut q = queue(hints);
    let p = pod("p", 0);
    q.add(Arc::clone(&p), t0);
    let mut info = q.pop(t0).unwrap();
    let p2 = testing::pod(json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"l": "1"}},
        "spec": {"containers": [{"name": "c"}]}}));
    q.update(&p, Arc::clone(&p2), t0);
    info.unschedulable_plugins.insert("Affinity");
    assert_eq!(q.add_unschedulable(info, t0), Some(PodLocation::Backoff));
    // The latest version is queued.
    assert_eq!(q.get(&key("p")).unwrap().pod.labels.len(), 1);
}

#[test]
fn unschedulable_pod_updates_move_per_hints() {
    let t0 = Instant::now();
    let mut hints = QueueingHintMap::new();
    hints.register(
        PROFILE,
        "Affinity",
        Some(vec![ClusterEventWithHint::new(EventResource::UnscheduledPod, ActionType::UPDATE_POD_LABEL)]),
    );
    let mut q = queue(hints);
    let p = pod("p", 0);
    q.add(Arc::clone(&p), t0);
    pop_and_fail(&mut q, "p", &["Affinity"], t0);
    // A change other than labels: the general update, which Affinity did not register.
    let p2 = pod("p", 3);
    q.update(&p, Arc::clone(&p2), t0 + secs(5));
    assert_eq!(q.location(&key("p")), Some(PodLocation::Unschedulable));
    assert_eq!(q.get(&key("p")).unwrap().pod.priority, 3);
    let p3 = testing::pod(json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"l": "1"}},
        "spec": {"priority": 3, "containers": [{"name": "c"}]}}));
    q.update(&p2, p3, t0 + secs(5));
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
}

#[test]
fn activation_moves_now_or_when_back() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    q.add(pod("u", 0), t0);
    q.add(pod("f", 0), t0);
    pop_and_fail(&mut q, "u", &["A"], t0);
    assert!(q.activate(&key("u")));
    assert_eq!(q.location(&key("u")), Some(PodLocation::Active));
    // In flight: the activation is remembered for its return; it concerns only "f".
    let mut f = q.pop(t0).unwrap();
    assert_eq!(f.pod.name, "f");
    let mut u = q.pop(t0).unwrap();
    assert!(!q.activate(&key("f")));
    f.unschedulable_plugins.insert("A");
    u.unschedulable_plugins.insert("A");
    assert_eq!(q.add_unschedulable(f, t0), Some(PodLocation::Backoff));
    assert_eq!(q.add_unschedulable(u, t0), Some(PodLocation::Unschedulable));
}

#[test]
fn wildcard_moves_everything() {
    let t0 = Instant::now();
    let mut q = queue(labeled_node_hints());
    for name in ["a", "b"] {
        q.add(pod(name, 0), t0);
    }
    pop_and_fail(&mut q, "a", &["A"], t0);
    pop_and_fail(&mut q, "b", &["B"], t0);
    assert_eq!(q.move_all_to_active_or_backoff(WILDCARD_EVENT, t0 + Duration::from_millis(1)), 2);
    assert_eq!(q.pending_counts(), (0, 2, 0, 0));
}

#[test]
fn each_profile_uses_its_own_hints() {
    let t0 = Instant::now();
    let mut hints = labeled_node_hints();
    hints.register("other-scheduler", "A", Some(vec![ClusterEventWithHint::new(EventResource::Node, ActionType::ADD)]));
    let mut q = queue(hints);
    let p = testing::pod(json!({"metadata": {"name": "p", "namespace": "ns"},
        "spec": {"schedulerName": "other-scheduler", "containers": [{"name": "c"}]}}));
    q.add(p, t0);
    q.add(pod("d", 0), t0);
    pop_and_fail(&mut q, "p", &["A"], t0);
    pop_and_fail(&mut q, "d", &["A"], t0);
    // Unlabeled node: the default profile's hint skips, the other profile's A has none.
    assert_eq!(q.on_event(node_add(), None, Some(&node("n", false)), t0 + secs(2)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
    assert_eq!(q.location(&key("d")), Some(PodLocation::Unschedulable));
}

/// A PreEnqueue plugin that admits pods once `open` is set, registered for Node ADD.
struct Quota(Arc<AtomicBool>);

impl Plugin for Quota {
    fn name(&self) -> &'static str {
        "Quota"
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![ClusterEventWithHint::new(EventResource::Node, ActionType::ADD)])
    }
}

impl PreEnqueuePlugin for Quota {
    fn pre_enqueue(&self, _pod: &PodInfo) -> Status {
        if self.0.load(Ordering::SeqCst) { Status::success() } else { Status::unschedulable("over quota") }
    }
}

#[test]
fn gated_pods_are_retried_on_their_gating_plugin_events() {
    let t0 = Instant::now();
    let open = Arc::new(AtomicBool::new(false));
    let mut q = queue_with(QueueingHintMap::new(), vec![Arc::new(Quota(Arc::clone(&open)))]);
    q.add(pod("p", 0), t0);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Gated));
    // Other events are not the gating plugin's.
    let pv = ClusterEvent::new(EventResource::PersistentVolume, ActionType::ADD);
    q.on_event(pv, None, None, t0);
    // Its event, but PreEnqueue still says no.
    q.on_event(node_add(), None, None, t0);
    assert_eq!(q.pending_counts(), (0, 0, 0, 1));
    open.store(true, Ordering::SeqCst);
    q.on_event(pv, None, None, t0);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Gated));
    q.on_event(node_add(), None, None, t0);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
    let info = q.pop(t0).unwrap();
    assert!(info.unschedulable_plugins.is_empty());
}
