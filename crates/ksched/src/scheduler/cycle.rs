//! One scheduling cycle for one pod (upstream `schedulePod`): PreFilter, Filter over a
//! sample of the nodes in parallel, PreScore, Score, and the choice of a node.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use rayon::prelude::*;

use crate::framework::{CycleState, NodeStatuses, Profile, Snapshot, Status};
use crate::queue::NominationsBySlot;
use crate::types::{NodeInfo, PodInfo};

/// Below this many nodes, all are evaluated (upstream `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (`minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

/// How many feasible nodes to look for among `num_all` (upstream
/// `numFeasibleNodesToFind`): all below 100 nodes; else `percentage` (0 = adaptive:
/// `max(5, 50 − n/125)`) of them, at least 100.
pub fn num_feasible_nodes_to_find(percentage: u32, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all;
    }
    let pct = if percentage == 0 {
        (50usize.saturating_sub(num_all / 125)).max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        percentage as usize
    };
    if pct >= 100 {
        return num_all;
    }
    (num_all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why no node fits.
#[derive(Debug, Clone)]
pub struct FitError {
    /// Number of nodes in the snapshot.
    pub num_nodes: usize,
    /// Per node, why it was rejected.
    pub statuses: NodeStatuses,
    /// A PreFilter rejection (no node was filtered then).
    pub pre_filter: Option<Status>,
}

impl FitError {
    /// Upstream's message: `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had
    /// untolerated taint {a: b}.` (reasons counted and sorted).
    pub fn message(&self) -> String {
        if let Some(s) = &self.pre_filter {
            return format!("0/{} nodes are available: {}.", self.num_nodes, s);
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        // Most nodes give the same status: count runs, and touch the map once per run.
        let mut run: Option<(&Status, usize)> = None;
        fn flush<'a>(counts: &mut BTreeMap<&'a str, usize>, last: &'a Status, n: usize) {
            for r in last.reasons() {
                *counts.entry(r.as_ref()).or_default() += n;
            }
        }
        for s in self.statuses.values() {
            match &mut run {
                Some((last, n)) if last.same_fixed(s) || last.reasons() == s.reasons() => *n += 1,
                _ => {
                    if let Some((last, n)) = run.replace((s, 1)) {
                        flush(&mut counts, last, n);
                    }
                }
            }
        }
        if let Some((last, n)) = run {
            flush(&mut counts, last, n);
        }
        let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.sort();
        format!("0/{} nodes are available: {}.", self.num_nodes, parts.join(", "))
    }

    /// Plugins that rejected the pod (for queueing hints).
    pub fn rejecting_plugins(&self) -> Vec<&'static str> {
        // A few plugins among thousands of statuses: no sort of them all.
        let mut out: Vec<&'static str> = Vec::new();
        for p in self.statuses.values().chain(self.pre_filter.iter()).filter_map(Status::plugin) {
            if out.last() != Some(&p) && !out.contains(&p) {
                out.push(p);
            }
        }
        out.sort_unstable();
        out
    }
}

/// The outcome of a cycle that found a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    /// The chosen node.
    pub node: String,
    /// Nodes evaluated by Filter.
    pub evaluated: usize,
    /// Nodes that passed.
    pub feasible: usize,
}

/// What a cycle needs besides the pod.
pub struct CycleContext<'a> {
    /// The profile.
    pub profile: &'a Profile,
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// `percentageOfNodesToScore` (0 = adaptive).
    pub percentage: u32,
    /// Pods nominated to a node (preemptors waiting for victims to go), by the node's
    /// position in the snapshot.
    pub nominated: &'a NominationsBySlot,
    /// The node this pod was nominated to by an earlier preemption, tried first.
    pub nominated_node: Option<&'a str>,
}

/// What [`filter_node`] needs besides the node, the same for every node of a cycle.
#[derive(Clone, Copy)]
struct NodeCheck<'a> {
    ctx: &'a CycleContext<'a>,
    state: &'a CycleState,
    pod: &'a PodInfo,
    /// The position of the pod's own nominated node (`u32::MAX`: none).
    own: u32,
    /// Whether PreFilter extensions (AddPod) run for nominated pods.
    extensions: bool,
}

impl<'a> NodeCheck<'a> {
    fn new(ctx: &'a CycleContext<'a>, state: &'a CycleState, pod: &'a PodInfo) -> Self {
        let own = ctx.nominated_node.and_then(|n| ctx.snapshot.get(n)).map_or(u32::MAX, |n| n.slot);
        let extensions = !ctx.nominated.is_empty() && ctx.profile.has_pre_filter_extensions(state);
        Self { ctx, state, pod, own, extensions }
    }
}

