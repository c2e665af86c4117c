use serde_json::{Value, json};

use super::super::{FieldError, validate_create, validate_update};
use super::*;

// ---- core ----

fn svc(spec: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec})
}

#[test]
fn service_rules() {
    assert!(errors("", "Service", svc(json!({"ports": [{"port": 80}], "selector": {"a": "b"}}))).is_empty());
    assert_eq!(errors("", "Service", svc(json!({}))), vec!["spec.ports: Required value".to_string()]);
    assert!(errors("", "Service", svc(json!({"clusterIP": "None"}))).is_empty());
    let errs = errors(
        "",
        "Service",
        svc(json!({"type": "Fancy", "ports": [
        {"port": 0}, {"port": 80, "protocol": "ICMP", "name": "a"}, {"port": 80, "name": "a", "nodePort": 30000}]})),
    );
    assert_has(&errs, "spec.ports[0].name: Required value");
    assert_has(&errs, "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive");
    assert_has(
        &errs,
        "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
    );
    assert_has(&errs, "spec.ports[2].name: Duplicate value: \"a\"");
    assert_has(
        &errs,
        "spec.type: Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
    );
    let cip =
        errors("", "Service", svc(json!({"ports": [{"port": 80, "nodePort": 30000}, {"port": 80, "name": "b"}]})));
    assert_has(&cip, "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
    assert_has(&cip, "spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}");
    let ext = errors("", "Service", svc(json!({"type": "ExternalName", "clusterIP": "10.0.0.1"})));
    assert_has(&ext, "spec.clusterIPs: Forbidden: may not be set for ExternalName services");
    assert_has(&ext, "spec.externalName: Required value");
    let np = errors("", "Service", svc(json!({"type": "NodePort", "clusterIP": "None", "ports": [{"port": 80}]})));
    assert_has(&np, "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services");
    let bad_ip = errors("", "Service", svc(json!({"clusterIP": "10.0.0.300", "ports": [{"port": 80}]})));
    assert_has(
        &bad_ip,
        "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
    );
}

#[test]
fn service_policies() {
    let raw = |spec: Value| -> Vec<String> {
        validate_create("", "Service", &svc(spec)).iter().map(FieldError::full_message).collect()
    };
    let base = json!({"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]});
    assert!(raw(base.clone()).is_empty(), "{:?}", raw(base.clone()));
    let mut etp = base.clone();
    etp["externalTrafficPolicy"] = json!("Local");
    assert_has(
        &raw(etp),
        "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services",
    );
    let mut lb = base.clone();
    lb["type"] = json!("LoadBalancer");
    let lb_errs = raw(lb);
    assert_has(&lb_errs, "spec.externalTrafficPolicy: Required value");
    assert_has(&lb_errs, "allocateLoadBalancerNodePorts: Required value");
    let mut affinity = base.clone();
    affinity["sessionAffinity"] = json!("ClientIP");
    assert_has(
        &raw(affinity),
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Required value: when session affinity type is ClientIP",
    );
    let mut itp = base;
    itp.as_object_mut().map(|o| o.remove("internalTrafficPolicy"));
    assert_has(&raw(itp), "spec.internalTrafficPolicy: Required value");
}

#[test]
fn service_cluster_ip_is_immutable() {
    let mut old = defaulted("", "Service", svc(json!({"clusterIP": "10.0.0.10", "ports": [{"port": 80}]})));
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["clusterIP"] = json!("10.0.0.11");
    let errs: Vec<String> = validate_update("", "Service", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(
        errs,
        vec!["spec.clusterIPs[0]: Invalid value: []string{\"10.0.0.11\"}: may not change once set".to_string()]
    );
    let mut unset = old.clone();
    unset["spec"]["clusterIP"] = json!("");
    let errs: Vec<String> = validate_update("", "Service", &unset, &old).iter().map(FieldError::full_message).collect();
    assert_has(&errs, "spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset");
}

#[test]
fn config_map_rules() {
    let cm = |data: Value, binary: Value| json!({"metadata": meta("c"), "data": data, "binaryData": binary});
    assert!(errors("", "ConfigMap", cm(json!({"a.b_c-D": "x"}), json!({}))).is_empty());
    let errs = errors("", "ConfigMap", cm(json!({"bad key": "x", "dup": "y", "..x": ""}), json!({"dup": "eA=="})));
    assert_has(
        &errs,
        "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
    assert_has(&errs, "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData");
    assert_has(&errs, "data[..x]: Invalid value: \"..x\": must not start with '..'");
    let big = errors("", "ConfigMap", cm(json!({"a": "x".repeat(1024 * 1024 + 1)}), json!({})));
    assert_eq!(big, vec![": Too long: may not be more than 1048576 bytes".to_string()]);
}

#[test]
fn secret_rules() {
    let secret = |ty: &str, data: Value| json!({"metadata": meta("s"), "type": ty, "data": data});
    assert!(errors("", "Secret", secret("Opaque", json!({"k": "dg=="}))).is_empty());
    assert_eq!(
        errors("", "Secret", secret("kubernetes.io/tls", json!({"tls.crt": "eA=="}))),
        vec!["data[tls.key]: Required value".to_string()]
    );
    let basic = errors("", "Secret", secret("kubernetes.io/basic-auth", json!({})));
    assert_eq!(basic, vec!["data[username]: Required value".to_string(), "data[password]: Required value".to_string()]);
    let sa = errors("", "Secret", secret("kubernetes.io/service-account-token", json!({})));
    assert_eq!(sa, vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value".to_string()]);
    assert_has(
        &errors("", "Secret", secret("kubernetes.io/dockerconfigjson", json!({}))),
        "data[.dockerconfigjson]: Required value",
    );
    let big = errors("", "Secret", secret("Opaque", json!({"k": "A".repeat(1_398_200)})));
    assert_eq!(big, vec!["data: Too long: may not be more than 1048576 bytes".to_string()]);
    let bad_key = errors("", "Secret", json!({"metadata": meta("s"), "stringData": {"a/b": "x"}}));
    assert_has(&bad_key, "data[a/b]: Invalid value: \"a/b\"");
}

#[test]
fn immutable_config_maps_and_secrets() {
    let mut old = json!({"metadata": {"name": "c", "namespace": "d", "resourceVersion": "1"}, "immutable": true, "data": {"a": "1"}});
    let mut new = old.clone();
    new["data"]["a"] = json!("2");
    let errs: Vec<String> = validate_update("", "ConfigMap", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(errs, vec!["data: Forbidden: field is immutable when `immutable` is set".to_string()]);
    new = old.clone();
    new["immutable"] = json!(false);
    let errs: Vec<String> = validate_update("", "ConfigMap", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(errs, vec!["immutable: Forbidden: field is immutable when `immutable` is set".to_string()]);
    old["type"] = json!("Opaque");
    new = old.clone();
    new["type"] = json!("kubernetes.io/tls");
    new["data"] = json!({"tls.crt": "", "tls.key": ""});
    let errs: Vec<String> = validate_update("", "Secret", &new, &old).iter().map(FieldError::full_message).collect();
    assert_has(&errs, "type: Invalid value: \"kubernetes.io/tls\": field is immutable");
    assert_has(&errs, "data: Forbidden: field is immutable when `immutable` is set");
}

#[test]
fn namespace_and_node_rules() {
    let ns = errors("", "Namespace", json!({"metadata": {"name": "n"}, "spec": {"finalizers": ["custom"]}}));
    assert_eq!(ns, vec!["spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified".to_string()]);
    let node = errors(
        "",
        "Node",
        json!({"metadata": {"name": "n"}, "spec": {"taints": [
        {"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Never"}]}}),
    );
    assert_has(
        &node,
        "metadata.taints[1]: Duplicate value: map[string]string{\"effect\":\"NoSchedule\", \"key\":\"a\"}: taints must be unique by key and effect pair",
    );
    assert_has(&node, "metadata.taints[2].effect: Unsupported value: \"Never\"");
    let old = json!({"metadata": {"name": "n", "resourceVersion": "1"}, "spec": {"podCIDRs": ["10.0.0.0/24"]}});
    let mut new = old.clone();
    new["spec"]["podCIDRs"] = json!(["10.0.1.0/24"]);
    let errs: Vec<String> = validate_update("", "Node", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(
        errs,
        vec!["spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid".to_string()]
    );
}

#[test]
fn storage_rules() {
    let pvc = errors(
        "",
        "PersistentVolumeClaim",
        json!({"metadata": meta("c"), "spec": {"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]}}),
    );
    assert_has(&pvc, "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes");
    assert_has(&pvc, "spec.resources[storage]: Required value");
    let empty = errors(
        "",
        "PersistentVolumeClaim",
        json!({"metadata": meta("c"), "spec": {"resources": {"requests": {"storage": "1Gi"}}}}),
    );
    assert_eq!(empty, vec!["spec.accessModes: Required value: at least 1 access mode is required".to_string()]);
    let pv = errors(
        "",
        "PersistentVolume",
        json!({"metadata": {"name": "v"}, "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"cpu": "1"}}}),
    );
    assert_has(
        &pv,
        "spec.capacity: Unsupported value: map[string]string{\"cpu\":\"1\"}: supported values: \"storage\"",
    );
    assert_has(&pv, "spec: Required value: must specify a volume type");
    let sc = errors("storage.k8s.io", "StorageClass", json!({"metadata": {"name": "s"}, "reclaimPolicy": "Recycle"}));
    assert_has(&sc, "provisioner: Required value");
    assert_has(&sc, "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"");
    let old = json!({"metadata": {"name": "s", "resourceVersion": "1"}, "provisioner": "a", "parameters": {"x": "1"}});
    let mut new = old.clone();
    new["parameters"] = json!({"x": "2"});
    let upd: Vec<String> =
        validate_update("storage.k8s.io", "StorageClass", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(upd, vec!["parameters: Forbidden: updates to parameters are forbidden.".to_string()]);
    let mut old_claim = defaulted(
        "",
        "PersistentVolumeClaim",
        json!({"metadata": {"name": "c", "namespace": "d", "resourceVersion": "1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeName": "pv1"}}),
    );
    let mut grown = old_claim.clone();
    grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    assert!(validate_update("", "PersistentVolumeClaim", &grown, &old_claim).is_empty());
    old_claim["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    let changed: Vec<String> =
        validate_update("", "PersistentVolumeClaim", &grown, &old_claim).iter().map(FieldError::full_message).collect();
    assert_has(
        &changed,
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    );
}

#[test]
fn endpoints_and_slices() {
    let ep = errors(
        "",
        "Endpoints",
        json!({"metadata": meta("e"), "subsets": [{"ports": [{"port": 80}]},
        {"addresses": [{"ip": "nope"}], "ports": [{"port": 80}, {"port": 81, "name": "b"}]}]}),
    );
    assert_has(&ep, "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`");
    assert_has(&ep, "subsets[1].addresses[0].ip: Invalid value: \"nope\"");
    assert_has(&ep, "subsets[1].ports[0].name: Required value");
    let slice = errors(
        "discovery.k8s.io",
        "EndpointSlice",
        json!({"metadata": meta("s"), "addressType": "IPv5",
        "endpoints": [{"addresses": []}], "ports": [{"port": 70000}]}),
    );
    assert_has(&slice, "addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"");
    assert_has(&slice, "endpoints[0].addresses: Required value: must contain at least 1 address");
    assert_has(&slice, "ports[0].port: Invalid value: 70000");
}

#[test]
fn other_group_rules() {
    let lease =
        errors("coordination.k8s.io", "Lease", json!({"metadata": meta("l"), "spec": {"leaseDurationSeconds": 0}}));
    assert_eq!(lease, vec!["spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0".to_string()]);
    let hpa = errors(
        "autoscaling",
        "HorizontalPodAutoscaler",
        json!({"apiVersion": "autoscaling/v2", "metadata": meta("h"),
        "spec": {"scaleTargetRef": {"kind": "Deployment"}, "minReplicas": 5, "maxReplicas": 2}}),
    );
    assert_has(&hpa, "spec.scaleTargetRef.name: Required value");
    assert_has(&hpa, "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`");
    let ing = errors(
        "networking.k8s.io",
        "Ingress",
        json!({"metadata": meta("i"), "spec": {"rules": [{"http": {"paths": [
        {"path": "/"}, {"path": "x", "pathType": "Prefix"}]}}]}}),
    );
    assert_has(&ing, "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified");
    assert_has(&ing, "spec.rules[0].http.paths[1].path: Invalid value: \"x\": must be an absolute path");
    let crd = errors(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        json!({"metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.org", "names": {"plural": "widgets"}}}),
    );
    assert_eq!(
        crd,
        vec![
            "metadata.name: Invalid value: \"widgets.example.com\": must be spec.names.plural+\".\"+spec.group"
                .to_string()
        ]
    );
}
