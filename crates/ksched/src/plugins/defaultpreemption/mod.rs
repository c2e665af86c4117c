//! DefaultPreemption (PostFilter): when no node fits a pod, find a node where evicting pods
//! of lower priority makes it fit, nominate the pod there and name the victims (upstream
//! `defaultpreemption` with `framework/preemption`).
//!
//! 1. Eligibility: a pod with `preemptionPolicy: Never` does not preempt; a pod already
//!    nominated to a node where a lower-priority pod is terminating because of preemption
//!    waits for it.
//! 2. Potential nodes: those the filters rejected as `Unschedulable` (not
//!    `UnschedulableAndUnresolvable`, and not those left out of filtering).
//! 3. Dry run from a random offset until [`num_candidates`] candidates are found (at least
//!    one without PDB violations) or every potential node was tried: on a copy of each
//!    node, remove the lower-priority pods, check the pod fits (nominated pods of at least
//!    its priority counted), then reprieve pods — PDB-violating ones first, each group from
//!    the most important — as long as the pod keeps fitting.
//! 4. The best candidate: fewest PDB violations, lowest highest-victim priority, smallest
//!    sum of priorities, fewest victims, latest start of the highest-priority victims, then
//!    the first found.
//!
//! The scheduler evicts the victims and nominates the pod. Upstream also clears the
//! nomination of lower-priority pods nominated to the chosen node; [`Handle`] offers no way
//! to do that, so those pods keep their nomination until they are retried (they no longer
//! count against the preemptor, whose priority is higher).

mod candidates;
mod pdb;
mod victims;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use jiff::Timestamp;
use rand::Rng;
use serde::Deserialize;

pub use self::candidates::num_candidates;
use self::candidates::{dry_run, no_candidate_message, pick_one};
use self::victims::DryRun;
use crate::framework::{
    ClusterEventWithHint, Code, CycleState, Handle, NodeStatuses, Plugin, PluginError, PluginHandle, PostFilterPlugin,
    PostFilterResult, Snapshot, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "DefaultPreemption";

/// Default `minCandidateNodesPercentage`.
pub const DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE: u32 = 10;
/// Default `minCandidateNodesAbsolute`.
pub const DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE: u32 = 100;

/// Prefix of every message of the plugin.
const PREFIX: &str = "preemption: ";

/// `DefaultPreemptionArgs` in the v1 JSON shape.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    min_candidate_nodes_percentage: Option<i64>,
    #[serde(default)]
    min_candidate_nodes_absolute: Option<i64>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// Upstream's `field.Invalid` text.
fn invalid(field: &str, value: i64, detail: &str) -> String {
    format!("{field}: Invalid value: {value}: {detail}")
}

/// Upstream `ValidateDefaultPreemptionArgs`: the percentage in 0..=100, the absolute number
/// non-negative, not both zero. Several errors are listed as `[a, b]`.
fn validate(percentage: i64, absolute: i64) -> Result<(u32, u32), PluginError> {
    const PCT: &str = "minCandidateNodesPercentage";
    const ABS: &str = "minCandidateNodesAbsolute";
    let mut errs = Vec::new();
    if !(0..=100).contains(&percentage) {
        errs.push(invalid(PCT, percentage, "not in valid range [0, 100]"));
    }
    if !(0..=i64::from(i32::MAX)).contains(&absolute) {
        errs.push(invalid(ABS, absolute, "not in valid range [0, inf)"));
    }
    if percentage == 0 && absolute == 0 {
        errs.push(invalid(PCT, percentage, "cannot be zero at the same time as minCandidateNodesAbsolute"));
        errs.push(invalid(ABS, absolute, "cannot be zero at the same time as minCandidateNodesPercentage"));
    }
    match errs.len() {
        0 => Ok((u32::try_from(percentage).unwrap_or(0), u32::try_from(absolute).unwrap_or(0))),
        1 => Err(PluginError::args(NAME, errs.remove(0))),
        _ => Err(PluginError::args(NAME, format!("[{}]", errs.join(", ")))),
    }
}

/// Preempts lower-priority pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPreemption {
    min_candidate_nodes_percentage: u32,
    min_candidate_nodes_absolute: u32,
    /// Stop the dry run once no node left can rank better (tests compare with `false`).
    prune: bool,
}

impl Default for DefaultPreemption {
    fn default() -> Self {
        Self {
            min_candidate_nodes_percentage: DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE,
            min_candidate_nodes_absolute: DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE,
            prune: true,
        }
    }
}

/// Whether `pod` is terminating because the scheduler preempted it: deleted, with a
/// `DisruptionTarget=True` condition of reason `PreemptionByScheduler`.
fn terminating_by_preemption(pod: &PodInfo) -> bool {
    if pod.pod.metadata.deletion_timestamp.is_none() {
        return false;
    }
    let conditions = pod.pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionTarget")
        .is_some_and(|c| c.status == "True" && c.reason.as_deref() == Some("PreemptionByScheduler"))
}

