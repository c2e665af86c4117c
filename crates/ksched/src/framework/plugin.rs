//! The plugin traits, one per extension point (upstream `pkg/scheduler/framework`).
//!
//! Scheduling-cycle points are synchronous: Filter and Score run in parallel over nodes
//! (rayon), so they take `&self` and `&CycleState`. Binding-cycle points (PreBind, Bind,
//! PostBind) are async and may call the API.
//!
//! # Correctness
//! - Filter must judge only from the [`NodeInfo`] it is given (and the cycle state):
//!   preemption passes copies with pods removed.
//! - PreFilter state must be kept consistent by the AddPod/RemovePod extensions when a
//!   plugin's Filter depends on other pods.
//! - Unreserve must be idempotent and must undo whatever Reserve did.
//! - Score must return 0..=[`MAX_NODE_SCORE`] after NormalizeScore.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::events::ClusterEventWithHint;
use super::snapshot::Snapshot;
use super::state::CycleState;
use super::status::Status;
use super::statuses::NodeStatuses;
use super::waiting::WaitingPods;
use crate::types::{NodeInfo, PodInfo};

/// The highest score a Score plugin may give after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

/// Every plugin.
pub trait Plugin: Send + Sync {
    /// The plugin's name, as in the configuration (`NodeResourcesFit`).
    fn name(&self) -> &'static str;

    /// Events that may make a pod this plugin rejected schedulable, with hints. The default,
    /// `None`, means every event (as upstream treats plugins without EnqueueExtensions).
    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        None
    }
}

/// A pod waiting in the queue, as QueueSort compares them.
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// When it was (last) added to the queue, in nanoseconds of the queue's clock.
    pub timestamp: u128,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When it was first added (for the leftover flush and metrics).
    pub initial_timestamp: u128,
    /// Plugins that rejected it in its last attempt.
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// Plugins that returned Pending for it in its last attempt.
    pub pending_plugins: BTreeSet<&'static str>,
}

/// PreEnqueue: may the pod enter the active queue at all (scheduling gates)?
pub trait PreEnqueuePlugin: Plugin {
    /// Success lets the pod in; anything else keeps it aside until an event.
    fn pre_enqueue(&self, pod: &PodInfo) -> Status;
}

/// QueueSort: the order of the active queue. Exactly one per scheduler.
pub trait QueueSortPlugin: Plugin {
    /// Whether `a` goes before `b`.
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool;
}

/// What PreFilter can say about where the pod may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    /// Only these nodes need filtering (`None`: all).
    pub node_names: Option<BTreeSet<String>>,
}

impl PreFilterResult {
    /// Both restrictions.
    #[must_use]
    pub fn merge(self, other: PreFilterResult) -> PreFilterResult {
        match (self.node_names, other.node_names) {
            (None, o) => PreFilterResult { node_names: o },
            (s, None) => PreFilterResult { node_names: s },
            (Some(a), Some(b)) => PreFilterResult { node_names: Some(a.intersection(&b).cloned().collect()) },
        }
    }
}

/// Keeps PreFilter state right when preemption adds or removes pods from a node copy.
pub trait PreFilterExtensions: Send + Sync {
    /// `pod_to_add` is now counted on `node`.
    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, pod_to_add: &Arc<PodInfo>, node: &NodeInfo) -> Status;
    /// `pod_to_remove` is no longer counted on `node`.
    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        pod_to_remove: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status;
}

/// PreFilter: computes per-cycle state; may restrict the nodes; Skip disables the plugin's
/// Filter for this pod.
pub trait PreFilterPlugin: Plugin {
    /// Runs once per cycle.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status);
    /// The AddPod/RemovePod extensions, when Filter depends on other pods.
    fn extensions(&self) -> Option<&dyn PreFilterExtensions> {
        None
    }
}

/// Filter: may the pod run on this node?
pub trait FilterPlugin: Plugin {
    /// Success, Unschedulable or UnschedulableAndUnresolvable (or Error).
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;

