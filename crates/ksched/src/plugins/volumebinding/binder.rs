//! The volume decisions of one pod: which claims are bound, which wait for their first
//! consumer, which PVs could take them, and — per node — which PV each claim gets or whether
//! it can be provisioned (upstream `binder.go` and `component-helpers/storage/volume`).

use std::collections::{BTreeMap, HashMap, HashSet};

use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim, TopologySelectorTerm};
use kapi::k8s::api::storage::v1::StorageClass;
use kapi::k8s::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kapi::labels::Selector;
use kapi::quantity::Quantity;

use crate::plugins::helper::NodeSelectorMatcher;
use crate::types::NodeInfo;

/// Filter reason: a bound PV's node affinity does not match the node.
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Filter reason: an unbound claim finds no PV on the node and cannot be provisioned there.
pub const ERR_REASON_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
/// Filter reason upstream gives when CSIStorageCapacity says a provisioned volume would not
/// fit. The cluster state has no CSIStorageCapacity objects, so it is never produced here.
pub const ERR_REASON_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
/// Filter reason: a claim is bound to a PV the cluster state does not have.
pub const ERR_REASON_PV_NOT_EXIST: &str = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";

/// The annotation with the node a claim is provisioned for.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The beta storage class annotation, read before `storageClassName` as upstream does.
const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
/// The provisioner of classes that cannot provision (local volumes).
pub const NOT_SUPPORTED_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// `volumeBindingMode` that delays binding until a pod is scheduled.
pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";

fn bytes(q: Option<&K8sQuantity>) -> i64 {
    // The API server validates quantities; an unparsable one counts as nothing.
    q.and_then(|q| q.0.parse::<Quantity>().ok()).and_then(|q| q.value().ok()).unwrap_or(0)
}

/// The claim's storage class: the beta annotation, else `storageClassName`, else `""`.
pub(super) fn claim_class(pvc: &PersistentVolumeClaim) -> String {
    let ann = pvc.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS));
    ann.or(pvc.spec.as_ref().and_then(|s| s.storage_class_name.as_ref())).cloned().unwrap_or_default()
}

/// The PV's storage class, read the same way.
pub(super) fn volume_class(pv: &PersistentVolume) -> String {
    let ann = pv.metadata.annotations.as_ref().and_then(|a| a.get(ANN_BETA_STORAGE_CLASS));
    ann.or(pv.spec.as_ref().and_then(|s| s.storage_class_name.as_ref())).cloned().unwrap_or_default()
}

/// Whether the class delays binding (`WaitForFirstConsumer`). An unset mode is `Immediate`,
/// the API default.
pub(super) fn is_delay_binding(class: &StorageClass) -> bool {
    class.volume_binding_mode.as_deref() == Some(WAIT_FOR_FIRST_CONSUMER)
}

/// Whether a node's labels satisfy a class's `allowedTopologies` (upstream
/// `MatchTopologySelectorTerms`): no terms allow every node; terms are ORed; a term without
/// expressions, or with an expression without values, matches nothing.
pub(super) fn topology_allows(terms: &[TopologySelectorTerm], labels: &BTreeMap<String, String>) -> bool {
    if terms.is_empty() {
        return true;
    }
    terms.iter().any(|t| {
        let reqs = t.match_label_expressions.as_deref().unwrap_or_default();
        !reqs.is_empty()
            && reqs.iter().all(|r| !r.values.is_empty() && labels.get(&r.key).is_some_and(|v| r.values.contains(v)))
    })
}

/// A PV's required node affinity, parsed once (upstream `CheckNodeAffinity`, which matches
/// node labels only).
#[derive(Debug, Clone, Default)]
pub(super) struct VolumeAffinity(Option<NodeSelectorMatcher>);

impl VolumeAffinity {
    pub(super) fn of(pv: &PersistentVolume) -> Self {
        let required = pv.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref());
        Self(required.map(NodeSelectorMatcher::lazy))
    }

    pub(super) fn matches(&self, node: &NodeInfo) -> bool {
        self.0.as_ref().is_none_or(|m| m.matches(&node.labels, ""))
    }
}

