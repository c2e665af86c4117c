//! Coscheduling: gang scheduling — the pods of a group are bound together or not at all
//! (after kubernetes-sigs/scheduler-plugins `pkg/coscheduling`). Not in the default
//! profile; enable it in a profile:
//!
//! ```yaml
//! profiles:
//! - schedulerName: default-scheduler
//!   plugins:
//!     multiPoint:
//!       enabled:
//!       - name: Coscheduling
//!   pluginConfig:
//!   - name: Coscheduling
//!     args:
//!       permitWaitingTimeSeconds: 60
//!       podGroups:                  # optional; the annotation below is enough
//!       - {namespace: default, name: training, minMember: 4}
//! ```
//!
//! # Declaring a group
//! A pod joins group `<name>` of its namespace with the label
//! `scheduling.x-k8s.io/pod-group: <name>` ([`POD_GROUP_LABEL`]); the group's minimum size
//! comes from a `podGroups` entry of the plugin args (standing in for upstream's PodGroup
//! CRD) or else from the pod's annotation `scheduling.x-k8s.io/min-available: "<n>"`
//! ([`MIN_AVAILABLE_ANNOTATION`]). A labelled pod with neither is UnschedulableAndUnresolvable.
//! Pods without the label are not affected.
//!
//! # How it works
//! - **PreEnqueue** admits every pod and remembers the group's pods that entered the active
//!   queue: the scheduler's view of the group's pending pods (upstream lists them from the
//!   pod informer). Deleted pending pods are not forgotten until the group is complete, so
//!   the count may be high; Permit is what guarantees the gang.
//! - **PreFilter** rejects (UnschedulableAndUnresolvable, no preemption) a pod whose group has
//!   fewer than minMember pods known: the pending ones above, the ones assigned in the
//!   snapshot (bound or assumed) and the ones waiting on Permit. It also records the
//!   assigned pods for Permit. A sibling's arrival (an `UnscheduledPod`/`AssignedPod` ADD
//!   event) requeues the group's rejected pods.
//! - **Permit**: when the assigned and waiting pods of the group plus this one reach
//!   minMember, every waiting pod of the group is allowed and the pod proceeds; otherwise it
//!   waits, holding its node, for at most `permitWaitingTimeSeconds` (default 60).
//! - **Unreserve** (a member timed out, was rejected or failed to bind) rejects the group's
//!   other waiting pods, so a gang that cannot complete does not hold resources.
//!
//! The plugin learns the scheduler's [`WaitingPods`] at its first Permit call (Unreserve is
//! not given them): build one plugin instance per scheduler, as the configuration does.
//!
//! QueueSort is unchanged (upstream orders by group creation time), and there is no
//! PostFilter early rejection nor `minResources` check: a gang whose last pod cannot fit
//! releases its other pods when their Permit wait times out.
//!
//! The in-memory [`Scheduler::drain`](crate::scheduler::Scheduler::drain) runs each binding
//! cycle inline, so the first gang pod would wait on Permit before the next one is
//! scheduled: drive gangs with [`Scheduler::run`](crate::scheduler::Scheduler::run).

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use serde::Deserialize;

use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, Code, CycleState, EventResource, PermitPlugin, Plugin,
    PluginError, PluginHandle, PreEnqueuePlugin, PreFilterPlugin, PreFilterResult, QueueingHint, ReservePlugin,
    Snapshot, Status, WaitingPods,
};
use crate::types::PodInfo;

/// The plugin's name.
pub const NAME: &str = "Coscheduling";
/// The label naming a pod's group (in its namespace).
pub const POD_GROUP_LABEL: &str = "scheduling.x-k8s.io/pod-group";
/// The annotation with the group's minMember.
pub const MIN_AVAILABLE_ANNOTATION: &str = "scheduling.x-k8s.io/min-available";
/// Upstream's default `permitWaitingTimeSeconds`.
pub const DEFAULT_PERMIT_WAITING_TIME_SECONDS: u64 = 60;

