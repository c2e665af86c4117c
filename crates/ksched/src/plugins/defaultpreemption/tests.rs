//! Golden tests of DefaultPreemption, with the default profile's plugins (the scenarios of
//! upstream's `default_preemption_test.go`), and through the in-memory scheduler.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use kapi::k8s::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};

use super::candidates::{Candidate, no_candidate_message, pick_one};
use super::victims::Victims;
use super::*;
use crate::framework::{ClusterState, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Profile, SchedulerConfig};
use crate::plugins::testing::{pod, sized_node, snapshot_with};
use crate::types::NodeInfo;

/// A framework handle over a snapshot, with the default profile (or another one).
struct TestHandle {
    profile: Profile,
    snapshot: Snapshot,
    nominated: HashMap<String, Vec<Arc<PodInfo>>>,
}

impl Handle for TestHandle {
    fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
    fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        self.profile.run_filters(state, pod, node)
    }
    fn run_remove_pod(&self, state: &mut CycleState, pod: &PodInfo, victim: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        self.profile.run_remove_pod(state, pod, victim, node)
    }
    fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        self.profile.run_add_pod(state, pod, added, node)
    }
    fn nominated_pods(&self, node: &str) -> Vec<Arc<PodInfo>> {
        self.nominated.get(node).cloned().unwrap_or_default()
    }
}

fn default_profile() -> Profile {
    SchedulerConfig::default().build_profiles(&crate::memory::registry()).unwrap().remove(0)
}

fn handle(nodes: Vec<NodeInfo>, pods: Vec<Arc<PodInfo>>, pdbs: Vec<Value>) -> TestHandle {
    let pdbs = pdbs.into_iter().map(|v| Arc::new(serde_json::from_value::<PodDisruptionBudget>(v).unwrap())).collect();
    let cluster = ClusterState { pdbs, ..ClusterState::default() };
    TestHandle { profile: default_profile(), snapshot: snapshot_with(nodes, pods, cluster), nominated: HashMap::new() }
}

/// A pod requesting `cpu`, bound to `node` when given; `extra` is merged into the JSON
/// (`metadata`/`spec`/`status` objects are merged one level down).
fn mk(name: &str, node: Option<&str>, priority: i32, cpu: &str, extra: Value) -> Arc<PodInfo> {
    let mut v = json!({"metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"priority": priority, "nodeName": node,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Mi"}}}]},
        "status": {}});
    for (section, fields) in extra.as_object().into_iter().flatten() {
        for (k, val) in fields.as_object().into_iter().flatten() {
            v[section][k] = val.clone();
        }
    }
    pod(v)
}

fn low(name: &str, node: &str, priority: i32, cpu: &str) -> Arc<PodInfo> {
    mk(name, Some(node), priority, cpu, json!({}))
}

fn node(name: &str, cpu: &str) -> NodeInfo {
    sized_node(name, cpu, "4Gi")
}

fn pdb(app: &str, allowed: i32) -> Value {
    json!({"metadata": {"name": format!("pdb-{app}"), "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": app}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}})
}

/// PreFilter, Filter over every node (the rejected ones become the statuses), then
/// PostFilter with the dry run from `offset`.
fn preempt_with(h: &TestHandle, plugin: &DefaultPreemption, p: &Arc<PodInfo>, offset: usize) -> PostFilterResult {
    let mut state = CycleState::new();
    let (_, s) = h.profile.run_pre_filter(&mut state, p, &h.snapshot);
    assert!(s.is_success(), "prefilter: {s}");
    let statuses: NodeStatuses = h
        .snapshot
        .nodes()
        .iter()
        .filter_map(|n| {
            let s = h.profile.run_filters(&state, p, n);
            (!s.is_success()).then_some((&**n, s))
        })
        .collect();
    assert_eq!(statuses.len(), h.snapshot.len(), "the pod must fit nowhere before preemption");
    plugin.preempt(&state, p, &statuses, h, Some(offset))
}

fn preempt(h: &TestHandle, p: &Arc<PodInfo>) -> PostFilterResult {
    preempt_with(h, &DefaultPreemption::default(), p, 0)
}

fn victims(r: &PostFilterResult) -> Vec<&str> {
    r.victims.iter().map(|v| v.name.as_str()).collect()
}

