//! Upstream v1 defaulting (Kubernetes 1.33) applied to the JSON form of built-in objects.
//!
//! [`apply_defaults`] is what upstream runs on every decode (`SetDefaults_*` plus declarative
//! `+default` markers), so it is safe to run on every write. [`prepare_for_create`] holds the
//! create-only mutations of the registry strategies (status reset, the namespace finalizer, job
//! selectors), which must not run on updates.

mod pod;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value, json};

/// Applies upstream's defaults for `group`/`kind` to `obj` in place; unknown kinds are untouched.
pub fn apply_defaults(group: &str, kind: &str, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    match (group, kind) {
        ("", "Pod") => pod::pod(o),
        ("", "PodTemplate") => pod::template(o, "template"),
        ("", "ReplicationController") => replication_controller(o),
        ("", "Service") => service(o),
        ("", "Namespace") => namespace(o),
        ("", "Secret") => secret(o),
        ("", "PersistentVolumeClaim") => pvc(o),
        ("", "PersistentVolume") => persistent_volume(o),
        ("", "Endpoints") => {
            for_each_obj(o, "subsets", |ss| for_each_obj(ss, "ports", |p| default_str(p, "protocol", "TCP")));
        }
        ("", "Node") => node(o),
        ("apps", "Deployment") => deployment(o),
        ("apps", "ReplicaSet") => with_spec(o, |s| {
            default_key(s, "replicas", json!(1));
            pod::template(s, "template");
        }),
        ("apps", "StatefulSet") => stateful_set(o),
        ("apps", "DaemonSet") => daemon_set(o),
        ("batch", "Job") => job(o),
        ("batch", "CronJob") => cron_job(o),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(o),
        ("discovery.k8s.io", "EndpointSlice") => for_each_obj(o, "ports", |p| {
            default_key(p, "name", json!(""));
            default_key(p, "protocol", json!("TCP"));
        }),
        ("storage.k8s.io", "StorageClass") => {
            default_key(o, "reclaimPolicy", json!("Delete"));
            default_key(o, "volumeBindingMode", json!("Immediate"));
        }
        ("storage.k8s.io", "CSIDriver") => with_spec(o, |s| {
            default_key(s, "attachRequired", json!(true));
            default_key(s, "podInfoOnMount", json!(false));
            default_key(s, "storageCapacity", json!(false));
            default_key(s, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
            if s.get("volumeLifecycleModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                s.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
            }
            default_key(s, "requiresRepublish", json!(false));
        }),
        ("networking.k8s.io", "NetworkPolicy") => network_policy(o),
        ("networking.k8s.io", "IngressClass") => with_spec(o, |s| {
            if let Some(p) = s.get_mut("parameters").and_then(Value::as_object_mut) {
                default_key(p, "scope", json!("Cluster"));
            }
        }),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => role_binding(o),
        ("scheduling.k8s.io", "PriorityClass") => default_key(o, "preemptionPolicy", json!("PreemptLowerPriority")),
        _ => {}
    }
}

/// Create-only mutations of upstream's registry strategies (`PrepareForCreate`).
///
/// Resets `status` where upstream ignores it on create (workloads, pods get `Pending` and their
/// QoS class, namespaces `Active`), adds the `kubernetes` finalizer to namespaces and generates a
/// Job's selector and pod labels from `metadata.uid` unless `spec.manualSelector` is true. Call it
/// once, after the server has set `metadata.uid`, and before validation.
pub fn prepare_for_create(group: &str, kind: &str, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    match (group, kind) {
        ("", "Namespace") => {
            o.insert("status".into(), json!({"phase": "Active"}));
            if let Some(spec) = child(o, "spec") {
                let finalizers = spec.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(list) = finalizers.as_array_mut() {
                    if !list.iter().any(|f| f == "kubernetes") {
                        list.push(json!("kubernetes"));
                    }
                }
            }
        }
        ("", "Pod") => {
            let qos = pod_qos_class(&Value::Object(o.clone()));
            let mut status = json!({"phase": "Pending", "qosClass": qos});
            let gated = o.get("spec").and_then(|s| s.get("schedulingGates")).and_then(Value::as_array);
            if gated.is_some_and(|g| !g.is_empty()) {
                status["conditions"] = json!([{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates",
                }]);
            }
            o.insert("status".into(), status);
        }
        ("", "ReplicationController") | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            o.insert("status".into(), json!({}));
        }
        ("batch", "Job") => {
            o.insert("status".into(), json!({}));
            job_selector(o);
        }
        ("batch", "CronJob") => {
            o.insert("status".into(), json!({}));
        }
        _ => {}
    }
}

