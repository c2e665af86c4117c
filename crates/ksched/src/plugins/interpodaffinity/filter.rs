//! PreFilter, Filter and the AddPod/RemovePod extensions (required terms).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::InterPodAffinity;
use super::counts::{PairSink, ResolvedTerm, TopologyCounts, matches_all};
use crate::framework::status::fixed;
use crate::framework::{
    CycleState, FilterPlugin, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Snapshot, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// Filter rejection: an existing pod's required anti-affinity matches the pod.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// Filter rejection: the pod's required affinity is not satisfied.
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// Filter rejection: the pod's required anti-affinity is not satisfied.
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";

/// Below this many nodes with pods of a kind, they are counted directly each cycle; from
/// it on, through the memo (which walks every node once per cycle, but counts only the
/// changed ones).
pub(super) const MEMO_MIN_NODES: usize = 256;

/// What PreFilter computed, read by Filter and kept current by AddPod/RemovePod.
#[derive(Debug, Clone)]
pub(super) struct PreFilterState {
    /// Existing pods whose required anti-affinity terms match the incoming pod.
    existing_anti: TopologyCounts,
    /// Existing pods matching all of the incoming pod's required affinity terms.
    affinity: TopologyCounts,
    /// Existing pods matching the incoming pod's required anti-affinity terms.
    anti: TopologyCounts,
    affinity_terms: Arc<[ResolvedTerm]>,
    anti_terms: Arc<[ResolvedTerm]>,
    /// The incoming pod matches all its own affinity terms.
    self_match: bool,
    /// The incoming pod's namespace labels.
    ns_labels: Option<Arc<BTreeMap<String, String>>>,
}

impl PreFilterState {
    /// Upstream `updateWithPod`: `delta` = ±1 for `updated` on `node`.
    fn update_with_pod(&mut self, incoming: &PodInfo, updated: &PodInfo, node: &NodeInfo, delta: i64) {
        for t in &updated.required_anti_affinity {
            if t.matches(incoming, self.ns_labels.as_deref()) {
                self.existing_anti.update(node, &t.topology_key, delta);
            }
        }
        if matches_all(&self.affinity_terms, updated) {
            for t in self.affinity_terms.iter() {
                self.affinity.update(node, &t.topology_key, delta);
            }
        }
        for t in self.anti_terms.iter() {
            if t.matches(updated) {
                self.anti.update(node, &t.topology_key, delta);
            }
        }
    }

    fn satisfies_affinity(&self, node: &NodeInfo) -> bool {
        let mut pods_exist = true;
        for t in self.affinity_terms.iter() {
            let Some(value) = node.labels.get(&t.topology_key) else { return false };
            if self.affinity.get(&t.topology_key, value) <= 0 {
                pods_exist = false;
            }
        }
        // The first pod of a group with affinity to itself: no pod matches anywhere, and
        // the pod matches its own terms.
        pods_exist || (self.affinity.is_empty() && self.self_match)
    }

    fn satisfies_anti_affinity(&self, node: &NodeInfo) -> bool {
        self.anti.is_empty()
            || !self
                .anti_terms
                .iter()
                .any(|t| node.labels.get(&t.topology_key).is_some_and(|v| self.anti.get(&t.topology_key, v) > 0))
    }
}

/// The incoming pod's affinity (slot 0) and anti-affinity (slot 1) counts on `node`.
fn count_incoming(affinity: &[ResolvedTerm], anti: &[ResolvedTerm], node: &NodeInfo, sink: &mut PairSink<'_>) {
    for p in &node.pods {
        if matches_all(affinity, p) {
            for t in affinity {
                sink.add(0, node, &t.topology_key, 1);
            }
        }
        for t in anti {
            if t.matches(p) {
                sink.add(1, node, &t.topology_key, 1);
            }
        }
    }
}

/// The required anti-affinity terms of `node`'s pods that match the incoming pod.
fn count_existing_anti(
    pod: &PodInfo,
    ns_labels: Option<&BTreeMap<String, String>>,
    node: &NodeInfo,
    sink: &mut PairSink<'_>,
) {
    for p in &node.pods_with_required_anti_affinity {
        for t in &p.required_anti_affinity {
            if t.matches(pod, ns_labels) {
                sink.add(0, node, &t.topology_key, 1);
            }
        }
    }
}

impl InterPodAffinity {
    fn existing_anti_counts(
        &self,
        pod: &PodInfo,
        ns_labels: Option<&BTreeMap<String, String>>,
        snapshot: &Snapshot,
    ) -> TopologyCounts {
        if snapshot.nodes_with_required_anti_affinity().count() < MEMO_MIN_NODES {
            let mut counts = [TopologyCounts::default()];
            for node in snapshot.nodes_with_required_anti_affinity() {
                PairSink::direct(&mut counts, |sink| count_existing_anti(pod, ns_labels, node, sink));
            }
            let [counts] = counts;
            return counts;
        }
        let key = format!("{}\u{0}{:?}\u{0}{ns_labels:?}", pod.namespace, pod.labels);
        self.memo.existing.with(&key, |m| {
            m.refresh(1, snapshot.nodes(), |node, sink| count_existing_anti(pod, ns_labels, node, sink))[0].clone()
        })
    }

    fn incoming_counts(
        &self,
        affinity: &[ResolvedTerm],
        anti: &[ResolvedTerm],
        snapshot: &Snapshot,
    ) -> (TopologyCounts, TopologyCounts) {
        let key = format!("{affinity:?}\u{0}{anti:?}");
        self.memo.incoming.with(&key, |m| {
            let t = m.refresh(2, snapshot.nodes(), |node, sink| count_incoming(affinity, anti, node, sink));
            (t[0].clone(), t[1].clone())
        })
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status) {
        let ns_map = &snapshot.cluster.namespace_labels;
        let ns_labels = ns_map.get(&pod.namespace);
        let existing_anti = self.existing_anti_counts(pod, ns_labels, snapshot);
        if existing_anti.is_empty() && pod.required_affinity.is_empty() && pod.required_anti_affinity.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }

        let affinity_terms: Vec<ResolvedTerm> =
            pod.required_affinity.iter().map(|t| ResolvedTerm::new(t, ns_map)).collect();
        let anti_terms: Vec<ResolvedTerm> =
            pod.required_anti_affinity.iter().map(|t| ResolvedTerm::new(t, ns_map)).collect();
        let (affinity, anti) = if affinity_terms.is_empty() && anti_terms.is_empty() {
            (TopologyCounts::default(), TopologyCounts::default())
        } else {
            self.incoming_counts(&affinity_terms, &anti_terms, snapshot)
        };
        let self_match = matches_all(&affinity_terms, pod);
        state.insert(PreFilterState {
            existing_anti,
            affinity,
            anti,
            affinity_terms: affinity_terms.into(),
            anti_terms: anti_terms.into(),
            self_match,
            ns_labels: ns_labels.map(|l| Arc::new(l.clone())),
        });
        (PreFilterResult::default(), Status::success())
    }

    fn extensions(&self) -> Option<&dyn PreFilterExtensions> {
        Some(self)
    }
}

impl PreFilterExtensions for InterPodAffinity {
    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, pod_to_add: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>() {
            s.update_with_pod(pod, pod_to_add, node, 1);
        }
        Status::success()
    }

    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.get_mut::<PreFilterState>() {
            s.update_with_pod(pod, pod_to_remove, node, -1);
        }
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.get::<PreFilterState>() else {
            return Status::error("error reading PreFilterInterPodAffinity from cycleState: not found");
        };
        if !s.satisfies_affinity(node) {
            return fixed!(super::NAME, UnschedulableAndUnresolvable, ERR_REASON_AFFINITY_RULES_NOT_MATCH);
        }
        if !s.satisfies_anti_affinity(node) {
            return fixed!(super::NAME, Unschedulable, ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        if !s.existing_anti.is_empty() && s.existing_anti.any_positive_on(node) {
            return fixed!(super::NAME, Unschedulable, ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        Status::success()
    }
}