fn assert_nominated(r: &PostFilterResult, node: &str, want: &[&str]) {
    assert!(r.status.is_success(), "status: {}", r.status);
    assert_eq!(r.nominated_node.as_deref(), Some(node));
    assert_eq!(victims(r), want);
}

fn assert_unschedulable(r: &PostFilterResult, message: &str) {
    assert_eq!(r.status.code(), Code::Unschedulable, "{}", r.status);
    assert_eq!(r.status.reasons(), [message]);
    assert_eq!(r.status.plugin(), Some(NAME));
    assert!(r.nominated_node.is_none() && r.victims.is_empty());
}

#[test]
fn picks_the_node_with_fewest_victims() {
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1")],
        vec![low("a1", "node-a", 1, "500m"), low("a2", "node-a", 1, "500m"), low("b1", "node-b", 1, "1")],
        vec![],
    );
    let r = preempt(&h, &mk("p", None, 100, "1", json!({})));
    assert_nominated(&r, "node-b", &["b1"]);
}

#[test]
fn lower_priority_victims_are_preferred_to_fewer_victims() {
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1")],
        vec![low("a1", "node-a", 50, "1"), low("b1", "node-b", 10, "500m"), low("b2", "node-b", 10, "500m")],
        vec![],
    );
    let r = preempt(&h, &mk("p", None, 100, "1", json!({})));
    assert_nominated(&r, "node-b", &["b1", "b2"]);
}

#[test]
fn pods_of_equal_or_higher_priority_are_never_victims() {
    // node-a: the preemptor's own priority; node-b: a lower one.
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1")],
        vec![low("a1", "node-a", 100, "1"), low("b1", "node-b", 99, "1")],
        vec![],
    );
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-b", &["b1"]);
}

#[test]
fn pdb_protected_pods_are_avoided_when_possible() {
    // node-a's victim is cheaper by priority but protected by a budget with no disruption
    // left; node-b's is unprotected.
    let db = |name: &str, node: &str, prio: i32| {
        mk(name, Some(node), prio, "1", json!({"metadata": {"labels": {"app": "db"}}}))
    };
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1")],
        vec![db("a1", "node-a", 1), low("b1", "node-b", 50, "1")],
        vec![pdb("db", 0)],
    );
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-b", &["b1"]);

    // With only protected pods, preemption still happens: the one violation is counted.
    let h = handle(vec![node("node-a", "1")], vec![db("a1", "node-a", 1)], vec![pdb("db", 0)]);
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-a", &["a1"]);
}

#[test]
fn pdb_violating_pods_are_reprieved_first() {
    // Room for one of two 500m pods. By importance `y` (priority 5) would be kept and `x`
    // evicted, but evicting `x` violates its budget, so `x` is reprieved first.
    let x = mk("x", Some("node-a"), 1, "500m", json!({"metadata": {"labels": {"app": "db"}}}));
    let h = handle(vec![node("node-a", "1")], vec![x, low("y", "node-a", 5, "500m")], vec![pdb("db", 0)]);
    assert_nominated(&preempt(&h, &mk("p", None, 100, "500m", json!({}))), "node-a", &["y"]);
}

#[test]
fn pdb_allowance_is_used_up_across_victims() {
    let budgets = pdb::budgets(&[Arc::new(serde_json::from_value(pdb("web", 1)).unwrap())]);
    let web = |name: &str| mk(name, Some("n"), 1, "1", json!({"metadata": {"labels": {"app": "web"}}}));
    let other = mk("other", Some("n"), 1, "1", json!({"metadata": {"labels": {"app": "db"}}}));
    let (violating, others) = pdb::split_by_violation(vec![web("w1"), other, web("w2")], &budgets);
    let names = |v: &[Arc<PodInfo>]| v.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&violating), ["w2"]);
    assert_eq!(names(&others), ["w1", "other"]);
    // An empty selector matches nothing; pods already disrupted do not count again.
    let mut empty = pdb("web", 0);
    empty["spec"]["selector"] = json!({});
    let mut disrupted = pdb("web", 0);
    disrupted["status"]["disruptedPods"] = json!({"w1": "2026-01-01T00:00:00Z"});
    let budgets = pdb::budgets(&[
        Arc::new(serde_json::from_value(empty).unwrap()),
        Arc::new(serde_json::from_value(disrupted).unwrap()),
    ]);
    let (violating, _) = pdb::split_by_violation(vec![web("w1"), web("w2")], &budgets);
    assert_eq!(names(&violating), ["w2"]);
}

