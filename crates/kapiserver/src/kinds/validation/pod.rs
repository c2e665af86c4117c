//! Pod, pod template and pod update rules (upstream `ValidatePodSpec`, `ValidatePodUpdate`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::FieldError;
use super::access::{arr_at, bool_at, int_at, obj_at, str_at};
use super::container::{
    VolumeMap, container_common, host_port_conflicts, lifecycle, probe, subdomain_ref, validate_volumes,
};
use super::meta::{dns1123_label, each_invalid, label_value, qualified_name, validate_annotations, validate_labels};

const UPDATABLE_POD_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
const MAX_INT32: i64 = i32::MAX as i64;

/// Upstream `ValidatePodCreate` minus metadata: the spec plus pod-only container rules.
pub(crate) fn validate_pod(pod: &Value) -> Vec<FieldError> {
    let spec = pod.get("spec");
    let mut errs = validate_pod_spec(spec, "spec", true);
    for list in ["containers", "initContainers"] {
        for (i, ctr) in arr_at(spec, list).iter().enumerate() {
            let image = str_at(Some(ctr), "image").unwrap_or_default();
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    format!("spec.{list}[{i}].image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodTemplateSpec` at `path` (labels, annotations, spec, no ephemeral containers).
pub(crate) fn validate_template(template: Option<&Value>, path: &str) -> Vec<FieldError> {
    let meta = template.and_then(|t| t.get("metadata"));
    let mut errs = validate_labels(obj_at(meta, "labels"), &format!("{path}.labels"));
    errs.extend(validate_annotations(obj_at(meta, "annotations"), &format!("{path}.annotations")));
    let spec = template.and_then(|t| t.get("spec"));
    errs.extend(validate_pod_spec(spec, &format!("{path}.spec"), false));
    if !arr_at(spec, "ephemeralContainers").is_empty() {
        errs.push(FieldError::forbidden(
            format!("{path}.spec.ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Upstream `ValidatePodSpec` at `path`; `is_pod` enables the checks only real pods get.
pub(crate) fn validate_pod_spec(spec: Option<&Value>, path: &str, is_pod: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if int_at(spec, "terminationGracePeriodSeconds").is_none() {
        errs.push(FieldError::required(format!("{path}.terminationGracePeriodSeconds"), ""));
    }
    let (volumes, vol_errs) = validate_volumes(arr_at(spec, "volumes"), &format!("{path}.volumes"));
    errs.extend(vol_errs);
    errs.extend(containers(spec, &volumes, path));
    errs.extend(init_containers(spec, &volumes, path));
    errs.extend(host_network_ports(spec, path, is_pod));
    let rp = format!("{path}.restartPolicy");
    match str_at(spec, "restartPolicy").unwrap_or_default() {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(rp, "")),
        other => errs.push(FieldError::not_supported(rp, other, &["Always", "OnFailure", "Never"])),
    }
    let dp = format!("{path}.dnsPolicy");
    let dns_policy = str_at(spec, "dnsPolicy").unwrap_or_default();
    match dns_policy {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(dp, "")),
        other => errs.push(FieldError::not_supported(
            dp,
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    errs.extend(validate_labels(obj_at(spec, "nodeSelector"), &format!("{path}.nodeSelector")));
    if dns_policy == "None" {
        let cfg = spec.and_then(|s| s.get("dnsConfig"));
        if cfg.is_none() {
            errs.push(FieldError::required(
                format!("{path}.dnsConfig"),
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        } else if arr_at(cfg, "nameservers").is_empty() {
            errs.push(FieldError::required(
                format!("{path}.dnsConfig.nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
        }
    }
    for (i, gate) in arr_at(spec, "readinessGates").iter().enumerate() {
        let ct = str_at(Some(gate), "conditionType").unwrap_or_default();
        errs.extend(each_invalid(&format!("{path}.readinessGates[{i}].conditionType"), ct, qualified_name(ct)));
    }
    let mut gates = BTreeSet::new();
    for (i, gate) in arr_at(spec, "schedulingGates").iter().enumerate() {
        let name = str_at(Some(gate), "name").unwrap_or_default();
        let gp = format!("{path}.schedulingGates[{i}]");
        errs.extend(each_invalid(&gp, name, qualified_name(name)));
        if !gates.insert(name) {
            errs.push(FieldError::duplicate(gp, name));
        }
    }
    errs.extend(subdomain_ref(spec, "serviceAccountName", &format!("{path}.serviceAccountName")));
    errs.extend(subdomain_ref(spec, "nodeName", &format!("{path}.nodeName")));
    if let Some(ads) = int_at(spec, "activeDeadlineSeconds").filter(|v| !(1..=MAX_INT32).contains(v)) {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            ads,
            format!("must be between 1 and {MAX_INT32}, inclusive"),
        ));
    }
    for key in ["hostname", "subdomain"] {
        if let Some(v) = str_at(spec, key).filter(|v| !v.is_empty()) {
            errs.extend(each_invalid(&format!("{path}.{key}"), v, dns1123_label(v)));
        }
    }
    errs.extend(tolerations(arr_at(spec, "tolerations"), &format!("{path}.tolerations")));
    errs.extend(subdomain_ref(spec, "priorityClassName", &format!("{path}.priorityClassName")));
    if let Some(pp) = str_at(spec, "preemptionPolicy") {
        let field = format!("{path}.preemptionPolicy");
        match pp {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(field, "")),
            other => errs.push(FieldError::not_supported(field, other, &["PreemptLowerPriority", "Never"])),
        }
    }
    errs
}

fn containers(spec: Option<&Value>, volumes: &VolumeMap, path: &str) -> Vec<FieldError> {
    let list = arr_at(spec, "containers");
    let field = format!("{path}.containers");
    if list.is_empty() {
        return vec![FieldError::required(field, "")];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, ctr) in list.iter().enumerate() {
        let p = format!("{field}[{i}]");
        errs.extend(container_common(ctr, volumes, &p));
        let name = str_at(Some(ctr), "name").unwrap_or_default();
        if !names.insert(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        }
        if let Some(l) = ctr.get("lifecycle") {
            errs.extend(lifecycle(l, &format!("{p}.lifecycle")));
        }
        errs.extend(probe(ctr.get("livenessProbe"), &format!("{p}.livenessProbe"), true));
        errs.extend(probe(ctr.get("readinessProbe"), &format!("{p}.readinessProbe"), false));
        errs.extend(probe(ctr.get("startupProbe"), &format!("{p}.startupProbe"), true));
        if ctr.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(format!("{p}.restartPolicy"), "may not be set for non-init containers"));
        }
    }
    errs.extend(host_port_conflicts(list, &field));
    errs
}

fn init_containers(spec: Option<&Value>, volumes: &VolumeMap, path: &str) -> Vec<FieldError> {
    let field = format!("{path}.initContainers");
    let mut names: BTreeSet<&str> = arr_at(spec, "containers").iter().filter_map(|c| str_at(Some(c), "name")).collect();
    let mut errs = Vec::new();
    for (i, ctr) in arr_at(spec, "initContainers").iter().enumerate() {
        let p = format!("{field}[{i}]");
        errs.extend(container_common(ctr, volumes, &p));
        let restart = str_at(Some(ctr), "restartPolicy");
        if let Some(r) = restart.filter(|r| *r != "Always") {
            errs.push(FieldError::not_supported(format!("{p}.restartPolicy"), r, &["Always"]));
        }
        let name = str_at(Some(ctr), "name").unwrap_or_default();
        if names.contains(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        } else if !name.is_empty() {
            names.insert(name);
        }
        // Upstream checks each init container alone and reports it at index 0.
        errs.extend(host_port_conflicts(std::slice::from_ref(ctr), &field));
        if restart == Some("Always") {
            if let Some(l) = ctr.get("lifecycle") {
                errs.extend(lifecycle(l, &format!("{p}.lifecycle")));
            }
            errs.extend(probe(ctr.get("livenessProbe"), &format!("{p}.livenessProbe"), true));
            errs.extend(probe(ctr.get("readinessProbe"), &format!("{p}.readinessProbe"), false));
            errs.extend(probe(ctr.get("startupProbe"), &format!("{p}.startupProbe"), true));
        } else {
            for key in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if ctr.get(key).is_some_and(|v| !v.is_null()) {
                    errs.push(FieldError::forbidden(
                        format!("{p}.{key}"),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

fn host_network_ports(spec: Option<&Value>, path: &str, is_pod: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !bool_at(spec, "hostNetwork") {
        return errs;
    }
    for (i, ctr) in arr_at(spec, "containers").iter().enumerate() {
        for (j, port) in arr_at(Some(ctr), "ports").iter().enumerate() {
            let hp = int_at(Some(port), "hostPort").unwrap_or(0);
            let cp = int_at(Some(port), "containerPort").unwrap_or(0);
            // Templates may leave hostPort unset: it is defaulted when the pod is created.
            if (is_pod || hp != 0) && hp != cp {
                errs.push(FieldError::invalid(
                    format!("{path}.containers[{i}].ports[{j}].hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidateTolerations`.
pub(crate) fn tolerations(list: &[Value], field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = format!("{field}[{i}]");
        let tv = Some(t);
        let key = str_at(tv, "key").unwrap_or_default();
        let op = str_at(tv, "operator").unwrap_or_default();
        let effect = str_at(tv, "effect").unwrap_or_default();
        if !key.is_empty() {
            errs.extend(each_invalid(&format!("{p}.key"), key, qualified_name(key)));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                format!("{p}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.get("tolerationSeconds").is_some_and(|v| !v.is_null()) && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{p}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_at(tv, "value").unwrap_or_default();
        match op {
            "Equal" | "" => {
                let msgs = label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(format!("{p}.operator"), value, msgs.join(";")));
                }
            }
            "Exists" if !value.is_empty() => errs.push(FieldError::invalid(
                format!("{p}.operator"),
                t.clone(),
                "value must be empty when `operator` is 'Exists'",
            )),
            "Exists" => {}
            other => errs.push(FieldError::not_supported(format!("{p}.operator"), other, &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            errs.push(FieldError::not_supported(
                format!("{p}.effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

/// Upstream `ValidatePodUpdate`: only images, `activeDeadlineSeconds`, added tolerations, removed
/// scheduling gates and a negative grace period raised to 1 may change in `spec`.
pub(crate) fn validate_pod_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let (ns, os) = (new.get("spec"), old.get("spec"));
    let mut errs = Vec::new();
    for list in ["containers", "initContainers"] {
        let (nl, ol) = (arr_at(ns, list), arr_at(os, list));
        if nl.len() != ol.len() {
            errs.push(FieldError::forbidden(format!("spec.{list}"), "pod updates may not add or remove containers"));
            return errs;
        }
    }
    if let Some(ads) = int_at(ns, "activeDeadlineSeconds") {
        if !(0..=MAX_INT32).contains(&ads) {
            let msg = format!("must be between 0 and {MAX_INT32}, inclusive");
            errs.push(FieldError::invalid("spec.activeDeadlineSeconds", ads, msg));
            return errs;
        }
        if int_at(os, "activeDeadlineSeconds").is_some_and(|old_ads| old_ads < ads) {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                ads,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
    } else if int_at(os, "activeDeadlineSeconds").is_some() {
        errs.push(FieldError::invalid(
            "spec.activeDeadlineSeconds",
            Value::Null,
            "must not update from a positive integer to nil value",
        ));
    }
    errs.extend(only_added_tolerations(arr_at(ns, "tolerations"), arr_at(os, "tolerations")));
    errs.extend(only_deleted_gates(arr_at(ns, "schedulingGates"), arr_at(os, "schedulingGates")));
    let (Some(new_spec), Some(old_spec)) = (ns, os) else { return errs };
    if new_spec == old_spec {
        return errs;
    }
    let mut munged = new_spec.clone();
    for list in ["containers", "initContainers"] {
        if let Some(items) = munged.get_mut(list).and_then(Value::as_array_mut) {
            for (item, old_item) in items.iter_mut().zip(arr_at(os, list)) {
                if let (Some(obj), Some(image)) = (item.as_object_mut(), old_item.get("image")) {
                    obj.insert("image".into(), image.clone());
                }
            }
        }
    }
    if let Some(obj) = munged.as_object_mut() {
        for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            match old_spec.get(key) {
                Some(v) => obj.insert(key.into(), v.clone()),
                None => obj.remove(key),
            };
        }
        let old_grace = int_at(os, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0) && int_at(ns, "terminationGracePeriodSeconds") == Some(1) {
            if let Some(g) = old_spec.get("terminationGracePeriodSeconds") {
                obj.insert("terminationGracePeriodSeconds".into(), g.clone());
            }
        }
    }
    if &munged != old_spec {
        let diff = json_diff(old_spec, &munged, "");
        errs.push(FieldError::forbidden(
            "spec",
            format!("pod updates may not change fields other than {UPDATABLE_POD_FIELDS}\n{}", diff.join("\n")),
        ));
    }
    errs
}

fn only_added_tolerations(new: &[Value], old: &[Value]) -> Vec<FieldError> {
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(o) = t.as_object_mut() {
            o.remove("tolerationSeconds");
        }
        t
    };
    let new_stripped: Vec<Value> = new.iter().map(strip).collect();
    if old.iter().any(|o| !new_stripped.contains(&strip(o))) {
        return vec![FieldError::forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        )];
    }
    tolerations(new, "spec.tolerations")
}

fn only_deleted_gates(new: &[Value], old: &[Value]) -> Vec<FieldError> {
    let old_names: BTreeSet<&str> = old.iter().filter_map(|g| str_at(Some(g), "name")).collect();
    new.iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let name = str_at(Some(g), "name").unwrap_or_default();
            (!old_names.contains(name)).then(|| {
                FieldError::forbidden(
                    format!("spec.schedulingGates[{i}].name"),
                    format!("only deletion is allowed, but found new scheduling gate '{name}'"),
                )
            })
        })
        .collect()
}

/// A readable `-`/`+` listing of leaf differences (upstream prints a Go `cmp.Diff` here).
fn json_diff(old: &Value, new: &Value, path: &str) -> Vec<String> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    json_diff(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &p)
                })
                .collect()
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().flat_map(|(i, (x, y))| json_diff(x, y, &format!("{path}[{i}]"))).collect()
        }
        (a, b) if a == b => Vec::new(),
        (a, b) => vec![format!("  - {path}: {a}"), format!("  + {path}: {b}")],
    }
}
