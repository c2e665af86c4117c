//! Counts per topology pair, memoized across cycles, and the incoming pod's terms with
//! namespace selectors resolved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kapi::labels::Selector;

use crate::plugins::fasthash::FastMap;
use crate::plugins::memo::{NodeMemo, Tally};
use crate::types::{AffinityTerm, NodeInfo, PodInfo};

/// Namespace labels by namespace name (the snapshot's cluster state).
pub(super) type NamespaceLabels = HashMap<String, BTreeMap<String, String>>;

/// An incoming pod's term with its namespace selector resolved into namespaces (upstream
/// `mergeAffinityTermNamespacesIfNotEmpty`), so matching needs no namespace labels.
#[derive(Debug, Clone)]
pub(super) struct ResolvedTerm {
    all_namespaces: bool,
    namespaces: Vec<String>,
    selector: Selector,
    pub(super) topology_key: String,
}

impl ResolvedTerm {
    /// Resolves `term` against the namespaces of the cluster.
    pub(super) fn new(term: &AffinityTerm, ns: &NamespaceLabels) -> Self {
        let all_namespaces = term.namespace_selector.as_ref().is_some_and(Selector::is_everything);
        let mut namespaces: Vec<String> = term.namespaces.iter().cloned().collect();
        if let Some(sel) = term.namespace_selector.as_ref().filter(|_| !all_namespaces) {
            for (name, labels) in ns {
                if sel.matches(labels) && !namespaces.contains(name) {
                    namespaces.push(name.clone());
                }
            }
        }
        // A stable order keeps memo keys (their `Debug` text) equal for equal terms.
        namespaces.sort_unstable();
        Self { all_namespaces, namespaces, selector: term.selector.clone(), topology_key: term.topology_key.clone() }
    }

    /// Whether `pod` matches the term.
    pub(super) fn matches(&self, pod: &PodInfo) -> bool {
        (self.all_namespaces || self.namespaces.contains(&pod.namespace)) && self.selector.matches(&pod.labels)
    }
}

/// Whether `pod` matches every term (false without terms).
pub(super) fn matches_all(terms: &[ResolvedTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod))
}

/// Values of one topology key: ids assigned on first sight (never reused), counts by id.
#[derive(Debug, Clone)]
struct Group {
    key: String,
    /// Shared with the copies handed to cycle states; copied only when a value appears.
    ids: Arc<FastMap<String, u32>>,
    counts: Vec<i64>,
    /// Contributions adding to each pair (scoring: a pair exists once a term touched it).
    refs: Vec<u32>,
    /// Pairs with a non-zero count.
    nonzero: usize,
    /// Pairs with a contribution.
    touched: usize,
}

impl Group {
    fn new(key: &str) -> Self {
        Self { key: key.to_owned(), ids: Arc::default(), counts: Vec::new(), refs: Vec::new(), nonzero: 0, touched: 0 }
    }

    fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = u32::try_from(self.counts.len()).unwrap_or(u32::MAX);
        Arc::make_mut(&mut self.ids).insert(value.to_owned(), id);
        self.counts.push(0);
        self.refs.push(0);
        id
    }

    fn get(&self, value: &str) -> i64 {
        self.ids.get(value).and_then(|id| self.counts.get(*id as usize)).copied().unwrap_or(0)
    }

    fn add(&mut self, id: u32, delta: i64, refs: i64) {
        let i = id as usize;
        let (Some(n), Some(r)) = (self.counts.get_mut(i), self.refs.get_mut(i)) else { return };
        let (was_zero, was_untouched) = (*n == 0, *r == 0);
        *n += delta;
        *r = r.saturating_add_signed(refs as i32);
        match (was_zero, *n == 0) {
            (true, false) => self.nonzero += 1,
            (false, true) => self.nonzero -= 1,
            _ => {}
        }
        match (was_untouched, *r == 0) {
            (true, false) => self.touched += 1,
            (false, true) => self.touched -= 1,
            _ => {}
        }
    }
}

/// Counts (or score sums) per topology pair, grouped by topology key.
#[derive(Debug, Clone, Default)]
pub(super) struct TopologyCounts {
    groups: Vec<Group>,
}