#[test]
fn preemption_policy_never_does_not_preempt() {
    let h = handle(vec![node("node-a", "1")], vec![low("a1", "node-a", 1, "1")], vec![]);
    let p = mk("p", None, 100, "1", json!({"spec": {"preemptionPolicy": "Never"}}));
    assert_unschedulable(&preempt(&h, &p), "preemption: not eligible due to preemptionPolicy=Never.");
}

#[test]
fn waits_for_terminating_victims_on_the_nominated_node() {
    let terminating = mk(
        "a1",
        Some("node-a"),
        1,
        "1",
        json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]}}),
    );
    let h =
        handle(vec![node("node-a", "1"), node("node-b", "1")], vec![terminating, low("b1", "node-b", 1, "1")], vec![]);
    let p = mk("p", None, 100, "1", json!({"status": {"nominatedNodeName": "node-a"}}));
    assert_unschedulable(&preempt(&h, &p), "preemption: not eligible due to a terminating pod on the nominated node.");
    // Nominated elsewhere, or the terminating pod is not a preemption victim: preempts.
    let p = mk("p", None, 100, "1", json!({"status": {"nominatedNodeName": "node-b"}}));
    assert!(preempt(&h, &p).status.is_success());
}

#[test]
fn unresolvable_nodes_are_not_candidates() {
    // node-a has a cheap victim but a taint the pod does not tolerate (unresolvable);
    // node-b only runs a pod of higher priority.
    let mut tainted = node("node-a", "1");
    tainted.taints =
        vec![serde_json::from_value(json!({"key": "k", "value": "v", "effect": "NoSchedule"})).unwrap()].into();
    let h = handle(
        vec![tainted, node("node-b", "1")],
        vec![low("a1", "node-a", 1, "1"), low("b1", "node-b", 500, "1")],
        vec![],
    );
    let r = preempt(&h, &mk("p", None, 100, "1", json!({})));
    assert_unschedulable(
        &r,
        "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
    );
}

#[test]
fn reprieve_keeps_pods_that_are_not_needed() {
    // Three 1-CPU pods on 3 CPUs: only the least important goes.
    let h = handle(
        vec![node("node-a", "3")],
        vec![low("a1", "node-a", 3, "1"), low("a2", "node-a", 1, "1"), low("a3", "node-a", 2, "1")],
        vec![],
    );
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-a", &["a2"]);
    // Upstream's "medium priority pod is preempted, but lower priority one stays as it is
    // small": the big pod is tried first and cannot stay; the small one can.
    let h = handle(
        vec![node("node-a", "1100m")],
        vec![low("small", "node-a", 0, "100m"), low("big", "node-a", 5, "1")],
        vec![],
    );
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-a", &["big"]);
}

#[test]
fn equal_priority_victims_keep_the_older_pods() {
    let started = |name: &str, at: &str| mk(name, Some("node-a"), 1, "1", json!({"status": {"startTime": at}}));
    let h = handle(
        vec![node("node-a", "2")],
        vec![started("old", "2026-01-01T00:00:00Z"), started("new", "2026-01-02T00:00:00Z")],
        vec![],
    );
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-a", &["new"]);
}

#[test]
fn nothing_to_preempt_is_unschedulable_with_a_message() {
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1")],
        vec![low("a1", "node-a", 100, "1"), low("b1", "node-b", 200, "1")],
        vec![],
    );
    assert_unschedulable(
        &preempt(&h, &mk("p", None, 100, "1", json!({}))),
        "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
    );
    // Too big even for empty nodes: the filters' reasons after removing every victim.
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1"), node("node-c", "1")],
        vec![low("a1", "node-a", 1, "1"), low("b1", "node-b", 1, "1"), low("c1", "node-c", 500, "1")],
        vec![],
    );
    assert_unschedulable(
        &preempt(&h, &mk("p", None, 100, "2", json!({}))),
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Insufficient cpu.",
    );
}

