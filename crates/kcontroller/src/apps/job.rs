//! The Job controller's decisions (pure): how many pods to start or stop, when the Job is
//! complete or failed, and its status — upstream's `syncJob` for the `NonIndexed`
//! completion mode.
//!
//! * Wanted active pods: `parallelism` (default 1), capped by the completions still missing;
//!   with no `completions` (a work queue), none once any pod has succeeded.
//! * Failures: failed pods, plus container restarts of active pods when the template's
//!   `restartPolicy` is `OnFailure`. More than `backoffLimit` (default 6) fails the Job
//!   (`BackoffLimitExceeded`); so does running past `activeDeadlineSeconds`
//!   (`DeadlineExceeded`). A failed Job's active pods are deleted.
//! * After a failure, replacement pods wait `10 s × 2^(failures-1)` (capped at 6 min) from
//!   the last failure, as upstream's pod failure back-off.
//! * `suspend: true` deletes active pods and sets `Suspended`.
//! * Succeeded and failed counts never go down: pods deleted by others (pod GC, users) stay
//!   counted. Upstream tracks them with a pod finalizer; this controller keeps the maximum
//!   of the status and the pods it sees, which can miss pods removed before it saw them.
//!
//! `Indexed` completion mode, success and pod failure policies, and `ttlSecondsAfterFinished`
//! (a separate controller upstream) are not implemented; an `Indexed` Job is left alone.

use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::batch::v1::{Job, JobCondition, JobStatus};
use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kapi::k8s::jiff::Timestamp;

use super::claim::ObjectRef;
use super::pod::{PHASE_FAILED, PHASE_SUCCEEDED, add_secs, api_time, duration_until, is_ready, phase};

/// Upstream's default `backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// First pod failure back-off (upstream `DefaultJobPodFailureBackOff`).
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// Longest pod failure back-off (upstream `MaxJobPodFailureBackOff`).
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);

/// Errors reading a Job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The Job lacks a field the controller needs.
    #[error("job {0} has no {1}")]
    Missing(String, &'static str),
    /// A completion mode this controller does not handle.
    #[error("job {0}: completion mode {1} is not supported")]
    UnsupportedMode(String, String),
}

/// What one sync needs.
#[derive(Debug, Clone, Copy)]
pub struct JobInput<'a> {
    /// The Job.
    pub job: &'a Job,
    /// The pods the Job controls (by controller reference), terminal ones included.
    pub pods: &'a [Arc<Pod>],
    /// Whether earlier creations and deletions have all been observed; when false, the plan
    /// neither creates nor deletes.
    pub expectations_satisfied: bool,
    /// The current time.
    pub now: Timestamp,
}

/// How a Job finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// All completions reached.
    Complete,
    /// Failed, with upstream's reason (`BackoffLimitExceeded`, `DeadlineExceeded`) and message.
    Failed {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPlan {
    /// Pods to create.
    pub create: usize,
    /// The pod to create `create` times.
    pub pod: Pod,
    /// Active pods to delete.
    pub delete: Vec<ObjectRef>,
    /// The status to write, when it changed.
    pub status: Option<JobStatus>,
    /// Set when this sync finishes the Job.
    pub finished: Option<Finished>,
    /// Sync again after this long (back-off, active deadline).
    pub requeue_after: Option<Duration>,
}

fn ts(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

fn condition(type_: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(api_time(now)),
        last_transition_time: Some(api_time(now)),
    }
}

fn has_condition(status: &JobStatus, type_: &str) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == type_ && c.status == "True")
}

/// Whether the Job has finished (`Complete` or `Failed` true).
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().is_some_and(|s| has_condition(s, "Complete") || has_condition(s, "Failed"))
}

/// The owner reference of pods the Job creates.
pub fn owner_reference(job: &Job) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The pod to create for `job`: the template with `generateName` `<job>-` and the controller
/// reference.
pub fn pod_from_template(job: &Job) -> Pod {
    let template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            namespace: job.metadata.namespace.clone(),
            generate_name: Some(format!("{name}-")),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner_reference(job)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// When a pod ended: its containers' latest `finishedAt`, else its creation time.
fn finished_at(pod: &Pod) -> Option<Timestamp> {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    let latest = statuses
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0))
        .max();
    latest.or_else(|| ts(&pod.metadata.creation_timestamp))
}

/// Upstream's pod failure back-off after `failures` failures.
pub fn failure_backoff(failures: i32) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(failures - 1).unwrap_or(u32::MAX).min(16);
    POD_FAILURE_BACKOFF.saturating_mul(1 << exp).min(MAX_POD_FAILURE_BACKOFF)
}