impl PartialEq for TopologyCounts {
    /// Equal when the same pairs have the same non-zero counts (ids may differ).
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl TopologyCounts {
    fn group(&mut self, key: &str) -> u32 {
        let at = match self.groups.iter().position(|g| g.key == key) {
            Some(i) => i,
            None => {
                self.groups.push(Group::new(key));
                self.groups.len() - 1
            }
        };
        u32::try_from(at).unwrap_or(u32::MAX)
    }

    /// The pairs with a non-zero count, sorted (tests and equality).
    fn entries(&self) -> Vec<(&str, &str, i64)> {
        let mut out: Vec<(&str, &str, i64)> = self
            .groups
            .iter()
            .flat_map(|g| {
                g.ids.iter().filter_map(|(v, id)| {
                    let n = g.counts.get(*id as usize).copied().unwrap_or(0);
                    (n != 0).then_some((g.key.as_str(), v.as_str(), n))
                })
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The count of a pair.
    pub(super) fn get(&self, key: &str, value: &str) -> i64 {
        self.groups.iter().find(|g| g.key == key).map_or(0, |g| g.get(value))
    }

    /// Whether no pair has a non-zero count.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.nonzero == 0)
    }

    /// Whether no term touched any pair (upstream's empty score map), even if their
    /// contributions cancelled out.
    pub(super) fn is_untouched(&self) -> bool {
        self.groups.iter().all(|g| g.touched == 0)
    }

    /// Adds `delta` to the node's pair of `key` (if the node has the key), as upstream's
    /// `topologyToMatchedTermCount.update` (a pair reaching zero counts as absent).
    pub(super) fn update(&mut self, node: &NodeInfo, key: &str, delta: i64) {
        let Some(value) = node.labels.get(key) else { return };
        let g = self.group(key) as usize;
        let group = &mut self.groups[g];
        let id = group.intern(value);
        group.add(id, delta, 0);
    }

    /// Whether any of the node's labels forms a pair with a positive count.
    pub(super) fn any_positive_on(&self, node: &NodeInfo) -> bool {
        self.groups.iter().any(|g| g.nonzero > 0 && node.labels.get(&g.key).is_some_and(|v| g.get(v) > 0))
    }

    /// Σ of the values of the node's pairs.
    pub(super) fn sum_on(&self, node: &NodeInfo) -> i64 {
        self.groups.iter().filter(|g| g.touched > 0).filter_map(|g| node.labels.get(&g.key).map(|v| g.get(v))).sum()
    }
}

/// One pair a node contributes to: which counts, group, value id, amount.
type Pair = (u8, u32, u32, i64);

/// Where a node's contributions are written while it is counted.
pub(super) struct PairSink<'a> {
    totals: &'a mut [TopologyCounts],
    out: Vec<Pair>,
}

impl PairSink<'_> {
    /// Adds `n` to the node's pair of `key` in counts `slot` when the node has the key.
    pub(super) fn add(&mut self, slot: usize, node: &NodeInfo, key: &str, n: i64) {
        let (Some(value), Some(totals)) = (node.labels.get(key), self.totals.get_mut(slot)) else { return };
        let g = totals.group(key);
        let id = totals.groups[g as usize].intern(value);
        self.out.push((slot as u8, g, id, n));
    }
}

impl<'a> PairSink<'a> {
    /// Runs `count` adding straight into `totals` (no memo).
    pub(super) fn direct(totals: &'a mut [TopologyCounts], count: impl FnOnce(&mut Self)) {
        let mut sink = Self { totals, out: Vec::new() };
        count(&mut sink);
        let pairs = std::mem::take(&mut sink.out);
        apply_pairs(sink.totals, &pairs, 1);
    }
}

/// Adds (`sign` = 1) or subtracts (−1) a node's pairs.
fn apply_pairs(totals: &mut [TopologyCounts], pairs: &[Pair], sign: i64) {
    for &(slot, g, id, n) in pairs {
        if let Some(group) = totals.get_mut(slot as usize).and_then(|t| t.groups.get_mut(g as usize)) {
            group.add(id, sign * n, sign);
        }
    }
}

struct PairTally<'a, F> {
    totals: &'a mut [TopologyCounts],
    count: F,
}

impl<F: FnMut(&NodeInfo, &mut PairSink<'_>)> Tally for PairTally<'_, F> {
    type Value = Box<[Pair]>;

    fn compute(&mut self, node: &NodeInfo) -> Box<[Pair]> {
        let mut sink = PairSink { totals: self.totals, out: Vec::new() };
        (self.count)(node, &mut sink);
        sink.out.into()
    }

    fn apply(&mut self, value: &Box<[Pair]>, sign: i64) {
        apply_pairs(self.totals, value, sign);
    }
}

/// Pair counts over every node of the snapshot, kept across cycles for one key (see
/// `plugins::memo`).
#[derive(Debug, Default)]
pub(super) struct PairMemo {
    nodes: NodeMemo<Box<[Pair]>>,
    totals: Vec<TopologyCounts>,
}

impl PairMemo {
    /// Brings `slots` sets of counts up to date with `nodes`, counting changed nodes with
    /// `count` (which must depend only on the node and the memo's key).
    pub(super) fn refresh(
        &mut self,
        slots: usize,
        nodes: &[Arc<NodeInfo>],
        count: impl FnMut(&NodeInfo, &mut PairSink<'_>),
    ) -> &[TopologyCounts] {
        self.totals.resize_with(slots, TopologyCounts::default);
        let before: Vec<usize> = self.totals.iter().map(|t| t.groups.len()).collect();
        let mut tally = PairTally { totals: &mut self.totals, count };
        self.nodes.refresh(nodes, &mut tally);
        // A key seen for the first time: give every node's value its id now, while no cycle
        // state shares the ids, so that pairs appearing later (a pod on a new hostname)
        // do not copy the id map each cycle.
        for (t, before) in self.totals.iter_mut().zip(before) {
            for g in &mut t.groups[before..] {
                for node in nodes {
                    if let Some(v) = node.labels.get(&g.key) {
                        g.intern(v);
                    }
                }
            }
        }
        &self.totals
    }
}
