//! Filter tests (required terms), in the style of upstream's `filtering_test.go`.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::framework::{
    ClusterState, Code, CycleState, FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use crate::plugins::testing::{node, pod, snapshot_with};
use crate::types::{NodeInfo, PodInfo};

/// Namespaces of upstream's tests: `subteam{1,2}.team{1,2}` labeled `team: team{1,2}`.
pub(super) fn cluster() -> ClusterState {
    let mut namespace_labels = HashMap::new();
    for (ns, team) in [
        ("subteam1.team1", "team1"),
        ("subteam2.team1", "team1"),
        ("subteam1.team2", "team2"),
        ("subteam2.team2", "team2"),
    ] {
        namespace_labels.insert(ns.to_owned(), BTreeMap::from([("team".to_owned(), team.to_owned())]));
    }
    ClusterState { namespace_labels, ..ClusterState::default() }
}

pub(super) fn labeled_node(name: &str, labels: Value) -> NodeInfo {
    node(json!({"metadata": {"name": name, "labels": labels}}))
}

/// A pod named `name` with `labels`, in `ns` (None: default), on `node`, with `affinity`.
pub(super) fn apod(name: &str, ns: Option<&str>, labels: Value, node: Option<&str>, affinity: Value) -> Arc<PodInfo> {
    pod(json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "affinity": affinity}}))
}

/// A pod affinity term selecting `key In values` on `topology`.
pub(super) fn term(key: &str, values: &[&str], topology: &str) -> Value {
    json!({"labelSelector": {"matchExpressions": [{"key": key, "operator": "In", "values": values}]}, "topologyKey": topology})
}

fn required_affinity(terms: Vec<Value>) -> Value {
    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn required_anti(terms: Vec<Value>) -> Value {
    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
}

/// Nodes `a`, `b` in zone1, `x` in zone2, `n` without a zone; all with a hostname.
fn nodes() -> Vec<NodeInfo> {
    let n = |name: &str, zone: Option<&str>| {
        let mut l = json!({"kubernetes.io/hostname": name});
        if let Some(z) = zone {
            l["zone"] = json!(z);
        }
        labeled_node(name, l)
    };
    vec![n("node-a", Some("zone1")), n("node-b", Some("zone1")), n("node-x", Some("zone2")), n("node-n", None)]
}

fn prefilter(pl: &InterPodAffinity, p: &PodInfo, snap: &Snapshot) -> (CycleState, Status) {
    let mut state = CycleState::new();
    let (_, s) = pl.pre_filter(&mut state, p, snap);
    (state, s)
}

/// Filter statuses per node as (code, reason) with "" for success.
fn run(p: &PodInfo, pods: Vec<Arc<PodInfo>>) -> Vec<(Code, String)> {
    let snap = snapshot_with(nodes(), pods, cluster());
    let pl = InterPodAffinity::new();
    let (state, s) = prefilter(&pl, p, &snap);
    assert!(s.is_success(), "{s}");
    snap.nodes()
        .iter()
        .map(|n| {
            let st = pl.filter(&state, p, n);
            (st.code(), st.reasons().first().map(|r| r.to_string()).unwrap_or_default())
        })
        .collect()
}

fn ok() -> (Code, String) {
    (Code::Success, String::new())
}

fn no_affinity() -> (Code, String) {
    (Code::UnschedulableAndUnresolvable, ERR_REASON_AFFINITY_RULES_NOT_MATCH.into())
}

fn no_anti() -> (Code, String) {
    (Code::Unschedulable, ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH.into())
}

fn no_existing() -> (Code, String) {
    (Code::Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH.into())
}

#[test]
fn pod_without_terms_skips_prefilter() {
    let snap =
        snapshot_with(nodes(), vec![apod("e", None, json!({"app": "db"}), Some("node-a"), json!(null))], cluster());
    let (_, s) = prefilter(&InterPodAffinity::new(), &apod("p", None, json!({}), None, json!(null)), &snap);
    assert!(s.is_skip());
}

#[test]
fn zone_affinity_satisfied_and_unsatisfied() {
    let existing = vec![apod("db", None, json!({"app": "db"}), Some("node-a"), json!(null))];
    let p = apod("p", None, json!({}), None, required_affinity(vec![term("app", &["db"], "zone")]));
    assert_eq!(run(&p, existing.clone()), [ok(), ok(), no_affinity(), no_affinity()]);
    // NotIn db: nothing matches, and the pod does not match its own term either.
    let not_in = json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]},
        "topologyKey": "zone"});
    let p = apod("p", None, json!({"app": "db"}), None, required_affinity(vec![not_in]));
    assert_eq!(run(&p, existing), [no_affinity(), no_affinity(), no_affinity(), no_affinity()]);
}

