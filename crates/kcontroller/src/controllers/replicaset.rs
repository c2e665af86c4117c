//! The ReplicaSet and ReplicationController controllers: the I/O around
//! [`apps::replicaset::plan`](crate::apps::replicaset::plan) — adopt and release pods,
//! create in slow-start batches, delete the best candidates, write the status, and keep
//! expectations so a stale cache never causes a second round of creates or deletes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::join_all;
use jiff::Timestamp;
use kapi::k8s::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use kapi::k8s::api::core::v1::{Pod, ReplicationController};
use kapi::{ObjectKey, Resource};
use kwatch::http::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use kwatch::informer::Event;
use kwatch::object::Object;
use kwatch::store::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::pods::{create_in_batches, creation_events};
use super::{BuildError, Context, Running};
use crate::apps::claim;
use crate::apps::expectations::Expectations;
use crate::apps::replicaset::{ReplicaSetInput, ReplicaSetView, plan, to_replication_controller_status};
use crate::events::{EventSpec, Recorder, object_reference};
use crate::runtime::{Action, Controller, ReconcileError, ReconcileResult, Request};

/// What differs between ReplicaSets and ReplicationControllers.
pub trait ReplicaKind: Object + Resource<DynamicType = ()> + Serialize + DeserializeOwned + std::fmt::Debug {
    /// Controller name (metrics, events).
    const CONTROLLER: &'static str;
    /// The normalized view.
    ///
    /// # Errors
    /// An object the controller cannot act on (no selector, no template).
    fn view(&self) -> Result<ReplicaSetView, crate::apps::replicaset::ReplicaSetError>;
    /// A copy with `status` written in this kind's status type.
    fn with_status(&self, status: &ReplicaSetStatus) -> Self;
}

impl ReplicaKind for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset-controller";
    fn view(&self) -> Result<ReplicaSetView, crate::apps::replicaset::ReplicaSetError> {
        ReplicaSetView::from_replica_set(self)
    }
    fn with_status(&self, status: &ReplicaSetStatus) -> Self {
        let mut rs = self.clone();
        rs.status = Some(status.clone());
        rs
    }
}

impl ReplicaKind for ReplicationController {
    const CONTROLLER: &'static str = "replicationcontroller-controller";
    fn view(&self) -> Result<ReplicaSetView, crate::apps::replicaset::ReplicaSetError> {
        ReplicaSetView::from_replication_controller(self)
    }
    fn with_status(&self, status: &ReplicaSetStatus) -> Self {
        let mut rc = self.clone();
        rc.status = Some(to_replication_controller_status(status));
        rc
    }
}

struct Reconciler<T> {
    client: Client,
    pods: Store<Pod>,
    owners: Store<T>,
    expectations: Arc<Mutex<Expectations>>,
    recorder: Recorder,
}

