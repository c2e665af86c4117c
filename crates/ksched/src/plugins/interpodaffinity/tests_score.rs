//! Score tests with the cases and expected values of upstream's `TestPreferredAffinity` and
//! `TestPreferredAffinityWithHardPodAffinitySymmetricWeight` (upstream's pods without a
//! namespace are in `default` here).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};

use super::tests::{apod, cluster, labeled_node, term};
use super::*;
use crate::framework::{CycleState, NodeScore, PreScorePlugin, ScorePlugin, Status};
use crate::plugins::testing::snapshot_with;
use crate::types::{NodeInfo, PodInfo};

fn run(pl: &InterPodAffinity, p: &PodInfo, nodes: Vec<NodeInfo>, pods: Vec<Arc<PodInfo>>) -> (Status, Vec<i64>) {
    let snap = snapshot_with(nodes, pods, cluster());
    let mut state = CycleState::new();
    let s = pl.pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap);
    if !s.is_success() {
        return (s, vec![]);
    }
    let mut scores: Vec<NodeScore<'_>> = snap
        .nodes()
        .iter()
        .map(|n| {
            let (score, st) = pl.score(&state, p, n);
            assert!(st.is_success());
            NodeScore { name: &n.key, score }
        })
        .collect();
    assert!(pl.normalize(&state, p, &mut scores).is_success());
    (s, scores.into_iter().map(|n| n.score).collect())
}

fn scores(p: &PodInfo, nodes: Vec<NodeInfo>, pods: Vec<Arc<PodInfo>>) -> Vec<i64> {
    let (s, got) = run(&InterPodAffinity::new(), p, nodes, pods);
    assert!(s.is_success(), "{s}");
    got
}

fn china(n: &str) -> NodeInfo {
    labeled_node(n, json!({"region": "China"}))
}
fn india(n: &str) -> NodeInfo {
    labeled_node(n, json!({"region": "India"}))
}
fn az(n: &str, z: &str) -> NodeInfo {
    labeled_node(n, json!({"az": z}))
}

fn weighted(weight: i32, t: Value) -> Value {
    json!({"weight": weight, "podAffinityTerm": t})
}
fn preferred(terms: Vec<Value>) -> Value {
    json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}})
}
fn preferred_anti(terms: Vec<Value>) -> Value {
    json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn stay_with_s1_in_region() -> Value {
    preferred(vec![weighted(5, term("security", &["S1"], "region"))])
}
fn stay_with_s2_in_region() -> Value {
    preferred(vec![weighted(6, term("security", &["S2"], "region"))])
}
fn away_from_s1_in_az() -> Value {
    preferred_anti(vec![weighted(5, term("security", &["S1"], "az"))])
}
fn away_from_s2_in_az() -> Value {
    preferred_anti(vec![weighted(5, term("security", &["S2"], "az"))])
}
fn stay_with_s1_away_from_s2() -> Value {
    let mut a = preferred(vec![weighted(8, term("security", &["S1"], "region"))]);
    a["podAntiAffinity"] = away_from_s2_in_az()["podAntiAffinity"].clone();
    a
}
fn with_namespace_selector(mut t: Value) -> Value {
    t["namespaces"] = json!(["subteam2.team2"]);
    t["namespaceSelector"] = json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["team1"]}]});
    t
}

fn s(label: &str) -> Value {
    json!({"security": label})
}

/// An existing pod in `default` on `node`.
fn on(i: usize, node: &str, labels: Value, affinity: Value) -> Arc<PodInfo> {
    apod(&format!("e{i}"), None, labels, Some(node), affinity)
}

fn incoming(labels: Value, affinity: Value) -> Arc<PodInfo> {
    apod("p", None, labels, None, affinity)
}

#[test]
fn no_affinity_anywhere_skips() {
    let (st, _) =
        run(&InterPodAffinity::new(), &incoming(s("S1"), json!(null)), vec![china("node1"), india("node2")], vec![]);
    assert!(st.is_skip());
    let (st, _) = run(&InterPodAffinity::new(), &incoming(s("S2"), json!(null)), vec![], vec![]);
    assert!(st.is_skip());
}

#[test]
fn affinity_favours_the_topology_of_matching_pods() {
    let p = incoming(s("S1"), stay_with_s1_in_region());
    let pods = vec![
        on(1, "node1", s("S1"), json!(null)),
        on(2, "node2", s("S2"), json!(null)),
        on(3, "node3", s("S1"), json!(null)),
    ];
    assert_eq!(scores(&p, vec![china("node1"), india("node2"), az("node3", "az1")], pods), [100, 0, 0]);
    let p = incoming(json!({}), stay_with_s1_in_region());
    let n2 = labeled_node("node2", json!({"region": "China", "az": "az1"}));
    assert_eq!(
        scores(&p, vec![china("node1"), n2, india("node3")], vec![on(1, "node1", s("S1"), json!(null))]),
        [100, 100, 0]
    );
}

