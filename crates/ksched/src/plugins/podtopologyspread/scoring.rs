//! PreScore, Score and NormalizeScore (ScheduleAnyway constraints), with upstream's formula:
//! a node's raw score is Σ over constraints of `count × ln(domains + 2) + (maxSkew − 1)`,
//! rounded; normalized as `100 × (max + min − score) / max`.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use super::PodTopologySpread;
use super::common::{Constraint, LABEL_HOSTNAME, NodeAffinityCheck, RequiredNodeAffinity, node_has_all_keys};
use crate::framework::{CycleState, MAX_NODE_SCORE, NodeScore, PreScorePlugin, ScorePlugin, Snapshot, Status};
use crate::plugins::fasthash::FastMap;
use crate::types::{NodeInfo, PodInfo};

/// Nodes scanned per parallel task in PreScore.
const CHUNK: usize = 256;

/// Whether a scan over `n` nodes runs on the rayon pool: only for at least two chunks and
/// with more than two threads (on two cores the framework's parallel Filter/Score already
/// use them, and measured scans at 5,000 nodes ran slower split than sequential).
fn parallel(n: usize) -> bool {
    n >= 2 * CHUNK && rayon::current_num_threads() > 2
}

/// Counts per domain name borrowed from the snapshot: a short list searched linearly while
/// there are few domains (zones), a hash map beyond that (hostnames).
#[derive(Debug, Clone)]
enum DomainCounts<'a> {
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
    fn add(&mut self, k: &'a str, n: i64) {
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

    fn contains(&self, k: &str) -> bool {
        match self {
            Self::Few(v) => v.iter().any(|e| e.0 == k),
            Self::Many(m) => m.contains_key(k),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Few(v) => v.len(),
            Self::Many(m) => m.len(),
        }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = (&'a str, i64)> + '_> {
        match self {
            Self::Few(v) => Box::new(v.iter().copied()),
            Self::Many(m) => Box::new(m.iter().map(|(k, v)| (*k, *v))),
        }
    }
}

/// What PreScore computed for Score and NormalizeScore.
#[derive(Debug, Clone)]
pub(super) struct PreScoreState {
    constraints: Arc<[Constraint]>,
    /// Nodes missing a topology key are scored 0 (only with the pod's own or configured
    /// defaults; system defaults let nodes without a zone still spread by hostname).
    require_all: bool,
    /// Names of the filtered nodes that are ignored.
    ignored: HashSet<String>,
    /// Per constraint (not hostname): matching pods per domain of the filtered nodes.
    counts: Vec<FastMap<String, i64>>,
    /// Per constraint: `ln(domains + 2)`.
    weights: Vec<f64>,
    namespace: String,
}

fn is_hostname(c: &Constraint) -> bool {
    c.topology_key == LABEL_HOSTNAME
}

/// Adds the matching pods of `nodes` to the registered domains.
fn count_nodes<'a>(
    pod: &PodInfo,
    constraints: &[Constraint],
    require_all: bool,
    affinity: &RequiredNodeAffinity,
    registered: &[DomainCounts<'_>],
    nodes: &'a [Arc<NodeInfo>],
) -> Vec<DomainCounts<'a>> {
    let mut out = vec![DomainCounts::default(); constraints.len()];
    for node in nodes {
        if require_all && !node_has_all_keys(node, constraints) {
            continue;
        }
        let mut check = NodeAffinityCheck::new(affinity);
        for (i, c) in constraints.iter().enumerate() {
            if is_hostname(c) || !c.includes(pod, node, &mut check) {
                continue;
            }
            let value = node.labels.get(&c.topology_key).map_or("", String::as_str);
            if registered[i].contains(value) {
                out[i].add(value, c.count_on(node, &pod.namespace));
            }
        }
    }
    out
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        if snapshot.is_empty() {
            return Status::skip();
        }
        let constraints = match self.soft_constraints(pod) {
            Ok(c) => c,
            Err(e) => return Status::error(format!("obtaining pod's soft topology spread constraints: {e}")),
        };
        if constraints.is_empty() {
            return Status::skip();
        }
        let require_all = !pod.spread_constraints.is_empty() || !self.system_defaulted;

        // Domains of the filtered nodes; nodes missing keys are ignored.
        let mut ignored = HashSet::new();
        let mut registered: Vec<DomainCounts<'_>> = vec![DomainCounts::default(); constraints.len()];
        for node in nodes {
            if require_all && !node_has_all_keys(node, &constraints) {
                ignored.insert(node.name.clone());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                let value = node.labels.get(&c.topology_key).map_or("", String::as_str);
                if !is_hostname(c) && !registered[i].contains(value) {
                    registered[i].add(value, 0);
                }
            }
        }
        let weights = constraints
            .iter()
            .zip(&registered)
            .map(|(c, r)| {
                let size = if is_hostname(c) { nodes.len() - ignored.len() } else { r.len() };
                (size as f64 + 2.0).ln()
            })
            .collect();

        // Matching pods per registered domain, over all nodes.
        let affinity = RequiredNodeAffinity::from_pod(pod);
        let all = snapshot.nodes();
        let counted = if parallel(all.len()) {
            all.par_chunks(CHUNK)
                .map(|chunk| count_nodes(pod, &constraints, require_all, &affinity, &registered, chunk))
                .reduce(Vec::new, |mut a, b| {
                    if a.is_empty() {
                        return b;
                    }
                    for (x, y) in a.iter_mut().zip(b) {
                        for (k, v) in y.entries() {
                            x.add(k, v);
                        }
                    }
                    a
                })
        } else {
            count_nodes(pod, &constraints, require_all, &affinity, &registered, all)
        };
        let counts = registered
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut m: FastMap<String, i64> = r.entries().map(|(v, _)| (v.to_owned(), 0)).collect();
                for (k, v) in counted.get(i).into_iter().flat_map(DomainCounts::entries) {
                    if let Some(e) = m.get_mut(k) {
                        *e += v;
                    }
                }
                m
            })
            .collect();
        state.insert(PreScoreState {
            constraints: constraints.into(),
            require_all,
            ignored,
            counts,
            weights,
            namespace: pod.namespace.clone(),
        });
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let Some(s) = state.get::<PreScoreState>() else {
            return (0, Status::error("reading PreScorePodTopologySpread from cycleState: not found"));
        };
        if s.require_all && !node_has_all_keys(node, &s.constraints) {
            return (0, Status::success());
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels.get(&c.topology_key) else { continue };
            let count = if is_hostname(c) {
                c.count_on(node, &s.namespace)
            } else {
                s.counts[i].get(value.as_str()).copied().unwrap_or(0)
            };
            score += count as f64 * s.weights[i] + f64::from(c.max_skew - 1);
        }
        (score.round() as i64, Status::success())
    }

    fn normalize(&self, state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore<'_>]) -> Status {
        let Some(s) = state.get::<PreScoreState>() else {
            return Status::error("reading PreScorePodTopologySpread from cycleState: not found");
        };
        let ignored = |n: &NodeScore<'_>| !s.ignored.is_empty() && s.ignored.contains(n.name);
        let (mut min, mut max) = (i64::MAX, 0);
        for n in scores.iter().filter(|n| !ignored(n)) {
            min = min.min(n.score);
            max = max.max(n.score);
        }
        for n in scores.iter_mut() {
            n.score = if ignored(n) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - n.score) / max
            };
        }
        Status::success()
    }
}
