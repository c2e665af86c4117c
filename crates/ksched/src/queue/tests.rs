//! Queue tests: ordering, backoff timing, gating, leftover flush, updates, deletes and the
//! nominator. Time is an injected `Instant` base plus offsets.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{PodLocation, QueueSettings, QueueingHintMap, SchedulingQueue};
use crate::framework::{
    ActionType, ClusterEventWithHint, EventResource, Plugin, PreEnqueuePlugin, QueueSortPlugin, QueuedPodInfo, Status,
};
use crate::plugins::testing;
use crate::types::PodInfo;

/// A PrioritySort-like QueueSort: higher priority first, then older.
pub(super) struct TestSort;

impl Plugin for TestSort {
    fn name(&self) -> &'static str {
        "TestSort"
    }
}

impl QueueSortPlugin for TestSort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        a.pod.priority > b.pod.priority || (a.pod.priority == b.pod.priority && a.timestamp < b.timestamp)
    }
}

/// Holds pods with scheduling gates; registered for gate removal.
pub(super) struct Gates;

impl Plugin for Gates {
    fn name(&self) -> &'static str {
        "SchedulingGates"
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![ClusterEventWithHint::new(EventResource::UnscheduledPod, ActionType::UPDATE_POD_GATES)])
    }
}

impl PreEnqueuePlugin for Gates {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        if pod.scheduling_gates.is_empty() { Status::success() } else { Status::unresolvable("gated") }
    }
}

pub(super) const PROFILE: &str = "default-scheduler";

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A queue with [`TestSort`], the [`Gates`] PreEnqueue plugin and `hints` (plus the gate
/// plugin's registration).
pub(super) fn queue_with(mut hints: QueueingHintMap, pre_enqueue: Vec<Arc<dyn PreEnqueuePlugin>>) -> SchedulingQueue {
    for p in &pre_enqueue {
        hints.register_plugin(PROFILE, p.as_ref());
    }
    let pre = HashMap::from([(PROFILE.to_owned(), pre_enqueue)]);
    // The classic backoff (no early pops, no windows): `tests_backoff.rs` covers the gate.
    let settings = QueueSettings { pop_from_backoff: false, ..QueueSettings::default() };
    SchedulingQueue::new(Arc::new(TestSort), pre, hints, settings)
}

pub(super) fn queue(hints: QueueingHintMap) -> SchedulingQueue {
    queue_with(hints, vec![Arc::new(Gates)])
}

pub(super) fn pod(name: &str, priority: i32) -> Arc<PodInfo> {
    testing::pod(json!({"metadata": {"name": name, "namespace": "ns"},
        "spec": {"priority": priority, "containers": [{"name": "c"}]}}))
}

pub(super) fn key(name: &str) -> String {
    format!("ns/{name}")
}

/// Pops `name` (asserting it is first) and reports it failed by `plugins` at `now`.
pub(super) fn pop_and_fail(
    q: &mut SchedulingQueue,
    name: &str,
    plugins: &[&'static str],
    now: Instant,
) -> Option<PodLocation> {
    let mut info = q.pop(now).unwrap();
    assert_eq!(info.pod.name, name);
    info.unschedulable_plugins.extend(plugins.iter().copied());
    q.add_unschedulable(info, now)
}

fn pop_names(q: &mut SchedulingQueue, now: Instant) -> Vec<String> {
    std::iter::from_fn(|| q.pop(now)).map(|i| i.pod.name.clone()).collect()
}

#[test]
fn active_queue_follows_queue_sort() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    q.add(pod("low", 1), t0);
    q.add(pod("high", 10), t0 + secs(1));
    q.add(pod("mid", 5), t0 + secs(2));
    q.add(pod("mid-older", 5), t0 + secs(1));
    assert_eq!(q.pending_counts(), (4, 0, 0, 0));
    assert_eq!(pop_names(&mut q, t0 + secs(3)), ["high", "mid-older", "mid", "low"]);
}

#[test]
fn fifo_among_equals() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    // Same priority and the same timestamp: insertion order decides.
    for name in ["a", "b", "c", "d", "e"] {
        q.add(pod(name, 0), t0);
    }
    assert_eq!(pop_names(&mut q, t0), ["a", "b", "c", "d", "e"]);
}