fn filter_node(check: NodeCheck<'_>, node: &Arc<NodeInfo>) -> Status {
    let NodeCheck { ctx, state, pod, own, extensions } = check;
    // Upstream runs the filters with nominated pods of at least this priority counted, then
    // without; both must pass. Without first: a node that fails then fails anyway, and
    // needs no copy with the nominated pods added.
    let plain = ctx.profile.run_filters(state, pod, node);
    if !plain.is_success() || ctx.nominated.is_empty() {
        return plain;
    }
    let Some(nominated) = ctx.nominated.get(node.slot) else { return plain };
    if nominated.none_counts(pod.priority) {
        return plain;
    }
    // The pod itself can only be among the nominated pods of its own nominated node.
    let own = node.slot == own;
    if !extensions {
        return match nominated.node_with(node, pod, own) {
            Some(with) => ctx.profile.run_filters_with_added_pods(state, pod, &with),
            None => plain,
        };
    }
    let nominated = nominated.entry();
    let counted = || (0..nominated.pods().len()).filter(|i| nominated.counts(*i, pod, own));
    if counted().next().is_none() {
        return plain;
    }
    // PreFilter extensions update a copy of the state for each pod added.
    let mut with = NodeInfo::clone(node);
    let mut copy = state.clone();
    for i in counted() {
        let p = &nominated.pods()[i];
        with.add_pod(Arc::clone(p));
        let s = ctx.profile.run_add_pod(&mut copy, pod, p, &with);
        if !s.is_success() {
            return s;
        }
    }
    ctx.profile.run_filters(&copy, pod, &with)
}

/// Filters nodes from `start` (round robin) until `want` fit; returns the feasible nodes
/// (in evaluation order), the statuses of the rejected ones, and how many were evaluated.
pub fn find_feasible<'a>(
    ctx: &CycleContext<'_>,
    state: &CycleState,
    pod: &PodInfo,
    candidates: &'a [Arc<NodeInfo>],
    start: usize,
    want: usize,
) -> (Vec<&'a NodeInfo>, NodeStatuses, usize) {
    let n = candidates.len();
    let mut feasible = Vec::new();
    let mut statuses = NodeStatuses::default();
    if n == 0 {
        return (feasible, statuses, 0);
    }
    // Evaluate in parallel batches; stop once enough nodes fit. Within a batch, results
    // are taken in order, so the outcome does not depend on thread timing.
    let node_check = NodeCheck::new(ctx, state, pod);
    let mut batch = want.clamp(16, 2048);
    let mut evaluated = 0;
    while evaluated < n && feasible.len() < want {
        let end = (evaluated + batch).min(n);
        // The position comes back with the status: reading it from the node again here
        // would fetch the node's line from the core that checked it.
        let check = |i: usize| {
            let node = &candidates[(start + i) % n];
            (i, node.slot, filter_node(node_check, node))
        };
        let results: Vec<(usize, u32, Status)> = if end - evaluated >= crate::framework::profile::PARALLEL_MIN_NODES {
            (evaluated..end).into_par_iter().with_min_len(64).map(check).collect()
        } else {
            (evaluated..end).map(check).collect()
        };
        // Mostly rejections: the rest of the nodes likely reject too (a pod that fits
        // nowhere); room for all of them at once rather than growing the map step by step.
        let rejected = results.iter().filter(|(_, _, s)| !s.is_success()).count();
        if rejected * 2 > results.len() {
            statuses.reserve_slots(n);
        }
        for (i, slot, s) in results {
            evaluated = i + 1;
            if s.is_success() {
                feasible.push(&*candidates[(start + i) % n]);
                if feasible.len() == want {
                    break;
                }
            } else {
                statuses.insert_at(slot, &candidates[(start + i) % n], s);
            }
        }
        // The next batch: as many nodes as the rate of fits so far says are still needed
        // (a quarter more); all the rest when none fit yet (a pod that fits nowhere is
        // checked against every node, in as few parallel batches as possible).
        let rest = n - evaluated;
        let needed = match feasible.len() {
            0 => rest,
            found => want.saturating_sub(found).saturating_mul(evaluated) / found * 5 / 4,
        };
        batch = needed.max(batch).min(rest.max(1));
    }
    (feasible, statuses, evaluated)
}

