//! The [`Client`] against a real containerd (1.6+) started by the test.
//!
//! It needs root, `containerd`, `ctr`, `runc` and a static busybox (`busybox-static`), which
//! `scripts/install-deps.sh` installs; it fails (never skips) when containerd cannot start.
//!
//! The sandbox uses the host network namespace, so no CNI configuration is needed (the CNI
//! conf dir is an empty temporary directory; `NetworkReady` stays false, which only
//! matters for pod-network sandboxes); `restrict_oom_score_adj` keeps runc from failing
//! where lowering `oom_score_adj` is not allowed. Images are built offline from /bin/busybox by
//! `kcri::testing` and imported with `ctr`.

use std::path::PathBuf;
use std::time::Duration;

use kcri::testing::{BUSYBOX, Containerd, PAUSE};
use kcri::types::{
    ContainerConfig, ContainerFilter, ContainerMetadata, ContainerState, ExecSyncRequest, ImageFilter, ImageSpec,
    KUBELET_API_VERSION, Labels, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, NamespaceMode, NamespaceOptions,
    PodSandboxConfig, PodSandboxMetadata, PodSandboxState, RUNTIME_READY,
};
use kcri::{Client, ImageService, RuntimeService};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_pod_lifecycle() {
    let cd = Containerd::start().await;
    cd.import_images().await;

    let client = Client::connect(format!("unix://{}", cd.socket().display())).await.expect("connect to containerd");
    let v = client.runtime_version().clone();
    assert_eq!((v.runtime_name.as_str(), v.runtime_api_version.as_str()), ("containerd", "v1"), "{v:?}");
    assert_eq!(client.version(KUBELET_API_VERSION.into()).await.expect("version"), v);
    let status = client.status(false).await.expect("status");
    assert!(status.condition(RUNTIME_READY).is_some_and(|c| c.status), "{status:?}");

    // Images.
    let image = client.image_status(ImageSpec::new(BUSYBOX)).await.expect("image status").expect("busybox imported");
    assert!(image.repo_tags.iter().any(|t| t == BUSYBOX), "{image:?}");
    let images = client.list_images(ImageFilter::default()).await.expect("list images");
    assert!(images.iter().any(|i| i.repo_tags.iter().any(|t| t == PAUSE)), "{images:?}");
    assert!(client.image_status(ImageSpec::new("kcri.test/absent:1")).await.expect("status").is_none());
    assert!(!client.image_fs_info().await.expect("image fs info").image_filesystems.is_empty());

    // Sandbox on the host network: no CNI needed.
    let logs = cd.path().join("logs/default_web_uid1");
    let pod = PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: "web".into(),
            uid: "uid1".into(),
            namespace: "default".into(),
            attempt: 0,
        },
        // No hostname: a host-network sandbox shares the host's UTS namespace, and runc
        // refuses to set a hostname there.
        log_directory: logs.display().to_string(),
        labels: labels(&[("io.kubernetes.pod.name", "web")]),
        linux: Some(LinuxPodSandboxConfig {
            // An absolute parent, as kubelet passes: an empty one makes runc nest the
            // cgroups under the test process's own, which a sandboxed CI may not allow.
            cgroup_parent: "/kcri-test".into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOptions { network: NamespaceMode::Node, ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let sandbox = client.run_pod_sandbox(pod.clone(), String::new()).await.unwrap_or_else(|e| {
        panic!("RunPodSandbox failed: {e}\ncontainerd log:\n{}", cd.log_tail());
    });
    let s = client.pod_sandbox_status(sandbox.clone(), false).await.expect("sandbox status").status;
    assert_eq!(s.state, PodSandboxState::Ready);

    // Container.
    let config = ContainerConfig {
        metadata: ContainerMetadata { name: "app".into(), attempt: 0 },
        image: ImageSpec::new(BUSYBOX),
        command: vec!["sh".into(), "-c".into(), "echo hello; sleep 3600".into()],
        labels: labels(&[("io.kubernetes.container.name", "app")]),
        log_path: "app/0.log".into(),
        ..Default::default()
    };
    let id = client.create_container(sandbox.clone(), config, pod).await.unwrap_or_else(|e| {
        panic!("CreateContainer failed: {e}\ncontainerd log:\n{}", cd.log_tail());
    });
    client.start_container(id.clone()).await.unwrap_or_else(|e| {
        panic!("StartContainer failed: {e}\ncontainerd log:\n{}", cd.log_tail());
    });
    let st = client.container_status(id.clone(), false).await.expect("container status").status;
    assert_eq!(st.state, ContainerState::Running, "{st:?}");
    assert!(st.started_at.is_some());

    let by_label =
        ContainerFilter { label_selector: labels(&[("io.kubernetes.container.name", "app")]), ..Default::default() };
    let listed = client.list_containers(by_label).await.expect("list containers");
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);

    let out = client
        .exec_sync(ExecSyncRequest {
            container_id: id.clone(),
            cmd: vec!["echo".into(), "hi".into()],
            timeout: Some(Duration::from_secs(10)),
        })
        .await
        .expect("exec sync");
    assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"hi\n"[..], 0), "{out:?}");

    let log_path = PathBuf::from(&st.log_path);
    assert_eq!(log_path, logs.join("app/0.log"));
    wait_for("'hello' in the container log", || {
        let log_path = log_path.clone();
        async move { std::fs::read_to_string(&log_path).is_ok_and(|l| l.lines().any(|x| x.ends_with(" stdout F hello"))) }
    })
    .await;

    // Stop: `sh` as PID 1 ignores SIGTERM, so this also exercises the kill after the timeout.
    client.stop_container(id.clone(), Duration::from_secs(1)).await.expect("stop container");
    let st = client.container_status(id.clone(), false).await.expect("status").status;
    assert_eq!(st.state, ContainerState::Exited, "{st:?}");
    assert!(st.finished_at.is_some());
    client.stop_container(id.clone(), Duration::from_secs(1)).await.expect("stop is idempotent");

    client.remove_container(id.clone()).await.expect("remove container");
    client.remove_container(id.clone()).await.expect("remove is idempotent");
    assert!(client.container_status(id, false).await.is_err_and(|e| e.is_not_found()));

    client.stop_pod_sandbox(sandbox.clone()).await.expect("stop sandbox");
    client.remove_pod_sandbox(sandbox.clone()).await.expect("remove sandbox");
    client.remove_pod_sandbox(sandbox.clone()).await.expect("remove sandbox is idempotent");
    assert!(client.pod_sandbox_status(sandbox, false).await.is_err_and(|e| e.is_not_found()));

    drop(client);
    cd.stop().await;
}