/// The pod's QoS class (`Guaranteed`, `Burstable` or `BestEffort`) as upstream computes it from
/// the cpu and memory requests and limits of its containers and init containers.
pub fn pod_qos_class(pod: &Value) -> &'static str {
    use super::validation::quantity::parse_value;
    use std::collections::BTreeMap;
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let spec = pod.get("spec");
    let lists = ["containers", "initContainers"].map(|l| spec.and_then(|s| s.get(l)).and_then(Value::as_array));
    for ctr in lists.into_iter().flatten().flatten() {
        let mut cpu_limit = false;
        let mut memory_limit = false;
        for (kind, acc) in [("requests", &mut requests), ("limits", &mut limits)] {
            let list = ctr.get("resources").and_then(|r| r.get(kind)).and_then(Value::as_object);
            for (name, q) in list.into_iter().flatten() {
                let name = match name.as_str() {
                    "cpu" => "cpu",
                    "memory" => "memory",
                    _ => continue,
                };
                let v = parse_value(q).unwrap_or(0);
                if v <= 0 {
                    continue;
                }
                *acc.entry(name).or_insert(0) += v;
                if kind == "limits" {
                    cpu_limit |= name == "cpu";
                    memory_limit |= name == "memory";
                }
            }
        }
        guaranteed &= cpu_limit && memory_limit;
    }
    if requests.is_empty() && limits.is_empty() {
        "BestEffort"
    } else if guaranteed && requests.len() == limits.len() && requests.iter().all(|(k, v)| limits.get(k) == Some(v)) {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// `obj[key]` as an object, created when absent or null; `None` when it holds something else.
pub(crate) fn child<'a>(parent: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let entry = parent.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// Sets `key` when it is absent or null (upstream: a nil pointer).
pub(crate) fn default_key(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.into(), value);
    }
}

/// Sets a string `key` when absent, null or empty (upstream: a zero-value string).
pub(crate) fn default_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    let unset = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    if unset {
        map.insert(key.into(), json!(value));
    }
}

/// Calls `f` on each object element of the array `map[key]`.
pub(crate) fn for_each_obj(map: &mut Map<String, Value>, key: &str, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(items) = map.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().filter_map(Value::as_object_mut).for_each(&mut f);
    }
}

fn with_spec(o: &mut Map<String, Value>, f: impl FnOnce(&mut Map<String, Value>)) {
    if let Some(spec) = child(o, "spec") {
        f(spec);
    }
}

fn is_empty_map(v: Option<&Value>) -> bool {
    v.and_then(Value::as_object).is_none_or(Map::is_empty)
}

fn template_labels(spec: &Map<String, Value>) -> Option<Value> {
    spec.get("template")?.get("metadata")?.get("labels").filter(|l| !is_empty_map(Some(l))).cloned()
}

/// Copies the template's labels to `metadata.labels` when those are empty.
fn labels_from_template(o: &mut Map<String, Value>, labels: Option<Value>) {
    if let Some(labels) = labels {
        if let Some(meta) = child(o, "metadata") {
            if is_empty_map(meta.get("labels")) {
                meta.insert("labels".into(), labels);
            }
        }
    }
}

