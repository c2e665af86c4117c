//! Filter tests (DoNotSchedule), in the style of upstream's `filtering_test.go`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::framework::{Code, CycleState, FilterPlugin, PreFilterPlugin, Snapshot, Status};
use crate::plugins::testing::{node, pod, snapshot};
use crate::types::NodeInfo;

/// A node with `labels` (`name` also as hostname unless `labels` has `-hostname`).
pub(super) fn labeled_node(name: &str, labels: Value) -> NodeInfo {
    let mut l = labels.as_object().cloned().unwrap_or_default();
    if l.remove("-hostname").is_none() {
        l.insert(LABEL_HOSTNAME.into(), json!(name));
    }
    node(json!({"metadata": {"name": name, "labels": l}}))
}

/// Nodes `a`,`b` in zone1 and `x`,`y` in zone2.
pub(super) fn four_nodes() -> Vec<NodeInfo> {
    vec![
        labeled_node("node-a", json!({"zone": "zone1"})),
        labeled_node("node-b", json!({"zone": "zone1"})),
        labeled_node("node-x", json!({"zone": "zone2"})),
        labeled_node("node-y", json!({"zone": "zone2"})),
    ]
}

/// `n` pods labeled `foo` on `node` named `prefix-i`.
pub(super) fn foo_pods(node: &str, n: usize) -> Vec<Arc<crate::types::PodInfo>> {
    (0..n)
        .map(|i| pod(json!({"metadata": {"name": format!("{node}-p{i}"), "labels": {"foo": ""}}, "spec": {"nodeName": node}})))
        .collect()
}

/// A spread constraint on `key` selecting pods with label `foo`.
pub(super) fn constraint(skew: i32, key: &str, when: &str) -> Value {
    json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
        "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}})
}

/// The incoming pod (labeled `foo`) with `constraints` and extra `spec` fields.
pub(super) fn incoming(constraints: Vec<Value>, spec: Value) -> Arc<crate::types::PodInfo> {
    let mut s = spec.as_object().cloned().unwrap_or_default();
    s.insert("topologySpreadConstraints".into(), Value::Array(constraints));
    pod(json!({"metadata": {"name": "p", "labels": {"foo": ""}}, "spec": s}))
}

fn run_filter(p: &PodTopologySpread, pod: &crate::types::PodInfo, snap: &Snapshot) -> Vec<(String, Status)> {
    let mut state = CycleState::new();
    let (_, s) = p.pre_filter(&mut state, pod, snap);
    assert!(s.is_success(), "{s}");
    snap.nodes()
        .iter()
        .map(|n| {
            let status = p.filter(&state, pod, n);
            // The domain kept by slot and the one read from the labels agree.
            let mut outside = NodeInfo::clone(n);
            outside.slot = u32::MAX;
            assert_eq!(p.filter(&state, pod, &outside), status, "{}", n.name);
            (n.name.clone(), status)
        })
        .collect()
}

/// Node names whose filter status is success; the others must be Unschedulable with the
/// skew reason.
fn fitting(results: &[(String, Status)]) -> Vec<&str> {
    for (_, s) in results.iter().filter(|(_, s)| !s.is_success()) {
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(s.reasons(), [ERR_REASON_CONSTRAINTS_NOT_MATCH]);
    }
    results.iter().filter(|(_, s)| s.is_success()).map(|(n, _)| n.as_str()).collect()
}

fn filter_fits(
    pod: &crate::types::PodInfo,
    nodes: Vec<NodeInfo>,
    pods: Vec<Arc<crate::types::PodInfo>>,
) -> Vec<String> {
    let snap = snapshot(nodes, pods);
    fitting(&run_filter(&PodTopologySpread::new(), pod, &snap)).into_iter().map(str::to_owned).collect()
}

#[test]
fn no_existing_pods_all_fit() {
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), vec![]), ["node-a", "node-b", "node-x", "node-y"]);
}

