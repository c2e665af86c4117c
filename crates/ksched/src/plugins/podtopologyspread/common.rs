//! Constraints as the plugin uses them (selector parsed, defaults applied), node inclusion
//! (node affinity and taint policies) and pod counting, shared by filtering and scoring.

use kapi::k8s::api::core::v1::TopologySpreadConstraint;
use kapi::labels::Selector;

pub(super) use crate::plugins::helper::RequiredNodeAffinity;
use crate::plugins::helper::{find_untolerated_taint, is_do_not_schedule_taint};
use crate::types::{NodeInfo, PodInfo};

/// `kubernetes.io/hostname`: constraints on it are counted per node when scoring.
pub(super) const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// `topology.kubernetes.io/zone`.
pub(super) const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// `whenUnsatisfiable: DoNotSchedule` (filtering).
pub(super) const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
/// `whenUnsatisfiable: ScheduleAnyway` (scoring).
pub(super) const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";

/// Which pods a constraint counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SpreadSelector {
    /// The constraint's label selector (with `matchLabelKeys` merged in).
    Labels(Selector),
    /// Default constraints: the pods controlled by the same ReplicaSet, StatefulSet or
    /// ReplicationController (by controller UID). Upstream derives a label selector from
    /// the Services and controllers selecting the pod; without those listers the controller
    /// reference stands in for it.
    Controller(String),
}

/// A topology spread constraint as the plugin uses it.
#[derive(Debug, Clone)]
pub(super) struct Constraint {
    pub(super) max_skew: i32,
    pub(super) topology_key: String,
    pub(super) selector: SpreadSelector,
    pub(super) min_domains: i32,
    /// `nodeAffinityPolicy: Honor` (the default).
    pub(super) honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (default Ignore).
    pub(super) honor_node_taints: bool,
}

impl Constraint {
    /// Whether `pod` is selected (upstream `Selector.Matches(pod.Labels)`).
    pub(super) fn selects(&self, pod: &PodInfo) -> bool {
        match &self.selector {
            SpreadSelector::Labels(s) => s.matches(&pod.labels),
            SpreadSelector::Controller(uid) => controller_uid(pod) == Some(uid.as_str()),
        }
    }

    /// Matching pods on `node` in namespace `ns`, terminating pods left out. As upstream, an
    /// empty selector (`{}`) counts nothing.
    pub(super) fn count_on(&self, node: &NodeInfo, ns: &str) -> i64 {
        if matches!(&self.selector, SpreadSelector::Labels(s) if s.is_everything()) {
            return 0;
        }
        let mut n = 0;
        for p in &node.pods {
            if p.namespace == ns && p.pod.metadata.deletion_timestamp.is_none() && self.selects(p) {
                n += 1;
            }
        }
        n
    }

    /// Whether the node takes part in this constraint's counting (inclusion policies);
    /// `affinity` is the (lazily computed) result of the pod's node affinity on the node.
    pub(super) fn includes(&self, pod: &PodInfo, node: &NodeInfo, affinity: &mut NodeAffinityCheck<'_>) -> bool {
        if self.honor_node_affinity && !affinity.matches(node) {
            return false;
        }
        !(self.honor_node_taints && has_untolerated_do_not_schedule_taint(pod, node))
    }
}

/// The UID of the pod's controller when it is a ReplicaSet, StatefulSet or
/// ReplicationController (the owners upstream's default selector is built from).
pub(super) fn controller_uid(pod: &PodInfo) -> Option<&str> {
    pod.pod.metadata.owner_references.iter().flatten().find_map(|r| {
        (r.controller == Some(true)
            && matches!(r.kind.as_str(), "ReplicaSet" | "StatefulSet" | "ReplicationController"))
        .then_some(r.uid.as_str())
    })
}

/// Whether the node has every constraint's topology key.
pub(super) fn node_has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| node.labels.contains_key(&c.topology_key))
}

/// Parses the constraints of `action` (upstream `filterTopologySpreadConstraints`).
pub(super) fn parse_constraints(
    list: &[TopologySpreadConstraint],
    pod: &PodInfo,
    action: &str,
) -> Result<Vec<Constraint>, String> {
    let mut out = Vec::new();
    for c in list.iter().filter(|c| c.when_unsatisfiable == action) {
        let mut selector = Selector::from_label_selector(c.label_selector.as_ref()).map_err(|e| e.to_string())?;
        let keys: Vec<(&str, &str)> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| pod.labels.get(k).map(|v| (k.as_str(), v.as_str())))
            .collect();
        if !keys.is_empty() && !selector.matches_nothing() {
            let mut merged = Selector::from_set(keys).map_err(|e| e.to_string())?;
            for r in selector.requirements() {
                merged = merged.and(r.clone());
            }
            selector = merged;
        }
        out.push(Constraint {
            max_skew: c.max_skew,
            topology_key: c.topology_key.clone(),
            selector: SpreadSelector::Labels(selector),
            min_domains: c.min_domains.unwrap_or(1),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        });
    }
    Ok(out)
}

/// The constraints of `action` for `pod`: its own, or the default ones (selecting the pods
/// of the same controller) when it has none.
pub(super) fn constraints_for(
    pod: &PodInfo,
    defaults: &[TopologySpreadConstraint],
    action: &str,
) -> Result<Vec<Constraint>, String> {
    if !pod.spread_constraints.is_empty() {
        return parse_constraints(&pod.spread_constraints, pod, action);
    }
    let mut constraints = parse_constraints(defaults, pod, action)?;
    if constraints.is_empty() {
        return Ok(constraints);
    }
    let Some(uid) = controller_uid(pod) else { return Ok(Vec::new()) };
    for c in &mut constraints {
        c.selector = SpreadSelector::Controller(uid.to_owned());
    }
    Ok(constraints)
}

/// Whether a NoSchedule/NoExecute taint of the node is not tolerated by the pod.
pub(super) fn has_untolerated_do_not_schedule_taint(pod: &PodInfo, node: &NodeInfo) -> bool {
    find_untolerated_taint(&node.taints, &pod.tolerations, is_do_not_schedule_taint).is_some()
}

/// The pod's node affinity result for one node, computed at most once.
#[derive(Debug)]
pub(super) struct NodeAffinityCheck<'a> {
    affinity: &'a RequiredNodeAffinity,
    result: Option<bool>,
}

impl<'a> NodeAffinityCheck<'a> {
    /// A fresh check for one node.
    pub(super) fn new(affinity: &'a RequiredNodeAffinity) -> Self {
        Self { affinity, result: affinity.is_empty().then_some(true) }
    }

    fn matches(&mut self, node: &NodeInfo) -> bool {
        *self.result.get_or_insert_with(|| self.affinity.matches(node))
    }
}
