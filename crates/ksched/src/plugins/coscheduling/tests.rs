#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::framework::{SchedulerConfig, WaitingPods};
use crate::plugins::testing::{pod, sized_node, snapshot};
use crate::scheduler::{Outcome, Scheduler, SchedulerHandle};

/// A pod of `group` (minMember `min` by annotation) asking for `cpu`.
fn member(name: &str, group: &str, min: Option<u32>, cpu: &str) -> Arc<PodInfo> {
    let annotations = min.map(|m| json!({MIN_AVAILABLE_ANNOTATION: m.to_string()}));
    pod(json!({"metadata": {"name": name, "uid": name, "labels": {POD_GROUP_LABEL: group},
            "annotations": annotations},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
}

fn on(p: &PodInfo, node: &str) -> Arc<PodInfo> {
    let mut a = p.clone();
    a.node_name = Some(node.to_owned());
    Arc::new(a)
}

fn plugin(args: serde_json::Value) -> PluginHandle {
    factory(Some(&args)).unwrap()
}

fn pre_filter(h: &PluginHandle, p: &PodInfo, snap: &Snapshot) -> (CycleState, Status) {
    let mut state = CycleState::new();
    let (_, s) = h.pre_filter.as_ref().unwrap().pre_filter(&mut state, p, snap);
    (state, s)
}

#[tokio::test]
async fn gang_of_three_waits_then_the_third_releases_all() {
    let h = plugin(json!({"permitWaitingTimeSeconds": 30}));
    let permit = h.permit.as_ref().unwrap();
    let pods: Vec<_> = ["p1", "p2", "p3"].iter().map(|n| member(n, "g", Some(3), "1")).collect();
    for p in &pods {
        assert!(h.pre_enqueue.as_ref().unwrap().pre_enqueue(p).is_success());
    }
    let waiting = WaitingPods::default();
    let nodes = || vec![sized_node("n1", "4", "8Gi"), sized_node("n2", "4", "8Gi")];

    // p1: nothing assigned yet; waits.
    let (state, s) = pre_filter(&h, &pods[0], &snapshot(nodes(), vec![]));
    assert!(s.is_success());
    let (s, timeout) = permit.permit(&state, &pods[0], "n1", &waiting);
    assert_eq!((s.code(), timeout), (Code::Wait, Duration::from_secs(30)));
    let rx1 = waiting.add(on(&pods[0], "n1"), "n1", [NAME].into());

    // p2: p1 is assumed (in the snapshot) and waiting: counted once; waits.
    let (state, _) = pre_filter(&h, &pods[1], &snapshot(nodes(), vec![on(&pods[0], "n1")]));
    let (s, _) = permit.permit(&state, &pods[1], "n2", &waiting);
    assert_eq!(s.code(), Code::Wait);
    let rx2 = waiting.add(on(&pods[1], "n2"), "n2", [NAME].into());

    // p3 completes the gang: allowed, and so are the two waiting pods.
    let snap = snapshot(nodes(), vec![on(&pods[0], "n1"), on(&pods[1], "n2")]);
    let (state, _) = pre_filter(&h, &pods[2], &snap);
    let (s, timeout) = permit.permit(&state, &pods[2], "n1", &waiting);
    assert_eq!((s, timeout), (Status::success(), Duration::ZERO));
    assert!(rx1.await.unwrap().is_success());
    assert!(rx2.await.unwrap().is_success());
    assert!(waiting.list().is_empty());
}

#[test]
fn pre_filter_rejects_groups_with_too_few_pods() {
    let h = plugin(
        json!({"podGroups": [{"name": "big", "minMember": 4}, {"namespace": "ns", "name": "x", "minMember": 1}]}),
    );
    let snap = snapshot(vec![sized_node("n1", "4", "8Gi")], vec![]);
    let p1 = member("p1", "g", Some(3), "1");
    h.pre_enqueue.as_ref().unwrap().pre_enqueue(&p1);
    let (_, s) = pre_filter(&h, &p1, &snap);
    let msg = "pod group default/g has fewer than minMember pods (current pods number: 1, minMember of group: 3)";
    assert_eq!(s, Status::unresolvable(msg));
    // Siblings known to the queue (and bound ones) count.
    let p2 = member("p2", "g", Some(3), "1");
    h.pre_enqueue.as_ref().unwrap().pre_enqueue(&p2);
    let bound = on(&member("p0", "g", Some(3), "1"), "n1");
    let (_, s) = pre_filter(&h, &p1, &snapshot(vec![sized_node("n1", "4", "8Gi")], vec![bound]));
    assert!(s.is_success());
    // The args' PodGroup wins over the annotation.
    let (_, s) = pre_filter(&h, &member("q", "big", Some(1), "1"), &snap);
    assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
    // No minMember anywhere.
    let (_, s) = pre_filter(&h, &member("r", "nameless", None, "1"), &snap);
    assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
    assert!(s.reasons()[0].starts_with("pod group default/nameless not found"), "{s}");
}

#[test]
fn pods_without_a_group_pass_through() {
    let h = plugin(json!({}));
    let p = pod(json!({"metadata": {"name": "solo", "uid": "solo"}, "spec": {"containers": [{"name": "c"}]}}));
    let (state, s) = pre_filter(&h, &p, &snapshot(vec![sized_node("n1", "4", "8Gi")], vec![]));
    assert!(s.is_skip());
    let (s, t) = h.permit.as_ref().unwrap().permit(&state, &p, "n1", &WaitingPods::default());
    assert_eq!((s, t), (Status::success(), Duration::ZERO));
    let mut state = state;
    h.reserve.as_ref().unwrap().unreserve(&mut state, &p, "n1");
}

#[tokio::test]
async fn unreserve_rejects_the_waiting_siblings() {
    let h = plugin(json!({}));
    let permit = h.permit.as_ref().unwrap();
    let waiting = WaitingPods::default();
    let snap = snapshot(vec![sized_node("n1", "4", "8Gi")], vec![]);
    let (p1, p2) = (member("p1", "g", Some(3), "1"), member("p2", "g", Some(3), "1"));
    let other = member("o1", "other", Some(2), "1");
    let mut rxs = Vec::new();
    for p in [&p1, &p2, &other] {
        let (state, _) = pre_filter(&h, p, &snap);
        assert_eq!(permit.permit(&state, p, "n1", &waiting).0.code(), Code::Wait);
        rxs.push(waiting.add(on(p, "n1"), "n1", [NAME].into()));
    }
    // p1 times out: the framework removes it, then unreserves it.
    waiting.remove("p1");
    let mut state = CycleState::new();
    h.reserve.as_ref().unwrap().unreserve(&mut state, &p1, "n1");
    let rx_other = rxs.pop().unwrap();
    let s = rxs.pop().unwrap().await.unwrap();
    assert_eq!(s.code(), Code::Unschedulable);
    assert_eq!(s.plugin(), Some(NAME));
    // Another group is not touched.
    assert_eq!(waiting.list().len(), 1);
    waiting.allow("o1", NAME);
    assert!(rx_other.await.unwrap().is_success());
}

#[test]
fn args_and_hints() {
    assert!(factory(None).is_ok());
    // Registered, but only enabled by configuration.
    let registry = crate::plugins::default_registry();
    assert!(registry.names().any(|n| n == NAME));
    let profiles = SchedulerConfig::default().build_profiles(&crate::memory::registry()).unwrap();
    assert!(profiles[0].permit.is_empty() && profiles[0].pre_enqueue.iter().all(|p| p.name() != NAME));
    assert!(factory(Some(&json!({"permitWaitingTimeSeconds": 0}))).is_err());
    assert!(factory(Some(&json!({"scheduleTimeout": 5}))).is_err());
    let h = plugin(json!({}));
    let events = h.plugin.unwrap().events_to_register().unwrap();
    let e = events.iter().find(|e| e.event.resource == EventResource::UnscheduledPod).unwrap();
    let hint = e.hint.as_ref().unwrap();
    let p = member("p1", "g", Some(2), "1");
    let sibling = ClusterObject::Pod(member("p2", "g", Some(2), "1"));
    let stranger = ClusterObject::Pod(member("x", "h", Some(2), "1"));
    assert_eq!(hint(&p, None, Some(&sibling)), QueueingHint::Queue);
    assert_eq!(hint(&p, None, Some(&stranger)), QueueingHint::Skip);
}

// --- the in-memory scheduler ---

fn gang_scheduler(timeout_seconds: u64) -> (Scheduler, SchedulerHandle, UnboundedReceiver<Outcome>) {
    let yaml = format!(
        "profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: Coscheduling
  pluginConfig:
  - name: Coscheduling
    args:
      permitWaitingTimeSeconds: {timeout_seconds}
"
    );
    let config = SchedulerConfig::from_yaml(&yaml).unwrap();
    let profiles = config.build_profiles(&crate::memory::registry()).unwrap();
    assert!(!profiles[0].permit.is_empty(), "Coscheduling is enabled");
    let (sched, handle, rx) = Scheduler::new(profiles, &config, true);
    for n in ["n1", "n2"] {
        handle.add_node(Arc::clone(&sized_node(n, "2", "8Gi").node));
    }
    (sched, handle, rx)
}

/// Receives outcomes until `done` says so (or a minute passes).
async fn collect(rx: &mut UnboundedReceiver<Outcome>, done: impl Fn(&[Outcome]) -> bool) -> Vec<Outcome> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while !done(&out) {
            match rx.recv().await {
                Some(o) => out.push(o),
                None => return,
            }
        }
    })
    .await;
    out
}

