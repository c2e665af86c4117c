//! Scenario tests: kubectl-like sequences of applies and updates.

use serde_json::{Value, json};

use super::*;
use crate::patch::{FieldMeta, PatchSchema, Strategy};

/// Patch tags of a Deployment, as the real built-in table has them.
pub(super) struct DeploymentTags;

impl PatchSchema for DeploymentTags {
    fn lookup(&self, path: &[&str]) -> Option<FieldMeta<'_>> {
        let merge = |key| Some(FieldMeta { strategy: Strategy::Merge, retain_keys: false, merge_key: key });
        match path {
            ["metadata", "finalizers"] => merge(None),
            ["metadata", "ownerReferences"] => merge(Some("uid")),
            [.., "spec", "containers"] => merge(Some("name")),
            [.., "containers", "ports"] => merge(Some("containerPort")),
            [.., "containers", "env"] => merge(Some("name")),
            ["status", "conditions"] => merge(Some("type")),
            _ => None,
        }
    }
}

pub(super) fn schema() -> MergeKeySchema<'static> {
    MergeKeySchema::builtin(&DeploymentTags)
}

const T1: &str = "2025-01-01T00:00:01Z";
const T2: &str = "2025-01-01T00:00:02Z";
const T3: &str = "2025-01-01T00:00:03Z";

fn deployment(replicas: i64, labels: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn nginx(replicas: i64) -> Value {
    deployment(replicas, json!({"app": "nginx"}), json!([{"name": "nginx", "image": "nginx:1.25"}]))
}

fn apply_as(live: Option<&Value>, config: &Value, manager: &str, force: bool, now: &str) -> Result<Value, ApplyError> {
    apply(live, config, manager, "apps/v1", force, &schema(), now)
}

/// Stored objects carry a uid, which decides whether updates start tracking.
fn stored(mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!("6f1c2d1e-0000-4000-8000-000000000001");
    obj["metadata"]["resourceVersion"] = json!("1");
    obj
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"].as_array().cloned().unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"].as_array()?.iter().find(|e| e["manager"] == manager)
}

fn owned(obj: &Value, manager: &str) -> Vec<String> {
    entry(obj, manager).map(|e| FieldSet::from_value(&e["fieldsV1"]).unwrap().path_strings()).unwrap_or_default()
}

fn fields_json(obj: &Value, manager: &str) -> String {
    FieldSet::from_value(&entry(obj, manager).unwrap()["fieldsV1"]).unwrap().to_json_string()
}

#[test]
fn create_by_apply_records_the_applied_fields() {
    let obj = apply_as(None, &nginx(3), "kubectl", false, T1).unwrap();
    let mut expected = nginx(3);
    expected["metadata"]["managedFields"] = json!([{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": FieldSet::from_json_str(concat!(
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"#,
            r#""f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":"#,
            r#"{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
        )).unwrap().to_value(),
    }]);
    assert_eq!(obj, expected);
}

#[test]
fn scenario_a_conflict_with_an_updater_then_force() {
    let live = stored(apply_as(None, &nginx(3), "kubectl", false, T1).unwrap());
    // `kubectl scale` writes replicas with an ordinary update.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(Some(&live), &mut scaled, "kubectl-scale", "apps/v1", &schema(), T2);
    assert_eq!(owned(&scaled, "kubectl-scale"), [".spec.replicas"]);
    assert_eq!(entry(&scaled, "kubectl-scale").unwrap()["operation"], "Update");
    assert_eq!(entry(&scaled, "kubectl-scale").unwrap()["time"], T2);
    assert!(!owned(&scaled, "kubectl").contains(&".spec.replicas".to_owned()));

    let err = apply_as(Some(&scaled), &nginx(4), "kubectl", false, T3).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#
    );
    assert_eq!(err.status_code(), 409);
    let ApplyError::Conflicts(conflicts) = &err else { panic!("{err:?}") };
    assert_eq!(conflicts[0].cause_message(), r#"conflict with "kubectl-scale" using apps/v1"#);
    assert_eq!(conflicts[0].field, ".spec.replicas");
    // Re-applying the old value conflicts too: it would change the live value.
    assert!(matches!(apply_as(Some(&scaled), &nginx(3), "kubectl", false, T3), Err(ApplyError::Conflicts(_))));
    // Applying the live value shares the field instead.
    let shared = apply_as(Some(&scaled), &nginx(5), "kubectl", false, T3).unwrap();
    assert!(owned(&shared, "kubectl").contains(&".spec.replicas".to_owned()));
    assert_eq!(owned(&shared, "kubectl-scale"), [".spec.replicas"]);

    let forced = apply_as(Some(&scaled), &nginx(4), "kubectl", true, T3).unwrap();
    assert_eq!(forced["spec"]["replicas"], 4);
    assert!(entry(&forced, "kubectl-scale").is_none(), "the updater lost its only field");
    assert!(owned(&forced, "kubectl").contains(&".spec.replicas".to_owned()));
    assert_eq!(entry(&forced, "kubectl").unwrap()["time"], T3);
}

