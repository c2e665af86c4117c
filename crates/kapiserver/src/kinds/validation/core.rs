//! Core-group kinds other than pods (Service, ConfigMap, Secret, Namespace, …) and small kinds
//! of other groups.

use std::net::IpAddr;

use serde_json::Value;

use super::FieldError;
use super::access::{arr_at, int_at, obj_at, path, str_at};
use super::meta::{
    IMMUTABLE_MSG, config_map_key, dns1123_label, dns1123_subdomain, each_invalid, port_num_or_name, port_range_error,
    qualified_name, validate_labels,
};

const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";
pub(crate) const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

/// Create rules for core-group kinds handled here.
pub(crate) fn validate_core(kind: &str, obj: &Value) -> Vec<FieldError> {
    match kind {
        "Service" => service(obj),
        "ConfigMap" => config_map(obj),
        "Secret" => secret(obj),
        "Namespace" => namespace(obj),
        "ReplicationController" => super::apps::replication_controller(obj),
        "PersistentVolumeClaim" => super::other::pvc_spec(obj.get("spec"), "spec"),
        "PersistentVolume" => super::other::pv(obj),
        "Endpoints" => endpoints(obj),
        "Node" => node(obj),
        _ => Vec::new(),
    }
}

pub(crate) fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// The service's cluster IPs as the strategy normalizes them (`clusterIPs`, else `clusterIP`).
fn cluster_ips(svc: &Value) -> Vec<String> {
    let spec = svc.get("spec");
    let list: Vec<String> = arr_at(spec, "clusterIPs").iter().filter_map(Value::as_str).map(str::to_string).collect();
    if !list.is_empty() {
        return list;
    }
    str_at(spec, "clusterIP").filter(|s| !s.is_empty()).map(|s| vec![s.to_string()]).unwrap_or_default()
}

fn is_headless(svc: &Value) -> bool {
    cluster_ips(svc).first().is_some_and(|ip| ip == "None")
}

/// Upstream `ExternallyAccessible`: LoadBalancer, NodePort, or ClusterIP with external IPs.
fn externally_accessible(svc_type: &str, spec: Option<&Value>) -> bool {
    matches!(svc_type, "LoadBalancer" | "NodePort")
        || (svc_type == "ClusterIP" && !arr_at(spec, "externalIPs").is_empty())
}