#[test]
fn first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() {
    let p = apod("p", None, json!({"app": "web"}), None, required_affinity(vec![term("app", &["web"], "zone")]));
    assert_eq!(run(&p, vec![]), [ok(), ok(), ok(), no_affinity()]);
    // A matching pod on a node without the key leaves the counts empty: still the first.
    let stray = apod("s", None, json!({"app": "web"}), Some("node-n"), json!(null));
    assert_eq!(run(&p, vec![stray]), [ok(), ok(), ok(), no_affinity()]);
    // Once one exists in zone2, only zone2 is allowed.
    let web = apod("w", None, json!({"app": "web"}), Some("node-x"), json!(null));
    assert_eq!(run(&p, vec![web]), [no_affinity(), no_affinity(), ok(), no_affinity()]);
    // A pod not matching its own terms gets no such exception.
    let q = apod("q", None, json!({"app": "api"}), None, required_affinity(vec![term("app", &["web"], "zone")]));
    assert_eq!(run(&q, vec![]), [no_affinity(), no_affinity(), no_affinity(), no_affinity()]);
}

#[test]
fn an_existing_pod_must_match_all_affinity_terms() {
    let terms = vec![term("app", &["db"], "zone"), term("tier", &["backend"], "kubernetes.io/hostname")];
    let p = apod("p", None, json!({}), None, required_affinity(terms));
    let partial = apod("d1", None, json!({"app": "db"}), Some("node-a"), json!(null));
    assert_eq!(run(&p, vec![partial]), [no_affinity(), no_affinity(), no_affinity(), no_affinity()]);
    let full = apod("d2", None, json!({"app": "db", "tier": "backend"}), Some("node-a"), json!(null));
    // Zone and hostname of node-a: only node-a has both pairs.
    assert_eq!(run(&p, vec![full]), [ok(), no_affinity(), no_affinity(), no_affinity()]);
}

#[test]
fn incoming_anti_affinity_rejects_the_hosts_of_matching_pods() {
    let existing = vec![apod("w", None, json!({"app": "web"}), Some("node-a"), json!(null))];
    let p = apod("p", None, json!({}), None, required_anti(vec![term("app", &["web"], "kubernetes.io/hostname")]));
    assert_eq!(run(&p, existing.clone()), [no_anti(), ok(), ok(), ok()]);
    let p = apod("p", None, json!({}), None, required_anti(vec![term("app", &["web"], "zone")]));
    assert_eq!(run(&p, existing), [no_anti(), no_anti(), ok(), ok()]);
}

#[test]
fn existing_pods_anti_affinity_is_symmetric() {
    let guard = apod("g", None, json!({}), Some("node-a"), required_anti(vec![term("app", &["web"], "zone")]));
    let p = apod("p", None, json!({"app": "web"}), None, json!(null));
    assert_eq!(run(&p, vec![guard.clone()]), [no_existing(), no_existing(), ok(), ok()]);
    // A pod it does not select is not affected (and PreFilter skips).
    let q = apod("q", None, json!({"app": "api"}), None, json!(null));
    let snap = snapshot_with(nodes(), vec![guard], cluster());
    assert!(prefilter(&InterPodAffinity::new(), &q, &snap).1.is_skip());
}

#[test]
fn affinity_is_checked_before_anti_affinity() {
    let existing = vec![apod("w", None, json!({"app": "web"}), Some("node-x"), json!(null))];
    let mut aff = required_affinity(vec![term("app", &["db"], "zone")]);
    aff["podAntiAffinity"] = required_anti(vec![term("app", &["web"], "zone")])["podAntiAffinity"].clone();
    let p = apod("p", None, json!({"app": "db"}), None, aff);
    // First pod of db: affinity passes where the key exists; zone2 then fails anti-affinity.
    assert_eq!(run(&p, existing), [ok(), ok(), no_anti(), no_affinity()]);
}

