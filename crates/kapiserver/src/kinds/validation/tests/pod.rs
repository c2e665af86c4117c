use serde_json::{Value, json};

use super::super::{FieldError, validate_create, validate_update};
use super::*;

// ---- pods ----

#[test]
fn valid_pod_passes() {
    let errs = pod_errors(json!({"ports": [{"containerPort": 80, "name": "http"}],
        "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "example.com/gpu": "1"}},
        "livenessProbe": {"httpGet": {"port": "http"}}, "env": [{"name": "A", "value": "b"}]}));
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn pod_containers_rules() {
    assert_eq!(
        errors("", "Pod", pod_with(json!({"containers": []}))),
        vec!["spec.containers: Required value".to_string()]
    );
    let errs = errors(
        "",
        "Pod",
        pod_with(json!({"containers": [
        {"name": "a", "image": "x"}, {"name": "a", "image": "x"}, {"name": "Bad_Name", "image": ""}]})),
    );
    assert_has(&errs, "spec.containers[1].name: Duplicate value: \"a\"");
    assert_has(&errs, &format!("spec.containers[2].name: Invalid value: \"Bad_Name\": {LABEL_MSG}"));
    assert_has(&errs, "spec.containers[2].image: Required value");
    let ws = pod_errors(json!({"image": " nginx"}));
    assert_has(
        &ws,
        "spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
    );
}

#[test]
fn pod_port_rules() {
    let errs = pod_errors(json!({"ports": [
        {"containerPort": 70000}, {"containerPort": 80, "protocol": "HTTP"}, {"name": "Http", "containerPort": 81},
        {"containerPort": 0}, {"containerPort": 82, "hostPort": 8080}, {"containerPort": 83, "hostPort": 8080}]}));
    assert_has(
        &errs,
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
    assert_has(
        &errs,
        "spec.containers[0].ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
    );
    assert_has(
        &errs,
        "spec.containers[0].ports[2].name: Invalid value: \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
    );
    assert_has(&errs, "spec.containers[0].ports[3].containerPort: Required value");
    assert_has(&errs, "spec.containers[0].ports[5].hostPort: Duplicate value: \"TCP//8080\"");
}

#[test]
fn pod_policy_enums() {
    let errs = errors(
        "",
        "Pod",
        pod_with(json!({"restartPolicy": "Sometimes", "dnsPolicy": "Magic",
        "containers": [container(json!({"imagePullPolicy": "Maybe", "terminationMessagePolicy": "X"}))]})),
    );
    assert_has(
        &errs,
        "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
    );
    assert_has(
        &errs,
        "spec.dnsPolicy: Unsupported value: \"Magic\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
    );
    assert_has(
        &errs,
        "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported values: \"Always\", \"IfNotPresent\", \"Never\"",
    );
    assert_has(&errs, "spec.containers[0].terminationMessagePolicy: Unsupported value: \"X\"");
    let none = errors("", "Pod", pod_with(json!({"dnsPolicy": "None", "containers": [container(json!({}))]})));
    assert_has(&none, "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None");
    let undefaulted = validate_create("", "Pod", &pod_with(json!({"containers": [{"name": "c", "image": "x"}]})));
    let msgs: Vec<String> = undefaulted.iter().map(FieldError::full_message).collect();
    assert_has(&msgs, "spec.terminationGracePeriodSeconds: Required value");
    assert_has(&msgs, "spec.restartPolicy: Required value");
}

#[test]
fn pod_resource_rules() {
    let errs =
        pod_errors(json!({"resources": {"requests": {"cpu": "2", "memory": "-1", "example.com/gpu": "1", "foo": "1"},
        "limits": {"cpu": "1", "memory": "abc"}}}));
    assert_has(
        &errs,
        "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.requests[memory]: Invalid value: \"-1\": must be greater than or equal to 0",
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource type or fully qualified",
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.requests[foo]: Invalid value: \"foo\": must be a standard resource for containers",
    );
    assert_has(
        &errs,
        "spec.containers[0].resources.limits[memory]: Invalid value: \"abc\": quantities must match the regular expression",
    );
    let gpu =
        pod_errors(json!({"resources": {"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "2"}}}));
    assert_has(&gpu, "resources.requests: Invalid value: \"1\": must be equal to example.com/gpu limit of 2");
    let frac = pod_errors(json!({"resources": {"limits": {"example.com/gpu": "500m"}}}));
    assert_has(&frac, "resources.limits[example.com/gpu]: Invalid value: \"500m\": must be an integer");
}

#[test]
fn pod_volume_rules() {
    let errs = errors(
        "",
        "Pod",
        pod_with(json!({
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}, {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
            {"name": "cm", "configMap": {"defaultMode": 1000}}, {"name": "Bad"}],
        "containers": [container(json!({"volumeMounts": [{"name": "v", "mountPath": "/a"}, {"name": "missing", "mountPath": "/a"}]}))]})),
    );
    assert_has(&errs, "spec.volumes[1].name: Duplicate value: \"v\"");
    assert_has(&errs, "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type");
    assert_has(&errs, "spec.volumes[3].configMap.name: Required value");
    assert_has(
        &errs,
        "spec.volumes[3].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive",
    );
    assert_has(&errs, "spec.volumes[4].name: Invalid value: \"Bad\"");
    assert_has(&errs, "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"");
    assert_has(&errs, "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique");
    let no_source = validate_create("", "Pod", &pod_with(json!({"volumes": [{"name": "x"}], "containers": []})));
    assert!(
        no_source.iter().any(|e| e.full_message() == "spec.volumes[0]: Required value: must specify a volume type")
    );
}

#[test]
fn pod_probe_and_lifecycle_rules() {
    let errs = pod_errors(json!({"livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}},
        "readinessProbe": {}, "startupProbe": {"httpGet": {"port": 0, "scheme": "FTP"}, "tcpSocket": {"port": 80}},
        "restartPolicy": "Always"}));
    assert_has(&errs, "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1");
    assert_has(&errs, "spec.containers[0].readinessProbe: Required value: must specify a handler type");
    assert_has(&errs, "spec.containers[0].startupProbe.tcpSocket: Forbidden: may not specify more than 1 handler type");
    assert_has(
        &errs,
        "spec.containers[0].startupProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
    );
    assert_has(
        &errs,
        "spec.containers[0].startupProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"",
    );
    assert_has(&errs, "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers");
}

#[test]
fn init_container_rules() {
    let errs = errors(
        "",
        "Pod",
        pod_with(json!({"containers": [container(json!({}))], "initContainers": [
        {"name": "c", "image": "x"},
        {"name": "i", "image": "x", "restartPolicy": "OnFailure", "readinessProbe": {"exec": {"command": ["x"]}}},
        {"name": "s", "image": "x", "restartPolicy": "Always", "readinessProbe": {"exec": {"command": ["x"]}}}]})),
    );
    assert_has(&errs, "spec.initContainers[0].name: Duplicate value: \"c\"");
    assert_has(
        &errs,
        "spec.initContainers[1].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
    );
    assert_has(
        &errs,
        "spec.initContainers[1].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
    );
    assert!(!has(&errs, "initContainers[2]"), "{errs:#?}");
}

#[test]
fn pod_spec_misc_rules() {
    let errs = errors(
        "",
        "Pod",
        pod_with(json!({"nodeName": "Node_1", "hostname": "a.b", "activeDeadlineSeconds": 0,
        "hostNetwork": true, "containers": [container(json!({"ports": [{"containerPort": 80, "hostPort": 81}],
            "env": [{"name": "A=B"}, {"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}))],
        "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"},
            {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}]})),
    );
    assert_has(&errs, "spec.nodeName: Invalid value: \"Node_1\"");
    assert_has(&errs, "spec.hostname: Invalid value: \"a.b\": must not contain dots");
    assert_has(&errs, "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive");
    assert_has(
        &errs,
        "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
    );
    assert_has(
        &errs,
        "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
    );
    assert_has(
        &errs,
        "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
    );
    assert_has(
        &errs,
        "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty",
    );
    assert_has(
        &errs,
        "spec.tolerations[1].operator: Invalid value: map[string]string{\"key\":\"k\", \"operator\":\"Exists\", \"value\":\"v\"}",
    );
    assert_has(&errs, "value must be empty when `operator` is 'Exists'");
    assert_has(
        &errs,
        "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
    );
}

fn stored_pod() -> Value {
    let mut p = defaulted(
        "",
        "Pod",
        pod_with(json!({"containers": [container(json!({}))], "activeDeadlineSeconds": 100,
        "tolerations": [{"key": "a", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]})),
    );
    p["metadata"]["resourceVersion"] = json!("1");
    p
}

fn update_errors(new: &Value, old: &Value) -> Vec<String> {
    validate_update("", "Pod", new, old).iter().map(FieldError::full_message).collect()
}

#[test]
fn pod_update_allows_image_deadline_tolerations() {
    let old = stored_pod();
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    new["spec"]["activeDeadlineSeconds"] = json!(50);
    new["spec"]["tolerations"][0]["tolerationSeconds"] = json!(20);
    if let Some(t) = new["spec"]["tolerations"].as_array_mut() {
        t.push(json!({"key": "b", "operator": "Exists"}));
    }
    assert!(update_errors(&new, &old).is_empty(), "{:?}", update_errors(&new, &old));
}

#[test]
fn pod_update_rejects_other_changes() {
    let old = stored_pod();
    let mut new = old.clone();
    new["spec"]["nodeName"] = json!("n1");
    let errs = update_errors(&new, &old);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"));
    assert!(errs[0].contains("+ nodeName: \"n1\""));
    let mut more = old.clone();
    if let Some(c) = more["spec"]["containers"].as_array_mut() {
        c.push(json!({"name": "d", "image": "x"}));
    }
    assert_has(&update_errors(&more, &old), "spec.containers: Forbidden: pod updates may not add or remove containers");
    let mut longer = old.clone();
    longer["spec"]["activeDeadlineSeconds"] = json!(200);
    assert_has(
        &update_errors(&longer, &old),
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value",
    );
    let mut unset = old.clone();
    unset["spec"].as_object_mut().map(|s| s.remove("activeDeadlineSeconds"));
    assert_has(
        &update_errors(&unset, &old),
        "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value",
    );
    let mut removed = old.clone();
    removed["spec"]["tolerations"] = json!([]);
    assert_has(
        &update_errors(&removed, &old),
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",
    );
    let mut gated = old.clone();
    gated["spec"]["schedulingGates"] = json!([{"name": "example.com/g"}]);
    assert_has(
        &update_errors(&gated, &old),
        "spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/g'",
    );
}
