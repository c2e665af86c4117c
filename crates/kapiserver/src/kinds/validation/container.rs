//! Container and volume rules of upstream `ValidatePodSpec`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::FieldError;
use super::access::{arr_at, int_at, obj_at, str_at};
use super::meta::{
    config_map_key, dns1123_label, dns1123_subdomain, each_invalid, env_var_name, nonnegative, port_name,
    port_num_or_name, port_range_error, qualified_name,
};
use super::quantity::{QUANTITY_FORMAT_MSG, parse_value};

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];

/// Volume source keys in upstream's checking order, with the path used when a second one is
/// rejected (upstream misspells `downwardAPI` there).
const VOLUME_SOURCES: [(&str, &str); 30] = [
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// Volumes that passed validation, by name, with whether they are claim-backed.
pub(crate) type VolumeMap = BTreeMap<String, Value>;

/// Upstream `ValidateVolumes`: per-source rules, then name and uniqueness.
pub(crate) fn validate_volumes(volumes: &[Value], field: &str) -> (VolumeMap, Vec<FieldError>) {
    let mut names = VolumeMap::new();
    let mut errs = Vec::new();
    for (i, vol) in volumes.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let name = str_at(Some(vol), "name").unwrap_or_default();
        let mut el = volume_source(vol, &path);
        if name.is_empty() {
            el.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            el.extend(each_invalid(&format!("{path}.name"), name, dns1123_label(name)));
        }
        if names.contains_key(name) {
            el.push(FieldError::duplicate(format!("{path}.name"), name));
        }
        if el.is_empty() {
            names.insert(name.to_string(), vol.clone());
        } else {
            errs.extend(el);
        }
    }
    (names, errs)
}

fn file_mode(obj: Option<&Value>, key: &str, field: String) -> Vec<FieldError> {
    match int_at(obj, key) {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(field, m, FILE_MODE_MSG)],
        _ => Vec::new(),
    }
}

fn key_to_paths(src: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, item) in arr_at(src, "items").iter().enumerate() {
        let p = format!("{field}.items[{i}]");
        if str_at(Some(item), "key").unwrap_or_default().is_empty() {
            errs.push(FieldError::required(format!("{p}.key"), ""));
        }
        let target = str_at(Some(item), "path").unwrap_or_default();
        if target.is_empty() {
            errs.push(FieldError::required(format!("{p}.path"), ""));
        }
        errs.extend(local_non_reserved_path(target, &format!("{p}.path")));
        errs.extend(file_mode(Some(item), "mode", format!("{p}.mode")));
    }
    errs
}

/// Upstream `validateLocalDescendingPath` plus the `..` prefix rule.
fn local_non_reserved_path(target: &str, field: &str) -> Vec<FieldError> {
    let mut errs = local_descending_path(target, field);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(field, target, "must not start with '..'"));
    }
    errs
}

fn local_descending_path(target: &str, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(field, target, "must be a relative path"));
    }
    errs.extend(no_backsteps(target, field));
    errs
}