fn service(svc: &Value) -> Vec<FieldError> {
    let spec = svc.get("spec");
    let svc_type = str_at(spec, "type").unwrap_or_default();
    let ports = arr_at(spec, "ports");
    let headless = is_headless(svc);
    let ips = cluster_ips(svc);
    let mut errs = Vec::new();
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" => {
            for (i, p) in ports.iter().enumerate() {
                if svc_type == "LoadBalancer" && int_at(Some(p), "port") == Some(10250) {
                    let msg = "may not expose port 10250 externally since it is used by kubelet";
                    errs.push(FieldError::invalid(format!("spec.ports[{i}]"), 10250, msg));
                }
            }
            if headless {
                let msg = format!("may not be set to 'None' for {svc_type} services");
                errs.push(FieldError::invalid("spec.clusterIPs[0]", "None", msg));
            }
        }
        "ExternalName" => {
            if !ips.is_empty() {
                errs.push(FieldError::forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            }
            if !arr_at(spec, "ipFamilies").is_empty() {
                errs.push(FieldError::forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
            }
            if spec.and_then(|s| s.get("ipFamilyPolicy")).is_some_and(|v| !v.is_null()) {
                errs.push(FieldError::forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
            }
            let cname = str_at(spec, "externalName").unwrap_or_default().trim_end_matches('.');
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            } else {
                errs.extend(each_invalid("spec.externalName", cname, dns1123_subdomain(cname)));
            }
        }
        _ => {}
    }
    let mut names = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        errs.extend(service_port(p, ports.len() > 1, &mut names, &format!("spec.ports[{i}]")));
    }
    errs.extend(validate_labels(obj_at(spec, "selector"), "spec.selector"));
    let affinity = str_at(spec, "sessionAffinity").unwrap_or_default();
    let config = spec.and_then(|s| s.get("sessionAffinityConfig")).filter(|c| !c.is_null());
    match affinity {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" => {
            let timeout = config.and_then(|c| path(c, &["clientIP", "timeoutSeconds"])).and_then(Value::as_i64);
            match timeout {
                None => errs.push(FieldError::required(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    "when session affinity type is ClientIP",
                )),
                Some(t) if !(1..=86400).contains(&t) => errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                Some(_) => {}
            }
        }
        "None" if config.is_some() => errs
            .push(FieldError::forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")),
        "None" => {}
        other => errs.push(FieldError::not_supported("spec.sessionAffinity", other, &["ClientIP", "None"])),
    }
    for (i, ip) in ips.iter().enumerate() {
        let headless_marker = i == 0 && ip == "None";
        if !headless_marker && !is_ip(ip) {
            errs.push(FieldError::invalid(format!("spec.clusterIPs[{i}]"), ip.as_str(), IP_MSG));
        }
    }
    if let Some(policy) = str_at(spec, "ipFamilyPolicy") {
        let supported = ["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !supported.contains(&policy) {
            errs.push(FieldError::not_supported("spec.ipFamilyPolicy", policy, &supported));
        }
    }
    for (i, fam) in arr_at(spec, "ipFamilies").iter().enumerate() {
        let fam = fam.as_str().unwrap_or_default();
        if !matches!(fam, "IPv4" | "IPv6") {
            errs.push(FieldError::not_supported(format!("spec.ipFamilies[{i}]"), fam, &["IPv4", "IPv6"]));
        }
    }
    for (i, ip) in arr_at(spec, "externalIPs").iter().enumerate() {
        let ip = ip.as_str().unwrap_or_default();
        if !is_ip(ip) {
            errs.push(FieldError::invalid(format!("spec.externalIPs[{i}]"), ip, IP_MSG));
        }
    }
    let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if svc_type.is_empty() {
        errs.push(FieldError::required("spec.type", ""));
    } else if !types.contains(&svc_type) {
        errs.push(FieldError::not_supported("spec.type", svc_type, &types));
    }
    let mut node_ports = Vec::new();
    let mut seen_ports = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let proto = str_at(Some(p), "protocol").unwrap_or_default();
        let node_port = int_at(Some(p), "nodePort").unwrap_or(0);
        if svc_type == "ClusterIP" && node_port != 0 {
            errs.push(FieldError::forbidden(
                format!("spec.ports[{i}].nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if node_port != 0 {
            if node_ports.contains(&(proto, node_port)) {
                errs.push(FieldError::duplicate(format!("spec.ports[{i}].nodePort"), node_port));
            }
            node_ports.push((proto, node_port));
        }
        let port = int_at(Some(p), "port").unwrap_or(0);
        if seen_ports.contains(&(proto, port)) {
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}]"),
                serde_json::json!({"protocol": proto, "port": port}),
            ));
        }
        seen_ports.push((proto, port));
    }
    if !arr_at(spec, "loadBalancerSourceRanges").is_empty() && svc_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    let allocate = spec.and_then(|s| s.get("allocateLoadBalancerNodePorts")).filter(|v| !v.is_null());
    if allocate.is_some() && svc_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if svc_type == "LoadBalancer" && allocate.is_none() {
        // Upstream reports this one without the `spec.` prefix.
        errs.push(FieldError::required("allocateLoadBalancerNodePorts", ""));
    }
    errs.extend(traffic_policies(svc_type, spec));
    errs
}

