//! Candidate nodes: the dry run over the potential nodes from a random offset (upstream
//! `DryRunPreemption`), the choice among the candidates (`pickOneNodeForPreemption`) and
//! the message when there is none.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use rayon::prelude::*;

use super::victims::{DryRun, Victims, start_time};
use crate::framework::{Code, Status};
use crate::types::{NodeInfo, PodPriorities};

/// Reason counted for the nodes the dry run did not judge (not `Unschedulable`).
pub(super) const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";

/// Nodes judged in the first parallel batch; each later batch is twice as large, up to the
/// number of candidates still missing.
const FIRST_BATCH: usize = 4;

/// A node where evicting `victims` makes the preemptor fit.
#[derive(Debug, Clone)]
pub(super) struct Candidate<'a> {
    /// The node.
    pub(super) node: &'a NodeInfo,
    /// What to evict there.
    pub(super) victims: Victims,
}

/// What the dry run found.
#[derive(Debug, Default)]
pub(super) struct DryRunOutcome<'a> {
    /// Candidates not violating any budget, then the violating ones, each in the order
    /// they were found.
    pub(super) candidates: Vec<Candidate<'a>>,
    /// Statuses of the nodes judged that are not candidates (errors included).
    pub(super) statuses: Vec<Status>,
}

impl DryRunOutcome<'_> {
    /// The errors among the statuses.
    pub(super) fn errors(&self) -> impl Iterator<Item = &Status> {
        self.statuses.iter().filter(|s| s.code() == Code::Error)
    }
}

/// How many candidates the dry run looks for among `num_nodes` potential nodes (upstream
/// `calculateNumCandidates`): `percentage` of them, at least `absolute`, at most all.
pub fn num_candidates(num_nodes: usize, percentage: u32, absolute: u32) -> usize {
    (num_nodes.saturating_mul(percentage as usize) / 100).max(absolute as usize).min(num_nodes)
}

/// Judges the potential nodes from `offset` (wrapping around) until `want` candidates are
/// found, at least one of them without PDB violations, or every node was judged. Nodes are
/// judged in parallel batches whose results are taken in order, so the outcome does not
/// depend on thread timing.
///
/// It also stops once no node left to judge can rank strictly better than the best
/// candidate found (by [`lower_bound`], computed from the node's pods without simulating):
/// the candidates it would add could not be picked, since [`pick_one`] keeps the first of
/// equals — so the choice is the same as judging them all, at a fraction of the cost when
/// many nodes look alike.
pub(super) fn dry_run<'a>(
    dry: &DryRun<'_>,
    potential: &'a [Arc<NodeInfo>],
    offset: usize,
    want: usize,
    prune: bool,
) -> DryRunOutcome<'a> {
    let n = potential.len();
    let mut non_violating: Vec<Candidate<'a>> = Vec::new();
    let mut violating: Vec<Candidate<'a>> = Vec::new();
    let mut statuses = Vec::new();
    let enough = |nv: usize, v: usize| nv > 0 && nv + v >= want;
    let node_at = |i: usize| -> &'a NodeInfo { &potential[(offset + i) % n] };
    // The potential nodes are usually the whole snapshot, in order: position = slot, and
    // no node is visited to find its summary.
    let snapshot = dry.handle.snapshot();
    let whole = std::ptr::eq(potential.as_ptr(), snapshot.nodes().as_ptr()) && n == snapshot.len();
    let priorities_at = |i: usize| -> PodPriorities {
        let slot = if whole { (offset + i) % n } else { node_at(i).slot as usize };
        match snapshot.pod_priorities(slot) {
            Some(p) if whole || std::ptr::eq(&*snapshot.nodes()[slot], node_at(i)) => *p,
            // A node outside the snapshot (not expected): from its pods.
            _ => node_at(i).pod_priorities(),
        }
    };
    // Suffix minima of the nodes' lower bounds, made on first need.
    let mut best_after: Option<Vec<Option<Rank>>> = None;
    // Small first batches: with many alike nodes the first candidates often end the search.
    let mut batch = FIRST_BATCH;
    let mut next = 0;
    while next < n && !enough(non_violating.len(), violating.len()) {
        let missing = want.saturating_sub(non_violating.len() + violating.len()).max(1);
        let end = (next + batch.min(missing.max(FIRST_BATCH))).min(n);
        batch = batch.saturating_mul(2);
        // Nominated pods are read here, one node after the other: the framework's nominator
        // sits behind a lock the parallel workers would contend for.
        let nominated: Vec<_> = (next..end).map(|i| dry.nominated_on(node_at(i))).collect();
        let judge = |i: usize| dry.select_victims(node_at(i), &nominated[i - next]);
        let results: Vec<Result<Victims, Status>> = if end - next > 1 {
            (next..end).into_par_iter().with_min_len(4).map(judge).collect()
        } else {
            (next..end).map(judge).collect()
        };
        let mut judged = next;
        for (i, r) in (next..end).zip(results) {
            let node = node_at(i);
            judged = i + 1;
            match r {
                Ok(victims) if !victims.pods.is_empty() => {
                    // Upstream keeps at most `want` candidates of each kind.
                    let list = if victims.num_pdb_violations == 0 { &mut non_violating } else { &mut violating };
                    if list.len() < want {
                        list.push(Candidate { node, victims });
                    }
                    if enough(non_violating.len(), violating.len()) {
                        break;
                    }
                }
                Ok(_) => {
                    statuses.push(Status::error(format!("expected at least one victim pod on node {:?}", node.name)));
                }
                Err(s) => statuses.push(s),
            }
        }
        next = judged;
        if prune && next < n && !non_violating.is_empty() {
            let best = non_violating.iter().chain(&violating).map(|c| rank(c, dry.now)).min();
            let bounds = best_after.get_or_insert_with(|| suffix_min_bounds(dry, n, &priorities_at));
            match (&bounds[next], best) {
                // No node left has anything to evict: no more candidates.
                (None, _) => break,
                (Some(rest), Some(best)) if *rest >= best => break,
                _ => {}
            }
        }
    }
    non_violating.append(&mut violating);
    DryRunOutcome { candidates: non_violating, statuses }
}