#[test]
fn namespace_selectors_and_namespaces() {
    let team1 = json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone",
        "namespaceSelector": {"matchLabels": {"team": "team1"}}});
    let p = apod("p", Some("subteam1.team2"), json!({}), None, required_affinity(vec![team1.clone()]));
    // A db pod in a team2 namespace does not count; one in a team1 namespace does.
    let other = apod("d", Some("subteam2.team2"), json!({"app": "db"}), Some("node-a"), json!(null));
    assert_eq!(run(&p, vec![other.clone()]), [no_affinity(), no_affinity(), no_affinity(), no_affinity()]);
    let mine = apod("d", Some("subteam2.team1"), json!({"app": "db"}), Some("node-x"), json!(null));
    assert_eq!(run(&p, vec![other.clone(), mine]), [no_affinity(), no_affinity(), ok(), no_affinity()]);
    // Explicit namespaces add to the selector's; `{}` selects every namespace.
    let mut listed = team1;
    listed["namespaces"] = json!(["subteam2.team2"]);
    let p = apod("p", Some("subteam1.team2"), json!({}), None, required_affinity(vec![listed]));
    assert_eq!(run(&p, vec![other.clone()]), [ok(), ok(), no_affinity(), no_affinity()]);
    let all = json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone", "namespaceSelector": {}});
    let p = apod("p", Some("elsewhere"), json!({}), None, required_affinity(vec![all]));
    assert_eq!(run(&p, vec![other]), [ok(), ok(), no_affinity(), no_affinity()]);
    // Without either, only the pod's own namespace.
    let p = apod("p", Some("subteam1.team2"), json!({}), None, required_affinity(vec![term("app", &["db"], "zone")]));
    let same = apod("d", Some("subteam1.team2"), json!({"app": "db"}), Some("node-x"), json!(null));
    let default_ns = apod("e", None, json!({"app": "db"}), Some("node-a"), json!(null));
    assert_eq!(run(&p, vec![same, default_ns]), [no_affinity(), no_affinity(), ok(), no_affinity()]);
}

#[test]
fn existing_anti_affinity_uses_the_incoming_pods_namespace_labels() {
    let t = json!({"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname",
        "namespaceSelector": {"matchLabels": {"team": "team1"}}});
    let guard = apod("g", Some("subteam1.team2"), json!({}), Some("node-b"), required_anti(vec![t]));
    let p = apod("p", Some("subteam2.team1"), json!({"app": "web"}), None, json!(null));
    assert_eq!(run(&p, vec![guard.clone()]), [ok(), no_existing(), ok(), ok()]);
    let q = apod("q", Some("subteam2.team2"), json!({"app": "web"}), None, json!(null));
    let snap = snapshot_with(nodes(), vec![guard], cluster());
    assert!(prefilter(&InterPodAffinity::new(), &q, &snap).1.is_skip());
}

#[test]
fn add_and_remove_pod_update_all_counts() {
    let guard = apod("g", None, json!({}), Some("node-a"), required_anti(vec![term("app", &["web"], "zone")]));
    let db = apod("db", None, json!({"app": "db"}), Some("node-b"), json!(null));
    let mut aff = required_affinity(vec![term("app", &["db"], "zone")]);
    aff["podAntiAffinity"] =
        required_anti(vec![term("app", &["cache"], "kubernetes.io/hostname")])["podAntiAffinity"].clone();
    let p = apod("p", None, json!({"app": "web"}), None, aff);
    let snap = snapshot_with(nodes(), vec![guard.clone(), db.clone()], cluster());
    let pl = InterPodAffinity::new();
    let (mut state, s) = prefilter(&pl, &p, &snap);
    assert!(s.is_success());
    let (a, b, x) = (Arc::clone(&snap.nodes()[0]), Arc::clone(&snap.nodes()[1]), Arc::clone(&snap.nodes()[2]));
    assert_eq!(pl.filter(&state, &p, &a).code(), Code::Unschedulable);
    assert_eq!(pl.filter(&state, &p, &x).code(), Code::UnschedulableAndUnresolvable);
    let ext = pl.extensions().unwrap();
    // Removing the guard frees zone1.
    let mut s2 = state.clone();
    assert!(ext.remove_pod(&mut s2, &p, &guard, &a).is_success());
    assert!(pl.filter(&s2, &p, &a).is_success());
    assert!(pl.filter(&s2, &p, &b).is_success());
    // Removing the db pod as well: no pod matches, the pod does not match its own term.
    assert!(ext.remove_pod(&mut s2, &p, &db, &b).is_success());
    assert_eq!(pl.filter(&s2, &p, &a).code(), Code::UnschedulableAndUnresolvable);
    // Adding a db pod to zone2 and a cache pod to node-x.
    let db2 = apod("db2", None, json!({"app": "db"}), None, json!(null));
    assert!(ext.add_pod(&mut state, &p, &db2, &x).is_success());
    assert!(pl.filter(&state, &p, &x).is_success());
    let cache = apod("c", None, json!({"app": "cache"}), None, json!(null));
    assert!(ext.add_pod(&mut state, &p, &cache, &x).is_success());
    assert_eq!(pl.filter(&state, &p, &x).reasons(), [ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH]);
    assert!(ext.remove_pod(&mut state, &p, &cache, &x).is_success());
    assert!(pl.filter(&state, &p, &x).is_success());
}