#[test]
fn backoff_doubles_from_one_second_up_to_ten() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    q.add(pod("p", 0), t0);
    let mut now = t0;
    for (attempt, expected) in [1u64, 2, 4, 8, 10, 10].into_iter().enumerate() {
        // An error (no rejecting plugin) goes straight to backoffQ.
        assert_eq!(pop_and_fail(&mut q, "p", &[], now), Some(PodLocation::Backoff));
        let expiry = now + secs(expected);
        assert_eq!(q.next_backoff_expiry(), Some(expiry), "attempt {}", attempt + 1);
        assert_eq!(q.flush(expiry - Duration::from_nanos(1)), 0);
        assert!(q.pop(expiry - Duration::from_nanos(1)).is_none());
        assert_eq!(q.location(&key("p")), Some(PodLocation::Backoff));
        // Not popped before the flush even at expiry: the driver flushes.
        assert!(q.pop(expiry).is_none());
        assert_eq!(q.flush(expiry), 1);
        assert_eq!(q.next_backoff_expiry(), None);
        assert_eq!(q.get(&key("p")).unwrap().attempts, attempt as u32 + 1);
        now = expiry + Duration::from_millis(500);
    }
}

#[test]
fn backoff_settings_are_configurable() {
    let t0 = Instant::now();
    let settings = QueueSettings {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(250),
        max_in_unschedulable: secs(60),
        pop_from_backoff: false,
    };
    let mut q = SchedulingQueue::new(Arc::new(TestSort), HashMap::new(), QueueingHintMap::new(), settings);
    q.add(pod("p", 0), t0);
    let mut now = t0;
    for ms in [100, 200, 250] {
        pop_and_fail(&mut q, "p", &[], now);
        assert_eq!(q.next_backoff_expiry(), Some(now + Duration::from_millis(ms)));
        now += Duration::from_millis(ms);
        assert_eq!(q.flush(now), 1);
    }
}

#[test]
fn backoff_queue_orders_by_expiry() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    q.add(pod("a", 0), t0);
    q.add(pod("b", 0), t0);
    pop_and_fail(&mut q, "a", &[], t0 + secs(1)); // expires t0+2s
    pop_and_fail(&mut q, "b", &[], t0); // expires t0+1s
    assert_eq!(q.next_backoff_expiry(), Some(t0 + secs(1)));
    assert_eq!(q.flush(t0 + secs(1)), 1);
    assert_eq!(q.location(&key("b")), Some(PodLocation::Active));
    assert_eq!(q.location(&key("a")), Some(PodLocation::Backoff));
    assert_eq!(q.next_backoff_expiry(), Some(t0 + secs(2)));
}

#[test]
fn leftover_flush_after_five_minutes() {
    let t0 = Instant::now();
    let mut hints = QueueingHintMap::new();
    hints.register(PROFILE, "A", Some(vec![ClusterEventWithHint::new(EventResource::Node, ActionType::ADD)]));
    let mut q = queue(hints);
    q.add(pod("p", 0), t0);
    assert_eq!(pop_and_fail(&mut q, "p", &["A"], t0), Some(PodLocation::Unschedulable));
    assert_eq!(q.flush_unschedulable_leftover(t0 + secs(30)), 0);
    assert_eq!(q.flush_unschedulable_leftover(t0 + secs(300)), 0, "exactly 5 min is not longer than 5 min");
    assert_eq!(q.location(&key("p")), Some(PodLocation::Unschedulable));
    assert_eq!(q.flush_unschedulable_leftover(t0 + secs(330)), 1);
    // Its 1 s backoff expired long ago: straight to activeQ.
    assert_eq!(q.location(&key("p")), Some(PodLocation::Active));
    assert_eq!(q.pop(t0 + secs(330)).unwrap().attempts, 2);
}