#[test]
fn nominated_pods_of_higher_priority_are_counted() {
    // Two equal nodes: one victim each, the first wins the tie.
    let mut h = handle(
        vec![node("node-a", "2"), node("node-b", "2")],
        vec![
            low("a1", "node-a", 1, "1"),
            low("a2", "node-a", 1, "1"),
            low("b1", "node-b", 1, "1"),
            low("b2", "node-b", 1, "1"),
        ],
        vec![],
    );
    let p = mk("p", None, 100, "1", json!({}));
    assert_nominated(&preempt(&h, &p), "node-a", &["a2"]);
    // A pod of higher priority nominated to node-a holds one CPU there: both victims would
    // have to go, so node-b wins.
    h.nominated.insert("node-a".into(), vec![mk("nom", None, 1000, "1", json!({}))]);
    assert_nominated(&preempt(&h, &p), "node-b", &["b2"]);
    // A nominated pod of lower priority (or the preemptor itself) is not counted.
    h.nominated.insert("node-b".into(), vec![mk("nom2", None, 5, "2", json!({})), p.clone()]);
    assert_nominated(&preempt(&h, &p), "node-b", &["b2"]);
}

#[test]
fn anti_affinity_to_a_victim_is_resolved_by_evicting_it() {
    // The PreFilter extensions keep InterPodAffinity's counts right on the node copy.
    let red = |name: &str, node: &str, prio: i32| {
        mk(name, Some(node), prio, "100m", json!({"metadata": {"labels": {"color": "red"}}}))
    };
    let mut nodes = vec![node("node-a", "4"), node("node-b", "4")];
    for n in &mut nodes {
        Arc::make_mut(&mut n.labels).insert("kubernetes.io/hostname".into(), n.name.clone());
    }
    let h =
        handle(nodes, vec![red("a1", "node-a", 1), red("b1", "node-b", 500), low("a2", "node-a", 1, "100m")], vec![]);
    let p = mk(
        "p",
        None,
        100,
        "100m",
        json!({"spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"color": "red"}}, "topologyKey": "kubernetes.io/hostname"}]}}}}),
    );
    assert_nominated(&preempt(&h, &p), "node-a", &["a1"]);
}

/// Candidates with victims of (priority, start second) each.
fn cand<'a>(node: &'a NodeInfo, violations: usize, pods: &[(i32, i64)]) -> Candidate<'a> {
    let name = node.name.as_str();
    let pods = pods
        .iter()
        .enumerate()
        .map(|(i, (prio, start))| {
            let at = Timestamp::from_second(*start).unwrap().to_string();
            mk(&format!("{name}-{i}"), Some(name), *prio, "1", json!({"status": {"startTime": at}}))
        })
        .collect();
    Candidate { node, victims: Victims { pods, num_pdb_violations: violations } }
}

#[test]
fn selection_follows_upstream_criteria_in_order() {
    let now = Timestamp::now();
    let (a, b) = (&node("a", "1"), &node("b", "1"));
    let pick = |cs: Vec<Candidate<'_>>| pick_one(&cs, now).map(|i| cs[i].node.name.clone()).unwrap();
    // 1. Fewest PDB violations beats everything else.
    assert_eq!(pick(vec![cand(a, 1, &[(1, 0)]), cand(b, 0, &[(9, 0), (9, 0)])]), "b");
    // 2. Lowest highest priority.
    assert_eq!(pick(vec![cand(a, 0, &[(5, 0)]), cand(b, 0, &[(4, 0), (4, 0), (4, 0)])]), "b");
    // 3. Smallest sum (shifted by 2^31: two victims of -10 are worse than one of -10).
    assert_eq!(pick(vec![cand(a, 0, &[(-10, 0), (-10, 0)]), cand(b, 0, &[(-10, 0)])]), "b");
    assert_eq!(pick(vec![cand(a, 0, &[(5, 0), (3, 0)]), cand(b, 0, &[(5, 0), (2, 0)])]), "b");
    // 5. Latest start of the highest-priority victims (their earliest start counts).
    assert_eq!(pick(vec![cand(a, 0, &[(5, 100), (5, 10)]), cand(b, 0, &[(5, 50), (5, 60)])]), "b");
    assert_eq!(pick(vec![cand(a, 0, &[(5, 100), (1, 1)]), cand(b, 0, &[(5, 50), (1, 900)])]), "a");
    // 6. Then the first.
    assert_eq!(pick(vec![cand(a, 0, &[(5, 1)]), cand(b, 0, &[(5, 1)])]), "a");
    assert!(pick_one(&[], now).is_none());
}

