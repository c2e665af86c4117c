//! Counts per topology pair, and the incoming pod's terms with namespace selectors resolved.

use std::collections::{BTreeMap, HashMap};

use kapi::labels::Selector;

use crate::plugins::fasthash::FastMap;
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

/// Counts (or score sums) per topology pair, grouped by topology key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TopologyCounts {
    groups: Vec<(String, FastMap<String, i64>)>,
}

impl TopologyCounts {
    /// The count of a pair.
    pub(super) fn get(&self, key: &str, value: &str) -> i64 {
        self.groups.iter().find(|(k, _)| k == key).and_then(|(_, m)| m.get(value).copied()).unwrap_or(0)
    }

    /// Whether no pair has an entry.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.iter().all(|(_, m)| m.is_empty())
    }

    /// Adds `delta` to the node's pair of `key` (if the node has the key), dropping entries
    /// that reach zero (upstream `topologyToMatchedTermCount.update`).
    pub(super) fn update(&mut self, node: &NodeInfo, key: &str, delta: i64) {
        let Some(value) = node.labels.get(key) else { return };
        let at = match self.groups.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                self.groups.push((key.to_owned(), FastMap::default()));
                self.groups.len() - 1
            }
        };
        let m = &mut self.groups[at].1;
        let n = m.entry(value.clone()).or_insert(0);
        *n += delta;
        if *n == 0 {
            m.remove(value);
        }
    }

    /// Whether any of the node's labels forms a pair with a positive count.
    pub(super) fn any_positive_on(&self, node: &NodeInfo) -> bool {
        self.groups
            .iter()
            .any(|(k, m)| !m.is_empty() && node.labels.get(k).and_then(|v| m.get(v.as_str())).is_some_and(|n| *n > 0))
    }

    /// Σ of the values of the node's pairs.
    pub(super) fn sum_on(&self, node: &NodeInfo) -> i64 {
        self.groups.iter().filter_map(|(k, m)| node.labels.get(k).and_then(|v| m.get(v.as_str()))).sum()
    }
}

/// Values of one key being counted: a short list searched linearly while there are few
/// values (zones, regions), a hash map beyond that (hostnames).
#[derive(Debug)]
enum Values<'a> {
    Few(Vec<(&'a str, i64)>),
    Many(FastMap<&'a str, i64>),
}

const FEW: usize = 16;

impl<'a> Values<'a> {
    fn add(&mut self, value: &'a str, n: i64) {
        match self {
            Self::Few(v) => {
                if let Some(e) = v.iter_mut().find(|e| e.0 == value) {
                    e.1 += n;
                } else if v.len() < FEW {
                    v.push((value, n));
                } else {
                    let mut m: FastMap<&'a str, i64> = v.drain(..).collect();
                    m.insert(value, n);
                    *self = Self::Many(m);
                }
            }
            Self::Many(m) => *m.entry(value).or_insert(0) += n,
        }
    }

    fn into_vec(self) -> Vec<(&'a str, i64)> {
        match self {
            Self::Few(v) => v,
            Self::Many(m) => m.into_iter().collect(),
        }
    }
}

/// [`TopologyCounts`] being built, with keys and values borrowed from the snapshot.
#[derive(Debug, Default)]
pub(super) struct CountsBuilder<'a> {
    groups: Vec<(&'a str, Values<'a>)>,
}

impl<'a> CountsBuilder<'a> {
    /// Adds `n` to the node's pair of `key` when the node has the key.
    pub(super) fn add(&mut self, node: &'a NodeInfo, key: &'a str, n: i64) {
        if let Some(value) = node.labels.get(key) {
            self.add_pair(key, value, n);
        }
    }

    fn add_pair(&mut self, key: &'a str, value: &'a str, n: i64) {
        let at = match self.groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.groups.push((key, Values::Few(Vec::new())));
                self.groups.len() - 1
            }
        };
        self.groups[at].1.add(value, n);
    }

    /// Whether nothing was added.
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Both builders' sums.
    pub(super) fn merge(mut self, other: Self) -> Self {
        for (k, values) in other.groups {
            for (v, n) in values.into_vec() {
                self.add_pair(k, v, n);
            }
        }
        self
    }

    /// The owned counts.
    pub(super) fn build(self) -> TopologyCounts {
        TopologyCounts {
            groups: self
                .groups
                .into_iter()
                .map(|(k, m)| (k.to_owned(), m.into_vec().into_iter().map(|(v, n)| (v.to_owned(), n)).collect()))
                .collect(),
        }
    }
}