/// A PV an unbound claim of the pod might get.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) name: String,
    capacity: i64,
    access_modes: Vec<String>,
    volume_mode: String,
    labels: BTreeMap<String, String>,
    affinity: VolumeAffinity,
    /// The claim (`namespace/name`) it is pre-bound to (`claimRef`) or assumed for.
    claim: Option<String>,
    /// `status.phase` is `Available` (or unset, as in memory).
    available: bool,
}

impl Candidate {
    /// `None` for PVs no claim can get (being deleted).
    pub(super) fn of(pv: &PersistentVolume) -> Option<Self> {
        if pv.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let spec = pv.spec.clone().unwrap_or_default();
        let claim = spec.claim_ref.as_ref().map(|r| {
            format!("{}/{}", r.namespace.as_deref().unwrap_or("default"), r.name.as_deref().unwrap_or_default())
        });
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        Some(Self {
            name: pv.metadata.name.clone().unwrap_or_default(),
            capacity: bytes(spec.capacity.as_ref().and_then(|c| c.get("storage"))),
            access_modes: spec.access_modes.unwrap_or_default(),
            volume_mode: spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
            labels: pv.metadata.labels.clone().unwrap_or_default(),
            affinity: VolumeAffinity::of(pv),
            claim,
            available: phase.is_none_or(|p| p == "Available"),
        })
    }

    /// Records that the scheduler assumed the PV for `claim`.
    pub(super) fn assume_for(&mut self, claim: &str) {
        self.claim = Some(claim.to_owned());
    }

    /// The claim it is pre-bound or assumed to.
    pub(super) fn claim(&self) -> Option<&str> {
        self.claim.as_deref()
    }
}

/// How an unbound claim could be provisioned.
#[derive(Debug, Clone)]
pub(super) enum Provisioning {
    /// The class has no provisioner, or `kubernetes.io/no-provisioner`.
    Unsupported,
    /// A provisioner that can create volumes on nodes matching these topologies.
    Allowed(Vec<TopologySelectorTerm>),
}

/// An unbound claim whose class waits for the first consumer.
#[derive(Debug, Clone)]
pub(super) struct DelayedClaim {
    /// `namespace/name`.
    pub(super) key: String,
    /// Its storage class.
    pub(super) class: String,
    request: i64,
    access_modes: Vec<String>,
    volume_mode: String,
    /// `spec.selector`: `Err` when it does not parse (it then matches no PV).
    selector: Option<Result<Selector, ()>>,
    /// The node it is (being) provisioned for: the annotation or an assumed provisioning.
    pub(super) selected_node: Option<String>,
    provisioning: Provisioning,
}

impl DelayedClaim {
    pub(super) fn new(key: String, pvc: &PersistentVolumeClaim, class: &StorageClass) -> Self {
        let spec = pvc.spec.clone().unwrap_or_default();
        let provisioner = class.provisioner.as_str();
        let provisioning = if provisioner.is_empty() || provisioner == NOT_SUPPORTED_PROVISIONER {
            Provisioning::Unsupported
        } else {
            Provisioning::Allowed(class.allowed_topologies.clone().unwrap_or_default())
        };
        Self {
            key,
            class: claim_class(pvc),
            request: bytes(spec.resources.as_ref().and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage"))),
            access_modes: spec.access_modes.unwrap_or_default(),
            volume_mode: spec.volume_mode.unwrap_or_else(|| "Filesystem".into()),
            selector: spec.selector.as_ref().map(|s| Selector::from_label_selector(Some(s)).map_err(|_| ())),
            selected_node: pvc.metadata.annotations.as_ref().and_then(|a| a.get(ANN_SELECTED_NODE)).cloned(),
            provisioning,
        }
    }

    /// The requested size in bytes (claims are matched smallest first).
    pub(super) fn request(&self) -> i64 {
        self.request
    }

    fn selector_rejects(&self, labels: &BTreeMap<String, String>) -> bool {
        match &self.selector {
            None => false,
            Some(Ok(s)) => !s.matches(labels),
            Some(Err(())) => true,
        }
    }

    /// The smallest PV among `pvs` that fits the claim on `node` and is not in `chosen`; a
    /// PV pre-bound to the claim wins at once when its affinity matches (upstream
    /// `FindMatchingVolume`).
    fn find_match<'a>(&self, pvs: &'a [Candidate], node: &NodeInfo, chosen: &HashSet<&str>) -> Option<&'a Candidate> {
        let mut best: Option<&Candidate> = None;
        for pv in pvs {
            if chosen.contains(pv.name.as_str()) {
                continue;
            }
            let prebound = pv.claim.as_deref() == Some(self.key.as_str());
            if (pv.claim.is_some() && !prebound) || pv.capacity < self.request || pv.volume_mode != self.volume_mode {
                continue;
            }
            let affinity_ok = pv.affinity.matches(node);
            if prebound {
                if affinity_ok {
                    return Some(pv);
                }
                continue;
            }
            if !pv.available
                || !affinity_ok
                || self.selector_rejects(&pv.labels)
                || !self.access_modes.iter().all(|m| pv.access_modes.contains(m))
            {
                continue;
            }
            if best.is_none_or(|b| pv.capacity < b.capacity) {
                best = Some(pv);
            }
        }
        best
    }
}

