//! PodTopologySpread (upstream `pkg/scheduler/framework/plugins/podtopologyspread`):
//! spreads matching pods evenly over topology domains.
//!
//! - PreFilter/Filter enforce `DoNotSchedule` constraints: with `count(domain)` the
//!   matching pods in the node's domain and `min` the smallest count over eligible domains
//!   (0 when there are fewer than `minDomains`), a node is rejected when
//!   `count + selfMatch − min > maxSkew`. Eligible nodes pass the pod's node affinity and
//!   selector (`nodeAffinityPolicy: Honor`, the default), tolerate its taints when
//!   `nodeTaintsPolicy: Honor`, and carry every constraint's key. AddPod/RemovePod keep the
//!   counts right during preemption.
//! - PreScore/Score/NormalizeScore favour nodes in less crowded domains for
//!   `ScheduleAnyway` constraints (see the `scoring` module for the formula).
//!
//! When a pod has no constraints, the default constraints apply: upstream's system defaults
//! (hostname maxSkew 3 and zone maxSkew 5, ScheduleAnyway) or the configured list. Upstream
//! selects the pods of the Services, ReplicaSets, StatefulSets and ReplicationControllers
//! that select the incoming pod; this crate's snapshot has no such listers, so the default
//! constraints select the pods of the same namespace with the same controller (a
//! ReplicaSet, StatefulSet or ReplicationController owner reference with `controller:
//! true`), and pods without such a controller get no default constraints.
//!
//! Args (`PodTopologySpreadArgs`): `defaultConstraints` (list, no `labelSelector`) and
//! `defaultingType` (`System`, the default, or `List`).

mod common;
mod filter;
mod scoring;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_score;

use std::collections::BTreeSet;
use std::sync::Arc;

use kapi::k8s::api::core::v1::TopologySpreadConstraint;
use serde::Deserialize;

use self::common::{
    Constraint, DO_NOT_SCHEDULE, LABEL_HOSTNAME, LABEL_ZONE, SCHEDULE_ANYWAY, constraints_for, node_has_all_keys,
};
pub use self::filter::{ERR_REASON_CONSTRAINTS_NOT_MATCH, ERR_REASON_NODE_LABEL_NOT_MATCH};
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, EventResource, Plugin, PluginError, PluginHandle, QueueingHint,
};
use crate::plugins::memo::MemoCache;
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";

/// The PodTopologySpread plugin.
#[derive(Debug, Clone)]
pub struct PodTopologySpread {
    defaults: Arc<[TopologySpreadConstraint]>,
    system_defaulted: bool,
    /// PreFilter's counts kept across cycles, by what they depend on.
    memo: Arc<MemoCache<filter::SpreadMemo>>,
}

/// Memoized PreFilter counts kept at most (one per distinct namespace and constraint set
/// seen recently: the pods of one workload share one).
const MEMO_ENTRIES: usize = 16;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    default_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default)]
    defaulting_type: Option<String>,
}

fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)]
        .into_iter()
        .map(|(key, skew)| TopologySpreadConstraint {
            topology_key: key.to_owned(),
            when_unsatisfiable: SCHEDULE_ANYWAY.to_owned(),
            max_skew: skew,
            ..Default::default()
        })
        .collect()
}

