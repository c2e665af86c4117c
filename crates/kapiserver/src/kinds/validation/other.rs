//! Kinds outside the core workload set: storage claims and volumes, endpoint slices, storage
//! classes, leases, autoscalers, ingresses and CRD names.

use serde_json::{Map, Value};

use super::FieldError;
use super::access::{arr_at, int_at, obj_at, path, str_at};
use super::meta::{
    IMMUTABLE_MSG, dns1123_subdomain, each_invalid, nonnegative, port_range_error, validate_label_selector,
};

/// Create rules for small kinds of other groups.
pub(crate) fn validate_other(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec");
    match (group, kind) {
        ("discovery.k8s.io", "EndpointSlice") => endpoint_slice(obj),
        ("storage.k8s.io", "StorageClass") => storage_class(obj),
        ("coordination.k8s.io", "Lease") => lease(spec),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(spec),
        ("networking.k8s.io", "Ingress") => ingress(spec),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        _ => Vec::new(),
    }
}

fn access_modes(spec: Option<&Value>, field: &str, required_detail: &str) -> Vec<FieldError> {
    let supported = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];
    let modes: Vec<&str> = arr_at(spec, "accessModes").iter().filter_map(Value::as_str).collect();
    let mut errs = Vec::new();
    if modes.is_empty() {
        errs.push(FieldError::required(field, required_detail));
    }
    for m in &modes {
        if !supported.contains(m) {
            errs.push(FieldError::not_supported(field, *m, &supported));
        }
    }
    if modes.contains(&"ReadWriteOncePod") && modes.iter().any(|m| *m != "ReadWriteOncePod" && supported.contains(m)) {
        errs.push(FieldError::forbidden(field, "may not use ReadWriteOncePod with other access modes"));
    }
    errs
}

fn volume_mode(spec: Option<&Value>, field: &str) -> Vec<FieldError> {
    match str_at(spec, "volumeMode") {
        Some(m) if !matches!(m, "Block" | "Filesystem") => {
            vec![FieldError::not_supported(field, m, &["Block", "Filesystem"])]
        }
        _ => Vec::new(),
    }
}

pub(crate) fn pvc_spec(spec: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = access_modes(spec, &format!("{field}.accessModes"), "at least 1 access mode is required");
    if let Some(sel) = spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null()) {
        errs.extend(validate_label_selector(Some(sel), &format!("{field}.selector")));
    }
    let storage = spec.and_then(|s| path(s, &["resources", "requests", "storage"]));
    match storage.map(super::quantity::parse_value) {
        None => errs.push(FieldError::required(format!("{field}.resources[storage]"), "")),
        Some(Some(v)) if v <= 0 => errs.push(FieldError::invalid(
            format!("{field}.resources[storage]"),
            storage.cloned().unwrap_or(Value::Null),
            "must be greater than zero",
        )),
        _ => {}
    }
    errs.extend(volume_mode(spec, &format!("{field}.volumeMode")));
    if let Some(class) = str_at(spec, "storageClassName").filter(|c| !c.is_empty()) {
        errs.extend(each_invalid(&format!("{field}.storageClassName"), class, dns1123_subdomain(class)));
    }
    errs
}

const PV_SOURCES: [&str; 22] = [
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
];

pub(crate) fn pv(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec");
    let mut errs = access_modes(spec, "spec.accessModes", "");
    match obj_at(spec, "capacity") {
        None => errs.push(FieldError::required("spec.capacity", "")),
        Some(cap) if !cap.contains_key("storage") || cap.len() > 1 => {
            errs.push(FieldError::not_supported("spec.capacity", Value::Object(cap.clone()), &["storage"]));
        }
        Some(_) => {}
    }
    if let Some(p) = str_at(spec, "persistentVolumeReclaimPolicy") {
        let supported = ["Delete", "Recycle", "Retain"];
        if !supported.contains(&p) {
            errs.push(FieldError::not_supported("spec.persistentVolumeReclaimPolicy", p, &supported));
        }
    }
    let sources: Vec<&str> = PV_SOURCES.iter().copied().filter(|k| spec.and_then(|s| s.get(*k)).is_some()).collect();
    for extra in sources.iter().skip(1) {
        errs.push(FieldError::forbidden(format!("spec.{extra}"), "may not specify more than 1 volume type"));
    }
    if sources.is_empty() {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    }
    if let Some(class) = str_at(spec, "storageClassName").filter(|c| !c.is_empty()) {
        errs.extend(each_invalid("spec.storageClassName", class, dns1123_subdomain(class)));
    }
    errs.extend(volume_mode(spec, "spec.volumeMode"));
    errs
}