#[test]
fn zones_3_3_all_fit_and_3_1_only_the_light_zone() {
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1), foo_pods("node-x", 2), foo_pods("node-y", 1)].concat();
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-a", "node-b", "node-x", "node-y"]);
    // 3/1: zone1 would have skew 3 + 1 − 1 = 3.
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1), foo_pods("node-y", 1)].concat();
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-x", "node-y"]);
}

#[test]
fn hostname_2_1_0_3_with_max_skew_1_and_2() {
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1), foo_pods("node-y", 3)].concat();
    let p = incoming(vec![constraint(1, LABEL_HOSTNAME, "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-x"]);
    let p = incoming(vec![constraint(2, LABEL_HOSTNAME, "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-b", "node-x"]);
}

#[test]
fn incoming_pod_not_matching_its_own_selector_adds_no_self_match() {
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1), foo_pods("node-y", 3)].concat();
    let p = pod(
        json!({"metadata": {"name": "p"}, "spec": {"topologySpreadConstraints": [constraint(1, LABEL_HOSTNAME, "DoNotSchedule")]}}),
    );
    // skew = count − 0: 2, 1, 0, 3.
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-b", "node-x"]);
}

#[test]
fn node_missing_topology_key_is_unresolvable_and_not_counted() {
    let mut nodes = four_nodes();
    nodes[1] = labeled_node("node-b", json!({}));
    // node-b's pods do not count: zone1 has 1, zone2 has 2.
    let pods = [foo_pods("node-a", 1), foo_pods("node-b", 5), foo_pods("node-x", 2)].concat();
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    let snap = snapshot(nodes, pods);
    let r = run_filter(&PodTopologySpread::new(), &p, &snap);
    assert!(r[0].1.is_success());
    assert_eq!(r[1].1.code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(r[1].1.reasons(), [ERR_REASON_NODE_LABEL_NOT_MATCH]);
    assert_eq!(r[2].1.code(), Code::Unschedulable);
    assert_eq!(r[3].1.code(), Code::Unschedulable);
}

#[test]
fn min_domains_makes_the_global_minimum_zero() {
    // Zones 2/1, maxSkew 2: with the real minimum (1) every node fits; with minDomains 3
    // (only 2 domains) the minimum is 0 and zone1 gets skew 2 + 1 = 3.
    let pods = [foo_pods("node-a", 2), foo_pods("node-x", 1)].concat();
    let p = incoming(vec![constraint(2, "zone", "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-a", "node-b", "node-x", "node-y"]);
    let mut c = constraint(2, "zone", "DoNotSchedule");
    c["minDomains"] = json!(3);
    let p = incoming(vec![c.clone()], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-x", "node-y"]);
    // minDomains 2 is met by two domains: the minimum stays 1.
    c["minDomains"] = json!(2);
    let p = incoming(vec![c], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-a", "node-b", "node-x", "node-y"]);
}

#[test]
fn min_domains_counts_domains_without_matching_pods() {
    // Hostnames 1/0/0/0 with minDomains 4: four domains exist (three empty), minimum 0.
    let mut c = constraint(1, LABEL_HOSTNAME, "DoNotSchedule");
    c["minDomains"] = json!(4);
    let p = incoming(vec![c.clone()], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), foo_pods("node-a", 1)), ["node-b", "node-x", "node-y"]);
    // minDomains 5 > 4 domains: still minimum 0, same result.
    c["minDomains"] = json!(5);
    let p = incoming(vec![c], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), foo_pods("node-a", 1)), ["node-b", "node-x", "node-y"]);
}

#[test]
fn two_constraints_must_both_hold() {
    // zone: 3/1 → only zone2; hostname: x has 1, y has 0 → min 0, x: 1 + 1 = 2 > 1.
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1), foo_pods("node-x", 1)].concat();
    let p = incoming(
        vec![constraint(1, "zone", "DoNotSchedule"), constraint(1, LABEL_HOSTNAME, "DoNotSchedule")],
        json!({}),
    );
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-y"]);
}

