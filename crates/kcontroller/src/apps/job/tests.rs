use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::batch::v1::Job;
use kapi::k8s::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::*;
use crate::apps::pod::testutil::{created, pod, ready, restarts, t, with_phase};

fn job(spec: serde_json::Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}});
    if let Some(rp) = spec.get("restartPolicy").cloned() {
        spec["template"]["spec"]["restartPolicy"] = rp;
        spec.as_object_mut().unwrap().remove("restartPolicy");
    }
    serde_json::from_value(json!({"metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid"}, "spec": spec}))
        .unwrap()
}

fn failed_at(p: Pod, at: Timestamp) -> Pod {
    let mut p = with_phase(p, "Failed");
    p.status.as_mut().unwrap().container_statuses = Some(vec![ContainerStatus {
        name: "c".into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 1,
                finished_at: Some(Time(at)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    p
}

fn run(job: &Job, pods: Vec<Pod>, now: Timestamp) -> JobPlan {
    let pods: Vec<Arc<Pod>> = pods.into_iter().map(Arc::new).collect();
    plan(JobInput { job, pods: &pods, expectations_satisfied: true, now }).unwrap()
}

fn with_status(mut job: Job, status: &JobStatus) -> Job {
    job.status = Some(status.clone());
    job
}

#[test]
fn starts_parallelism_pods_capped_by_missing_completions() {
    let j = job(json!({"completions": 5, "parallelism": 2}));
    let p = run(&j, vec![], t(0));
    assert_eq!(p.create, 2);
    let status = p.status.unwrap();
    assert_eq!((status.active, status.succeeded, status.failed), (Some(2), Some(0), Some(0)));
    assert_eq!(status.start_time, Some(api_time(t(0))));
    let owner = &p.pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
    assert_eq!(p.pod.metadata.generate_name.as_deref(), Some("pi-"));

    // Four succeeded, one still missing: only one pod runs.
    let done: Vec<Pod> = (0..4).map(|i| with_phase(pod(&format!("s{i}"), &[]), "Succeeded")).collect();
    let p = run(&j, done, t(10));
    assert_eq!(p.create, 1);
    assert_eq!(p.status.unwrap().succeeded, Some(4));
}

#[test]
fn completes_when_completions_are_reached() {
    let j = job(json!({"completions": 2}));
    let pods = vec![with_phase(pod("a", &[]), "Succeeded"), with_phase(pod("b", &[]), "Succeeded")];
    let p = run(&j, pods.clone(), t(5));
    assert_eq!(p.finished, Some(Finished::Complete));
    let status = p.status.unwrap();
    let types: Vec<&str> = status.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, vec!["SuccessCriteriaMet", "Complete"]);
    assert_eq!(status.completion_time, Some(api_time(t(5))));
    assert_eq!(status.active, Some(0));
    assert_eq!(p.create, 0);
    // Once finished, later syncs change nothing and start nothing.
    let finished = with_status(j, &status);
    let again = run(&finished, pods, t(50));
    assert_eq!((again.create, again.status.is_none(), again.finished.is_none()), (0, true, true));
}

#[test]
fn work_queue_job_completes_when_one_succeeded_and_none_run() {
    let j = job(json!({"parallelism": 3}));
    assert_eq!(run(&j, vec![], t(0)).create, 3);
    let running = |n: &str| ready(pod(n, &[]), t(1));
    let p = run(&j, vec![with_phase(pod("a", &[]), "Succeeded"), running("b")], t(2));
    assert_eq!((p.create, p.finished.clone()), (0, None), "no new pods once one succeeded");
    let p = run(&j, vec![with_phase(pod("a", &[]), "Succeeded"), with_phase(pod("b", &[]), "Succeeded")], t(3));
    assert_eq!(p.finished, Some(Finished::Complete));
}

#[test]
fn failures_back_off_then_exceed_the_limit() {
    let j = job(json!({"completions": 1, "backoffLimit": 2}));
    // One failure at t=100: the replacement waits 10 s.
    let p = run(&j, vec![failed_at(pod("f1", &[]), t(100))], t(104));
    assert_eq!(p.create, 0);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(6)));
    assert_eq!(run(&j, vec![failed_at(pod("f1", &[]), t(100))], t(110)).create, 1);
    // Two failures: 20 s.
    let two = vec![failed_at(pod("f1", &[]), t(100)), failed_at(pod("f2", &[]), t(120))];
    assert_eq!(run(&j, two.clone(), t(130)).requeue_after, Some(Duration::from_secs(10)));
    assert_eq!(failure_backoff(1), Duration::from_secs(10));
    assert_eq!(failure_backoff(3), Duration::from_secs(40));
    assert_eq!(failure_backoff(12), MAX_POD_FAILURE_BACKOFF);
    // A third failure exceeds backoffLimit 2: the Job fails and its running pod is deleted.
    let mut three = two;
    three.push(failed_at(pod("f3", &[]), t(150)));
    three.push(ready(pod("r", &[]), t(151)));
    let p = run(&j, three, t(160));
    assert!(matches!(&p.finished, Some(Finished::Failed { reason, .. }) if reason == "BackoffLimitExceeded"));
    assert_eq!(p.delete.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["r"]);
    let status = p.status.unwrap();
    assert_eq!(status.failed, Some(3));
    assert!(status.conditions.iter().flatten().any(|c| c.type_ == "Failed" && c.status == "True"));
}

#[test]
fn on_failure_restarts_count_towards_the_backoff_limit() {
    let j = job(json!({"backoffLimit": 1, "restartPolicy": "OnFailure"}));
    let p = run(&j, vec![restarts(ready(pod("a", &[]), t(0)), 2)], t(10));
    assert!(matches!(p.finished, Some(Finished::Failed { .. })));
}

#[test]
fn active_deadline_fails_the_job() {
    let mut j = job(json!({"activeDeadlineSeconds": 30}));
    let p = run(&j, vec![], t(0));
    assert_eq!(p.requeue_after, Some(Duration::from_secs(30)));
    j = with_status(j, &p.status.unwrap());
    let p = run(&j, vec![ready(pod("a", &[]), t(1))], t(31));
    assert!(matches!(&p.finished, Some(Finished::Failed { reason, .. }) if reason == "DeadlineExceeded"));
    assert_eq!(p.delete.len(), 1);
}

#[test]
fn suspend_deletes_active_pods_and_resume_restarts() {
    let j = job(json!({"suspend": true, "parallelism": 2}));
    let p = run(&j, vec![created(ready(pod("a", &[]), t(0)), t(0))], t(5));
    assert_eq!(p.delete.len(), 1);
    let status = p.status.unwrap();
    assert!(status.conditions.iter().flatten().any(|c| c.type_ == "Suspended" && c.status == "True"));
    assert_eq!(status.start_time, None);
    let mut resumed = with_status(job(json!({"parallelism": 2})), &status);
    resumed.spec.as_mut().unwrap().suspend = Some(false);
    let p = run(&resumed, vec![], t(9));
    assert_eq!(p.create, 2);
    let c = p.status.unwrap().conditions.unwrap();
    assert!(c.iter().any(|c| c.type_ == "Suspended" && c.status == "False"));
}

#[test]
fn surplus_pods_are_deleted_newest_first_and_counts_never_drop() {
    let j = job(json!({"completions": 10, "parallelism": 1}));
    let old = created(ready(pod("old", &[]), t(0)), t(0));
    let new = created(ready(pod("new", &[]), t(5)), t(5));
    let p = run(&j, vec![old, new], t(10));
    assert_eq!(p.delete.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), vec!["new"]);
    // Succeeded pods removed by someone else stay counted.
    let counted = with_status(j, &JobStatus { succeeded: Some(4), failed: Some(1), ..Default::default() });
    let status = run(&counted, vec![], t(20)).status.unwrap();
    assert_eq!((status.succeeded, status.failed), (Some(4), Some(1)));
}

#[test]
fn nothing_is_created_or_deleted_while_expectations_are_pending() {
    let j = job(json!({"parallelism": 2}));
    let pods: Vec<Arc<Pod>> = vec![];
    let p = plan(JobInput { job: &j, pods: &pods, expectations_satisfied: false, now: t(0) }).unwrap();
    assert_eq!((p.create, p.delete.len()), (0, 0));
    let indexed = job(json!({"completionMode": "Indexed", "completions": 3}));
    assert!(matches!(
        plan(JobInput { job: &indexed, pods: &pods, expectations_satisfied: true, now: t(0) }),
        Err(JobError::UnsupportedMode(..))
    ));
}