fn endpoint_slice(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let at = str_at(Some(obj), "addressType").unwrap_or_default();
    let types = ["FQDN", "IPv4", "IPv6"];
    if at.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !types.contains(&at) {
        errs.push(FieldError::not_supported("addressType", at, &types));
    }
    for (i, ep) in arr_at(Some(obj), "endpoints").iter().enumerate() {
        let addrs = arr_at(Some(ep), "addresses");
        if addrs.is_empty() {
            errs.push(FieldError::required(format!("endpoints[{i}].addresses"), "must contain at least 1 address"));
        }
        for (j, a) in addrs.iter().enumerate() {
            let a = a.as_str().unwrap_or_default();
            let ok = match at {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => dns1123_subdomain(a).is_empty(),
            };
            if !ok {
                let msg = if at == "FQDN" {
                    "must be a valid FQDN".to_string()
                } else {
                    format!("must be a valid {at} address")
                };
                errs.push(FieldError::invalid(format!("endpoints[{i}].addresses[{j}]"), a, msg));
            }
        }
    }
    for (i, port) in arr_at(Some(obj), "ports").iter().enumerate() {
        if let Some(num) = int_at(Some(port), "port").filter(|n| !(1..=65535).contains(n)) {
            errs.push(port_range_error(&format!("ports[{i}].port"), num));
        }
        if let Some(proto) = str_at(Some(port), "protocol") {
            errs.extend(super::container::protocol(Some(proto), &format!("ports[{i}].protocol")));
        }
    }
    errs
}

fn storage_class(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if str_at(Some(obj), "provisioner").unwrap_or_default().is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    }
    if let Some(p) = str_at(Some(obj), "reclaimPolicy").filter(|p| !matches!(*p, "Delete" | "Retain")) {
        errs.push(FieldError::not_supported("reclaimPolicy", p, &["Delete", "Retain"]));
    }
    let modes = ["Immediate", "WaitForFirstConsumer"];
    if let Some(m) = str_at(Some(obj), "volumeBindingMode").filter(|m| !modes.contains(m)) {
        errs.push(FieldError::not_supported("volumeBindingMode", m, &modes));
    }
    errs
}

fn lease(spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(d) = int_at(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        errs.push(FieldError::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
    }
    errs.extend(nonnegative(spec, "leaseTransitions", "spec.leaseTransitions"));
    errs
}

fn hpa(spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let target = spec.and_then(|s| s.get("scaleTargetRef"));
    for key in ["kind", "name"] {
        if str_at(target, key).unwrap_or_default().is_empty() {
            errs.push(FieldError::required(format!("spec.scaleTargetRef.{key}"), ""));
        }
    }
    let min = int_at(spec, "minReplicas");
    if let Some(m) = min.filter(|m| *m < 1) {
        errs.push(FieldError::invalid("spec.minReplicas", m, "must be greater than or equal to 1"));
    }
    let max = int_at(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        errs.push(FieldError::invalid("spec.maxReplicas", max, "must be greater than 0"));
    }
    if min.is_some_and(|m| max < m) {
        errs.push(FieldError::invalid("spec.maxReplicas", max, "must be greater than or equal to `minReplicas`"));
    }
    errs
}

fn ingress(spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, rule) in arr_at(spec, "rules").iter().enumerate() {
        let http = rule.get("http");
        for (j, p) in arr_at(http, "paths").iter().enumerate() {
            let pp = format!("spec.rules[{i}].http.paths[{j}]");
            let path_type = str_at(Some(p), "pathType").unwrap_or_default();
            let url_path = str_at(Some(p), "path").unwrap_or_default();
            match path_type {
                "" => errs.push(FieldError::required(format!("{pp}.pathType"), "pathType must be specified")),
                "Exact" | "Prefix" if !url_path.starts_with('/') => {
                    errs.push(FieldError::invalid(format!("{pp}.path"), url_path, "must be an absolute path"));
                }
                "Exact" | "Prefix" | "ImplementationSpecific" => {}
                other => errs.push(FieldError::not_supported(
                    format!("{pp}.pathType"),
                    other,
                    &["Exact", "ImplementationSpecific", "Prefix"],
                )),
            }
        }
    }
    errs
}

