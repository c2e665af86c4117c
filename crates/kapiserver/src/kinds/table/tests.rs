use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::time::{format_rfc3339, human_duration_nanos, parse_rfc3339};
use super::{age, cell_name, column_definitions, human_duration, row_cells, row_conditions};

/// 2023-11-14T22:13:20Z.
const NOW_SECS: u64 = 1_700_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// An RFC 3339 timestamp `secs_ago` seconds before [`now`].
fn ago(secs_ago: i64) -> String {
    format_rfc3339((i128::from(NOW_SECS as i64 - secs_ago)) * 1_000_000_000)
}

fn meta(name: &str, age_secs: i64) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(age_secs)})
}

fn names(group: &str, kind: &str) -> Vec<(String, i64)> {
    column_definitions(group, kind)
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_string(), c["priority"].as_i64().unwrap_or(-1)))
        .collect()
}

fn cols(group: &str, kind: &str) -> Vec<String> {
    names(group, kind).into_iter().map(|(n, _)| n).collect()
}

fn cells(group: &str, kind: &str, obj: Value) -> Vec<Value> {
    let cells = row_cells(group, kind, &obj, now());
    assert_eq!(cells.len(), column_definitions(group, kind).len(), "cell count of {kind}");
    cells
}

// ---- durations and timestamps ----

#[test]
fn human_duration_edge_cases() {
    let s = |secs: i64| human_duration_nanos(i128::from(secs) * 1_000_000_000);
    let cases = [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 30 * 60, "5h30m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (8 * 86_400, "8d"),
        (400 * 86_400, "400d"),
        (730 * 86_400, "2y"),
        (800 * 86_400, "2y70d"),
        (3 * 365 * 86_400, "3y"),
        (9 * 365 * 86_400, "9y"),
    ];
    for (secs, want) in cases {
        assert_eq!(s(secs), want, "{secs}s");
    }
    // Fractions truncate: -1.5s is still "now", 1.9s prints 1s.
    assert_eq!(human_duration_nanos(-1_500_000_000), "0s");
    assert_eq!(human_duration_nanos(1_900_000_000), "1s");
    assert_eq!(human_duration(Duration::from_secs(200)), "3m20s");
}