/// What the pod's volumes need on one node: PVs to bind and claims to provision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    /// `(claim namespace/name, PV name)` pairs to bind.
    pub static_bindings: Vec<(String, String)>,
    /// Claims (`namespace/name`) to provision on the node.
    pub provisions: Vec<String>,
}

impl PodVolumes {
    /// Whether nothing needs binding or provisioning.
    pub fn is_empty(&self) -> bool {
        self.static_bindings.is_empty() && self.provisions.is_empty()
    }
}

/// The pod's claims, sorted out in PreFilter.
#[derive(Debug, Default)]
pub(super) struct PodClaims {
    /// Bound claims: their PV's affinity, `None` when the PV does not exist.
    pub(super) bound: Vec<Option<VolumeAffinity>>,
    /// Unbound claims with delayed binding, smallest request first.
    pub(super) delayed: Vec<DelayedClaim>,
    /// PVs of the delayed claims' classes, by class, in name order.
    pub(super) candidates: HashMap<String, Vec<Candidate>>,
}

impl PodClaims {
    /// Upstream `FindPodVolumes`: the volumes the pod would use on `node`, or the reasons
    /// it cannot.
    pub(super) fn find_pod_volumes(&self, node: &NodeInfo) -> Result<PodVolumes, Vec<&'static str>> {
        let mut bound_ok = true;
        let mut pvs_found = true;
        for b in &self.bound {
            match b {
                None => {
                    pvs_found = false;
                    break;
                }
                Some(a) if !a.matches(node) => {
                    bound_ok = false;
                    break;
                }
                Some(_) => {}
            }
        }
        let mut volumes = PodVolumes::default();
        let unbound_ok = self.find_unbound(node, &mut volumes);
        let reasons: Vec<&'static str> = [
            (!bound_ok, ERR_REASON_NODE_CONFLICT),
            (!unbound_ok, ERR_REASON_BIND_CONFLICT),
            (!pvs_found, ERR_REASON_PV_NOT_EXIST),
        ]
        .into_iter()
        .filter_map(|(failed, reason)| failed.then_some(reason))
        .collect();
        if reasons.is_empty() { Ok(volumes) } else { Err(reasons) }
    }

    /// Matches the delayed claims to PVs, then checks the rest can be provisioned.
    fn find_unbound(&self, node: &NodeInfo, volumes: &mut PodVolumes) -> bool {
        let mut to_provision: Vec<&DelayedClaim> = Vec::new();
        let mut to_match: Vec<&DelayedClaim> = Vec::new();
        for c in &self.delayed {
            match &c.selected_node {
                Some(n) if *n != node.name => return false,
                Some(_) => to_provision.push(c),
                None => to_match.push(c),
            }
        }
        let mut chosen: HashSet<&str> = HashSet::new();
        for c in to_match {
            let pvs = self.candidates.get(&c.class).map_or(&[][..], Vec::as_slice);
            match c.find_match(pvs, node, &chosen) {
                Some(pv) => {
                    chosen.insert(&pv.name);
                    volumes.static_bindings.push((c.key.clone(), pv.name.clone()));
                }
                None => to_provision.push(c),
            }
        }
        for c in to_provision {
            match &c.provisioning {
                Provisioning::Allowed(terms) if topology_allows(terms, &node.labels) => {
                    volumes.provisions.push(c.key.clone());
                }
                _ => return false,
            }
        }
        true
    }
}