#[test]
fn the_region_with_more_matches_wins() {
    let p = incoming(s("S1"), stay_with_s2_in_region());
    let pods = ["node1", "node1", "node2", "node3", "node4", "node5"]
        .iter()
        .enumerate()
        .map(|(i, n)| on(i, n, s("S2"), json!(null)))
        .collect();
    let nodes = vec![china("node1"), india("node2"), china("node3"), china("node4"), india("node5")];
    assert_eq!(scores(&p, nodes, pods), [100, 0, 100, 100, 0]);
}

#[test]
fn different_operators_with_some_match_failures() {
    let t1 = json!({"labelSelector": {"matchExpressions": [
        {"key": "security", "operator": "NotIn", "values": ["S1"]},
        {"key": "security", "operator": "In", "values": ["S2"]}]}, "topologyKey": "region"});
    let t2 = json!({"labelSelector": {"matchExpressions": [
        {"key": "security", "operator": "Exists"}, {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"});
    let p = incoming(s("S1"), preferred(vec![weighted(8, t1), weighted(2, t2)]));
    let pods = vec![
        on(1, "node1", s("S1"), json!(null)),
        on(2, "node2", s("S2"), json!(null)),
        on(3, "node3", s("S1"), json!(null)),
    ];
    assert_eq!(scores(&p, vec![china("node1"), india("node2"), az("node3", "az1")], pods), [20, 100, 0]);
}

#[test]
fn symmetry_of_existing_pods_preferred_and_required_affinity() {
    let nodes = || vec![china("node1"), india("node2"), az("node3", "az1")];
    let p = incoming(s("S2"), json!(null));
    let pods =
        vec![on(1, "node1", s("S1"), stay_with_s1_in_region()), on(2, "node2", s("S2"), stay_with_s2_in_region())];
    assert_eq!(scores(&p, nodes(), pods), [0, 100, 0]);
    // Required affinity of existing pods counts with hardPodAffinityWeight.
    let hard = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        term("security", &["S1", "value2"], "region"),
        {"labelSelector": {"matchExpressions": [{"key": "security", "operator": "Exists"},
            {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"}]}});
    let p = incoming(s("S1"), json!(null));
    let pods = vec![on(1, "node1", s("S1"), hard.clone()), on(2, "node2", s("S2"), hard)];
    assert_eq!(scores(&p, nodes(), pods), [100, 100, 0]);
}

#[test]
fn symmetry_with_namespace_selector() {
    let nodes = || vec![china("node1"), india("node2"), az("node3", "az1")];
    let p = apod("p", Some("subteam1.team1"), s("S1"), None, json!(null));
    let aff = preferred(vec![weighted(5, with_namespace_selector(term("security", &["S1"], "region")))]);
    let pods = vec![on(1, "node1", s("S1"), aff), on(2, "node2", s("S2"), stay_with_s2_in_region())];
    assert_eq!(scores(&p, nodes(), pods), [100, 0, 0]);
    let anti = preferred_anti(vec![weighted(5, with_namespace_selector(term("security", &["S1"], "region")))]);
    let pods = vec![on(1, "node1", s("S1"), anti), on(2, "node2", s("S2"), stay_with_s2_in_region())];
    assert_eq!(scores(&p, nodes(), pods), [0, 100, 100]);
}

#[test]
fn anti_affinity_scores() {
    let p = incoming(s("S1"), away_from_s1_in_az());
    let pods = vec![on(1, "node1", s("S1"), json!(null)), on(2, "node2", s("S2"), json!(null))];
    assert_eq!(scores(&p, vec![az("node1", "az1"), china("node2")], pods), [0, 100]);
    let pods = vec![on(1, "node1", s("S1"), json!(null)), on(2, "node2", s("S1"), json!(null))];
    assert_eq!(scores(&p, vec![az("node1", "az1"), china("node2")], pods), [0, 100]);
    let pods = vec![
        on(1, "node1", s("S1"), json!(null)),
        on(2, "node1", s("S1"), json!(null)),
        on(3, "node2", s("S2"), json!(null)),
    ];
    assert_eq!(scores(&p, vec![az("node1", "az1"), india("node2")], pods), [0, 100]);
    // Symmetry.
    let p = incoming(s("S2"), json!(null));
    let pods = vec![on(1, "node1", s("S1"), away_from_s2_in_az()), on(2, "node2", s("S2"), away_from_s1_in_az())];
    assert_eq!(scores(&p, vec![az("node1", "az1"), az("node2", "az2")], pods), [0, 100]);
}

#[test]
fn affinity_and_anti_affinity_together() {
    let p = incoming(s("S1"), stay_with_s1_away_from_s2());
    let pods = vec![on(1, "node1", s("S1"), json!(null)), on(2, "node2", s("S1"), json!(null))];
    assert_eq!(scores(&p, vec![china("node1"), az("node2", "az1")], pods), [100, 0]);
    let pods = ["node1", "node1", "node2", "node3", "node3", "node4", "node5"]
        .iter()
        .enumerate()
        .map(|(i, n)| on(i, n, s("S1"), json!(null)))
        .collect();
    let n1 = labeled_node("node1", json!({"region": "China", "az": "az1"}));
    let nodes = vec![n1, india("node2"), china("node3"), china("node4"), india("node5")];
    assert_eq!(scores(&p, nodes, pods), [100, 0, 100, 100, 0]);
    // With symmetry: weights 8, −5, 8, −5.
    let pods = vec![
        on(1, "node1", s("S1"), json!(null)),
        on(2, "node2", s("S2"), json!(null)),
        on(3, "node3", json!({}), stay_with_s1_away_from_s2()),
        on(4, "node4", json!({}), away_from_s1_in_az()),
    ];
    let nodes = vec![china("node1"), az("node2", "az1"), india("node3"), az("node4", "az2")];
    assert_eq!(scores(&p, nodes, pods), [100, 0, 100, 0]);
}

#[test]
fn equal_scores_normalize_to_zero() {
    let p = incoming(s("S1"), json!(null));
    let pods = vec![on(1, "node1", s("S1"), json!(null)), on(2, "node2", json!({}), stay_with_s1_away_from_s2())];
    assert_eq!(scores(&p, vec![china("node1"), china("node2")], pods), [0, 0]);
}

#[test]
fn incoming_namespace_selector() {
    let aff = preferred(vec![weighted(5, with_namespace_selector(term("security", &["S1"], "region")))]);
    let p = apod("p", Some("subteam1.team1"), s("S1"), None, aff);
    let mk = |i: usize, ns: &str, node: &str| apod(&format!("e{i}"), Some(ns), s("S1"), Some(node), json!(null));
    let pods = vec![
        mk(1, "subteam1.team1", "node1"),
        mk(2, "subteam1.team1", "node1"),
        mk(3, "subteam1.team2", "node1"),
        mk(4, "subteam2.team1", "node2"),
    ];
    assert_eq!(scores(&p, vec![china("node1"), india("node2")], pods), [100, 0]);
    let pods = vec![
        mk(1, "subteam1.team1", "node1"),
        mk(2, "subteam1.team1", "node1"),
        mk(3, "subteam2.team2", "node1"),
        mk(4, "subteam2.team1", "node2"),
    ];
    assert_eq!(scores(&p, vec![china("node1"), india("node2")], pods.clone()), [100, 0]);
    let anti = preferred_anti(vec![weighted(5, with_namespace_selector(term("security", &["S1"], "region")))]);
    let p = apod("p", Some("subteam1.team1"), s("S1"), None, anti);
    assert_eq!(scores(&p, vec![china("node1"), india("node2")], pods), [0, 100]);
}

#[test]
fn ignore_preferred_terms_of_existing_pods() {
    let p = incoming(s("S2"), json!(null));
    let pods = || {
        vec![on(1, "node1", s("S1"), stay_with_s1_away_from_s2()), on(2, "node2", s("S2"), stay_with_s2_in_region())]
    };
    let ignoring = InterPodAffinity::from_args(Some(&json!({"ignorePreferredTermsOfExistingPods": true}))).unwrap();
    let (st, _) = run(&ignoring, &p, vec![china("node1"), india("node2")], pods());
    assert!(st.is_skip());
    assert_eq!(scores(&p, vec![china("node1"), india("node2")], pods()), [0, 100]);
}

#[test]
fn hard_pod_affinity_weight() {
    let hard = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchExpressions": [{"key": "service", "operator": "In", "values": ["S1"]}]},
         "namespaces": ["default", "subteam2.team2"],
         "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["team1"]}]},
         "topologyKey": "region"}]}});
    let nodes = || vec![china("node1"), india("node2"), az("node3", "az1")];
    let pods = || vec![on(1, "node1", json!({}), hard.clone()), on(2, "node2", json!({}), hard.clone())];
    let with = |w: i32, ns: Option<&str>| {
        let pl = InterPodAffinity::from_args(Some(&json!({"hardPodAffinityWeight": w}))).unwrap();
        run(&pl, &apod("p", ns, json!({"service": "S1"}), None, json!(null)), nodes(), pods())
    };
    assert_eq!(with(1, None).1, [100, 100, 0]);
    assert!(with(0, None).0.is_skip());
    assert!(with(1, Some("subteam1.team2")).0.is_skip());
    assert_eq!(with(1, Some("subteam1.team1")).1, [100, 100, 0]);
    assert_eq!(with(1, Some("subteam2.team2")).1, [100, 100, 0]);
}

#[test]
fn normalization_truncates_like_upstream_float_arithmetic() {
    // Raw scores 0, 29, 50, −10: min −10, max 50 → 100·(s + 10)/60 truncated; and with
    // min 0: 100 × (29 / 50) is 57.99… in float64, so upstream gives 57.
    let p = incoming(
        json!({}),
        preferred(vec![weighted(29, term("app", &["a"], "region")), weighted(50, term("app", &["b"], "region"))]),
    );
    let r = |n: &str, v: &str| labeled_node(n, json!({"region": v}));
    let pods = vec![on(1, "node2", json!({"app": "a"}), json!(null)), on(2, "node3", json!({"app": "b"}), json!(null))];
    assert_eq!(scores(&p, vec![r("node1", "r1"), r("node2", "r2"), r("node3", "r3")], pods.clone()), [0, 57, 100]);
    let mut aff =
        preferred(vec![weighted(29, term("app", &["a"], "region")), weighted(50, term("app", &["b"], "region"))]);
    aff["podAntiAffinity"] =
        preferred_anti(vec![weighted(10, term("app", &["c"], "region"))])["podAntiAffinity"].clone();
    let p = incoming(json!({}), aff);
    let mut pods = pods;
    pods.push(on(3, "node4", json!({"app": "c"}), json!(null)));
    let nodes = vec![r("node1", "r1"), r("node2", "r2"), r("node3", "r3"), r("node4", "r4")];
    // (0 + 10)/60 = 16.6, (29 + 10)/60 = 65, 100, 0.
    assert_eq!(scores(&p, nodes, pods), [16, 65, 100, 0]);
}

/// Rough cycle cost at 5,000 nodes and 5,000 pods (run with `--release --ignored`).
#[test]
#[ignore = "timing; run in release"]
fn perf_5000_nodes() {
    use crate::framework::{FilterPlugin, PreFilterPlugin};
    let nodes: Vec<NodeInfo> = (0..5000)
        .map(|i| {
            labeled_node(
                &format!("n{i}"),
                json!({"zone": format!("z{}", i % 3), "kubernetes.io/hostname": format!("n{i}")}),
            )
        })
        .collect();
    let aff =
        json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("color", &["blue"], "zone")]}});
    let pods: Vec<_> = (0..5000)
        .map(|i| apod(&format!("e{i}"), None, json!({"color": "blue"}), Some(&format!("n{i}")), aff.clone()))
        .collect();
    let snap = snapshot_with(nodes, pods, cluster());
    let pl = InterPodAffinity::new();
    let p = apod("p", None, json!({"color": "blue"}), None, aff);
    let sample: Vec<Arc<NodeInfo>> = snap.nodes()[..500].to_vec();
    let n = 100;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let mut state = CycleState::new();
        assert!(pl.pre_filter(&mut state, &p, &snap).1.is_success());
        assert!(sample.iter().all(|node| pl.filter(&state, &p, node).is_success()));
        assert!(pl.pre_score(&mut state, &p, &crate::plugins::testing::refs(&sample), &snap).is_success());
        let mut scores: Vec<NodeScore<'_>> =
            sample.iter().map(|node| NodeScore { name: &node.key, score: pl.score(&state, &p, node).0 }).collect();
        assert!(pl.normalize(&state, &p, &mut scores).is_success());
    }
    eprintln!("InterPodAffinity: {:?} per cycle", t.elapsed() / n);
}