#[test]
fn gated_pods_wait_until_an_update_removes_the_gates() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    let gated = testing::pod(json!({"metadata": {"name": "g", "namespace": "ns"},
        "spec": {"schedulingGates": [{"name": "example.com/wait"}], "containers": [{"name": "c"}]}}));
    q.add(Arc::clone(&gated), t0);
    q.add(pod("free", 0), t0);
    assert_eq!(q.pending_counts(), (1, 0, 0, 1));
    assert_eq!(q.location(&key("g")), Some(PodLocation::Gated));
    assert_eq!(pop_names(&mut q, t0), ["free"]);
    // Events and flushes do not release it.
    assert_eq!(q.move_all_to_active_or_backoff(super::WILDCARD_EVENT, t0 + secs(1)), 0);
    assert_eq!(q.flush_unschedulable_leftover(t0 + secs(600)), 0);
    assert_eq!(q.location(&key("g")), Some(PodLocation::Gated));
    // An update keeping a gate: still gated.
    let relabeled = testing::pod(json!({"metadata": {"name": "g", "namespace": "ns", "labels": {"x": "y"}},
        "spec": {"schedulingGates": [{"name": "example.com/wait"}], "containers": [{"name": "c"}]}}));
    q.update(&gated, Arc::clone(&relabeled), t0 + secs(2));
    assert_eq!(q.pending_counts(), (0, 0, 0, 1));
    // The gates removed: activeQ, with no backoff (never attempted).
    let open = testing::pod(json!({"metadata": {"name": "g", "namespace": "ns", "labels": {"x": "y"}},
        "spec": {"containers": [{"name": "c"}]}}));
    q.update(&relabeled, open, t0 + secs(3));
    assert_eq!(q.pending_counts(), (1, 0, 0, 0));
    let info = q.pop(t0 + secs(3)).unwrap();
    assert_eq!((info.pod.name.as_str(), info.attempts), ("g", 1));
    assert!(info.unschedulable_plugins.is_empty());
}

#[test]
fn delete_removes_from_every_sub_queue() {
    let t0 = Instant::now();
    let mut hints = QueueingHintMap::new();
    hints.register(PROFILE, "A", Some(vec![]));
    let mut q = queue(hints);
    for name in ["u", "b", "a"] {
        q.add(pod(name, 0), t0);
    }
    pop_and_fail(&mut q, "u", &["A"], t0);
    pop_and_fail(&mut q, "b", &[], t0);
    let gated = testing::pod(json!({"metadata": {"name": "g", "namespace": "ns"},
        "spec": {"schedulingGates": [{"name": "w"}], "containers": [{"name": "c"}]}}));
    q.add(gated, t0);
    assert_eq!(q.pending_counts(), (1, 1, 1, 1));
    for name in ["u", "b", "a", "g"] {
        assert!(q.contains(&key(name)));
        assert!(q.delete(&key(name)));
        assert!(!q.contains(&key(name)));
    }
    assert_eq!(q.pending_counts(), (0, 0, 0, 0));
    assert!(!q.delete(&key("nope")));
    assert!(q.pop(t0 + secs(60)).is_none());
}

#[test]
fn deleted_while_in_flight_does_not_come_back() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    q.add(pod("p", 0), t0);
    let info = q.pop(t0).unwrap();
    assert_eq!(q.location(&key("p")), Some(PodLocation::InFlight));
    q.delete(&key("p"));
    assert_eq!(q.add_unschedulable(info, t0), None);
    assert_eq!(q.location(&key("p")), None);
    assert!(q.in_flight_pods().is_empty());
}

#[test]
fn updates_in_place_in_active_and_backoff() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    let a = pod("a", 1);
    q.add(Arc::clone(&a), t0);
    q.add(pod("b", 5), t0);
    // Re-sorted after the update.
    let a2 = pod("a", 9);
    q.update(&a, Arc::clone(&a2), t0 + secs(1));
    assert_eq!(q.get(&key("a")).unwrap().pod.priority, 9);
    assert_eq!(q.get(&key("a")).unwrap().timestamp, 0, "the queue timestamp is kept");
    assert_eq!(q.pop(t0 + secs(1)).unwrap().pod.name, "a");
    // backoffQ: stays there, updated.
    let info = q_pop_named(&mut q, "b", t0 + secs(1));
    assert_eq!(q.add_unschedulable(info, t0 + secs(1)), Some(PodLocation::Backoff));
    let b = pod("b", 5);
    let b2 = testing::pod(json!({"metadata": {"name": "b", "namespace": "ns", "labels": {"v": "2"}},
        "spec": {"priority": 5, "containers": [{"name": "c"}]}}));
    q.update(&b, Arc::clone(&b2), t0 + secs(1));
    assert_eq!(q.location(&key("b")), Some(PodLocation::Backoff));
    assert_eq!(q.get(&key("b")).unwrap().pod.labels.get("v").map(String::as_str), Some("2"));
    // Adding a known pod is an update, not a duplicate.
    q.add(Arc::clone(&b2), t0 + secs(1));
    assert_eq!(q.pending_counts(), (0, 1, 0, 0));
    // An unknown pod's update adds it.
    q.update(&pod("n", 0), pod("n", 0), t0 + secs(1));
    assert_eq!(q.location(&key("n")), Some(PodLocation::Active));
}