fn replication_controller(o: &mut Map<String, Value>) {
    let labels = o.get("spec").and_then(Value::as_object).and_then(template_labels);
    with_spec(o, |s| {
        if let Some(l) = &labels {
            if is_empty_map(s.get("selector")) {
                s.insert("selector".into(), l.clone());
            }
        }
        default_key(s, "replicas", json!(1));
        if s.get("template").is_some_and(Value::is_object) {
            pod::template(s, "template");
        }
    });
    labels_from_template(o, labels);
}

fn deployment(o: &mut Map<String, Value>) {
    with_spec(o, |s| {
        default_key(s, "replicas", json!(1));
        if let Some(strategy) = child(s, "strategy") {
            default_str(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                if let Some(ru) = child(strategy, "rollingUpdate") {
                    default_key(ru, "maxUnavailable", json!("25%"));
                    default_key(ru, "maxSurge", json!("25%"));
                }
            }
        }
        default_key(s, "revisionHistoryLimit", json!(10));
        default_key(s, "progressDeadlineSeconds", json!(600));
        pod::template(s, "template");
    });
}

fn stateful_set(o: &mut Map<String, Value>) {
    with_spec(o, |s| {
        default_str(s, "podManagementPolicy", "OrderedReady");
        if let Some(us) = child(s, "updateStrategy") {
            if us.get("type").and_then(Value::as_str).unwrap_or_default().is_empty() {
                us.insert("type".into(), json!("RollingUpdate"));
                default_key(us, "rollingUpdate", json!({}));
            }
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                if let Some(ru) = us.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                    default_key(ru, "partition", json!(0));
                }
            }
        }
        if let Some(policy) = child(s, "persistentVolumeClaimRetentionPolicy") {
            default_str(policy, "whenDeleted", "Retain");
            default_str(policy, "whenScaled", "Retain");
        }
        default_key(s, "replicas", json!(1));
        default_key(s, "revisionHistoryLimit", json!(10));
        pod::template(s, "template");
        for_each_obj(s, "volumeClaimTemplates", pvc);
    });
}

fn daemon_set(o: &mut Map<String, Value>) {
    with_spec(o, |s| {
        if let Some(us) = child(s, "updateStrategy") {
            default_str(us, "type", "RollingUpdate");
            if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                if let Some(ru) = child(us, "rollingUpdate") {
                    default_key(ru, "maxUnavailable", json!(1));
                    default_key(ru, "maxSurge", json!(0));
                }
            }
        }
        default_key(s, "revisionHistoryLimit", json!(10));
        pod::template(s, "template");
    });
}

fn pod_failure_policy(spec: &mut Map<String, Value>) {
    if let Some(pfp) = spec.get_mut("podFailurePolicy").and_then(Value::as_object_mut) {
        for_each_obj(pfp, "rules", |r| for_each_obj(r, "onPodConditions", |c| default_str(c, "status", "True")));
    }
}

fn job(o: &mut Map<String, Value>) {
    let labels = o.get("spec").and_then(Value::as_object).and_then(template_labels);
    with_spec(o, |s| {
        let unset = |s: &Map<String, Value>, k: &str| s.get(k).is_none_or(Value::is_null);
        if unset(s, "completions") && unset(s, "parallelism") {
            s.insert("completions".into(), json!(1));
            s.insert("parallelism".into(), json!(1));
        }
        default_key(s, "parallelism", json!(1));
        let per_index = !unset(s, "backoffLimitPerIndex");
        default_key(s, "backoffLimit", json!(if per_index { i64::from(i32::MAX) } else { 6 }));
        default_key(s, "completionMode", json!("NonIndexed"));
        default_key(s, "suspend", json!(false));
        let replacement = if unset(s, "podFailurePolicy") { "TerminatingOrFailed" } else { "Failed" };
        default_key(s, "podReplacementPolicy", json!(replacement));
        default_key(s, "manualSelector", json!(false));
        pod_failure_policy(s);
        pod::template(s, "template");
    });
    labels_from_template(o, labels);
}