#[test]
fn parallel_prefilter_counts_every_node() {
    let nodes: Vec<NodeInfo> = (0..1000)
        .map(|i| {
            labeled_node(
                &format!("n{i}"),
                json!({"zone": format!("z{}", i % 10), "kubernetes.io/hostname": format!("n{i}")}),
            )
        })
        .collect();
    // One db pod on every node of zone z3 except n3; a web pod on n500.
    let mut pods: Vec<_> = (13..1000)
        .step_by(10)
        .map(|i| apod(&format!("db{i}"), None, json!({"app": "db"}), Some(&format!("n{i}")), json!(null)))
        .collect();
    pods.push(apod("w", None, json!({"app": "web"}), Some("n500"), json!(null)));
    let snap = snapshot_with(nodes, pods, cluster());
    let mut aff = required_affinity(vec![term("app", &["db"], "zone")]);
    aff["podAntiAffinity"] =
        required_anti(vec![term("app", &["web"], "kubernetes.io/hostname")])["podAntiAffinity"].clone();
    let p = apod("p", None, json!({}), None, aff);
    let pl = InterPodAffinity::new();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let (split, s) = pool.install(|| prefilter(&pl, &p, &snap));
    assert!(s.is_success());
    let (state, s) = prefilter(&pl, &p, &snap);
    assert!(s.is_success());
    for n in snap.nodes() {
        assert_eq!(pl.filter(&split, &p, n), pl.filter(&state, &p, n));
    }
    let fits: Vec<&str> =
        snap.nodes().iter().filter(|n| pl.filter(&state, &p, n).is_success()).map(|n| n.name.as_str()).collect();
    assert_eq!(fits.len(), 100);
    assert!(fits.contains(&"n3") && !fits.contains(&"n500"));
}

#[test]
fn args_and_hints() {
    use crate::framework::{ClusterObject, QueueingHint};
    assert_eq!(InterPodAffinity::from_args(None).unwrap().hard_pod_affinity_weight, 1);
    let a = InterPodAffinity::from_args(Some(
        &json!({"hardPodAffinityWeight": 0, "ignorePreferredTermsOfExistingPods": true}),
    ))
    .unwrap();
    assert!(a.hard_pod_affinity_weight == 0 && a.ignore_preferred_terms_of_existing_pods);
    assert!(InterPodAffinity::from_args(Some(&json!({"hardPodAffinityWeight": 101}))).is_err());
    assert!(InterPodAffinity::from_args(Some(&json!({"hardPodAffinityWeight": -1}))).is_err());
    assert!(factory(None).unwrap().filter.is_some());

    let p = apod("p", None, json!({}), None, {
        let mut a = required_affinity(vec![term("app", &["db"], "zone")]);
        a["podAntiAffinity"] = required_anti(vec![term("app", &["web"], "rack")])["podAntiAffinity"].clone();
        a
    });
    let assigned = |labels: Value| ClusterObject::Pod(apod("e", None, labels, Some("n"), json!(null)));
    let pending = ClusterObject::Pod(apod("u", None, json!({"app": "db"}), None, json!(null)));
    assert_eq!(pod_hint(&p, None, Some(&assigned(json!({"app": "db"})))), QueueingHint::Queue);
    assert_eq!(pod_hint(&p, None, Some(&assigned(json!({"app": "x"})))), QueueingHint::Skip);
    assert_eq!(pod_hint(&p, None, Some(&pending)), QueueingHint::Skip);
    assert_eq!(pod_hint(&p, Some(&assigned(json!({"app": "web"}))), None), QueueingHint::Queue);
    assert_eq!(pod_hint(&p, Some(&assigned(json!({"app": "db"}))), None), QueueingHint::Skip);
    assert_eq!(
        pod_hint(&p, Some(&assigned(json!({"app": "x"}))), Some(&assigned(json!({"app": "db"})))),
        QueueingHint::Queue
    );
    assert_eq!(
        pod_hint(&p, Some(&assigned(json!({"app": "web"}))), Some(&assigned(json!({"app": "x"})))),
        QueueingHint::Queue
    );
    assert_eq!(
        pod_hint(&p, Some(&assigned(json!({"app": "x"}))), Some(&assigned(json!({"app": "y"})))),
        QueueingHint::Skip
    );
    let n = |labels: Value| ClusterObject::Node(Arc::new(labeled_node("n", labels)));
    assert_eq!(node_hint(&p, None, Some(&n(json!({"zone": "z"})))), QueueingHint::Queue);
    assert_eq!(node_hint(&p, None, Some(&n(json!({"rack": "r"})))), QueueingHint::Queue);
    assert_eq!(node_hint(&p, None, Some(&n(json!({"other": "o"})))), QueueingHint::Skip);
    assert_eq!(InterPodAffinity::new().events_to_register().unwrap().len(), 2);
}

