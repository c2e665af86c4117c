use serde_json::{Value, json};

use super::pod::image_tag_is_latest;
use super::{apply_defaults, pod_qos_class, prepare_for_create};

fn defaulted(group: &str, kind: &str, mut obj: Value) -> Value {
    apply_defaults(group, kind, &mut obj);
    obj
}

fn pod(spec: Value) -> Value {
    defaulted("", "Pod", json!({"metadata": {"name": "p", "namespace": "d"}, "spec": spec}))
}

fn one_container(extra: Value) -> Value {
    let mut c = json!({"name": "c", "image": "nginx:1.25"});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    pod(json!({"containers": [c]}))
}

#[test]
fn pod_spec_defaults() {
    let p = pod(json!({"containers": [{"name": "c", "image": "nginx"}]}));
    let s = &p["spec"];
    assert_eq!(s["restartPolicy"], "Always");
    assert_eq!(s["dnsPolicy"], "ClusterFirst");
    assert_eq!(s["terminationGracePeriodSeconds"], 30);
    assert_eq!(s["schedulerName"], "default-scheduler");
    assert_eq!(s["securityContext"], json!({}));
    assert_eq!(s["enableServiceLinks"], true);
}

#[test]
fn pod_spec_defaults_keep_user_values() {
    let p = pod(json!({"restartPolicy": "Never", "dnsPolicy": "Default", "terminationGracePeriodSeconds": 0,
        "enableServiceLinks": false, "containers": [{"name": "c", "image": "nginx"}]}));
    assert_eq!(p["spec"]["restartPolicy"], "Never");
    assert_eq!(p["spec"]["dnsPolicy"], "Default");
    assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 0);
    assert_eq!(p["spec"]["enableServiceLinks"], false);
}

#[test]
fn image_pull_policy_follows_tag() {
    for (image, latest) in [
        ("nginx", true),
        ("nginx:latest", true),
        ("nginx:1.25", false),
        ("registry:5000/team/app", true),
        ("registry:5000/team/app:v1", false),
        ("nginx@sha256:abcd", false),
        ("nginx:latest@sha256:abcd", true),
        ("Nginx", false),
        ("", false),
    ] {
        assert_eq!(image_tag_is_latest(image), latest, "{image}");
    }
    let p = pod(json!({"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx:1"}],
        "initContainers": [{"name": "i", "image": "busybox:latest"}]}));
    assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(p["spec"]["containers"][1]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(p["spec"]["initContainers"][0]["imagePullPolicy"], "Always");
    let kept = one_container(json!({"imagePullPolicy": "Never"}));
    assert_eq!(kept["spec"]["containers"][0]["imagePullPolicy"], "Never");
}

