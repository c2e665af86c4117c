//! The kubelet against a real containerd (1.6+) started by the test and the in-process API
//! server: one busybox pod runs, logs, and is cleaned up on deletion.
//!
//! Needs root, `containerd`, `ctr`, `runc` and a static busybox (`busybox-static`), which
//! `scripts/install-deps.sh` installs; it fails (never skips) when containerd cannot start.
//! containerd comes from `kcri::testing` (images built offline from /bin/busybox); the pod
//! uses the host network, so no CNI configuration is needed. `KCRI_KEEP=1` keeps
//! containerd's directory for debugging.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Live, eventually, init_tracing, kubectl};
use kapi::k8s::api::core::v1::{Container, Pod, PodSpec};
use kcri::testing::{BUSYBOX, Containerd};
use kcri::types::{ContainerFilter, PodSandboxFilter};
use kcri::{Client, RuntimeService};
use knode::logs::{LogOptions, pod_log_dir, read_container_log};
use knode::{Kubelet, KubeletConfig, NodeResources};
use kwatch::http::{Api, DeleteParams, PostParams};
use tokio_util::sync::CancellationToken;

const NODE: &str = "containerd-node";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_pod_through_containerd() {
    init_tracing();
    let cd = Containerd::start().await;
    cd.import_images().await;
    let live = Live::start().await;
    let client = Client::connect(format!("unix://{}", cd.socket().display())).await.expect("connect to containerd");
    let runtime = Arc::new(client);

    let mut config = KubeletConfig::new(NODE, NodeResources::from_host(110).expect("host resources"));
    config.root_dir = cd.path().join("kubelet");
    config.pod_log_dir = cd.path().join("pods-logs");
    config.cgroup_root = "/knode-test".into();
    config.node_ip = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    config.address = std::net::IpAddr::from([127, 0, 0, 1]);
    config.port = 0;
    let log_root = config.pod_log_dir.clone();
    let kubelet = Kubelet::builder(config)
        .runtime(runtime.clone(), runtime.clone())
        .client(live.client.clone())
        .build()
        .expect("kubelet");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(kubelet.run(cancel.clone()));

    let mut pod = Pod::default();
    pod.metadata.name = Some("hello".into());
    pod.metadata.namespace = Some("default".into());
    pod.spec = Some(PodSpec {
        node_name: Some(NODE.into()),
        host_network: Some(true),
        // `sh` as PID 1 ignores SIGTERM: keep the kill after the grace period short.
        termination_grace_period_seconds: Some(2),
        containers: vec![Container {
            name: "app".into(),
            image: Some(BUSYBOX.into()),
            command: Some(vec!["sh".into(), "-c".into(), "echo hello; sleep 3600".into()]),
            ..Default::default()
        }],
        ..Default::default()
    });
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    pods.create(&pod, &PostParams::default()).await.expect("create pod");

    let running = eventually(60, "pod Running", || async {
        let p = pods.get_opt("hello").await.ok()??;
        if let Some(w) = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .filter(|w| w.reason.as_deref() != Some("ContainerCreating"))
        {
            panic!("container waiting: {w:?}\ncontainerd log:\n{}", cd.log_tail());
        }
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    let status = running.status.clone().expect("status");
    let cs = &status.container_statuses.expect("container statuses")[0];
    assert!(cs.container_id.as_deref().is_some_and(|id| id.starts_with("containerd://")), "{cs:?}");
    assert!(cs.ready, "{cs:?}");
    assert!(!cs.image_id.is_empty());
    assert_eq!(status.pod_ip, status.host_ip, "host network: the pod IP is the node's");

    let uid = running.metadata.uid.clone().expect("uid");
    let pod_logs = pod_log_dir(&log_root, "default", "hello", &uid);
    assert!(pod_logs.join("app/0.log").exists());
    eventually(20, "hello in the container log", || async {
        let text = read_container_log(&pod_logs, "app", &LogOptions::default()).await.ok()?;
        (text == "hello\n").then_some(())
    })
    .await;
    // The same log through the API server and the kubelet API, with the real kubectl.
    let (ok, out, err) = kubectl(&live, &["logs", "hello"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "hello\n");

    pods.delete("hello", &DeleteParams::default()).await.expect("delete");
    eventually(60, "pod gone", || async { pods.get_opt("hello").await.ok()?.is_none().then_some(()) }).await;
    let sandboxes = runtime.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list sandboxes");
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    let containers = runtime.list_containers(ContainerFilter::default()).await.expect("list containers");
    assert!(containers.is_empty(), "{containers:?}");

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("kubelet stops").expect("no panic").expect("ok");
    drop(runtime);
    cd.stop().await;
    remove_cgroups("knode-test");
}

/// Removes the (empty) pod cgroups left under `/<parent>` in every hierarchy: knode does
/// not manage pod-level cgroups, and runc leaves their parents behind.
fn remove_cgroups(parent: &str) {
    let roots = std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path());
    for dir in roots.chain([PathBuf::from("/sys/fs/cgroup")]).map(|r| r.join(parent)) {
        let children = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        for child in children.filter(|c| c.file_type().is_ok_and(|t| t.is_dir())) {
            let _ = std::fs::remove_dir(child.path());
        }
        let _ = std::fs::remove_dir(&dir);
    }
}
