//! The pod-template-hash, revision numbers and the annotations a Deployment keeps on its
//! ReplicaSets (upstream `ComputeHash`, `SetNewReplicaSetAnnotations`, `MaxRevision`,
//! `LastRevision`, `EqualIgnoreHash`, `SetDeploymentAnnotationsTo`).
//!
//! # The hash
//!
//! Upstream hashes Go's deep-printing of the `PodTemplateSpec` with FNV-32a. Reproducing that
//! dump is impractical, so [`compute_hash`] hashes a canonical JSON serialization instead
//! (object keys sorted, no insignificant whitespace), then appends `collisionCount` exactly
//! as upstream (8 bytes, the `u32` little-endian in the first four) and encodes the decimal
//! sum with upstream's `SafeEncodeString`. The value therefore differs from upstream's for the
//! same template, while the format (`[bcdfghjklmnpqrstvwxz2456789]{1,10}`), its uses (RS name
//! suffix, `pod-template-hash` label on the RS, its selector and its template) and collision
//! handling through `status.collisionCount` are the same. Existing ReplicaSets are found by
//! template equality, never by hash, so a cluster moved from upstream keeps its ReplicaSets.

use std::collections::BTreeMap;

use kapi::k8s::api::apps::v1::{Deployment, ReplicaSet};
use kapi::k8s::api::core::v1::PodTemplateSpec;
use serde_json::Value;

/// Label added to a Deployment's ReplicaSets, their selectors and templates.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// The revision of a ReplicaSet (and, copied, of its Deployment).
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet served (after rollbacks), comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `replicas + maxSurge` when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// The deprecated `spec.rollbackTo`, round-tripped as an annotation.
pub const DEPRECATED_ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";
/// kubectl's last-applied configuration.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Upstream `maxRevHistoryLengthInChars`.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

const SAFE_ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Annotations never copied between a Deployment and its ReplicaSets.
pub fn skip_copy_annotation(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | DEPRECATED_ROLLBACK_TO_ANNOTATION
    )
}

/// Upstream `rand.SafeEncodeString`: maps each byte to the vowel-free alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| char::from(SAFE_ALPHANUMS[usize::from(b) % SAFE_ALPHANUMS.len()])).collect()
}

/// 32-bit FNV-1a.
pub fn fnv32a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            out.push('{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = map.get(k) {
                    write_canonical(child, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The pod-template-hash of `template` with `collision_count` (see the module documentation).
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut canonical = String::new();
    write_canonical(&serde_json::to_value(template).unwrap_or(Value::Null), &mut canonical);
    let mut bytes = canonical.into_bytes();
    if let Some(c) = collision_count {
        let mut extra = [0_u8; 8];
        extra[..4].copy_from_slice(&u32::from_ne_bytes(c.to_ne_bytes()).to_le_bytes());
        bytes.extend_from_slice(&extra);
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

fn without_hash_label(t: &PodTemplateSpec) -> Value {
    let mut t = t.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let mut v = serde_json::to_value(&t).unwrap_or(Value::Null);
    prune_empty(&mut v);
    v
}

/// Removes nulls, empty arrays and empty objects, so that absent and empty compare equal as
/// in upstream's semantic equality.
fn prune_empty(v: &mut Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune_empty(item);
            }
            items.is_empty()
        }
        Value::Object(map) => {
            map.retain(|_, child| !prune_empty(child));
            map.is_empty()
        }
        _ => false,
    }
}

/// Upstream `EqualIgnoreHash`: templates equal once the `pod-template-hash` label is removed
/// (absent and empty lists and maps are equal).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash_label(a) == without_hash_label(b)
}

fn annotation<'a>(annotations: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref().and_then(|a| a.get(key)).map(String::as_str)
}

/// Upstream `Revision`: the revision annotation as a number; absent is 0, unparsable an error.
pub fn revision(rs: &ReplicaSet) -> Result<i64, std::num::ParseIntError> {
    annotation(&rs.metadata.annotations, REVISION_ANNOTATION).map_or(Ok(0), str::parse)
}

/// Upstream `MaxRevision`: the highest parsable revision (0 when none).
pub fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().filter_map(|rs| revision(rs).ok()).fold(0, i64::max)
}

/// Upstream `LastRevision`: the second highest revision (the one before the current).
pub fn last_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    let (mut max, mut second) = (0, 0);
    for v in rss.into_iter().filter_map(|rs| revision(rs).ok()) {
        if v >= max {
            second = max;
            max = v;
        } else if v > second {
            second = v;
        }
    }
    second
}

