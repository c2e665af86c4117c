//! The real kubectl (1.27 and 1.33) against a fresh API server, with validation on, on the
//! embedded store and on Debian's etcd 3.4.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Kubectl, StoreKind, TestServer};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
    ports:
    - containerPort: 80
";

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: c
        image: {image}
        env:
        - {{name: A, value: '1'}}
"
    )
}

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  a: '1'
";

#[track_caller]
fn contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "expected {needle:?} in:\n{haystack}");
}

fn suite(k: Kubectl, ns: &str) {
    let n = ["-n", ns];
    let with_ns = |args: &[&str]| -> Vec<String> { args.iter().chain(n.iter()).map(|s| (*s).to_owned()).collect() };
    let ok = |args: &[&str]| -> String {
        let a = with_ns(args);
        k.ok(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run = |args: &[&str]| {
        let a = with_ns(args);
        k.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    k.ok(&["create", "namespace", ns]);

    // Discovery.
    let resources = k.ok(&["api-resources"]);
    contains(&resources, "deployments");
    contains(&resources, "deploy");
    contains(&resources, "apps/v1");
    k.ok(&["version"]);

    // create -f with validation, then the AlreadyExists error.
    let pod = k.write("pod.yaml", POD);
    let pod = pod.to_str().unwrap();
    contains(&ok(&["create", "-f", pod]), "pod/web created");
    let again = run(&["create", "-f", pod]);
    assert_eq!(again.code, 1, "{again:?}");
    contains(&again.stderr, "Error from server (AlreadyExists)");
    contains(&again.stderr, "pods \"web\" already exists");

    // get: table, yaml, json, wide, jsonpath.
    let table = ok(&["get", "pods"]);
    contains(&table, "NAME");
    contains(&table, "READY");
    contains(&table, "STATUS");
    contains(&table, "web");
    contains(&table, "Pending");
    contains(&ok(&["get", "pod", "web", "-o", "yaml"]), "name: web");
    let json: serde_json::Value = serde_json::from_str(&ok(&["get", "pod", "web", "-o", "json"])).unwrap();
    assert_eq!(json["spec"]["containers"][0]["image"], "busybox");
    assert_eq!(json["spec"]["restartPolicy"], "Always", "defaulted");
    contains(&ok(&["get", "pods", "-o", "wide"]), "NODE");
    assert_eq!(ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.name}"]), "web");

    // NotFound and invalid manifests.
    let missing = run(&["get", "pod", "nope"]);
    assert_eq!(missing.code, 1);
    contains(&missing.stderr, "Error from server (NotFound): pods \"nope\" not found");
    let bad = k.write("bad.yaml", &POD.replace("name: web", "name: Bad_Name"));
    let invalid = run(&["create", "-f", bad.to_str().unwrap()]);
    assert_eq!(invalid.code, 1);
    contains(&invalid.stderr, "is invalid");
    let typo = k.write("typo.yaml", &POD.replace("image: busybox", "image: busybox\n    imagee: typo"));
    let unknown = run(&["create", "-f", typo.to_str().unwrap()]);
    assert_eq!(unknown.code, 1, "unknown fields fail with validation on: {unknown:?}");
    contains(&unknown.stderr, "imagee");

    // describe, label, annotate.
    contains(&ok(&["describe", "pod", "web"]), "web");
    contains(&ok(&["label", "pod", "web", "tier=fe"]), "labeled");
    // kubectl 1.27 prints "annotate" (fixed in 1.28), so match the common prefix.
    contains(&ok(&["annotate", "pod", "web", "note=hi"]), "pod/web annotate");
    assert_eq!(ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels.tier}"]), "fe");

    // patch: json, merge, strategic (containers merge by name).
    ok(&["patch", "pod", "web", "--type", "json", "-p", r#"[{"op":"add","path":"/metadata/labels/j","value":"1"}]"#]);
    ok(&["patch", "pod", "web", "--type", "merge", "-p", r#"{"metadata":{"labels":{"m":"2"}}}"#]);
    ok(&["patch", "pod", "web", "-p", r#"{"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}"#]);
    let p: serde_json::Value = serde_json::from_str(&ok(&["get", "pod", "web", "-o", "json"])).unwrap();
    assert_eq!(p["metadata"]["labels"]["j"], "1");
    assert_eq!(p["metadata"]["labels"]["m"], "2");
    assert_eq!(p["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(p["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(p["spec"]["containers"][0]["command"][0], "sleep", "strategic merge kept the other fields");

    // get -w sees a change.
    let mut watcher = k
        .command(&["get", "pods", "-w", "-n", ns, "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    ok(&["label", "pod", "web", "watched=yes"]);
    std::thread::sleep(Duration::from_millis(700));
    let _ = watcher.kill();
    let _ = watcher.wait();
    let mut seen = String::new();
    watcher.stdout.take().unwrap().read_to_string(&mut seen).unwrap();
    contains(&seen, "MODIFIED");
    contains(&seen, "web");

    // Client-side apply twice, then scale.
    let d1 = k.write("deploy.yaml", &deployment(1, "busybox"));
    contains(&ok(&["apply", "-f", d1.to_str().unwrap()]), "deployment.apps/web created");
    let d2 = k.write("deploy.yaml", &deployment(2, "busybox:1.36"));
    contains(&ok(&["apply", "-f", d2.to_str().unwrap()]), "deployment.apps/web configured");
    let d: serde_json::Value = serde_json::from_str(&ok(&["get", "deploy", "web", "-o", "json"])).unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.36");
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%", "defaulted");
    assert!(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string());
    contains(&ok(&["get", "deploy"]), "UP-TO-DATE");
    contains(&ok(&["scale", "deploy", "web", "--replicas=3"]), "scaled");
    assert_eq!(ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "3");

    // Server-side apply.
    let cm = k.write("cm.yaml", CONFIGMAP);
    contains(&ok(&["apply", "--server-side", "-f", cm.to_str().unwrap()]), "serverside-applied");
    let cm = k.write("cm.yaml", &CONFIGMAP.replace("a: '1'", "a: '2'"));
    ok(&["apply", "--server-side", "-f", cm.to_str().unwrap()]);
    assert_eq!(ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "2");

    // Generators (typed clients; protobuf bodies from 1.32 on).
    contains(&ok(&["create", "configmap", "gen", "--from-literal=a=b"]), "configmap/gen created");
    contains(&ok(&["create", "secret", "generic", "sec", "--from-literal=p=q"]), "secret/sec created");
    contains(&ok(&["create", "deployment", "gd", "--image=busybox"]), "deployment.apps/gd created");
    assert_eq!(ok(&["get", "secret", "sec", "-o", "jsonpath={.data.p}"]), "cQ==");

    // explain (OpenAPI).
    contains(&k.ok(&["explain", "pods.spec.containers"]), "image");

    // delete (cascading default), wait --for=delete.
    contains(&ok(&["delete", "deploy", "web"]), "deleted");
    contains(&ok(&["delete", "pod", "web", "--wait=false"]), "deleted");
    ok(&["wait", "--for=delete", "pod/web", "--timeout=20s"]);
    let gone = run(&["get", "pod", "web"]);
    assert_eq!(gone.code, 1);
}

async fn run_suite(kind: StoreKind, minor: u32) {
    let server = TestServer::start(kind).await;
    let k = server.kubectl(minor);
    let started = Instant::now();
    tokio::task::spawn_blocking(move || suite(k, "suite")).await.unwrap();
    eprintln!("kubectl 1.{minor} suite on {kind:?}: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_embedded() {
    run_suite(StoreKind::Embedded, 33).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_27_embedded() {
    run_suite(StoreKind::Embedded, 27).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_real_etcd() {
    run_suite(StoreKind::Etcd, 33).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_27_real_etcd() {
    run_suite(StoreKind::Etcd, 27).await;
}
