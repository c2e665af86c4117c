//! PreScore, Score and NormalizeScore (preferred terms and existing pods' terms).

use std::collections::BTreeMap;

use super::InterPodAffinity;
use super::counts::{PairSink, ResolvedTerm, TopologyCounts};
use super::filter::MEMO_MIN_NODES;
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeScore, PreScorePlugin, ScorePlugin, Snapshot, Status};
use crate::types::{NodeInfo, PodInfo};

/// What PreScore computed: the score of each topology pair.
#[derive(Debug, Clone)]
pub(super) struct PreScoreState {
    scores: TopologyCounts,
}

/// The incoming pod's side of scoring, fixed for the cycle.
struct Incoming<'p> {
    pod: &'p PodInfo,
    ns_labels: Option<&'p BTreeMap<String, String>>,
    affinity: Vec<(i64, ResolvedTerm)>,
    anti: Vec<(i64, ResolvedTerm)>,
    hard_weight: i64,
    all_pods: bool,
}

impl Incoming<'_> {
    /// Upstream `processExistingPod` for every pod to process on `node`.
    fn process_node(&self, node: &NodeInfo, out: &mut PairSink<'_>) {
        if node.labels.is_empty() {
            return;
        }
        let pods = if self.all_pods { &node.pods } else { &node.pods_with_affinity };
        for existing in pods {
            for (w, t) in &self.affinity {
                if t.matches(existing) {
                    out.add(0, node, &t.topology_key, *w);
                }
            }
            for (w, t) in &self.anti {
                if t.matches(existing) {
                    out.add(0, node, &t.topology_key, -*w);
                }
            }
            if self.hard_weight > 0 {
                for t in &existing.required_affinity {
                    if t.matches(self.pod, self.ns_labels) {
                        out.add(0, node, &t.topology_key, self.hard_weight);
                    }
                }
            }
            for wt in &existing.preferred_affinity {
                if wt.term.matches(self.pod, self.ns_labels) {
                    out.add(0, node, &wt.term.topology_key, i64::from(wt.weight));
                }
            }
            for wt in &existing.preferred_anti_affinity {
                if wt.term.matches(self.pod, self.ns_labels) {
                    out.add(0, node, &wt.term.topology_key, -i64::from(wt.weight));
                }
            }
        }
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        let has_constraints = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Status::skip();
        }
        let ns_map = &snapshot.cluster.namespace_labels;
        let resolve = |terms: &[crate::types::WeightedAffinityTerm]| {
            terms.iter().map(|w| (i64::from(w.weight), ResolvedTerm::new(&w.term, ns_map))).collect()
        };
        let incoming = Incoming {
            pod,
            ns_labels: ns_map.get(&pod.namespace),
            affinity: resolve(&pod.preferred_affinity),
            anti: resolve(&pod.preferred_anti_affinity),
            hard_weight: i64::from(self.hard_pod_affinity_weight),
            all_pods: has_constraints,
        };
        // Unless the pod has preferred terms, only pods with affinity matter.
        let few = !has_constraints && snapshot.nodes_with_affinity().count() < MEMO_MIN_NODES;
        let scores = if few {
            let mut scores = [TopologyCounts::default()];
            for node in snapshot.nodes_with_affinity() {
                PairSink::direct(&mut scores, |sink| incoming.process_node(node, sink));
            }
            let [scores] = scores;
            scores
        } else {
            let key = format!(
                "{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{}",
                pod.namespace,
                pod.labels,
                incoming.ns_labels,
                incoming.affinity,
                incoming.anti,
                incoming.hard_weight,
                incoming.all_pods
            );
            self.memo.score.with(&key, |m| {
                m.refresh(1, snapshot.nodes(), |node, sink| incoming.process_node(node, sink))[0].clone()
            })
        };
        if scores.is_untouched() {
            return Status::skip();
        }
        state.insert(PreScoreState { scores });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        match state.get::<PreScoreState>() {
            Some(s) => (s.scores.sum_on(node), Status::success()),
            None => (0, Status::error("failed to read PreScoreInterPodAffinity from cycleState: not found")),
        }
    }

    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore<'_>]) -> Status {
        let Some(s) = state.get::<PreScoreState>() else {
            return Status::error("failed to read PreScoreInterPodAffinity from cycleState: not found");
        };
        if s.scores.is_untouched() {
            return Status::success();
        }
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for n in scores.iter() {
            min = min.min(n.score);
            max = max.max(n.score);
        }
        let diff = max.saturating_sub(min);
        for n in scores.iter_mut() {
            // Upstream computes in float64 and truncates: 100 × (29 / 50) gives 57, not 58.
            let f = if diff > 0 { MAX_NODE_SCORE as f64 * ((n.score - min) as f64 / diff as f64) } else { 0.0 };
            n.score = f as i64;
        }
        Status::success()
    }
}