fn validate(args: &Args) -> Result<bool, String> {
    let system = match args.defaulting_type.as_deref().unwrap_or("System") {
        "System" => true,
        "List" => false,
        other => {
            return Err(format!(
                "defaultingType: Unsupported value: {other:?}: supported values: \"System\", \"List\""
            ));
        }
    };
    if system && !args.default_constraints.is_empty() {
        return Err(
            "defaultingType: Invalid value: \"System\": when .defaultingType=System, .defaultConstraints must be empty"
                .into(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, c) in args.default_constraints.iter().enumerate() {
        let at = format!("defaultConstraints[{i}]");
        if c.max_skew <= 0 {
            return Err(format!("{at}.maxSkew: Invalid value: {}: not in valid range", c.max_skew));
        }
        if c.topology_key.is_empty() {
            return Err(format!("{at}.topologyKey: Required value: can not be empty"));
        }
        if c.when_unsatisfiable != DO_NOT_SCHEDULE && c.when_unsatisfiable != SCHEDULE_ANYWAY {
            return Err(format!("{at}.whenUnsatisfiable: Unsupported value: {:?}", c.when_unsatisfiable));
        }
        if c.label_selector.is_some() {
            return Err(format!(
                "{at}.labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod"
            ));
        }
        if c.min_domains.is_some_and(|m| m <= 0) {
            return Err(format!("{at}.minDomains: Invalid value: must be greater than 0"));
        }
        if !seen.insert((c.topology_key.clone(), c.when_unsatisfiable.clone())) {
            return Err(format!("{at}: Duplicate value: {{{:?}, {:?}}}", c.topology_key, c.when_unsatisfiable));
        }
    }
    Ok(system)
}

impl PodTopologySpread {
    /// The plugin with upstream's defaults (system default constraints).
    pub fn new() -> Self {
        Self {
            defaults: system_default_constraints().into(),
            system_defaulted: true,
            memo: Arc::new(MemoCache::new(MEMO_ENTRIES)),
        }
    }

    /// Builds the plugin from `PodTopologySpreadArgs`.
    ///
    /// # Errors
    /// Invalid arguments (as upstream's validation).
    pub fn from_args(args: Option<&serde_json::Value>) -> Result<Self, PluginError> {
        let args: Args = match args {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| PluginError::args(NAME, e.to_string()))?,
            None => Args::default(),
        };
        let system = validate(&args).map_err(|e| PluginError::args(NAME, e))?;
        if system {
            return Ok(Self::new());
        }
        Ok(Self {
            defaults: args.default_constraints.into(),
            system_defaulted: false,
            memo: Arc::new(MemoCache::new(MEMO_ENTRIES)),
        })
    }

    fn hard_constraints(&self, pod: &PodInfo) -> Result<Vec<Constraint>, String> {
        constraints_for(pod, &self.defaults, DO_NOT_SCHEDULE)
    }

    fn soft_constraints(&self, pod: &PodInfo) -> Result<Vec<Constraint>, String> {
        constraints_for(pod, &self.defaults, SCHEDULE_ANYWAY)
    }
}

impl Default for PodTopologySpread {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the plugin from its arguments.
///
/// # Errors
/// Invalid arguments.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let p = PodTopologySpread::from_args(args)?;
    Ok(PluginHandle::of(p).pre_filter().filter().pre_score().score().build())
}

fn as_pod(o: Option<&ClusterObject>) -> Option<&PodInfo> {
    match o {
        Some(ClusterObject::Pod(p)) => Some(p),
        _ => None,
    }
}

fn as_node(o: Option<&ClusterObject>) -> Option<&NodeInfo> {
    match o {
        Some(ClusterObject::Node(n)) => Some(n),
        _ => None,
    }
}

/// Upstream `isSchedulableAfterPodChange`.
fn pod_hint(
    defaults: &[TopologySpreadConstraint],
    pod: &PodInfo,
    old: Option<&ClusterObject>,
    new: Option<&ClusterObject>,
) -> QueueingHint {
    let (old, new) = (as_pod(old), as_pod(new));
    let involved = |p: &PodInfo| p.uid == pod.uid || (p.node_name.is_some() && p.namespace == pod.namespace);
    if new.is_some_and(|p| !involved(p)) || old.is_some_and(|p| !involved(p)) {
        return QueueingHint::Skip;
    }
    let Ok(constraints) = constraints_for(pod, defaults, DO_NOT_SCHEDULE) else { return QueueingHint::Queue };
    let queue_if = |b: bool| if b { QueueingHint::Queue } else { QueueingHint::Skip };
    match (old, new) {
        (Some(o), Some(n)) => {
            if pod.uid == n.uid && o.tolerations != n.tolerations && constraints.iter().any(|c| c.honor_node_taints) {
                return QueueingHint::Queue;
            }
            if o.labels == n.labels {
                return QueueingHint::Skip;
            }
            queue_if(constraints.iter().any(|c| c.selects(o) != c.selects(n)))
        }
        (None, Some(p)) | (Some(p), None) => queue_if(constraints.iter().any(|c| c.selects(p))),
        (None, None) => QueueingHint::Queue,
    }
}

/// Upstream `isSchedulableAfterNodeChange`.
fn node_hint(
    defaults: &[TopologySpreadConstraint],
    pod: &PodInfo,
    old: Option<&ClusterObject>,
    new: Option<&ClusterObject>,
) -> QueueingHint {
    let Ok(constraints) = constraints_for(pod, defaults, DO_NOT_SCHEDULE) else { return QueueingHint::Queue };
    let queue_if = |b: bool| if b { QueueingHint::Queue } else { QueueingHint::Skip };
    match (as_node(old), as_node(new)) {
        (Some(o), Some(n)) => {
            let (om, nm) = (node_has_all_keys(o, &constraints), node_has_all_keys(n, &constraints));
            if om != nm {
                return QueueingHint::Queue;
            }
            let keys_changed =
                constraints.iter().any(|c| o.labels.get(&c.topology_key) != n.labels.get(&c.topology_key));
            queue_if(nm && (keys_changed || o.taints != n.taints))
        }
        (None, Some(n)) => queue_if(node_has_all_keys(n, &constraints)),
        (Some(o), None) => queue_if(node_has_all_keys(o, &constraints)),
        (None, None) => QueueingHint::Queue,
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        let (d1, d2) = (Arc::clone(&self.defaults), Arc::clone(&self.defaults));
        Some(vec![
            ClusterEventWithHint::with_hint(
                EventResource::AssignedPod,
                ActionType::ADD.or(ActionType::UPDATE_POD_LABEL).or(ActionType::DELETE),
                move |pod, old, new| pod_hint(&d1, pod, old, new),
            ),
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD
                    .or(ActionType::DELETE)
                    .or(ActionType::UPDATE_NODE_LABEL)
                    .or(ActionType::UPDATE_NODE_TAINT),
                move |pod, old, new| node_hint(&d2, pod, old, new),
            ),
        ])
    }
}
