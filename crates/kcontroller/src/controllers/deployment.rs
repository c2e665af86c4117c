//! The Deployment controller: the I/O around
//! [`apps::deployment::plan`](crate::apps::deployment::plan) — claims ReplicaSets, runs the
//! planned writes in order (stopping at the first failure), records the planned events and
//! writes the status, so `kubectl rollout status/history/undo` and `kubectl scale` work.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use kapi::ObjectKey;
use kapi::k8s::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use kapi::k8s::api::core::v1::Pod;
use kapi::labels::Selector;
use kwatch::http::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PostParams};
use kwatch::object::Object;
use kwatch::store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{BuildError, Context, Running};
use crate::apps::claim;
use crate::apps::deployment::{
    DeploymentAction, DeploymentInput, EventType, PlannedEvent, claim_replica_sets, create_failed_status, plan,
    resolve_create_conflict,
};
use crate::events::{EventSpec, Recorder, object_reference};
use crate::informers::CONTROLLER_UID_INDEX;
use crate::runtime::{Action, Controller, ReconcileError, ReconcileResult, Request};

const MANAGER: &str = "deployment-controller";

struct Reconciler {
    client: Client,
    replica_sets: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: Recorder,
}

fn is_recreate(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

impl Reconciler {
    async fn events(&self, d: &Deployment, events: &[PlannedEvent]) {
        for e in events {
            let spec = match e.type_ {
                EventType::Normal => EventSpec::normal(&e.reason, "Update", &e.message),
                EventType::Warning => EventSpec::warning(&e.reason, "Update", &e.message),
            };
            if let Err(err) = self.recorder.publish(&object_reference(d), &spec).await {
                warn!(error = %err, "recording an event failed");
            }
        }
    }

    async fn write_status(&self, d: &Deployment, status: DeploymentStatus) -> Result<(), ReconcileError> {
        let ns = d.namespace().unwrap_or("default");
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
        let mut updated = d.clone();
        updated.status = Some(status);
        match api.replace_status(d.name(), &updated, &PostParams::manager(MANAGER)).await {
            Ok(_) => Ok(()),
            Err(ClientError::Api(e)) if e.code() == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A merge patch setting the ReplicaSet's replicas, minReadySeconds and exactly these
    /// annotations (keys it had and no longer should are nulled), pinned to its version.
    fn update_patch(
        current: Option<&ReplicaSet>,
        resource_version: Option<String>,
        replicas: i32,
        annotations: &BTreeMap<String, String>,
        min_ready_seconds: i32,
    ) -> Value {
        let mut ann: serde_json::Map<String, Value> =
            annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        if let Some(old) = current.and_then(|c| c.metadata.annotations.as_ref()) {
            for k in old.keys().filter(|k| !annotations.contains_key(*k)) {
                ann.insert(k.clone(), Value::Null);
            }
        }
        json!({
            "metadata": {"annotations": ann, "resourceVersion": resource_version},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready_seconds},
        })
    }

    async fn reconcile(self: Arc<Self>, req: Request<Deployment>) -> ReconcileResult {
        let Some(d) = req.object else { return Ok(Action::Done) };
        if d.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let ns = d.namespace().unwrap_or("default").to_owned();
        let now = Timestamp::now();
        let all: Vec<ReplicaSet> = self.replica_sets.namespace(&ns).iter().map(|r| (**r).clone()).collect();
        let claims = claim_replica_sets(&d, &all).map_err(ReconcileError::terminal)?;
        let rs_api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &ns);
        for a in &claims.adopt {
            let patch = Patch::Strategic(claim::adopt_patch(&claims.owner_reference, &a.uid));
            if let Err(e) = rs_api.patch(&a.name, &patch, &PatchParams::manager(MANAGER)).await {
                if !matches!(e, ClientError::Api(_)) {
                    return Err(e.into());
                }
            }
        }
        for r in &claims.release {
            let patch = Patch::Strategic(claim::release_patch(&claims.owner_reference.uid, &r.uid));
            if let Err(e) = rs_api.patch(&r.name, &patch, &PatchParams::manager(MANAGER)).await {
                if !matches!(e, ClientError::Api(_)) {
                    return Err(e.into());
                }
            }
        }
        let owned: Vec<ReplicaSet> = claims.owned.iter().map(|r| (*r).clone()).collect();
        // Only Recreate looks at pods (it waits until no old pod runs).
        let pods: Vec<Pod> = if is_recreate(&d) {
            owned
                .iter()
                .filter_map(|rs| rs.metadata.uid.as_deref())
                .flat_map(|uid| self.pods.by_index(CONTROLLER_UID_INDEX, uid).unwrap_or_default())
                .map(|p| (*p).clone())
                .collect()
        } else {
            Vec::new()
        };
        let plan = plan(DeploymentInput { deployment: &d, replica_sets: &owned, pods: &pods, now })
            .map_err(ReconcileError::terminal)?;
        let dep_api: Api<Deployment> = Api::namespaced(self.client.clone(), &ns);
        let mut current = (*d).clone();
        for action in &plan.actions {
            match action {
                DeploymentAction::CreateReplicaSet(rs) => {
                    let name = rs.metadata.name.clone().unwrap_or_default();
                    match rs_api.create(rs, &PostParams::manager(MANAGER)).await {
                        Ok(_) => {}
                        Err(ClientError::Api(e)) if e.code() == 409 => {
                            let existing = rs_api.get(&name).await?;
                            if let Some(status) = resolve_create_conflict(&current, &existing) {
                                // A hash collision: count it and try another name.
                                self.write_status(&current, status).await?;
                                return Ok(Action::Requeue);
                            }
                        }
                        Err(e) => {
                            let (status, event) = create_failed_status(&current, &name, &e.to_string(), now)
                                .map_err(ReconcileError::terminal)?;
                            self.events(&current, &[event]).await;
                            if let Some(status) = status {
                                self.write_status(&current, status).await?;
                            }
                            return Err(e.into());
                        }
                    }
                }
                DeploymentAction::UpdateReplicaSet {
                    name,
                    resource_version,
                    replicas,
                    annotations,
                    min_ready_seconds,
                } => {
                    let old = owned.iter().find(|r| r.metadata.name.as_deref() == Some(name.as_str()));
                    let patch =
                        Self::update_patch(old, resource_version.clone(), *replicas, annotations, *min_ready_seconds);
                    rs_api.patch(name, &Patch::Merge(patch), &PatchParams::manager(MANAGER)).await?;
                }
                DeploymentAction::DeleteReplicaSet { name, uid } => {
                    match rs_api.delete(name, &DeleteParams::default().with_uid(uid.clone())).await {
                        Ok(_) => {}
                        Err(ClientError::Api(e)) if e.code() == 404 || e.code() == 409 => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                DeploymentAction::SetDeploymentRevision { revision } => {
                    let patch = json!({"metadata": {"annotations": {
                        crate::apps::deployment::revision::REVISION_ANNOTATION: revision}}});
                    current =
                        dep_api.patch(current.name(), &Patch::Merge(patch), &PatchParams::manager(MANAGER)).await?;
                }
                DeploymentAction::UpdateDeployment(updated) => {
                    current = dep_api.replace(updated.name(), updated, &PostParams::manager(MANAGER)).await?;
                }
            }
        }
        self.events(&current, &plan.events).await;
        if plan.status_changed {
            self.write_status(&current, plan.status.clone()).await?;
        }
        Ok(match plan.requeue_after {
            Some(d) if d.is_zero() => Action::Requeue,
            Some(d) => Action::RequeueAfter(d),
            None => Action::Done,
        })
    }
}

/// The Deployments a ReplicaSet event concerns: its controller, or — an orphan — every
/// Deployment of its namespace whose selector matches it.
fn deployments_for(rs: &ReplicaSet, deployments: &Store<Deployment>) -> Vec<ObjectKey> {
    let Some(ns) = rs.namespace() else { return Vec::new() };
    if let Some(r) = kapi::owner::controller_of(&rs.metadata) {
        if r.kind == "Deployment" && r.api_version == "apps/v1" {
            return vec![ObjectKey::namespaced(ns, r.name.clone())];
        }
        return Vec::new();
    }
    let labels = rs.labels().cloned().unwrap_or_default();
    deployments
        .namespace(ns)
        .iter()
        .filter(|d| {
            d.spec
                .as_ref()
                .and_then(|s| Selector::from_label_selector(Some(&s.selector)).ok())
                .is_some_and(|s| !s.is_everything() && s.matches(&labels))
        })
        .map(|d| ObjectKey::namespaced(ns, d.name()))
        .collect()
}

/// Builds the controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let deployments = ctx.informers.get::<Deployment>()?;
    let replica_sets = ctx.informers.get::<ReplicaSet>()?;
    let pods = ctx.informers.get::<Pod>()?;
    let reconciler = Arc::new(Reconciler {
        client: ctx.client.clone(),
        replica_sets: replica_sets.store(),
        pods: pods.store(),
        recorder: Recorder::new(ctx.client.clone(), MANAGER, ctx.instance.clone()),
    });
    let dep_store = deployments.store();
    let rs_store = replica_sets.store();
    let rs_dep_store = dep_store.clone();
    let controller = Controller::new("deployment", deployments)
        .watches(replica_sets, move |rs: &ReplicaSet| deployments_for(rs, &rs_dep_store))
        // Recreate waits for old pods to go: a pod's deletion concerns its ReplicaSet's owner.
        .watches(pods, move |pod: &Pod| {
            let Some(r) = kapi::owner::controller_of(&pod.metadata) else { return Vec::new() };
            if r.kind != "ReplicaSet" {
                return Vec::new();
            }
            let Some(ns) = pod.namespace() else { return Vec::new() };
            match rs_store.get(&ObjectKey::namespaced(ns, r.name.clone())) {
                Some(rs) => deployments_for(&rs, &dep_store),
                None => Vec::new(),
            }
        })
        .workers(5)
        .metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}