#[test]
fn soft_constraints_and_pods_without_constraints_skip_prefilter() {
    let snap = snapshot(four_nodes(), vec![]);
    let pl = PodTopologySpread::new();
    for p in
        [incoming(vec![constraint(1, "zone", "ScheduleAnyway")], json!({})), pod(json!({"metadata": {"name": "p"}}))]
    {
        let (_, s) = pl.pre_filter(&mut CycleState::new(), &p, &snap);
        assert!(s.is_skip());
    }
}

#[test]
fn node_affinity_policy_honor_and_ignore() {
    // zone1 has 1 pod, zone2 has 3. The pod selects zone1 nodes only: with Honor, zone2 is
    // not a domain (min 1), so node-x: 0 (not counted) + 1 − 1 = 0 fits; with Ignore,
    // zone2 counts: node-x gets 3 + 1 − 1 = 3.
    let pods = [foo_pods("node-a", 1), foo_pods("node-x", 3)].concat();
    let spec = json!({"nodeSelector": {"zone": "zone1"}});
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], spec.clone());
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-a", "node-b", "node-x", "node-y"]);
    let mut c = constraint(1, "zone", "DoNotSchedule");
    c["nodeAffinityPolicy"] = json!("Ignore");
    let p = incoming(vec![c], spec);
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-a", "node-b"]);
    // Required node affinity (NotIn zone2) behaves like the selector.
    let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["zone2"]}]}]}}}});
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], spec);
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-a", "node-b", "node-x", "node-y"]);
}

