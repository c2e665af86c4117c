//! The kubelet against a real containerd (1.6+) started by the test and the in-process API
//! server: one busybox pod runs, logs, and is cleaned up on deletion.
//!
//! Needs root, `containerd`, `ctr`, `runc` and a static busybox (`busybox-static`), which
//! `scripts/install-deps.sh` installs; it fails (never skips) when containerd cannot start.
//! As in kcri's containerd test, the pod uses the host network, so no CNI configuration is
//! needed, and images are built offline from /bin/busybox (`tests/support/mk-oci-images.sh`)
//! and imported with `ctr`. `KNODE_KEEP=1` keeps containerd's directory for debugging.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{Live, eventually, init_tracing};
use kapi::k8s::api::core::v1::{Container, Pod, PodSpec};
use kcri::types::{ContainerFilter, PodSandboxFilter};
use kcri::{Client, RuntimeService};
use knode::logs::{LogOptions, pod_log_dir, read_container_log};
use knode::{Kubelet, KubeletConfig, NodeResources};
use kwatch::http::{Api, DeleteParams, PostParams};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

const BUSYBOX: &str = "kcri.test/busybox:1";
const PAUSE: &str = "kcri.test/pause:1";
const NODE: &str = "containerd-node";

/// A containerd child process with its own root, state, config and socket.
struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Containerd {
    async fn start() -> Self {
        // Unix socket paths are limited to 108 bytes: keep the directory short.
        let mut dir = tempfile::Builder::new().prefix("knode-cd").tempdir_in("/tmp").expect("tempdir");
        dir.disable_cleanup(std::env::var_os("KNODE_KEEP").is_some());
        let d = dir.path();
        let socket = d.join("c.sock");
        std::fs::create_dir_all(d.join("cni")).expect("cni dir");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            socket = socket.display(),
            cni = d.join("cni").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("write config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("log file");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::from(log.try_clone().expect("log fd")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd (is the containerd package installed?): {e}"));
        let mut cd = Containerd { child, dir, socket };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !cd.socket.exists() {
            if let Ok(Some(status)) = cd.child.try_wait() {
                panic!("containerd exited with {status} during start-up; log:\n{}", cd.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "containerd did not open its socket; log:\n{}",
                cd.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cd
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Builds the busybox and pause images and imports them into the CRI namespace.
    async fn import_images(&self) {
        let tar = self.path().join("images.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/mk-oci-images.sh");
        let out = Command::new("bash").arg(&script).arg(&tar).output().await.expect("run mk-oci-images.sh");
        assert!(out.status.success(), "mk-oci-images.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(&tar)
            .output()
            .await
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr images import failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_pod_through_containerd() {
    init_tracing();
    let cd = Containerd::start().await;
    cd.import_images().await;
    let live = Live::start().await;
    let client = Client::connect(format!("unix://{}", cd.socket.display())).await.expect("connect to containerd");
    let runtime = Arc::new(client);

    let mut config = KubeletConfig::new(NODE, NodeResources::from_host(110).expect("host resources"));
    config.root_dir = cd.path().join("kubelet");
    config.pod_log_dir = cd.path().join("pods-logs");
    config.cgroup_root = "/knode-test".into();
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

    pods.delete("hello", &DeleteParams::default()).await.expect("delete");
    eventually(60, "pod gone", || async { pods.get_opt("hello").await.ok()?.is_none().then_some(()) }).await;
    let sandboxes = runtime.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list sandboxes");
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    let containers = runtime.list_containers(ContainerFilter::default()).await.expect("list containers");
    assert!(containers.is_empty(), "{containers:?}");

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("kubelet stops").expect("no panic").expect("ok");
    drop(runtime);
    let mut cd = cd;
    let _ = cd.child.start_kill();
    let _ = cd.child.wait().await;
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
