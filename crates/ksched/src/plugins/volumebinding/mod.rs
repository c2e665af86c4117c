//! VolumeBinding: a pod's PersistentVolumeClaims must be usable on the node — bound claims
//! through their PV's node affinity, unbound `WaitForFirstConsumer` claims through an
//! available PV on the node or dynamic provisioning allowed there (upstream
//! `plugins/volumebinding`).
//!
//! - **PreFilter** reads the claims from [`ClusterState`]:
//!   a missing claim, a claim being deleted or `Lost`, or an unbound claim whose class binds
//!   `Immediate`ly (or that has no class) makes the pod UnschedulableAndUnresolvable. Pods
//!   without claims skip the plugin.
//! - **Filter** checks bound PVs' node affinity and looks, per node, for the smallest
//!   available PV of the claim's class that fits (unbound or pre-bound to the claim, not
//!   being deleted, access modes and volume mode, capacity ≥ request, label selector, node
//!   affinity); claims without one need a class whose provisioner is not
//!   `kubernetes.io/no-provisioner` and whose `allowedTopologies` match the node. Reasons
//!   are upstream's ([`ERR_REASON_NODE_CONFLICT`], [`ERR_REASON_BIND_CONFLICT`],
//!   [`ERR_REASON_PV_NOT_EXIST`]).
//! - **Reserve** assumes the chosen PVs (and provisionings) in a map the plugin shares across
//!   cycles, so the next pod does not take the same PV; **Unreserve** releases them. An
//!   assumption is dropped once the cluster state catches up (the PV has a `claimRef`, the
//!   claim a `volumeName`) or the object is gone.
//! - **PreBind** hands the decisions to a [`VolumeBinder`] (no-op by default: in memory,
//!   binding the claims is the API's job).
//! - No Score: upstream's StorageCapacityScoring is off by default.
//!
//! Simplifications: a claim with `spec.volumeName` counts as bound (upstream also wants the
//! `pv.kubernetes.io/bind-completed` annotation and treats pre-bound claims as unbound
//! immediate ones); generic ephemeral volumes, CSI migration, CSIStorageCapacity (so
//! [`ERR_REASON_NOT_ENOUGH_SPACE`] never appears) and PreFilter's node-name narrowing from
//! hostname affinities are not modelled. A class without `volumeBindingMode` is
//! `Immediate` (the API default).

mod binder;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;

pub use binder::{
    ANN_SELECTED_NODE, ERR_REASON_BIND_CONFLICT, ERR_REASON_NODE_CONFLICT, ERR_REASON_NOT_ENOUGH_SPACE,
    ERR_REASON_PV_NOT_EXIST, NOT_SUPPORTED_PROVISIONER, PodVolumes, WAIT_FOR_FIRST_CONSUMER,
};
use binder::{Candidate, DelayedClaim, PodClaims, VolumeAffinity, claim_class, is_delay_binding};

use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, ClusterState, CycleState, EventResource, FilterPlugin, Plugin,
    PluginError, PluginHandle, PreBindPlugin, PreFilterPlugin, PreFilterResult, QueueingHint, ReservePlugin, Snapshot,
    Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "VolumeBinding";
/// PreFilter reason when an unbound claim's class binds immediately.
pub const ERR_REASON_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Upstream's default `bindTimeoutSeconds`.
pub const DEFAULT_BIND_TIMEOUT_SECONDS: u64 = 600;

/// A failed volume binding or provisioning request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VolumeBindError(pub String);

/// Carries out, in the binding cycle (PreBind), what the scheduling cycle decided for a
/// pod's unbound claims. Against an API server, `bind` sets the PV's `claimRef` and
/// `provision` the claim's `volume.kubernetes.io/selected-node` annotation, then both wait
/// for the PV controller; every call is bounded by `bindTimeoutSeconds`. The default
/// methods do nothing and succeed, which is what the in-memory scheduler uses.
pub trait VolumeBinder: Send + Sync {
    /// Binds claim `pvc_key` (`namespace/name`) to PV `pv_name`.
    fn bind<'a>(&'a self, pvc_key: &'a str, pv_name: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        let _ = (pvc_key, pv_name);
        Box::pin(async { Ok(()) })
    }

    /// Has claim `pvc_key` provisioned for `node`.
    fn provision<'a>(&'a self, pvc_key: &'a str, node: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        let _ = (pvc_key, node);
        Box::pin(async { Ok(()) })
    }
}

