//! The ReplicaSet and ReplicationController controller core (upstream
//! `pkg/controller/replicaset`, which also serves ReplicationControllers).
//!
//! One sync of one controller object:
//!
//! 1. the I/O layer normalizes the object into a [`ReplicaSetView`]
//!    ([`ReplicaSetView::from_replica_set`] or [`ReplicaSetView::from_replication_controller`]),
//!    asks its [`Expectations`](super::expectations::Expectations) whether the controller may
//!    act, and calls [`plan`] with all pods of the namespace;
//! 2. it applies [`ReplicaSetPlan::adopt`] / [`ReplicaSetPlan::release`] patches
//!    ([`claim::adopt_patch`] with
//!    [`ReplicaSetPlan::owner_reference`], [`claim::release_patch`]);
//!    upstream re-reads the controller uncached before the first adoption and skips adoption
//!    if it is being deleted;
//! 3. it records expectations and creates `create` copies of [`ReplicaSetPlan::pod`] in
//!    batches of [`slow_start_batches`], stopping after a batch with a failure, or deletes the
//!    pods of [`ReplicaSetPlan::delete`] (concurrently);
//! 4. it writes [`ReplicaSetPlan::final_status`] for the outcome (a `ReplicaFailure`
//!    condition when creates or deletes failed) and requeues after
//!    [`ReplicaSetPlan::requeue_after`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use kapi::k8s::api::core::v1::{
    Pod, PodTemplateSpec, ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kapi::k8s::jiff::Timestamp;
use kapi::labels::{Selector, SelectorError};

use super::claim::{self, Claim, Claimer, ObjectRef};
use super::pod;
use super::podrank;

/// Upstream `BurstReplicas`: at most this many pods are created or deleted in one sync.
pub const BURST_REPLICAS: usize = 500;
/// Upstream `SlowStartInitialBatchSize`: the first create batch.
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;
/// The condition type set when creating or deleting pods failed.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";
/// `ReplicaFailure` reason when creates failed.
pub const FAILED_CREATE: &str = "FailedCreate";
/// `ReplicaFailure` reason when deletes failed.
pub const FAILED_DELETE: &str = "FailedDelete";

/// Bad input for the ReplicaSet core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaSetError {
    /// The object has no name or uid (it was never stored).
    #[error("{kind} has no {missing}")]
    Incomplete {
        /// The object's kind.
        kind: &'static str,
        /// The missing field: "name" or "uid".
        missing: &'static str,
    },
    /// The object has no pod template.
    #[error("{kind} {name:?} has no pod template")]
    MissingTemplate {
        /// The object's kind.
        kind: &'static str,
        /// The object's name.
        name: String,
    },
    /// The selector cannot be converted.
    #[error("{kind} {name:?} has an invalid selector: {source}")]
    InvalidSelector {
        /// The object's kind.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// Why.
        source: SelectorError,
    },
}

/// Which API kind a [`ReplicaSetView`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControllerKind {
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` ReplicationController.
    ReplicationController,
}

impl ControllerKind {
    /// The kind's name.
    pub fn kind(self) -> &'static str {
        match self {
            Self::ReplicaSet => "ReplicaSet",
            Self::ReplicationController => "ReplicationController",
        }
    }

    /// The kind's `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::ReplicaSet => "apps/v1",
            Self::ReplicationController => "v1",
        }
    }
}

/// A ReplicaSet or ReplicationController, normalized to what the controller needs (upstream
/// converts RCs to ReplicaSets the same way).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetView {
    /// The source kind.
    pub kind: ControllerKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `spec.replicas` (default 1).
    pub replicas: i32,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: i32,
    /// The pod selector.
    pub selector: Selector,
    /// The pod template.
    pub template: PodTemplateSpec,
    /// Whether the object has a deletion timestamp.
    pub deleting: bool,
    /// UID of the object's own controller (a Deployment), if any.
    pub controller_uid: Option<String>,
    /// The current status, as a ReplicaSet status.
    pub status: ReplicaSetStatus,
}

fn identity(meta: &ObjectMeta, kind: &'static str) -> Result<(String, String), ReplicaSetError> {
    let name =
        meta.name.clone().filter(|n| !n.is_empty()).ok_or(ReplicaSetError::Incomplete { kind, missing: "name" })?;
    let uid = meta.uid.clone().filter(|u| !u.is_empty()).ok_or(ReplicaSetError::Incomplete { kind, missing: "uid" })?;
    Ok((name, uid))
}