/// A `PodGroup` given in the args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PodGroupArg {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    min_member: u32,
}

/// `CoschedulingArgs`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    permit_waiting_time_seconds: Option<u64>,
    #[serde(default)]
    pod_groups: Vec<PodGroupArg>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// A pod's group: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    namespace: String,
    name: String,
}

impl GroupKey {
    fn of(pod: &PodInfo) -> Option<Self> {
        let name = pod.labels.get(POD_GROUP_LABEL).filter(|n| !n.is_empty())?;
        Some(Self { namespace: pod.namespace.clone(), name: name.clone() })
    }

    fn contains(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.namespace && pod.labels.get(POD_GROUP_LABEL) == Some(&self.name)
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What PreFilter saw of the group in the snapshot.
#[derive(Debug, Clone)]
struct GroupState {
    min_member: u32,
    /// Keys of the group's pods on nodes (bound or assumed).
    assigned: Arc<BTreeSet<String>>,
}

/// Schedules the pods of a group all together.
#[derive(Debug)]
pub struct Coscheduling {
    timeout: Duration,
    /// minMember of the groups given in the args.
    groups: HashMap<GroupKey, u32>,
    /// Pods of each group that entered the active queue.
    pending: Mutex<HashMap<GroupKey, HashSet<String>>>,
    /// The scheduler's waiting pods, known from the first Permit call (Unreserve and
    /// PreFilter are not given them).
    waiting: OnceLock<WaitingPods>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn same_group_hint(pod: &PodInfo, _old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match (GroupKey::of(pod), new) {
        (Some(g), Some(ClusterObject::Pod(p))) if !g.contains(p) => QueueingHint::Skip,
        (None, _) => QueueingHint::Skip,
        _ => QueueingHint::Queue,
    }
}

impl Coscheduling {
    fn new(args: Args) -> Result<Self, PluginError> {
        let secs = args.permit_waiting_time_seconds.unwrap_or(DEFAULT_PERMIT_WAITING_TIME_SECONDS);
        if secs == 0 {
            return Err(PluginError::args(NAME, "permitWaitingTimeSeconds must be greater than 0"));
        }
        let groups = args
            .pod_groups
            .into_iter()
            .map(|g| {
                (GroupKey { namespace: g.namespace.unwrap_or_else(|| "default".into()), name: g.name }, g.min_member)
            })
            .collect();
        Ok(Self { timeout: Duration::from_secs(secs), groups, pending: Mutex::default(), waiting: OnceLock::new() })
    }

    /// The group's minMember: from the args, else from the pod's annotation.
    fn min_member(&self, group: &GroupKey, pod: &PodInfo) -> Option<u32> {
        self.groups.get(group).copied().or_else(|| {
            let ann = pod.pod.metadata.annotations.as_ref()?.get(MIN_AVAILABLE_ANNOTATION)?;
            ann.trim().parse().ok()
        })
    }

    fn not_found(group: &GroupKey) -> String {
        format!(
            "pod group {group} not found: no podGroups entry in the {NAME} args nor {MIN_AVAILABLE_ANNOTATION} annotation"
        )
    }

    /// Waiting pods of `group` other than `pod`.
    fn waiting_siblings(waiting: &WaitingPods, group: &GroupKey, pod: &PodInfo) -> Vec<Arc<PodInfo>> {
        waiting.list().into_iter().map(|w| w.pod).filter(|p| group.contains(p) && p.uid != pod.uid).collect()
    }
}

impl Plugin for Coscheduling {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        Some(vec![
            ClusterEventWithHint::with_hint(EventResource::UnscheduledPod, ActionType::ADD, same_group_hint),
            ClusterEventWithHint::with_hint(EventResource::AssignedPod, ActionType::ADD, same_group_hint),
        ])
    }
}

impl PreEnqueuePlugin for Coscheduling {
    fn pre_enqueue(&self, pod: &PodInfo) -> Status {
        if let Some(g) = GroupKey::of(pod) {
            lock(&self.pending).entry(g).or_default().insert(pod.key.clone());
        }
        Status::success()
    }
}

impl PreFilterPlugin for Coscheduling {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status) {
        let Some(group) = GroupKey::of(pod) else { return (PreFilterResult::default(), Status::skip()) };
        let Some(min_member) = self.min_member(&group, pod) else {
            return (PreFilterResult::default(), Status::unresolvable(Self::not_found(&group)));
        };
        let assigned: BTreeSet<String> = snapshot
            .nodes()
            .iter()
            .flat_map(|n| n.pods.iter())
            .filter(|p| group.contains(p))
            .map(|p| p.key.clone())
            .collect();
        let mut known: BTreeSet<&str> = assigned.iter().map(String::as_str).collect();
        let pending = lock(&self.pending);
        known.extend(pending.get(&group).into_iter().flatten().map(String::as_str));
        let waiting = self.waiting.get().map(|w| Self::waiting_siblings(w, &group, pod)).unwrap_or_default();
        known.extend(waiting.iter().map(|p| p.key.as_str()));
        known.insert(&pod.key);
        let count = known.len();
        drop(pending);
        let status = if u32::try_from(count).unwrap_or(u32::MAX) < min_member {
            Status::unresolvable(format!(
                "pod group {group} has fewer than minMember pods (current pods number: {count}, minMember of group: {min_member})"
            ))
        } else {
            Status::success()
        };
        state.insert(GroupState { min_member, assigned: Arc::new(assigned) });
        (PreFilterResult::default(), status)
    }
}

impl ReservePlugin for Coscheduling {
    fn reserve(&self, _state: &mut CycleState, _pod: &PodInfo, _node: &str) -> Status {
        Status::success()
    }