#[test]
fn rfc3339_round_trip_and_zones() {
    assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000 * 1_000_000_000));
    assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), parse_rfc3339("2023-11-14T22:13:20Z"));
    assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(1_700_000_000 * 1_000_000_000 + 500_000_000));
    assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456Z").map(|n| n % 1_000_000_000), Some(123_456_000));
    assert_eq!(parse_rfc3339("garbage"), None);
    assert_eq!(parse_rfc3339("2023-13-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("99999999999999-01-01T00:00:00Z"), None);
    assert_eq!(format_rfc3339(1_700_000_000 * 1_000_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(format_rfc3339(-62_135_596_800 * 1_000_000_000), "0001-01-01T00:00:00Z");
    assert_eq!(format_rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
}

#[test]
fn age_cell() {
    assert_eq!(age(Some(&json!(ago(90))), now()), "90s");
    assert_eq!(age(None, now()), "<unknown>");
    assert_eq!(age(Some(&Value::Null), now()), "<unknown>");
    assert_eq!(age(Some(&json!("0001-01-01T00:00:00Z")), now()), "<unknown>");
    assert_eq!(age(Some(&json!(ago(-10))), now()), "<invalid>");
}

// ---- columns ----

#[test]
fn column_definitions_shape() {
    let pod = column_definitions("", "Pod");
    assert_eq!(
        pod[0],
        json!({"name": "Name", "type": "string", "format": "name",
        "description": pod[0]["description"], "priority": 0})
    );
    assert!(pod[0]["description"].as_str().is_some_and(|d| d.starts_with("Name must be unique within a namespace.")));
    assert_eq!(pod[4]["format"], "");
    assert_eq!(
        names("", "Pod"),
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
        .map(|(n, p)| (n.to_string(), p))
    );
    assert_eq!(pod[3]["type"], "string");
}

#[test]
fn columns_per_kind() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "apps",
            "Deployment",
            &["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"],
        ),
        ("apps", "ReplicaSet", &["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"]),
        (
            "",
            "ReplicationController",
            &["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
        ),
        ("apps", "StatefulSet", &["Name", "Ready", "Age", "Containers", "Images"]),
        (
            "apps",
            "DaemonSet",
            &[
                "Name",
                "Desired",
                "Current",
                "Ready",
                "Up-to-date",
                "Available",
                "Node Selector",
                "Age",
                "Containers",
                "Images",
                "Selector",
            ],
        ),
        ("batch", "Job", &["Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]),
        (
            "batch",
            "CronJob",
            &[
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age",
                "Containers",
                "Images",
                "Selector",
            ],
        ),
        ("", "Service", &["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]),
        (
            "",
            "Node",
            &[
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime",
            ],
        ),
        ("", "Namespace", &["Name", "Status", "Age"]),
        ("", "ConfigMap", &["Name", "Data", "Age"]),
        ("", "Secret", &["Name", "Type", "Data", "Age"]),
        ("", "ServiceAccount", &["Name", "Secrets", "Age"]),
        ("", "Endpoints", &["Name", "Endpoints", "Age"]),
        ("discovery.k8s.io", "EndpointSlice", &["Name", "AddressType", "Ports", "Endpoints", "Age"]),
        (
            "",
            "Event",
            &["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"],
        ),
        (
            "",
            "PersistentVolume",
            &[
                "Name",
                "Capacity",
                "Access Modes",
                "Reclaim Policy",
                "Status",
                "Claim",
                "StorageClass",
                "VolumeAttributesClass",
                "Reason",
                "Age",
                "VolumeMode",
            ],
        ),
        (
            "",
            "PersistentVolumeClaim",
            &[
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "VolumeAttributesClass",
                "Age",
                "VolumeMode",
            ],
        ),
        ("coordination.k8s.io", "Lease", &["Name", "Holder", "Age"]),
        (
            "storage.k8s.io",
            "StorageClass",
            &["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
        ),
        ("networking.k8s.io", "Ingress", &["Name", "Class", "Hosts", "Address", "Ports", "Age"]),
        (
            "autoscaling",
            "HorizontalPodAutoscaler",
            &["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"],
        ),
        ("", "PodTemplate", &["Name", "Containers", "Images", "Pod Labels"]),
        ("apps", "ControllerRevision", &["Name", "Controller", "Revision", "Age"]),
        (
            "certificates.k8s.io",
            "CertificateSigningRequest",
            &["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"],
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            &["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        ),
        ("apiextensions.k8s.io", "CustomResourceDefinition", &["Name", "Created At"]),
        ("rbac.authorization.k8s.io", "Role", &["Name", "Created At"]),
    ];
    for (group, kind, want) in cases {
        assert_eq!(cols(group, kind), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{kind}");
    }
    let wide: Vec<String> = names("apps", "Deployment").into_iter().filter(|(_, p)| *p == 1).map(|(n, _)| n).collect();
    assert_eq!(wide, ["Containers", "Images", "Selector"]);
    let event_wide: Vec<String> = names("", "Event").into_iter().filter(|(_, p)| *p == 1).map(|(n, _)| n).collect();
    assert_eq!(event_wide, ["Subobject", "Source", "First Seen", "Count", "Name"]);
    assert_eq!(column_definitions("", "Event")[9]["format"], "name");
    assert_eq!(column_definitions("batch", "CronJob")[3]["type"], "boolean");
    assert_eq!(column_definitions("example.com", "Widget")[1]["type"], "date");
}

// ---- pods ----

fn pod(status: Value) -> Value {
    json!({"metadata": meta("web", 300), "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"}, "status": status})
}

fn running(name: &str, restarts: i64) -> Value {
    json!({"name": name, "ready": true, "restartCount": restarts, "state": {"running": {"startedAt": ago(100)}}})
}

fn waiting(name: &str, reason: &str) -> Value {
    json!({"name": name, "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason}}})
}

#[test]
fn pod_running_row() {
    let c = cells(
        "",
        "Pod",
        pod(json!({"phase": "Running", "podIPs": [{"ip": "10.1.0.5"}],
        "containerStatuses": [running("a", 0), running("b", 0)]})),
    );
    assert_eq!(
        c,
        vec![
            json!("web"),
            json!("2/2"),
            json!("Running"),
            json!("0"),
            json!("5m"),
            json!("10.1.0.5"),
            json!("n1"),
            json!("<none>"),
            json!("<none>")
        ]
    );
}

#[test]
fn pod_waiting_and_restarts() {
    let mut crashing = waiting("b", "CrashLoopBackOff");
    crashing["restartCount"] = json!(5);
    crashing["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": ago(300)}});
    let c = cells(
        "",
        "Pod",
        pod(json!({"phase": "Running", "podIP": "10.1.0.6", "containerStatuses": [running("a", 0), crashing]})),
    );
    assert_eq!(
        (&c[1], &c[2], &c[3], &c[5]),
        (&json!("1/2"), &json!("CrashLoopBackOff"), &json!("5 (5m ago)"), &json!("10.1.0.6"))
    );
    let creating = cells(
        "",
        "Pod",
        pod(
            json!({"phase": "Pending", "containerStatuses": [waiting("a", "ContainerCreating"), waiting("b", "ContainerCreating")]}),
        ),
    );
    assert_eq!((&creating[1], &creating[2]), (&json!("0/2"), &json!("ContainerCreating")));
    let pending = cells(
        "",
        "Pod",
        json!({"metadata": meta("p", 5), "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}),
    );
    assert_eq!((&pending[2], &pending[5], &pending[6]), (&json!("Pending"), &json!("<none>"), &json!("<none>")));
}

#[test]
fn pod_init_container_states() {
    let with_init = |init_statuses: Value| {
        json!({"metadata": meta("p", 60), "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": init_statuses, "containerStatuses": [waiting("a", "PodInitializing")]}})
    };
    let done = json!({"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    assert_eq!(cells("", "Pod", with_init(json!([done, {"name": "i2", "state": {"running": {}}}])))[2], "Init:1/2");
    assert_eq!(
        cells("", "Pod", with_init(json!([{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}])))[2],
        "Init:0/2"
    );
    assert_eq!(
        cells("", "Pod", with_init(json!([{"name": "i1", "state": {"waiting": {"reason": "ImagePullBackOff"}}}])))[2],
        "Init:ImagePullBackOff"
    );
    assert_eq!(
        cells("", "Pod", with_init(json!([{"name": "i1", "state": {"terminated": {"exitCode": 2}}}])))[2],
        "Init:ExitCode:2"
    );
    assert_eq!(
        cells("", "Pod", with_init(json!([{"name": "i1", "state": {"terminated": {"exitCode": 137, "signal": 9}}}])))
            [2],
        "Init:Signal:9"
    );
    assert_eq!(
        cells(
            "",
            "Pod",
            with_init(json!([{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]))
        )[2],
        "Init:Error"
    );
}

#[test]
fn pod_sidecar_counts_toward_ready() {
    let p = json!({"metadata": meta("p", 60), "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "a"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 2, "state": {"running": {}}}],
            "containerStatuses": [running("a", 1)]}});
    let c = cells("", "Pod", p);
    assert_eq!((&c[1], &c[2], &c[3]), (&json!("2/2"), &json!("Running"), &json!("3")));
}

#[test]
fn pod_completed_terminating_and_gated() {
    let done = json!({"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    let completed = pod(json!({"phase": "Succeeded", "containerStatuses": [done.clone(), done.clone()]}));
    assert_eq!(cells("", "Pod", completed.clone())[2], "Completed");
    assert_eq!(row_conditions("", "Pod", &completed)[0]["reason"], "Succeeded");
    assert!(row_conditions("", "Pod", &pod(json!({"phase": "Running"}))).is_empty());
    assert_eq!(row_conditions("", "Pod", &pod(json!({"phase": "Failed"})))[0]["message"], "The pod failed.");
    let not_ready = pod(json!({"phase": "Running", "containerStatuses": [done.clone(), running("b", 0)]}));
    assert_eq!(cells("", "Pod", not_ready)[2], "NotReady");
    let ready = pod(
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [done, running("b", 0)]}),
    );
    assert_eq!(cells("", "Pod", ready)[2], "Running");
    let mut deleting = pod(json!({"phase": "Running", "containerStatuses": [running("a", 0), running("b", 0)]}));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(cells("", "Pod", deleting.clone())[2], "Terminating");
    deleting["status"]["reason"] = json!("NodeLost");
    assert_eq!(cells("", "Pod", deleting)[2], "Unknown");
    let gated = pod(
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(cells("", "Pod", gated)[2], "SchedulingGated");
    let evicted = pod(json!({"phase": "Failed", "reason": "Evicted"}));
    assert_eq!(cells("", "Pod", evicted)[2], "Evicted");
    let oom = pod(
        json!({"phase": "Running", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
    );
    assert_eq!(cells("", "Pod", oom)[2], "OOMKilled");
}

#[test]
fn pod_readiness_gates_and_nominated_node() {
    let p = json!({"metadata": meta("p", 1), "spec": {"containers": [], "readinessGates": [{"conditionType": "a/x"}, {"conditionType": "a/y"}]},
        "status": {"nominatedNodeName": "n2", "conditions": [{"type": "a/x", "status": "True"}, {"type": "a/y", "status": "False"}]}});
    let c = cells("", "Pod", p);
    assert_eq!((&c[7], &c[8]), (&json!("n2"), &json!("1/2")));
}

// ---- workloads ----

fn tmpl() -> Value {
    json!({"spec": {"containers": [{"name": "app", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}})
}

#[test]
fn deployment_replica_set_stateful_set_daemon_set_rows() {
    let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]});
    let d = json!({"metadata": meta("web", 3600), "spec": {"replicas": 3, "selector": sel, "template": tmpl()},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells("apps", "Deployment", d),
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("60m"),
            json!("app,log"),
            json!("nginx:1,busybox"),
            json!("app=web,tier in (a,b)")
        ]
    );
    let rs = json!({"metadata": meta("web-1", 10), "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": tmpl()},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(cells("apps", "ReplicaSet", rs)[1..4], [json!(2), json!(2), json!(1)]);
    let rc = json!({"metadata": meta("rc", 10), "spec": {"replicas": 1, "selector": {"b": "2", "a": "1"}, "template": tmpl()}, "status": {}});
    assert_eq!(cells("", "ReplicationController", rc)[7], "a=1,b=2");
    let sts = json!({"metadata": meta("db", 10), "spec": {"replicas": 3, "template": tmpl()}, "status": {"readyReplicas": 3}});
    assert_eq!(cells("apps", "StatefulSet", sts)[1], "3/3");
    let ds = json!({"metadata": meta("agent", 10), "spec": {"selector": {}, "template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}});
    let c = cells("apps", "DaemonSet", ds);
    assert_eq!(c[1..7], [json!(2), json!(2), json!(1), json!(2), json!(1), json!("os=linux")]);
    assert_eq!(c[10], "<none>");
}

#[test]
fn job_and_cron_job_rows() {
    let job = |spec: Value, status: Value| json!({"metadata": meta("pi", 600), "spec": spec, "status": status});
    let done = cells(
        "batch",
        "Job",
        job(
            json!({"completions": 1, "template": tmpl()}),
            json!({"succeeded": 1, "startTime": ago(600), "completionTime": ago(590), "conditions": [{"type": "Complete", "status": "True"}]}),
        ),
    );
    assert_eq!(done[1..5], [json!("Complete"), json!("1/1"), json!("10s"), json!("10m")]);
    let running = cells("batch", "Job", job(json!({"parallelism": 3}), json!({"startTime": ago(30)})));
    assert_eq!(running[1..4], [json!("Running"), json!("0/1 of 3"), json!("30s")]);
    let fresh = cells("batch", "Job", job(json!({}), json!({})));
    assert_eq!(fresh[2..4], [json!("0/1"), json!("")]);
    let failed = cells(
        "batch",
        "Job",
        job(json!({"completions": 2}), json!({"conditions": [{"type": "Failed", "status": "True"}]})),
    );
    assert_eq!(failed[1], "Failed");
    let suspended =
        cells("batch", "Job", job(json!({}), json!({"conditions": [{"type": "Suspended", "status": "True"}]})));
    assert_eq!(suspended[1], "Suspended");
    let cj = json!({"metadata": meta("nightly", 86_400 * 3), "spec": {"schedule": "0 0 * * *", "suspend": false,
        "jobTemplate": {"spec": {"template": tmpl()}}}, "status": {"active": [{"name": "x"}], "lastScheduleTime": ago(120)}});
    assert_eq!(
        cells("batch", "CronJob", cj)[1..7],
        [json!("0 0 * * *"), json!("<none>"), json!("False"), json!(1), json!("2m"), json!("3d")]
    );
    let never = json!({"metadata": meta("c", 1), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC"}});
    assert_eq!(cells("batch", "CronJob", never)[2..6], [json!("Etc/UTC"), json!("<unset>"), json!(0), json!("<none>")]);
}

// ---- networking ----

#[test]
fn service_rows() {
    let svc = |spec: Value, status: Value| {
        cells("", "Service", json!({"metadata": meta("s", 60), "spec": spec, "status": status}))
    };
    let cip = svc(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "dns"},
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(
        cip,
        vec![
            json!("s"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("53/UDP,53/TCP"),
            json!("60s"),
            json!("app=dns")
        ]
    );
    let np = svc(
        json!({"type": "NodePort", "clusterIP": "10.0.0.2", "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!((&np[2], &np[4], &np[6]), (&json!("10.0.0.2"), &json!("80:30080/TCP"), &json!("<none>")));
    let pending = svc(json!({"type": "LoadBalancer", "ports": []}), json!({}));
    assert_eq!((&pending[2], &pending[3], &pending[4]), (&json!("<none>"), &json!("<pending>"), &json!("<none>")));
    let lb = svc(
        json!({"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "a.example.com"}, {"ip": "1.2.3.4"}]}}),
    );
    assert_eq!(lb[3], "1.2.3.4,5.6.7.8,a.example.com,9.9.9.9");
    let ext = svc(json!({"type": "ExternalName", "externalName": "db.example.com"}), json!({}));
    assert_eq!(ext[3], "db.example.com");
    let external_ips = svc(json!({"type": "ClusterIP", "externalIPs": ["1.1.1.1", "2.2.2.2"]}), json!({}));
    assert_eq!(external_ips[3], "1.1.1.1,2.2.2.2");
}

#[test]
fn endpoints_and_slice_rows() {
    let ep = json!({"metadata": meta("e", 1), "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::1"}, {"ip": "10.0.0.4"}],
        "ports": [{"port": 80}]}]});
    assert_eq!(cells("", "Endpoints", ep)[1], "10.0.0.1:80,10.0.0.2:80,[fd00::1]:80 + 1 more...");
    let headless = json!({"metadata": meta("e", 1), "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]});
    assert_eq!(cells("", "Endpoints", headless)[1], "10.0.0.1");
    assert_eq!(cells("", "Endpoints", json!({"metadata": meta("e", 1)}))[1], "<none>");
    let slice = json!({"metadata": meta("s", 1), "addressType": "IPv4", "ports": [{"port": 80}, {"name": "x"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]});
    assert_eq!(
        cells("discovery.k8s.io", "EndpointSlice", slice)[1..4],
        [json!("IPv4"), json!("80,x,*"), json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")]
    );
    let empty = json!({"metadata": meta("s", 1), "addressType": "IPv4"});
    assert_eq!(cells("discovery.k8s.io", "EndpointSlice", empty)[2..4], [json!("<unset>"), json!("<unset>")]);
}

#[test]
fn ingress_rows() {
    let ing = json!({"metadata": meta("i", 1), "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.com"}, {"host": "b.com"}, {}, {"host": "c.com"}, {"host": "d.com"}],
        "tls": [{}]}, "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}});
    assert_eq!(
        cells("networking.k8s.io", "Ingress", ing)[1..5],
        [json!("nginx"), json!("a.com,b.com,c.com + 2 more..."), json!("1.1.1.1"), json!("80, 443")]
    );
    let bare = json!({"metadata": meta("i", 1), "spec": {"rules": [{}]}});
    assert_eq!(
        cells("networking.k8s.io", "Ingress", bare)[1..5],
        [json!("<none>"), json!("*"), json!(""), json!("80")]
    );
}

// ---- cluster objects ----

#[test]
fn node_rows() {
    let node = json!({"metadata": {"name": "n1", "creationTimestamp": ago(86_400 * 10),
        "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "n1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian", "kernelVersion": "6.1", "containerRuntimeVersion": "containerd://2.0"}}});
    assert_eq!(
        cells("", "Node", node),
        vec![
            json!("n1"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,worker"),
            json!("10d"),
            json!("v1.33.1"),
            json!("192.168.1.10"),
            json!("<none>"),
            json!("Debian"),
            json!("6.1"),
            json!("containerd://2.0")
        ]
    );
    let bare = cells("", "Node", json!({"metadata": {"name": "n2"}}));
    assert_eq!(
        (&bare[1], &bare[2], &bare[3], &bare[7]),
        (&json!("Unknown"), &json!("<none>"), &json!("<unknown>"), &json!("<unknown>"))
    );
    let not_ready = cells(
        "",
        "Node",
        json!({"metadata": {"name": "n3"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
    );
    assert_eq!(not_ready[1], "NotReady");
}

#[test]
fn namespace_config_secret_service_account_rows() {
    let ns = cells("", "Namespace", json!({"metadata": meta("team", 14_400), "status": {"phase": "Active"}}));
    assert_eq!(ns, vec![json!("team"), json!("Active"), json!("4h")]);
    assert_eq!(
        cells("", "ConfigMap", json!({"metadata": meta("c", 5), "data": {"a": "1"}, "binaryData": {"b": "eA=="}}))[1],
        2
    );
    assert_eq!(
        cells("", "Secret", json!({"metadata": meta("s", 5), "type": "Opaque", "data": {"a": "eA=="}}))[1..3],
        [json!("Opaque"), json!(1)]
    );
    assert_eq!(cells("", "ServiceAccount", json!({"metadata": meta("default", 5)}))[1], 0);
}

#[test]
fn event_rows() {
    let ev = json!({"metadata": meta("web.17a", 600), "type": "Warning", "reason": "BackOff", "message": " Back-off restarting \n",
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 12, "source": {"component": "kubelet", "host": "n1"}});
    assert_eq!(
        cells("", "Event", ev),
        vec![
            json!("30s"),
            json!("Warning"),
            json!("BackOff"),
            json!("pod/web"),
            json!("spec.containers{app}"),
            json!("kubelet, n1"),
            json!("Back-off restarting"),
            json!("10m"),
            json!(12),
            json!("web.17a")
        ]
    );
    let new_style = json!({"metadata": meta("x", 1), "type": "Normal", "reason": "Scheduled", "eventTime": ago(5),
        "involvedObject": {"kind": "Pod", "name": "p"}, "reportingController": "default-scheduler", "reportingInstance": "s-1"});
    let c = cells("", "Event", new_style);
    assert_eq!((&c[0], &c[5], &c[7], &c[8]), (&json!("5s"), &json!("default-scheduler, s-1"), &json!("5s"), &json!(1)));
    let series = json!({"metadata": meta("x", 1), "eventTime": ago(100), "series": {"count": 4, "lastObservedTime": ago(3)},
        "involvedObject": {"kind": "Node"}});
    let c = cells("", "Event", series);
    assert_eq!((&c[0], &c[3], &c[8]), (&json!("3s"), &json!("node"), &json!(4)));
    let v1 = json!({"metadata": meta("y", 1), "type": "Normal", "reason": "R", "note": "hello", "eventTime": ago(8),
        "regarding": {"kind": "Deployment", "name": "web"}, "deprecatedCount": 2, "deprecatedSource": {"component": "c"}});
    let c = cells("events.k8s.io", "Event", v1);
    assert_eq!((&c[3], &c[5], &c[6], &c[8]), (&json!("deployment/web"), &json!("c"), &json!("hello"), &json!(2)));
}

#[test]
fn storage_rows() {
    let pv = json!({"metadata": {"name": "pv1", "creationTimestamp": ago(60)}, "spec": {"capacity": {"storage": "10Gi"},
        "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": "d", "name": "data"}, "storageClassName": "fast", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        cells("", "PersistentVolume", pv),
        vec![
            json!("pv1"),
            json!("10Gi"),
            json!("RWO,RWX"),
            json!("Retain"),
            json!("Bound"),
            json!("d/data"),
            json!("fast"),
            json!("<unset>"),
            json!(""),
            json!("60s"),
            json!("Filesystem")
        ]
    );
    let bound = json!({"metadata": meta("data", 60), "spec": {"volumeName": "pv1", "storageClassName": "fast", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        cells("", "PersistentVolumeClaim", bound)[1..6],
        [json!("Bound"), json!("pv1"), json!("10Gi"), json!("RWO"), json!("fast")]
    );
    let mut pending = json!({"metadata": meta("data", 60), "spec": {}, "status": {"phase": "Pending"}});
    pending["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "old"});
    pending["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        cells("", "PersistentVolumeClaim", pending)[1..6],
        [json!("Terminating"), json!(""), json!(""), json!(""), json!("old")]
    );
    let sc = json!({"metadata": {"name": "standard", "creationTimestamp": ago(60), "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        cells("storage.k8s.io", "StorageClass", sc)[..5],
        [
            json!("standard (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false)
        ]
    );
}

#[test]
fn misc_rows() {
    let lease = json!({"metadata": meta("kube-scheduler", 60), "spec": {"holderIdentity": "node-1_abc"}});
    assert_eq!(cells("coordination.k8s.io", "Lease", lease)[1], "node-1_abc");
    assert_eq!(cells("coordination.k8s.io", "Lease", json!({"metadata": meta("l", 1), "spec": {}}))[1], "");
    let hpa = json!({"metadata": meta("web", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "q"}, "target": {"type": "AverageValue", "averageValue": "1"}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 20}}}]}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", hpa)[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: 20%/50%, memory: <unknown>/100Mi + 1 more..."),
            json!("1"),
            json!(5),
            json!(2)
        ]
    );
    let v1 = json!({"metadata": meta("old", 60), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3, "targetCPUUtilizationPercentage": 80}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", v1)[2..4],
        [json!("cpu: <unknown>/80%"), json!("<unset>")]
    );
    let tpl = json!({"metadata": meta("t", 1), "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}});
    assert_eq!(cells("", "PodTemplate", tpl)[1..], [json!("c"), json!("i"), json!("a=b")]);
    let rev = json!({"metadata": {"name": "web-5d", "creationTimestamp": ago(1), "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]}, "revision": 3});
    assert_eq!(cells("apps", "ControllerRevision", rev)[1..3], [json!("statefulset.apps/web"), json!(3)]);
    let csr = json!({"metadata": meta("csr-1", 1), "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice", "expirationSeconds": 86_400},
        "status": {"conditions": [{"type": "Approved"}], "certificate": "Y2VydA=="}});
    assert_eq!(
        cells("certificates.k8s.io", "CertificateSigningRequest", csr)[2..],
        [json!("kubernetes.io/kube-apiserver-client"), json!("alice"), json!("24h"), json!("Approved,Issued")]
    );
    let crb = json!({"metadata": meta("admin", 1), "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "a"}, {"kind": "Group", "name": "g"}, {"kind": "ServiceAccount", "name": "s", "namespace": "kube-system"}, {"kind": "User", "name": "b"}]});
    assert_eq!(
        cells("rbac.authorization.k8s.io", "ClusterRoleBinding", crb)[3..],
        [json!("a, b"), json!("g"), json!("kube-system/s")]
    );
    assert_eq!(
        cells(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            json!({"metadata": meta("r", 1), "roleRef": {"kind": "Role", "name": "x"}})
        )[1],
        "Role/x"
    );
}

#[test]
fn default_table_rows() {
    let crd = json!({"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-05-06T07:08:09Z"}});
    assert_eq!(
        cells("apiextensions.k8s.io", "CustomResourceDefinition", crd),
        vec![json!("widgets.example.com"), json!("2024-05-06T07:08:09Z")]
    );
    let offset = json!({"metadata": {"name": "w", "creationTimestamp": "2024-05-06T09:08:09+02:00"}});
    assert_eq!(cells("example.com", "Widget", offset)[1], "2024-05-06T07:08:09Z");
    assert_eq!(cells("example.com", "Widget", json!({}))[..], [json!(""), json!("0001-01-01T00:00:00Z")]);
    assert_eq!(cell_name(&json!({"metadata": {"name": "x"}})), "x");
}