#[test]
fn candidates_are_searched_from_the_offset_until_enough() {
    // Three equivalent nodes but node-c's victim is cheaper. With at least one candidate
    // wanted (1%, absolute 1) the search stops at the first candidate from the offset.
    let h = handle(
        vec![node("node-a", "1"), node("node-b", "1"), node("node-c", "1")],
        vec![low("a1", "node-a", 5, "1"), low("b1", "node-b", 5, "1"), low("c1", "node-c", 1, "1")],
        vec![],
    );
    let p = mk("p", None, 100, "1", json!({}));
    let one = DefaultPreemption::new(1, 1).unwrap();
    assert_eq!(preempt_with(&h, &one, &p, 0).nominated_node.as_deref(), Some("node-a"));
    assert_eq!(preempt_with(&h, &one, &p, 1).nominated_node.as_deref(), Some("node-b"));
    assert_eq!(preempt_with(&h, &one, &p, 4).nominated_node.as_deref(), Some("node-b"), "offset wraps");
    // The defaults (100 candidates) judge all three and pick the cheapest.
    for offset in 0..3 {
        assert_eq!(
            preempt_with(&h, &DefaultPreemption::default(), &p, offset).nominated_node.as_deref(),
            Some("node-c")
        );
    }
    // Random offsets (the plugin's own entry point) with all nodes judged agree.
    let mut state = CycleState::new();
    let _ = h.profile.run_pre_filter(&mut state, &p, &h.snapshot);
    let statuses: NodeStatuses =
        h.snapshot.nodes().iter().map(|n| (&**n, h.profile.run_filters(&state, &p, n))).collect();
    let r = DefaultPreemption::default().post_filter(&state, &p, &statuses, &h);
    assert_eq!(r.nominated_node.as_deref(), Some("node-c"));
}

#[test]
fn number_of_candidates_follows_upstream() {
    let d = DefaultPreemption::default();
    assert_eq!(d.num_candidates(50), 50, "capped by the nodes");
    assert_eq!(d.num_candidates(1000), 100, "at least 100");
    assert_eq!(d.num_candidates(5000), 500, "10%");
    assert_eq!(num_candidates(5000, 0, 7), 7);
    assert_eq!(num_candidates(5000, 100, 0), 5000);
    assert_eq!(num_candidates(999, 1, 0), 9);
}

