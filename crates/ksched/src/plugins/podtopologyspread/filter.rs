//! PreFilter, Filter and the AddPod/RemovePod extensions (DoNotSchedule constraints).
//!
//! PreFilter's counts cover every node of the snapshot. They are memoized across cycles
//! (see `plugins::memo`) per namespace, constraint set and, where the constraints honor
//! them, the pod's node affinity and tolerations: only nodes that changed since the last
//! pod with the same key are counted again.

use std::fmt::Write as _;
use std::sync::Arc;

use super::PodTopologySpread;
use super::common::{Constraint, NodeAffinityCheck, RequiredNodeAffinity, node_has_all_keys};
use crate::framework::status::fixed;
use crate::framework::{
    CycleState, FilterPlugin, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Snapshot, Status,
};
use crate::plugins::fasthash::FastMap;
use crate::plugins::memo::{NodeMemo, Tally};
use crate::types::{NodeInfo, PodInfo};

/// Filter rejection: the skew would be too large.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Filter rejection: the node lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// No domain (the critical paths' initial value); in a slot array, a node not seen yet.
const NO_DOMAIN: u32 = u32::MAX;
/// In a slot array: the node lacks the topology key.
const MISSING_KEY: u32 = u32::MAX - 1;

/// The two domains (by id) with the fewest matching pods, as upstream tracks them: `[0]`
/// always has the minimum; `[1]` is at least as large but not necessarily the second
/// minimum after AddPod/RemovePod updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CriticalPaths([(u32, i64); 2]);

impl CriticalPaths {
    pub(super) fn new() -> Self {
        Self([(NO_DOMAIN, i64::from(i32::MAX)), (NO_DOMAIN, i64::from(i32::MAX))])
    }

    /// Records that domain `id` now has `num` matching pods.
    pub(super) fn update(&mut self, id: u32, num: i64) {
        let p = &mut self.0;
        let at = if id == p[0].0 {
            Some(0)
        } else if id == p[1].0 {
            Some(1)
        } else {
            None
        };
        match at {
            Some(i) => {
                p[i].1 = num;
                if p[0].1 > p[1].1 {
                    p.swap(0, 1);
                }
            }
            None if num < p[0].1 => {
                p[1] = std::mem::replace(&mut p[0], (id, num));
            }
            None if num < p[1].1 => p[1] = (id, num),
            None => {}
        }
    }

    /// The minimum matching number.
    pub(super) fn min(&self) -> i64 {
        self.0[0].1
    }
}

/// Domain ids of one topology key: assigned on first sight, never reused.
type DomainIds = FastMap<String, u32>;

/// One constraint's totals over the eligible nodes, by domain id.
#[derive(Debug, Clone, Default)]
struct Totals {
    /// Shared with the PreFilter states handed out; copied only when a domain appears.
    ids: Arc<DomainIds>,
    /// Matching pods per domain.
    pods: Vec<i64>,
    /// Eligible nodes per domain: a domain exists while it has one.
    nodes: Vec<u32>,
}

impl Totals {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.pods.len()).unwrap_or(MISSING_KEY - 1);
        Arc::make_mut(&mut self.ids).insert(value.to_owned(), id);
        self.pods.push(0);
        self.nodes.push(0);
        id
    }
}

/// What one node contributes: per constraint, its domain and matching pods, or `None`
/// when the node does not take part (policies); empty when a topology key is missing.
type Contribution = Box<[Option<(u32, i64)>]>;

/// Per snapshot slot (see `NodeInfo::slot`), the domain id of the node's topology value,
/// [`MISSING_KEY`] or [`NO_DOMAIN`] (not seen): Filter reads it instead of the node's labels.
type SlotIds = Arc<Vec<u32>>;

/// The memoized counts of one key.
#[derive(Debug, Default)]
pub(super) struct SpreadMemo {
    nodes: NodeMemo<Contribution>,
    totals: Vec<Totals>,
    /// Per constraint.
    slot_ids: Vec<SlotIds>,
}

/// Counts the pods of one node for the constraints of `pod`.
struct SpreadTally<'a> {
    pod: &'a PodInfo,
    constraints: &'a [Constraint],
    affinity: &'a RequiredNodeAffinity,
    totals: &'a mut Vec<Totals>,
    slot_ids: &'a mut [SlotIds],
}

