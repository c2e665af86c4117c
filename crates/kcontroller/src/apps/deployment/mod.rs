//! The Deployment controller core (upstream `pkg/controller/deployment`).
//!
//! [`plan`] runs one upstream `syncDeployment` against a working copy of the Deployment and
//! its ReplicaSets and returns what upstream would have sent to the API server, in order:
//!
//! 1. a Deployment whose selector is empty only gets `observedGeneration` (and a
//!    `SelectingAll` warning);
//! 2. a Deployment being deleted only gets its status (and revision) synced;
//! 3. the Progressing condition records pause / resume;
//! 4. paused: scaling only (proportional), history cleanup, status;
//! 5. a pending `deprecated.deployment.rollback.to` annotation: rollback;
//! 6. a scaling event (an active ReplicaSet's desired-replicas annotation differs from
//!    `replicas`): scaling only;
//! 7. otherwise a rollout step of the strategy (RollingUpdate or Recreate), with
//!    progress conditions, `progressDeadlineSeconds` and history cleanup.
//!
//! # Driving it
//!
//! The I/O layer claims ReplicaSets with [`claim_replica_sets`] (patching adoptions and
//! releases), calls [`plan`] with the owned ReplicaSets (and, for Recreate, the namespace's
//! pods), executes [`DeploymentPlan::actions`] in order, stopping at the first failure (the
//! next sync plans again from what it then observes), writes [`DeploymentPlan::status`] with
//! the status subresource when [`DeploymentPlan::status_changed`], records
//! [`DeploymentPlan::events`], and requeues after [`DeploymentPlan::requeue_after`]. Two API
//! outcomes need a helper: a `CreateReplicaSet` refused with AlreadyExists
//! ([`resolve_create_conflict`]) and one refused otherwise ([`create_failed_status`]).

mod history;
mod recreate;
pub mod revision;
pub mod rollback;
mod rolling;
mod scale;
pub mod spec;
pub mod status;
mod work;

use std::collections::BTreeMap;
use std::time::Duration;

use kapi::k8s::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kapi::k8s::jiff::Timestamp;
use kapi::labels::{Selector, SelectorError};

use crate::apps::claim::{self, Claim, Claimer, ObjectRef};
use spec::{ResolvedSpec, Strategy};
use work::Work;

/// Bad input for the Deployment core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The Deployment has no name or uid (it was never stored).
    #[error("deployment has no {missing}")]
    Incomplete {
        /// "name" or "uid".
        missing: &'static str,
    },
    /// The Deployment has no spec.
    #[error("deployment has no spec")]
    MissingSpec,
    /// The selector cannot be converted.
    #[error("invalid deployment selector: {0}")]
    InvalidSelector(#[source] SelectorError),
    /// `maxSurge` or `maxUnavailable` is neither a non-negative integer nor `"<n>%"`.
    #[error("invalid {field} {value:?}: must be a non-negative integer or percentage")]
    InvalidIntOrPercent {
        /// "maxSurge" or "maxUnavailable".
        field: &'static str,
        /// The value as written.
        value: String,
    },
    /// A strategy type other than RollingUpdate or Recreate.
    #[error("unexpected deployment strategy type: {0}")]
    UnknownStrategy(String),
}

/// What one sync needs.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentInput<'a> {
    /// The Deployment as observed.
    pub deployment: &'a Deployment,
    /// The ReplicaSets it controls (after [`claim_replica_sets`]).
    pub replica_sets: &'a [ReplicaSet],
    /// Pods of the namespace. Only the Recreate strategy reads them (to wait until no old pod
    /// runs); pods not controlled by one of `replica_sets` are ignored. May be empty for
    /// RollingUpdate.
    pub pods: &'a [Pod],
    /// The current time.
    pub now: Timestamp,
}

/// One API call the plan asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum DeploymentAction {
    /// Create this ReplicaSet (named `<deployment>-<pod-template-hash>`). On AlreadyExists see
    /// [`resolve_create_conflict`]; on another error see [`create_failed_status`].
    CreateReplicaSet(Box<ReplicaSet>),
    /// Update an existing ReplicaSet: set `spec.replicas`, `spec.minReadySeconds` and
    /// `metadata.annotations` to these values (the whole annotation map).
    UpdateReplicaSet {
        /// The ReplicaSet's name.
        name: String,
        /// The observed `resourceVersion`, for an optimistic-concurrency precondition.
        resource_version: Option<String>,
        /// The new `spec.replicas`.
        replicas: i32,
        /// The complete new annotations.
        annotations: BTreeMap<String, String>,
        /// The new `spec.minReadySeconds`.
        min_ready_seconds: i32,
    },
    /// Delete an old ReplicaSet (revision history cleanup); NotFound is fine.
    DeleteReplicaSet {
        /// The ReplicaSet's name.
        name: String,
        /// Its UID, for a delete precondition.
        uid: String,
    },
    /// Set the Deployment's `deployment.kubernetes.io/revision` annotation (upstream writes it
    /// along with the status; a metadata patch does the same).
    SetDeploymentRevision {
        /// The revision.
        revision: String,
    },
    /// Update the Deployment (spec and metadata): a rollback replaced its template and
    /// annotations, or cleared the deprecated rollback annotation.
    UpdateDeployment(Box<Deployment>),
}