#[test]
fn container_termination_message_and_ports() {
    let p = one_container(json!({"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}));
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(c["ports"][1]["protocol"], "UDP");
}

#[test]
fn requests_default_to_limits_only_for_pods() {
    let res = json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}});
    let p = one_container(res.clone());
    assert_eq!(p["spec"]["containers"][0]["resources"]["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
    let only_limits = one_container(json!({"resources": {"limits": {"cpu": "2"}}}));
    assert_eq!(only_limits["spec"]["containers"][0]["resources"]["requests"], json!({"cpu": "2"}));
    let t = defaulted(
        "",
        "PodTemplate",
        json!({"template": {"spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}}}),
    );
    assert!(t["template"]["spec"]["containers"][0]["resources"].get("requests").is_none());
    assert!(t["template"]["spec"].get("enableServiceLinks").is_none());
    assert_eq!(t["template"]["spec"]["restartPolicy"], "Always");
}

#[test]
fn probe_defaults() {
    let p = one_container(json!({
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
        "startupProbe": {"grpc": {"port": 9000}},
        "lifecycle": {"preStop": {"httpGet": {"port": 80}}}
    }));
    let c = &p["spec"]["containers"][0];
    let live = &c["livenessProbe"];
    assert_eq!(
        (&live["timeoutSeconds"], &live["periodSeconds"], &live["successThreshold"], &live["failureThreshold"]),
        (&json!(1), &json!(10), &json!(1), &json!(3))
    );
    assert_eq!(live["httpGet"]["path"], "/");
    assert_eq!(live["httpGet"]["scheme"], "HTTP");
    assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(c["startupProbe"]["grpc"]["service"], "");
    assert_eq!(c["lifecycle"]["preStop"]["httpGet"]["scheme"], "HTTP");
}

#[test]
fn env_field_ref_api_version() {
    let p = one_container(json!({"env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}));
    assert_eq!(p["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
}

#[test]
fn volume_defaults() {
    let p = pod(json!({"containers": [{"name": "c", "image": "x"}], "volumes": [
        {"name": "empty"},
        {"name": "cm", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
        {"name": "dapi", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "proj", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        {"name": "host", "hostPath": {"path": "/tmp"}},
        {"name": "eph", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
        {"name": "rbd", "rbd": {"monitors": ["m"], "image": "i"}}
    ]}));
    let v = &p["spec"]["volumes"];
    assert_eq!(v[0]["emptyDir"], json!({}));
    assert_eq!(v[1]["configMap"]["defaultMode"], 420);
    assert_eq!(v[2]["secret"]["defaultMode"], 256);
    assert_eq!(v[3]["downwardAPI"]["defaultMode"], 420);
    assert_eq!(v[3]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(v[4]["projected"]["defaultMode"], 420);
    assert_eq!(v[4]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3600);
    assert_eq!(v[5]["hostPath"]["type"], "");
    assert_eq!(v[6]["ephemeral"]["volumeClaimTemplate"]["spec"]["volumeMode"], "Filesystem");
    assert_eq!(v[7]["rbd"]["pool"], "rbd");
    assert_eq!(v[7]["rbd"]["user"], "admin");
}

#[test]
fn host_network_copies_container_port_to_host_port() {
    let p = pod(
        json!({"hostNetwork": true, "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}]}),
    );
    assert_eq!(p["spec"]["containers"][0]["ports"][0]["hostPort"], 8080);
}

#[test]
fn deployment_defaults() {
    let d = defaulted(
        "apps",
        "Deployment",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
    );
    let s = &d["spec"];
    assert_eq!(s["replicas"], 1);
    assert_eq!(
        s["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(s["revisionHistoryLimit"], 10);
    assert_eq!(s["progressDeadlineSeconds"], 600);
    assert_eq!(s["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(s["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
    let r = defaulted("apps", "Deployment", json!({"spec": {"strategy": {"type": "Recreate"}}}));
    assert!(r["spec"]["strategy"].get("rollingUpdate").is_none());
}

#[test]
fn replica_set_and_replication_controller_defaults() {
    let rs = defaulted("apps", "ReplicaSet", json!({"spec": {}}));
    assert_eq!(rs["spec"]["replicas"], 1);
    let rc = defaulted(
        "",
        "ReplicationController",
        json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {}}}}),
    );
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(rc["spec"]["selector"], json!({"app": "a"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app": "a"}));
    assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
}

#[test]
fn stateful_set_defaults() {
    let s = defaulted(
        "apps",
        "StatefulSet",
        json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}}),
    );
    let spec = &s["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(spec["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
    assert_eq!(spec["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
    assert_eq!(spec["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
    let explicit = defaulted("apps", "StatefulSet", json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}));
    assert!(explicit["spec"]["updateStrategy"].get("rollingUpdate").is_none());
}

#[test]
fn daemon_set_defaults() {
    let d = defaulted("apps", "DaemonSet", json!({"spec": {}}));
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    let on_delete = defaulted("apps", "DaemonSet", json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}));
    assert!(on_delete["spec"]["updateStrategy"].get("rollingUpdate").is_none());
}

#[test]
fn job_defaults() {
    let j = defaulted(
        "batch",
        "Job",
        json!({"metadata": {"name": "j"}, "spec": {"template": {"metadata": {"labels": {"x": "y"}}, "spec": {}}}}),
    );
    let s = &j["spec"];
    assert_eq!((&s["completions"], &s["parallelism"], &s["backoffLimit"]), (&json!(1), &json!(1), &json!(6)));
    assert_eq!(s["completionMode"], "NonIndexed");
    assert_eq!(s["suspend"], false);
    assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(s["manualSelector"], false);
    assert_eq!(j["metadata"]["labels"], json!({"x": "y"}));
    // Job templates keep restartPolicy Always from pod defaults; validation then rejects it.
    assert_eq!(s["template"]["spec"]["restartPolicy"], "Always");
    let parallel = defaulted(
        "batch",
        "Job",
        json!({"spec": {"completions": 5, "backoffLimitPerIndex": 1,
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
    );
    let s = &parallel["spec"];
    assert_eq!((&s["completions"], &s["parallelism"]), (&json!(5), &json!(1)));
    assert_eq!(s["backoffLimit"], i64::from(i32::MAX));
    assert_eq!(s["podReplacementPolicy"], "Failed");
    assert_eq!(s["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"], "True");
}

#[test]
fn cron_job_defaults() {
    let c = defaulted("batch", "CronJob", json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}}));
    let s = &c["spec"];
    assert_eq!(s["concurrencyPolicy"], "Allow");
    assert_eq!(s["suspend"], false);
    assert_eq!(s["successfulJobsHistoryLimit"], 3);
    assert_eq!(s["failedJobsHistoryLimit"], 1);
    assert_eq!(s["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(s["jobTemplate"]["spec"].get("backoffLimit").is_none());
}

#[test]
fn service_defaults() {
    let s = defaulted(
        "",
        "Service",
        json!({"spec": {"selector": {"a": "b"}, "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}),
    );
    let spec = &s["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][1]["targetPort"], "dns");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert!(spec.get("externalTrafficPolicy").is_none());
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    let lb = defaulted(
        "",
        "Service",
        json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": 0}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb"}]}}}),
    );
    let spec = &lb["spec"];
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
    assert_eq!(spec["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"], 10800);
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(lb["status"]["loadBalancer"]["ingress"][0]["ipMode"], "VIP");
    assert!(lb["status"]["loadBalancer"]["ingress"][1].get("ipMode").is_none());
    let ext = defaulted("", "Service", json!({"spec": {"type": "ExternalName", "externalName": "x.example.com"}}));
    assert!(ext["spec"].get("ipFamilyPolicy").is_none());
    assert!(ext["spec"].get("internalTrafficPolicy").is_none());
    let headless = defaulted("", "Service", json!({"spec": {"clusterIP": "None"}}));
    assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
    let external_ips = defaulted("", "Service", json!({"spec": {"externalIPs": ["1.1.1.1"], "clusterIP": "fd00::1"}}));
    assert_eq!(external_ips["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(external_ips["spec"]["ipFamilies"], json!(["IPv6"]));
    let none = defaulted(
        "",
        "Service",
        json!({"spec": {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {}}}}),
    );
    assert!(none["spec"].get("sessionAffinityConfig").is_none());
}

#[test]
fn namespace_defaults_and_create() {
    let mut ns = defaulted("", "Namespace", json!({"metadata": {"name": "team"}}));
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team");
    assert_eq!(ns["status"]["phase"], "Active");
    assert!(ns.get("spec").is_none());
    prepare_for_create("", "Namespace", &mut ns);
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    let mut other = json!({"metadata": {"name": "x"}, "spec": {"finalizers": ["example.com/f"]}});
    prepare_for_create("", "Namespace", &mut other);
    assert_eq!(other["spec"]["finalizers"], json!(["example.com/f", "kubernetes"]));
    let nameless = defaulted("", "Namespace", json!({"metadata": {"generateName": "t-"}}));
    assert!(nameless["metadata"].get("labels").is_none());
}

#[test]
fn secret_defaults_and_string_data() {
    let s = defaulted("", "Secret", json!({"data": {"a": "eA=="}, "stringData": {"a": "hello", "b": "hi!"}}));
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"a": "aGVsbG8=", "b": "aGkh"}));
    assert!(s.get("stringData").is_none());
    let typed = defaulted("", "Secret", json!({"type": "kubernetes.io/tls"}));
    assert_eq!(typed["type"], "kubernetes.io/tls");
}

#[test]
fn volume_kinds_defaults() {
    let pvc = defaulted("", "PersistentVolumeClaim", json!({"spec": {}}));
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"]["phase"], "Pending");
    let pv = defaulted("", "PersistentVolume", json!({"spec": {"hostPath": {"path": "/d"}}}));
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["spec"]["hostPath"]["type"], "");
    assert_eq!(pv["status"]["phase"], "Pending");
    let sc = defaulted("storage.k8s.io", "StorageClass", json!({"provisioner": "p"}));
    assert_eq!((&sc["reclaimPolicy"], &sc["volumeBindingMode"]), (&json!("Delete"), &json!("Immediate")));
    let driver = defaulted("storage.k8s.io", "CSIDriver", json!({"spec": {}}));
    assert_eq!(driver["spec"]["attachRequired"], true);
    assert_eq!(driver["spec"]["volumeLifecycleModes"], json!(["Persistent"]));
}

#[test]
fn endpoint_defaults() {
    let ep = defaulted("", "Endpoints", json!({"subsets": [{"ports": [{"port": 80}]}]}));
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    let slice = defaulted("discovery.k8s.io", "EndpointSlice", json!({"ports": [{"port": 80}]}));
    assert_eq!(slice["ports"][0], json!({"port": 80, "name": "", "protocol": "TCP"}));
}

#[test]
fn node_allocatable_from_capacity() {
    let n = defaulted("", "Node", json!({"status": {"capacity": {"cpu": "4"}}}));
    assert_eq!(n["status"]["allocatable"], json!({"cpu": "4"}));
}

#[test]
fn hpa_defaults() {
    let v2 = defaulted(
        "autoscaling",
        "HorizontalPodAutoscaler",
        json!({"apiVersion": "autoscaling/v2",
        "spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
    );
    let s = &v2["spec"];
    assert_eq!(s["minReplicas"], 1);
    assert_eq!(s["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
    assert_eq!(s["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60);
    assert_eq!(s["behavior"]["scaleDown"]["selectPolicy"], "Max");
    assert_eq!(s["behavior"]["scaleUp"]["policies"][0], json!({"type": "Pods", "value": 4, "periodSeconds": 15}));
    let v1 = defaulted("autoscaling", "HorizontalPodAutoscaler", json!({"apiVersion": "autoscaling/v1", "spec": {}}));
    assert_eq!(v1["spec"], json!({"minReplicas": 1}));
}

#[test]
fn networking_rbac_scheduling_defaults() {
    let np = defaulted("networking.k8s.io", "NetworkPolicy", json!({"spec": {"egress": [{"ports": [{"port": 53}]}]}}));
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    let ic =
        defaulted("networking.k8s.io", "IngressClass", json!({"spec": {"parameters": {"kind": "K", "name": "n"}}}));
    assert_eq!(ic["spec"]["parameters"]["scope"], "Cluster");
    let rb = defaulted(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        json!({"roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}]}),
    );
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1].get("apiGroup").is_none());
    let pc = defaulted("scheduling.k8s.io", "PriorityClass", json!({"value": 10}));
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
}

#[test]
fn defaults_are_idempotent_and_ignore_unknown_kinds() {
    let once = defaulted(
        "apps",
        "Deployment",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
    );
    assert_eq!(defaulted("apps", "Deployment", once.clone()), once);
    let cr = json!({"spec": {"replicas": null}});
    assert_eq!(defaulted("example.com", "Widget", cr.clone()), cr);
    assert_eq!(defaulted("", "Pod", json!("not an object")), json!("not an object"));
}

#[test]
fn qos_classes() {
    let res = |r: Value| json!({"spec": {"containers": [{"name": "c", "resources": r}]}});
    assert_eq!(pod_qos_class(&res(json!({}))), "BestEffort");
    assert_eq!(pod_qos_class(&res(json!({"requests": {"cpu": "100m"}}))), "Burstable");
    let equal = json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}});
    assert_eq!(pod_qos_class(&res(equal)), "Guaranteed");
    assert_eq!(pod_qos_class(&res(json!({"limits": {"cpu": "1"}}))), "Burstable");
}

#[test]
fn prepare_for_create_resets_status_and_generates_job_selector() {
    let mut p = one_container(json!({}));
    p["status"] = json!({"phase": "Running"});
    p["spec"]["schedulingGates"] = json!([{"name": "example.com/gate"}]);
    prepare_for_create("", "Pod", &mut p);
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(p["status"]["qosClass"], "BestEffort");
    assert_eq!(p["status"]["conditions"][0]["reason"], "SchedulingGated");
    let mut d = json!({"spec": {}, "status": {"replicas": 3}});
    prepare_for_create("apps", "Deployment", &mut d);
    assert_eq!(d["status"], json!({}));
    let mut j = json!({"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": {"spec": {}}}});
    prepare_for_create("batch", "Job", &mut j);
    assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}));
    let labels = &j["spec"]["template"]["metadata"]["labels"];
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(labels["controller-uid"], "u-1");
    assert_eq!(labels["job-name"], "pi");
    let mut manual = json!({"metadata": {"uid": "u"}, "spec": {"manualSelector": true}});
    prepare_for_create("batch", "Job", &mut manual);
    assert!(manual["spec"].get("selector").is_none());
}
