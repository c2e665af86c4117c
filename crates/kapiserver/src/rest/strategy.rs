//! Per-kind lifecycle rules (upstream's registry strategies): what create resets, what an
//! update of the main resource or of `status` may change, and when `generation` moves.

use serde_json::{Map, Value, json};

use crate::meta;
use crate::resources::ResourceInfo;

/// Kinds whose `generation` tracks spec changes (everything with a status subresource
/// except pods, plus custom resources).
pub(super) fn tracks_generation(res: &ResourceInfo, custom: bool) -> bool {
    custom || (res.has_subresource("status") && res.kind != "Pod")
}

/// Resets what a client may not set on create.
pub(super) fn prepare_create(res: &ResourceInfo, obj: &mut Value, custom: bool) {
    for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"] {
        meta::remove(obj, field);
    }
    meta::set(obj, "uid", Value::String(meta::new_uid()));
    meta::set(obj, "creationTimestamp", Value::String(meta::now_rfc3339()));
    if tracks_generation(res, custom) {
        meta::set(obj, "generation", json!(1));
    } else {
        meta::remove(obj, "generation");
    }
    let Some(map) = obj.as_object_mut() else { return };
    match (res.group.as_str(), res.kind.as_str()) {
        ("", "Pod") => {
            map.insert("status".into(), json!({"phase": "Pending"}));
        }
        ("", "Namespace") => {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        ("", "PersistentVolume") | ("", "PersistentVolumeClaim") => {
            map.insert("status".into(), json!({"phase": "Pending"}));
        }
        // Nodes register with their status (kubelet, KWOK-style fake nodes).
        ("", "Node") => {}
        _ if res.has_subresource("status") => {
            map.remove("status");
        }
        _ => {}
    }
}

/// Carries over what an update of the main resource may not change and bumps the
/// generation when the spec changed.
pub(super) fn prepare_update(res: &ResourceInfo, new: &mut Value, old: &Value, custom: bool) {
    keep_server_metadata(new, old);
    if res.has_subresource("status") {
        if let Some(map) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => map.insert("status".into(), s.clone()),
                None => map.remove("status"),
            };
        }
    }
    let old_gen = old.pointer("/metadata/generation").and_then(Value::as_i64);
    if tracks_generation(res, custom) {
        let mut generation = old_gen.unwrap_or(1);
        let annotations_count = res.kind == "Deployment";
        if spec_changed(new, old, annotations_count) {
            generation += 1;
        }
        meta::set(new, "generation", json!(generation));
    } else {
        match old_gen {
            Some(g) => meta::set(new, "generation", json!(g)),
            None => meta::remove(new, "generation"),
        }
    }
}

/// An update through `/status`: only the status (and, as upstream allows, nothing of the
/// spec) changes; metadata other than labels/annotations/finalizers/ownerReferences stays.
pub(super) fn prepare_status_update(new: &mut Value, old: &Value) {
    let status = new.get("status").cloned();
    let mut merged = old.clone();
    if let (Some(m), Some(nm)) = (merged.get_mut("metadata").and_then(Value::as_object_mut), new.get("metadata")) {
        for f in ["labels", "annotations", "finalizers", "ownerReferences", "resourceVersion", "managedFields"] {
            match nm.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
    }
    if let Some(map) = merged.as_object_mut() {
        match status {
            Some(s) => map.insert("status".into(), s),
            None => map.remove("status"),
        };
    }
    *new = merged;
}

/// Server-owned metadata always comes from the stored object.
fn keep_server_metadata(new: &mut Value, old: &Value) {
    for f in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace"] {
        match old.pointer(&format!("/metadata/{f}")) {
            Some(v) => meta::set(new, f, v.clone()),
            None => meta::remove(new, f),
        }
    }
}

fn without(obj: &Value, keys: &[&str]) -> Map<String, Value> {
    let mut m = obj.as_object().cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    m
}

/// Whether anything outside metadata and status changed (annotations too, if asked).
fn spec_changed(new: &Value, old: &Value, annotations_count: bool) -> bool {
    let skip = ["metadata", "status", "apiVersion", "kind"];
    if without(new, &skip) != without(old, &skip) {
        return true;
    }
    annotations_count && new.pointer("/metadata/annotations") != old.pointer("/metadata/annotations")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    fn res(plural: &str) -> ResourceInfo {
        builtin().into_iter().find(|r| r.plural == plural).unwrap()
    }

    #[test]
    fn create_sets_server_fields_and_resets_status() {
        let mut d = json!({"metadata": {"name": "d", "uid": "fake"}, "spec": {}, "status": {"replicas": 9}});
        prepare_create(&res("deployments"), &mut d, false);
        assert_ne!(d["metadata"]["uid"], "fake");
        assert_eq!(d["metadata"]["generation"], 1);
        assert!(d.get("status").is_none());
        let mut p = json!({"metadata": {"name": "p"}, "spec": {}, "status": {"phase": "Running"}});
        prepare_create(&res("pods"), &mut p, false);
        assert_eq!(p["status"]["phase"], "Pending");
        assert!(p["metadata"].get("generation").is_none());
        let mut cm = json!({"metadata": {"name": "c", "generation": 5}, "data": {}});
        prepare_create(&res("configmaps"), &mut cm, false);
        assert!(cm["metadata"].get("generation").is_none());
    }

    #[test]
    fn generation_moves_on_spec_changes_only() {
        let r = res("deployments");
        let old = json!({"metadata": {"name": "d", "uid": "u", "generation": 3}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut same = json!({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 1}, "status": {}});
        prepare_update(&r, &mut same, &old, false);
        assert_eq!(same["metadata"]["generation"], 3);
        assert_eq!(same["status"]["replicas"], 1, "status kept from the stored object");
        assert_eq!(same["metadata"]["uid"], "u");
        let mut changed = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2}});
        prepare_update(&r, &mut changed, &old, false);
        assert_eq!(changed["metadata"]["generation"], 4);
        let mut annotated = json!({"metadata": {"name": "d", "annotations": {"x": "y"}}, "spec": {"replicas": 1}});
        prepare_update(&r, &mut annotated, &old, false);
        assert_eq!(annotated["metadata"]["generation"], 4);
    }

    #[test]
    fn status_updates_keep_the_spec() {
        let old = json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 1}});
        let mut new =
            json!({"metadata": {"name": "d", "generation": 9}, "spec": {"replicas": 5}, "status": {"replicas": 1}});
        prepare_status_update(&mut new, &old);
        assert_eq!(new["spec"]["replicas"], 1);
        assert_eq!(new["status"]["replicas"], 1);
        assert_eq!(new["metadata"]["generation"], 2);
    }
}
