//! The real [`Client`] against [`FakeRuntime`] served on a temporary unix socket.

use std::sync::Arc;
use std::time::Duration;

use kcri::fake::{Behaviour, FakeRuntime};
use kcri::server::ServerHandle;
use kcri::types::{
    ContainerConfig, ContainerEventType, ContainerFilter, ContainerMetadata, ContainerState, ExecSyncRequest,
    ExecSyncResponse, ImageFilter, ImageSpec, KUBELET_API_VERSION, Labels, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, NamespaceMode, NamespaceOptions, PodSandboxConfig, PodSandboxFilter,
    PodSandboxMetadata, PodSandboxState,
};
use kcri::{Client, Error, ImageService, RetryPolicy, RuntimeService};
use tokio_stream::StreamExt;

struct Harness {
    fake: FakeRuntime,
    client: Client,
    server: ServerHandle,
    dir: tempfile::TempDir,
}

async fn harness(fake: FakeRuntime) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = fake.serve(dir.path().join("cri.sock")).expect("serve fake");
    let client = Client::builder(server.endpoint())
        .timeout(Duration::from_secs(10))
        .retry(RetryPolicy::none())
        .connect()
        .await
        .expect("connect to fake");
    Harness { fake, client, server, dir }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn pod(name: &str, log_directory: &std::path::Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata {
            name: name.into(),
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            attempt: 0,
        },
        hostname: name.into(),
        log_directory: log_directory.join(name).display().to_string(),
        labels: labels(&[("io.kubernetes.pod.name", name), ("io.kubernetes.pod.namespace", "default")]),
        ..Default::default()
    }
}

fn container(name: &str, image: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: ContainerMetadata { name: name.into(), attempt: 0 },
        image: ImageSpec::new(image),
        labels: labels(&[("io.kubernetes.container.name", name)]),
        log_path: format!("{name}/0.log"),
        ..Default::default()
    }
}

#[tokio::test]
async fn version_status_and_config() {
    let h = harness(FakeRuntime::new()).await;
    assert_eq!(h.client.runtime_version().runtime_name, "kcri-fake");
    assert_eq!(h.client.runtime_version().runtime_api_version, "v1");
    let v = h.client.version(KUBELET_API_VERSION.into()).await.expect("version");
    assert_eq!(v.version, KUBELET_API_VERSION);
    assert!(h.client.status(false).await.expect("status").is_ready());
    h.fake.set_network_ready(false);
    assert!(!h.client.status(true).await.expect("status").is_ready());
    assert!(h.client.runtime_config().await.expect("runtime config").cgroup_driver.is_some());
    h.client.update_runtime_config("10.244.0.0/24".into()).await.expect("update runtime config");
    assert_eq!(h.fake.calls().first(), Some(&"Version"), "the client negotiates the version when connecting");
}

