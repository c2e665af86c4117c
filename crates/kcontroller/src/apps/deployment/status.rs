//! Deployment status and conditions (upstream `calculateStatus`, `syncRolloutStatus`,
//! `checkPausedConditions`, `DeploymentComplete`, `DeploymentProgressing`,
//! `DeploymentTimedOut`, `requeueStuckDeployment`).

use std::time::Duration;

use kapi::k8s::api::apps::v1::{DeploymentCondition, DeploymentStatus, ReplicaSet};
use kapi::k8s::jiff::Timestamp;

use super::spec::ResolvedSpec;
use super::work::{self, Work};
use crate::apps::pod;

/// Condition type `Available`.
pub const AVAILABLE: &str = "Available";
/// Condition type `Progressing`.
pub const PROGRESSING: &str = "Progressing";
/// Condition type `ReplicaFailure`.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Progressing: a ReplicaSet was scaled as part of the rollout.
pub const REPLICA_SET_UPDATED_REASON: &str = "ReplicaSetUpdated";
/// Progressing: the new ReplicaSet could not be created.
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
/// Progressing: the new ReplicaSet was created.
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
/// Progressing: an existing ReplicaSet was found to be the new one.
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
/// Progressing: the rollout completed.
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
/// Progressing: no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
/// Progressing: the Deployment is paused.
pub const PAUSED_REASON: &str = "DeploymentPaused";
/// Progressing: the Deployment was resumed.
pub const RESUMED_REASON: &str = "DeploymentResumed";
/// Available: enough pods are available.
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available: too few pods are available.
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// Upstream `NewDeploymentCondition`: both times `now` (whole seconds).
pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(pod::api_time(now)),
        last_transition_time: Some(pod::api_time(now)),
    }
}

/// The condition of `type_`, if any.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

fn reason_of(c: Option<&DeploymentCondition>) -> Option<&str> {
    c.and_then(|c| c.reason.as_deref())
}

/// Upstream `SetDeploymentCondition`: nothing when a condition of the type with the same
/// status and reason exists; otherwise replaces it (moved to the end), keeping the old
/// `lastTransitionTime` when the status is unchanged.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// Upstream `RemoveDeploymentCondition` (an emptied list becomes absent).
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_ != type_);
        if conds.is_empty() {
            status.conditions = None;
        }
    }
}

fn nonzero(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

fn count(s: &DeploymentStatus) -> [i32; 5] {
    [
        s.replicas.unwrap_or(0),
        s.updated_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
        s.available_replicas.unwrap_or(0),
        s.unavailable_replicas.unwrap_or(0),
    ]
}

/// Whether two statuses differ once absent and zero (and absent and empty lists) are
/// treated alike, as in their JSON form.
pub fn status_differs(a: &DeploymentStatus, b: &DeploymentStatus) -> bool {
    count(a) != count(b)
        || a.observed_generation.unwrap_or(0) != b.observed_generation.unwrap_or(0)
        || a.collision_count != b.collision_count
        || a.conditions.clone().unwrap_or_default() != b.conditions.clone().unwrap_or_default()
}

/// Upstream `calculateStatus`: counts from the ReplicaSets and the Available condition.
pub(super) fn calculate_status(
    spec: &ResolvedSpec,
    generation: i64,
    current: &DeploymentStatus,
    all: &[ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available: i32 = all.iter().map(work::available).sum();
    let total: i32 = all.iter().map(work::replicas).sum();
    let unavailable = (total - available).max(0);
    let mut status = DeploymentStatus {
        observed_generation: (generation != 0).then_some(generation),
        replicas: nonzero(all.iter().map(work::actual).sum()),
        updated_replicas: nonzero(new.map_or(0, work::actual)),
        ready_replicas: nonzero(all.iter().map(work::ready).sum()),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        collision_count: current.collision_count,
        conditions: current.conditions.clone().filter(|c| !c.is_empty()),
        terminating_replicas: None,
    };
    let cond = if available >= spec.replicas - spec.max_unavailable() {
        new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "Deployment has minimum availability.".into(), now)
    } else {
        new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    set_condition(&mut status, cond);
    status
}

/// Upstream `DeploymentComplete`: every desired replica updated and available, no old pods,
/// and the generation observed.
pub fn deployment_complete(spec: &ResolvedSpec, generation: i64, status: &DeploymentStatus) -> bool {
    let r = spec.replicas;
    status.updated_replicas.unwrap_or(0) == r
        && status.replicas.unwrap_or(0) == r
        && status.available_replicas.unwrap_or(0) == r
        && status.observed_generation.unwrap_or(0) >= generation
}

/// Upstream `DeploymentProgressing`: more updated, ready or available pods, or fewer old
/// pods, than in `old`.
pub fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let [old_replicas, old_updated, old_ready, old_available, _] = count(old);
    let [new_replicas, new_updated, new_ready, new_available, _] = count(new);
    new_updated > old_updated
        || (new_replicas - new_updated) < (old_replicas - old_updated)
        || new_ready > old_ready
        || new_available > old_available
}

/// Upstream `DeploymentTimedOut`: the Progressing condition says timed out, or was last
/// updated more than `progressDeadlineSeconds` before `now` (never once the rollout
/// completed).
pub fn deployment_timed_out(spec: &ResolvedSpec, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = spec.progress_deadline_seconds else { return false };
    let Some(cond) = condition(status, PROGRESSING) else { return false };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => match &cond.last_update_time {
            None => true,
            Some(from) => pod::add_secs(from.0, i64::from(deadline)) < now,
        },
    }
}