/// How [`pick_one`] orders candidates, smaller first.
type Rank = (usize, i32, i64, usize, Reverse<Option<Timestamp>>);

/// A rank no candidate on a node with pods `p` can beat: no PDB violation, one victim of
/// the lowest priority below the preemptor's, started as late as the latest pod there (or
/// "now" if one has not started); `None` when nothing there may be evicted. Bounding with
/// every pod's start rather than only the evictable ones' is weaker but needs no visit.
fn lower_bound(p: &PodPriorities, preemptor: i32, now: Timestamp) -> Option<Rank> {
    if p.min_priority >= preemptor {
        return None;
    }
    let latest = if p.unstarted { Some(now) } else { p.latest_start };
    Some((0, p.min_priority, i64::from(p.min_priority) + SHIFT, 1, Reverse(latest)))
}

/// For each position `i` (in judging order), the smallest lower bound of the nodes from `i`
/// on; `None` where none of them has anything to evict. Reads the snapshot's per-slot
/// summaries (`priorities_at`), not the nodes: this runs over every potential node on each
/// preemption.
fn suffix_min_bounds(dry: &DryRun<'_>, n: usize, priorities_at: &impl Fn(usize) -> PodPriorities) -> Vec<Option<Rank>> {
    let mut out: Vec<Option<Rank>> = vec![None; n + 1];
    for i in (0..n).rev() {
        let here = lower_bound(&priorities_at(i), dry.pod.priority, dry.now);
        out[i] = match (here, out[i + 1]) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

/// Added to each victim's priority so that every term of the sum is positive.
const SHIFT: i64 = i32::MAX as i64 + 1;

/// The earliest start among the victims of the highest priority.
fn earliest_start_of_highest(v: &Victims, now: Timestamp) -> Option<Timestamp> {
    let top = v.pods.iter().map(|p| p.priority).max()?;
    v.pods.iter().filter(|p| p.priority == top).map(|p| start_time(p, now)).min()
}

/// Upstream's criteria in order, smaller is better: fewest PDB violations; lowest
/// highest-victim priority; smallest sum of victim priorities (each shifted by 2^31 to be
/// positive, so more victims never look better); fewest victims; latest start of the
/// highest-priority victims (their earliest start).
fn rank(c: &Candidate<'_>, now: Timestamp) -> Rank {
    let pods = &c.victims.pods;
    let highest = pods.first().map_or(i32::MIN, |p| p.priority);
    let sum: i64 = pods.iter().map(|p| i64::from(p.priority) + SHIFT).sum();
    (c.victims.num_pdb_violations, highest, sum, pods.len(), Reverse(earliest_start_of_highest(&c.victims, now)))
}

/// The index of the candidate to preempt on (upstream `pickOneNodeForPreemption`); among
/// equals, the first one.
pub(super) fn pick_one(candidates: &[Candidate<'_>], now: Timestamp) -> Option<usize> {
    let ranks: Vec<_> = candidates.iter().map(|c| rank(c, now)).collect();
    // `min_by_key` keeps the first of equal minima.
    (0..candidates.len()).min_by_key(|i| &ranks[*i])
}

/// Upstream's `FitError` text for preemption: `0/5 nodes are available: 1 Insufficient
/// cpu, 4 Preemption is not helpful for scheduling.` — the reasons of the nodes judged,
/// and every other node as not helpful, counted and sorted as strings.
pub(super) fn no_candidate_message(num_nodes: usize, statuses: &[Status]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in statuses {
        for r in s.reasons() {
            *counts.entry(r.as_ref()).or_default() += 1;
        }
    }
    let absent = num_nodes.saturating_sub(statuses.len());
    if absent > 0 {
        *counts.entry(NOT_HELPFUL).or_default() += absent;
    }
    let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !parts.is_empty() {
        msg.push(' ');
        msg.push_str(&parts.join(", "));
        msg.push('.');
    }
    msg
}
