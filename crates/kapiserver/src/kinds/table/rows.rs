//! Row cells of every printed kind except pods, following upstream's `print<Kind>` functions.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::cell_name;
use crate::gotime::{human_duration_nanos, since, timestamp};

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or(s: &str, fallback: &str) -> String {
    if s.is_empty() { fallback.to_string() } else { s.to_string() }
}

/// A quantity or int-or-string as upstream's `String()` prints it (numbers plainly).
fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Upstream `labels.FormatLabels`: `k=v` sorted by key, `<none>` when empty.
fn format_labels(map: Option<&Value>) -> String {
    let mut parts: Vec<String> = map
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    parts.sort();
    or(&parts.join(","), "<none>")
}

/// `labels.Selector.String()` of a `metav1.LabelSelector`; `None` when it cannot be converted.
fn selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|s| !s.is_null()) else { return Some(String::new()) };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
        reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
    }
    for expr in arr(sel, "/matchExpressions") {
        let key = text(expr, "/key").to_string();
        let mut values: Vec<&str> = arr(expr, "/values").iter().filter_map(Value::as_str).collect();
        values.sort_unstable();
        let req = match text(expr, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key, req));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(reqs.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join(","))
}

/// Upstream `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
fn format_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Some(s) => or(&s, "<none>"),
        None => "<error>".into(),
    }
}

/// Upstream `layoutContainerCells`: comma-joined names and images.
fn containers(obj: &Value, ptr: &str) -> (String, String) {
    let list = arr(obj, ptr);
    let names: Vec<&str> = list.iter().map(|c| text(c, "/name")).collect();
    let images: Vec<&str> = list.iter().map(|c| text(c, "/image")).collect();
    (names.join(","), images.join(","))
}

fn age(obj: &Value, now: i128) -> Value {
    json!(since(obj.pointer("/metadata/creationTimestamp"), now))
}