/// The default [`VolumeBinder`]: accepts every decision without doing anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopVolumeBinder;

impl VolumeBinder for NoopVolumeBinder {}

/// `VolumeBindingArgs`: `bindTimeoutSeconds` (600; 0 = no limit). `shape` is accepted for
/// compatibility and unused (no scoring).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    bind_timeout_seconds: Option<u64>,
    #[serde(default, rename = "shape")]
    _shape: Option<serde_json::Value>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// Who holds an assumed PV or provisioning: the claim or node, and the pods using it.
#[derive(Debug, Clone)]
struct Holder {
    target: String,
    pods: BTreeSet<String>,
}

/// What Reserve assumed and PreBind has not yet seen in the cluster state.
#[derive(Debug, Default)]
struct Assumed {
    /// PV name → the claim it is assumed for.
    pvs: HashMap<String, Holder>,
    /// Claim key → the node it is assumed provisioned on.
    provisions: HashMap<String, Holder>,
}

impl Assumed {
    /// Drops assumptions the cluster state has caught up with (or whose object is gone).
    fn prune(&mut self, cluster: &ClusterState) {
        self.pvs.retain(|pv, _| {
            cluster.pvs.get(pv).is_some_and(|pv| pv.spec.as_ref().is_none_or(|s| s.claim_ref.is_none()))
        });
        self.provisions.retain(|claim, _| {
            cluster.pvcs.get(claim).is_some_and(|c| c.spec.as_ref().and_then(|s| s.volume_name.as_deref()).is_none())
        });
    }

    fn hold(map: &mut HashMap<String, Holder>, key: &str, target: &str, pod: &str) {
        let h =
            map.entry(key.to_owned()).or_insert_with(|| Holder { target: target.to_owned(), pods: BTreeSet::new() });
        h.pods.insert(pod.to_owned());
    }

    fn release(map: &mut HashMap<String, Holder>, key: &str, pod: &str) {
        if let Some(h) = map.get_mut(key) {
            h.pods.remove(pod);
            if h.pods.is_empty() {
                map.remove(key);
            }
        }
    }
}

/// Binds pods' claims to PVs or provisioning while scheduling.
pub struct VolumeBinding {
    binder: Arc<dyn VolumeBinder>,
    bind_timeout: Duration,
    assumed: Arc<Mutex<Assumed>>,
}

impl std::fmt::Debug for VolumeBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeBinding").field("bind_timeout", &self.bind_timeout).finish_non_exhaustive()
    }
}

/// PreFilter's findings, plus the volumes Filter found per node (shared by the state's
/// copies, as upstream's pointer is).
#[derive(Clone)]
struct State {
    claims: Arc<PodClaims>,
    by_node: Arc<Mutex<HashMap<String, PodVolumes>>>,
}