#[test]
fn args_are_validated_like_upstream() {
    assert!(factory(None).unwrap().post_filter.is_some());
    let ok = factory(Some(&json!({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "DefaultPreemptionArgs",
        "minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 5})));
    assert!(ok.is_ok());
    let err = |v: Value| factory(Some(&v)).unwrap_err().to_string();
    assert_eq!(
        err(json!({"minCandidateNodesPercentage": 101})),
        "invalid args for plugin DefaultPreemption: minCandidateNodesPercentage: Invalid value: 101: not in valid range [0, 100]"
    );
    assert!(err(json!({"minCandidateNodesPercentage": -1})).contains("not in valid range [0, 100]"));
    assert!(
        err(json!({"minCandidateNodesAbsolute": -1}))
            .ends_with("minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)")
    );
    assert!(
        err(json!({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0})).ends_with(
            "[minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute, \
             minCandidateNodesAbsolute: Invalid value: 0: cannot be zero at the same time as minCandidateNodesPercentage]"
        )
    );
    assert!(err(json!({"minCandidateNodes": 3})).contains("unknown field"));
    assert!(crate::plugins::default_registry().build(NAME, None).is_ok());
}

#[test]
fn message_counts_reasons_and_absent_nodes() {
    let s = |r: &str| Status::unschedulable(r.to_owned());
    assert_eq!(
        no_candidate_message(12, &[s("Insufficient cpu"), s("Insufficient cpu")]),
        "0/12 nodes are available: 10 Preemption is not helpful for scheduling, 2 Insufficient cpu."
    );
    assert_eq!(
        no_candidate_message(1, &[Status::unschedulable("x").with_reason("y")]),
        "0/1 nodes are available: 1 x, 1 y."
    );
    // No node at all is Unschedulable: everything is "not helpful".
    let h = handle(vec![node("node-a", "1")], vec![low("a1", "node-a", 1, "1")], vec![]);
    let p = mk("p", None, 100, "1", json!({}));
    let statuses: NodeStatuses =
        [(&**h.snapshot.get("node-a").unwrap(), Status::unresolvable("nope"))].into_iter().collect();
    let r = DefaultPreemption::default().preempt(&CycleState::new(), &p, &statuses, &h, Some(0));
    assert_unschedulable(&r, "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.");
}

/// A PreFilter plugin whose extensions fail on nodes labelled `error=true` (upstream's
/// `TestPlugin`).
struct Failing;

impl Plugin for Failing {
    fn name(&self) -> &'static str {
        "test-plugin"
    }
}

impl PreFilterPlugin for Failing {
    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, _: &Snapshot) -> (PreFilterResult, Status) {
        (PreFilterResult::default(), Status::success())
    }
    fn extensions(&self) -> Option<&dyn PreFilterExtensions> {
        Some(self)
    }
}

impl PreFilterExtensions for Failing {
    fn add_pod(&self, _: &mut CycleState, p: &PodInfo, _: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        if node.labels.get("error").is_some_and(|v| v == "true") {
            Status::error(format!("failed to add pod: {}", p.name))
        } else {
            Status::success()
        }
    }
    fn remove_pod(&self, _: &mut CycleState, p: &PodInfo, _: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        if node.labels.get("error").is_some_and(|v| v == "true") {
            Status::error(format!("failed to remove pod: {}", p.name))
        } else {
            Status::success()
        }
    }
}

#[test]
fn extension_errors_fail_only_their_node() {
    let profile = || {
        Profile::new("default-scheduler")
            .with(&crate::plugins::noderesources::fit::factory(None).unwrap(), 1)
            .with(&PluginHandle::of(Failing).pre_filter().build(), 0)
    };
    let mut bad = node("node-a", "1");
    Arc::make_mut(&mut bad.labels).insert("error".into(), "true".into());
    let mut h = handle(vec![bad.clone()], vec![low("a1", "node-a", 1, "1")], vec![]);
    h.profile = profile();
    let r = preempt(&h, &mk("p", None, 100, "1", json!({})));
    assert_eq!(r.status.code(), Code::Error);
    assert_eq!(
        r.status.reasons(),
        ["preemption: running RemovePod on PreFilter plugin \"test-plugin\": failed to remove pod: p"]
    );
    let mut h =
        handle(vec![bad, node("node-b", "1")], vec![low("a1", "node-a", 1, "1"), low("b1", "node-b", 1, "1")], vec![]);
    h.profile = profile();
    assert_nominated(&preempt(&h, &mk("p", None, 100, "1", json!({}))), "node-b", &["b1"]);
}

fn api_node(name: &str, cpu: &str) -> Arc<kapi::k8s::api::core::v1::Node> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"}}}))
        .unwrap(),
    )
}

fn api_pod(name: &str, node: Option<&str>, priority: i32, cpu: &str) -> Arc<kapi::k8s::api::core::v1::Pod> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"priority": priority, "nodeName": node,
                "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Mi"}}}]}}))
        .unwrap(),
    )
}

#[tokio::test]
async fn scheduler_preempts_then_binds_the_pod_on_the_nominated_node() {
    use crate::scheduler::{Outcome, Scheduler};
    let config = SchedulerConfig::default();
    let profiles = config.build_profiles(&crate::memory::registry()).unwrap();
    let (mut scheduler, h, mut outcomes) = Scheduler::new(profiles, &config, true);
    h.add_node(api_node("node-a", "1"));
    h.add_node(api_node("node-b", "1"));
    // node-a: two low pods (two victims needed); node-b: one.
    h.add_pod(api_pod("a1", Some("node-a"), 1, "500m"));
    h.add_pod(api_pod("a2", Some("node-a"), 1, "500m"));
    h.add_pod(api_pod("b1", Some("node-b"), 1, "1"));
    h.add_pod(api_pod("high", None, 100, "1"));
    scheduler.drain().await;
    let mut seen = Vec::new();
    while let Ok(o) = outcomes.try_recv() {
        seen.push(o);
    }
    let preempted = seen
        .iter()
        .position(|o| {
            matches!(o, Outcome::Unschedulable { pod, nominated_node: Some(n), victims, .. }
                if pod == "default/high" && n == "node-b" && victims == &["default/b1".to_owned()])
        })
        .unwrap_or_else(|| panic!("no preemption in {seen:?}"));
    let bound = seen
        .iter()
        .position(|o| matches!(o, Outcome::Bound { pod, node } if pod == "default/high" && node == "node-b"))
        .unwrap_or_else(|| panic!("not bound in {seen:?}"));
    assert!(preempted < bound);
    // The low pods of node-a were left alone.
    assert_eq!(h.pending(), (0, 0, 0, 0));
}

