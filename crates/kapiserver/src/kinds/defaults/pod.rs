//! Pod spec, container, probe and volume defaults (upstream `SetDefaults_PodSpec` & co).

use serde_json::{Map, Value, json};

use super::{child, default_key, default_str, for_each_obj};

/// Container lists that get container defaults.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Pod-only defaults (`SetDefaults_Pod`) plus the pod spec defaults.
pub(super) fn pod(pod: &mut Map<String, Value>) {
    let Some(spec) = child(pod, "spec") else { return };
    for list in ["containers", "initContainers"] {
        for_each_obj(spec, list, requests_from_limits);
    }
    default_key(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for list in ["containers", "initContainers"] {
            for_each_obj(spec, list, |c| for_each_obj(c, "ports", host_port_from_container_port));
        }
    }
    pod_spec(spec);
}

/// Defaults of a pod template (`PodTemplateSpec`): the spec defaults, not the pod-only ones.
pub(super) fn template(parent: &mut Map<String, Value>, key: &str) {
    if let Some(spec) = child(parent, key).and_then(|t| child(t, "spec")) {
        pod_spec(spec);
    }
}

fn requests_from_limits(ctr: &mut Map<String, Value>) {
    let Some(res) = ctr.get_mut("resources").and_then(Value::as_object_mut) else { return };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else { return };
    let Some(requests) = child(res, "requests") else { return };
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

fn host_port_from_container_port(port: &mut Map<String, Value>) {
    let host = port.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
    if host == 0 {
        if let Some(cp) = port.get("containerPort").cloned() {
            port.insert("hostPort".into(), cp);
        }
    }
}

/// `SetDefaults_PodSpec` and the defaults of everything nested in a pod spec.
pub(super) fn pod_spec(spec: &mut Map<String, Value>) {
    default_str(spec, "dnsPolicy", "ClusterFirst");
    default_str(spec, "restartPolicy", "Always");
    default_key(spec, "securityContext", json!({}));
    default_key(spec, "terminationGracePeriodSeconds", json!(30));
    default_str(spec, "schedulerName", "default-scheduler");
    for list in CONTAINER_LISTS {
        for_each_obj(spec, list, container);
    }
    for_each_obj(spec, "volumes", volume);
}

/// `SetDefaults_Container`: pull policy by tag, termination message, ports, probes, env.
fn container(ctr: &mut Map<String, Value>) {
    if ctr.get("imagePullPolicy").and_then(Value::as_str).unwrap_or_default().is_empty() {
        let image = ctr.get("image").and_then(Value::as_str).unwrap_or_default();
        let policy = if image_tag_is_latest(image) { "Always" } else { "IfNotPresent" };
        ctr.insert("imagePullPolicy".into(), json!(policy));
    }
    default_str(ctr, "terminationMessagePath", "/dev/termination-log");
    default_str(ctr, "terminationMessagePolicy", "File");
    for_each_obj(ctr, "ports", |p| default_str(p, "protocol", "TCP"));
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = ctr.get_mut(key).and_then(Value::as_object_mut) {
            probe(p);
        }
    }
    if let Some(lc) = ctr.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get_mut(hook).and_then(Value::as_object_mut) {
                handler(h);
            }
        }
    }
    for_each_obj(ctr, "env", |e| {
        if let Some(fr) = e.get_mut("valueFrom").and_then(Value::as_object_mut).and_then(|v| child(v, "fieldRef")) {
            default_str(fr, "apiVersion", "v1");
        }
    });
}

/// Whether upstream's `ParseImageName` yields the tag `latest`: an explicit `:latest`, or no
/// tag and no digest. Unparseable references yield no tag.
pub(super) fn image_tag_is_latest(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // Path components (after an optional registry host) must be lowercase to parse.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if repo.is_empty() || path.bytes().any(|b| b.is_ascii_uppercase()) || tag == Some("") {
        return false;
    }
    match tag {
        Some(t) => t == "latest",
        None => digest.is_none(),
    }
}

/// `SetDefaults_Probe` plus its handler's defaults.
fn probe(p: &mut Map<String, Value>) {
    for (key, v) in [("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1), ("failureThreshold", 3)] {
        if p.get(key).and_then(Value::as_i64).unwrap_or(0) == 0 {
            p.insert(key.into(), json!(v));
        }
    }
    handler(p);
    if let Some(grpc) = p.get_mut("grpc").and_then(Value::as_object_mut) {
        default_key(grpc, "service", json!(""));
    }
}

/// `SetDefaults_HTTPGetAction`.
fn handler(h: &mut Map<String, Value>) {
    if let Some(get) = h.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_str(get, "path", "/");
        default_str(get, "scheme", "HTTP");
    }
}

/// `SetDefaults_Volume` and the per-source defaults.
pub(super) fn volume(vol: &mut Map<String, Value>) {
    if vol.iter().all(|(k, v)| k == "name" || v.is_null()) {
        vol.insert("emptyDir".into(), json!({}));
    }
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(src) = vol.get_mut(key).and_then(Value::as_object_mut) {
            default_key(src, "defaultMode", json!(420));
        }
    }
    if let Some(d) = vol.get_mut("downwardAPI").and_then(Value::as_object_mut) {
        downward_items(d);
    }
    if let Some(p) = vol.get_mut("projected").and_then(Value::as_object_mut) {
        for_each_obj(p, "sources", |s| {
            if let Some(t) = s.get_mut("serviceAccountToken").and_then(Value::as_object_mut) {
                default_key(t, "expirationSeconds", json!(3600));
            }
            if let Some(d) = s.get_mut("downwardAPI").and_then(Value::as_object_mut) {
                downward_items(d);
            }
        });
    }
    if let Some(h) = vol.get_mut("hostPath").and_then(Value::as_object_mut) {
        default_key(h, "type", json!(""));
    }
    if let Some(spec) = vol
        .get_mut("ephemeral")
        .and_then(Value::as_object_mut)
        .and_then(|e| e.get_mut("volumeClaimTemplate"))
        .and_then(Value::as_object_mut)
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        default_key(spec, "volumeMode", json!("Filesystem"));
    }
    legacy_sources(vol);
}

fn downward_items(d: &mut Map<String, Value>) {
    for_each_obj(d, "items", |item| {
        if let Some(fr) = item.get_mut("fieldRef").and_then(Value::as_object_mut) {
            default_str(fr, "apiVersion", "v1");
        }
    });
}

/// Declarative defaults of in-tree volume sources (also used for PV sources).
pub(super) fn legacy_sources(src: &mut Map<String, Value>) {
    if let Some(rbd) = src.get_mut("rbd").and_then(Value::as_object_mut) {
        default_str(rbd, "pool", "rbd");
        default_str(rbd, "user", "admin");
        default_str(rbd, "keyring", "/etc/ceph/keyring");
    }
    if let Some(iscsi) = src.get_mut("iscsi").and_then(Value::as_object_mut) {
        default_str(iscsi, "iscsiInterface", "default");
    }
    if let Some(disk) = src.get_mut("azureDisk").and_then(Value::as_object_mut) {
        default_key(disk, "cachingMode", json!("ReadWrite"));
        default_key(disk, "fsType", json!("ext4"));
        default_key(disk, "readOnly", json!(false));
        default_key(disk, "kind", json!("Shared"));
    }
    if let Some(sio) = src.get_mut("scaleIO").and_then(Value::as_object_mut) {
        default_str(sio, "storageMode", "ThinProvisioned");
        default_str(sio, "fsType", "xfs");
    }
}