#[test]
fn node_taints_policy_honor_leaves_out_untolerated_nodes() {
    let mut nodes = four_nodes();
    nodes[2] = node(json!({"metadata": {"name": "node-x", "labels": {"zone": "zone2", LABEL_HOSTNAME: "node-x"}},
        "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}));
    // hostname 1/1/0(tainted)/1: with Honor node-x is not a domain, min is 1, all others fit.
    let pods = [foo_pods("node-a", 1), foo_pods("node-b", 1), foo_pods("node-y", 1)].concat();
    let mut c = constraint(1, LABEL_HOSTNAME, "DoNotSchedule");
    c["nodeTaintsPolicy"] = json!("Honor");
    let p = incoming(vec![c.clone()], json!({}));
    assert_eq!(filter_fits(&p, nodes.clone(), pods.clone()), ["node-a", "node-b", "node-x", "node-y"]);
    // Ignore (default): node-x is a domain with 0: only node-x fits.
    let p = incoming(vec![constraint(1, LABEL_HOSTNAME, "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, nodes.clone(), pods.clone()), ["node-x"]);
    // A toleration brings node-x back.
    let p = incoming(vec![c], json!({"tolerations": [{"key": "k", "operator": "Exists"}]}));
    assert_eq!(filter_fits(&p, nodes, pods), ["node-x"]);
}

#[test]
fn match_label_keys_narrow_the_selector() {
    // Pods of version v1 and v2; the incoming pod is v2 and spreads only among v2.
    let mk = |name: &str, node: &str, v: &str| {
        pod(json!({"metadata": {"name": name, "labels": {"foo": "", "version": v}}, "spec": {"nodeName": node}}))
    };
    let pods = vec![mk("a1", "node-a", "v1"), mk("a2", "node-a", "v1"), mk("x1", "node-x", "v2")];
    let mut c = constraint(1, "zone", "DoNotSchedule");
    c["matchLabelKeys"] = json!(["version"]);
    let p = pod(json!({"metadata": {"name": "p", "labels": {"foo": "", "version": "v2"}},
        "spec": {"topologySpreadConstraints": [c]}}));
    // v2: zone1 0, zone2 1 → zone2 skew 1 + 1 − 0 = 2.
    assert_eq!(filter_fits(&p, four_nodes(), pods.clone()), ["node-a", "node-b"]);
    // Without matchLabelKeys: zone1 2, zone2 1 → zone1 skew 2.
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), pods), ["node-x", "node-y"]);
}

#[test]
fn other_namespaces_and_terminating_pods_do_not_count() {
    let other = pod(
        json!({"metadata": {"name": "o", "namespace": "ns1", "labels": {"foo": ""}}, "spec": {"nodeName": "node-a"}}),
    );
    let term =
        pod(json!({"metadata": {"name": "t", "labels": {"foo": ""}, "deletionTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"nodeName": "node-a"}}));
    let p = incoming(vec![constraint(1, LABEL_HOSTNAME, "DoNotSchedule")], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), vec![other, term]), ["node-a", "node-b", "node-x", "node-y"]);
}

#[test]
fn empty_selector_counts_nothing_but_self_matches() {
    let c =
        json!({"maxSkew": 1, "topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}});
    let p = incoming(vec![c], json!({}));
    assert_eq!(filter_fits(&p, four_nodes(), foo_pods("node-a", 3)), ["node-a", "node-b", "node-x", "node-y"]);
}

#[test]
fn add_and_remove_pod_update_the_counts() {
    let pods = [foo_pods("node-a", 2), foo_pods("node-b", 1)].concat();
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    let snap = snapshot(four_nodes(), pods.clone());
    let pl = PodTopologySpread::new();
    let mut state = CycleState::new();
    assert!(pl.pre_filter(&mut state, &p, &snap).1.is_success());
    let node_a = Arc::clone(&snap.nodes()[0]);
    let node_x = Arc::clone(&snap.nodes()[2]);
    // zone1 3, zone2 0: node-a fails.
    assert!(!pl.filter(&state, &p, &node_a).is_success());
    // Preemption removes two pods of node-a: zone1 1, zone2 0 → 1 + 1 − 0 = 2 still fails;
    // then one of node-b too: fits.
    let mut s2 = state.clone();
    let ext = pl.extensions().unwrap();
    assert!(ext.remove_pod(&mut s2, &p, &pods[0], &node_a).is_success());
    assert!(ext.remove_pod(&mut s2, &p, &pods[1], &node_a).is_success());
    assert!(!pl.filter(&s2, &p, &node_a).is_success());
    assert!(ext.remove_pod(&mut s2, &p, &pods[2], &snap.nodes()[1]).is_success());
    assert!(pl.filter(&s2, &p, &node_a).is_success());
    // The original state is untouched; adding four pods to zone2 makes it the heavy one.
    assert!(!pl.filter(&state, &p, &node_a).is_success());
    for q in foo_pods("node-x", 4) {
        assert!(ext.add_pod(&mut state, &p, &q, &node_x).is_success());
    }
    assert!(pl.filter(&state, &p, &node_a).is_success());
    assert!(!pl.filter(&state, &p, &node_x).is_success());
    // Pods of another namespace are ignored.
    let other = pod(json!({"metadata": {"name": "o", "namespace": "ns1", "labels": {"foo": ""}}}));
    assert!(ext.add_pod(&mut state, &p, &other, &node_a).is_success());
    assert!(pl.filter(&state, &p, &node_a).is_success());
}

#[test]
fn critical_paths_follow_upstream_updates() {
    let mut p = filter::CriticalPaths::new();
    let (a, b, c) = (0, 1, 2);
    for (v, n) in [(a, 3), (b, 1), (c, 2)] {
        p.update(v, n);
    }
    assert_eq!(p.min(), 1);
    // b grows past a tracked path: they swap.
    p.update(b, 4);
    assert_eq!(p.min(), 2);
    p.update(a, 0);
    assert_eq!(p.min(), 0);
}

#[test]
fn memoized_prefilter_follows_snapshot_changes() {
    // 1,200 nodes over 3 zones; node i has i % 4 matching pods. Zone z gets nodes
    // i ≡ z (mod 3); each hostname is a domain.
    let nodes: Vec<NodeInfo> =
        (0..1200).map(|i| labeled_node(&format!("n{i}"), json!({"zone": format!("z{}", i % 3)}))).collect();
    let pods: Vec<_> = (0..1200).flat_map(|i| foo_pods(&format!("n{i}"), i % 4)).collect();
    let mut snap = snapshot(nodes, pods);
    let mut zone = [0i64; 3];
    for i in 0..1200 {
        zone[i % 3] += (i % 4) as i64;
    }
    let p = incoming(
        vec![constraint(1, "zone", "DoNotSchedule"), constraint(3, LABEL_HOSTNAME, "DoNotSchedule")],
        json!({}),
    );
    let pl = PodTopologySpread::new();
    let state_of = |pl: &PodTopologySpread, snap: &Snapshot| {
        let mut state = CycleState::new();
        assert!(pl.pre_filter(&mut state, &p, snap).1.is_success());
        state.get::<filter::PreFilterState>().unwrap().clone()
    };
    let s = state_of(&pl, &snap);
    for (z, n) in zone.iter().enumerate() {
        assert_eq!(s.count(0, &format!("z{z}")), *n);
    }
    assert_eq!((s.domains[0], s.domains[1]), (3, 1200));
    assert_eq!(s.paths[0].min(), *zone.iter().min().unwrap());
    assert_eq!(s.paths[1].min(), 0);
    assert_eq!(s.count(1, "n7"), 3);
    // Hostname: n % 4 == 3 has 3 + 1 − 0 = 4 > 3; the zone constraint allows all (equal).
    let r = run_filter(&pl, &p, &snap);
    assert_eq!(r.iter().filter(|(_, s)| s.is_success()).count(), 900);

    // Change the snapshot: two more pods on n7, n8 replaced without its zone label, n9
    // gone. The memoized state must equal one counted from scratch.
    let mut nodes: Vec<Arc<NodeInfo>> = snap.nodes().to_vec();
    let mut n7 = (*nodes[7]).clone();
    for q in foo_pods("n7", 2) {
        n7.add_pod(q);
    }
    nodes[7] = Arc::new(n7);
    let mut n8 = labeled_node("n8", json!({}));
    for q in foo_pods("n8", 1) {
        n8.add_pod(q);
    }
    nodes[8] = Arc::new(n8);
    nodes.remove(9);
    snap.set_nodes(nodes);
    let memoized = state_of(&pl, &snap);
    pl.memo.clear();
    let fresh = state_of(&pl, &snap);
    assert_eq!(memoized.count(1, "n7"), 5);
    assert_eq!(memoized.count(1, "n8"), 0);
    assert_eq!(memoized.count(0, "z0"), zone[0] - (9 % 4) as i64);
    for (i, key) in ["zone", LABEL_HOSTNAME].iter().enumerate() {
        for node in snap.nodes() {
            if let Some(v) = node.labels.get(*key) {
                assert_eq!(memoized.count(i, v), fresh.count(i, v), "{key}={v}");
            }
        }
    }
    assert_eq!((memoized.domains.clone(), fresh.domains.clone()), (vec![3, 1198], vec![3, 1198]));
    assert_eq!(memoized.paths[0].min(), fresh.paths[0].min());
    assert_eq!(run_filter(&pl, &p, &snap), {
        pl.memo.clear();
        run_filter(&pl, &p, &snap)
    });
}

#[test]
fn args_are_validated() {
    assert!(PodTopologySpread::from_args(None).unwrap().system_defaulted);
    let list = json!({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]});
    let p = PodTopologySpread::from_args(Some(&list)).unwrap();
    assert!(!p.system_defaulted && p.defaults.len() == 1);
    for bad in [
        json!({"defaultingType": "Other"}),
        json!({"defaultingType": "System", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Never"}]}),
        json!({"defaultingType": "List", "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}}]}),
        json!({"defaultingType": "List", "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}),
    ] {
        assert!(PodTopologySpread::from_args(Some(&bad)).is_err(), "{bad}");
    }
    let h = factory(None).unwrap();
    assert!(h.pre_filter.is_some() && h.filter.is_some() && h.pre_score.is_some() && h.score.is_some());
}

#[test]
fn listed_default_constraints_filter_pods_of_the_same_controller() {
    let list = json!({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]});
    let pl = PodTopologySpread::from_args(Some(&list)).unwrap();
    let owned = |name: &str, node: Option<&str>, uid: &str| {
        pod(json!({"metadata": {"name": name, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]},
            "spec": {"nodeName": node}}))
    };
    let pods = vec![
        owned("a1", Some("node-a"), "rs1"),
        owned("a2", Some("node-a"), "rs1"),
        owned("x1", Some("node-x"), "rs2"),
    ];
    let snap = snapshot(four_nodes(), pods);
    let r = run_filter(&pl, &owned("p", None, "rs1"), &snap);
    assert_eq!(fitting(&r), ["node-x", "node-y"]);
    // Without a controller: no default constraints, PreFilter skips.
    let (_, s) = pl.pre_filter(&mut CycleState::new(), &pod(json!({"metadata": {"name": "q"}})), &snap);
    assert!(s.is_skip());
}

#[test]
fn hints_follow_upstream() {
    use crate::framework::{ClusterObject, QueueingHint};
    let d = system_default_constraints();
    let p = incoming(vec![constraint(1, "zone", "DoNotSchedule")], json!({}));
    let assigned = |labels: Value| {
        ClusterObject::Pod(pod(json!({"metadata": {"name": "e", "labels": labels}, "spec": {"nodeName": "n"}})))
    };
    let unassigned = ClusterObject::Pod(pod(json!({"metadata": {"name": "u", "uid": "u", "labels": {"foo": ""}}})));
    assert_eq!(pod_hint(&d, &p, None, Some(&assigned(json!({"foo": ""})))), QueueingHint::Queue);
    assert_eq!(pod_hint(&d, &p, None, Some(&assigned(json!({"bar": ""})))), QueueingHint::Skip);
    assert_eq!(pod_hint(&d, &p, None, Some(&unassigned)), QueueingHint::Skip);
    assert_eq!(pod_hint(&d, &p, Some(&assigned(json!({"foo": ""}))), None), QueueingHint::Queue);
    assert_eq!(
        pod_hint(&d, &p, Some(&assigned(json!({"foo": "", "a": "1"}))), Some(&assigned(json!({"foo": "", "a": "2"})))),
        QueueingHint::Skip
    );
    assert_eq!(pod_hint(&d, &p, Some(&assigned(json!({"foo": ""}))), Some(&assigned(json!({})))), QueueingHint::Queue);
    let n = |labels: Value| ClusterObject::Node(Arc::new(node(json!({"metadata": {"name": "n", "labels": labels}}))));
    assert_eq!(node_hint(&d, &p, None, Some(&n(json!({"zone": "z"})))), QueueingHint::Queue);
    assert_eq!(node_hint(&d, &p, None, Some(&n(json!({})))), QueueingHint::Skip);
    assert_eq!(
        node_hint(&d, &p, Some(&n(json!({"zone": "z"}))), Some(&n(json!({"zone": "z", "o": "1"})))),
        QueueingHint::Skip
    );
    assert_eq!(node_hint(&d, &p, Some(&n(json!({"zone": "z"}))), Some(&n(json!({"zone": "w"})))), QueueingHint::Queue);
    assert_eq!(node_hint(&d, &p, Some(&n(json!({"zone": "z"}))), Some(&n(json!({})))), QueueingHint::Queue);
    assert_eq!(PodTopologySpread::new().events_to_register().unwrap().len(), 2);
}