#[tokio::test]
async fn sandbox_and_container_lifecycle() {
    let fake = FakeRuntime::builder().start_latency(Duration::from_millis(20)).build().expect("fake");
    let h = harness(fake).await;
    let config = pod("web", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run sandbox");
    let status = h.client.pod_sandbox_status(sandbox.clone(), false).await.expect("sandbox status").status;
    assert_eq!(status.state, PodSandboxState::Ready);
    assert_eq!(status.ip(), Some("10.88.0.2"));

    // Creating before pulling fails like a real runtime.
    let err = h.client.create_container(sandbox.clone(), container("app", "kcri.test/app:1"), config.clone()).await;
    assert!(matches!(err, Err(Error::NotFound(_))), "{err:?}");

    h.client.pull_image(ImageSpec::new("kcri.test/app:1"), None, None).await.expect("pull");
    let id = h
        .client
        .create_container(sandbox.clone(), container("app", "kcri.test/app:1"), config.clone())
        .await
        .expect("create");
    let s = h.client.container_status(id.clone(), false).await.expect("status").status;
    assert_eq!(s.state, ContainerState::Created);
    assert!(s.image_ref.starts_with("sha256:"));

    h.client.start_container(id.clone()).await.expect("start");
    let s = h.client.container_status(id.clone(), false).await.expect("status").status;
    assert_eq!(s.state, ContainerState::Running);
    assert!(s.started_at.is_some());
    assert!(s.log_path.ends_with("web/app/0.log"), "{}", s.log_path);

    h.client.stop_container(id.clone(), Duration::from_secs(1)).await.expect("stop");
    let s = h.client.container_status(id.clone(), false).await.expect("status").status;
    assert_eq!((s.state, s.exit_code, s.reason.as_str()), (ContainerState::Exited, 0, "Completed"));
    assert!(s.finished_at.is_some());

    h.client.stop_pod_sandbox(sandbox.clone()).await.expect("stop sandbox");
    let status = h.client.pod_sandbox_status(sandbox.clone(), false).await.expect("status").status;
    assert_eq!(status.state, PodSandboxState::NotReady);
    h.client.remove_pod_sandbox(sandbox.clone()).await.expect("remove sandbox");
    assert!(
        h.client.list_containers(ContainerFilter::default()).await.expect("list").is_empty(),
        "containers go with the sandbox"
    );
    assert!(matches!(h.client.pod_sandbox_status(sandbox, false).await, Err(Error::NotFound(_))));
    h.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn exit_behaviours_and_logs() {
    let fake = FakeRuntime::builder()
        .behaviour_for_container("talker", Behaviour::run_forever().with_logs(["hello", "world"]))
        .build()
        .expect("fake");
    let h = harness(fake).await;
    let config = pod("jobs", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run");
    for image in ["fake/exit:1", "fake/exit-after-100ms:0", "busybox:1"] {
        h.client.pull_image(ImageSpec::new(image), None, None).await.expect("pull");
    }
    let crash = h
        .client
        .create_container(sandbox.clone(), container("crash", "fake/exit:1"), config.clone())
        .await
        .expect("create");
    let done = h
        .client
        .create_container(sandbox.clone(), container("done", "fake/exit-after-100ms:0"), config.clone())
        .await
        .expect("create");
    let talker = h
        .client
        .create_container(sandbox.clone(), container("talker", "busybox:1"), config.clone())
        .await
        .expect("create");
    for id in [&crash, &done, &talker] {
        h.client.start_container(id.clone()).await.expect("start");
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let crash_s = h.client.container_status(crash.clone(), false).await.expect("status").status;
        let done_s = h.client.container_status(done.clone(), false).await.expect("status").status;
        if crash_s.state == ContainerState::Exited && done_s.state == ContainerState::Exited {
            assert_eq!((crash_s.exit_code, crash_s.reason.as_str()), (1, "Error"));
            assert_eq!((done_s.exit_code, done_s.reason.as_str()), (0, "Completed"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "containers did not exit: {crash_s:?} {done_s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let log_path = h.client.container_status(talker.clone(), false).await.expect("status").status.log_path;
    let log = std::fs::read_to_string(&log_path).expect("log file");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    for (line, text) in lines.iter().zip(["hello", "world"]) {
        let mut parts = line.splitn(4, ' ');
        let (ts, stream, tag, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        assert!(ts.is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{line}");
        assert_eq!((stream, tag, rest), (Some("stdout"), Some("F"), Some(text)));
    }

    // Crash injection for a running container.
    assert!(h.fake.exit_container(&talker, 137));
    let s = h.client.container_status(talker, false).await.expect("status").status;
    assert_eq!((s.state, s.exit_code), (ContainerState::Exited, 137));
}

#[tokio::test]
async fn list_filters_by_label_state_and_sandbox() {
    let h = harness(FakeRuntime::builder().image("busybox:1").build().expect("fake")).await;
    let a = pod("a", h.dir.path());
    let b = pod("b", h.dir.path());
    let sa = h.client.run_pod_sandbox(a.clone(), String::new()).await.expect("run a");
    let sb = h.client.run_pod_sandbox(b.clone(), String::new()).await.expect("run b");
    let sb_ip = h.client.pod_sandbox_status(sb.clone(), false).await.expect("status").status.ip().map(str::to_owned);
    assert_eq!(sb_ip.as_deref(), Some("10.88.0.3"), "IPs are allocated in order");

    let ca = h.client.create_container(sa.clone(), container("one", "busybox:1"), a.clone()).await.expect("create");
    let cb = h.client.create_container(sb.clone(), container("two", "busybox:1"), b.clone()).await.expect("create");
    h.client.start_container(cb.clone()).await.expect("start");

    let by_label =
        PodSandboxFilter { label_selector: labels(&[("io.kubernetes.pod.name", "b")]), ..Default::default() };
    let found = h.client.list_pod_sandbox(by_label).await.expect("list");
    assert_eq!(found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [sb.as_str()]);
    assert_eq!(h.client.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list").len(), 2);

    let running = ContainerFilter { state: Some(ContainerState::Running), ..Default::default() };
    let found = h.client.list_containers(running).await.expect("list");
    assert_eq!(found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [cb.as_str()]);
    let in_a = ContainerFilter { pod_sandbox_id: Some(sa.clone()), ..Default::default() };
    assert_eq!(h.client.list_containers(in_a).await.expect("list")[0].id, ca);
    let by_name =
        ContainerFilter { label_selector: labels(&[("io.kubernetes.container.name", "one")]), ..Default::default() };
    assert_eq!(h.client.list_containers(by_name).await.expect("list")[0].id, ca);
    let by_prefix = ContainerFilter { id: Some(cb[..12].to_owned()), ..Default::default() };
    assert_eq!(h.client.list_containers(by_prefix).await.expect("list").len(), 1);

    let stats = h.client.list_container_stats(Default::default()).await.expect("stats");
    assert_eq!(stats.len(), 1, "only running containers have stats");
    assert!(h.client.pod_sandbox_stats(sb).await.expect("pod stats").containers.len() == 1);
}

#[tokio::test]
async fn exec_sync_for_probes() {
    let fake = FakeRuntime::builder()
        .image("busybox:1")
        .exec_result(["cat", "/tmp/healthy"], ExecSyncResponse::success("ok"))
        .build()
        .expect("fake");
    let h = harness(fake).await;
    let config = pod("probe", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run");
    let id = h.client.create_container(sandbox, container("app", "busybox:1"), config).await.expect("create");

    let exec = |cmd: &[&str]| ExecSyncRequest {
        container_id: id.clone(),
        cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
        timeout: Some(Duration::from_secs(1)),
    };
    let err = h.client.exec_sync(exec(&["true"])).await;
    assert!(matches!(err, Err(Error::Runtime { code: 9, .. })), "exec in a created container: {err:?}");

    h.client.start_container(id.clone()).await.expect("start");
    let out = h.client.exec_sync(exec(&["echo", "hi"])).await.expect("exec");
    assert_eq!((out.stdout.as_slice(), out.exit_code), (&b"hi\n"[..], 0));
    assert_eq!(h.client.exec_sync(exec(&["cat", "/tmp/healthy"])).await.expect("exec").stdout, b"ok");
    h.fake.set_exec_result(["cat", "/tmp/healthy"], ExecSyncResponse::failure(1, "No such file"));
    let out = h.client.exec_sync(exec(&["cat", "/tmp/healthy"])).await.expect("exec");
    assert_eq!((out.exit_code, out.stderr.as_slice()), (1, &b"No such file"[..]));

    let url = h
        .client
        .exec(kcri::types::ExecRequest {
            container_id: id.clone(),
            cmd: vec!["sh".into()],
            stdout: true,
            ..Default::default()
        })
        .await
        .expect("exec url");
    assert!(url.starts_with("http://"), "{url}");
}

#[tokio::test]
async fn container_events_stream() {
    let h = harness(FakeRuntime::builder().image("busybox:1").build().expect("fake")).await;
    let mut events = h.client.get_container_events().await.expect("events");
    let config = pod("ev", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run");
    let id = h.client.create_container(sandbox.clone(), container("app", "busybox:1"), config).await.expect("create");
    h.client.start_container(id.clone()).await.expect("start");
    h.client.stop_container(id.clone(), Duration::ZERO).await.expect("stop");
    h.client.remove_container(id.clone()).await.expect("remove");

    let mut seen = Vec::new();
    for _ in 0..4 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("event ok");
        assert_eq!(event.container_id, id);
        assert_eq!(event.pod_sandbox_status.as_ref().map(|s| s.id.as_str()), Some(sandbox.as_str()));
        seen.push(event.event_type);
    }
    assert_eq!(
        seen,
        [
            ContainerEventType::Created,
            ContainerEventType::Started,
            ContainerEventType::Stopped,
            ContainerEventType::Deleted
        ]
    );
}

#[tokio::test]
async fn stop_and_remove_are_idempotent() {
    let h = harness(FakeRuntime::builder().image("busybox:1").build().expect("fake")).await;
    let missing = "0".repeat(64);
    h.client.stop_container(missing.clone(), Duration::from_secs(1)).await.expect("stop missing container");
    h.client.remove_container(missing.clone()).await.expect("remove missing container");
    h.client.stop_pod_sandbox(missing.clone()).await.expect("stop missing sandbox");
    h.client.remove_pod_sandbox(missing.clone()).await.expect("remove missing sandbox");
    h.client.remove_image(ImageSpec::new("never/pulled:1")).await.expect("remove missing image");

    let config = pod("idem", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run");
    let id = h
        .client
        .create_container(sandbox.clone(), container("app", "busybox:1"), config.clone())
        .await
        .expect("create");
    h.client.start_container(id.clone()).await.expect("start");
    for _ in 0..2 {
        h.client.stop_container(id.clone(), Duration::ZERO).await.expect("stop twice");
        h.client.stop_pod_sandbox(sandbox.clone()).await.expect("stop sandbox twice");
    }
    for _ in 0..2 {
        h.client.remove_container(id.clone()).await.expect("remove twice");
        h.client.remove_pod_sandbox(sandbox.clone()).await.expect("remove sandbox twice");
    }
}

#[tokio::test]
async fn errors_map_to_variants() {
    let fake = FakeRuntime::builder().pull_unknown(false).image("busybox:1").build().expect("fake");
    let h = harness(fake).await;
    let missing = "f".repeat(64);
    assert!(matches!(h.client.container_status(missing.clone(), false).await, Err(Error::NotFound(_))));
    assert!(matches!(h.client.start_container(missing.clone()).await, Err(Error::NotFound(_))));
    assert!(matches!(h.client.pull_image(ImageSpec::new("nope:1"), None, None).await, Err(Error::NotFound(_))));
    assert!(h.client.image_status(ImageSpec::new("nope:1")).await.expect("status").is_none());

    let config = pod("dup", h.dir.path());
    let sandbox = h.client.run_pod_sandbox(config.clone(), String::new()).await.expect("run");
    let err = h.client.run_pod_sandbox(config.clone(), String::new()).await;
    assert!(matches!(err, Err(Error::Runtime { code: 6, .. })), "duplicate sandbox: {err:?}");
    h.client.create_container(sandbox.clone(), container("c", "busybox:1"), config.clone()).await.expect("create");
    let err = h.client.create_container(sandbox, container("c", "busybox:1"), config).await;
    assert!(matches!(err, Err(Error::Runtime { code: 6, .. })), "duplicate container: {err:?}");

    // A dead socket surfaces as a transport error at connect time.
    let gone = h.dir.path().join("gone.sock");
    let err =
        Client::builder(format!("unix://{}", gone.display())).connect_timeout(Duration::from_secs(2)).connect().await;
    assert!(matches!(err, Err(Error::Transport(_))), "{err:?}");
    assert!(matches!(Client::connect("tcp://127.0.0.1:1").await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn unavailable_calls_are_retried_then_reported() {
    let h = harness(FakeRuntime::new()).await;
    let client = Client::builder(h.server.endpoint())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        })
        .connect()
        .await
        .expect("connect");
    h.server.shutdown().await.expect("shutdown");
    let started = tokio::time::Instant::now();
    let err = client.list_pod_sandbox(PodSandboxFilter::default()).await;
    assert!(matches!(err, Err(Error::Unavailable(_))), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(30), "two backoffs were waited");
}

#[tokio::test]
async fn images_and_host_network_sandbox() {
    let h = harness(FakeRuntime::builder().image("busybox:1").build().expect("fake")).await;
    let image_ref = h.client.pull_image(ImageSpec::new("nginx:1.27"), None, None).await.expect("pull");
    let images = h.client.list_images(ImageFilter::default()).await.expect("list");
    assert_eq!(images.len(), 2);
    let status = h.client.image_status(ImageSpec::new("nginx:1.27")).await.expect("status").expect("present");
    assert_eq!(status.id, image_ref);
    assert_eq!(h.client.image_status(ImageSpec::new(&image_ref)).await.expect("by id").map(|i| i.id), Some(image_ref));
    let fs = h.client.image_fs_info().await.expect("fs info");
    assert_eq!(fs.image_filesystems[0].inodes_used, Some(2));
    h.client.remove_image(ImageSpec::new("nginx:1.27")).await.expect("remove");
    assert_eq!(h.client.list_images(ImageFilter::default()).await.expect("list").len(), 1);

    let mut config = pod("host", h.dir.path());
    config.linux = Some(LinuxPodSandboxConfig {
        security_context: Some(LinuxSandboxSecurityContext {
            namespace_options: Some(NamespaceOptions { network: NamespaceMode::Node, ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let sandbox = h.client.run_pod_sandbox(config, String::new()).await.expect("run");
    let status = h.client.pod_sandbox_status(sandbox, false).await.expect("status").status;
    assert_eq!(status.ip(), None, "host-network sandboxes get no pod IP");
    assert_eq!(status.namespace_options.map(|n| n.network), Some(NamespaceMode::Node));
}

#[tokio::test]
async fn object_safe_behind_arc_dyn() {
    let fake = FakeRuntime::new();
    let runtimes: Vec<Arc<dyn RuntimeService>> = vec![Arc::new(fake.clone())];
    for rt in runtimes {
        assert_eq!(rt.version(KUBELET_API_VERSION.into()).await.expect("version").runtime_name, "kcri-fake");
    }
    let images: Arc<dyn ImageService> = Arc::new(fake);
    assert!(images.list_images(ImageFilter::default()).await.expect("list").is_empty());
}
