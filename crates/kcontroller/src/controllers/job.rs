//! The Job controller: the I/O around [`apps::job::plan`](crate::apps::job::plan) — create
//! and delete pods, write the status, record events, and keep expectations so a stale cache
//! never starts a pod twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::join_all;
use kapi::ObjectKey;
use kapi::k8s::api::batch::v1::Job;
use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::jiff::Timestamp;
use kwatch::http::{Api, Client, ClientError, DeleteParams, PostParams};
use kwatch::informer::Event;
use kwatch::object::Object;
use kwatch::store::Store;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::pods::{create_in_batches, creation_events};
use super::{BuildError, Context, Running};
use crate::apps::expectations::Expectations;
use crate::apps::job::{Finished, JobInput, plan};
use crate::events::{EventSpec, Recorder, object_reference};
use crate::runtime::{Action, Controller, ReconcileError, ReconcileResult, Request};

const CONTROLLER: &str = "job-controller";

struct Reconciler {
    client: Client,
    pods: Store<Pod>,
    expectations: Arc<Mutex<Expectations>>,
    recorder: Recorder,
}

fn lock(e: &Mutex<Expectations>) -> std::sync::MutexGuard<'_, Expectations> {
    e.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Reconciler {
    async fn event(&self, job: &Job, spec: EventSpec) {
        if let Err(e) = self.recorder.publish(&object_reference(job), &spec).await {
            warn!(error = %e, "recording an event failed");
        }
    }

    async fn reconcile(self: Arc<Self>, req: Request<Job>) -> ReconcileResult {
        let key = req.key.to_string();
        let Some(job) = req.object else {
            lock(&self.expectations).delete(&key);
            return Ok(Action::Done);
        };
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let name = job.metadata.name.clone().unwrap_or_default();
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let now = Timestamp::now();
        let pods: Vec<Arc<Pod>> = self
            .pods
            .namespace(&ns)
            .into_iter()
            .filter(|p| kapi::owner::controller_of(&p.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        let satisfied = lock(&self.expectations).satisfied(&key, now);
        let plan = plan(JobInput { job: &job, pods: &pods, expectations_satisfied: satisfied, now })
            .map_err(ReconcileError::terminal)?;
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut failure: Option<String> = None;

        if !plan.delete.is_empty() {
            let keys = plan.delete.iter().map(|d| format!("{ns}/{}", d.name));
            lock(&self.expectations).expect_deletions(&key, keys, now);
            let deletes = plan.delete.iter().map(|d| {
                let params = DeleteParams::default().with_uid(d.uid.clone());
                let api = pod_api.clone();
                async move { (d, api.delete(&d.name, &params).await) }
            });
            for (d, r) in join_all(deletes).await {
                match r {
                    Ok(_) => {
                        self.event(
                            &job,
                            EventSpec::normal("SuccessfulDelete", "Delete", format!("Deleted pod: {}", d.name)),
                        )
                        .await;
                    }
                    Err(e) => {
                        lock(&self.expectations).deletion_observed(&key, &format!("{ns}/{}", d.name));
                        if !matches!(&e, ClientError::Api(s) if s.code() == 404) {
                            failure.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
            }
        }

        if plan.create > 0 {
            let params = PostParams::manager(CONTROLLER);
            let results =
                create_in_batches(&pod_api, &plan.pod, &params, plan.create, &self.expectations, &key, now).await;
            let (events, failed) = creation_events(&results);
            for spec in events {
                self.event(&job, spec).await;
            }
            if let Some(e) = failed {
                failure.get_or_insert(e);
            }
        }

        if let Some(status) = plan.status {
            let mut updated = (*job).clone();
            updated.status = Some(status);
            let api: Api<Job> = Api::namespaced(self.client.clone(), &ns);
            match api.replace_status(&name, &updated, &PostParams::manager(CONTROLLER)).await {
                Ok(_) => match &plan.finished {
                    Some(Finished::Complete) => {
                        self.event(&job, EventSpec::normal("Completed", "Complete", "Job completed".to_string())).await;
                    }
                    Some(Finished::Failed { reason, message }) => {
                        self.event(&job, EventSpec::warning(reason.clone(), "Fail", message.clone())).await;
                    }
                    None => {}
                },
                Err(ClientError::Api(e)) if e.code() == 404 => return Ok(Action::Done),
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(f) = failure {
            return Err(ReconcileError::new(f));
        }
        Ok(plan.requeue_after.map_or(Action::Done, Action::RequeueAfter))
    }
}

/// The Job a pod event concerns (its controller, when a Job), updating expectations.
fn pod_keys(event: &Event<Pod>, expectations: &Mutex<Expectations>) -> Vec<ObjectKey> {
    let job_key = |p: &Pod| -> Option<ObjectKey> {
        let r = kapi::owner::controller_of(&p.metadata)?;
        (r.kind == "Job" && r.api_version == "batch/v1")
            .then(|| ObjectKey::new(p.metadata.namespace.clone(), r.name.clone()))
    };
    let pod_key = |p: &Pod| format!("{}/{}", p.namespace().unwrap_or(""), p.name());
    let mut keys = HashSet::new();
    match event {
        Event::Added(p) | Event::Resync(p) => {
            if let Some(k) = job_key(p) {
                if matches!(event, Event::Added(_)) {
                    let mut e = lock(expectations);
                    if p.metadata.deletion_timestamp.is_some() {
                        e.deletion_observed(&k.to_string(), &pod_key(p));
                    } else {
                        e.creation_observed(&k.to_string());
                    }
                }
                keys.insert(k);
            }
        }
        Event::Updated { old, new } => {
            if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                if let Some(k) = job_key(new) {
                    lock(expectations).deletion_observed(&k.to_string(), &pod_key(new));
                }
            }
            keys.extend(job_key(old));
            keys.extend(job_key(new));
        }
        Event::Deleted { obj, .. } => {
            if let Some(k) = job_key(obj) {
                lock(expectations).deletion_observed(&k.to_string(), &pod_key(obj));
                keys.insert(k);
            }
        }
        Event::Synced | Event::Lagged { .. } => {}
    }
    keys.into_iter().collect()
}

/// Builds the Job controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let jobs = ctx.informers.get::<Job>()?;
    let pods = ctx.informers.get::<Pod>()?;
    let expectations = Arc::new(Mutex::new(Expectations::new()));
    let reconciler = Arc::new(Reconciler {
        client: ctx.client.clone(),
        pods: pods.store(),
        expectations: Arc::clone(&expectations),
        recorder: Recorder::new(ctx.client.clone(), CONTROLLER, ctx.instance.clone()),
    });
    let controller = Controller::new("job".to_owned(), jobs)
        .watches_events(pods, move |e: &Event<Pod>| pod_keys(e, &expectations))
        .workers(5)
        .metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}