/// Row cells for `group`/`kind`, or `None` when upstream has no printer for it.
pub(super) fn cells(group: &str, kind: &str, o: &Value, now: i128) -> Option<Vec<Value>> {
    let name = json!(cell_name(o));
    let cells = match (group, kind) {
        ("", "PodTemplate") => {
            let (n, i) = containers(o, "/template/spec/containers");
            vec![name, json!(n), json!(i), json!(format_labels(o.pointer("/template/metadata/labels")))]
        }
        ("policy", "PodDisruptionBudget") => {
            let bound =
                |p| o.pointer(p).filter(|v| !v.is_null()).map_or_else(|| "N/A".to_string(), |v| scalar(Some(v)));
            vec![
                name,
                json!(bound("/spec/minAvailable")),
                json!(bound("/spec/maxUnavailable")),
                json!(int(o, "/status/disruptionsAllowed")),
                age(o, now),
            ]
        }
        ("", "ReplicationController") | ("apps", "ReplicaSet") => {
            let (n, i) = containers(o, "/spec/template/spec/containers");
            let selector = if kind == "ReplicaSet" {
                format_selector(o.pointer("/spec/selector"))
            } else {
                format_labels(o.pointer("/spec/selector"))
            };
            vec![
                name,
                json!(int(o, "/spec/replicas")),
                json!(int(o, "/status/replicas")),
                json!(int(o, "/status/readyReplicas")),
                age(o, now),
                json!(n),
                json!(i),
                json!(selector),
            ]
        }
        ("apps", "DaemonSet") => {
            let (n, i) = containers(o, "/spec/template/spec/containers");
            vec![
                name,
                json!(int(o, "/status/desiredNumberScheduled")),
                json!(int(o, "/status/currentNumberScheduled")),
                json!(int(o, "/status/numberReady")),
                json!(int(o, "/status/updatedNumberScheduled")),
                json!(int(o, "/status/numberAvailable")),
                json!(format_labels(o.pointer("/spec/template/spec/nodeSelector"))),
                age(o, now),
                json!(n),
                json!(i),
                json!(format_selector(o.pointer("/spec/selector"))),
            ]
        }
        ("apps", "Deployment") => {
            let (n, i) = containers(o, "/spec/template/spec/containers");
            // Deployments print the raw selector string, and `<invalid>` rather than `<error>`.
            let selector = selector_string(o.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
            vec![
                name,
                json!(format!("{}/{}", int(o, "/status/readyReplicas"), int(o, "/spec/replicas"))),
                json!(int(o, "/status/updatedReplicas")),
                json!(int(o, "/status/availableReplicas")),
                age(o, now),
                json!(n),
                json!(i),
                json!(selector),
            ]
        }
        ("apps", "StatefulSet") => {
            let (n, i) = containers(o, "/spec/template/spec/containers");
            let ready = format!("{}/{}", int(o, "/status/readyReplicas"), int(o, "/spec/replicas"));
            vec![name, json!(ready), age(o, now), json!(n), json!(i)]
        }
        ("apps", "ControllerRevision") => vec![name, json!(controller_of(o)), json!(int(o, "/revision")), age(o, now)],
        ("batch", "Job") => job(o, now),
        ("batch", "CronJob") => {
            let (n, i) = containers(o, "/spec/jobTemplate/spec/template/spec/containers");
            let last = match timestamp(o.pointer("/status/lastScheduleTime")) {
                Some(_) => since(o.pointer("/status/lastScheduleTime"), now),
                None => "<none>".into(),
            };
            let suspend = match o.pointer("/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            vec![
                name,
                json!(text(o, "/spec/schedule")),
                json!(or(text(o, "/spec/timeZone"), "<none>")),
                json!(suspend),
                json!(arr(o, "/status/active").len()),
                json!(last),
                age(o, now),
                json!(n),
                json!(i),
                json!(format_selector(o.pointer("/spec/jobTemplate/spec/selector"))),
            ]
        }
        ("", "Service") => service(o, now),
        ("networking.k8s.io", "Ingress") => {
            let rules = arr(o, "/spec/rules");
            let hosts: Vec<&str> = rules.iter().map(|r| text(r, "/host")).filter(|h| !h.is_empty()).collect();
            let hosts = match hosts.len() {
                0 => "*".to_string(),
                n if n > 3 => format!("{} + {} more...", hosts[..3].join(","), rules.len() - 3),
                _ => hosts.join(","),
            };
            let ports = if arr(o, "/spec/tls").is_empty() { "80" } else { "80, 443" };
            vec![
                name,
                json!(or(text(o, "/spec/ingressClassName"), "<none>")),
                json!(hosts),
                json!(load_balancer(arr(o, "/status/loadBalancer/ingress")).join(",")),
                json!(ports),
                age(o, now),
            ]
        }
        ("networking.k8s.io", "IngressClass") => {
            let params = o.pointer("/spec/parameters").filter(|p| !p.is_null()).map_or_else(
                || "<none>".to_string(),
                |p| {
                    let group = p.get("apiGroup").and_then(Value::as_str).map(|g| format!(".{g}")).unwrap_or_default();
                    format!("{}{group}/{}", text(p, "/kind"), text(p, "/name"))
                },
            );
            vec![name, json!(text(o, "/spec/controller")), json!(params), age(o, now)]
        }
        ("networking.k8s.io", "NetworkPolicy") => {
            let sel = o.pointer("/spec/podSelector").cloned().unwrap_or_else(|| json!({}));
            vec![name, json!(format_selector(Some(&sel))), age(o, now)]
        }
        ("", "Endpoints") => vec![name, json!(endpoints(o)), age(o, now)],
        ("discovery.k8s.io", "EndpointSlice") => {
            let ports: Vec<String> = arr(o, "/ports")
                .iter()
                .map(|p| match (p.get("port").and_then(Value::as_i64), p.get("name").and_then(Value::as_str)) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(name)) => name.to_string(),
                    (None, None) => "*".to_string(),
                })
                .collect();
            let addrs: Vec<String> = arr(o, "/endpoints")
                .iter()
                .flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str).map(str::to_string))
                .collect();
            vec![
                name,
                json!(text(o, "/addressType")),
                json!(list_with_more(&ports)),
                json!(list_with_more(&addrs)),
                age(o, now),
            ]
        }
        ("", "Node") => node(o, now),
        ("", "Event") | ("events.k8s.io", "Event") => event(o, now, group == "events.k8s.io"),
        ("", "Namespace") => vec![name, json!(text(o, "/status/phase")), age(o, now)],
        ("", "Secret") => vec![name, json!(text(o, "/type")), json!(obj_len(o, "/data")), age(o, now)],
        ("", "ServiceAccount") => vec![name, json!(arr(o, "/secrets").len()), age(o, now)],
        ("", "ConfigMap") => vec![name, json!(obj_len(o, "/data") + obj_len(o, "/binaryData")), age(o, now)],
        ("", "PersistentVolume") => persistent_volume(o, now),
        ("", "PersistentVolumeClaim") => claim(o, now),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(o, now),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
            for s in arr(o, "/subjects") {
                match text(s, "/kind") {
                    "User" => users.push(text(s, "/name").to_string()),
                    "Group" => groups.push(text(s, "/name").to_string()),
                    "ServiceAccount" => sas.push(format!("{}/{}", text(s, "/namespace"), text(s, "/name"))),
                    _ => {}
                }
            }
            let role = format!("{}/{}", text(o, "/roleRef/kind"), text(o, "/roleRef/name"));
            vec![
                name,
                json!(role),
                age(o, now),
                json!(users.join(", ")),
                json!(groups.join(", ")),
                json!(sas.join(", ")),
            ]
        }
        ("certificates.k8s.io", "CertificateSigningRequest") => csr(o, now),
        ("coordination.k8s.io", "Lease") => vec![name, json!(text(o, "/spec/holderIdentity")), age(o, now)],
        ("storage.k8s.io", "StorageClass") => {
            let ann = |k: &str| o.pointer("/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str);
            let default = ann("storageclass.kubernetes.io/is-default-class") == Some("true")
                || ann("storageclass.beta.kubernetes.io/is-default-class") == Some("true");
            let display = if default { format!("{} (default)", cell_name(o)) } else { cell_name(o) };
            vec![
                json!(display),
                json!(text(o, "/provisioner")),
                json!(or(text(o, "/reclaimPolicy"), "Delete")),
                json!(or(text(o, "/volumeBindingMode"), "Immediate")),
                json!(o.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)),
                age(o, now),
            ]
        }
        ("", "ResourceQuota") => resource_quota(o, now),
        ("scheduling.k8s.io", "PriorityClass") => vec![
            name,
            json!(int(o, "/value")),
            json!(o.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
            age(o, now),
            json!(text(o, "/preemptionPolicy")),
        ],
        ("node.k8s.io", "RuntimeClass") => vec![name, json!(text(o, "/handler")), age(o, now)],
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration") => {
            vec![name, json!(arr(o, "/webhooks").len()), age(o, now)]
        }
        _ => return None,
    };
    Some(cells)
}