impl ReplicaSetView {
    /// Normalizes a ReplicaSet.
    pub fn from_replica_set(rs: &ReplicaSet) -> Result<Self, ReplicaSetError> {
        let kind = "ReplicaSet";
        let (name, uid) = identity(&rs.metadata, kind)?;
        let spec = rs.spec.clone().unwrap_or_default();
        let template = spec.template.ok_or_else(|| ReplicaSetError::MissingTemplate { kind, name: name.clone() })?;
        let selector = Selector::from_label_selector(Some(&spec.selector))
            .map_err(|source| ReplicaSetError::InvalidSelector { kind, name: name.clone(), source })?;
        Ok(Self {
            kind: ControllerKind::ReplicaSet,
            namespace: rs.metadata.namespace.clone().unwrap_or_default(),
            name,
            uid,
            generation: rs.metadata.generation.unwrap_or(0),
            replicas: spec.replicas.unwrap_or(1),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            selector,
            template,
            deleting: rs.metadata.deletion_timestamp.is_some(),
            controller_uid: kapi::owner::controller_of(&rs.metadata).map(|r| r.uid.clone()),
            status: rs.status.clone().unwrap_or_default(),
        })
    }

    /// Normalizes a ReplicationController. An absent or empty selector defaults to the
    /// template's labels, as API defaulting does.
    pub fn from_replication_controller(rc: &ReplicationController) -> Result<Self, ReplicaSetError> {
        let kind = "ReplicationController";
        let (name, uid) = identity(&rc.metadata, kind)?;
        let spec = rc.spec.clone().unwrap_or_default();
        let template = spec.template.ok_or_else(|| ReplicaSetError::MissingTemplate { kind, name: name.clone() })?;
        let set = match spec.selector.filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default(),
        };
        let selector = Selector::from_set(set).map_err(|source| ReplicaSetError::InvalidSelector {
            kind,
            name: name.clone(),
            source,
        })?;
        let status = rc.status.clone().unwrap_or_default();
        Ok(Self {
            kind: ControllerKind::ReplicationController,
            namespace: rc.metadata.namespace.clone().unwrap_or_default(),
            name,
            uid,
            generation: rc.metadata.generation.unwrap_or(0),
            replicas: spec.replicas.unwrap_or(1),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
            selector,
            template,
            deleting: rc.metadata.deletion_timestamp.is_some(),
            controller_uid: kapi::owner::controller_of(&rc.metadata).map(|r| r.uid.clone()),
            status: ReplicaSetStatus {
                replicas: status.replicas,
                fully_labeled_replicas: status.fully_labeled_replicas,
                ready_replicas: status.ready_replicas,
                available_replicas: status.available_replicas,
                observed_generation: status.observed_generation,
                conditions: status.conditions.map(|cs| {
                    cs.into_iter()
                        .map(|c| ReplicaSetCondition {
                            last_transition_time: c.last_transition_time,
                            message: c.message,
                            reason: c.reason,
                            status: c.status,
                            type_: c.type_,
                        })
                        .collect()
                }),
                terminating_replicas: None,
            },
        })
    }

    /// The `namespace/name` key used for expectations and work queues.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The controller reference pods get (and adoptions patch in).
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.kind.api_version().into(),
            kind: self.kind.kind().into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// Converts a ReplicaSet status (as the plan computes it) into a ReplicationController status.
pub fn to_replication_controller_status(status: &ReplicaSetStatus) -> ReplicationControllerStatus {
    ReplicationControllerStatus {
        replicas: status.replicas,
        fully_labeled_replicas: status.fully_labeled_replicas,
        ready_replicas: status.ready_replicas,
        available_replicas: status.available_replicas,
        observed_generation: status.observed_generation,
        conditions: status.conditions.as_ref().map(|cs| {
            cs.iter()
                .map(|c| ReplicationControllerCondition {
                    last_transition_time: c.last_transition_time.clone(),
                    message: c.message.clone(),
                    reason: c.reason.clone(),
                    status: c.status.clone(),
                    type_: c.type_.clone(),
                })
                .collect()
        }),
    }
}

/// Upstream `slowStartBatch` sizes for `count` creations: 1, 2, 4, … capped by what remains.
/// The I/O layer runs each batch concurrently and stops after a batch with any failure; every
/// creation it did not attempt or that failed must be reported to the expectations with
/// `creation_observed`.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut remaining = count;
    let mut batch = remaining.min(SLOW_START_INITIAL_BATCH_SIZE);
    while batch > 0 {
        out.push(batch);
        remaining -= batch;
        batch = batch.saturating_mul(2).min(remaining);
    }
    out
}