fn cron_job(o: &mut Map<String, Value>) {
    with_spec(o, |s| {
        default_str(s, "concurrencyPolicy", "Allow");
        default_key(s, "suspend", json!(false));
        default_key(s, "successfulJobsHistoryLimit", json!(3));
        default_key(s, "failedJobsHistoryLimit", json!(1));
        if let Some(js) = child(s, "jobTemplate").and_then(|t| child(t, "spec")) {
            pod_failure_policy(js);
            pod::template(js, "template");
        }
    });
}

/// Job selector generation (upstream `generateSelector`), keyed on the job's uid.
fn job_selector(o: &mut Map<String, Value>) {
    let uid = o.get("metadata").and_then(|m| m.get("uid")).and_then(Value::as_str).unwrap_or_default().to_string();
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(spec) = child(o, "spec") else { return };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) || uid.is_empty() {
        return;
    }
    if let Some(labels) = child(spec, "template").and_then(|t| child(t, "metadata")).and_then(|m| child(m, "labels")) {
        for (k, v) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            labels.entry(k).or_insert_with(|| json!(v));
        }
    }
    if spec.get("selector").is_none_or(Value::is_null) {
        spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    }
}

fn service(o: &mut Map<String, Value>) {
    let Some(s) = child(o, "spec") else { return };
    default_str(s, "sessionAffinity", "None");
    match s.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            s.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let has_timeout = s
                .get("sessionAffinityConfig")
                .and_then(|c| c.get("clientIP"))
                .and_then(|c| c.get("timeoutSeconds"))
                .is_some_and(|t| !t.is_null());
            if !has_timeout {
                s.insert("sessionAffinityConfig".into(), json!({"clientIP": {"timeoutSeconds": 10800}}));
            }
        }
        _ => {}
    }
    default_str(s, "type", "ClusterIP");
    for_each_obj(s, "ports", |p| {
        default_str(p, "protocol", "TCP");
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(t)) => t.is_empty(),
            Some(_) => false,
        };
        if unset {
            if let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    });
    let svc_type = s.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    let has_external_ips = s.get("externalIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let externally_accessible =
        matches!(svc_type.as_str(), "LoadBalancer" | "NodePort") || (svc_type == "ClusterIP" && has_external_ips);
    if externally_accessible {
        default_str(s, "externalTrafficPolicy", "Cluster");
    }
    if matches!(svc_type.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default_key(s, "internalTrafficPolicy", json!("Cluster"));
    }
    if svc_type == "LoadBalancer" {
        default_key(s, "allocateLoadBalancerNodePorts", json!(true));
    }
    if svc_type != "ExternalName" {
        ip_families(s);
    }
    if svc_type == "LoadBalancer" {
        if let Some(ingress) = o
            .get_mut("status")
            .and_then(|st| st.get_mut("loadBalancer"))
            .and_then(|lb| lb.get_mut("ingress"))
            .and_then(Value::as_array_mut)
        {
            for ing in ingress.iter_mut().filter_map(Value::as_object_mut) {
                if ing.get("ip").and_then(Value::as_str).is_some_and(|ip| !ip.is_empty()) {
                    default_key(ing, "ipMode", json!("VIP"));
                }
            }
        }
    }
}

/// The IP family fields the service registry fills in, for a single-stack IPv4 cluster.
fn ip_families(s: &mut Map<String, Value>) {
    let ips: Vec<String> = match s.get("clusterIPs").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => s
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(|ip| vec![ip.to_string()])
            .unwrap_or_default(),
    };
    let headless = ips.first().is_some_and(|ip| ip == "None");
    let selectorless = is_empty_map(s.get("selector"));
    let policy = if headless && selectorless { "RequireDualStack" } else { "SingleStack" };
    default_key(s, "ipFamilyPolicy", json!(policy));
    if s.get("ipFamilies").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        let families: Vec<&str> = ips
            .iter()
            .filter(|ip| ip.as_str() != "None")
            .map(|ip| if ip.contains(':') { "IPv6" } else { "IPv4" })
            .collect();
        let families = if families.is_empty() { vec!["IPv4"] } else { families };
        s.insert("ipFamilies".into(), json!(families));
    }
}

