//! TaintToleration: Filter rejects nodes with a NoSchedule/NoExecute taint the pod does not
//! tolerate; Score counts untolerated PreferNoSchedule taints, reverse-normalized so fewer
//! is better.

use std::sync::Arc;

use kapi::k8s::api::core::v1::Toleration;

use super::helper::{
    EFFECT_PREFER_NO_SCHEDULE, default_normalize_score, find_untolerated_taint, is_do_not_schedule_taint,
    tolerations_tolerate_taint,
};
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PluginError, PluginHandle, PreScorePlugin, QueueingHint, ScorePlugin, Snapshot, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "TaintToleration";

/// Checks taints against tolerations.
#[derive(Debug, Default, Clone, Copy)]
pub struct TaintToleration;

/// The pod's tolerations that can tolerate PreferNoSchedule taints (computed in PreScore).
#[derive(Debug, Clone)]
struct PreScoreState(Arc<Vec<Toleration>>);

fn prefer_no_schedule_tolerations(pod: &PodInfo) -> Vec<Toleration> {
    // An empty effect matches every effect, PreferNoSchedule included.
    pod.tolerations
        .iter()
        .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == EFFECT_PREFER_NO_SCHEDULE))
        .cloned()
        .collect()
}

fn count_intolerable_prefer_no_schedule(node: &NodeInfo, tolerations: &[Toleration]) -> i64 {
    let n = node
        .taints
        .iter()
        .filter(|t| t.effect == EFFECT_PREFER_NO_SCHEDULE && !tolerations_tolerate_taint(tolerations, t))
        .count();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Queue when the node went from having an untolerated taint (or not existing) to none.
fn taint_now_tolerated(pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let Some(ClusterObject::Node(new)) = new else { return QueueingHint::Queue };
    let untolerated =
        |n: &NodeInfo| find_untolerated_taint(&n.taints, &pod.tolerations, is_do_not_schedule_taint).is_some();
    let was_untolerated = match old {
        Some(ClusterObject::Node(old)) => untolerated(old),
        _ => true,
    };
    if was_untolerated && !untolerated(new) { QueueingHint::Queue } else { QueueingHint::Skip }
}

/// An update of the pod itself may have added tolerations.
fn own_pod_updated(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match new {
        Some(ClusterObject::Pod(p)) if p.uid == pod.uid => QueueingHint::Queue,
        _ => QueueingHint::Skip,
    }
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
                taint_now_tolerated,
            ),
            ClusterEventWithHint::with_hint(EventResource::UnscheduledPod, ActionType::UPDATE, own_pod_updated),
        ])
    }
}

