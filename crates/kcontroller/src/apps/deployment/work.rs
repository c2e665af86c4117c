//! The working state of one Deployment sync: a copy of the Deployment and its ReplicaSets
//! that the steps mutate as upstream's API calls would, recording what changed so the plan
//! can list the actions at the end. Also upstream's `getAllReplicaSetsAndSyncRevision`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Duration;

use kapi::k8s::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use kapi::k8s::api::core::v1::{Pod, PodTemplateSpec};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kapi::k8s::jiff::Timestamp;

use super::revision::{self, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use super::spec::{ResolvedSpec, Strategy};
use super::status::{self, PROGRESSING};
use super::{DeploymentAction, EventType, PlannedEvent};
use crate::apps::pod;

/// The sync stopped early (upstream returned an error); the plan requeues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Abort;

pub(super) type Flow<T> = Result<T, Abort>;

pub(super) struct Work<'a> {
    /// The Deployment as the steps changed it (annotations, status, template on rollback).
    pub(super) d: Deployment,
    pub(super) spec: ResolvedSpec,
    pub(super) name: String,
    pub(super) uid: String,
    pub(super) rss: Vec<ReplicaSet>,
    created: Vec<bool>,
    touched: Vec<usize>,
    pub(super) deletes: Vec<(String, String)>,
    pub(super) events: Vec<PlannedEvent>,
    pub(super) now: Timestamp,
    pub(super) pods: &'a [Pod],
    /// The status computed by the last status step (`None`: write `d.status`).
    pub(super) final_status: Option<DeploymentStatus>,
    pub(super) requeue_after: Option<Duration>,
    /// Rollback: the Deployment itself must be updated.
    pub(super) update_deployment: bool,
}