fn q_pop_named(q: &mut SchedulingQueue, name: &str, now: Instant) -> QueuedPodInfo {
    let info = q.pop(now).unwrap();
    assert_eq!(info.pod.name, name);
    info
}

#[test]
fn nominator_tracks_nominations() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    let (a, b) = (pod("a", 0), pod("b", 0));
    q.add(Arc::clone(&a), t0);
    q.add(Arc::clone(&b), t0);
    q.nominate(Arc::clone(&a), "n1");
    q.nominate(Arc::clone(&b), "n1");
    let names = |q: &SchedulingQueue, n: &str| -> Vec<String> {
        q.nominated_pods_for_node(n).iter().map(|p| p.name.clone()).collect()
    };
    assert_eq!(names(&q, "n1"), ["a", "b"]);
    // Re-nomination moves it.
    q.nominate(Arc::clone(&a), "n2");
    assert_eq!(names(&q, "n1"), ["b"]);
    assert_eq!(q.nominated_node(&key("a")), Some("n2"));
    // An update keeps the in-memory nomination, with the new pod.
    let a2 = pod("a", 7);
    q.update(&a, Arc::clone(&a2), t0);
    assert_eq!(q.nominated_pods_for_node("n2")[0].priority, 7);
    q.remove_nomination(&key("b"));
    assert!(names(&q, "n1").is_empty());
    q.delete(&key("a"));
    assert!(names(&q, "n2").is_empty());
    assert_eq!(q.nominated_node(&key("a")), None);
    // A pod arriving with status.nominatedNodeName is nominated; bound pods never are.
    let c = testing::pod(json!({"metadata": {"name": "c", "namespace": "ns"},
        "spec": {"containers": [{"name": "c"}]}, "status": {"nominatedNodeName": "n3"}}));
    q.add(c, t0);
    assert_eq!(names(&q, "n3"), ["c"]);
    let bound = testing::pod(json!({"metadata": {"name": "d", "namespace": "ns"},
        "spec": {"nodeName": "n4", "containers": [{"name": "c"}]}}));
    q.nominate(bound, "n4");
    assert!(names(&q, "n4").is_empty());
}

#[test]
fn backoff_duration_edges() {
    use super::backoff::backoff_duration;
    assert_eq!(backoff_duration(0, secs(1), secs(10)), Duration::ZERO);
    assert_eq!(backoff_duration(u32::MAX, secs(1), secs(10)), secs(10));
    assert_eq!(backoff_duration(u32::MAX, Duration::ZERO, secs(10)), Duration::ZERO);
    assert_eq!(backoff_duration(1, secs(20), secs(10)), secs(10));
    assert_eq!(backoff_duration(3, Duration::from_millis(300), secs(1)), secs(1));
}

#[test]
fn queue_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SchedulingQueue>();
}

#[test]
fn a_stale_attempt_of_a_recreated_pod_is_dropped() {
    let t0 = Instant::now();
    let mut q = queue(QueueingHintMap::new());
    let with_uid = |uid: &str| {
        testing::pod(json!({"metadata": {"name": "p", "namespace": "ns", "uid": uid},
            "spec": {"containers": [{"name": "c"}]}}))
    };
    q.add(with_uid("u1"), t0);
    let stale = q.pop(t0).unwrap();
    q.delete(&key("p"));
    q.add(with_uid("u2"), t0);
    let fresh = q.pop(t0).unwrap();
    assert_eq!(q.add_unschedulable(stale, t0), None);
    assert_eq!(q.location(&key("p")), Some(PodLocation::InFlight));
    assert_eq!(q.add_unschedulable(fresh, t0), Some(PodLocation::Backoff));
    assert_eq!(q.get(&key("p")).unwrap().pod.uid, "u2");
}