fn no_backsteps(target: &str, field: &str) -> Vec<FieldError> {
    if target.split('/').any(|p| p == "..") {
        vec![FieldError::invalid(field, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

fn volume_source(vol: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for (key, reject_path) in VOLUME_SOURCES {
        let Some(src) = vol.get(key).filter(|v| !v.is_null()) else { continue };
        if count > 0 {
            errs.push(FieldError::forbidden(
                format!("{path}.{reject_path}"),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let p = format!("{path}.{key}");
        let src = Some(src);
        match key {
            "hostPath" => {
                let host = str_at(src, "path").unwrap_or_default();
                if host.is_empty() {
                    errs.push(FieldError::required(format!("{p}.path"), ""));
                } else {
                    errs.extend(no_backsteps(host, &format!("{p}.path")));
                    errs.extend(host_path_type(str_at(src, "type"), &format!("{p}.type")));
                }
            }
            "secret" | "configMap" => {
                let name_key = if key == "secret" { "secretName" } else { "name" };
                if str_at(src, name_key).unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("{p}.{name_key}"), ""));
                }
                errs.extend(file_mode(src, "defaultMode", format!("{p}.defaultMode")));
                errs.extend(key_to_paths(src, &p));
            }
            "persistentVolumeClaim" if str_at(src, "claimName").unwrap_or_default().is_empty() => {
                errs.push(FieldError::required(format!("{p}.claimName"), ""));
            }
            "nfs" => {
                let server = str_at(src, "server").unwrap_or_default();
                let nfs_path = str_at(src, "path").unwrap_or_default();
                if server.is_empty() {
                    errs.push(FieldError::required(format!("{p}.server"), ""));
                }
                if nfs_path.is_empty() {
                    errs.push(FieldError::required(format!("{p}.path"), ""));
                }
                if !nfs_path.starts_with('/') {
                    errs.push(FieldError::invalid(format!("{p}.path"), nfs_path, "must be an absolute path"));
                }
            }
            "downwardAPI" => {
                errs.extend(file_mode(src, "defaultMode", format!("{p}.defaultMode")));
                for item in arr_at(src, "items") {
                    errs.extend(downward_api_file(item, &p));
                }
            }
            "projected" => {
                errs.extend(file_mode(src, "defaultMode", format!("{p}.defaultMode")));
                errs.extend(projected_sources(src, &p));
            }
            "csi" if str_at(src, "driver").unwrap_or_default().is_empty() => {
                errs.push(FieldError::required(format!("{p}.driver"), ""));
            }
            "ephemeral" if src.and_then(|s| s.get("volumeClaimTemplate")).is_none() => {
                errs.push(FieldError::required(format!("{p}.volumeClaimTemplate"), ""));
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn host_path_type(t: Option<&str>, field: &str) -> Vec<FieldError> {
    const TYPES: [&str; 8] =
        ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"];
    match t {
        Some(t) if !TYPES.contains(&t) => vec![FieldError::not_supported(field, t, &TYPES)],
        _ => Vec::new(),
    }
}

fn downward_api_file(item: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let target = str_at(Some(item), "path").unwrap_or_default();
    if target.is_empty() {
        errs.push(FieldError::required(format!("{field}.path"), ""));
    }
    errs.extend(local_non_reserved_path(target, &format!("{field}.path")));
    match (item.get("fieldRef"), item.get("resourceFieldRef")) {
        (Some(fr), rfr) => {
            if str_at(Some(fr), "fieldPath").unwrap_or_default().is_empty() {
                errs.push(FieldError::required(format!("{field}.fieldRef.fieldPath"), ""));
            }
            if rfr.is_some() {
                errs.push(FieldError::invalid(
                    field,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(_)) => {}
        (None, None) => errs.push(FieldError::required(field, "one of fieldRef and resourceFieldRef is required")),
    }
    errs.extend(file_mode(Some(item), "mode", format!("{field}.mode")));
    errs
}

fn projected_sources(src: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, source) in arr_at(src, "sources").iter().enumerate() {
        let sp = format!("{field}.sources[{i}]");
        let mut n = 0;
        for kind in ["secret", "configMap"] {
            if let Some(s) = source.get(kind) {
                n += 1;
                if str_at(Some(s), "name").unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("{sp}.{kind}.name"), ""));
                }
                errs.extend(key_to_paths(Some(s), &format!("{sp}.{kind}")));
            }
        }
        if let Some(d) = source.get("downwardAPI") {
            n += 1;
            for item in arr_at(Some(d), "items") {
                errs.extend(downward_api_file(item, &format!("{sp}.downwardAPI")));
            }
        }
        if let Some(t) = source.get("serviceAccountToken") {
            n += 1;
            let secs = int_at(Some(t), "expirationSeconds").unwrap_or(3600);
            let ep = format!("{sp}.serviceAccountToken.expirationSeconds");
            if secs < 600 {
                errs.push(FieldError::invalid(&ep, secs, "may not specify a duration less than 10 minutes"));
            }
            if secs > 1 << 32 {
                errs.push(FieldError::invalid(&ep, secs, "may not specify a duration larger than 2^32 seconds"));
            }
            let token_path = str_at(Some(t), "path").unwrap_or_default();
            if token_path.is_empty() {
                errs.push(FieldError::required(format!("{field}.path"), ""));
            } else {
                errs.extend(local_non_reserved_path(token_path, &format!("{field}.path")));
            }
        }
        if source.get("clusterTrustBundle").is_some() {
            n += 1;
        }
        if n > 1 {
            errs.push(FieldError::forbidden(sp, "may not specify more than 1 volume type"));
        }
    }
    errs
}

/// Upstream `validateContainerCommon`: the rules shared by regular and init containers.
pub(crate) fn container_common(ctr: &Value, volumes: &VolumeMap, path: &str) -> Vec<FieldError> {
    let c = Some(ctr);
    let mut errs = Vec::new();
    let name = str_at(c, "name").unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        errs.extend(each_invalid(&format!("{path}.name"), name, dns1123_label(name)));
    }
    if str_at(c, "image").unwrap_or_default().is_empty() {
        errs.push(FieldError::required(format!("{path}.image"), ""));
    }
    let tmp = format!("{path}.terminationMessagePolicy");
    match str_at(c, "terminationMessagePolicy").unwrap_or_default() {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(tmp, "")),
        other => errs.push(FieldError::not_supported(tmp, other, &["File", "FallbackToLogsOnError"])),
    }
    errs.extend(container_ports(arr_at(c, "ports"), &format!("{path}.ports")));
    errs.extend(env(ctr, path));
    errs.extend(volume_mounts(arr_at(c, "volumeMounts"), volumes, &format!("{path}.volumeMounts")));
    let pp = format!("{path}.imagePullPolicy");
    match str_at(c, "imagePullPolicy").unwrap_or_default() {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(pp, "")),
        other => errs.push(FieldError::not_supported(pp, other, &["Always", "IfNotPresent", "Never"])),
    }
    errs.extend(resources(ctr.get("resources"), &format!("{path}.resources")));
    errs
}

fn container_ports(ports: &[Value], field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("{field}[{i}]");
        let pt = Some(port);
        if let Some(name) = str_at(pt, "name").filter(|n| !n.is_empty()) {
            let msgs = port_name(name);
            if !msgs.is_empty() {
                errs.extend(each_invalid(&format!("{p}.name"), name, msgs));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(format!("{p}.name"), name));
            }
        }
        match int_at(pt, "containerPort").unwrap_or(0) {
            0 => errs.push(FieldError::required(format!("{p}.containerPort"), "")),
            n if !(1..=65535).contains(&n) => errs.push(port_range_error(&format!("{p}.containerPort"), n)),
            _ => {}
        }
        match int_at(pt, "hostPort").unwrap_or(0) {
            0 => {}
            n if !(1..=65535).contains(&n) => errs.push(port_range_error(&format!("{p}.hostPort"), n)),
            _ => {}
        }
        errs.extend(protocol(str_at(pt, "protocol"), &format!("{p}.protocol")));
    }
    errs
}

/// Required + one of `SCTP`, `TCP`, `UDP`.
pub(crate) fn protocol(value: Option<&str>, field: &str) -> Vec<FieldError> {
    match value.unwrap_or_default() {
        "" => vec![FieldError::required(field, "")],
        p if !PROTOCOLS.contains(&p) => vec![FieldError::not_supported(field, p, &PROTOCOLS)],
        _ => Vec::new(),
    }
}

fn env(ctr: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in arr_at(Some(ctr), "env").iter().enumerate() {
        let p = format!("{path}.env[{i}]");
        let name = str_at(Some(ev), "name").unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            errs.extend(each_invalid(&format!("{p}.name"), name, env_var_name(name)));
        }
        if let Some(from) = ev.get("valueFrom") {
            let vp = format!("{p}.valueFrom");
            let sources = ["fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"];
            let n = sources.iter().filter(|k| from.get(**k).is_some()).count();
            for kind in ["configMapKeyRef", "secretKeyRef"] {
                if let Some(sel) = from.get(kind) {
                    let key = str_at(Some(sel), "key").unwrap_or_default();
                    if key.is_empty() {
                        errs.push(FieldError::required(format!("{vp}.{kind}.key"), ""));
                    } else {
                        errs.extend(each_invalid(&format!("{vp}.{kind}.key"), key, config_map_key(key)));
                    }
                }
            }
            if n == 0 {
                let msg = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`";
                errs.push(FieldError::invalid(vp, "", msg));
            } else if !str_at(Some(ev), "value").unwrap_or_default().is_empty() {
                errs.push(FieldError::invalid(vp, "", "may not be specified when `value` is not empty"));
            } else if n > 1 {
                errs.push(FieldError::invalid(vp, "", "may not have more than one field specified at a time"));
            }
        }
    }
    for (i, ef) in arr_at(Some(ctr), "envFrom").iter().enumerate() {
        let p = format!("{path}.envFrom[{i}]");
        if let Some(prefix) = str_at(Some(ef), "prefix").filter(|s| !s.is_empty()) {
            errs.extend(each_invalid(&format!("{p}.prefix"), prefix, env_var_name(prefix)));
        }
        let n = ["configMapRef", "secretRef"].iter().filter(|k| ef.get(**k).is_some()).count();
        if n == 0 {
            let msg = "must specify one of: `configMapRef` or `secretRef`";
            errs.push(FieldError::invalid(format!("{path}.envFrom"), "", msg));
        } else if n > 1 {
            let msg = "may not have more than one field specified at a time";
            errs.push(FieldError::invalid(format!("{path}.envFrom"), "", msg));
        }
    }
    errs
}

fn volume_mounts(mounts: &[Value], volumes: &VolumeMap, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = format!("{field}[{i}]");
        let name = str_at(Some(m), "name").unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        if !volumes.contains_key(name) {
            errs.push(FieldError::not_found(format!("{p}.name"), name));
        }
        let mount_path = str_at(Some(m), "mountPath").unwrap_or_default();
        if mount_path.is_empty() {
            errs.push(FieldError::required(format!("{p}.mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            errs.push(FieldError::invalid(format!("{p}.mountPath"), mount_path, "must be unique"));
        }
        // Upstream reports subPath problems on the list path, not the item path.
        if let Some(sub) = str_at(Some(m), "subPath").filter(|s| !s.is_empty()) {
            errs.extend(local_descending_path(sub, &format!("{field}.subPath")));
        }
    }
    errs
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn container_resource_name(name: &str, field: &str) -> Vec<FieldError> {
    let mut errs = each_invalid(field, name, qualified_name(name));
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        let standard = [
            "cpu",
            "memory",
            "ephemeral-storage",
            "requests.cpu",
            "requests.memory",
            "requests.ephemeral-storage",
            "limits.cpu",
            "limits.memory",
            "limits.ephemeral-storage",
            "pods",
            "services",
            "replicationcontrollers",
            "resourcequotas",
            "secrets",
            "configmaps",
            "persistentvolumeclaims",
            "storage",
            "requests.storage",
            "services.nodeports",
            "services.loadbalancers",
        ];
        if !standard.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(field, name, "must be a standard resource type or fully qualified"));
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(field, name, "must be a standard resource for containers"));
        }
    }
    errs
}

/// Upstream `ValidateResourceRequirements` (names, quantities, requests versus limits).
pub(crate) fn resources(res: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (lim_path, req_path) = (format!("{field}.limits"), format!("{field}.requests"));
    let limits = obj_at(res, "limits");
    let mut parsed_limits = BTreeMap::new();
    for (name, q) in limits.into_iter().flatten() {
        let p = format!("{lim_path}[{name}]");
        errs.extend(container_resource_name(name, &p));
        errs.extend(quantity_value(name, q, &p));
        if let Some(v) = parse_value(q) {
            parsed_limits.insert(name.as_str(), (v, raw(q)));
        }
    }
    for (name, q) in obj_at(res, "requests").into_iter().flatten() {
        let p = format!("{req_path}[{name}]");
        errs.extend(container_resource_name(name, &p));
        errs.extend(quantity_value(name, q, &p));
        let Some(req) = parse_value(q) else { continue };
        let overcommit = is_native(name) && !is_hugepages(name);
        match parsed_limits.get(name.as_str()) {
            Some((lim, lim_raw)) if req != *lim && !overcommit => {
                errs.push(FieldError::invalid(&req_path, raw(q), format!("must be equal to {name} limit of {lim_raw}")))
            }
            Some((lim, lim_raw)) if req > *lim => errs.push(FieldError::invalid(
                &req_path,
                raw(q),
                format!("must be less than or equal to {name} limit of {lim_raw}"),
            )),
            None if !overcommit && !limits.is_some_and(|l| l.contains_key(name)) => {
                errs.push(FieldError::required(&lim_path, "Limit must be set for non overcommitable resources"));
            }
            _ => {}
        }
    }
    errs
}

fn raw(q: &Value) -> String {
    q.as_str().map_or_else(|| q.to_string(), str::to_string)
}

fn quantity_value(name: &str, q: &Value, field: &str) -> Vec<FieldError> {
    match parse_value(q) {
        None => vec![FieldError::invalid(field, raw(q), QUANTITY_FORMAT_MSG)],
        Some(v) if v < 0 => vec![FieldError::invalid(field, raw(q), super::meta::NEGATIVE_MSG)],
        // Extended resources count whole devices.
        Some(v) if !is_native(name) && v % 1_000_000_000 != 0 => {
            vec![FieldError::invalid(field, raw(q), "must be an integer")]
        }
        Some(_) => Vec::new(),
    }
}

/// Upstream `validateProbe` plus the liveness/startup `successThreshold` rule.
pub(crate) fn probe(p: Option<&Value>, field: &str, must_succeed_once: bool) -> Vec<FieldError> {
    let Some(pr) = p.filter(|v| !v.is_null()) else { return Vec::new() };
    let mut errs = handler(pr, field, &["exec", "httpGet", "tcpSocket", "grpc"]);
    for key in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errs.extend(nonnegative(Some(pr), key, &format!("{field}.{key}")));
    }
    if let Some(t) = int_at(Some(pr), "terminationGracePeriodSeconds").filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(format!("{field}.terminationGracePeriodSeconds"), t, "must be greater than 0"));
    }
    let success = int_at(Some(pr), "successThreshold").unwrap_or(0);
    if must_succeed_once && success != 1 {
        errs.push(FieldError::invalid(format!("{field}.successThreshold"), success, "must be 1"));
    }
    errs
}

/// Upstream `validateHandler`: exactly one handler type among `kinds`.
pub(crate) fn handler(h: &Value, field: &str, kinds: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    for kind in kinds {
        let Some(action) = h.get(*kind) else { continue };
        let p = format!("{field}.{kind}");
        if n > 0 {
            errs.push(FieldError::forbidden(p, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *kind {
            "exec" if arr_at(Some(action), "command").is_empty() => {
                errs.push(FieldError::required(format!("{p}.command"), ""));
            }
            "httpGet" => {
                if str_at(Some(action), "path").unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("{p}.path"), ""));
                }
                errs.extend(port_num_or_name(action.get("port"), &format!("{p}.port")));
                let scheme = str_at(Some(action), "scheme").unwrap_or_default();
                if !matches!(scheme, "HTTP" | "HTTPS") {
                    errs.push(FieldError::not_supported(format!("{p}.scheme"), scheme, &["HTTP", "HTTPS"]));
                }
            }
            "tcpSocket" | "grpc" => errs.extend(port_num_or_name(action.get("port"), &format!("{p}.port"))),
            _ => {}
        }
    }
    if n == 0 {
        errs.push(FieldError::required(field, "must specify a handler type"));
    }
    errs
}

/// Upstream `validateLifecycle` for `postStart`/`preStop`.
pub(crate) fn lifecycle(l: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(h) = l.get(hook) {
            errs.extend(handler(h, &format!("{field}.{hook}"), &["exec", "httpGet", "tcpSocket", "sleep"]));
        }
    }
    errs
}

/// Upstream `AccumulateUniqueHostPorts`: `protocol/hostIP/port` must not repeat.
pub(crate) fn host_port_conflicts(containers: &[Value], field: &str) -> Vec<FieldError> {
    let mut seen = BTreeSet::new();
    let mut errs = Vec::new();
    for (ci, ctr) in containers.iter().enumerate() {
        for (pi, port) in arr_at(Some(ctr), "ports").iter().enumerate() {
            let host_port = int_at(Some(port), "hostPort").unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                str_at(Some(port), "protocol").unwrap_or_default(),
                str_at(Some(port), "hostIP").unwrap_or_default(),
                host_port
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(format!("{field}[{ci}].ports[{pi}].hostPort"), key));
            }
        }
    }
    errs
}

/// DNS-1123 subdomain check of an optional reference field (nodeName, serviceAccountName…).
pub(crate) fn subdomain_ref(spec: Option<&Value>, key: &str, field: &str) -> Vec<FieldError> {
    match str_at(spec, key).filter(|s| !s.is_empty()) {
        Some(v) => each_invalid(field, v, dns1123_subdomain(v)),
        None => Vec::new(),
    }
}
