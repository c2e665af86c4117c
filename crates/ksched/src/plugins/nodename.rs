//! NodeName (Filter): a pod with `spec.nodeName` fits only that node.

use crate::framework::status::fixed;
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, CycleState, EventResource, FilterPlugin, Plugin, PluginError,
    PluginHandle, QueueingHint, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeName";

/// The Filter reason.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

/// Matches `spec.nodeName`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeName;

fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.node_name.as_deref().is_none_or(|n| n.is_empty() || n == node.name)
}

/// Only the arrival of the requested node can help.
fn requested_node_added(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match new {
        Some(ClusterObject::Node(n)) if !fits(pod, n) => QueueingHint::Skip,
        _ => QueueingHint::Queue,
    }
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![ClusterEventWithHint::with_hint(EventResource::Node, ActionType::ADD, requested_node_added)])
    }
}

impl FilterPlugin for NodeName {
    /// Reads the node's own fields only.
    fn reads_node_pods(&self) -> bool {
        false
    }

    fn filter(&self, _state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) { Status::success() } else { fixed!(NAME, UnschedulableAndUnresolvable, ERR_REASON) }
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(NodeName).filter().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{pod, sized_node};
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn filter_cases() {
        let state = CycleState::new();
        let n1 = sized_node("n1", "1", "1Gi");
        let free = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}));
        assert!(NodeName.filter(&state, &free, &n1).is_success());
        let on =
            |n: &str| pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": n, "containers": [{"name": "c"}]}}));
        assert!(NodeName.filter(&state, &on("n1"), &n1).is_success());
        let s = NodeName.filter(&state, &on("n2"), &n1);
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons(), [ERR_REASON]);

        let events = NodeName.events_to_register().unwrap();
        let hint = events[0].hint.as_ref().unwrap();
        let added = |name: &str| ClusterObject::Node(Arc::new(sized_node(name, "1", "1Gi")));
        assert_eq!(hint(&on("n2"), None, Some(&added("n2"))), QueueingHint::Queue);
        assert_eq!(hint(&on("n2"), None, Some(&added("n1"))), QueueingHint::Skip);
    }
}