/// Upstream `PodEligibleToPreemptOthers`: `Err` with the reason when the pod must not
/// preempt now.
fn eligible(pod: &PodInfo, statuses: &NodeStatuses, snapshot: &Snapshot) -> Result<(), &'static str> {
    let spec = pod.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.");
    }
    let nominated = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty());
    let Some(name) = nominated else { return Ok(()) };
    // A nominated node the filters found unresolvable (or did not judge, which counts the
    // same) no longer holds the pod: it may preempt elsewhere.
    let node = snapshot.get(name);
    if node.and_then(|n| statuses.get(n)).is_none_or(|s| s.code() == Code::UnschedulableAndUnresolvable) {
        return Ok(());
    }
    if let Some(node) = node
        && node.pods.iter().any(|p| p.priority < pod.priority && terminating_by_preemption(p))
    {
        return Err("not eligible due to a terminating pod on the nominated node.");
    }
    Ok(())
}

/// The nodes whose rejection removing pods may resolve (`Unschedulable`), in snapshot
/// order (upstream `NodesForStatusCode`). Nodes the filters did not judge are not among
/// them.
fn potential_nodes<'a>(snapshot: &'a Snapshot, statuses: &NodeStatuses) -> Cow<'a, [Arc<NodeInfo>]> {
    let count = statuses.values().filter(|s| s.code() == Code::Unschedulable).count();
    if count == 0 {
        return Cow::Borrowed(&[]);
    }
    if count == snapshot.len() && statuses.len() == snapshot.len() {
        // Every node (the usual case when preemption is needed): no lookups, no copies.
        return Cow::Borrowed(snapshot.nodes());
    }
    let unschedulable = |n: &&Arc<NodeInfo>| statuses.get(n).is_some_and(|s| s.code() == Code::Unschedulable);
    Cow::Owned(snapshot.nodes().iter().filter(unschedulable).cloned().collect())
}

fn failure(code: Code, message: impl std::fmt::Display) -> PostFilterResult {
    PostFilterResult {
        nominated_node: None,
        victims: Vec::new(),
        status: Status::new(code, format!("{PREFIX}{message}")).with_plugin(NAME),
    }
}

impl DefaultPreemption {
    /// A plugin with `minCandidateNodesPercentage` and `minCandidateNodesAbsolute`.
    ///
    /// # Errors
    /// The values fail upstream's validation.
    pub fn new(min_candidate_nodes_percentage: i64, min_candidate_nodes_absolute: i64) -> Result<Self, PluginError> {
        let (p, a) = validate(min_candidate_nodes_percentage, min_candidate_nodes_absolute)?;
        Ok(Self { min_candidate_nodes_percentage: p, min_candidate_nodes_absolute: a, prune: true })
    }

    /// How many candidates to look for among `num_nodes` potential nodes.
    pub fn num_candidates(&self, num_nodes: usize) -> usize {
        num_candidates(num_nodes, self.min_candidate_nodes_percentage, self.min_candidate_nodes_absolute)
    }

    /// PostFilter with the dry run starting at `offset` into the potential nodes (`None`:
    /// random, as upstream).
    pub(crate) fn preempt(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        statuses: &NodeStatuses,
        handle: &dyn Handle,
        offset: Option<usize>,
    ) -> PostFilterResult {
        let snapshot = handle.snapshot();
        if let Err(reason) = eligible(pod, statuses, snapshot) {
            return failure(Code::Unschedulable, reason);
        }
        if snapshot.is_empty() {
            return failure(Code::Error, "no nodes available");
        }
        let potential = potential_nodes(snapshot, statuses);
        let outcome = if potential.is_empty() {
            candidates::DryRunOutcome::default()
        } else {
            let budgets = pdb::budgets(&snapshot.cluster.pdbs);
            let dry = DryRun { handle, state, pod, budgets: &budgets, now: Timestamp::now() };
            let offset = offset.unwrap_or_else(|| rand::rng().random_range(0..potential.len())) % potential.len();
            let mut outcome = dry_run(&dry, &potential, offset, self.num_candidates(potential.len()), self.prune);
            if let Some(best) = pick_one(&outcome.candidates, dry.now) {
                let c = outcome.candidates.swap_remove(best);
                return PostFilterResult {
                    nominated_node: Some(c.node.name.clone()),
                    victims: c.victims.pods,
                    status: Status::success(),
                };
            }
            outcome
        };
        let errors: Vec<String> = outcome.errors().map(ToString::to_string).collect();
        match errors.len() {
            0 => failure(Code::Unschedulable, no_candidate_message(snapshot.len(), &outcome.statuses)),
            1 => failure(Code::Error, &errors[0]),
            _ => failure(Code::Error, format!("[{}]", errors.join(", "))),
        }
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Upstream registers no event (without asynchronous preemption the plugin never
    /// rejects a pod itself).
    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(Vec::new())
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        statuses: &NodeStatuses,
        handle: &dyn Handle,
    ) -> PostFilterResult {
        self.preempt(state, pod, statuses, handle, None)
    }
}

/// Builds the plugin from `DefaultPreemptionArgs`: `minCandidateNodesPercentage` (default
/// 10, 0..=100) and `minCandidateNodesAbsolute` (default 100, ≥ 0), not both 0.
///
/// # Errors
/// Unknown fields or invalid values.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    let plugin = DefaultPreemption::new(
        args.min_candidate_nodes_percentage.unwrap_or(i64::from(DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE)),
        args.min_candidate_nodes_absolute.unwrap_or(i64::from(DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE)),
    )?;
    Ok(PluginHandle::of(plugin).post_filter().build())
}