#[test]
fn scenario_b_unapplied_fields_are_removed_unless_someone_else_owns_them() {
    let with_tier = deployment(1, json!({"app": "nginx", "tier": "web"}), json!([{"name": "nginx", "image": "nginx"}]));
    let without = deployment(1, json!({"app": "nginx"}), json!([{"name": "nginx", "image": "nginx"}]));
    let live = stored(apply_as(None, &with_tier, "a", false, T1).unwrap());
    let pruned = apply_as(Some(&live), &without, "a", false, T2).unwrap();
    assert_eq!(pruned["metadata"]["labels"], json!({"app": "nginx"}));
    assert!(!owned(&pruned, "a").contains(&".metadata.labels.tier".to_owned()));

    // Another applier sets the same value: shared, so it survives a's removal.
    let tier_only = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "labels": {"tier": "web"}}});
    let shared = stored(apply_as(Some(&live), &tier_only, "b", false, T2).unwrap());
    assert!(owned(&shared, "a").contains(&".metadata.labels.tier".to_owned()));
    assert_eq!(owned(&shared, "b"), [".metadata.labels.tier"]);
    let kept = apply_as(Some(&shared), &without, "a", false, T3).unwrap();
    assert_eq!(kept["metadata"]["labels"], json!({"app": "nginx", "tier": "web"}));
    assert_eq!(owned(&kept, "b"), [".metadata.labels.tier"]);

    // An updater that owns it keeps it as well.
    let mut edited = live.clone();
    edited["metadata"]["labels"]["tier"] = json!("db");
    record_update(Some(&live), &mut edited, "kubectl-edit", "apps/v1", &schema(), T2);
    let kept = apply_as(Some(&edited), &without, "a", false, T3).unwrap();
    assert_eq!(kept["metadata"]["labels"]["tier"], "db");

    // Removing the last label removes the map.
    let bare = deployment(1, json!({}), json!([{"name": "nginx", "image": "nginx"}]));
    let mut bare = bare.clone();
    bare["metadata"].as_object_mut().unwrap().remove("labels");
    let emptied = apply_as(Some(&live), &bare, "a", false, T2).unwrap();
    assert!(emptied["metadata"].get("labels").is_none(), "{emptied}");
}

#[test]
fn scenario_c_containers_merge_by_name() {
    let c1 = deployment(1, json!({"app": "nginx"}), json!([{"name": "c1", "image": "one"}]));
    let live = stored(apply_as(None, &c1, "a", false, T1).unwrap());
    let c2 = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
        "spec": {"template": {"spec": {"containers": [{"name": "c2", "image": "two"}]}}}});
    let both = stored(apply_as(Some(&live), &c2, "b", false, T2).unwrap());
    let names: Vec<_> =
        both["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, [json!("c1"), json!("c2")]);
    assert_eq!(
        fields_json(&both, "b"),
        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"c2\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
    );
    // b changing a's container image conflicts with a.
    let steal = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"},
        "spec": {"template": {"spec": {"containers": [{"name": "c1", "image": "other"}, {"name": "c2", "image": "two"}]}}}});
    let err = apply_as(Some(&both), &steal, "b", false, T3).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "a": .spec.template.spec.containers[name="c1"].image"#
    );
    // a swaps c1 for c3: c1 goes, b's c2 stays.
    let c3 = deployment(1, json!({"app": "nginx"}), json!([{"name": "c3", "image": "three"}]));
    let swapped = apply_as(Some(&both), &c3, "a", false, T3).unwrap();
    let names: Vec<_> = swapped["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("c2"), json!("c3")]);
}

