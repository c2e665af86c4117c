mod apps;
mod core;
mod pod;

use serde_json::{Value, json};

use super::super::defaults::apply_defaults;
use super::{FieldError, FieldErrorType, go_value, invalid_message, invalid_status, validate_create, validate_update};

pub(super) const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
pub(super) const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

pub(super) fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
    apply_defaults(group, kind, &mut obj);
    obj
}

pub(super) fn errors(group: &str, kind: &str, obj: Value) -> Vec<String> {
    validate_create(group, kind, &defaulted(group, kind, obj)).iter().map(FieldError::full_message).collect()
}

pub(super) fn has(errs: &[String], needle: &str) -> bool {
    errs.iter().any(|e| e.contains(needle))
}

pub(super) fn assert_has(errs: &[String], needle: &str) {
    assert!(has(errs, needle), "missing {needle:?} in {errs:#?}");
}

pub(super) fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default"})
}

pub(super) fn pod_with(spec: Value) -> Value {
    json!({"metadata": meta("p"), "spec": spec})
}

pub(super) fn container(extra: Value) -> Value {
    let mut c = json!({"name": "c", "image": "nginx"});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

pub(super) fn pod_errors(extra: Value) -> Vec<String> {
    errors("", "Pod", pod_with(json!({"containers": [container(extra)]})))
}

pub(super) fn template(labels: Value, restart: &str) -> Value {
    json!({"metadata": {"labels": labels}, "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "x"}]}})
}

// ---- error formatting ----

#[test]
fn cause_types_and_bodies() {
    let cases = [
        (FieldError::required("a", ""), "FieldValueRequired", "Required value"),
        (FieldError::invalid("a", "x", "bad"), "FieldValueInvalid", "Invalid value: \"x\": bad"),
        (FieldError::duplicate("a", 3), "FieldValueDuplicate", "Duplicate value: 3"),
        (
            FieldError::not_supported("a", "X", &["A", "B"]),
            "FieldValueNotSupported",
            "Unsupported value: \"X\": supported values: \"A\", \"B\"",
        ),
        (FieldError::forbidden("a", "no"), "FieldValueForbidden", "Forbidden: no"),
        (FieldError::too_long("a", 10), "FieldValueTooLong", "Too long: may not be more than 10 bytes"),
        (FieldError::too_many("a", 5, 4), "FieldValueTooMany", "Too many: 5: must have at most 4 items"),
        (FieldError::not_found("a", "v"), "FieldValueNotFound", "Not found: \"v\""),
    ];
    for (err, cause, body) in cases {
        assert_eq!(err.cause_type(), cause);
        assert_eq!(err.body(), body);
    }
    assert_eq!(FieldErrorType::Required.label(), "Required value");
    assert_eq!(FieldError::required("x", "why").to_string(), "x: Required value: why");
}

#[test]
fn go_value_formats_like_upstream() {
    assert_eq!(go_value(&json!({"b": "2", "a": "1"})), "map[string]string{\"a\":\"1\", \"b\":\"2\"}");
    assert_eq!(go_value(&json!(["10.0.0.1", "fd00::1"])), "[]string{\"10.0.0.1\", \"fd00::1\"}");
    assert_eq!(go_value(&json!("a\"b\n")), "\"a\\\"b\\n\"");
    assert_eq!(go_value(&json!(-1)), "-1");
    assert_eq!(go_value(&Value::Null), "null");
    assert_eq!(go_value(&json!([])), "[]string(nil)");
    assert_eq!(go_value(&json!({"a": 1})), "{\"a\":1}");
}

#[test]
fn invalid_message_matches_upstream() {
    let errs = vec![
        FieldError::required("spec.containers[0].image", ""),
        FieldError::invalid("metadata.name", "A_B", "x"),
        FieldError::required("spec.containers[0].image", ""),
    ];
    assert_eq!(
        invalid_message("", "Pod", "x", &errs),
        "Pod \"x\" is invalid: [spec.containers[0].image: Required value, metadata.name: Invalid value: \"A_B\": x]"
    );
    assert_eq!(
        invalid_message("apps", "Deployment", "d", &errs[..1]),
        "Deployment.apps \"d\" is invalid: spec.containers[0].image: Required value"
    );
    assert_eq!(invalid_message("", "Pod", "x", &[]), "Pod \"x\" is invalid");
    let status = invalid_status("apps", "Deployment", "d", &errs[..1]);
    assert_eq!(status["code"], 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["group"], "apps");
    assert_eq!(
        status["details"]["causes"][0],
        json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"})
    );
    assert!(invalid_status("", "Pod", "p", &errs)["details"].get("group").is_none());
}

// ---- metadata ----

#[test]
fn name_rules_per_kind() {
    let cm = errors("", "ConfigMap", json!({"metadata": meta("A_B")}));
    assert_eq!(cm, vec![format!("metadata.name: Invalid value: \"A_B\": {SUBDOMAIN_MSG}")]);
    let ns = errors("", "Namespace", json!({"metadata": {"name": "a.b"}}));
    assert_eq!(ns, vec!["metadata.name: Invalid value: \"a.b\": must not contain dots".to_string()]);
    let ns = errors("", "Namespace", json!({"metadata": {"name": "A"}}));
    assert_eq!(ns, vec![format!("metadata.name: Invalid value: \"A\": {LABEL_MSG}")]);
    let svc = errors("", "Service", json!({"metadata": meta("1abc"), "spec": {"ports": [{"port": 80}]}}));
    assert_has(
        &svc,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character",
    );
    let role = errors("rbac.authorization.k8s.io", "Role", json!({"metadata": meta("system:a/b")}));
    assert_eq!(role, vec!["metadata.name: Invalid value: \"system:a/b\": may not contain '/'".to_string()]);
    assert!(errors("rbac.authorization.k8s.io", "ClusterRole", json!({"metadata": {"name": "system:x"}})).is_empty());
    let long = "a".repeat(254);
    assert_has(&errors("", "ConfigMap", json!({"metadata": meta(&long)})), "must be no more than 253 characters");
    let sts = errors("apps", "StatefulSet", json!({"metadata": meta("a.b")}));
    assert_has(&sts, "metadata.name: Invalid value: \"a.b\": must not contain dots");
}

#[test]
fn name_required_and_generate_name() {
    let errs = errors("", "ConfigMap", json!({"metadata": {"namespace": "d"}}));
    assert_eq!(errs, vec!["metadata.name: Required value: name or generateName is required".to_string()]);
    let ok = errors("", "ConfigMap", json!({"metadata": {"name": "web-x1", "generateName": "web-", "namespace": "d"}}));
    assert!(ok.is_empty(), "{ok:?}");
    let unicode = errors("", "ConfigMap", json!({"metadata": {"name": "x", "generateName": "é-", "namespace": "d"}}));
    assert_has(&unicode, "metadata.generateName: Invalid value: \"é-\"");
    let bad = errors("", "ConfigMap", json!({"metadata": {"name": "x", "generateName": "Web-", "namespace": "d"}}));
    assert_has(&bad, "metadata.generateName: Invalid value: \"Web-\"");
}

#[test]
fn namespace_required_or_forbidden() {
    assert_eq!(
        errors("", "ConfigMap", json!({"metadata": {"name": "c"}})),
        vec!["metadata.namespace: Required value".to_string()]
    );
    let node = errors("", "Node", json!({"metadata": {"name": "n", "namespace": "d"}}));
    assert_eq!(node, vec!["metadata.namespace: Forbidden: not allowed on this type".to_string()]);
    let bad_ns = errors("", "ConfigMap", json!({"metadata": {"name": "c", "namespace": "Bad"}}));
    assert_has(&bad_ns, "metadata.namespace: Invalid value: \"Bad\"");
    assert!(errors("example.com", "Widget", json!({"metadata": {"name": "w"}})).is_empty());
}

#[test]
fn labels_and_annotations() {
    let errs = errors(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "d",
        "labels": {"bad key": "v", "ok": "-bad-", "long": "a".repeat(64)}}}),
    );
    assert_has(&errs, "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters");
    assert_has(&errs, "metadata.labels: Invalid value: \"-bad-\": a valid label must be an empty string or consist of");
    assert_has(&errs, "must be no more than 63 characters");
    let prefix =
        errors("", "ConfigMap", json!({"metadata": {"name": "c", "namespace": "d", "labels": {"Example.com/x": ""}}}));
    assert_has(&prefix, "prefix part a lowercase RFC 1123 subdomain");
    let upper_ann = errors(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "d", "annotations": {"Example.COM/Key": "v"}}}),
    );
    assert!(upper_ann.is_empty(), "annotation keys are case-insensitive: {upper_ann:?}");
    let big = errors(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "d", "annotations": {"a": "x".repeat(262_144)}}}),
    );
    assert_eq!(big, vec!["metadata.annotations: Too long: may not be more than 262144 bytes".to_string()]);
}