    fn unreserve(&self, _state: &mut CycleState, pod: &PodInfo, _node: &str) {
        let (Some(group), Some(waiting)) = (GroupKey::of(pod), self.waiting.get()) else { return };
        for sibling in Self::waiting_siblings(waiting, &group, pod) {
            let reason = format!("rejection in Unreserve: pod {} of pod group {group} was unreserved", pod.key);
            waiting.reject(&sibling.uid, NAME, &reason);
        }
    }
}

impl PermitPlugin for Coscheduling {
    fn permit(&self, state: &CycleState, pod: &PodInfo, _node: &str, waiting: &WaitingPods) -> (Status, Duration) {
        let waiting = self.waiting.get_or_init(|| waiting.clone());
        let Some(group) = GroupKey::of(pod) else { return (Status::success(), Duration::ZERO) };
        let (min_member, assigned) = match state.get::<GroupState>() {
            Some(s) => (Some(s.min_member), Arc::clone(&s.assigned)),
            None => (self.min_member(&group, pod), Arc::default()),
        };
        let Some(min_member) = min_member else {
            return (Status::unschedulable(Self::not_found(&group)), Duration::ZERO);
        };
        let siblings = Self::waiting_siblings(waiting, &group, pod);
        let mut members: BTreeSet<&str> = assigned.iter().map(String::as_str).collect();
        members.extend(siblings.iter().map(|p| p.key.as_str()));
        members.remove(pod.key.as_str());
        let ready = u32::try_from(members.len() + 1).unwrap_or(u32::MAX);
        if ready < min_member {
            let msg = format!("pod group {group}: {ready} of minMember {min_member} pods ready, waiting");
            return (Status::new(Code::Wait, msg), self.timeout);
        }
        for s in &siblings {
            waiting.allow(&s.uid, NAME);
        }
        // The group is complete: its pods are all assigned now.
        lock(&self.pending).remove(&group);
        (Status::success(), Duration::ZERO)
    }
}

/// Builds the plugin from `CoschedulingArgs`: `permitWaitingTimeSeconds` (default 60, > 0)
/// and optional `podGroups` [{`namespace` (default `default`), `name`, `minMember`}].
///
/// # Errors
/// Unknown fields, a zero timeout.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    Ok(PluginHandle::of(Coscheduling::new(args)?).pre_enqueue().pre_filter().reserve().permit().build())
}