fn obj_len(o: &Value, ptr: &str) -> usize {
    o.pointer(ptr).and_then(Value::as_object).map_or(0, Map::len)
}

/// Upstream `listWithMoreString`: three items, then `+ N more...`; `<unset>` when empty.
fn list_with_more(items: &[String]) -> String {
    match items.len() {
        0 => "<unset>".into(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

fn controller_of(o: &Value) -> String {
    let owner =
        arr(o, "/metadata/ownerReferences").iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    let Some(r) = owner else { return "<none>".into() };
    let api_version = text(r, "/apiVersion");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = text(r, "/kind");
    let group_kind = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    if group_kind.is_empty() {
        return text(r, "/name").to_string();
    }
    format!("{}/{}", group_kind.to_lowercase(), text(r, "/name"))
}

fn job(o: &Value, now: i128) -> Vec<Value> {
    let succeeded = int(o, "/status/succeeded");
    let completions = match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match int(o, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (timestamp(o.pointer("/status/startTime")), timestamp(o.pointer("/status/completionTime"))) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration_nanos(now - start),
        (Some(start), Some(end)) => human_duration_nanos(end - start),
    };
    let has = |t: &str| {
        arr(o, "/status/conditions")
            .iter()
            .find(|c| text(c, "/type") == t)
            .is_some_and(|c| text(c, "/status") == "True")
    };
    let deleting = o.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    let status = if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (n, i) = containers(o, "/spec/template/spec/containers");
    vec![
        json!(cell_name(o)),
        json!(status),
        json!(completions),
        json!(duration),
        age(o, now),
        json!(n),
        json!(i),
        json!(format_selector(o.pointer("/spec/selector"))),
    ]
}

/// Load-balancer ingress points (IP, else hostname), sorted and de-duplicated.
fn load_balancer(ingress: &[Value]) -> Vec<String> {
    let set: BTreeSet<String> = ingress
        .iter()
        .filter_map(|i| {
            let ip = text(i, "/ip");
            let host = text(i, "/hostname");
            if !ip.is_empty() { Some(ip.to_string()) } else { (!host.is_empty()).then(|| host.to_string()) }
        })
        .collect();
    set.into_iter().collect()
}

fn service(o: &Value, now: i128) -> Vec<Value> {
    let svc_type = text(o, "/spec/type");
    let ips = arr(o, "/spec/clusterIPs");
    let cluster_ip = ips.first().and_then(Value::as_str).unwrap_or_else(|| text(o, "/spec/clusterIP"));
    let external: Vec<String> =
        arr(o, "/spec/externalIPs").iter().filter_map(Value::as_str).map(str::to_string).collect();
    let external_ip = match svc_type {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut all = load_balancer(arr(o, "/status/loadBalancer/ingress"));
            all.extend(external);
            if all.is_empty() { "<pending>".into() } else { all.join(",") }
        }
        "ExternalName" => text(o, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let (port, proto) = (int(p, "/port"), text(p, "/protocol"));
            match int(p, "/nodePort") {
                n if n > 0 => format!("{port}:{n}/{proto}"),
                _ => format!("{port}/{proto}"),
            }
        })
        .collect();
    vec![
        json!(cell_name(o)),
        json!(svc_type),
        json!(or(cluster_ip, "<none>")),
        json!(external_ip),
        json!(or(&ports.join(","), "<none>")),
        age(o, now),
        json!(format_labels(o.pointer("/spec/selector"))),
    ]
}

/// Upstream `formatEndpoints`: up to three `ip:port` (or bare IPs without ports).
fn endpoints(o: &Value) -> String {
    let subsets = arr(o, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let (mut list, mut count, mut more) = (Vec::new(), 0usize, false);
    for ss in subsets {
        let addrs = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        let port_values: Vec<Option<i64>> =
            if ports.is_empty() { vec![None] } else { ports.iter().map(|p| Some(int(p, "/port"))).collect() };
        for port in port_values {
            count += addrs.len();
            for a in addrs {
                if list.len() == 3 {
                    more = true;
                    break;
                }
                let ip = text(a, "/ip");
                list.push(match port {
                    None => ip.to_string(),
                    Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
                    Some(p) => format!("{ip}:{p}"),
                });
            }
        }
    }
    if more { format!("{} + {} more...", list.join(","), count - 3) } else { list.join(",") }
}

fn node(o: &Value, now: i128) -> Vec<Value> {
    let ready = arr(o, "/status/conditions").iter().rev().find(|c| text(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if text(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let mut roles = BTreeSet::new();
    for (k, v) in o.pointer("/metadata/labels").and_then(Value::as_object).into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/").filter(|r| !r.is_empty()) {
            roles.insert(role.to_string());
        } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
            roles.insert(v.as_str().unwrap_or_default().to_string());
        }
    }
    let roles: Vec<String> = roles.into_iter().collect();
    let address = |t: &str| {
        arr(o, "/status/addresses").iter().find(|a| text(a, "/type") == t).map_or("<none>", |a| text(a, "/address"))
    };
    vec![
        json!(cell_name(o)),
        json!(status.join(",")),
        json!(or(&roles.join(","), "<none>")),
        age(o, now),
        json!(text(o, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or(text(o, "/status/nodeInfo/osImage"), "<unknown>")),
        json!(or(text(o, "/status/nodeInfo/kernelVersion"), "<unknown>")),
        json!(or(text(o, "/status/nodeInfo/containerRuntimeVersion"), "<unknown>")),
    ]
}

/// The Event row; `events.k8s.io/v1` objects use the renamed fields of that version.
fn event(o: &Value, now: i128, new_api: bool) -> Vec<Value> {
    let f = |core: &str, events: &str| if new_api { events.to_string() } else { core.to_string() };
    let micro = |p: &str| match timestamp(o.pointer(p)) {
        Some(t) => human_duration_nanos(now - t),
        None => "<unknown>".to_string(),
    };
    let first_ptr = f("/firstTimestamp", "/deprecatedFirstTimestamp");
    let first = if timestamp(o.pointer(&first_ptr)).is_some() {
        since(o.pointer(&first_ptr), now)
    } else {
        micro("/eventTime")
    };
    let last_ptr = f("/lastTimestamp", "/deprecatedLastTimestamp");
    let mut last =
        if timestamp(o.pointer(&last_ptr)).is_some() { since(o.pointer(&last_ptr), now) } else { first.clone() };
    let mut count = int(o, &f("/count", "/deprecatedCount"));
    if o.get("series").is_some_and(|s| !s.is_null()) {
        last = micro("/series/lastObservedTime");
        count = int(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let obj = f("/involvedObject", "/regarding");
    let (kind, name) = (text(o, &format!("{obj}/kind")).to_lowercase(), text(o, &format!("{obj}/name")));
    let target = if name.is_empty() { kind } else { format!("{kind}/{name}") };
    let source_ptr = f("/source", "/deprecatedSource");
    let component = or(text(o, &format!("{source_ptr}/component")), text(o, "/reportingController"));
    let host = or(text(o, &format!("{source_ptr}/host")), text(o, "/reportingInstance"));
    let source = if host.is_empty() { component } else { format!("{component}, {host}") };
    vec![
        json!(last),
        json!(text(o, "/type")),
        json!(text(o, "/reason")),
        json!(target),
        json!(text(o, &format!("{obj}/fieldPath"))),
        json!(source),
        json!(text(o, &f("/message", "/note")).trim()),
        json!(first),
        json!(count),
        json!(cell_name(o)),
    ]
}

/// Upstream `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(m, _)| has(m))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

fn storage_class_of(o: &Value) -> String {
    let beta = o.pointer("/metadata/annotations").and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"));
    match beta.and_then(Value::as_str) {
        Some(c) => c.to_string(),
        None => text(o, "/spec/storageClassName").to_string(),
    }
}

fn persistent_volume(o: &Value, now: i128) -> Vec<Value> {
    let claim = o
        .pointer("/spec/claimRef")
        .filter(|c| !c.is_null())
        .map(|c| format!("{}/{}", text(c, "/namespace"), text(c, "/name")))
        .unwrap_or_default();
    let deleting = o.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    let capacity = scalar(o.pointer("/spec/capacity/storage"));
    vec![
        json!(cell_name(o)),
        json!(or(&capacity, "0")),
        json!(access_modes(arr(o, "/spec/accessModes"))),
        json!(text(o, "/spec/persistentVolumeReclaimPolicy")),
        json!(if deleting { "Terminating" } else { text(o, "/status/phase") }),
        json!(claim),
        json!(storage_class_of(o)),
        json!(or(text(o, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(text(o, "/status/reason")),
        age(o, now),
        json!(or(text(o, "/spec/volumeMode"), "<unset>")),
    ]
}

fn claim(o: &Value, now: i128) -> Vec<Value> {
    let deleting = o.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    let bound = !text(o, "/spec/volumeName").is_empty();
    let (capacity, modes) = if bound {
        (or(&scalar(o.pointer("/status/capacity/storage")), "0"), access_modes(arr(o, "/status/accessModes")))
    } else {
        (String::new(), String::new())
    };
    vec![
        json!(cell_name(o)),
        json!(if deleting { "Terminating" } else { text(o, "/status/phase") }),
        json!(text(o, "/spec/volumeName")),
        json!(capacity),
        json!(modes),
        json!(storage_class_of(o)),
        json!(or(text(o, "/spec/volumeAttributesClassName"), "<unset>")),
        age(o, now),
        json!(or(text(o, "/spec/volumeMode"), "<unset>")),
    ]
}

/// Upstream `formatHPAMetrics` over autoscaling/v2 metrics (v1 objects via their CPU target).
fn hpa_metrics(o: &Value) -> String {
    let v1 = o.pointer("/spec/targetCPUUtilizationPercentage").and_then(Value::as_i64);
    if let Some(target) = v1 {
        let current = o.pointer("/status/currentCPUUtilizationPercentage").and_then(Value::as_i64);
        let current = current.map_or_else(|| "<unknown>".to_string(), |c| format!("{c}%"));
        return format!("cpu: {current}/{target}%");
    }
    let specs = arr(o, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr(o, "/status/currentMetrics");
    let unknown = || "<unknown>".to_string();
    let mut list: Vec<String> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        let cur = |kind: &str, field: &str| status.and_then(|s| s.pointer(&format!("/{kind}/current/{field}")));
        let entry = match text(spec, "/type") {
            kind @ ("External" | "Object") => {
                let key = if kind == "External" { "external" } else { "object" };
                match spec.pointer(&format!("/{key}/target/averageValue")) {
                    Some(avg) => {
                        let c = cur(key, "averageValue").map_or_else(unknown, |v| scalar(Some(v)));
                        format!("{c}/{} (avg)", scalar(Some(avg)))
                    }
                    None => {
                        let c = status.and_then(|s| s.get(key)).map_or_else(unknown, |_| scalar(cur(key, "value")));
                        format!("{c}/{}", scalar(spec.pointer(&format!("/{key}/target/value"))))
                    }
                }
            }
            "Pods" => {
                let c =
                    status.and_then(|s| s.get("pods")).map_or_else(unknown, |_| scalar(cur("pods", "averageValue")));
                format!("{c}/{}", scalar(spec.pointer("/pods/target/averageValue")))
            }
            kind @ ("Resource" | "ContainerResource") => {
                let key = if kind == "Resource" { "resource" } else { "containerResource" };
                let res_name = text(spec, &format!("/{key}/name"));
                match spec.pointer(&format!("/{key}/target/averageValue")) {
                    Some(avg) => {
                        let c =
                            status.and_then(|s| s.get(key)).map_or_else(unknown, |_| scalar(cur(key, "averageValue")));
                        format!("{res_name}: {c}/{}", scalar(Some(avg)))
                    }
                    None => {
                        let c = cur(key, "averageUtilization")
                            .and_then(Value::as_i64)
                            .map_or_else(unknown, |u| format!("{u}%"));
                        let t = spec
                            .pointer(&format!("/{key}/target/averageUtilization"))
                            .and_then(Value::as_i64)
                            .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                        format!("{res_name}: {c}/{t}")
                    }
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(entry);
    }
    if list.len() > 2 {
        let more = list.len() - 2;
        format!("{} + {more} more...", list[..2].join(", "))
    } else {
        list.join(", ")
    }
}

fn hpa(o: &Value, now: i128) -> Vec<Value> {
    let reference = format!("{}/{}", text(o, "/spec/scaleTargetRef/kind"), text(o, "/spec/scaleTargetRef/name"));
    let min =
        o.pointer("/spec/minReplicas").and_then(Value::as_i64).map_or_else(|| "<unset>".into(), |m| m.to_string());
    vec![
        json!(cell_name(o)),
        json!(reference),
        json!(hpa_metrics(o)),
        json!(min),
        json!(int(o, "/spec/maxReplicas")),
        json!(int(o, "/status/currentReplicas")),
        age(o, now),
    ]
}

fn csr(o: &Value, now: i128) -> Vec<Value> {
    let types: Vec<&str> = arr(o, "/status/conditions").iter().map(|c| text(c, "/type")).collect();
    let mut status = if types.contains(&"Denied") {
        "Denied".to_string()
    } else if types.contains(&"Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if types.contains(&"Failed") {
        status.push_str(",Failed");
    }
    if !text(o, "/status/certificate").is_empty() {
        status.push_str(",Issued");
    }
    let duration = o
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .map_or_else(|| "<none>".to_string(), |s| human_duration_nanos(i128::from(s) * 1_000_000_000));
    vec![
        json!(cell_name(o)),
        age(o, now),
        json!(or(text(o, "/spec/signerName"), "<none>")),
        json!(text(o, "/spec/username")),
        json!(duration),
        json!(status),
    ]
}

fn resource_quota(o: &Value, now: i128) -> Vec<Value> {
    let hard = o.pointer("/status/hard").and_then(Value::as_object);
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    let mut resources: Vec<(&String, &Value)> = hard.into_iter().flatten().collect();
    resources.sort_by(|a, b| a.0.cmp(b.0));
    for (res, h) in resources {
        let used = o.pointer("/status/used").and_then(|u| u.get(res));
        let entry = format!("{res}: {}/{}", or(&scalar(used), "0"), scalar(Some(h)));
        if res.split('.').next() == Some("limits") && res.contains('.') {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![json!(cell_name(o)), json!(requests.join(", ")), json!(limits.join(", ")), age(o, now)]
}
