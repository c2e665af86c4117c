//! Strategic merge patches of built-in kinds.

use serde_json::{Value, json};

use super::{PatchError, smp_kind};

fn pod(containers: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a", "b"]},
        "spec": {"containers": containers, "nodeSelector": {"disk": "ssd"}},
    })
}

fn pod_patch(original: Value, patch: Value) -> Result<Value, PatchError> {
    smp_kind("", "Pod", original, patch)
}

#[test]
fn containers_merge_by_name_in_place() {
    let original = pod(json!([{"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}]));
    let patched = pod_patch(original, json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}})).unwrap();
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "app", "image": "app:2"}, {"name": "sidecar", "image": "proxy:1"}])
    );
    assert_eq!(patched["spec"]["nodeSelector"], json!({"disk": "ssd"}));
}

#[test]
fn new_containers_go_first_without_element_order() {
    // Upstream puts elements the live list lacks ahead of it unless $setElementOrder says
    // otherwise.
    let original = pod(json!([{"name": "a"}, {"name": "b"}]));
    let patched = pod_patch(original, json!({"spec": {"containers": [{"name": "c", "image": "c"}]}})).unwrap();
    assert_eq!(patched["spec"]["containers"], json!([{"name": "c", "image": "c"}, {"name": "a"}, {"name": "b"}]));
}

#[test]
fn env_merges_by_name_inside_a_container() {
    let original = pod(json!([{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]));
    let patch = json!({"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(
        patched["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
    );
}

#[test]
fn delete_directive_removes_a_list_element() {
    let original = pod(json!([{"name": "app"}, {"name": "sidecar"}]));
    let patch = json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}});
    assert_eq!(pod_patch(original, patch).unwrap()["spec"]["containers"], json!([{"name": "app"}]));
}

#[test]
fn replace_directive_in_a_list_replaces_the_list() {
    let original = pod(json!([{"name": "app", "image": "x"}, {"name": "sidecar"}]));
    let patch = json!({"spec": {"containers": [{"name": "only"}, {"$patch": "replace"}]}});
    assert_eq!(pod_patch(original, patch).unwrap()["spec"]["containers"], json!([{"name": "only"}]));
}

#[test]
fn replace_and_delete_directives_in_maps() {
    let original = pod(json!([{"name": "app"}]));
    let patch = json!({"spec": {"nodeSelector": {"$patch": "replace", "zone": "a"}}, "metadata": {"labels": {"$patch": "delete"}}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["spec"]["nodeSelector"], json!({"zone": "a"}));
    assert_eq!(patched["metadata"]["labels"], json!({}));
}

#[test]
fn null_deletes_fields() {
    let original = pod(json!([{"name": "app"}]));
    let patch = json!({"metadata": {"labels": {"tier": null, "missing": null}}, "spec": {"nodeSelector": null}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["metadata"]["labels"], json!({"app": "web"}));
    assert!(patched["spec"].get("nodeSelector").is_none());
}

#[test]
fn set_element_order_reorders_containers() {
    let original = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
        "containers": [{"name": "a", "image": "new"}],
    }});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["spec"]["containers"], json!([{"name": "c"}, {"name": "a", "image": "new"}, {"name": "b"}]));
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let original = pod(json!([{"name": "app"}]));
    let patched = pod_patch(original.clone(), json!({"metadata": {"finalizers": ["b", "c"]}})).unwrap();
    assert_eq!(patched["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["d"]}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["metadata"]["finalizers"], json!(["d", "b"]));
}

#[test]
fn untagged_lists_are_replaced() {
    let mut original = pod(json!([{"name": "app", "args": ["--a", "--b"]}]));
    original["spec"]["tolerations"] = json!([{"key": "k1", "operator": "Exists"}]);
    let patch = json!({"spec": {
        "tolerations": [{"key": "k2", "operator": "Exists"}],
        "containers": [{"name": "app", "args": ["--c"]}],
    }});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["spec"]["tolerations"], json!([{"key": "k2", "operator": "Exists"}]));
    assert_eq!(patched["spec"]["containers"][0]["args"], json!(["--c"]));
}

