//! Which events a pod update is (upstream `PodSchedulingPropertiesChange`).

use crate::framework::{ActionType, ClusterEvent, EventResource};
use crate::types::{PodInfo, Resource};

fn scaled_down(old: &Resource, new: &Resource) -> bool {
    new.milli_cpu < old.milli_cpu
        || new.memory < old.memory
        || new.ephemeral_storage < old.ephemeral_storage
        || old.scalar.iter().any(|(k, v)| new.scalar.get(k).is_none_or(|n| n < v))
}

/// The events an update of a pod from `old` to `new` is: label change, requests scaled
/// down, scheduling gates all removed; any other change (tolerations added, …) is the
/// general update ([`ActionType::UPDATE`]).
pub(super) fn pod_update_events(old: &PodInfo, new: &PodInfo) -> Vec<ClusterEvent> {
    let resource = if new.node_name.is_some() { EventResource::AssignedPod } else { EventResource::UnscheduledPod };
    let mut actions = Vec::new();
    if old.labels != new.labels {
        actions.push(ActionType::UPDATE_POD_LABEL);
    }
    if scaled_down(&old.requests, &new.requests) {
        actions.push(ActionType::UPDATE_POD_SCALE_DOWN);
    }
    if !old.scheduling_gates.is_empty() && new.scheduling_gates.is_empty() {
        actions.push(ActionType::UPDATE_POD_GATES);
    }
    if actions.is_empty() {
        actions.push(ActionType::UPDATE);
    }
    actions.into_iter().map(|a| ClusterEvent::new(resource, a)).collect()
}