/// What Reserve assumed for the chosen node.
#[derive(Debug, Clone)]
struct Reserved(Arc<PodVolumes>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl VolumeBinding {
    /// The plugin with `binder` doing PreBind's work.
    pub fn new(binder: Arc<dyn VolumeBinder>, bind_timeout: Duration) -> Self {
        Self { binder, bind_timeout, assumed: Arc::default() }
    }

    /// Sorts the pod's claims out (upstream `podHasPVCs` and `GetPodVolumeClaims`).
    fn pod_claims(&self, pod: &PodInfo, cluster: &ClusterState) -> Result<PodClaims, Status> {
        let mut pvcs = Vec::with_capacity(pod.pvcs.len());
        for name in &pod.pvcs {
            let key = format!("{}/{name}", pod.namespace);
            let Some(pvc) = cluster.pvcs.get(&key) else {
                return Err(Status::unresolvable(format!("persistentvolumeclaim {name:?} not found")));
            };
            let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
            if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
                let v = volume.unwrap_or_default();
                let msg = format!("persistentvolumeclaim {name:?} bound to non-existent persistentvolume {v:?}");
                return Err(Status::unresolvable(msg));
            }
            if pvc.metadata.deletion_timestamp.is_some() {
                return Err(Status::unresolvable(format!("persistentvolumeclaim {name:?} is being deleted")));
            }
            pvcs.push((key, pvc, volume));
        }
        let mut assumed = lock(&self.assumed);
        assumed.prune(cluster);
        let mut claims = PodClaims::default();
        let mut immediate = false;
        for (key, pvc, volume) in pvcs {
            if let Some(v) = volume {
                claims.bound.push(cluster.pvs.get(&v).map(|pv| VolumeAffinity::of(pv)));
                continue;
            }
            let class = claim_class(pvc);
            match cluster.storage_classes.get(&class).filter(|c| !class.is_empty() && is_delay_binding(c)) {
                Some(sc) => {
                    let mut c = DelayedClaim::new(key, pvc, sc);
                    if c.selected_node.is_none() {
                        c.selected_node = assumed.provisions.get(&c.key).map(|h| h.target.clone());
                    }
                    claims.delayed.push(c);
                }
                None => immediate = true,
            }
        }
        if immediate {
            return Err(Status::unresolvable(ERR_REASON_UNBOUND_IMMEDIATE));
        }
        claims.delayed.sort_by_key(DelayedClaim::request);
        // PVs of the delayed claims' classes that are free or pre-bound to one of them.
        let wanted: BTreeSet<&str> = claims.delayed.iter().map(|c| c.key.as_str()).collect();
        let classes: BTreeSet<&str> = claims.delayed.iter().map(|c| c.class.as_str()).collect();
        let mut names: Vec<&String> = cluster.pvs.keys().collect();
        names.sort();
        for name in names {
            let pv = &cluster.pvs[name];
            let class = binder::volume_class(pv);
            if !classes.contains(class.as_str()) {
                continue;
            }
            let Some(mut cand) = Candidate::of(pv) else { continue };
            if let Some(h) = assumed.pvs.get(name) {
                cand.assume_for(&h.target);
            }
            if cand.claim().is_none_or(|c| wanted.contains(c)) {
                claims.candidates.entry(class).or_default().push(cand);
            }
        }
        Ok(claims)
    }
}

fn pod_has_claims_hint(pod: &PodInfo, _old: Option<&ClusterObject>, _new: Option<&ClusterObject>) -> QueueingHint {
    if pod.pvcs.is_empty() { QueueingHint::Skip } else { QueueingHint::Queue }
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        let add_update = ActionType::ADD.or(ActionType::UPDATE);
        Some(vec![
            // A missing or misconfigured class (binding mode, allowedTopologies).
            ClusterEventWithHint::new(EventResource::StorageClass, add_update),
            ClusterEventWithHint::new(EventResource::PersistentVolumeClaim, add_update),
            ClusterEventWithHint::with_hint(EventResource::PersistentVolume, add_update, pod_has_claims_hint),
            // Node labels decide PV affinity and allowed topologies (upstream adds taint
            // updates for nodes that were not ready when added).
            ClusterEventWithHint::new(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL).or(ActionType::UPDATE_NODE_TAINT),
            ),
        ])
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status) {
        if pod.pvcs.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        match self.pod_claims(pod, &snapshot.cluster) {
            Ok(claims) => {
                state.insert(State { claims: Arc::new(claims), by_node: Arc::default() });
                (PreFilterResult::default(), Status::success())
            }
            Err(s) => (PreFilterResult::default(), s),
        }
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.get::<State>() else {
            return Status::error(format!("{NAME}: no PreFilter state"));
        };
        match s.claims.find_pod_volumes(node) {
            Ok(volumes) => {
                lock(&s.by_node).insert(node.name.clone(), volumes);
                Status::success()
            }
            Err(reasons) => {
                let mut reasons = reasons.into_iter();
                let first = Status::unresolvable(reasons.next().unwrap_or(ERR_REASON_BIND_CONFLICT));
                reasons.fold(first, Status::with_reason)
            }
        }
    }
}

