//! Binding of PersistentVolumeClaims to PersistentVolumes (upstream's PV controller,
//! `persistentvolume-binder`), as pure decisions over cached objects.
//!
//! - [`plan_claim`]: what a claim needs — bind to a volume (pre-bound to it, named by it,
//!   or the smallest available match), keep waiting (no match, or its class waits for the
//!   first consumer, whom the scheduler binds), or mark it `Lost`.
//! - [`plan_volume`]: a volume's phase — `Available`, `Bound`, or `Released` once its
//!   claim is gone — and undoing a binding the controller made to a claim that went to
//!   another volume.
//!
//! ```
//! use kcontroller::volume::{ClaimPlan, plan_claim};
//! use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
//! use std::sync::Arc;
//!
//! let pv: PersistentVolume = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "pv-1"},
//!     "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
//!              "hostPath": {"path": "/data/pv-1"}}}))?;
//! let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "data", "namespace": "default", "uid": "u1"},
//!     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
//!              "storageClassName": ""}}))?;
//! let volumes = [Arc::new(pv)];
//! let plan = plan_claim(&pvc, &volumes, None);
//! assert_eq!(plan, ClaimPlan::Bind { volume: "pv-1".into() });
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::sync::Arc;

use kapi::k8s::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};
use kapi::k8s::api::storage::v1::StorageClass;
use kapi::labels::Selector;
use kapi::quantity::Quantity;

#[cfg(test)]
mod tests;

/// Set on both objects once the controller has bound them.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set when the controller (not the user) chose the other side of the binding.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// Why a claim of a `WaitForFirstConsumer` class is pending (upstream's event message).
pub const WAITING_FOR_FIRST_CONSUMER: &str = "waiting for first consumer to be created before binding";
/// The beta storage class annotation, read before `storageClassName` as upstream does.
const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// What a claim needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimPlan {
    /// Bound and consistent on both sides.
    Nothing,
    /// Waiting (the reason, as upstream's event says it).
    Pending(&'static str),
    /// Bind to this volume: its `claimRef`, its phase, then the claim's `volumeName`,
    /// annotations and phase — whichever are not yet so.
    Bind {
        /// The volume.
        volume: String,
    },
    /// The claim was bound but its volume is gone or taken: phase `Lost`.
    Lost,
}

/// What a volume needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumePlan {
    /// Its phase is right.
    Nothing,
    /// Set `status.phase` to this.
    Phase(&'static str),
    /// The controller bound it to a claim that is now bound elsewhere: clear `claimRef`
    /// (it becomes `Available` again).
    Unbind,
}

fn bytes(q: Option<&kapi::k8s::apimachinery::pkg::api::resource::Quantity>) -> i64 {
    // The API server validates quantities; an unparsable one counts as nothing.
    q.and_then(|q| q.0.parse::<Quantity>().ok()).and_then(|q| q.value().ok()).unwrap_or(0)
}

/// The claim's storage class: the beta annotation, else `storageClassName`, else `""`.
pub fn claim_class(pvc: &PersistentVolumeClaim) -> String {
    let ann = pvc.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS));
    ann.or(pvc.spec.as_ref().and_then(|s| s.storage_class_name.as_ref())).cloned().unwrap_or_default()
}

/// The volume's storage class, read the same way.
pub fn volume_class(pv: &PersistentVolume) -> String {
    let ann = pv.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS));
    ann.or(pv.spec.as_ref().and_then(|s| s.storage_class_name.as_ref())).cloned().unwrap_or_default()
}

/// The volume's `spec.claimRef`.
pub fn claim_ref(pv: &PersistentVolume) -> Option<&ObjectReference> {
    pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref())
}