    /// Whether the verdict may depend on the pods on the node (their requests, ports,
    /// volumes, labels …) rather than only on the node itself (its name, labels, taints,
    /// `spec.unschedulable`, allocatable).
    ///
    /// A node passes Filter twice when pods are nominated to it: as it is, then with
    /// those pods added (upstream `RunFilterPluginsWithNominatedPods`). Only plugins that
    /// answer `true` run the second time: the others already passed on the same node.
    ///
    /// # Correctness
    /// Answer `false` only if `filter` reads nothing that adding a pod to a
    /// [`NodeInfo`] changes. The default, `true`, is always correct.
    fn reads_node_pods(&self) -> bool {
        true
    }
}

/// What the framework offers PostFilter plugins (preemption).
pub trait Handle: Send + Sync {
    /// The cycle's snapshot.
    fn snapshot(&self) -> &Snapshot;
    /// Runs every Filter plugin of the profile on `node` (a possibly modified copy).
    fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
    /// Runs every PreFilter extension's RemovePod.
    fn run_remove_pod(&self, state: &mut CycleState, pod: &PodInfo, victim: &Arc<PodInfo>, node: &NodeInfo) -> Status;
    /// Runs every PreFilter extension's AddPod.
    fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodInfo>, node: &NodeInfo) -> Status;
    /// Pods nominated to `node` (waiting for preemption victims to go), to count as present.
    fn nominated_pods(&self, node: &str) -> Vec<Arc<PodInfo>>;
}

/// The result of PostFilter.
#[derive(Debug, Clone)]
pub struct PostFilterResult {
    /// The node the pod is nominated to (victims are being evicted there).
    pub nominated_node: Option<String>,
    /// Pods to evict.
    pub victims: Vec<Arc<PodInfo>>,
    /// Success when a nomination was made.
    pub status: Status,
}

/// PostFilter: runs when no node fits (preemption).
pub trait PostFilterPlugin: Plugin {
    /// Tries to make room.
    fn post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        statuses: &NodeStatuses,
        handle: &dyn Handle,
    ) -> PostFilterResult;
}

/// PreScore: computes state for Score over the feasible nodes; Skip disables Score.
pub trait PreScorePlugin: Plugin {
    /// Runs once per cycle with the nodes that passed filtering.
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[&NodeInfo], snapshot: &Snapshot) -> Status;
}

/// One node's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore<'a> {
    /// The node.
    pub name: &'a str,
    /// Its score.
    pub score: i64,
}

/// Score: how good is this node for the pod?
pub trait ScorePlugin: Plugin {
    /// The raw score.
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status);
    /// Brings the scores into 0..=100 (default: unchanged).
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [NodeScore<'_>]) -> Status {
        Status::success()
    }
}

/// Reserve / Unreserve: claim or release what the pod will use on its node.
pub trait ReservePlugin: Plugin {
    /// Claims.
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status;
    /// Releases (idempotent).
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// Permit: approve, reject or delay the binding.
pub trait PermitPlugin: Plugin {
    /// Success, a rejection, or Wait with a timeout. `waiting` holds the pods other Permit
    /// calls put on hold, which this call may allow or reject (gang scheduling).
    fn permit(&self, state: &CycleState, pod: &PodInfo, node: &str, waiting: &WaitingPods) -> (Status, Duration);
}

/// PreBind: work before the binding (volume binding).
pub trait PreBindPlugin: Plugin {
    /// Runs in the binding cycle.
    fn pre_bind<'a>(&'a self, state: &'a CycleState, pod: &'a PodInfo, node: &'a str) -> BoxFuture<'a, Status>;
}

/// Bind: the binding itself; the first plugin not returning Skip wins.
pub trait BindPlugin: Plugin {
    /// Binds.
    fn bind<'a>(&'a self, state: &'a CycleState, pod: &'a PodInfo, node: &'a str) -> BoxFuture<'a, Status>;
}

/// PostBind: informational, after a successful binding.
pub trait PostBindPlugin: Plugin {
    /// Runs after binding.
    fn post_bind<'a>(&'a self, state: &'a CycleState, pod: &'a PodInfo, node: &'a str) -> BoxFuture<'a, ()>;
}