/// Upstream `SetReplicasAnnotations`: sets desired- and max-replicas; whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut updated = false;
    for (key, value) in [(DESIRED_REPLICAS_ANNOTATION, desired), (MAX_REPLICAS_ANNOTATION, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_owned(), value);
            updated = true;
        }
    }
    updated
}

/// Upstream `ReplicasAnnotationsNeedUpdate`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata.annotations, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata.annotations, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

fn copy_deployment_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy_annotation(k) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Upstream `SetNewReplicaSetAnnotations`: copies the Deployment's annotations (except the
/// skipped ones), raises the revision to `new_revision` when lower (recording the previous
/// one in `revision-history`, at most [`MAX_REVISION_HISTORY_CHARS`] long), and for a
/// ReplicaSet about to be created (`exists == false`) sets desired- and max-replicas.
/// Returns whether the annotations changed.
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    desired: i32,
    max_replicas: i32,
) -> bool {
    let mut changed = copy_deployment_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = annotations.get(REVISION_ANNOTATION).cloned();
    let old_value = old.clone().unwrap_or_default();
    let old_int = match old_value.parse::<i64>() {
        Ok(v) => v,
        Err(_) if old_value.is_empty() => 0,
        Err(_) => return false,
    };
    if old_int < new_revision {
        annotations.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if old.is_some() {
            let history = annotations.get(REVISION_HISTORY_ANNOTATION).cloned().unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY_ANNOTATION.into(), old_value);
            } else {
                let parts: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old_value.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < parts.len() {
                    total -= parts[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    let mut kept: Vec<&str> = parts[start..].to_vec();
                    kept.push(&old_value);
                    annotations.insert(REVISION_HISTORY_ANNOTATION.into(), kept.join(","));
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, desired, max_replicas) {
        changed = true;
    }
    changed
}

/// Upstream `SetDeploymentRevision`: whether the Deployment's revision annotation changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION_ANNOTATION.into(), revision.into());
    true
}

/// Upstream `SetDeploymentAnnotationsTo` (rollback): keeps the Deployment's skipped
/// annotations and takes every other annotation from the ReplicaSet rolled back to.
pub fn set_deployment_annotations_to(d: &mut Deployment, rs: &ReplicaSet) {
    let mut annotations: BTreeMap<String, String> = d
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| skip_copy_annotation(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in rs.metadata.annotations.iter().flatten() {
        if !skip_copy_annotation(k) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    d.metadata.annotations = Some(annotations);
}

/// Upstream `SetFromReplicaSetTemplate`: the Deployment's template becomes the ReplicaSet's,
/// without the `pod-template-hash` label.
pub fn set_from_replica_set_template(d: &mut Deployment, template: &PodTemplateSpec) {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    if let Some(spec) = d.spec.as_mut() {
        spec.template = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs_with(annotations: &[(&str, &str)]) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                annotations: Some(annotations.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn template(labels: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
                ..Default::default()
            }),
            spec: None,
        }
    }

    #[test]
    fn safe_encoding_and_fnv() {
        // FNV-1a reference values.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
        // Digits map to fixed letters: '0' is byte 48, 48 % 27 = 21 → '4'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hash_is_stable_and_sensitive() {
        let t1 = template(&[("app", "web")]);
        let h = compute_hash(&t1, None);
        assert_eq!(h, compute_hash(&t1.clone(), None));
        assert!(h.len() <= 10 && h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{h}");
        assert_ne!(h, compute_hash(&template(&[("app", "api")]), None));
        assert_ne!(h, compute_hash(&t1, Some(1)));
        assert_ne!(compute_hash(&t1, Some(0)), compute_hash(&t1, Some(1)));
        // Key order of maps does not matter.
        let mut canon = String::new();
        write_canonical(&serde_json::json!({"b": 1, "a": [true, null, {"d": "x", "c": 2}]}), &mut canon);
        assert_eq!(canon, r#"{"a":[true,null,{"c":2,"d":"x"}],"b":1}"#);
    }

    #[test]
    fn equality_ignores_hash_label_and_empty_values() {
        let a = template(&[("app", "web")]);
        let b = template(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "abc")]);
        assert!(equal_ignore_hash(&a, &b));
        assert!(!equal_ignore_hash(&a, &template(&[("app", "api")])));
        let mut empty_annotations = a.clone();
        empty_annotations.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
        assert!(equal_ignore_hash(&a, &empty_annotations));
    }

    #[test]
    fn revisions() {
        let rss = [
            rs_with(&[(REVISION_ANNOTATION, "3")]),
            rs_with(&[(REVISION_ANNOTATION, "junk")]),
            rs_with(&[]),
            rs_with(&[(REVISION_ANNOTATION, "7")]),
            rs_with(&[(REVISION_ANNOTATION, "5")]),
        ];
        assert_eq!(max_revision(&rss), 7);
        assert_eq!(last_revision(&rss), 5);
        assert_eq!(revision(&rss[2]), Ok(0));
        assert!(revision(&rss[1]).is_err());
        assert_eq!(last_revision(&rss[..1]), 0);
    }

    #[test]
    fn new_replica_set_annotations() {
        let mut d = Deployment::default();
        d.metadata.annotations = Some(
            [
                ("team".to_string(), "a".to_string()),
                (LAST_APPLIED_ANNOTATION.to_string(), "{}".to_string()),
                (REVISION_ANNOTATION.to_string(), "99".to_string()),
            ]
            .into(),
        );
        let mut rs = ReplicaSet::default();
        assert!(set_new_replica_set_annotations(&d, &mut rs, 4, false, 10, 13));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a.get("team").map(String::as_str), Some("a"));
        assert_eq!(a.get(LAST_APPLIED_ANNOTATION), None);
        assert_eq!(a.get(REVISION_ANNOTATION).map(String::as_str), Some("4"));
        assert_eq!(a.get(REVISION_HISTORY_ANNOTATION), None, "no history for a brand-new revision");
        assert_eq!(a.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str), Some("10"));
        assert_eq!(a.get(MAX_REPLICAS_ANNOTATION).map(String::as_str), Some("13"));
        // Nothing changes the second time.
        assert!(!set_new_replica_set_annotations(&d, &mut rs, 4, true, 10, 13));
        // A lower revision never replaces a higher one.
        assert!(!set_new_replica_set_annotations(&d, &mut rs, 2, true, 10, 13));
        // Becoming new again (rollback): revision bumped, history appended.
        assert!(set_new_replica_set_annotations(&d, &mut rs, 6, true, 10, 13));
        assert!(set_new_replica_set_annotations(&d, &mut rs, 9, true, 10, 13));
        let a = rs.metadata.annotations.clone().unwrap();
        assert_eq!(a.get(REVISION_ANNOTATION).map(String::as_str), Some("9"));
        assert_eq!(a.get(REVISION_HISTORY_ANNOTATION).map(String::as_str), Some("4,6"));
        // Unparsable old revision: left alone.
        let mut junk = rs_with(&[(REVISION_ANNOTATION, "x")]);
        assert!(!set_new_replica_set_annotations(&d, &mut junk, 5, true, 1, 1));
    }

    #[test]
    fn revision_history_is_bounded() {
        let long: Vec<String> = (1..=600).map(|i| i.to_string()).collect();
        let mut rs = rs_with(&[(REVISION_ANNOTATION, "601"), (REVISION_HISTORY_ANNOTATION, &long.join(","))]);
        assert!(set_new_replica_set_annotations(&Deployment::default(), &mut rs, 700, true, 1, 1));
        let history = rs.metadata.annotations.unwrap().remove(REVISION_HISTORY_ANNOTATION).unwrap();
        assert!(history.len() <= MAX_REVISION_HISTORY_CHARS);
        assert!(history.ends_with(",600,601"));
        assert!(!history.starts_with("1,"), "oldest entries dropped first");
    }

    #[test]
    fn deployment_annotations_on_rollback() {
        let mut d = Deployment::default();
        d.metadata.annotations = Some(
            [
                ("change-cause".to_string(), "edit".to_string()),
                (REVISION_ANNOTATION.to_string(), "2".to_string()),
                (LAST_APPLIED_ANNOTATION.to_string(), "{}".to_string()),
            ]
            .into(),
        );
        let rs = rs_with(&[("change-cause", "create"), (REVISION_ANNOTATION, "1"), ("other", "x")]);
        set_deployment_annotations_to(&mut d, &rs);
        let a = d.metadata.annotations.clone().unwrap();
        assert_eq!(a.get("change-cause").map(String::as_str), Some("create"));
        assert_eq!(a.get("other").map(String::as_str), Some("x"));
        assert_eq!(
            a.get(REVISION_ANNOTATION).map(String::as_str),
            Some("2"),
            "skipped keys are kept from the deployment"
        );
        assert!(a.contains_key(LAST_APPLIED_ANNOTATION));
        assert!(set_deployment_revision(&mut d, "3"));
        assert!(!set_deployment_revision(&mut d, "3"));
    }
}