fn bound(out: &[Outcome]) -> Vec<&str> {
    let mut v: Vec<&str> =
        out.iter().filter_map(|o| if let Outcome::Bound { pod, .. } = o { Some(pod.as_str()) } else { None }).collect();
    v.sort_unstable();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_binds_a_gang_of_three() {
    let (sched, handle, mut rx) = gang_scheduler(30);
    for n in ["g1", "g2", "g3"] {
        handle.add_pod(Arc::clone(&member(n, "train", Some(3), "1").pod));
    }
    let cancel = CancellationToken::new();
    let task = tokio::spawn(sched.run(cancel.clone()));
    let out = collect(&mut rx, |o| bound(o).len() == 3).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(bound(&out), vec!["default/g1", "default/g2", "default/g3"], "{out:?}");
    assert_eq!(out.len(), 3, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_gathers_a_gang_arriving_one_by_one() {
    let (sched, handle, mut rx) = gang_scheduler(30);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(sched.run(cancel.clone()));
    handle.add_pod(Arc::clone(&member("g1", "train", Some(3), "1").pod));
    // Alone, the first pod is rejected by PreFilter …
    let out = collect(&mut rx, |o| !o.is_empty()).await;
    let Some(Outcome::Unschedulable { pod, message, .. }) = out.first() else { panic!("{out:?}") };
    assert_eq!(pod, "default/g1");
    assert!(message.contains("has fewer than minMember pods"), "{message}");
    // … and requeued when its siblings arrive.
    handle.add_pod(Arc::clone(&member("g2", "train", Some(3), "1").pod));
    handle.add_pod(Arc::clone(&member("g3", "train", Some(3), "1").pod));
    let out = collect(&mut rx, |o| bound(o).len() == 3).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(bound(&out), vec!["default/g1", "default/g2", "default/g3"], "{out:?}");
}

#[tokio::test(start_paused = true)]
async fn scheduler_times_out_a_gang_that_cannot_complete() {
    let (sched, handle, mut rx) = gang_scheduler(5);
    // Two nodes of 2 CPUs: the third pod (8 CPUs) fits nowhere.
    handle.add_pod(Arc::clone(&member("g1", "train", Some(3), "1").pod));
    handle.add_pod(Arc::clone(&member("g2", "train", Some(3), "1").pod));
    handle.add_pod(Arc::clone(&member("g3", "train", Some(3), "8").pod));
    let cancel = CancellationToken::new();
    let task = tokio::spawn(sched.run(cancel.clone()));
    let released = |o: &Outcome, p: &str| matches!(o, Outcome::Unschedulable { pod, .. } if pod == p);
    let out = collect(&mut rx, |o| ["default/g1", "default/g2"].iter().all(|p| o.iter().any(|x| released(x, p)))).await;
    cancel.cancel();
    task.await.unwrap();
    assert!(bound(&out).is_empty(), "{out:?}");
    let message = |p: &str| {
        out.iter()
            .find_map(|o| match o {
                Outcome::Unschedulable { pod, message, .. } if pod == p => Some(message.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    assert!(message("default/g3").contains("Insufficient cpu"), "{out:?}");
    // One waiting pod timed out, and its Unreserve rejected the other.
    let (m1, m2) = (message("default/g1"), message("default/g2"));
    let timed_out = "rejected due to timeout after waiting at permit";
    assert!(m1.contains(timed_out) || m2.contains(timed_out), "{out:?}");
    assert!(m1.contains("rejection in Unreserve") || m2.contains("rejection in Unreserve"), "{out:?}");
}