#[test]
fn owner_references_finalizers_generation() {
    let errs = errors(
        "",
        "ConfigMap",
        json!({"metadata": {"name": "c", "namespace": "d", "generation": -1,
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "", "controller": true}],
        "finalizers": ["custom", "orphan", "foregroundDeletion"]}}),
    );
    assert_has(&errs, "metadata.generation: Invalid value: -1: must be greater than or equal to 0");
    assert_has(&errs, "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty");
    assert_has(
        &errs,
        "Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b",
    );
    assert_has(
        &errs,
        "metadata.finalizers[0]: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified",
    );
    assert_has(&errs, "finalizer orphan and foregroundDeletion cannot be both set");
}

#[test]
fn metadata_update_rules() {
    let old = json!({"metadata": {"name": "c", "namespace": "d", "uid": "1", "resourceVersion": "5", "generation": 2,
        "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["example.com/a"]}});
    let mut new = old.clone();
    new["metadata"]["name"] = json!("other");
    new["metadata"]["generation"] = json!(1);
    new["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    new["metadata"]["resourceVersion"] = json!("");
    let errs: Vec<String> = validate_update("", "ConfigMap", &new, &old).iter().map(FieldError::full_message).collect();
    assert_has(&errs, "metadata.name: Invalid value: \"other\": field is immutable");
    assert_has(&errs, "metadata.resourceVersion: Invalid value: \"\": must be specified for an update");
    assert_has(&errs, "metadata.generation: Invalid value: 1: must not be decremented");
    assert_has(
        &errs,
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/b\"}",
    );
    let same: Vec<FieldError> = validate_update("", "ConfigMap", &old, &old);
    assert!(same.is_empty(), "{same:?}");
}