fn lock(e: &Mutex<Expectations>) -> std::sync::MutexGuard<'_, Expectations> {
    e.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: ReplicaKind> Reconciler<T> {
    async fn event(&self, obj: &T, spec: EventSpec) {
        if let Err(e) = self.recorder.publish(&object_reference(obj), &spec).await {
            warn!(error = %e, "recording an event failed");
        }
    }

    async fn reconcile(self: Arc<Self>, req: Request<T>) -> ReconcileResult {
        let key = req.key.to_string();
        let Some(obj) = req.object else {
            lock(&self.expectations).delete(&key);
            return Ok(Action::Done);
        };
        let view = obj.view().map_err(ReconcileError::terminal)?;
        let ns = view.namespace.clone();
        let now = Timestamp::now();
        let pods = self.pods.namespace(&ns);
        let siblings: Vec<ReplicaSetView> = self.owners.namespace(&ns).iter().filter_map(|o| o.view().ok()).collect();
        let satisfied = lock(&self.expectations).satisfied(&key, now);
        let plan = plan(ReplicaSetInput {
            controller: &view,
            pods: &pods,
            siblings: &siblings,
            expectations_satisfied: satisfied,
            now,
        });
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let mut failure: Option<String> = None;

        for a in &plan.adopt {
            let patch = Patch::Strategic(claim::adopt_patch(&plan.owner_reference, &a.uid));
            match pod_api.patch(&a.name, &patch, &PatchParams::manager(T::CONTROLLER)).await {
                Ok(_) | Err(ClientError::Api(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for r in &plan.release {
            let patch = Patch::Strategic(claim::release_patch(&view.uid, &r.uid));
            match pod_api.patch(&r.name, &patch, &PatchParams::manager(T::CONTROLLER)).await {
                Ok(_) | Err(ClientError::Api(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }

        if plan.create > 0 {
            let params = PostParams::manager(T::CONTROLLER);
            let results =
                create_in_batches(&pod_api, &plan.pod, &params, plan.create, &self.expectations, &key, now).await;
            let (events, failed) = creation_events(&results);
            for spec in events {
                self.event(&obj, spec).await;
            }
            if let Some(e) = failed {
                failure.get_or_insert(e);
            }
        }

        if !plan.delete.is_empty() {
            lock(&self.expectations).expect_deletions(&key, plan.delete_keys(), now);
            let deletes = plan.delete.iter().map(|d| {
                let params = DeleteParams::default().with_uid(d.uid.clone());
                let api = pod_api.clone();
                async move { (d, api.delete(&d.name, &params).await) }
            });
            for (d, r) in join_all(deletes).await {
                match r {
                    Ok(_) => {
                        let note = format!("Deleted pod: {}", d.name);
                        self.event(&obj, EventSpec::normal("SuccessfulDelete", "Delete", note)).await;
                    }
                    Err(ClientError::Api(e)) if e.code() == 404 || e.code() == 409 => {
                        lock(&self.expectations).deletion_observed(&key, &format!("{ns}/{}", d.name));
                    }
                    Err(e) => {
                        lock(&self.expectations).deletion_observed(&key, &format!("{ns}/{}", d.name));
                        let note = format!("Error deleting: {e}");
                        self.event(&obj, EventSpec::warning("FailedDelete", "Delete", note)).await;
                        failure.get_or_insert_with(|| e.to_string());
                    }
                }
            }
        }

        if let Some(status) = plan.final_status(failure.as_deref(), now) {
            let api: Api<T> = Api::namespaced(self.client.clone(), &ns);
            match api.replace_status(&view.name, &obj.with_status(&status), &PostParams::manager(T::CONTROLLER)).await {
                Ok(_) => {}
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

/// The owners (of kind `T`) a pod event concerns, updating the expectations on the way:
/// its controller when it has one of this kind, else — an orphan — every `T` of its
/// namespace whose selector matches it (one of them may adopt it).
fn pod_keys<T: ReplicaKind>(
    event: &Event<Pod>,
    owners: &Store<T>,
    expectations: &Mutex<Expectations>,
) -> Vec<ObjectKey> {
    let controller_key = |p: &Pod| -> Option<ObjectKey> {
        let r = kapi::owner::controller_of(&p.metadata)?;
        (r.kind == T::kind(&()) && r.api_version == T::api_version(&()))
            .then(|| ObjectKey::new(p.metadata.namespace.clone(), r.name.clone()))
    };
    let candidates = |p: &Pod| -> Vec<ObjectKey> {
        let Some(ns) = p.namespace() else { return Vec::new() };
        let labels = p.labels().cloned().unwrap_or_default();
        owners
            .namespace(ns)
            .iter()
            .filter_map(|o| o.view().ok())
            .filter(|v| v.selector.matches(&labels))
            .map(|v| ObjectKey::namespaced(ns, v.name))
            .collect()
    };
    let pod_key = |p: &Pod| format!("{}/{}", p.namespace().unwrap_or(""), p.name());
    let mut keys = HashSet::new();
    match event {
        Event::Added(p) | Event::Resync(p) => match controller_key(p) {
            Some(k) => {
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
            None if kapi::owner::controller_of(&p.metadata).is_none() => keys.extend(candidates(p)),
            None => {}
        },
        Event::Updated { old, new } => {
            if new.metadata.deletion_timestamp.is_some() && old.metadata.deletion_timestamp.is_none() {
                if let Some(k) = controller_key(new) {
                    lock(expectations).deletion_observed(&k.to_string(), &pod_key(new));
                }
            }
            for p in [old, new] {
                match controller_key(p) {
                    Some(k) => {
                        keys.insert(k);
                    }
                    None if kapi::owner::controller_of(&p.metadata).is_none() => keys.extend(candidates(p)),
                    None => {}
                }
            }
        }
        Event::Deleted { obj, .. } => {
            if let Some(k) = controller_key(obj) {
                lock(expectations).deletion_observed(&k.to_string(), &pod_key(obj));
                keys.insert(k);
            }
        }
        Event::Synced | Event::Lagged { .. } => {}
    }
    keys.into_iter().collect()
}

/// Builds the controller for `T` (ReplicaSet or ReplicationController).
///
/// # Errors
/// An informer that cannot be built.
pub fn build<T: ReplicaKind>(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let owners = ctx.informers.get::<T>()?;
    let pods = ctx.informers.get::<Pod>()?;
    let expectations = Arc::new(Mutex::new(Expectations::new()));
    let reconciler = Arc::new(Reconciler {
        client: ctx.client.clone(),
        pods: pods.store(),
        owners: owners.store(),
        expectations: Arc::clone(&expectations),
        recorder: Recorder::new(ctx.client.clone(), T::CONTROLLER, ctx.instance.clone()),
    });
    let owner_store = owners.store();
    let name = T::CONTROLLER.trim_end_matches("-controller").to_owned();
    let controller = Controller::new(name, owners)
        .watches_events(pods, move |e: &Event<Pod>| pod_keys(e, &owner_store, &expectations))
        .workers(5)
        .metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}