#[test]
fn memoized_counts_follow_snapshot_changes() {
    // 800 nodes over 4 zones, each with a pod with required affinity; every third one's
    // pod is a db with anti-affinity to dbs (enough of them for the existing-pods and
    // scoring memos to be used rather than the direct counts).
    let mut nodes: Vec<NodeInfo> = (0..800)
        .map(|i| {
            labeled_node(
                &format!("n{i}"),
                json!({"kubernetes.io/hostname": format!("n{i}"), "zone": format!("z{}", i % 4)}),
            )
        })
        .collect();
    for (i, n) in nodes.iter_mut().enumerate() {
        let app = if i % 3 == 0 { "db" } else { "web" };
        let mut aff = required_affinity(vec![term("app", &["web", "db"], "zone")]);
        if app == "db" {
            aff["podAntiAffinity"] =
                required_anti(vec![term("app", &["db"], "kubernetes.io/hostname")])["podAntiAffinity"].clone();
        }
        n.add_pod(apod(&format!("p{i}"), None, json!({"app": app}), Some(&n.name.clone()), aff));
    }
    let mut snap = snapshot_with(nodes, vec![], cluster());
    assert!(snap.nodes_with_required_anti_affinity().count() >= filter::MEMO_MIN_NODES);
    let incoming = apod("in", None, json!({"app": "db"}), None, required_affinity(vec![term("app", &["web"], "zone")]));
    let pl = InterPodAffinity::new();
    let filter_all = |pl: &InterPodAffinity, snap: &Snapshot| -> Vec<(Code, String)> {
        let (state, s) = prefilter(pl, &incoming, snap);
        assert!(s.is_success(), "{s}");
        snap.nodes()
            .iter()
            .map(|n| {
                let st = pl.filter(&state, &incoming, n);
                (st.code(), st.reasons().first().map(|r| r.to_string()).unwrap_or_default())
            })
            .collect()
    };
    let score_all = |pl: &InterPodAffinity, snap: &Snapshot| -> Vec<i64> {
        let mut state = CycleState::new();
        assert!(pl.pre_score(&mut state, &incoming, &crate::plugins::testing::refs(snap.nodes()), snap).is_success());
        snap.nodes().iter().map(|n| pl.score(&state, &incoming, n).0).collect()
    };
    let first = filter_all(&pl, &snap);
    // Nodes with a db pod reject the db pod (existing anti-affinity on hostname).
    assert_eq!(first.iter().filter(|(c, _)| *c == Code::Unschedulable).count(), 267);
    let first_scores = score_all(&pl, &snap);
    assert!(first_scores.iter().any(|s| *s > 0));

    // Change one node's pods, drop another, and compare with counts made from scratch.
    let mut list: Vec<Arc<NodeInfo>> = snap.nodes().to_vec();
    let mut n5 = (*list[5]).clone();
    n5.add_pod(apod("extra", None, json!({"app": "web"}), Some("n5"), json!({})));
    list[5] = Arc::new(n5);
    list.remove(0);
    snap.set_nodes(list);
    let memoized = (filter_all(&pl, &snap), score_all(&pl, &snap));
    let fresh_pl = InterPodAffinity::new();
    let fresh = (filter_all(&fresh_pl, &snap), score_all(&fresh_pl, &snap));
    assert_eq!(memoized, fresh);
    assert_eq!(memoized.0.iter().filter(|(c, _)| *c == Code::Unschedulable).count(), 266);
}