impl FilterPlugin for TaintToleration {
    /// Reads the node's own fields only.
    fn reads_node_pods(&self) -> bool {
        false
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        match find_untolerated_taint(&node.taints, &pod.tolerations, is_do_not_schedule_taint) {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or("")
            )),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        state.insert(PreScoreState(Arc::new(prefer_no_schedule_tolerations(pod))));
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let score = match state.get::<PreScoreState>() {
            Some(s) => count_intolerable_prefer_no_schedule(node, &s.0),
            // Without PreScore, compute the same list here.
            None => count_intolerable_prefer_no_schedule(node, &prefer_no_schedule_tolerations(pod)),
        };
        (score, Status::success())
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore<'_>]) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(TaintToleration).filter().pre_score().score().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn tainted(name: &str, taints: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn tolerating(t: Value) -> Arc<PodInfo> {
        pod(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [{"name": "c"}], "tolerations": t}}))
    }

    fn filter(p: &PodInfo, n: &NodeInfo) -> Status {
        TaintToleration.filter(&CycleState::new(), p, n)
    }

    #[test]
    fn filter_cases() {
        let n = tainted("n1", json!([{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}]));
        let s = filter(&tolerating(json!([])), &n);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons(), ["node(s) had untolerated taint {dedicated: user1}"]);
        // Matching Equal toleration.
        let ok = json!([{"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"}]);
        assert!(filter(&tolerating(ok), &n).is_success());
        // Wrong value.
        let bad = json!([{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}]);
        assert!(!filter(&tolerating(bad), &n).is_success());
        // Exists with empty key and empty effect tolerates everything.
        assert!(filter(&tolerating(json!([{"operator": "Exists"}])), &n).is_success());
        // Equal with no operator and an empty effect.
        assert!(filter(&tolerating(json!([{"key": "dedicated", "value": "user1"}])), &n).is_success());
        // PreferNoSchedule taints never filter.
        let soft = tainted("n2", json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]));
        assert!(filter(&tolerating(json!([])), &soft).is_success());
        // NoExecute filters too; the first untolerated taint is reported.
        let two = tainted(
            "n3",
            json!([{"key": "a", "value": "1", "effect": "NoSchedule"},
            {"key": "b", "effect": "NoExecute"}]),
        );
        let s = filter(&tolerating(json!([{"key": "a", "operator": "Exists"}])), &two);
        assert_eq!(s.reasons(), ["node(s) had untolerated taint {b: }"]);
    }

    fn scores(p: &Arc<PodInfo>, nodes: Vec<NodeInfo>) -> Vec<i64> {
        let snap = snapshot(nodes, vec![]);
        let mut state = CycleState::new();
        assert!(
            TaintToleration.pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap).is_success()
        );
        let mut list: Vec<NodeScore<'_>> = snap
            .nodes()
            .iter()
            .map(|n| NodeScore { name: &n.key, score: TaintToleration.score(&state, p, n).0 })
            .collect();
        assert!(TaintToleration.normalize(&state, p, &mut list).is_success());
        list.iter().map(|s| s.score).collect()
    }

    #[test]
    fn score_counts_prefer_no_schedule() {
        let pns = |k: &str, v: &str| json!({"key": k, "value": v, "effect": "PreferNoSchedule"});
        let nodes = || {
            vec![
                tainted("n0", json!([])),
                tainted("n1", json!([pns("foo", "bar")])),
                tainted("n2", json!([pns("foo", "bar"), pns("cpu", "x"), pns("gpu", "y")])),
                // NoSchedule taints do not count.
                tainted("n3", json!([{"key": "hard", "effect": "NoSchedule"}])),
            ]
        };
        // No tolerations: raw counts 0, 1, 3, 0; max 3; reversed: 100-0, 100-100*1/3=67, 100-100, 100.
        assert_eq!(scores(&tolerating(json!([])), nodes()), vec![100, 67, 0, 100]);
        // Tolerating foo=bar (effect PreferNoSchedule): counts 0, 0, 2, 0 → 100, 100, 0, 100.
        let t = json!([{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}]);
        assert_eq!(scores(&tolerating(t), nodes()), vec![100, 100, 0, 100]);
        // A NoSchedule toleration is ignored for scoring: same as none.
        let t = json!([{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}]);
        assert_eq!(scores(&tolerating(t), nodes()), vec![100, 67, 0, 100]);
        // Exists with empty key and effect tolerates all: all-zero counts, reversed → all 100.
        assert_eq!(scores(&tolerating(json!([{"operator": "Exists"}])), nodes()), vec![100, 100, 100, 100]);
    }

    #[test]
    fn hints() {
        let events = TaintToleration.events_to_register().unwrap();
        let hint = events[0].hint.as_ref().unwrap();
        let p = tolerating(json!([]));
        let n = |t: Value| ClusterObject::Node(Arc::new(tainted("n", t)));
        let hard = json!([{"key": "k", "effect": "NoSchedule"}]);
        assert_eq!(hint(&p, Some(&n(hard.clone())), Some(&n(json!([])))), QueueingHint::Queue);
        assert_eq!(hint(&p, Some(&n(json!([]))), Some(&n(hard.clone()))), QueueingHint::Skip);
        assert_eq!(hint(&p, None, Some(&n(json!([])))), QueueingHint::Queue);
        assert_eq!(hint(&p, None, Some(&n(hard))), QueueingHint::Skip);
    }
}