/// Upstream `GetPodFromTemplate`: the pod to create for `view` — the template's labels,
/// annotations, finalizers and spec, `generateName` `<name>-` (just `<name>` when the dash
/// would make it too long), the namespace, and the controller reference.
pub fn pod_from_template(view: &ReplicaSetView) -> Pod {
    let tmeta = view.template.metadata.clone().unwrap_or_default();
    let prefix = if view.name.len() < 253 { format!("{}-", view.name) } else { view.name.clone() };
    Pod {
        metadata: ObjectMeta {
            namespace: Some(view.namespace.clone()),
            generate_name: Some(prefix),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![view.owner_reference()]),
            ..Default::default()
        },
        spec: view.template.spec.clone(),
        status: None,
    }
}

/// What one sync needs.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSetInput<'a> {
    /// The controller object.
    pub controller: &'a ReplicaSetView,
    /// All pods of the controller's namespace (terminal and terminating ones included).
    pub pods: &'a [Arc<Pod>],
    /// Other ReplicaSets of the namespace; those controlled by the same owner as
    /// `controller` define the related pods used for co-location ranking (upstream
    /// `getIndirectlyRelatedPods`). May be empty.
    pub siblings: &'a [ReplicaSetView],
    /// The result of `Expectations::satisfied` for the controller's key: when false, the plan
    /// neither creates nor deletes.
    pub expectations_satisfied: bool,
    /// The current time.
    pub now: Timestamp,
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetPlan {
    /// Orphan pods to adopt (patch with [`claim::adopt_patch`] and
    /// [`owner_reference`](Self::owner_reference)).
    pub adopt: Vec<ObjectRef>,
    /// Owned pods that no longer match, to release ([`claim::release_patch`]).
    pub release: Vec<ObjectRef>,
    /// The controller reference for adoptions and new pods.
    pub owner_reference: OwnerReference,
    /// How many pods to create (already capped at [`BURST_REPLICAS`]); see
    /// [`slow_start_batches`].
    pub create: usize,
    /// The pod to create `create` times.
    pub pod: Pod,
    /// Pods to delete (capped at [`BURST_REPLICAS`]), best candidates first.
    pub delete: Vec<ObjectRef>,
    /// The status to write when every create and delete succeeded.
    pub status: ReplicaSetStatus,
    /// Requeue after this delay: the first moment a ready pod becomes available.
    pub requeue_after: Option<Duration>,
    namespace: String,
    generation: i64,
    observed: ReplicaSetStatus,
    failure_reason: Option<&'static str>,
}

impl ReplicaSetPlan {
    /// `namespace/name` keys of the pods to delete, for `Expectations::expect_deletions`.
    pub fn delete_keys(&self) -> Vec<String> {
        self.delete.iter().map(|p| format!("{}/{}", self.namespace, p.name)).collect()
    }

    /// The status after executing the plan: `failure` is the first create or delete error
    /// (`None` when all succeeded). Upstream adds a `ReplicaFailure` condition (reason
    /// `FailedCreate` or `FailedDelete`, the error as message) unless one is already present.
    pub fn status_after(&self, failure: Option<&str>, now: Timestamp) -> ReplicaSetStatus {
        let (Some(message), Some(reason)) = (failure, self.failure_reason) else { return self.status.clone() };
        let mut status = self.status.clone();
        let observed = self.observed.conditions.clone().unwrap_or_default();
        if observed.iter().any(|c| c.type_ == REPLICA_FAILURE) {
            status.conditions = Some(observed);
            return status;
        }
        let mut conditions = observed;
        conditions.push(ReplicaSetCondition {
            type_: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_transition_time: Some(pod::api_time(now)),
        });
        status.conditions = Some(conditions);
        status
    }

    /// The status to write after executing the plan, or `None` when the stored one is
    /// already current (upstream `updateReplicaSetStatus`'s steady-state check).
    pub fn final_status(&self, failure: Option<&str>, now: Timestamp) -> Option<ReplicaSetStatus> {
        let status = self.status_after(failure, now);
        needs_status_update(self.generation, &self.observed, &status).then_some(status)
    }
}

