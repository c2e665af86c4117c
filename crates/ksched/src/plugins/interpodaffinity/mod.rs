//! InterPodAffinity (upstream `pkg/scheduler/framework/plugins/interpodaffinity`): pod
//! affinity and anti-affinity.
//!
//! - PreFilter counts, per topology pair (key, value), the existing pods matching all of
//!   the incoming pod's required affinity terms, those matching each of its required
//!   anti-affinity terms, and the existing pods whose required anti-affinity terms match
//!   the incoming pod. Filter rejects a node whose pairs lack affinity matches
//!   (UnschedulableAndUnresolvable, unless no pod anywhere matches and the pod matches its
//!   own terms: the first pod of a group), or have anti-affinity matches either way
//!   (Unschedulable). AddPod/RemovePod keep the counts right during preemption.
//! - PreScore sums, per topology pair, the weights of the incoming pod's preferred terms
//!   matched by existing pods (anti-affinity negative) and of existing pods' terms matching
//!   the incoming pod (required affinity with `hardPodAffinityWeight`, preferred affinity
//!   positive, preferred anti-affinity negative); Score adds the node's pairs; scores are
//!   normalized min-max to 0..=100.
//!
//! The incoming pod's namespace selectors are resolved against the snapshot's namespace
//! labels once per cycle (upstream merges them into the namespace set); existing pods'
//! terms see the incoming pod's namespace labels.
//!
//! Args (`InterPodAffinityArgs`): `hardPodAffinityWeight` (0..=100, default 1) and
//! `ignorePreferredTermsOfExistingPods` (default false: when true, PreScore is skipped for
//! pods without preferred terms of their own).

mod counts;
mod filter;
mod scoring;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_score;

use std::sync::Arc;

use serde::Deserialize;

pub use self::filter::{
    ERR_REASON_AFFINITY_RULES_NOT_MATCH, ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH,
    ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH,
};
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, EventResource, Plugin, PluginError, PluginHandle, QueueingHint,
};
use crate::plugins::memo::MemoCache;
use crate::types::{AffinityTerm, PodInfo};

/// The plugin's name.
pub const NAME: &str = "InterPodAffinity";

/// The InterPodAffinity plugin.
#[derive(Debug, Clone)]
pub struct InterPodAffinity {
    hard_pod_affinity_weight: i32,
    ignore_preferred_terms_of_existing_pods: bool,
    /// Counts kept across cycles, by what they depend on.
    memo: Arc<Memos>,
}

/// Memoized counts kept at most per kind (one per distinct set of terms or pod labels seen
/// recently: the pods of one workload share one).
const MEMO_ENTRIES: usize = 16;

/// The plugin's memoized counts (see `plugins::memo`).
#[derive(Debug)]
struct Memos {
    /// The incoming pod's required terms over existing pods.
    incoming: MemoCache<counts::PairMemo>,
    /// Existing pods' required anti-affinity against the incoming pod.
    existing: MemoCache<counts::PairMemo>,
    /// Scores per topology pair.
    score: MemoCache<counts::PairMemo>,
}

impl Default for Memos {
    fn default() -> Self {
        Self {
            incoming: MemoCache::new(MEMO_ENTRIES),
            existing: MemoCache::new(MEMO_ENTRIES),
            score: MemoCache::new(MEMO_ENTRIES),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Args {
    hard_pod_affinity_weight: Option<i32>,
    ignore_preferred_terms_of_existing_pods: Option<bool>,
}

impl InterPodAffinity {
    /// The plugin with upstream's defaults (`hardPodAffinityWeight` 1).
    pub fn new() -> Self {
        Self { hard_pod_affinity_weight: 1, ignore_preferred_terms_of_existing_pods: false, memo: Arc::default() }
    }

    /// Builds the plugin from `InterPodAffinityArgs`.
    ///
    /// # Errors
    /// Unparseable arguments or a weight outside 0..=100.
    pub fn from_args(args: Option<&serde_json::Value>) -> Result<Self, PluginError> {
        let args: Args = match args {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| PluginError::args(NAME, e.to_string()))?,
            None => Args::default(),
        };
        let weight = args.hard_pod_affinity_weight.unwrap_or(1);
        if !(0..=100).contains(&weight) {
            return Err(PluginError::args(
                NAME,
                format!("hardPodAffinityWeight: Invalid value: {weight}: not in valid range [0-100]"),
            ));
        }
        Ok(Self {
            hard_pod_affinity_weight: weight,
            ignore_preferred_terms_of_existing_pods: args.ignore_preferred_terms_of_existing_pods.unwrap_or(false),
            memo: Arc::default(),
        })
    }
}

impl Default for InterPodAffinity {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the plugin from its arguments.
///
/// # Errors
/// Invalid arguments.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let p = InterPodAffinity::from_args(args)?;
    Ok(PluginHandle::of(p).pre_filter().filter().pre_score().score().build())
}

/// Whether `pod` matches every term (false without terms), namespace selectors evaluated
/// without namespace labels (upstream `podMatchesAllAffinityTerms` in the hints).
fn matches_all(terms: &[AffinityTerm], pod: &PodInfo) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, None))
}

/// Upstream `isSchedulableAfterPodChange`.
fn pod_hint(pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let as_pod = |o: Option<&ClusterObject>| match o {
        Some(ClusterObject::Pod(p)) => Some(std::sync::Arc::clone(p)),
        _ => None,
    };
    let (old, new) = (as_pod(old), as_pod(new));
    if new.as_ref().is_some_and(|p| p.node_name.is_none()) || old.as_ref().is_some_and(|p| p.node_name.is_none()) {
        return QueueingHint::Skip;
    }
    let (terms, anti) = (&pod.required_affinity, &pod.required_anti_affinity);
    let queue = match (old.as_deref(), new.as_deref()) {
        (Some(o), Some(n)) => {
            (!matches_all(terms, o) && matches_all(terms, n)) || (matches_all(anti, o) && !matches_all(anti, n))
        }
        (None, Some(n)) => matches_all(terms, n),
        (Some(o), None) => matches_all(anti, o),
        (None, None) => true,
    };
    if queue { QueueingHint::Queue } else { QueueingHint::Skip }
}

/// Upstream `isSchedulableAfterNodeChange`: a node with one of the pod's required
/// (anti-)affinity topology keys.
fn node_hint(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let Some(ClusterObject::Node(node)) = new else { return QueueingHint::Queue };
    let has_key = pod
        .required_affinity
        .iter()
        .chain(&pod.required_anti_affinity)
        .any(|t| node.labels.contains_key(&t.topology_key));
    if has_key { QueueingHint::Queue } else { QueueingHint::Skip }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![
            ClusterEventWithHint::with_hint(
                EventResource::AssignedPod,
                ActionType::ADD.or(ActionType::UPDATE_POD_LABEL).or(ActionType::DELETE),
                pod_hint,
            ),
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL).or(ActionType::UPDATE_NODE_TAINT),
                node_hint,
            ),
        ])
    }
}