/// Not a test: the cost of one PostFilter call on a cluster like the perf example's
/// Preemption workload (every node full of low-priority pods; `NOMINATED=1` adds a
/// nominated pod of the preemptor's priority on every node). Run with
/// `BENCH_NODES=5000 cargo test --release bench_post_filter -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark"]
fn bench_post_filter() {
    use std::time::Instant;
    let num: usize = std::env::var("BENCH_NODES").map_or(5000, |v| v.parse().unwrap());
    let mut nodes = Vec::with_capacity(num);
    let mut nominated = HashMap::new();
    for i in 0..num {
        let name = format!("node-{i}");
        let mut n = node(&name, "3600m");
        Arc::make_mut(&mut n.labels).insert("kubernetes.io/hostname".into(), name.clone());
        for j in 0..4 {
            n.add_pod(low(&format!("low-{i}-{j}"), &name, 0, "900m"));
        }
        if std::env::var("NOMINATED").is_ok_and(|v| v == "1") {
            nominated.insert(name, vec![mk(&format!("nom-{i}"), None, 10, "900m", json!({}))]);
        }
        nodes.push(Arc::new(n));
    }
    let h = TestHandle {
        profile: default_profile(),
        snapshot: Snapshot::new(nodes, Arc::new(ClusterState::default())),
        nominated,
    };
    let p = mk("p", None, 10, "900m", json!({}));
    let mut state = CycleState::new();
    let _ = h.profile.run_pre_filter(&mut state, &p, &h.snapshot);
    let statuses: NodeStatuses =
        h.snapshot.nodes().iter().map(|n| (&**n, h.profile.run_filters(&state, &p, n))).collect();
    let plugin = DefaultPreemption::default();
    let rounds = std::env::var("BENCH_ROUNDS").map_or(50, |v| v.parse().unwrap());
    let started = Instant::now();
    for _ in 0..rounds {
        assert!(plugin.post_filter(&state, &p, &statuses, &h).status.is_success());
    }
    let per_call = started.elapsed() / rounds;
    eprintln!(
        "nodes={num} candidates={} post_filter_us={:.1} preemptions_per_s={:.0}",
        plugin.num_candidates(num),
        per_call.as_secs_f64() * 1e6,
        1.0 / per_call.as_secs_f64()
    );
}

#[test]
fn stopping_early_picks_what_judging_every_node_picks() {
    // 240 nodes of 4 CPU, each full with pods of mixed priorities, start times and
    // budgets; nodes in runs of identical shape (as in real clusters), so the early stop
    // both triggers and has to refuse to.
    let mut seed = 7u64;
    let mut rnd = |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    };
    let mut nodes = Vec::new();
    let mut pods = Vec::new();
    for i in 0..240 {
        let name = format!("n{i}");
        nodes.push(node(&name, "4"));
        let shape = if i % 40 < 30 { 0 } else { rnd(1000) };
        for j in 0..4 {
            let (prio, minute, app) = if shape == 0 {
                (1, 10 + j, "a")
            } else {
                (rnd(3) as i32, rnd(50), if rnd(4) == 0 { "b" } else { "a" })
            };
            let start = format!("2026-01-01T00:{minute:02}:00Z");
            pods.push(mk(
                &format!("p{i}-{j}"),
                Some(&name),
                prio,
                "1",
                json!({"metadata": {"labels": {"app": app}}, "status": {"startTime": start}}),
            ));
        }
    }
    let h = handle(nodes, pods, vec![pdb("b", 0)]);
    let p = mk("preemptor", None, 10, "2", json!({}));
    let exhaustive = DefaultPreemption { prune: false, ..DefaultPreemption::default() };
    for offset in [0, 17, 29, 31, 100, 199, 230] {
        let pruned = preempt_with(&h, &DefaultPreemption::default(), &p, offset);
        let full = preempt_with(&h, &exhaustive, &p, offset);
        assert!(full.status.is_success(), "{}", full.status);
        assert_eq!(
            (&pruned.nominated_node, victims(&pruned)),
            (&full.nominated_node, victims(&full)),
            "offset {offset}"
        );
    }
}
