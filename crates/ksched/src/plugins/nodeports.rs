//! NodePorts: a pod's host ports must be free on the node (same protocol and port, and the
//! same IP or either side on `0.0.0.0`).

use std::sync::Arc;

use crate::framework::status::fixed;
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, CycleState, EventResource, FilterPlugin, Plugin, PluginError,
    PluginHandle, PreFilterPlugin, PreFilterResult, QueueingHint, Snapshot, Status,
};
use crate::types::{HostPort, NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodePorts";

/// The Filter reason.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// Checks host port conflicts.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodePorts;

/// The pod's host ports, collected in PreFilter.
#[derive(Debug, Clone)]
struct PreFilterState(Arc<Vec<HostPort>>);

fn conflict(a: &HostPort, b: &HostPort) -> bool {
    a.protocol == b.protocol && a.port == b.port && (a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0")
}

fn fits(want: &[HostPort], node: &NodeInfo) -> bool {
    !want.iter().any(|p| node.port_conflicts(p))
}

/// A deleted pod frees ports only if it held one the pending pod wants.
fn deleted_pod_freed_port(pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let Some(ClusterObject::Pod(deleted)) = old.or(new) else { return QueueingHint::Queue };
    if deleted.host_ports.iter().any(|d| pod.host_ports.iter().any(|w| conflict(d, w))) {
        QueueingHint::Queue
    } else {
        QueueingHint::Skip
    }
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![
            ClusterEventWithHint::with_hint(EventResource::AssignedPod, ActionType::DELETE, deleted_pod_freed_port),
            ClusterEventWithHint::new(EventResource::Node, ActionType::ADD),
        ])
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snapshot: &Snapshot) -> (PreFilterResult, Status) {
        if pod.host_ports.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        state.insert(PreFilterState(Arc::new(pod.host_ports.clone())));
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let ok = match state.get::<PreFilterState>() {
            Some(s) => fits(&s.0, node),
            None => fits(&pod.host_ports, node),
        };
        if ok { Status::success() } else { fixed!(NAME, Unschedulable, ERR_REASON) }
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(NodePorts).pre_filter().filter().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{pod, sized_node, snapshot};
    use serde_json::json;

    /// A pod with `(protocol, ip, port)` host ports, optionally on a node.
    fn with_ports(name: &str, node: Option<&str>, ports: &[(&str, &str, i32)]) -> Arc<PodInfo> {
        let ports: Vec<_> = ports
            .iter()
            .map(|(proto, ip, port)| json!({"containerPort": 8080, "protocol": proto, "hostIP": ip, "hostPort": port}))
            .collect();
        pod(json!({"metadata": {"name": name, "uid": name}, "spec": {"nodeName": node,
            "containers": [{"name": "c", "ports": ports}]}}))
    }

    fn run(want: &[(&str, &str, i32)], existing: &[(&str, &str, i32)]) -> Status {
        let snap = snapshot(vec![sized_node("n1", "1", "1Gi")], vec![with_ports("old", Some("n1"), existing)]);
        let p = with_ports("new", None, want);
        let mut state = CycleState::new();
        let (_, s) = NodePorts.pre_filter(&mut state, &p, &snap);
        if s.is_skip() {
            return s;
        }
        NodePorts.filter(&state, &p, &snap.nodes()[0])
    }

    #[test]
    fn filter_table() {
        // No host ports: PreFilter skips.
        assert_eq!(run(&[], &[("UDP", "127.0.0.1", 8080)]).code(), Code::Skip);
        let ok = |w: &[(&str, &str, i32)], e: &[(&str, &str, i32)]| run(w, e).is_success();
        assert!(ok(&[("UDP", "127.0.0.1", 8080)], &[("UDP", "127.0.0.1", 9090)]), "other port");
        assert!(!ok(&[("UDP", "127.0.0.1", 8080)], &[("UDP", "127.0.0.1", 8080)]), "same port");
        assert!(ok(&[("TCP", "127.0.0.1", 8080)], &[("UDP", "127.0.0.1", 8080)]), "other protocol");
        assert!(ok(&[("TCP", "127.0.0.1", 8001)], &[("TCP", "127.0.0.2", 8001)]), "other IP");
        assert!(!ok(&[("TCP", "0.0.0.0", 8001)], &[("TCP", "127.0.0.1", 8001)]), "wildcard wanted");
        assert!(!ok(&[("TCP", "127.0.0.1", 8001)], &[("TCP", "0.0.0.0", 8001)]), "wildcard in use");
        assert!(ok(&[("UDP", "0.0.0.0", 8001)], &[("TCP", "0.0.0.0", 8001)]), "wildcards, other protocol");
        let s = run(&[("TCP", "", 8001)], &[("TCP", "10.0.0.1", 8001)]); // empty hostIP means 0.0.0.0
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(s.reasons(), [ERR_REASON]);
    }

    #[test]
    fn delete_hint() {
        let events = NodePorts.events_to_register().unwrap();
        let hint = events[0].hint.as_ref().unwrap();
        let target = with_ports("t", None, &[("TCP", "0.0.0.0", 80)]);
        let del = |ports: &[(&str, &str, i32)]| ClusterObject::Pod(with_ports("d", Some("n1"), ports));
        assert_eq!(hint(&target, Some(&del(&[("TCP", "10.0.0.1", 80)])), None), QueueingHint::Queue);
        assert_eq!(hint(&target, Some(&del(&[("TCP", "10.0.0.1", 81)])), None), QueueingHint::Skip);
        assert_eq!(hint(&target, Some(&del(&[])), None), QueueingHint::Skip);
    }
}