fn nz(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Upstream's steady-state check: a status write is needed unless the counts and conditions
/// are unchanged and `observedGeneration` already equals `generation`.
pub fn needs_status_update(generation: i64, observed: &ReplicaSetStatus, new: &ReplicaSetStatus) -> bool {
    let conds = |s: &ReplicaSetStatus| s.conditions.clone().unwrap_or_default();
    !(observed.replicas == new.replicas
        && nz(observed.fully_labeled_replicas) == nz(new.fully_labeled_replicas)
        && nz(observed.ready_replicas) == nz(new.ready_replicas)
        && nz(observed.available_replicas) == nz(new.available_replicas)
        && observed.observed_generation.unwrap_or(0) == generation
        && conds(observed) == conds(new))
}

fn some_nonzero(v: usize) -> Option<i32> {
    let v = i32::try_from(v).unwrap_or(i32::MAX);
    (v != 0).then_some(v)
}

/// Plans one sync of a ReplicaSet or ReplicationController (upstream `syncReplicaSet`).
pub fn plan(input: ReplicaSetInput<'_>) -> ReplicaSetPlan {
    let rs = input.controller;
    let now = input.now;
    let claimer = Claimer { uid: &rs.uid, namespace: Some(&rs.namespace), deleting: rs.deleting };

    // Claim among the active pods.
    let mut owned: Vec<&Pod> = Vec::new();
    let mut adopt = Vec::new();
    let mut release = Vec::new();
    for p in input.pods.iter().filter(|p| pod::is_active(p)) {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        match claim::claim(claimer, &p.metadata, rs.selector.matches(&labels)) {
            Claim::Owned => owned.push(p),
            Claim::Adopt => {
                adopt.push(ObjectRef::of(&p.metadata));
                owned.push(p);
            }
            Claim::Release => release.push(ObjectRef::of(&p.metadata)),
            Claim::Ignore => {}
        }
    }

    // Manage replicas.
    let replicas = usize::try_from(rs.replicas.max(0)).unwrap_or(0);
    let mut create = 0;
    let mut delete = Vec::new();
    let mut failure_reason = None;
    if input.expectations_satisfied && !rs.deleting {
        if owned.len() < replicas {
            create = (replicas - owned.len()).min(BURST_REPLICAS);
            failure_reason = Some(FAILED_CREATE);
        } else if owned.len() > replicas {
            let count = (owned.len() - replicas).min(BURST_REPLICAS);
            let related = related_pods(rs, input.siblings, input.pods);
            delete = podrank::pods_to_delete(&owned, &related, count, now)
                .into_iter()
                .map(|p| ObjectRef::of(&p.metadata))
                .collect();
            failure_reason = Some(FAILED_DELETE);
        }
    }

    // Status.
    let template_labels: BTreeMap<String, String> =
        rs.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut fully_labeled = 0;
    let mut ready = 0;
    let mut available = 0;
    let mut next_available: Option<Timestamp> = None;
    for p in &owned {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        if template_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            fully_labeled += 1;
        }
        if pod::is_ready(p) {
            ready += 1;
            if pod::is_available(p, rs.min_ready_seconds, now) {
                available += 1;
            } else if let Some(at) = pod::available_at(p, rs.min_ready_seconds, now) {
                next_available = Some(next_available.map_or(at, |n| n.min(at)));
            }
        }
    }
    let mut status = rs.status.clone();
    status.replicas = i32::try_from(owned.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = some_nonzero(fully_labeled);
    status.ready_replicas = some_nonzero(ready);
    status.available_replicas = some_nonzero(available);
    status.observed_generation = (rs.generation != 0).then_some(rs.generation);
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_ != REPLICA_FAILURE);
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty)
        && rs.status.conditions.as_ref().is_some_and(|c| !c.is_empty())
    {
        status.conditions = None;
    }

    ReplicaSetPlan {
        adopt,
        release,
        owner_reference: rs.owner_reference(),
        create,
        pod: pod_from_template(rs),
        delete,
        status,
        requeue_after: next_available.map(|at| pod::duration_until(now, at)),
        namespace: rs.namespace.clone(),
        generation: rs.generation,
        observed: rs.status.clone(),
        failure_reason,
    }
}

/// Pods selected by any ReplicaSet with the same controller as `rs` (none when `rs` has no
/// controller), de-duplicated by UID later.
fn related_pods<'a>(rs: &ReplicaSetView, siblings: &[ReplicaSetView], pods: &'a [Arc<Pod>]) -> Vec<&'a Pod> {
    let Some(owner) = rs.controller_uid.as_deref() else { return Vec::new() };
    let mut selectors: Vec<&Selector> = siblings
        .iter()
        .filter(|s| s.namespace == rs.namespace && s.controller_uid.as_deref() == Some(owner))
        .map(|s| &s.selector)
        .collect();
    if !siblings.iter().any(|s| s.uid == rs.uid) {
        selectors.push(&rs.selector);
    }
    pods.iter()
        .filter(|p| {
            let labels = p.metadata.labels.clone().unwrap_or_default();
            selectors.iter().any(|s| s.matches(&labels))
        })
        .map(|p| &**p)
        .collect()
}

#[cfg(test)]
mod tests;
