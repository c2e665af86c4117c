//! SchedulingGates (PreEnqueue): keeps pods with `spec.schedulingGates` out of the active
//! queue until every gate is removed.

use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, EventResource, Plugin, PluginError, PluginHandle,
    PreEnqueuePlugin, QueueingHint, Status,
};
use crate::types::PodInfo;

/// The plugin's name.
pub const NAME: &str = "SchedulingGates";

/// Holds gated pods.
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedulingGates;

impl Plugin for SchedulingGates {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![ClusterEventWithHint::with_hint(
            EventResource::UnscheduledPod,
            ActionType::UPDATE_POD_GATES,
            gates_removed,
        )])
    }
}

/// Queue only when the update is to the gated pod itself and left it without gates.
fn gates_removed(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match new {
        Some(ClusterObject::Pod(p)) if p.uid == pod.uid && p.scheduling_gates.is_empty() => QueueingHint::Queue,
        _ => QueueingHint::Skip,
    }
}

impl PreEnqueuePlugin for SchedulingGates {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        if pod.scheduling_gates.is_empty() {
            return Status::success();
        }
        // Go's %v of a []string: "[a b]".
        Status::unresolvable(format!("waiting for scheduling gates: [{}]", pod.scheduling_gates.join(" ")))
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(SchedulingGates).pre_enqueue().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::pod;
    use serde_json::json;
    use std::sync::Arc;

    fn gated(uid: &str, gates: &[&str]) -> Arc<PodInfo> {
        let gates: Vec<_> = gates.iter().map(|g| json!({"name": g})).collect();
        pod(
            json!({"metadata": {"name": "p", "uid": uid}, "spec": {"containers": [{"name": "c"}], "schedulingGates": gates}}),
        )
    }

    #[test]
    fn gated_pods_wait() {
        let p = SchedulingGates;
        assert!(p.pre_enqueue(&gated("u1", &[])).is_success());
        let s = p.pre_enqueue(&gated("u1", &["a", "b"]));
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons(), ["waiting for scheduling gates: [a b]"]);
    }

    #[test]
    fn hint_queues_only_when_own_gates_are_gone() {
        let events = SchedulingGates.events_to_register().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event.resource, EventResource::UnscheduledPod);
        assert_eq!(events[0].event.action, ActionType::UPDATE_POD_GATES);
        let hint = events[0].hint.as_ref().unwrap();
        let target = gated("u1", &["a", "b"]);
        let obj = |p: Arc<PodInfo>| ClusterObject::Pod(p);
        let old = obj(gated("u1", &["a", "b"]));
        assert_eq!(hint(&target, Some(&old), Some(&obj(gated("u1", &[])))), QueueingHint::Queue);
        assert_eq!(hint(&target, Some(&old), Some(&obj(gated("u1", &["b"])))), QueueingHint::Skip);
        assert_eq!(hint(&target, Some(&old), Some(&obj(gated("u2", &[])))), QueueingHint::Skip);
    }
}