fn crd(obj: &Value) -> Vec<FieldError> {
    let name = str_at(obj.get("metadata"), "name").unwrap_or_default();
    let spec = obj.get("spec");
    let plural = str_at(spec.and_then(|s| s.get("names")), "plural").unwrap_or_default();
    let group = str_at(spec, "group").unwrap_or_default();
    if name != format!("{plural}.{group}") {
        return vec![FieldError::invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group")];
    }
    Vec::new()
}

fn without(v: Option<&Value>, keys: &[&str]) -> Map<String, Value> {
    let mut m = v.and_then(Value::as_object).cloned().unwrap_or_default();
    for k in keys {
        m.remove(*k);
    }
    m
}

/// Update-only rules of kinds without a dedicated update validator.
/// Update-only rules of kinds without a dedicated update validator.
pub(crate) fn validate_update_other(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("", "PersistentVolumeClaim") => {
            let strip = |v: &Value| {
                let mut spec = without(v.get("spec"), &["volumeAttributesClassName"]);
                if let Some(res) = spec.get_mut("resources").and_then(Value::as_object_mut) {
                    res.remove("requests");
                }
                // Binding sets volumeName once; treat an unset old value as a wildcard.
                if str_at(old.get("spec"), "volumeName").unwrap_or_default().is_empty() {
                    spec.remove("volumeName");
                }
                spec
            };
            if strip(new) != strip(old) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        ("", "PersistentVolume") => {
            let src = |v: &Value| -> Map<String, Value> {
                PV_SOURCES
                    .iter()
                    .filter_map(|k| v.get("spec")?.get(*k).map(|s| ((*k).to_string(), s.clone())))
                    .collect()
            };
            if src(new) != src(old) {
                errs.push(FieldError::forbidden(
                    "spec.persistentvolumesource",
                    "spec.persistentvolumesource is immutable after creation",
                ));
            }
            let (nm, om) = (path(new, &["spec", "volumeMode"]), path(old, &["spec", "volumeMode"]));
            if nm != om {
                errs.push(FieldError::invalid("volumeMode", nm.cloned().unwrap_or(Value::Null), IMMUTABLE_MSG));
            }
        }
        ("discovery.k8s.io", "EndpointSlice") => {
            let (a, b) = (new.get("addressType"), old.get("addressType"));
            if a != b {
                errs.push(FieldError::invalid("addressType", a.cloned().unwrap_or(Value::Null), IMMUTABLE_MSG));
            }
        }
        ("storage.k8s.io", "StorageClass") => {
            for (key, msg) in [
                ("parameters", "updates to parameters are forbidden."),
                ("provisioner", "updates to provisioner are forbidden."),
                ("reclaimPolicy", "updates to reclaimPolicy are forbidden."),
            ] {
                if new.get(key) != old.get(key) {
                    errs.push(FieldError::forbidden(key, msg));
                }
            }
            if new.get("volumeBindingMode") != old.get("volumeBindingMode") {
                let v = new.get("volumeBindingMode").cloned().unwrap_or(Value::Null);
                errs.push(FieldError::invalid("volumeBindingMode", v, IMMUTABLE_MSG));
            }
        }
        _ => {}
    }
    errs
}