#[test]
fn split_prescore_equals_sequential() {
    let nodes: Vec<NodeInfo> =
        (0..700).map(|i| labeled_node(&format!("n{i}"), json!({"region": format!("r{}", i % 7)}))).collect();
    let pods: Vec<_> =
        (0..700).map(|i| on(i, &format!("n{i}"), s(if i % 3 == 0 { "S1" } else { "S2" }), json!(null))).collect();
    let snap = snapshot_with(nodes, pods, cluster());
    let p = incoming(s("S1"), stay_with_s1_away_from_s2());
    let pl = InterPodAffinity::new();
    let score_all = |state: &CycleState| snap.nodes().iter().map(|n| pl.score(state, &p, n).0).collect::<Vec<_>>();
    let mut seq = CycleState::new();
    assert!(pl.pre_score(&mut seq, &p, &crate::plugins::testing::refs(snap.nodes()), &snap).is_success());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
    let mut split = CycleState::new();
    assert!(
        pool.install(|| pl.pre_score(&mut split, &p, &crate::plugins::testing::refs(snap.nodes()), &snap)).is_success()
    );
    assert_eq!(score_all(&seq), score_all(&split));
    // Region r0 holds nodes 0, 7, 14 …: S1 pods where i % 3 == 0 → 34 of 100, weight 8.
    assert_eq!(score_all(&seq)[0], 34 * 8);
}
