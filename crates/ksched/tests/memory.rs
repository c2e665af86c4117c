//! The scheduler in memory, end to end: pods bind within capacity, an unschedulable pod
//! reports upstream's message and is retried when a node that fits appears, taints and
//! scheduling gates hold pods until they may go.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use kapi::k8s::api::core::v1::{Node, Pod};
use ksched::framework::SchedulerConfig;
use ksched::scheduler::{Outcome, Scheduler, SchedulerHandle};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

fn node(name: &str, cpu: &str, taints: Value) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}))
        .unwrap(),
    )
}

fn pod(name: &str, cpu: &str, extra: Value) -> Arc<Pod> {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox",
        "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name}, "spec": spec}))
            .unwrap(),
    )
}

fn start() -> (Scheduler, SchedulerHandle, UnboundedReceiver<Outcome>) {
    let config = SchedulerConfig::default();
    let profiles = config.build_profiles(&ksched::memory::registry()).unwrap();
    Scheduler::new(profiles, &config, true)
}

fn outcomes(rx: &mut UnboundedReceiver<Outcome>) -> Vec<Outcome> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test]
async fn pods_bind_within_capacity() {
    let (mut s, h, mut rx) = start();
    for n in ["a", "b", "c"] {
        h.add_node(node(n, "2", json!([])));
    }
    for i in 0..6 {
        h.add_pod(pod(&format!("p{i}"), "1", json!({})));
    }
    s.drain().await;
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for o in outcomes(&mut rx) {
        match o {
            Outcome::Bound { node, .. } => *per_node.entry(node).or_default() += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Six 1-CPU pods on three 2-CPU nodes: exactly two each (LeastAllocated spreads).
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
}

#[tokio::test]
async fn unschedulable_pod_is_retried_when_a_fitting_node_appears() {
    let (mut s, h, mut rx) = start();
    for n in ["a", "b", "c"] {
        h.add_node(node(n, "2", json!([])));
    }
    h.add_pod(pod("big", "4", json!({})));
    s.drain().await;
    match outcomes(&mut rx).as_slice() {
        [Outcome::Unschedulable { pod, message, .. }] => {
            assert_eq!(pod, "default/big");
            // Upstream's text, with preemption's own message appended.
            assert_eq!(
                message,
                "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(h.pending().2, 1, "the pod waits among the unschedulable pods");
    // A node too small for it does not help; a big one does.
    h.add_node(node("small", "2", json!([])));
    s.drain().await;
    assert!(outcomes(&mut rx).iter().all(|o| !matches!(o, Outcome::Bound { .. })));
    h.add_node(node("d", "8", json!([])));
    s.drain().await;
    assert!(matches!(outcomes(&mut rx).as_slice(), [Outcome::Bound { node, .. }] if node == "d"));
}

#[tokio::test]
async fn taints_and_tolerations() {
    let (mut s, h, mut rx) = start();
    h.add_node(node("gpu", "4", json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])));
    h.add_pod(pod("plain", "1", json!({})));
    h.add_pod(pod(
        "tolerant",
        "1",
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
    ));
    s.drain().await;
    let mut got = outcomes(&mut rx);
    got.sort_by_key(|o| format!("{o:?}"));
    assert!(matches!(&got[0], Outcome::Bound { pod, node } if pod == "default/tolerant" && node == "gpu"));
    match &got[1] {
        Outcome::Unschedulable { pod, message, .. } => {
            assert_eq!(pod, "default/plain");
            assert_eq!(
                message,
                "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn scheduling_gates_hold_pods_until_removed() {
    let (mut s, h, mut rx) = start();
    h.add_node(node("a", "4", json!([])));
    let gated = pod("gated", "1", json!({"schedulingGates": [{"name": "example.com/wait"}]}));
    h.add_pod(gated.clone());
    s.drain().await;
    assert!(outcomes(&mut rx).is_empty(), "a gated pod is not attempted");
    assert_eq!(h.pending().3, 1);
    let mut open = (*gated).clone();
    open.spec.as_mut().unwrap().scheduling_gates = None;
    h.update_pod(gated, Arc::new(open));
    s.drain().await;
    assert!(matches!(outcomes(&mut rx).as_slice(), [Outcome::Bound { node, .. }] if node == "a"));
}

#[tokio::test]
async fn preemption_withdraws_lower_priority_nominations_on_its_node() {
    let (mut s, h, mut rx) = start();
    h.add_node(node("n", "3", json!([])));
    for i in 0..3 {
        let mut low = (*pod(&format!("low{i}"), "1", json!({"priority": 0}))).clone();
        low.spec.as_mut().unwrap().node_name = Some("n".into());
        h.add_pod(Arc::new(low));
    }
    // A pending pod nominated to n (an earlier preemption) that cannot go anywhere now.
    let mut mid = (*pod("mid", "1", json!({"priority": 5, "nodeSelector": {"missing": "label"}}))).clone();
    mid.status = Some(serde_json::from_value(json!({"nominatedNodeName": "n"})).unwrap());
    h.add_pod(Arc::new(mid));
    h.add_pod(pod("high", "3", json!({"priority": 10})));
    s.drain().await;
    let got = outcomes(&mut rx);
    let high = got
        .iter()
        .find_map(|o| match o {
            Outcome::Unschedulable { pod, nominated_node, victims, cleared_nominations, .. }
                if pod == "default/high" =>
            {
                Some((nominated_node.clone(), victims.len(), cleared_nominations.clone()))
            }
            _ => None,
        })
        .expect("high preempts first");
    assert_eq!(high, (Some("n".to_owned()), 3, vec!["default/mid".to_owned()]));
    // The preemptor then binds to n.
    assert!(got.iter().any(|o| matches!(o, Outcome::Bound { pod, node } if pod == "default/high" && node == "n")));
}
