//! NodeUnschedulable (Filter): rejects nodes with `spec.unschedulable` unless the pod
//! tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use kapi::k8s::api::core::v1::Taint;

use super::helper::{EFFECT_NO_SCHEDULE, tolerations_tolerate_taint};
use crate::framework::status::fixed;
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, CycleState, EventResource, FilterPlugin, Plugin, PluginError,
    PluginHandle, QueueingHint, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeUnschedulable";

/// The Filter reason.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

/// The taint that stands for `spec.unschedulable`.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Filters cordoned nodes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeUnschedulable;

fn tolerates_unschedulable(pod: &PodInfo) -> bool {
    let taint = Taint { key: TAINT_NODE_UNSCHEDULABLE.into(), effect: EFFECT_NO_SCHEDULE.into(), ..Default::default() };
    tolerations_tolerate_taint(&pod.tolerations, &taint)
}

/// A node that became schedulable (or a new schedulable node) may help.
fn node_became_schedulable(_pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let Some(ClusterObject::Node(new)) = new else { return QueueingHint::Queue };
    let was_schedulable = matches!(old, Some(ClusterObject::Node(old)) if !old.unschedulable);
    if !was_schedulable && !new.unschedulable { QueueingHint::Queue } else { QueueingHint::Skip }
}

/// An update to the pod itself may have added the toleration.
fn own_pod_updated(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match new {
        Some(ClusterObject::Pod(p)) if p.uid == pod.uid => QueueingHint::Queue,
        _ => QueueingHint::Skip,
    }
}

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_TAINT),
                node_became_schedulable,
            ),
            ClusterEventWithHint::with_hint(EventResource::UnscheduledPod, ActionType::UPDATE, own_pod_updated),
        ])
    }
}

impl FilterPlugin for NodeUnschedulable {
    /// Reads the node's own fields only.
    fn reads_node_pods(&self) -> bool {
        false
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.unschedulable && !tolerates_unschedulable(pod) {
            return fixed!(NAME, UnschedulableAndUnresolvable, ERR_REASON_UNSCHEDULABLE);
        }
        Status::success()
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(NodeUnschedulable).filter().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod};
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn cordoned(unschedulable: bool) -> NodeInfo {
        node(json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": unschedulable}}))
    }

    fn with_tolerations(t: Value) -> Arc<PodInfo> {
        pod(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": {"containers": [{"name": "c"}], "tolerations": t}}))
    }

    #[test]
    fn filter_cases() {
        let state = CycleState::new();
        let p = NodeUnschedulable;
        // Schedulable node: any pod passes.
        assert!(p.filter(&state, &with_tolerations(json!([])), &cordoned(false)).is_success());
        // Cordoned node, no toleration.
        let s = p.filter(&state, &with_tolerations(json!([])), &cordoned(true));
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons(), [ERR_REASON_UNSCHEDULABLE]);
        // Tolerated by key + NoSchedule, by key with empty effect, by Exists with empty key.
        for t in [
            json!([{"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]),
            json!([{"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists"}]),
            json!([{"operator": "Exists"}]),
        ] {
            assert!(p.filter(&state, &with_tolerations(t.clone()), &cordoned(true)).is_success(), "{t}");
        }
        // Wrong effect or key does not help.
        for t in [
            json!([{"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Exists", "effect": "NoExecute"}]),
            json!([{"key": "other", "operator": "Exists"}]),
            json!([{"key": TAINT_NODE_UNSCHEDULABLE, "operator": "Equal", "value": "true"}]),
        ] {
            assert!(!p.filter(&state, &with_tolerations(t.clone()), &cordoned(true)).is_success(), "{t}");
        }
    }

    #[test]
    fn hints() {
        let events = NodeUnschedulable.events_to_register().unwrap();
        let node_hint = events[0].hint.as_ref().unwrap();
        let p = with_tolerations(json!([]));
        let n = |u: bool| ClusterObject::Node(Arc::new(cordoned(u)));
        assert_eq!(node_hint(&p, None, Some(&n(false))), QueueingHint::Queue);
        assert_eq!(node_hint(&p, None, Some(&n(true))), QueueingHint::Skip);
        assert_eq!(node_hint(&p, Some(&n(true)), Some(&n(false))), QueueingHint::Queue);
        assert_eq!(node_hint(&p, Some(&n(false)), Some(&n(false))), QueueingHint::Skip);
        let pod_hint = events[1].hint.as_ref().unwrap();
        let own = ClusterObject::Pod(with_tolerations(json!([{"operator": "Exists"}])));
        assert_eq!(pod_hint(&p, Some(&own), Some(&own)), QueueingHint::Queue);
    }
}
