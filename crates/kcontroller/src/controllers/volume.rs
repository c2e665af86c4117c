//! The PersistentVolume binder (`persistentvolume-binder`): binds claims to volumes and
//! keeps volume phases, on the decisions of [`crate::volume`]. Two queues, as upstream:
//! claims (binding) and volumes (phases, releasing).
//!
//! A binding is written volume first (`claimRef`, with the cached resourceVersion as
//! precondition so two claims cannot take one volume), then the claim. Dynamic provisioning
//! is left to external provisioners, which watch for claims of their class.

use std::sync::Arc;
use std::time::Duration;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kapi::k8s::api::storage::v1::StorageClass;
use kwatch::http::{Api, Client, ClientError, Patch, PatchParams, PostParams};
use kwatch::object::Object;
use kwatch::store::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{BuildError, Context, Running};
use crate::events::{EventSpec, Recorder, object_reference};
use crate::runtime::{Action, Controller, ReconcileError, ReconcileResult, Request};
use crate::volume::{
    ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, ClaimPlan, VolumePlan, WAITING_FOR_FIRST_CONSUMER, claim_class,
    claim_ref, claim_reference, plan_claim, plan_volume, refers_to,
};

const MANAGER: &str = "persistentvolume-binder";

/// How often pending claims are looked at again (upstream's `--pvclaimbinder-sync-period`).
const RESYNC: Duration = Duration::from_secs(15);

struct Binder {
    client: Client,
    recorder: Recorder,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
}

/// A conflict means a cache was behind: try again soon, without counting an error.
fn retry_on_conflict(e: ClientError) -> ReconcileResult {
    match &e {
        ClientError::Api(s) if s.code() == 409 || s.code() == 404 => Ok(Action::Requeue),
        _ => Err(ReconcileError::new(e)),
    }
}

impl Binder {
    async fn sync_claim(self: Arc<Self>, req: Request<PersistentVolumeClaim>) -> ReconcileResult {
        let Some(pvc) = req.object else { return Ok(Action::Done) };
        let class_name = claim_class(&pvc);
        let class = (!class_name.is_empty()).then(|| self.classes.get(&ObjectKey::new(None, &class_name))).flatten();
        match plan_claim(&pvc, &self.volumes.list(), class.as_deref()) {
            ClaimPlan::Nothing => Ok(Action::Done),
            ClaimPlan::Pending(message) => {
                tracing::debug!(claim = %req.key, message, "claim pending");
                // Upstream's events; repeats become one series, not a flood.
                let spec = if message == WAITING_FOR_FIRST_CONSUMER {
                    EventSpec::normal("WaitForFirstConsumer", "Binding", message)
                } else {
                    EventSpec::warning("FailedBinding", "Binding", message)
                };
                if let Err(e) = self.recorder.publish(&object_reference(&*pvc), &spec).await {
                    tracing::debug!(claim = %req.key, error = %e, "event not written");
                }
                self.set_claim_phase(&pvc, "Pending").await?;
                Ok(Action::RequeueAfter(RESYNC))
            }
            ClaimPlan::Lost => {
                tracing::warn!(claim = %req.key, "claim lost its volume");
                self.set_claim_phase(&pvc, "Lost").await?;
                Ok(Action::Done)
            }
            ClaimPlan::Bind { volume } => match self.bind(&pvc, &volume).await {
                Ok(()) => Ok(Action::Done),
                Err(e) => retry_on_conflict(e),
            },
        }
    }