fn service_port(p: &Value, require_name: bool, names: &mut Vec<String>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(Some(p), "name").unwrap_or_default();
    if require_name && name.is_empty() {
        errs.push(FieldError::required(format!("{field}.name"), ""));
    } else if !name.is_empty() {
        errs.extend(each_invalid(&format!("{field}.name"), name, dns1123_label(name)));
        if names.iter().any(|n| n == name) {
            errs.push(FieldError::duplicate(format!("{field}.name"), name));
        } else {
            names.push(name.to_string());
        }
    }
    let port = int_at(Some(p), "port").unwrap_or(0);
    if !(1..=65535).contains(&port) {
        errs.push(port_range_error(&format!("{field}.port"), port));
    }
    errs.extend(super::container::protocol(str_at(Some(p), "protocol"), &format!("{field}.protocol")));
    errs.extend(port_num_or_name(p.get("targetPort"), &format!("{field}.targetPort")));
    if let Some(app) = str_at(Some(p), "appProtocol") {
        errs.extend(each_invalid(&format!("{field}.appProtocol"), app, qualified_name(app)));
    }
    errs
}

fn traffic_policies(svc_type: &str, spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let etp = str_at(spec, "externalTrafficPolicy").unwrap_or_default();
    if !externally_accessible(svc_type, spec) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required("spec.externalTrafficPolicy", ""));
    } else if !matches!(etp, "Cluster" | "Local") {
        errs.push(FieldError::not_supported("spec.externalTrafficPolicy", etp, &["Cluster", "Local"]));
    }
    let hcnp = int_at(spec, "healthCheckNodePort").unwrap_or(0);
    if svc_type == "LoadBalancer" && etp == "Local" {
        if hcnp == 0 {
            errs.push(FieldError::required("spec.healthCheckNodePort", ""));
        } else if !(1..=65535).contains(&hcnp) {
            errs.push(port_range_error("spec.healthCheckNodePort", hcnp));
        }
    } else if hcnp != 0 {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            hcnp,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    match str_at(spec, "internalTrafficPolicy") {
        None if matches!(svc_type, "ClusterIP" | "NodePort" | "LoadBalancer") => {
            errs.push(FieldError::required("spec.internalTrafficPolicy", ""));
        }
        Some(itp) if !matches!(itp, "Cluster" | "Local") => {
            errs.push(FieldError::not_supported("spec.internalTrafficPolicy", itp, &["Cluster", "Local"]));
        }
        _ => {}
    }
    if let Some(td) = str_at(spec, "trafficDistribution").filter(|t| *t != "PreferClose") {
        errs.push(FieldError::not_supported("spec.trafficDistribution", td, &["PreferClose"]));
    }
    errs
}

/// Upstream `validateUpgradeDowngradeClusterIPs` and the health-check port immutability.
pub(crate) fn validate_service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let t = |v: &Value| str_at(v.get("spec"), "type").unwrap_or_default().to_string();
    if t(new) != "ExternalName" && t(old) != "ExternalName" && !(is_headless(new) && is_headless(old)) {
        let (n, o) = (cluster_ips(new), cluster_ips(old));
        let value = Value::from(n.clone());
        if n.len() == o.len() {
            for (i, ip) in o.iter().enumerate() {
                if *ip != n[i] {
                    errs.push(FieldError::invalid(
                        format!("spec.clusterIPs[{i}]"),
                        value.clone(),
                        "may not change once set",
                    ));
                }
            }
        } else if o.len() > n.len() {
            if n.is_empty() {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    value.clone(),
                    "primary clusterIP can not be unset",
                ));
            } else if n[0] != o[0] {
                errs.push(FieldError::invalid("spec.clusterIPs[0]", value.clone(), "may not change once set"));
            }
            if n.len() == 1 && str_at(new.get("spec"), "ipFamilyPolicy") != Some("SingleStack") {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    value,
                    "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !o.is_empty() && n[0] != o[0] {
            errs.push(FieldError::invalid("spec.clusterIPs[0]", value, "may not change once set"));
        }
    }
    let needs_hc =
        |v: &Value| t(v) == "LoadBalancer" && str_at(v.get("spec"), "externalTrafficPolicy") == Some("Local");
    if needs_hc(new)
        && needs_hc(old)
        && int_at(new.get("spec"), "healthCheckNodePort") != int_at(old.get("spec"), "healthCheckNodePort")
    {
        errs.push(FieldError::forbidden("spec.healthCheckNodePort", IMMUTABLE_MSG));
    }
    errs
}