#[test]
fn scenario_d_same_value_is_shared_without_conflict() {
    let live = stored(apply_as(None, &nginx(2), "a", false, T1).unwrap());
    let replicas =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"}, "spec": {"replicas": 2}});
    let shared = stored(apply_as(Some(&live), &replicas, "b", false, T2).unwrap());
    assert_eq!(owned(&shared, "b"), [".spec.replicas"]);
    assert!(owned(&shared, "a").contains(&".spec.replicas".to_owned()));
    // Nothing changed, so b's entry has no time (upstream stamps changed objects only).
    assert!(entry(&shared, "b").unwrap().get("time").is_none());
    assert_eq!(entry(&shared, "a").unwrap()["time"], T1);

    let err = apply_as(Some(&shared), &nginx(3), "a", false, T3).unwrap_err();
    assert_eq!(err.to_string(), r#"Apply failed with 1 conflict: conflict with "b": .spec.replicas"#);
}

#[test]
fn scenario_e_finalizers_are_a_set() {
    let with = |f: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx", "finalizers": f}});
    let live = stored(apply_as(None, &with(json!(["x", "y"])), "a", false, T1).unwrap());
    assert_eq!(fields_json(&live, "a"), r#"{"f:metadata":{"f:finalizers":{"v:\"x\"":{},"v:\"y\"":{}}}}"#);
    let union = stored(apply_as(Some(&live), &with(json!(["z", "x"])), "b", false, T2).unwrap());
    assert_eq!(union["metadata"]["finalizers"], json!(["z", "x", "y"]));
    assert_eq!(owned(&union, "b"), [r#".metadata.finalizers[="x"]"#, r#".metadata.finalizers[="z"]"#]);
    let dropped = apply_as(Some(&union), &with(json!(["x"])), "a", false, T3).unwrap();
    assert_eq!(dropped["metadata"]["finalizers"], json!(["z", "x"]));
}

#[test]
fn scenario_f_atomic_lists_are_replaced_whole() {
    let with =
        |cmd: Value| deployment(1, json!({"app": "nginx"}), json!([{"name": "c", "image": "i", "command": cmd}]));
    let live = stored(apply_as(None, &with(json!(["sleep", "10"])), "a", false, T1).unwrap());
    assert!(owned(&live, "a").contains(&r#".spec.template.spec.containers[name="c"].command"#.to_owned()));
    let replaced = apply_as(Some(&live), &with(json!(["sleep"])), "a", false, T2).unwrap();
    assert_eq!(replaced["spec"]["template"]["spec"]["containers"][0]["command"], json!(["sleep"]));
    let err = apply_as(Some(&live), &with(json!(["true"])), "b", false, T2).unwrap_err();
    let ApplyError::Conflicts(conflicts) = err else { panic!() };
    assert_eq!(conflicts.len(), 1, "image and name are equal, the command is not");
    assert_eq!(conflicts[0].field, r#".spec.template.spec.containers[name="c"].command"#);
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let live = stored(apply_as(None, &nginx(2), "a", false, T1).unwrap());
    let mut edited = live.clone();
    edited["metadata"]["labels"]["app"] = json!("web");
    record_update(Some(&live), &mut edited, "kubectl-edit", "apps/v1", &schema(), T2);
    let config = deployment(7, json!({"app": "other"}), json!([{"name": "nginx", "image": "nginx:2"}]));
    let err = apply_as(Some(&edited), &config, "b", false, T3).unwrap_err();
    assert_eq!(
        err.to_string(),
        concat!(
            "Apply failed with 3 conflicts: conflicts with \"a\":\n",
            "- .spec.replicas\n",
            "- .spec.template.spec.containers[name=\"nginx\"].image\n",
            "conflicts with \"kubectl-edit\" using apps/v1:\n",
            "- .metadata.labels.app"
        )
    );
}

#[test]
fn update_records_changed_fields_with_dots_on_new_maps() {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", "labels": {"a": "b"}}, "data": {"k": "v"}});
    record_update(None, &mut cm, "kubectl-create", "v1", &schema(), T1);
    assert_eq!(
        entries(&cm),
        [
            json!({"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T1, "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}})
        ]
    );
    // A write that changes nothing keeps the entry and its time.
    let live = stored(cm.clone());
    let mut same = live.clone();
    record_update(Some(&live), &mut same, "kubectl-create", "v1", &schema(), T2);
    assert_eq!(entries(&same), entries(&cm));
    // Another manager changing data.k takes it; removing the label strips it from the creator.
    let mut edited = live.clone();
    edited["data"]["k"] = json!("w");
    edited["metadata"].as_object_mut().unwrap().remove("labels");
    record_update(Some(&live), &mut edited, "editor", "v1", &schema(), T2);
    assert_eq!(owned(&edited, "editor"), [".data.k"]);
    assert_eq!(owned(&edited, "kubectl-create"), [".data"]);
}

#[test]
fn update_handles_sent_managed_fields_like_upstream() {
    let mut created = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    record_update(None, &mut created, "creator", "v1", &schema(), T1);
    let live = stored(created);
    let original = entries(&live);

    assert_eq!(original.len(), 1);

    // Malformed managed fields in the request: the stored ones are used.
    let mut bad = live.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    bad["data"]["k"] = json!("w");
    record_update(Some(&live), &mut bad, "editor", "v1", &schema(), T2);
    assert_eq!(entries(&bad).len(), 2);
    assert_eq!(owned(&bad, "creator"), [".data"]);
    assert_eq!(entry(&bad, "creator").unwrap()["time"], T1);
    assert_eq!(owned(&bad, "editor"), [".data.k"]);

    // An empty list clears them; an object that has none is not tracked again by updates.
    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([]);
    record_update(Some(&live), &mut reset, "editor", "v1", &schema(), T2);
    assert!(reset["metadata"].get("managedFields").is_none());
    let mut again = reset.clone();
    again["data"]["k"] = json!("z");
    record_update(Some(&reset), &mut again, "editor", "v1", &schema(), T3);
    assert!(again["metadata"].get("managedFields").is_none());

    // Valid managed fields in the request replace the stored ones.
    let mut restored = live.clone();
    let replacement = json!([{"manager": "restorer", "operation": "Update", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}}]);
    restored["metadata"]["managedFields"] = replacement.clone();
    record_update(Some(&live), &mut restored, "editor", "v1", &schema(), T2);
    assert_eq!(entries(&restored), replacement.as_array().unwrap().clone());
}

#[test]
fn subresources_and_reset_fields() {
    let mut with_status = nginx(1);
    with_status["status"] = json!({"replicas": 0});
    let schema = schema();
    let main =
        FieldManager::new(&schema, "apps/v1").ignore_fields(FieldSet::from_paths(&[[PathElement::field("status")]]));
    let live = stored(main.apply(None, &with_status, "kubectl", false, T1).unwrap());
    assert!(owned(&live, "kubectl").iter().all(|p| !p.starts_with(".status")));

    let status = FieldManager::new(&schema, "apps/v1").subresource("status").ignore_fields(FieldSet::from_paths(&[
        vec![PathElement::field("spec")],
        vec![PathElement::field("metadata"), PathElement::field("labels")],
    ]));
    let mut updated = live.clone();
    updated["status"]["replicas"] = json!(1);
    updated["metadata"]["managedFields"] = json!([]); // ignored on subresources
    status.update(Some(&live), &mut updated, "deployment-controller", T2);
    let controller = entry(&updated, "deployment-controller").unwrap();
    assert_eq!(controller["subresource"], "status");
    assert_eq!(owned(&updated, "deployment-controller"), [".status.replicas"]);
    assert!(entry(&updated, "kubectl").is_some());
}

#[test]
fn first_apply_to_an_untracked_object_credits_before_first_apply() {
    let mut live = stored(nginx(1));
    live["spec"]["paused"] = json!(false);
    let applied = apply_as(Some(&live), &nginx(1), "a", false, T1).unwrap();
    let before = entry(&applied, "before-first-apply").unwrap();
    assert_eq!(before["operation"], "Update");
    assert_eq!(before["time"], T1);
    assert!(owned(&applied, "before-first-apply").contains(&".spec.paused".to_owned()));
    // Nothing changed, so the applier's entry has no time yet.
    assert!(entry(&applied, "a").unwrap().get("time").is_none());
}

#[test]
fn kubectl_takes_over_fields_from_client_side_apply() {
    let mut live = stored(nginx(3));
    let last = format!("{}\n", serde_json::to_string(&nginx(3)).unwrap());
    live["metadata"]["annotations"] = json!({LAST_APPLIED_ANNOTATION: last});
    let mut created = live.clone();
    record_update(None, &mut created, "kubectl-client-side-apply", "apps/v1", &schema(), T1);
    let live = stored(created);

    let mut config = nginx(4);
    config["metadata"]["annotations"] = json!({"note": "<x>"});
    let upgraded = apply_as(Some(&live), &config, "kubectl", false, T2).unwrap();
    assert_eq!(upgraded["spec"]["replicas"], 4);
    let annotation = upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION].as_str().unwrap();
    assert!(annotation.ends_with("}\n") && annotation.contains(r#""replicas":4"#), "{annotation}");
    assert!(annotation.contains(r#""note":"\u003cx\u003e""#), "Go escapes HTML in JSON: {annotation}");
    // Another manager name gets the conflict.
    assert!(matches!(apply_as(Some(&live), &config, "other", false, T2), Err(ApplyError::Conflicts(_))));
    // A value changed since the last client-side apply is a real conflict.
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(Some(&live), &mut scaled, "kubectl-scale", "apps/v1", &schema(), T2);
    let err = apply_as(Some(&scaled), &config, "kubectl", false, T3).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn rejects_bad_configurations() {
    let mut wrong_version = nginx(1);
    wrong_version["apiVersion"] = json!("apps/v1beta1");
    assert_eq!(
        apply_as(None, &wrong_version, "a", false, T1).unwrap_err(),
        ApplyError::Invalid("invalid object type: apps/v1beta1, Kind=Deployment".into())
    );
    let live = stored(apply_as(None, &nginx(1), "a", false, T1).unwrap());
    let mut wrong_kind = nginx(1);
    wrong_kind["kind"] = json!("ReplicaSet");
    assert!(matches!(apply_as(Some(&live), &wrong_kind, "a", false, T1), Err(ApplyError::Invalid(_))));
    let mut managed = nginx(1);
    managed["metadata"]["managedFields"] = json!([]);
    assert_eq!(apply_as(None, &managed, "a", false, T1).unwrap_err().to_string(), "metadata.managedFields must be nil");

    let dup = deployment(1, json!({}), json!([{"name": "c", "image": "a"}, {"name": "c", "image": "b"}]));
    let err = apply_as(None, &dup, "a", false, T1).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="c"]"#
    );
    assert_eq!(err.status_code(), 400);
    let two = deployment(
        1,
        json!({}),
        json!([{"name": "c", "env": [{"name": "A"}, {"name": "A"}], "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}]}, {"image": "x"}]),
    );
    assert_eq!(
        apply_as(None, &two, "a", false, T1).unwrap_err().to_string(),
        concat!(
            "failed to create typed patch object (default/nginx; apps/v1, Kind=Deployment): errors:\n",
            "  .spec.template.spec.containers[name=\"c\"].env: duplicate entries for key [name=\"A\"]\n",
            "  .spec.template.spec.containers[name=\"c\"].ports: duplicate entries for key [containerPort=80,protocol=\"TCP\"]\n",
            "  .spec.template.spec.containers: element 1: associative list with keys has an element that omits all key fields [\"name\"] (and doesn't have default values for any key fields)"
        )
    );
}

#[test]
fn key_defaults_and_atomic_maps_shape_the_field_set() {
    let config = deployment(1, json!({}), json!([{"name": "c", "ports": [{"containerPort": 80}]}]));
    let set = field_set(&config, &schema());
    assert!(set.has(&[
        PathElement::field("spec"),
        PathElement::field("template"),
        PathElement::field("spec"),
        PathElement::field("containers"),
        PathElement::key(vec![("name".into(), json!("c"))]),
        PathElement::field("ports"),
        PathElement::key(vec![("containerPort".into(), json!(80)), ("protocol".into(), json!("TCP"))]),
    ]));
    assert!(set.has(&[PathElement::field("spec"), PathElement::field("selector")]));
    assert!(set.has(&[PathElement::field("metadata"), PathElement::field("labels")]), "empty maps are leaves");
    assert!(!set.has(&[PathElement::field("metadata"), PathElement::field("name")]));
    assert!(!set.has(&[PathElement::field("apiVersion")]));
}

#[test]
fn update_entries_are_capped() {
    let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    record_update(None, &mut live, "creator", "v1", &schema(), "2025-01-01T00:00:00Z");
    let mut live = stored(live);
    for i in 0..12 {
        let mut next = live.clone();
        next["data"][format!("k{i}")] = json!("v");
        record_update(
            Some(&live),
            &mut next,
            &format!("m{i:02}"),
            "v1",
            &schema(),
            &format!("2025-01-01T00:01:{i:02}Z"),
        );
        live = next;
    }
    let list = entries(&live);
    assert_eq!(list.len(), 10);
    let ancient = entry(&live, "ancient-changes").unwrap();
    assert_eq!(ancient["operation"], "Update");
    assert_eq!(owned(&live, "ancient-changes"), [".data", ".data.k0", ".data.k1", ".data.k2"]);
}

#[test]
fn unreadable_objects_keep_their_managed_fields_on_update() {
    let mut live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    record_update(None, &mut live, "creator", "v1", &schema(), T1);
    let live = stored(live);
    // Finalizers are a set: an object element does not fit.
    let mut broken = live.clone();
    broken["metadata"]["finalizers"] = json!([{"not": "a string"}]);
    record_update(Some(&live), &mut broken, "editor", "v1", &schema(), T2);
    assert_eq!(entries(&broken), entries(&live));
    let err = apply(
        Some(&broken),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        "a",
        "v1",
        false,
        &schema(),
        T2,
    )
    .unwrap_err();
    assert_eq!(err.status_code(), 500);
    assert_eq!(
        err.to_string(),
        "failed to create typed live object (/c; /v1, Kind=ConfigMap): .metadata.finalizers: element 0: associative list without keys has an element that's a map type"
    );
}

#[test]
fn null_in_a_configuration_drops_the_field() {
    let live = stored(apply_as(None, &nginx(3), "a", false, T1).unwrap());
    let mut config = nginx(3);
    config["spec"]["replicas"] = Value::Null;
    config["metadata"]["labels"] = Value::Null;
    let applied = apply_as(Some(&live), &config, "a", false, T2).unwrap();
    assert!(applied["spec"].get("replicas").is_none());
    // A null map merges as an empty one and is owned whole; the label a no longer applies
    // is pruned, which empties the map.
    assert!(applied["metadata"].get("labels").is_none(), "{applied}");
    assert!(owned(&applied, "a").contains(&".metadata.labels".to_owned()));
    assert!(owned(&applied, "a").contains(&".spec.replicas".to_owned()));
}