/// The type of a planned event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `Normal`.
    Normal,
    /// `Warning`.
    Warning,
}

/// An event upstream would record on the Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// The reason (`ScalingReplicaSet`, `SelectingAll`, `DeploymentRollback`, …).
    pub reason: String,
    /// The message.
    pub message: String,
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPlan {
    /// API calls, in order.
    pub actions: Vec<DeploymentAction>,
    /// The status to write.
    pub status: DeploymentStatus,
    /// Whether `status` differs from the observed one (absent and zero counted alike).
    pub status_changed: bool,
    /// Sync again after this delay: the progress-deadline check (zero: as soon as the rate
    /// limiter allows, also used after a hash collision). Computed on every rollout sync;
    /// upstream only schedules it when the status did not change, counting on the status write
    /// to trigger the next sync.
    pub requeue_after: Option<Duration>,
    /// Events to record.
    pub events: Vec<PlannedEvent>,
}

fn validate(d: &Deployment) -> Result<(), DeploymentError> {
    if d.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(DeploymentError::Incomplete { missing: "name" });
    }
    if d.metadata.uid.as_deref().is_none_or(str::is_empty) {
        return Err(DeploymentError::Incomplete { missing: "uid" });
    }
    Ok(())
}

fn selects_everything(d: &Deployment) -> bool {
    d.spec.as_ref().is_some_and(|s| {
        s.selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
    })
}

/// Plans one sync of a Deployment (upstream `syncDeployment`). Errors are bad input; the
/// plan itself never fails.
pub fn plan(input: DeploymentInput<'_>) -> Result<DeploymentPlan, DeploymentError> {
    let d = input.deployment;
    validate(d)?;
    let spec = ResolvedSpec::resolve(d)?;
    let observed = d.status.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);

    if selects_everything(d) {
        let mut status = observed.clone();
        if status.observed_generation.unwrap_or(0) < generation {
            status.observed_generation = Some(generation);
        }
        return Ok(DeploymentPlan {
            actions: Vec::new(),
            status_changed: status::status_differs(&observed, &status),
            status,
            requeue_after: None,
            events: vec![PlannedEvent {
                type_: EventType::Warning,
                reason: "SelectingAll".into(),
                message: "This deployment is selecting all pods. A non-empty selector is required.".into(),
            }],
        });
    }
    let selector = d
        .spec
        .as_ref()
        .map(|s| Selector::from_label_selector(Some(&s.selector)))
        .transpose()
        .map_err(DeploymentError::InvalidSelector)?
        .unwrap_or_else(Selector::nothing);

    let mut w = Work::new(d, spec, input.replica_sets, input.pods, input.now);
    let outcome = sync(&mut w, &selector);
    if outcome.is_err() {
        w.requeue_after = Some(Duration::ZERO);
    }

    let status = w.final_status.take().unwrap_or_else(|| w.status());
    let mut actions = w.replica_set_actions();
    if w.update_deployment {
        let mut updated = w.d.clone();
        updated.status = d.status.clone();
        actions.push(DeploymentAction::UpdateDeployment(Box::new(updated)));
    } else {
        let rev = |dep: &Deployment| {
            dep.metadata.annotations.as_ref().and_then(|a| a.get(revision::REVISION_ANNOTATION)).cloned()
        };
        if let Some(r) = rev(&w.d).filter(|r| Some(r) != rev(d).as_ref()) {
            actions.push(DeploymentAction::SetDeploymentRevision { revision: r });
        }
    }
    Ok(DeploymentPlan {
        actions,
        status_changed: status::status_differs(&observed, &status),
        status,
        requeue_after: w.requeue_after,
        events: w.events,
    })
}