/// One sync of `input.job`.
///
/// # Errors
/// A Job without a name or spec, or in `Indexed` mode.
pub fn plan(input: JobInput<'_>) -> Result<JobPlan, JobError> {
    let job = input.job;
    let now = input.now;
    let name = job.metadata.name.clone().ok_or_else(|| JobError::Missing("?".into(), "name"))?;
    let spec = job.spec.as_ref().ok_or_else(|| JobError::Missing(name.clone(), "spec"))?;
    if let Some(mode) = spec.completion_mode.as_deref().filter(|m| *m != "NonIndexed") {
        return Err(JobError::UnsupportedMode(name, mode.to_string()));
    }
    let old = job.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let mut out = JobPlan {
        create: 0,
        pod: pod_from_template(job),
        delete: Vec::new(),
        status: None,
        finished: None,
        requeue_after: None,
    };

    let deleting = |p: &Pod| p.metadata.deletion_timestamp.is_some();
    let active: Vec<&Arc<Pod>> =
        input.pods.iter().filter(|p| !matches!(phase(p), PHASE_SUCCEEDED | PHASE_FAILED) && !deleting(p)).collect();
    let succeeded_pods = input.pods.iter().filter(|p| phase(p) == PHASE_SUCCEEDED).count();
    let failed_pods: Vec<&Arc<Pod>> = input.pods.iter().filter(|p| phase(p) == PHASE_FAILED).collect();
    let on_failure = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("OnFailure");
    let restarts: i32 = if on_failure {
        active
            .iter()
            .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
            .map(|c| c.restart_count)
            .sum()
    } else {
        0
    };
    let as_i32 = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let succeeded = old.succeeded.unwrap_or(0).max(as_i32(succeeded_pods));
    let failed = old.failed.unwrap_or(0).max(as_i32(failed_pods.len()));
    let terminating = input.pods.iter().filter(|p| deleting(p) && !matches!(phase(p), PHASE_SUCCEEDED | PHASE_FAILED));

    status.succeeded = Some(succeeded);
    status.failed = Some(failed);
    status.terminating = Some(as_i32(terminating.count()));
    status.ready = Some(as_i32(active.iter().filter(|p| is_ready(p)).count()));

    if is_finished(job) {
        // A finished Job only reports; leftover active pods are removed.
        if input.expectations_satisfied {
            out.delete = active.iter().map(|p| ObjectRef::of(&p.metadata)).collect();
        }
        status.active = Some(as_i32(active.len() - out.delete.len()));
        out.status = (status != old).then_some(status);
        return Ok(out);
    }

    let suspended = spec.suspend == Some(true);
    if status.start_time.is_none() && !suspended {
        status.start_time = Some(api_time(now));
    }
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT);

    // Finished now?
    let completions = spec.completions;
    let complete = match completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active.is_empty(),
    };
    let deadline = spec.active_deadline_seconds.filter(|_| !suspended).and_then(|secs| {
        let start = ts(&status.start_time)?;
        Some(add_secs(start, secs))
    });
    let failure = if failed + restarts > backoff_limit {
        Some(("BackoffLimitExceeded", "Job has reached the specified backoff limit".to_string()))
    } else if deadline.is_some_and(|d| now >= d) {
        Some(("DeadlineExceeded", "Job was active longer than specified deadline".to_string()))
    } else {
        None
    };

    let mut conditions = status.conditions.take().unwrap_or_default();
    if let Some((reason, message)) = failure {
        conditions.push(condition("FailureTarget", reason, &message, now));
        conditions.push(condition("Failed", reason, &message, now));
        out.finished = Some(Finished::Failed { reason: reason.into(), message });
        if input.expectations_satisfied {
            out.delete = active.iter().map(|p| ObjectRef::of(&p.metadata)).collect();
        }
    } else if complete {
        conditions.push(condition(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now,
        ));
        conditions.push(condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods", now));
        status.completion_time = Some(api_time(now));
        out.finished = Some(Finished::Complete);
        if input.expectations_satisfied {
            // With completions reached, pods still running are surplus.
            out.delete = active.iter().map(|p| ObjectRef::of(&p.metadata)).collect();
        }
    } else if suspended {
        if !conditions.iter().any(|c| c.type_ == "Suspended" && c.status == "True") {
            conditions.retain(|c| c.type_ != "Suspended");
            conditions.push(condition("Suspended", "JobSuspended", "Job suspended", now));
        }
        if input.expectations_satisfied {
            out.delete = active.iter().map(|p| ObjectRef::of(&p.metadata)).collect();
        }
    } else {
        if let Some(c) = conditions.iter_mut().find(|c| c.type_ == "Suspended" && c.status == "True") {
            c.status = "False".into();
            c.reason = Some("JobResumed".into());
            c.message = Some("Job resumed".into());
            c.last_transition_time = Some(api_time(now));
        }
        let wanted = match completions {
            Some(c) => parallelism.min((c - succeeded).max(0)),
            None if succeeded > 0 => 0,
            None => parallelism,
        };
        let have = as_i32(active.len());
        if input.expectations_satisfied {
            if have > wanted {
                // Delete the newest (least progressed) surplus pods first.
                let mut surplus: Vec<&Arc<Pod>> = active.clone();
                surplus.sort_by_key(|p| std::cmp::Reverse(ts(&p.metadata.creation_timestamp)));
                let n = usize::try_from(have - wanted).unwrap_or(0);
                out.delete = surplus.into_iter().take(n).map(|p| ObjectRef::of(&p.metadata)).collect();
            } else if have < wanted {
                let last_failure = failed_pods.iter().filter_map(|p| finished_at(p)).max();
                let wait = last_failure
                    .map(|at| duration_until(now, add_secs(at, failure_backoff(failed).as_secs() as i64)))
                    .unwrap_or(Duration::ZERO);
                if wait.is_zero() {
                    out.create = usize::try_from(wanted - have).unwrap_or(0);
                } else {
                    out.requeue_after = Some(wait);
                }
            }
        }
        if let Some(d) = deadline {
            let left = duration_until(now, d);
            out.requeue_after = Some(out.requeue_after.map_or(left, |r| r.min(left)));
        }
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    // As upstream: the active pods after this sync's creations and deletions.
    status.active = Some(as_i32(active.len().saturating_sub(out.delete.len()) + out.create));
    out.status = (status != old).then_some(status);
    Ok(out)
}

#[cfg(test)]
mod tests;
