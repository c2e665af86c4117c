//! PreFilter, Filter and the AddPod/RemovePod extensions (DoNotSchedule constraints).

use std::sync::Arc;

use rayon::prelude::*;

use super::PodTopologySpread;
use super::common::{Constraint, NodeAffinityCheck, RequiredNodeAffinity, node_has_all_keys};
use crate::framework::{
    CycleState, FilterPlugin, PreFilterExtensions, PreFilterPlugin, PreFilterResult, Snapshot, Status,
};
use crate::plugins::fasthash::FastMap;
use crate::types::{NodeInfo, PodInfo};

/// Filter rejection: the skew would be too large.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
/// Filter rejection: the node lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Nodes scanned per parallel task in PreFilter and PreScore.
pub(super) const CHUNK: usize = 256;

/// Whether a scan over `n` nodes runs on the rayon pool: only for at least two chunks and
/// with more than two threads (on two cores the framework's parallel Filter/Score already
/// use them, and measured scans at 5,000 nodes ran slower split than sequential).
pub(super) fn parallel(n: usize) -> bool {
    n >= 2 * CHUNK && rayon::current_num_threads() > 2
}

/// The two domains with the fewest matching pods, as upstream tracks them: `[0]` always has
/// the minimum; `[1]` is at least as large but not necessarily the second minimum after
/// AddPod/RemovePod updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CriticalPaths([(String, i64); 2]);

impl CriticalPaths {
    pub(super) fn new() -> Self {
        Self([(String::new(), i64::from(i32::MAX)), (String::new(), i64::from(i32::MAX))])
    }

    /// Records that domain `value` now has `num` matching pods.
    pub(super) fn update(&mut self, value: &str, num: i64) {
        let p = &mut self.0;
        let at = if value == p[0].0 {
            Some(0)
        } else if value == p[1].0 {
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
                p[1] = std::mem::replace(&mut p[0], (value.to_owned(), num));
            }
            None if num < p[1].1 => p[1] = (value.to_owned(), num),
            None => {}
        }
    }

    /// The minimum matching number.
    pub(super) fn min(&self) -> i64 {
        self.0[0].1
    }
}

/// What PreFilter computed, read by Filter and kept current by AddPod/RemovePod.
#[derive(Debug, Clone)]
pub(super) struct PreFilterState {
    pub(super) constraints: Arc<[Constraint]>,
    /// Whether the incoming pod matches each constraint's selector.
    self_match: Arc<[bool]>,
    /// Per constraint: matching pods per domain (domains with none may be absent).
    pub(super) counts: Vec<FastMap<String, i64>>,
    /// Per constraint: the number of eligible domains. Exact when `minDomains` > 1, else
    /// only whether there is any (all Filter needs).
    pub(super) domains: Vec<usize>,
    pub(super) paths: Vec<CriticalPaths>,
}

impl PreFilterState {
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
        for (i, c) in self.constraints.iter().enumerate() {
            if !c.selects(updated) || !c.includes(pod, node, &mut check) {
                continue;
            }
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let n = self.counts[i].entry(value.clone()).or_insert(0);
            *n += delta;
            let n = *n;
            self.paths[i].update(value, n);
        }
    }
}

/// Counts per domain name borrowed from the snapshot: a short list searched linearly while
/// there are few domains (zones), a hash map beyond that (hostnames).
#[derive(Debug, Clone)]
pub(super) enum DomainCounts<'a> {
    Few(Vec<(&'a str, i64)>),
    Many(FastMap<&'a str, i64>),
}

const FEW: usize = 16;

impl Default for DomainCounts<'_> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<'a> DomainCounts<'a> {
    pub(super) fn add(&mut self, k: &'a str, n: i64) {
        match self {
            Self::Few(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == k) {
                    e.1 += n;
                } else if v.len() < FEW {
                    v.push((k, n));
                } else {
                    let mut m: FastMap<&'a str, i64> = v.drain(..).collect();
                    m.insert(k, n);
                    *self = Self::Many(m);
                }
            }
            Self::Many(m) => *m.entry(k).or_insert(0) += n,
        }
    }

    pub(super) fn contains(&self, k: &str) -> bool {
        match self {
            Self::Few(v) => v.iter().any(|e| e.0 == k),
            Self::Many(m) => m.contains_key(k),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Few(v) => v.len(),
            Self::Many(m) => m.len(),
        }
    }

    pub(super) fn entries(&self) -> Box<dyn Iterator<Item = (&'a str, i64)> + '_> {
        match self {
            Self::Few(v) => Box::new(v.iter().copied()),
            Self::Many(m) => Box::new(m.iter().map(|(k, v)| (*k, *v))),
        }
    }

    fn merge(&mut self, other: Self) {
        for (k, v) in other.entries() {
            self.add(k, v);
        }
    }
}

/// Per-constraint counts over a range of nodes.
#[derive(Default)]
struct Partial<'a> {
    /// Domains with matching pods.
    counts: Vec<DomainCounts<'a>>,
    /// Domains of eligible nodes without matching pods (their domain may still have some);
    /// de-duplicated while short.
    zeros: Vec<Vec<&'a str>>,
}