impl ReservePlugin for VolumeBinding {
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status {
        // No state: the pod has no claims.
        let Some(volumes) = state.get::<State>().and_then(|s| lock(&s.by_node).get(node).cloned()) else {
            return Status::success();
        };
        let mut assumed = lock(&self.assumed);
        for (claim, pv) in &volumes.static_bindings {
            if let Some(h) = assumed.pvs.get(pv).filter(|h| h.target != *claim) {
                let msg = format!("persistentvolume {pv:?} is already assumed for claim {:?}", h.target);
                return Status::unschedulable(msg);
            }
        }
        for (claim, pv) in &volumes.static_bindings {
            Assumed::hold(&mut assumed.pvs, pv, claim, &pod.key);
        }
        for claim in &volumes.provisions {
            Assumed::hold(&mut assumed.provisions, claim, node, &pod.key);
        }
        drop(assumed);
        state.insert(Reserved(Arc::new(volumes)));
        Status::success()
    }

    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, _node: &str) {
        let Some(Reserved(volumes)) = state.get::<Reserved>() else { return };
        let mut assumed = lock(&self.assumed);
        for (_, pv) in &volumes.static_bindings {
            Assumed::release(&mut assumed.pvs, pv, &pod.key);
        }
        for claim in &volumes.provisions {
            Assumed::release(&mut assumed.provisions, claim, &pod.key);
        }
    }
}

impl VolumeBinding {
    async fn bind_all(&self, volumes: &PodVolumes, node: &str) -> Result<(), VolumeBindError> {
        for (claim, pv) in &volumes.static_bindings {
            self.binder.bind(claim, pv).await?;
        }
        for claim in &volumes.provisions {
            self.binder.provision(claim, node).await?;
        }
        Ok(())
    }
}

impl PreBindPlugin for VolumeBinding {
    fn pre_bind<'a>(&'a self, state: &'a CycleState, _pod: &'a PodInfo, node: &'a str) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let Some(Reserved(volumes)) = state.get::<Reserved>() else { return Status::success() };
            if volumes.is_empty() {
                return Status::success();
            }
            let result = if self.bind_timeout.is_zero() {
                self.bind_all(volumes, node).await
            } else {
                match tokio::time::timeout(self.bind_timeout, self.bind_all(volumes, node)).await {
                    Ok(r) => r,
                    Err(_) => Err(VolumeBindError("timed out waiting for the condition".into())),
                }
            };
            match result {
                Ok(()) => Status::success(),
                Err(e) => Status::error(format!("binding volumes: {e}")),
            }
        })
    }
}

/// Builds the plugin with a [`VolumeBinder`] (the API driver's); see [`factory`] for `args`.
///
/// # Errors
/// Unknown fields in `args`.
pub fn factory_with_binder(
    args: Option<&serde_json::Value>,
    binder: Arc<dyn VolumeBinder>,
) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    let timeout = Duration::from_secs(args.bind_timeout_seconds.unwrap_or(DEFAULT_BIND_TIMEOUT_SECONDS));
    let plugin = VolumeBinding::new(binder, timeout);
    Ok(PluginHandle::of(plugin).pre_filter().filter().reserve().pre_bind().build())
}

/// Builds the plugin from `VolumeBindingArgs` (`bindTimeoutSeconds`) with the no-op
/// [`NoopVolumeBinder`].
///
/// # Errors
/// Unknown fields in `args`.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    factory_with_binder(args, Arc::new(NoopVolumeBinder))
}