/// Runs one scheduling cycle. `next_start` is the round-robin position, advanced by the
/// number of nodes evaluated.
///
/// # Errors
/// [`FitError`] when no node fits (the caller may run PostFilter), or a plugin's Error
/// status as a `FitError` with that status in `pre_filter`.
pub fn schedule_pod(
    ctx: &CycleContext<'_>,
    state: &mut CycleState,
    pod: &PodInfo,
    next_start: &mut usize,
) -> Result<ScheduleResult, FitError> {
    let snapshot = ctx.snapshot;
    let all = snapshot.nodes();
    let fit_error = |statuses, pre_filter| FitError { num_nodes: all.len(), statuses, pre_filter };
    if all.is_empty() {
        return Err(fit_error(
            NodeStatuses::default(),
            Some(Status::unresolvable("no nodes available to schedule pods")),
        ));
    }
    let (pre, status) = ctx.profile.run_pre_filter(state, pod, snapshot);
    if !status.is_success() {
        return Err(fit_error(NodeStatuses::default(), Some(status)));
    }
    // A nominated node (from an earlier preemption) is tried first.
    let from_status = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref());
    if let Some(node) = ctx.nominated_node.or(from_status).and_then(|n| snapshot.get(n)) {
        if filter_node(NodeCheck::new(ctx, state, pod), node).is_success() {
            return Ok(ScheduleResult { node: node.name.clone(), evaluated: 1, feasible: 1 });
        }
    }
    let restricted: Vec<Arc<NodeInfo>>;
    let candidates: &[Arc<NodeInfo>] = match &pre.node_names {
        Some(names) => {
            restricted = names.iter().filter_map(|n| snapshot.get(n).cloned()).collect();
            &restricted
        }
        None => all,
    };
    let want = num_feasible_nodes_to_find(ctx.percentage, candidates.len());
    let start = if pre.node_names.is_some() { 0 } else { *next_start % all.len() };
    let (feasible, statuses, evaluated) = find_feasible(ctx, state, pod, candidates, start, want);
    if pre.node_names.is_none() {
        *next_start = (start + evaluated) % all.len();
    }
    if let Some(err) = statuses.values().find(|s| s.code() == crate::framework::Code::Error) {
        return Err(fit_error(NodeStatuses::default(), Some(err.clone())));
    }
    if feasible.is_empty() {
        return Err(fit_error(statuses, None));
    }
    if feasible.len() == 1 {
        return Ok(ScheduleResult { node: feasible[0].name.clone(), evaluated, feasible: 1 });
    }
    let s = ctx.profile.run_pre_score(state, pod, &feasible, snapshot);
    if !s.is_success() {
        return Err(fit_error(NodeStatuses::default(), Some(s)));
    }
    let totals =
        ctx.profile.run_score(state, pod, &feasible).map_err(|s| fit_error(NodeStatuses::default(), Some(s)))?;
    Ok(ScheduleResult { node: select_host(&feasible, &totals), evaluated, feasible: feasible.len() })
}

/// The highest-scoring node; ties are broken uniformly at random (reservoir sampling, as
/// upstream's `selectHost`).
pub fn select_host(nodes: &[&NodeInfo], totals: &[i64]) -> String {
    let mut rng = rand::rng();
    let mut best = 0;
    let mut ties = 1u32;
    for i in 1..nodes.len() {
        if totals[i] > totals[best] {
            best = i;
            ties = 1;
        } else if totals[i] == totals[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    nodes[best].name.clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::SchedulerConfig;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::json;

    fn small(name: &str) -> NodeInfo {
        node(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "110"}}}))
    }

    fn pending(name: &str, priority: i32, cpu: &str, extra: serde_json::Value) -> Arc<PodInfo> {
        let mut spec = json!({"priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        pod(json!({"metadata": {"name": name, "labels": {"app": name}}, "spec": spec}))
    }

    /// Names of the nodes `incoming` passes with `nominated` pods on `n1`.
    fn feasible_with(incoming: &Arc<PodInfo>, nominated: Vec<Arc<PodInfo>>) -> Vec<String> {
        let config = SchedulerConfig::default();
        let profiles = config.build_profiles(&crate::memory::registry()).unwrap();
        let snap = snapshot(vec![small("n1"), small("n2")], vec![]);
        let noms = crate::queue::NominatedPods::from_pairs(vec![("n1", nominated)]);
        let noms = NominationsBySlot::of(&snap, &noms);
        let ctx = CycleContext {
            profile: &profiles[0],
            snapshot: &snap,
            percentage: 100,
            nominated: &noms,
            nominated_node: None,
        };
        let mut state = CycleState::new();
        let (_, s) = profiles[0].run_pre_filter(&mut state, incoming, &snap);
        assert!(s.is_success(), "{s}");
        let (feasible, _, _) = find_feasible(&ctx, &state, incoming, snap.nodes(), 0, 2);
        feasible.iter().map(|n| n.name.clone()).collect()
    }

    #[test]
    fn nominated_pods_of_at_least_the_pods_priority_take_their_room() {
        let nominated = pending("nom", 10, "800m", json!({}));
        // Lower or equal priority: the nominated pod's 800m count on n1.
        assert_eq!(feasible_with(&pending("low", 5, "500m", json!({})), vec![Arc::clone(&nominated)]), ["n2"]);
        assert_eq!(feasible_with(&pending("same", 10, "500m", json!({})), vec![Arc::clone(&nominated)]), ["n2"]);
        // Higher priority: it may take the room (and preempt the nomination).
        assert_eq!(feasible_with(&pending("high", 20, "500m", json!({})), vec![nominated]), ["n1", "n2"]);
    }

    #[test]
    fn nominated_pods_reach_prefilter_extensions() {
        // No resource conflict: only InterPodAffinity's AddPod sees the nominated pod.
        let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "nom"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
        let nominated = pending("nom", 10, "100m", json!({}));
        assert_eq!(feasible_with(&pending("p", 5, "100m", anti), vec![nominated]), ["n2"]);
    }

    #[test]
    fn feasible_node_counts_follow_upstream() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 99), 99);
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100);
        // 1000 nodes: 50 − 8 = 42% → 420
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 5000 nodes: 50 − 40 = 10% → 500
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // ≥ 5625 nodes: 5%
        assert_eq!(num_feasible_nodes_to_find(0, 10_000), 500);
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(100, 6000), 6000);
        assert_eq!(num_feasible_nodes_to_find(1, 6000), 100, "at least 100");
    }
}