/// Upstream `checkPausedConditions`: Progressing becomes Unknown/DeploymentPaused when
/// paused and Unknown/DeploymentResumed when resumed (not over a timeout).
pub(super) fn check_paused_conditions(w: &mut Work<'_>) {
    if !w.spec.has_progress_deadline() {
        return;
    }
    let current = w.status();
    let reason = reason_of(condition(&current, PROGRESSING));
    if reason == Some(TIMED_OUT_REASON) {
        return;
    }
    let paused_exists = reason == Some(PAUSED_REASON);
    let cond = if w.spec.paused && !paused_exists {
        new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused".into(), w.now)
    } else if !w.spec.paused && paused_exists {
        new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed".into(), w.now)
    } else {
        return;
    };
    set_condition(w.status_mut(), cond);
}

/// Upstream `syncDeploymentStatus`: counts and Available only.
pub(super) fn sync_deployment_status(w: &mut Work<'_>, all: &[ReplicaSet], new: Option<&ReplicaSet>) {
    let generation = w.d.metadata.generation.unwrap_or(0);
    w.final_status = Some(calculate_status(&w.spec, generation, &w.status(), all, new, w.now));
}

/// Upstream `syncRolloutStatus`: counts, Available, Progressing (with the deadline) and
/// ReplicaFailure; also the progress-check requeue.
pub(super) fn sync_rollout_status(w: &mut Work<'_>, all: &[ReplicaSet], new: Option<&ReplicaSet>) {
    let generation = w.d.metadata.generation.unwrap_or(0);
    let current = w.status();
    let mut status = calculate_status(&w.spec, generation, &current, all, new, w.now);
    if !w.spec.has_progress_deadline() {
        remove_condition(&mut status, PROGRESSING);
    }
    let current_cond = condition(&current, PROGRESSING).cloned();
    let is_complete =
        status.replicas == status.updated_replicas && reason_of(current_cond.as_ref()) == Some(NEW_RS_AVAILABLE_REASON);
    let subject = match new.and_then(|rs| rs.metadata.name.as_deref()) {
        Some(rs) => format!("ReplicaSet {rs:?}"),
        None => format!("Deployment {:?}", w.name),
    };
    if w.spec.has_progress_deadline() && !is_complete {
        if deployment_complete(&w.spec, generation, &status) {
            let msg = format!("{subject} has successfully progressed.");
            set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON, msg, w.now));
        } else if deployment_progressing(&current, &status) {
            let msg = format!("{subject} is progressing.");
            let mut cond = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED_REASON, msg, w.now);
            if let Some(cur) = &current_cond {
                if cur.status == "True" {
                    cond.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, cond);
        } else if deployment_timed_out(&w.spec, &status, w.now) {
            let msg = format!("{subject} has timed out progressing.");
            set_condition(&mut status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON, msg, w.now));
        }
    }
    match replica_failure(all, new) {
        Some(cond) => set_condition(&mut status, cond),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    w.requeue_after = requeue_stuck(&w.spec, generation, &status, w.now);
    w.final_status = Some(status);
}

/// Upstream `getReplicaFailures`: the new ReplicaSet's ReplicaFailure condition, else the
/// first one of any ReplicaSet, as a Deployment condition.
fn replica_failure(all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure = |rs: &ReplicaSet| {
        rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE).map(|c| {
            DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                last_transition_time: c.last_transition_time.clone(),
                last_update_time: c.last_transition_time.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
            }
        })
    };
    new.and_then(failure).or_else(|| all.iter().find_map(failure))
}

/// Upstream `requeueStuckDeployment`: when a rollout is in progress under a deadline, when to
/// check it again (the Progressing condition's last update plus the deadline, plus one
/// second; zero when less than a second remains).
pub(super) fn requeue_stuck(
    spec: &ResolvedSpec,
    generation: i64,
    status: &DeploymentStatus,
    now: Timestamp,
) -> Option<Duration> {
    let deadline = spec.progress_deadline_seconds?;
    let cond = condition(status, PROGRESSING)?;
    if deployment_complete(spec, generation, status) || cond.reason.as_deref() == Some(TIMED_OUT_REASON) {
        return None;
    }
    let last = cond.last_update_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0);
    let after = pod::duration_until(now, pod::add_secs(last, i64::from(deadline)));
    if after < Duration::from_secs(1) { Some(Duration::ZERO) } else { Some(after + Duration::from_secs(1)) }
}