impl Tally for SpreadTally<'_> {
    type Value = Contribution;

    fn compute(&mut self, node: &NodeInfo) -> Contribution {
        let slot = node.slot as usize;
        for ((c, totals), ids) in self.constraints.iter().zip(self.totals.iter_mut()).zip(self.slot_ids.iter_mut()) {
            if slot < ids.len() {
                let id = node.labels.get(&c.topology_key).map_or(MISSING_KEY, |v| totals.intern(v));
                Arc::make_mut(ids)[slot] = id;
            }
        }
        if !node_has_all_keys(node, self.constraints) {
            return Box::new([]);
        }
        let mut check = NodeAffinityCheck::new(self.affinity);
        let mut out = Vec::with_capacity(self.constraints.len());
        for (c, totals) in self.constraints.iter().zip(self.totals.iter_mut()) {
            let value = node.labels.get(&c.topology_key).filter(|_| c.includes(self.pod, node, &mut check));
            out.push(value.map(|v| (totals.intern(v), c.count_on(node, &self.pod.namespace))));
        }
        out.into()
    }

    fn apply(&mut self, value: &Contribution, sign: i64) {
        for (entry, totals) in value.iter().zip(self.totals.iter_mut()) {
            if let Some((id, n)) = *entry {
                let i = id as usize;
                totals.pods[i] += sign * n;
                totals.nodes[i] = totals.nodes[i].saturating_add_signed(sign as i32);
            }
        }
    }
}

/// The memo key: everything the per-node counts depend on besides the node.
fn memo_key(pod: &PodInfo, constraints: &[Constraint], affinity: &RequiredNodeAffinity) -> String {
    let mut key = String::with_capacity(256);
    let _ = write!(key, "{}\u{0}{constraints:?}", pod.namespace);
    if constraints.iter().any(|c| c.honor_node_affinity) && !affinity.is_empty() {
        let _ = write!(key, "\u{0}{affinity:?}");
    }
    if constraints.iter().any(|c| c.honor_node_taints) {
        let _ = write!(key, "\u{0}{:?}", pod.tolerations);
    }
    key
}

/// What PreFilter computed, read by Filter and kept current by AddPod/RemovePod.
#[derive(Debug, Clone)]
pub(super) struct PreFilterState {
    pub(super) constraints: Arc<[Constraint]>,
    /// Whether the incoming pod matches each constraint's selector.
    self_match: Arc<[bool]>,
    /// Per constraint: domain ids.
    ids: Vec<Arc<DomainIds>>,
    /// Per constraint: matching pods per domain id.
    counts: Vec<Vec<i64>>,
    /// Per constraint: the number of eligible domains.
    pub(super) domains: Vec<usize>,
    pub(super) paths: Vec<CriticalPaths>,
    /// Per constraint: the domain of each snapshot node, by slot.
    slot_ids: Vec<SlotIds>,
}

impl PreFilterState {
    /// Matching pods of constraint `i` in domain `value`.
    pub(super) fn count(&self, i: usize, value: &str) -> i64 {
        self.ids[i].get(value).and_then(|id| self.counts[i].get(*id as usize)).copied().unwrap_or(0)
    }

    /// Matching pods of constraint `i` in the domain of `node`; `None` when the node lacks
    /// the topology key.
    fn count_on(&self, i: usize, node: &NodeInfo) -> Option<i64> {
        // The id of the node's domain, kept by slot: no walk through the node's labels.
        match self.slot_ids.get(i).and_then(|ids| ids.get(node.slot as usize)) {
            Some(&MISSING_KEY) => None,
            Some(&id) if id != NO_DOMAIN => Some(self.counts[i].get(id as usize).copied().unwrap_or(0)),
            _ => node.labels.get(&self.constraints[i].topology_key).map(|v| self.count(i, v)),
        }
    }

    fn min_match(&self, i: usize) -> i64 {
        let c = &self.constraints[i];
        if self.domains[i] < usize::try_from(c.min_domains).unwrap_or(0) { 0 } else { self.paths[i].min() }
    }