#[test]
fn retain_keys_switches_deployment_strategy() {
    let original = json!({
        "kind": "Deployment",
        "spec": {"replicas": 2, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
    });
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let patched = smp_kind("apps", "Deployment", original.clone(), patch).unwrap();
    assert_eq!(patched["spec"], json!({"replicas": 2, "strategy": {"type": "Recreate"}}));
    // Without the directive the stale rollingUpdate block stays, as upstream.
    let patched =
        smp_kind("apps", "Deployment", original, json!({"spec": {"strategy": {"type": "Recreate"}}})).unwrap();
    assert_eq!(patched["spec"]["strategy"]["rollingUpdate"], json!({"maxSurge": 1, "maxUnavailable": 0}));
}

#[test]
fn retain_keys_on_volumes() {
    let original =
        json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]}});
    let patch = json!({"spec": {"volumes": [{"name": "data", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/d"}}]}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(
        patched["spec"]["volumes"],
        json!([{"name": "data", "hostPath": {"path": "/d"}}, {"name": "cfg", "configMap": {"name": "c"}}])
    );
}

#[test]
fn retain_keys_must_list_every_patched_key() {
    let original = json!({"spec": {"strategy": {"type": "RollingUpdate"}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}});
    let err = smp_kind("apps", "Deployment", original, patch).unwrap_err();
    assert_eq!(err, PatchError::Invalid("invalid patch format of retainKeys".to_owned()));
    assert_eq!(err.http_status(), 400);
}

#[test]
fn templates_of_workloads_merge_containers() {
    let template = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
    let patch_template = json!({"spec": {"containers": [{"name": "b", "image": "2"}]}});
    let merged = json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]);
    for (group, kind) in
        [("apps", "Deployment"), ("apps", "StatefulSet"), ("batch", "Job"), ("", "ReplicationController")]
    {
        let original = json!({"spec": {"template": template}});
        let patched = smp_kind(group, kind, original, json!({"spec": {"template": patch_template}})).unwrap();
        assert_eq!(patched["spec"]["template"]["spec"]["containers"], merged, "{kind}");
    }
    let original = json!({"spec": {"jobTemplate": {"spec": {"template": template}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": patch_template}}}});
    let patched = smp_kind("batch", "CronJob", original, patch).unwrap();
    assert_eq!(patched["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"], merged);
}

#[test]
fn service_ports_merge_by_port_and_conditions_by_type() {
    let original = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}});
    let patched =
        smp_kind("", "Service", original, json!({"spec": {"ports": [{"port": 443, "targetPort": 8443}]}})).unwrap();
    assert_eq!(
        patched["spec"]["ports"],
        json!([{"port": 80, "name": "http"}, {"port": 443, "name": "https", "targetPort": 8443}])
    );
    let original =
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Other", "status": "True"}]}});
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let patched = smp_kind("", "Node", original, patch).unwrap();
    assert_eq!(
        patched["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "Other", "status": "True"}])
    );
}

#[test]
fn custom_resources_replace_lists() {
    let original = json!({"spec": {"items": [{"name": "a"}]}, "metadata": {"finalizers": ["x"]}});
    let patch = json!({"spec": {"items": [{"name": "b"}]}, "metadata": {"finalizers": ["y"]}});
    let patched = smp_kind("example.com", "Widget", original, patch).unwrap();
    assert_eq!(patched["spec"]["items"], json!([{"name": "b"}]));
    // ObjectMeta keeps its tags on every kind; the new finalizer leads, as upstream.
    assert_eq!(patched["metadata"]["finalizers"], json!(["y", "x"]));
}

#[test]
fn new_fields_drop_nulls_and_deleted_maps() {
    let original = pod(json!([{"name": "app"}]));
    let patch =
        json!({"spec": {"affinity": {"nodeAffinity": null, "podAffinity": {"x": 1}}, "gone": {"$patch": "delete"}}});
    let patched = pod_patch(original, patch).unwrap();
    assert_eq!(patched["spec"]["affinity"], json!({"podAffinity": {"x": 1}}));
    assert!(patched["spec"].get("gone").is_none());
}

#[test]
fn null_and_non_object_bodies() {
    let original = pod(json!([{"name": "app"}]));
    assert_eq!(pod_patch(original.clone(), Value::Null).unwrap(), original);
    let err = pod_patch(original, json!([1])).unwrap_err();
    assert_eq!(err.http_status(), 400);
    assert!(err.to_string().contains("cannot unmarshal array"), "{err}");
}

#[test]
fn malformed_list_patches_fail() {
    let original = pod(json!([{"name": "app"}]));
    let cases = [
        (json!({"spec": {"containers": [{"image": "x"}]}}), "does not contain declared merge key: name", 500),
        (json!({"spec": {"containers": [{"name": "app", "$patch": "bogus"}]}}), "unknown patch type: bogus", 500),
        (json!({"spec": {"containers": [{"$patch": "merge"}]}}), "merging lists cannot yet be specified", 500),
        (json!({"spec": {"containers": [{"$patch": "delete"}]}}), "does not contain declared merge key", 500),
        (json!({"spec": {"containers": ["app"]}}), "list element types are not identical", 500),
        (json!({"spec": {"containers": [["app"]]}}), "list element types are not identical", 500),
        (json!({"metadata": {"finalizers": [["x"]]}}), "list element types are not identical", 500),
        (json!({"spec": {"$setElementOrderX/containers": []}}), "invalid patch format of setElementOrder list", 400),
        (json!({"spec": {"$setElementOrder/containers": {}}}), "expected a []interface {}", 500),
        (
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            "invalid patch format of primitive list",
            400,
        ),
        (json!({"metadata": {"$retainKeys": "name"}}), "invalid patch format of retainKeys", 400),
        (json!({"metadata": {"labels": {"$patch": "merge"}}}), "unknown patch type: merge", 500),
    ];
    for (patch, message, status) in cases {
        let err = pod_patch(original.clone(), patch.clone()).unwrap_err();
        assert!(err.to_string().contains(message), "{patch}: {err}");
        assert_eq!(err.http_status(), status, "{patch}: {err}");
    }
}

#[test]
fn lists_of_lists_are_unprocessable() {
    let original = json!({"metadata": {"finalizers": [["a"]]}});
    let err = pod_patch(original, json!({"metadata": {"finalizers": [["b"]]}})).unwrap_err();
    assert_eq!(err, PatchError::Unprocessable("lists of lists are not supported".to_owned()));
    assert_eq!(err.http_status(), 422);
}

#[test]
fn failed_patch_leaves_original_alone() {
    let original = pod(json!([{"name": "app"}]));
    let before = original.clone();
    assert!(pod_patch(original.clone(), json!({"spec": {"containers": [{"image": "x"}]}})).is_err());
    assert_eq!(original, before);
}

#[test]
fn replace_directive_on_an_absent_map_adds_nothing() {
    // Upstream drops any new value that carries `$patch`, even `replace`.
    let original = json!({"spec": {}});
    let patched = pod_patch(original, json!({"spec": {"nodeSelector": {"$patch": "replace", "zone": "a"}}})).unwrap();
    assert_eq!(patched, json!({"spec": {}}));
}

#[test]
fn owner_references_merge_by_uid() {
    let original = json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}});
    let patch =
        json!({"metadata": {"ownerReferences": [{"uid": "2", "controller": true}, {"uid": "1", "$patch": "delete"}]}});
    let patched = smp_kind("", "ConfigMap", original, patch).unwrap();
    assert_eq!(patched["metadata"]["ownerReferences"], json!([{"uid": "2", "name": "b", "controller": true}]));
}