/// Upstream `ReplicaSetsByCreationTimestamp`: older first, then by name.
pub(super) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let ts = |r: &ReplicaSet| r.metadata.creation_timestamp.as_ref().map(|t| t.0);
    ts(a).cmp(&ts(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// `spec.replicas` of a ReplicaSet (API default 1).
pub(super) fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.replicas`.
pub(super) fn actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// `status.availableReplicas`.
pub(super) fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0)
}

/// `status.readyReplicas`.
pub(super) fn ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

/// An integer annotation (upstream `getIntFromAnnotation`).
pub(super) fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

impl<'a> Work<'a> {
    pub(super) fn new(d: &Deployment, spec: ResolvedSpec, rss: &[ReplicaSet], pods: &'a [Pod], now: Timestamp) -> Self {
        Self {
            d: d.clone(),
            spec,
            name: d.metadata.name.clone().unwrap_or_default(),
            uid: d.metadata.uid.clone().unwrap_or_default(),
            rss: rss.to_vec(),
            created: vec![false; rss.len()],
            touched: Vec::new(),
            deletes: Vec::new(),
            events: Vec::new(),
            now,
            pods,
            final_status: None,
            requeue_after: None,
            update_deployment: false,
        }
    }

    pub(super) fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    pub(super) fn status_mut(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(DeploymentStatus::default)
    }

    pub(super) fn template(&self) -> PodTemplateSpec {
        self.d.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default()
    }

    pub(super) fn event(&mut self, type_: EventType, reason: &str, message: String) {
        self.events.push(PlannedEvent { type_, reason: reason.into(), message });
    }

    fn touch(&mut self, i: usize) {
        if !self.touched.contains(&i) {
            self.touched.push(i);
        }
    }

    pub(super) fn rs_name(&self, i: usize) -> String {
        self.rss[i].metadata.name.clone().unwrap_or_default()
    }

    pub(super) fn replicas(&self, i: usize) -> i32 {
        replicas(&self.rss[i])
    }

    /// Sorts indices with a comparator on the ReplicaSets.
    pub(super) fn sort(&self, idx: &mut [usize], cmp: impl Fn(&ReplicaSet, &ReplicaSet) -> Ordering) {
        idx.sort_by(|a, b| cmp(&self.rss[*a], &self.rss[*b]));
    }

    /// Copies of the ReplicaSets as they are now (what upstream's later steps still see).
    pub(super) fn snapshot(&self, idx: &[usize]) -> Vec<ReplicaSet> {
        idx.iter().map(|i| self.rss[*i].clone()).collect()
    }

    /// Upstream `FilterActiveReplicaSets`: `spec.replicas > 0`.
    pub(super) fn active(&self, idx: &[usize]) -> Vec<usize> {
        idx.iter().copied().filter(|i| self.replicas(*i) > 0).collect()
    }

    /// Sum of `spec.replicas`.
    pub(super) fn total_replicas(&self, idx: &[usize]) -> i32 {
        idx.iter().map(|i| self.replicas(*i)).sum()
    }

    /// Upstream `scaleReplicaSet`: sets the size and the desired-/max-replicas annotations
    /// when either differs; returns whether the size changed.
    pub(super) fn scale_replica_set(&mut self, i: usize, new_scale: i32, operation: &str) -> bool {
        let desired = self.spec.replicas;
        let max = desired + self.spec.max_surge();
        let old = self.replicas(i);
        let size_changed = old != new_scale;
        if size_changed || revision::replicas_annotations_need_update(&self.rss[i], desired, max) {
            let rs = &mut self.rss[i];
            rs.spec.get_or_insert_with(ReplicaSetSpec::default).replicas = Some(new_scale);
            revision::set_replicas_annotations(rs, desired, max);
            self.touch(i);
            if size_changed {
                let name = self.rs_name(i);
                self.event(
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!("Scaled {operation} replica set {name} to {new_scale} from {old}"),
                );
            }
        }
        size_changed
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`: nothing when the size is already right.
    pub(super) fn scale_and_record(&mut self, i: usize, new_scale: i32) -> bool {
        let old = self.replicas(i);
        if old == new_scale {
            return false;
        }
        let operation = if old < new_scale { "up" } else { "down" };
        self.scale_replica_set(i, new_scale, operation)
    }

    /// Upstream `FindNewReplicaSet`: the oldest ReplicaSet whose template equals the
    /// Deployment's, ignoring the hash label.
    fn find_new(&self) -> Option<usize> {
        let template = self.template();
        let mut idx: Vec<usize> = (0..self.rss.len()).collect();
        self.sort(&mut idx, by_creation);
        idx.into_iter().find(|i| {
            let t = self.rss[*i].spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
            revision::equal_ignore_hash(&t, &template)
        })
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when
    /// `create` and missing) and all old ones (oldest first), with the new one's annotations
    /// and `minReadySeconds` and the Deployment's revision synced.
    pub(super) fn get_all(&mut self, create: bool) -> Flow<(Option<usize>, Vec<usize>)> {
        let new = self.find_new();
        let mut old: Vec<usize> = (0..self.rss.len()).filter(|i| Some(*i) != new).collect();
        self.sort(&mut old, by_creation);
        let new_revision = revision::max_revision(old.iter().map(|i| &self.rss[*i])) + 1;
        let desired = self.spec.replicas;
        let max = desired + self.spec.max_surge();

        if let Some(n) = new {
            let mut rs = self.rss[n].clone();
            let annotations_updated =
                revision::set_new_replica_set_annotations(&self.d, &mut rs, new_revision, true, desired, max);
            let min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
            if annotations_updated || min_ready != self.spec.min_ready_seconds {
                rs.spec.get_or_insert_with(ReplicaSetSpec::default).min_ready_seconds =
                    Some(self.spec.min_ready_seconds);
                self.rss[n] = rs;
                self.touch(n);
                return Ok((Some(n), old));
            }
            let rev = rs.metadata.annotations.as_ref().and_then(|a| a.get(REVISION_ANNOTATION)).cloned();
            revision::set_deployment_revision(&mut self.d, &rev.unwrap_or_default());
            if self.spec.has_progress_deadline() && status::condition(&self.status(), PROGRESSING).is_none() {
                let name = self.rs_name(n);
                let cond = status::new_condition(
                    PROGRESSING,
                    "True",
                    status::FOUND_NEW_RS_REASON,
                    format!("Found new replica set {name:?}"),
                    self.now,
                );
                status::set_condition(self.status_mut(), cond);
            }
            return Ok((Some(n), old));
        }
        if !create {
            return Ok((None, old));
        }
        self.create_new(old, new_revision)
    }

    fn create_new(&mut self, old: Vec<usize>, new_revision: i64) -> Flow<(Option<usize>, Vec<usize>)> {
        let mut template = self.template();
        let hash = revision::compute_hash(&template, self.status().collision_count);
        let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        template.metadata.get_or_insert_with(ObjectMeta::default).labels = Some(labels.clone());
        let mut selector: LabelSelector = self.d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(POD_TEMPLATE_HASH_LABEL.into(), hash.clone());
        let name = format!("{}-{hash}", self.name);

        // The name is taken by one of our ReplicaSets with another template: a hash
        // collision. Upstream learns it from AlreadyExists, bumps collisionCount and retries.
        if self.rss.iter().any(|rs| rs.metadata.name.as_deref() == Some(name.as_str())) {
            let status = self.status_mut();
            status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
            return Err(Abort);
        }

        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.metadata.namespace.clone(),
                owner_references: Some(vec![self.owner_reference()]),
                labels: Some(labels),
                creation_timestamp: Some(pod::api_time(self.now)),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: Some(self.spec.min_ready_seconds),
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<i32> = old.iter().map(|i| self.replicas(*i)).collect();
        let new_replicas = self.new_rs_new_replicas(all.iter().sum(), 0);
        if let Some(spec) = rs.spec.as_mut() {
            spec.replicas = Some(new_replicas);
        }
        let desired = self.spec.replicas;
        let max = desired + self.spec.max_surge();
        revision::set_new_replica_set_annotations(&self.d, &mut rs, new_revision, false, desired, max);

        self.rss.push(rs);
        self.created.push(true);
        let n = self.rss.len() - 1;
        self.touch(n);
        if new_replicas > 0 {
            self.event(
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} to {new_replicas}"),
            );
        }
        revision::set_deployment_revision(&mut self.d, &new_revision.to_string());
        if self.spec.has_progress_deadline() {
            let cond = status::new_condition(
                PROGRESSING,
                "True",
                status::NEW_RS_REASON,
                format!("Created new replica set {name:?}"),
                self.now,
            );
            status::set_condition(self.status_mut(), cond);
        }
        Ok((Some(n), old))
    }

    /// Upstream `NewRSNewReplicas` for a new ReplicaSet of `new_replicas` among ReplicaSets
    /// totalling `current_total` (including it).
    pub(super) fn new_rs_new_replicas(&self, current_total: i32, new_replicas: i32) -> i32 {
        match self.spec.strategy {
            Strategy::RollingUpdate { max_surge, .. } => {
                let max_total = self.spec.replicas + max_surge;
                if current_total >= max_total {
                    return new_replicas;
                }
                let up = (max_total - current_total).min(self.spec.replicas - new_replicas);
                new_replicas + up
            }
            Strategy::Recreate => self.spec.replicas,
        }
    }

    /// The controller reference of the Deployment.
    pub(super) fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// The ReplicaSet actions, in the order the ReplicaSets were first changed, then the
    /// deletions.
    pub(super) fn replica_set_actions(&self) -> Vec<DeploymentAction> {
        let mut out = Vec::new();
        for &i in &self.touched {
            let rs = &self.rss[i];
            if self.created[i] {
                let mut rs = rs.clone();
                rs.metadata.creation_timestamp = None;
                out.push(DeploymentAction::CreateReplicaSet(Box::new(rs)));
            } else {
                out.push(DeploymentAction::UpdateReplicaSet {
                    name: rs.metadata.name.clone().unwrap_or_default(),
                    resource_version: rs.metadata.resource_version.clone(),
                    replicas: replicas(rs),
                    annotations: rs.metadata.annotations.clone().unwrap_or_default(),
                    min_ready_seconds: rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0),
                });
            }
        }
        for (name, uid) in &self.deletes {
            out.push(DeploymentAction::DeleteReplicaSet { name: name.clone(), uid: uid.clone() });
        }
        out
    }
}
