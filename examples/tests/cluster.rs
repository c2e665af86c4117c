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

fn config(dir: &Path) -> ClusterConfig {
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