/// The `claimRef` a volume bound to `pvc` carries (with its UID and resourceVersion).
pub fn claim_reference(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.metadata.namespace.clone(),
        name: pvc.metadata.name.clone(),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Whether `r` names `pvc`: same namespace and name, and the same UID unless `r` has none
/// (a volume pre-bound by a user or the scheduler before the UID was known).
pub fn refers_to(r: &ObjectReference, pvc: &PersistentVolumeClaim) -> bool {
    r.namespace.as_deref() == pvc.metadata.namespace.as_deref()
        && r.name.as_deref() == pvc.metadata.name.as_deref()
        && r.uid.as_deref().is_none_or(|u| u.is_empty() || Some(u) == pvc.metadata.uid.as_deref())
}

fn annotation<'a>(meta: &'a kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

fn volume_phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn claim_phase(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// Whether the claim's binding is complete on its own side.
fn claim_side_done(pvc: &PersistentVolumeClaim) -> bool {
    claim_phase(pvc) == Some("Bound") && annotation(&pvc.metadata, ANN_BIND_COMPLETED).is_some()
}

/// The smallest volume that can take `pvc` (upstream `FindMatchingVolume` without node
/// affinity, which only the scheduler considers): not bound, not being deleted, not
/// released, of the claim's class and volume mode, at least as large, with every access
/// mode the claim asks for, and selected by its selector. Ties go to the first name.
pub fn find_best_match<'a>(
    pvc: &PersistentVolumeClaim,
    volumes: &'a [Arc<PersistentVolume>],
) -> Option<&'a PersistentVolume> {
    let spec = pvc.spec.clone().unwrap_or_default();
    let request = bytes(spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")));
    let class = claim_class(pvc);
    let mode = spec.volume_mode.unwrap_or_else(|| "Filesystem".into());
    let modes = spec.access_modes.unwrap_or_default();
    // A selector that does not parse selects nothing.
    let selector =
        spec.selector.as_ref().map(|s| Selector::from_label_selector(Some(s)).unwrap_or_else(|_| Selector::nothing()));
    let no_labels = std::collections::BTreeMap::new();
    let mut best: Option<(&PersistentVolume, i64)> = None;
    for pv in volumes {
        let Some(pv_spec) = pv.spec.as_ref() else { continue };
        let capacity = bytes(pv_spec.capacity.as_ref().and_then(|c| c.get("storage")));
        let labels = pv.metadata.labels.as_ref().unwrap_or(&no_labels);
        let usable = pv_spec.claim_ref.is_none()
            && pv.metadata.deletion_timestamp.is_none()
            && !matches!(volume_phase(pv), Some("Released" | "Failed"))
            && volume_class(pv) == class
            && pv_spec.volume_mode.as_deref().unwrap_or("Filesystem") == mode
            && capacity >= request
            && modes.iter().all(|m| pv_spec.access_modes.iter().flatten().any(|p| p == m))
            && selector.as_ref().is_none_or(|s| s.matches(labels));
        if !usable {
            continue;
        }
        let better = match best {
            None => true,
            Some((b, c)) => capacity < c || (capacity == c && pv.metadata.name < b.metadata.name),
        };
        if better {
            best = Some((pv, capacity));
        }
    }
    best.map(|(pv, _)| pv)
}

/// What claim `pvc` needs, given every cached volume and the claim's storage class (`None`
/// when it has none or the class is not known).
pub fn plan_claim(
    pvc: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    class: Option<&StorageClass>,
) -> ClaimPlan {
    if pvc.metadata.deletion_timestamp.is_some() {
        return ClaimPlan::Nothing;
    }
    let named = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty());
    let Some(name) = named else {
        // A volume pre-bound to this claim (by a user, or by the scheduler for a claim
        // waiting for its first consumer) wins.
        if let Some(pv) = volumes.iter().find(|pv| claim_ref(pv).is_some_and(|r| refers_to(r, pvc))) {
            return ClaimPlan::Bind { volume: pv.metadata.name.clone().unwrap_or_default() };
        }
        if class.is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")) {
            return ClaimPlan::Pending(WAITING_FOR_FIRST_CONSUMER);
        }
        return match find_best_match(pvc, volumes) {
            Some(pv) => ClaimPlan::Bind { volume: pv.metadata.name.clone().unwrap_or_default() },
            None => ClaimPlan::Pending("no persistent volumes available for this claim and no storage class is set"),
        };
    };
    let Some(pv) = volumes.iter().find(|pv| pv.metadata.name.as_deref() == Some(name)) else {
        return if claim_phase(pvc) == Some("Bound") {
            ClaimPlan::Lost
        } else {
            ClaimPlan::Pending("volume not found")
        };
    };
    match claim_ref(pv) {
        None => ClaimPlan::Bind { volume: name.to_owned() },
        Some(r) if refers_to(r, pvc) => {
            let uid_set = r.uid.as_deref().is_some_and(|u| !u.is_empty());
            if uid_set && claim_side_done(pvc) && volume_phase(pv) == Some("Bound") {
                ClaimPlan::Nothing
            } else {
                ClaimPlan::Bind { volume: name.to_owned() }
            }
        }
        Some(_) if claim_phase(pvc) == Some("Bound") => ClaimPlan::Lost,
        Some(_) => ClaimPlan::Pending("volume already bound to a different claim"),
    }
}

/// What volume `pv` needs, given its claim as cached (`None`: not in the cache; confirm
/// with the API server before acting on a `Released`).
pub fn plan_volume(pv: &PersistentVolume, claim: Option<&PersistentVolumeClaim>) -> VolumePlan {
    let phase = volume_phase(pv);
    let want = |p: &'static str| if phase == Some(p) { VolumePlan::Nothing } else { VolumePlan::Phase(p) };
    if phase == Some("Failed") {
        return VolumePlan::Nothing;
    }
    let Some(r) = claim_ref(pv) else { return want("Available") };
    let uid = r.uid.as_deref().filter(|u| !u.is_empty());
    let Some(pvc) = claim else {
        // Pre-bound to a claim that does not exist yet: still available to it.
        return if uid.is_none() { want("Available") } else { want("Released") };
    };
    if uid.is_some() && uid != pvc.metadata.uid.as_deref() {
        // The claim was deleted and made again: this volume held the old one.
        return want("Released");
    }
    let named = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty());
    match named {
        Some(n) if Some(n) == pv.metadata.name.as_deref() => want("Bound"),
        // The claim side is not done yet; the claim's sync finishes it.
        None => VolumePlan::Nothing,
        // The claim went to another volume: undo what the controller did, leave a user's
        // pre-binding alone.
        Some(_) if annotation(&pv.metadata, ANN_BOUND_BY_CONTROLLER).is_some() => VolumePlan::Unbind,
        Some(_) => VolumePlan::Nothing,
    }
}