fn namespace(o: &mut Map<String, Value>) {
    let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or_default().to_string();
    // Nameless namespaces (generateName) get the label once named.
    if !name.is_empty() {
        if let Some(labels) = child(o, "metadata").and_then(|m| child(m, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Active");
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secret(o: &mut Map<String, Value>) {
    default_str(o, "type", "Opaque");
    // The v1→internal conversion folds stringData into data (stringData wins) and drops it.
    if let Some(Value::Object(string_data)) = o.remove("stringData") {
        if !string_data.is_empty() {
            if let Some(data) = child(o, "data") {
                for (k, v) in string_data {
                    data.insert(k, json!(base64(v.as_str().unwrap_or_default().as_bytes())));
                }
            }
        }
    }
}

fn pvc(o: &mut Map<String, Value>) {
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Pending");
    }
    with_spec(o, |s| default_key(s, "volumeMode", json!("Filesystem")));
}

fn persistent_volume(o: &mut Map<String, Value>) {
    if let Some(status) = child(o, "status") {
        default_str(status, "phase", "Pending");
    }
    with_spec(o, |s| {
        default_str(s, "persistentVolumeReclaimPolicy", "Retain");
        default_key(s, "volumeMode", json!("Filesystem"));
        if let Some(h) = s.get_mut("hostPath").and_then(Value::as_object_mut) {
            default_key(h, "type", json!(""));
        }
        pod::legacy_sources(s);
    });
}

fn node(o: &mut Map<String, Value>) {
    let Some(status) = o.get_mut("status").and_then(Value::as_object_mut) else { return };
    if status.get("allocatable").is_none_or(Value::is_null) {
        if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), cap);
        }
    }
}

fn hpa(o: &mut Map<String, Value>) {
    let v1 = o.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1");
    with_spec(o, |s| {
        default_key(s, "minReplicas", json!(1));
        if v1 {
            return;
        }
        if s.get("metrics").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            s.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
            );
        }
        if let Some(b) = s.get_mut("behavior").and_then(Value::as_object_mut) {
            let up = json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]});
            let down =
                json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]});
            for (key, defaults) in [("scaleUp", up), ("scaleDown", down)] {
                let mut rules = defaults;
                if let (Some(given), Some(target)) = (b.get(key).and_then(Value::as_object), rules.as_object_mut()) {
                    for (k, v) in given.iter().filter(|(_, v)| !v.is_null()) {
                        target.insert(k.clone(), v.clone());
                    }
                }
                b.insert(key.into(), rules);
            }
        }
    });
}

fn network_policy(o: &mut Map<String, Value>) {
    with_spec(o, |s| {
        for dir in ["ingress", "egress"] {
            for_each_obj(s, dir, |rule| for_each_obj(rule, "ports", |p| default_key(p, "protocol", json!("TCP"))));
        }
        if s.get("policyTypes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            let has_egress = s.get("egress").and_then(Value::as_array).is_some_and(|e| !e.is_empty());
            let types = if has_egress { json!(["Ingress", "Egress"]) } else { json!(["Ingress"]) };
            s.insert("policyTypes".into(), types);
        }
    });
}

fn role_binding(o: &mut Map<String, Value>) {
    if let Some(r) = o.get_mut("roleRef").and_then(Value::as_object_mut) {
        default_str(r, "apiGroup", "rbac.authorization.k8s.io");
    }
    for_each_obj(o, "subjects", |s| {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
        if matches!(kind, "User" | "Group") {
            default_str(s, "apiGroup", "rbac.authorization.k8s.io");
        }
    });
}