    /// Upstream `updateWithPod`: `delta` = ±1 for `updated` on `node`.
    fn update_with_pod(&mut self, pod: &PodInfo, updated: &PodInfo, node: &NodeInfo, delta: i64) {
        if updated.namespace != pod.namespace || !node_has_all_keys(node, &self.constraints) {
            return;
        }
        let affinity = RequiredNodeAffinity::from_pod(pod);
        let mut check = NodeAffinityCheck::new(&affinity);
        for i in 0..self.constraints.len() {
            let c = &self.constraints[i];
            if !c.selects(updated) || !c.includes(pod, node, &mut check) {
                continue;
            }
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let id = match self.ids[i].get(value.as_str()) {
                Some(id) => *id,
                // A node the snapshot did not have: its domain starts here.
                None => {
                    let id = u32::try_from(self.counts[i].len()).unwrap_or(NO_DOMAIN - 1);
                    Arc::make_mut(&mut self.ids[i]).insert(value.clone(), id);
                    self.counts[i].push(0);
                    id
                }
            };
            let Some(n) = self.counts[i].get_mut(id as usize) else { continue };
            *n += delta;
            let n = *n;
            self.paths[i].update(id, n);
        }
    }
}

/// Upstream `calPreFilterState` for `constraints` over all nodes of the snapshot, from the
/// counts memoized in `memo` (which must belong to this pod's key).
pub(super) fn compute_state(
    memo: &mut SpreadMemo,
    pod: &PodInfo,
    constraints: Vec<Constraint>,
    affinity: &RequiredNodeAffinity,
    snapshot: &Snapshot,
) -> PreFilterState {
    memo.totals.resize_with(constraints.len(), Totals::default);
    memo.slot_ids.resize_with(constraints.len(), SlotIds::default);
    for ids in &mut memo.slot_ids {
        if ids.len() != snapshot.len() {
            Arc::make_mut(ids).resize(snapshot.len(), NO_DOMAIN);
        }
    }
    let mut tally = SpreadTally {
        pod,
        constraints: &constraints,
        affinity,
        totals: &mut memo.totals,
        slot_ids: &mut memo.slot_ids,
    };
    memo.nodes.refresh(snapshot.nodes(), &mut tally);

    let mut state = PreFilterState {
        self_match: constraints.iter().map(|c| c.selects(pod)).collect(),
        ids: Vec::with_capacity(constraints.len()),
        counts: Vec::with_capacity(constraints.len()),
        domains: Vec::with_capacity(constraints.len()),
        paths: Vec::with_capacity(constraints.len()),
        slot_ids: memo.slot_ids.clone(),
        constraints: constraints.into(),
    };
    for t in &memo.totals {
        let mut paths = CriticalPaths::new();
        let mut domains = 0;
        for (id, (&pods, &nodes)) in t.pods.iter().zip(&t.nodes).enumerate() {
            if nodes > 0 {
                domains += 1;
                paths.update(u32::try_from(id).unwrap_or(NO_DOMAIN - 1), pods);
            }
        }
        state.ids.push(Arc::clone(&t.ids));
        state.counts.push(t.pods.clone());
        state.domains.push(domains);
        state.paths.push(paths);
    }
    state
}

impl PodTopologySpread {
    /// PreFilter's state for `constraints`, from the memo of the pod's key.
    fn prefilter_state(&self, pod: &PodInfo, constraints: Vec<Constraint>, snapshot: &Snapshot) -> PreFilterState {
        let affinity = RequiredNodeAffinity::from_pod(pod);
        let key = memo_key(pod, &constraints, &affinity);
        self.memo.with(&key, |memo| compute_state(memo, pod, constraints, &affinity, snapshot))
    }
}

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status) {
        let constraints = match self.hard_constraints(pod) {
            Ok(c) => c,
            Err(e) => {
                return (
                    PreFilterResult::default(),
                    Status::error(format!("obtaining pod's hard topology spread constraints: {e}")),
                );
            }
        };
        if constraints.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        state.insert(self.prefilter_state(pod, constraints, snapshot));
        (PreFilterResult::default(), Status::success())
    }

    fn extensions(&self) -> Option<&dyn PreFilterExtensions> {
        Some(self)
    }
}

impl PreFilterExtensions for PodTopologySpread {
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

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.get::<PreFilterState>() else {
            return Status::error("reading PreFilterPodTopologySpread from cycleState: not found");
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(matched) = s.count_on(i, node) else {
                return fixed!(super::NAME, UnschedulableAndUnresolvable, ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let skew = matched + i64::from(s.self_match[i]) - s.min_match(i);
            if skew > i64::from(c.max_skew) {
                return fixed!(super::NAME, Unschedulable, ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}
