//! The pure part of the node lifecycle controller: node health from heartbeats, the
//! conditions and taints that follow, and when a pod on a tainted node must go.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kapi::k8s::api::core::v1::{Node, NodeCondition, Taint, Toleration};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;

/// Taint of a node whose Ready condition is False.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// Taint of a node whose Ready condition is Unknown (no heartbeat).
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// Conditions set to Unknown when the kubelet stops reporting.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller last saw of one node's heartbeats, on its own clock.
#[derive(Debug, Clone)]
struct Probe {
    heartbeat: (Option<Timestamp>, Option<Timestamp>),
    seen_at: Instant,
}

/// Heartbeat tracking for all nodes.
#[derive(Debug, Default)]
pub struct Health {
    probes: HashMap<String, Probe>,
}

/// What should change on a node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeUpdate {
    /// New status conditions (when the kubelet stopped posting).
    pub conditions: Option<Vec<NodeCondition>>,
    /// New taints (when the NoExecute / NoSchedule readiness taints change).
    pub taints: Option<Vec<Taint>>,
}

fn ready_status(conditions: &[NodeCondition]) -> &str {
    conditions.iter().find(|c| c.type_ == "Ready").map_or("Unknown", |c| c.status.as_str())
}

impl Health {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets a deleted node.
    pub fn forget(&mut self, node: &str) {
        self.probes.remove(node);
    }

    /// Looks at one node. `lease_renew` is its Lease's `renewTime` in `kube-node-lease`.
    ///
    /// Like upstream, staleness is measured from when *this controller* saw a heartbeat
    /// value change (the Ready condition's `lastHeartbeatTime` or the Lease's renewal), on
    /// its monotonic clock, not from the timestamps themselves.
    pub fn check(
        &mut self,
        node: &Node,
        lease_renew: Option<Timestamp>,
        now: Instant,
        wall: Timestamp,
        grace: Duration,
    ) -> NodeUpdate {
        let name = node.metadata.name.clone().unwrap_or_default();
        let conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let heartbeat = (
            conditions.iter().find(|c| c.type_ == "Ready").and_then(|c| c.last_heartbeat_time.clone()).map(|t| t.0),
            lease_renew,
        );
        let probe = self.probes.entry(name).or_insert(Probe { heartbeat, seen_at: now });
        if probe.heartbeat != heartbeat {
            probe.heartbeat = heartbeat;
            probe.seen_at = now;
        }
        let stale = now.duration_since(probe.seen_at) > grace;
        let mut update = NodeUpdate::default();
        let mut effective = conditions.clone();
        if stale {
            let mut changed = false;
            for ty in KUBELET_CONDITIONS {
                match effective.iter_mut().find(|c| c.type_ == ty) {
                    Some(c) if c.status != "Unknown" => {
                        c.status = "Unknown".into();
                        c.reason = Some("NodeStatusUnknown".into());
                        c.message = Some("Kubelet stopped posting node status.".into());
                        c.last_transition_time = Some(Time(wall));
                        changed = true;
                    }
                    Some(_) => {}
                    None => {
                        effective.push(NodeCondition {
                            type_: ty.into(),
                            status: "Unknown".into(),
                            reason: Some("NodeStatusNeverUpdated".into()),
                            message: Some("Kubelet never posted node status.".into()),
                            last_heartbeat_time: None,
                            last_transition_time: Some(Time(wall)),
                        });
                        changed = true;
                    }
                }
            }
            if changed {
                update.conditions = Some(effective.clone());
            }
        }
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let wanted = desired_taints(&taints, ready_status(&effective), wall);
        if wanted != taints {
            update.taints = Some(wanted);
        }
        update
    }
}

/// The node's taints with the readiness taints set for `ready` (`True`, `False`, `Unknown`):
/// not-ready or unreachable, each with NoSchedule and NoExecute effects; none when ready.
/// Other taints, and readiness taints already right (with their `timeAdded`), are kept.
pub fn desired_taints(current: &[Taint], ready: &str, wall: Timestamp) -> Vec<Taint> {
    let wanted_key = match ready {
        "True" => None,
        "False" => Some(NOT_READY_TAINT),
        _ => Some(UNREACHABLE_TAINT),
    };
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            let readiness = t.key == NOT_READY_TAINT || t.key == UNREACHABLE_TAINT;
            !readiness || (Some(t.key.as_str()) == wanted_key && (t.effect == "NoExecute" || t.effect == "NoSchedule"))
        })
        .cloned()
        .collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                out.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    value: None,
                    time_added: (effect == "NoExecute").then_some(Time(wall)),
                });
            }
        }
    }
    out
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if e != taint.effect {
            return false;
        }
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => t.key.as_deref().is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// When a pod with `tolerations` must leave a node with `taints` (only NoExecute taints
/// count): `None` never; `Some(now)` at once when some taint is not tolerated; otherwise the
/// shortest `tolerationSeconds` among the tolerations used (upstream's
/// `getMinTolerationTime`: a used toleration without a limit does not extend it, and no
/// limits at all means forever), counted from when the node was tainted.
pub fn eviction_time(tolerations: &[Toleration], taints: &[Taint], now: Timestamp) -> Option<Timestamp> {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return None;
    }
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in &no_execute {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        used.extend(matching);
    }
    let secs = used.iter().filter_map(|t| t.toleration_seconds).min()?;
    if secs <= 0 {
        return Some(now);
    }
    let start = no_execute.iter().filter_map(|t| t.time_added.as_ref().map(|t| t.0)).min().unwrap_or(now);
    Some(start.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap_or(start))
}

#[cfg(test)]
mod tests;
