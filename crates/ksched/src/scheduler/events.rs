//! The cluster events the handle raises for node and pod changes.

use crate::framework::{ActionType, ClusterEvent, EventResource};
use crate::types::{NodeInfo, PodInfo};

pub(super) fn node_added() -> ClusterEvent {
    ClusterEvent::new(EventResource::Node, ActionType::ADD)
}

pub(super) fn unscheduled_pod_added() -> ClusterEvent {
    ClusterEvent::new(EventResource::UnscheduledPod, ActionType::ADD)
}

pub(super) fn node(action: ActionType) -> ClusterEvent {
    ClusterEvent::new(EventResource::Node, action)
}

pub(super) fn assigned_pod(action: ActionType) -> ClusterEvent {
    ClusterEvent::new(EventResource::AssignedPod, action)
}

/// What changed in a node that may matter to scheduling (`None`: nothing, e.g. a heartbeat).
pub(super) fn node_update_action(old: &NodeInfo, new: &NodeInfo) -> Option<ActionType> {
    let mut a = ActionType(0);
    if old.allocatable != new.allocatable {
        a = a.or(ActionType::UPDATE_NODE_ALLOCATABLE);
    }
    if old.labels != new.labels {
        a = a.or(ActionType::UPDATE_NODE_LABEL);
    }
    if old.taints != new.taints || old.unschedulable != new.unschedulable {
        a = a.or(ActionType::UPDATE_NODE_TAINT);
    }
    let conditions = |n: &NodeInfo| {
        n.node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| cs.iter().map(|c| (c.type_.clone(), c.status.clone())).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    if conditions(old) != conditions(new) {
        a = a.or(ActionType::UPDATE_NODE_CONDITION);
    }
    if old.images.len() != new.images.len() || old.images.keys().any(|k| !new.images.contains_key(k)) {
        a = a.or(ActionType::UPDATE_NODE_IMAGES);
    }
    (a.0 != 0).then_some(a)
}

/// What changed in a bound pod that may matter to other pods' scheduling.
pub(super) fn assigned_pod_update_action(old: &PodInfo, new: &PodInfo) -> Option<ActionType> {
    let mut a = ActionType(0);
    if old.labels != new.labels {
        a = a.or(ActionType::UPDATE_POD_LABEL);
    }
    let r = (&old.requests, &new.requests);
    if r.1.milli_cpu < r.0.milli_cpu || r.1.memory < r.0.memory {
        a = a.or(ActionType::UPDATE_POD_SCALE_DOWN);
    }
    if old.node_name.is_none() && new.node_name.is_some() {
        a = a.or(ActionType::ADD);
    }
    (a.0 != 0).then_some(a)
}

/// Finished pods are never scheduled.
pub(super) fn terminal(pod: &PodInfo) -> bool {
    matches!(pod.pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}