fn sync(w: &mut Work<'_>, selector: &Selector) -> work::Flow<()> {
    if w.d.metadata.deletion_timestamp.is_some() {
        let (new, old) = w.get_all(false)?;
        let all_idx: Vec<usize> = old.into_iter().chain(new).collect();
        let all = w.snapshot(&all_idx);
        let new_snapshot = new.map(|n| w.rss[n].clone());
        status::sync_deployment_status(w, &all, new_snapshot.as_ref());
        return Ok(());
    }
    status::check_paused_conditions(w);
    let rollback_to = rollback::rollback_to(w);
    if w.spec.paused {
        return scale::sync(w, rollback_to.is_some());
    }
    if let Some(to) = rollback_to {
        return rollback::rollback(w, to);
    }
    if scale::is_scaling_event(w)? {
        return scale::sync(w, false);
    }
    match w.spec.strategy {
        Strategy::Recreate => recreate::rollout(w, selector),
        Strategy::RollingUpdate { .. } => rolling::rollout(w),
    }
}

/// The outcome of claiming ReplicaSets for a Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSetClaims<'a> {
    /// ReplicaSets the Deployment controls, including those to adopt.
    pub owned: Vec<&'a ReplicaSet>,
    /// Orphans to adopt ([`claim::adopt_patch`] with `owner_reference`).
    pub adopt: Vec<ObjectRef>,
    /// Controlled ReplicaSets that no longer match, to release ([`claim::release_patch`]).
    pub release: Vec<ObjectRef>,
    /// The Deployment's controller reference.
    pub owner_reference: OwnerReference,
}

/// Upstream `getReplicaSetsForDeployment`: claims among all ReplicaSets of the namespace
/// (selector matched against the ReplicaSets' labels). Upstream re-reads the Deployment
/// uncached before adopting and skips adoption when it is being deleted.
pub fn claim_replica_sets<'a>(
    d: &Deployment,
    replica_sets: &'a [ReplicaSet],
) -> Result<ReplicaSetClaims<'a>, DeploymentError> {
    validate(d)?;
    let spec = d.spec.as_ref().ok_or(DeploymentError::MissingSpec)?;
    let selector = Selector::from_label_selector(Some(&spec.selector)).map_err(DeploymentError::InvalidSelector)?;
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let claimer = Claimer {
        uid: &uid,
        namespace: d.metadata.namespace.as_deref(),
        deleting: d.metadata.deletion_timestamp.is_some(),
    };
    let mut out = ReplicaSetClaims {
        owned: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
        owner_reference: OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: d.metadata.name.clone().unwrap_or_default(),
            uid: uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    };
    for rs in replica_sets {
        let labels = rs.metadata.labels.clone().unwrap_or_default();
        match claim::claim(claimer, &rs.metadata, selector.matches(&labels)) {
            Claim::Owned => out.owned.push(rs),
            Claim::Adopt => {
                out.adopt.push(ObjectRef::of(&rs.metadata));
                out.owned.push(rs);
            }
            Claim::Release => out.release.push(ObjectRef::of(&rs.metadata)),
            Claim::Ignore => {}
        }
    }
    Ok(out)
}

/// A `CreateReplicaSet` failed with AlreadyExists and the I/O layer fetched `existing`.
/// `None`: it is the Deployment's own new ReplicaSet (a stale cache), nothing to do. `Some`:
/// a hash collision — write this status (`collisionCount` raised by one) and requeue; the
/// next sync computes another name.
pub fn resolve_create_conflict(d: &Deployment, existing: &ReplicaSet) -> Option<DeploymentStatus> {
    let ours = kapi::owner::controller_of(&existing.metadata).is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
    let same = match (d.spec.as_ref(), existing.spec.as_ref().and_then(|s| s.template.as_ref())) {
        (Some(ds), Some(t)) => revision::equal_ignore_hash(&ds.template, t),
        _ => false,
    };
    if ours && same {
        return None;
    }
    let mut status = d.status.clone().unwrap_or_default();
    status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
    Some(status)
}

/// A `CreateReplicaSet` failed with `error` (other than AlreadyExists, and other than the
/// namespace terminating, where upstream does nothing). With a progress deadline upstream
/// sets Progressing to False / `ReplicaSetCreateError`; this returns that status (`None`
/// without a deadline) and the warning event to record.
pub fn create_failed_status(
    d: &Deployment,
    rs_name: &str,
    error: &str,
    now: Timestamp,
) -> Result<(Option<DeploymentStatus>, PlannedEvent), DeploymentError> {
    let spec = ResolvedSpec::resolve(d)?;
    let msg = format!("Failed to create new replica set {rs_name:?}: {error}");
    let event = PlannedEvent {
        type_: EventType::Warning,
        reason: status::FAILED_RS_CREATE_REASON.into(),
        message: msg.clone(),
    };
    if !spec.has_progress_deadline() {
        return Ok((None, event));
    }
    let mut st = d.status.clone().unwrap_or_default();
    status::set_condition(
        &mut st,
        status::new_condition(status::PROGRESSING, "False", status::FAILED_RS_CREATE_REASON, msg, now),
    );
    Ok((Some(st), event))
}

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