impl<'a> Partial<'a> {
    fn new(n: usize) -> Self {
        Self { counts: vec![DomainCounts::default(); n], zeros: vec![Vec::new(); n] }
    }

    fn merge(mut self, other: Self) -> Self {
        if self.counts.is_empty() {
            return other;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.zeros.iter_mut().zip(other.zeros) {
            for z in theirs {
                push_zero(mine, z);
            }
        }
        self
    }
}

fn push_zero<'a>(zeros: &mut Vec<&'a str>, value: &'a str) {
    if zeros.len() >= FEW || !zeros.contains(&value) {
        zeros.push(value);
    }
}

fn scan<'a>(
    pod: &PodInfo,
    constraints: &[Constraint],
    affinity: &RequiredNodeAffinity,
    nodes: &'a [Arc<NodeInfo>],
) -> Partial<'a> {
    let mut part = Partial::new(constraints.len());
    for node in nodes {
        if !node_has_all_keys(node, constraints) {
            continue;
        }
        let mut check = NodeAffinityCheck::new(affinity);
        for (i, c) in constraints.iter().enumerate() {
            if !c.includes(pod, node, &mut check) {
                continue;
            }
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let n = c.count_on(node, &pod.namespace);
            if n > 0 {
                part.counts[i].add(value, n);
            } else {
                push_zero(&mut part.zeros[i], value);
            }
        }
    }
    part
}

/// Upstream `calPreFilterState` for `constraints` over all nodes of the snapshot.
pub(super) fn compute_state(pod: &PodInfo, constraints: Vec<Constraint>, snapshot: &Snapshot) -> PreFilterState {
    let affinity = RequiredNodeAffinity::from_pod(pod);
    let nodes = snapshot.nodes();
    let part = if parallel(nodes.len()) {
        nodes
            .par_chunks(CHUNK)
            .map(|chunk| scan(pod, &constraints, &affinity, chunk))
            .reduce(Partial::default, Partial::merge)
    } else {
        scan(pod, &constraints, &affinity, nodes)
    };
    let mut counts = Vec::with_capacity(constraints.len());
    let mut domains = Vec::with_capacity(constraints.len());
    let mut paths = Vec::with_capacity(constraints.len());
    for ((c, nonzero), zeros) in constraints.iter().zip(part.counts).zip(part.zeros) {
        let mut p = CriticalPaths::new();
        // Domains whose eligible nodes have no matching pod at all: the minimum is 0 there.
        // Two are enough for the critical paths; every one is counted when minDomains > 1.
        let exact = c.min_domains > 1;
        let mut seen = FastMap::default();
        let mut zero_domains = 0;
        for z in zeros.iter().filter(|z| !nonzero.contains(z)) {
            if seen.insert(*z, ()).is_none() {
                zero_domains += 1;
                if zero_domains <= 2 {
                    p.update(z, 0);
                } else if !exact {
                    break;
                }
            }
        }
        for (k, v) in nonzero.entries() {
            p.update(k, v);
        }
        domains.push(nonzero.len() + zero_domains);
        counts.push(nonzero.entries().map(|(k, v)| (k.to_owned(), v)).collect());
        paths.push(p);
    }
    let self_match = constraints.iter().map(|c| c.selects(pod)).collect();
    PreFilterState { constraints: constraints.into(), self_match, counts, domains, paths }
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
        state.insert(compute_state(pod, constraints, snapshot));
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
            let Some(value) = node.labels.get(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let matched = s.counts[i].get(value.as_str()).copied().unwrap_or(0);
            let skew = matched + i64::from(s.self_match[i]) - s.min_match(i);
            if skew > i64::from(c.max_skew) {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}