/// Decoded length of a base64 string (padding aware), without decoding it.
fn base64_len(s: &str) -> usize {
    let trimmed = s.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

fn config_map(cm: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data = obj_at(Some(cm), "data");
    let binary = obj_at(Some(cm), "binaryData");
    let mut total = 0;
    for (k, v) in data.into_iter().flatten() {
        errs.extend(each_invalid(&format!("data[{k}]"), k, config_map_key(k)));
        if binary.is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(format!("data[{k}]"), k.as_str(), "duplicate of key present in binaryData"));
        }
        total += v.as_str().map_or(0, str::len);
    }
    for (k, v) in binary.into_iter().flatten() {
        errs.extend(each_invalid(&format!("binaryData[{k}]"), k, config_map_key(k)));
        total += v.as_str().map_or(0, base64_len);
    }
    if total > MAX_SECRET_SIZE {
        // Upstream reports the whole object, with an empty field path.
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

fn secret(s: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data = obj_at(Some(s), "data");
    // `stringData` is merged into `data` before upstream validates, so check it alike.
    let string_data = obj_at(Some(s), "stringData");
    let mut total = 0;
    let mut keys: Vec<&String> = Vec::new();
    for (k, v) in data.into_iter().flatten() {
        total += v.as_str().map_or(0, base64_len);
        keys.push(k);
    }
    for (k, v) in string_data.into_iter().flatten() {
        total += v.as_str().map_or(0, str::len);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for k in &keys {
        errs.extend(each_invalid(&format!("data[{k}]"), k, config_map_key(k)));
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has = |k: &str| keys.iter().any(|x| x.as_str() == k);
    match str_at(Some(s), "type").unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let name = str_at(path(s, &["metadata", "annotations"]), "kubernetes.io/service-account.name");
            if name.unwrap_or_default().is_empty() {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => errs.push(FieldError::required("data[.dockercfg]", "")),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(FieldError::required("data[.dockerconfigjson]", ""));
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[username]", ""));
            errs.push(FieldError::required("data[password]", ""));
        }
        "kubernetes.io/ssh-auth" => {
            let empty = data.and_then(|d| d.get("ssh-privatekey")).and_then(Value::as_str).is_none_or(str::is_empty)
                && string_data.and_then(|d| d.get("ssh-privatekey")).and_then(Value::as_str).is_none_or(str::is_empty);
            if empty {
                errs.push(FieldError::required("data[ssh-privatekey]", ""));
            }
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(format!("data[{key}]"), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// `immutable: true` freezes `data`/`binaryData` and the flag itself; a Secret's type never changes.
pub(crate) fn validate_immutable_data(kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if kind == "Secret" {
        let (nt, ot) = (str_at(Some(new), "type").unwrap_or_default(), str_at(Some(old), "type").unwrap_or_default());
        if nt != ot {
            errs.push(FieldError::invalid("type", nt, IMMUTABLE_MSG));
        }
    }
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if new.get("immutable").and_then(Value::as_bool) != Some(true) {
            errs.push(FieldError::forbidden("immutable", IMMUTABLE_WHEN_SET));
        }
        let fields: &[&str] = if kind == "Secret" { &["data"] } else { &["data", "binaryData"] };
        for f in fields {
            let norm = |v: &Value| obj_at(Some(v), f).cloned().unwrap_or_default();
            if norm(new) != norm(old) {
                errs.push(FieldError::forbidden(*f, IMMUTABLE_WHEN_SET));
            }
        }
    }
    errs
}

fn namespace(ns: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for f in arr_at(ns.get("spec"), "finalizers").iter().filter_map(Value::as_str) {
        errs.extend(each_invalid("spec.finalizers", f, qualified_name(f)));
        if !f.contains('/') && !matches!(f, "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(FieldError::invalid(
                "spec.finalizers",
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

fn endpoints(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ss) in arr_at(Some(obj), "subsets").iter().enumerate() {
        let p = format!("subsets[{i}]");
        let (ready, not_ready) = (arr_at(Some(ss), "addresses"), arr_at(Some(ss), "notReadyAddresses"));
        if ready.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(&p, "must specify `addresses` or `notReadyAddresses`"));
        }
        for (list, addrs) in [("addresses", ready), ("notReadyAddresses", not_ready)] {
            for (j, a) in addrs.iter().enumerate() {
                let ip = str_at(Some(a), "ip").unwrap_or_default();
                if !is_ip(ip) {
                    errs.push(FieldError::invalid(format!("{p}.{list}[{j}].ip"), ip, IP_MSG));
                }
                if let Some(h) = str_at(Some(a), "hostname").filter(|h| !h.is_empty()) {
                    errs.extend(each_invalid(&format!("{p}.{list}[{j}].hostname"), h, dns1123_label(h)));
                }
            }
        }
        let ports = arr_at(Some(ss), "ports");
        for (j, port) in ports.iter().enumerate() {
            let pp = format!("{p}.ports[{j}]");
            let name = str_at(Some(port), "name").unwrap_or_default();
            if ports.len() > 1 && name.is_empty() {
                errs.push(FieldError::required(format!("{pp}.name"), ""));
            } else if !name.is_empty() {
                errs.extend(each_invalid(&format!("{pp}.name"), name, dns1123_label(name)));
            }
            let num = int_at(Some(port), "port").unwrap_or(0);
            if !(1..=65535).contains(&num) {
                errs.push(port_range_error(&format!("{pp}.port"), num));
            }
            errs.extend(super::container::protocol(str_at(Some(port), "protocol"), &format!("{pp}.protocol")));
        }
    }
    errs
}

fn node(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for (i, t) in arr_at(obj.get("spec"), "taints").iter().enumerate() {
        // Upstream roots taint paths at `metadata`.
        let p = format!("metadata.taints[{i}]");
        let key = str_at(Some(t), "key").unwrap_or_default();
        errs.extend(each_invalid(&format!("{p}.key"), key, qualified_name(key)));
        let value = str_at(Some(t), "value").unwrap_or_default();
        let msgs = super::meta::label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.value"), value, msgs.join(";")));
        }
        let effect = str_at(Some(t), "effect").unwrap_or_default();
        let effects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
        if effect.is_empty() {
            errs.push(FieldError::required(format!("{p}.effect"), ""));
        } else if !effects.contains(&effect) {
            errs.push(FieldError::not_supported(format!("{p}.effect"), effect, &effects));
        }
        let pair = (key.to_string(), effect.to_string());
        if seen.contains(&pair) {
            let mut e = FieldError::duplicate(&p, t.clone());
            e.message = "taints must be unique by key and effect pair".into();
            errs.push(e);
        } else {
            seen.push(pair);
        }
    }
    errs
}

/// Node updates may not change `podCIDRs` or `providerID` once set.
pub(crate) fn validate_node_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let cidrs = |v: &Value| arr_at(v.get("spec"), "podCIDRs").to_vec();
    if !cidrs(old).is_empty() && cidrs(old) != cidrs(new) {
        errs.push(FieldError::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let pid = |v: &Value| str_at(v.get("spec"), "providerID").unwrap_or_default().to_string();
    if !pid(old).is_empty() && pid(old) != pid(new) {
        errs.push(FieldError::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    errs
}