    async fn set_claim_phase(&self, pvc: &PersistentVolumeClaim, phase: &str) -> Result<(), ReconcileError> {
        if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
            return Ok(());
        }
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), pvc.namespace().unwrap_or(""));
        let patch = Patch::Merge(json!({"status": {"phase": phase}}));
        match api.patch_status(pvc.name(), &patch, &PatchParams::manager(MANAGER)).await {
            Ok(_) => Ok(()),
            Err(ClientError::Api(s)) if s.code() == 404 => Ok(()),
            Err(e) => Err(ReconcileError::new(e)),
        }
    }

    /// Binds `pvc` and volume `name`, writing only what is not yet so.
    async fn bind(&self, pvc: &PersistentVolumeClaim, name: &str) -> Result<(), ClientError> {
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let Some(cached) = self.volumes.get(&ObjectKey::new(None, name)) else { return Ok(()) };
        let mut pv = (*cached).clone();
        let spec = pv.spec.get_or_insert_with(Default::default);
        let complete_ref = spec
            .claim_ref
            .as_ref()
            .is_some_and(|r| refers_to(r, pvc) && r.uid.as_deref().is_some_and(|u| !u.is_empty()));
        if !complete_ref {
            if spec.claim_ref.is_none() {
                pv.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
            }
            let spec = pv.spec.get_or_insert_with(Default::default);
            spec.claim_ref = Some(claim_reference(pvc));
            // The cached resourceVersion is the precondition: a volume another claim took
            // meanwhile fails with a conflict instead of being taken twice.
            pv = pvs.replace(name, &pv, &PostParams::manager(MANAGER)).await?;
        }
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
            let patch = Patch::Merge(json!({"status": {"phase": "Bound"}}));
            pv = pvs.patch_status(name, &patch, &PatchParams::manager(MANAGER)).await?;
        }

        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), pvc.namespace().unwrap_or(""));
        let mut claim = pvc.clone();
        let named = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()) == Some(name);
        let completed = claim.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(ANN_BIND_COMPLETED));
        if !named || !completed {
            let annotations = claim.metadata.annotations.get_or_insert_with(Default::default);
            annotations.insert(ANN_BIND_COMPLETED.into(), "yes".into());
            if !named {
                annotations.insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
                claim.spec.get_or_insert_with(Default::default).volume_name = Some(name.to_owned());
            }
            claim = claims.replace(pvc.name(), &claim, &PostParams::manager(MANAGER)).await?;
        }
        let volume_spec = pv.spec.clone().unwrap_or_default();
        let status = claim.status.clone().unwrap_or_default();
        if status.phase.as_deref() != Some("Bound") || status.capacity != volume_spec.capacity {
            let patch = Patch::Merge(json!({"status": {"phase": "Bound", "capacity": volume_spec.capacity,
                "accessModes": volume_spec.access_modes}}));
            claims.patch_status(pvc.name(), &patch, &PatchParams::manager(MANAGER)).await?;
        }
        tracing::info!(claim = %format!("{}/{}", pvc.namespace().unwrap_or(""), pvc.name()), volume = name, "bound");
        Ok(())
    }

    async fn sync_volume(self: Arc<Self>, req: Request<PersistentVolume>) -> ReconcileResult {
        let Some(pv) = req.object else { return Ok(Action::Done) };
        let claim = claim_ref(&pv).and_then(|r| {
            self.claims
                .get(&ObjectKey::namespaced(r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or("")))
        });
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let name = pv.name().to_owned();
        let phase = |phase: &str| {
            let patch = Patch::Merge(json!({"status": {"phase": phase}}));
            let (pvs, name) = (pvs.clone(), name.clone());
            async move { pvs.patch_status(&name, &patch, &PatchParams::manager(MANAGER)).await }
        };
        let result = match plan_volume(&pv, claim.as_deref()) {
            VolumePlan::Nothing => return Ok(Action::Done),
            VolumePlan::Phase(p) => {
                if p == "Released" && claim.is_none() {
                    // The cache may be behind a claim just made: ask the API server first.
                    let r = claim_ref(&pv).cloned().unwrap_or_default();
                    let api: Api<PersistentVolumeClaim> =
                        Api::namespaced(self.client.clone(), r.namespace.as_deref().unwrap_or(""));
                    match api.get_opt(r.name.as_deref().unwrap_or("")).await {
                        Ok(Some(live)) if plan_volume(&pv, Some(&live)) != VolumePlan::Phase("Released") => {
                            return Ok(Action::Requeue);
                        }
                        Ok(_) => tracing::info!(volume = pv.name(), "claim gone: volume released"),
                        Err(e) => return Err(ReconcileError::new(e)),
                    }
                }
                phase(p).await
            }
            VolumePlan::Unbind => {
                let patch = Patch::Merge(json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: null}},
                    "spec": {"claimRef": null}}));
                match pvs.patch(pv.name(), &patch, &PatchParams::manager(MANAGER)).await {
                    Ok(_) => phase("Available").await,
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(_) => Ok(Action::Done),
            Err(e) => retry_on_conflict(e),
        }
    }
}

/// Builds the controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let claims = ctx.informers.get::<PersistentVolumeClaim>()?;
    let volumes = ctx.informers.get::<PersistentVolume>()?;
    let classes = ctx.informers.get::<StorageClass>()?;
    let binder = Arc::new(Binder {
        client: ctx.client.clone(),
        recorder: Recorder::new(ctx.client.clone(), "persistentvolume-controller", ctx.instance.clone()),
        claims: claims.store(),
        volumes: volumes.store(),
        classes: classes.store(),
    });

    // A volume's change concerns the claim it refers to, and, when it is free, every
    // claim still waiting for one.
    let claim_store = claims.store();
    let claims_of_volume = move |pv: &PersistentVolume| -> Vec<ObjectKey> {
        match claim_ref(pv) {
            Some(r) => {
                vec![ObjectKey::namespaced(r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or(""))]
            }
            None => claim_store
                .list()
                .iter()
                .filter(|c| c.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_none_or(str::is_empty))
                .map(|c| ObjectKey::namespaced(c.namespace().unwrap_or(""), c.name()))
                .collect(),
        }
    };
    let b = Arc::clone(&binder);
    let claim_controller = Controller::new("claims", claims.clone())
        .watches(volumes.clone(), claims_of_volume)
        .metrics(&ctx.metrics)
        .run(move |req| Arc::clone(&b).sync_claim(req), cancel.clone());

    // A claim's change concerns its volume and any volume that refers to it.
    let volume_store = volumes.store();
    let volumes_of_claim = move |pvc: &PersistentVolumeClaim| -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = volume_store
            .list()
            .iter()
            .filter(|pv| claim_ref(pv).is_some_and(|r| refers_to(r, pvc)))
            .map(|pv| ObjectKey::new(None, pv.name()))
            .collect();
        if let Some(n) = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty()) {
            keys.push(ObjectKey::new(None, n));
        }
        keys
    };
    let volume_controller = Controller::new("volumes", volumes)
        .watches(claims, volumes_of_claim)
        .metrics(&ctx.metrics)
        .run(move |req| Arc::clone(&binder).sync_volume(req), cancel);
    Ok(Box::pin(async move {
        let (c, v) = tokio::join!(claim_controller, volume_controller);
        c.and(v)
    }))
}
