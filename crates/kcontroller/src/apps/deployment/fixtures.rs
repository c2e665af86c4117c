//! Test builders and an in-memory API server for Deployment plans.

use std::collections::BTreeMap;

use kapi::k8s::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use kapi::k8s::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;
use kapi::k8s::jiff::Timestamp;

use super::revision::{self, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};
use super::spec::{RECREATE, ROLLING_UPDATE};
use super::{DeploymentAction, DeploymentPlan};
pub(super) use crate::apps::pod::testutil::t;

pub(super) fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

pub(super) fn int(v: i32) -> IntOrString {
    IntOrString::Int(v)
}

pub(super) fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

/// A rolling Deployment `web` (uid `uid-d`, generation 1) with image `v1`.
pub(super) fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some("ns".into()),
            uid: Some("uid-d".into()),
            generation: Some(1),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            template: template("v1"),
            strategy: Some(DeploymentStrategy {
                type_: Some(ROLLING_UPDATE.into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

pub(super) fn recreate(replicas: i32) -> Deployment {
    let mut d = deployment(replicas, int(0), int(0));
    d.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy { type_: Some(RECREATE.into()), rolling_update: None });
    d
}

pub(super) fn set_image(d: &mut Deployment, image: &str) {
    d.spec.as_mut().unwrap().template = template(image);
    d.metadata.generation = Some(d.metadata.generation.unwrap_or(0) + 1);
}

pub(super) fn set_replicas(d: &mut Deployment, replicas: i32) {
    d.spec.as_mut().unwrap().replicas = Some(replicas);
    d.metadata.generation = Some(d.metadata.generation.unwrap_or(0) + 1);
}

/// A ReplicaSet of `web` for `image`, `replicas` wanted, all of them running and available.
pub(super) fn rs(name: &str, image: &str, replicas: i32, created_at: i64, rev: Option<i64>) -> ReplicaSet {
    let mut tpl = template(image);
    tpl.metadata.as_mut().unwrap().labels.as_mut().unwrap().insert(POD_TEMPLATE_HASH_LABEL.into(), name.into());
    let mut annotations = BTreeMap::new();
    if let Some(r) = rev {
        annotations.insert(REVISION_ANNOTATION.to_string(), r.to_string());
    }
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            creation_timestamp: Some(Time(t(created_at))),
            annotations: Some(annotations),
            labels: tpl.metadata.as_ref().unwrap().labels.clone(),
            owner_references: Some(vec![kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
                uid: "uid-d".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: Some(0),
            selector: LabelSelector {
                match_labels: Some(
                    [("app".to_string(), "web".to_string()), (POD_TEMPLATE_HASH_LABEL.to_string(), name.to_string())]
                        .into(),
                ),
                ..Default::default()
            },
            template: Some(tpl),
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            ready_replicas: Some(replicas),
            available_replicas: Some(replicas),
            observed_generation: Some(1),
            ..Default::default()
        }),
    }
}

pub(super) fn with_annotations(mut rs: ReplicaSet, desired: i32, max: i32) -> ReplicaSet {
    revision::set_replicas_annotations(&mut rs, desired, max);
    rs
}

pub(super) fn with_status(mut rs: ReplicaSet, replicas: i32, available: i32) -> ReplicaSet {
    let s = rs.status.get_or_insert_with(Default::default);
    s.replicas = replicas;
    s.ready_replicas = Some(available);
    s.available_replicas = Some(available);
    rs
}

pub(super) fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub(super) fn annotation(rs: &ReplicaSet, key: &str) -> Option<String> {
    rs.metadata.annotations.as_ref()?.get(key).cloned()
}

/// Applies a plan as an API server would: returns the new ReplicaSets; updates `d`.
pub(super) fn apply(
    plan: &DeploymentPlan,
    d: &mut Deployment,
    rss: &mut Vec<ReplicaSet>,
    now: Timestamp,
    uid_seq: &mut u32,
) {
    for action in &plan.actions {
        match action {
            DeploymentAction::CreateReplicaSet(new) => {
                let mut new = (**new).clone();
                *uid_seq += 1;
                new.metadata.uid = Some(format!("rs-uid-{uid_seq}"));
                new.metadata.creation_timestamp = Some(Time(now));
                new.metadata.generation = Some(1);
                assert!(rss.iter().all(|r| r.metadata.name != new.metadata.name), "AlreadyExists");
                rss.push(new);
            }
            DeploymentAction::UpdateReplicaSet { name, replicas, annotations, min_ready_seconds, .. } => {
                let rs =
                    rss.iter_mut().find(|r| r.metadata.name.as_ref() == Some(name)).expect("update of a missing RS");
                let spec = rs.spec.as_mut().unwrap();
                if spec.replicas != Some(*replicas) || spec.min_ready_seconds != Some(*min_ready_seconds) {
                    rs.metadata.generation = Some(rs.metadata.generation.unwrap_or(0) + 1);
                }
                spec.replicas = Some(*replicas);
                spec.min_ready_seconds = Some(*min_ready_seconds);
                rs.metadata.annotations = Some(annotations.clone());
            }
            DeploymentAction::DeleteReplicaSet { name, .. } => rss.retain(|r| r.metadata.name.as_ref() != Some(name)),
            DeploymentAction::SetDeploymentRevision { revision } => {
                d.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(REVISION_ANNOTATION.into(), revision.clone());
            }
            DeploymentAction::UpdateDeployment(updated) => {
                if updated.spec != d.spec {
                    d.metadata.generation = Some(d.metadata.generation.unwrap_or(0) + 1);
                }
                d.spec = updated.spec.clone();
                d.metadata.annotations = updated.metadata.annotations.clone();
            }
        }
    }
    if plan.status_changed {
        d.status = Some(plan.status.clone());
    }
}
