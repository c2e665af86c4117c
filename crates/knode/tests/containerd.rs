//! The kubelet against a real containerd (1.6+) started by the test and the in-process API
//! server: one busybox pod on the host network runs, logs, and is cleaned up on deletion;
//! then, with containerd in a network namespace of its own and a bridge CNI network, pods
//! with their own addresses: two containers sharing localhost and an emptyDir, configMap
//! and secret volumes, probes, restarts with back-off, and the pod IP reachable from the
//! node.
//!
//! Needs root, `containerd`, `ctr`, `runc` and a static busybox (`busybox-static`), which
//! `scripts/install-deps.sh` installs; it fails (never skips) when containerd cannot start.
//! containerd comes from `kcri::testing` (images built offline from /bin/busybox); the pod
//! of the first test uses the host network, so no CNI configuration is needed. `KCRI_KEEP=1` keeps
//! containerd's directory for debugging.

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{Live, eventually, init_tracing, kubectl};
use kapi::k8s::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, ExecAction, Pod, PodSpec, Probe, Secret,
    SecretVolumeSource, Volume, VolumeMount,
};
use kcri::testing::{BUSYBOX, Containerd, POD_SUBNET};
use kcri::types::{ContainerFilter, PodSandboxFilter};
use kcri::{Client, RuntimeService};
use knode::logs::{LogOptions, pod_log_dir, read_container_log};
use knode::pods::backoff::BackoffConfig;
use knode::{Kubelet, KubeletConfig, NodeResources};
use kwatch::http::{Api, DeleteParams, PostParams};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const NODE: &str = "containerd-node";

async fn connect(cd: &Containerd) -> Arc<Client> {
    Arc::new(Client::connect(format!("unix://{}", cd.socket().display())).await.expect("connect to containerd"))
}

/// A kubelet on the host's resources with its files under containerd's directory, its API
/// on a free loopback port, and its pod cgroups under `cgroup_root`.
fn kubelet_config(cd: &Containerd, cgroup_root: &str) -> KubeletConfig {
    let mut config = KubeletConfig::new(NODE, NodeResources::from_host(110).expect("host resources"));
    config.root_dir = cd.path().join("kubelet");
    config.pod_log_dir = cd.path().join("pods-logs");
    config.cgroup_root = cgroup_root.into();
    config.node_ip = Some(IpAddr::from([127, 0, 0, 1]));
    config.address = IpAddr::from([127, 0, 0, 1]);
    config.port = 0;
    config
}

fn start(
    config: KubeletConfig,
    runtime: &Arc<Client>,
    live: &Live,
) -> (CancellationToken, JoinHandle<Result<(), knode::Error>>) {
    let kubelet = Kubelet::builder(config)
        .runtime(runtime.clone(), runtime.clone())
        .client(live.client.clone())
        .build()
        .expect("kubelet");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(kubelet.run(cancel.clone()));
    (cancel, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busybox_pod_through_containerd() {
    init_tracing();
    let cd = Containerd::start().await;
    cd.import_images().await;
    let live = Live::start().await;
    let runtime = connect(&cd).await;
    let config = kubelet_config(&cd, "/knode-test");
    let log_root = config.pod_log_dir.clone();
    let (cancel, task) = start(config, &runtime, &live);

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

fn sh(name: &str, script: &str) -> Container {
    Container {
        name: name.into(),
        image: Some(BUSYBOX.into()),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), ..Default::default() }
}

fn exec_probe(cmd: &[&str]) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(cmd.iter().map(|s| (*s).to_owned()).collect()) }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    }
}

fn pod_of(name: &str, containers: Vec<Container>, volumes: Vec<Volume>) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.into());
    pod.metadata.namespace = Some("default".into());
    pod.spec = Some(PodSpec {
        node_name: Some(NODE.into()),
        termination_grace_period_seconds: Some(1),
        containers,
        volumes: Some(volumes),
        ..Default::default()
    });
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_with_their_own_network_on_containerd() {
    init_tracing();
    let cd = Containerd::start_isolated().await;
    cd.import_images().await;
    let netns = cd.netns().expect("isolated").to_owned();
    let live = Live::start().await;
    let runtime = connect(&cd).await;
    let mut config = kubelet_config(&cd, "/knode-net-test");
    config.restart_backoff =
        BackoffConfig::new(Duration::from_millis(500), Duration::from_secs(2), Duration::from_secs(600));
    let manifests = cd.path().join("manifests");
    std::fs::create_dir_all(&manifests).expect("manifest dir");
    config.static_pod_path = Some(manifests.clone());
    config.file_check_frequency = Duration::from_secs(1);
    let (cancel, task) = start(config, &runtime, &live);

    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("cfg".into());
    cm.data = Some([("greeting".to_owned(), "hello from a configmap".to_owned())].into());
    Api::<ConfigMap>::namespaced(live.client.clone(), "default").create(&cm, &PostParams::default()).await.expect("cm");
    let mut secret = Secret::default();
    secret.metadata.name = Some("sec".into());
    secret.string_data = Some([("token".to_owned(), "s3cr3t".to_owned())].into());
    Api::<Secret>::namespaced(live.client.clone(), "default")
        .create(&secret, &PostParams::default())
        .await
        .expect("secret");

    // A server and a client in one pod: localhost and an emptyDir are shared.
    let mut server = sh("server", "echo served > /www/index.html && exec httpd -f -p 8080 -h /www");
    server.volume_mounts = Some(vec![mount("www", "/www")]);
    server.readiness_probe = Some(exec_probe(&["cat", "/www/index.html"]));
    let mut client = sh(
        "client",
        "until wget -qO- http://127.0.0.1:8080/; do sleep 0.2; done; cat /cfg/greeting; echo; cat /sec/token; echo; \
         cat /www/index.html; exec sleep 3600",
    );
    client.volume_mounts = Some(vec![mount("www", "/www"), mount("cfg", "/cfg"), mount("sec", "/sec")]);
    let volumes = vec![
        Volume { name: "www".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
        Volume {
            name: "cfg".into(),
            config_map: Some(ConfigMapVolumeSource { name: "cfg".into(), ..Default::default() }),
            ..Default::default()
        },
        Volume {
            name: "sec".into(),
            secret: Some(SecretVolumeSource { secret_name: Some("sec".into()), ..Default::default() }),
            ..Default::default()
        },
    ];
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    pods.create(&pod_of("web", vec![server, client], volumes), &PostParams::default()).await.expect("create web");
    // A container that keeps crashing, and one whose liveness probe fails.
    pods.create(&pod_of("crash", vec![sh("c", "echo crashing; exit 3")], vec![]), &PostParams::default())
        .await
        .expect("create crash");
    let mut sick = sh("app", "echo started; exec sleep 3600");
    sick.liveness_probe = Some(exec_probe(&["false"]));
    pods.create(&pod_of("sick", vec![sick], vec![]), &PostParams::default()).await.expect("create sick");
    // Ready while its probe's file exists, then not.
    let mut flip = sh("app", "touch /tmp/ready; sleep 4; rm /tmp/ready; exec sleep 3600");
    flip.readiness_probe = Some(exec_probe(&["cat", "/tmp/ready"]));
    pods.create(&pod_of("flip", vec![flip], vec![]), &PostParams::default()).await.expect("create flip");
    // A static pod from a manifest file, shown as a mirror pod.
    std::fs::write(
        manifests.join("static.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-app\n  namespace: default\nspec:\n  \
             terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {BUSYBOX}\n    \
             command: [sh, -c, 'echo static; exec sleep 3600']\n"
        ),
    )
    .expect("write manifest");

    let web = eventually(90, "web Ready", || async {
        let p = pods.get_opt("web").await.ok()??;
        let ready = p.status.as_ref()?.conditions.as_ref()?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        ready.then_some(p)
    })
    .await;
    let pod_ip = web.status.as_ref().and_then(|s| s.pod_ip.clone()).expect("pod IP");
    let prefix = POD_SUBNET.rsplit_once('.').map(|(p, _)| p).unwrap_or_default();
    assert!(pod_ip.starts_with(prefix), "{pod_ip} from the bridge network {POD_SUBNET}");

    // The client reached the server over localhost and read the shared and projected files.
    let logs = eventually(30, "client output", || async {
        let (ok, out, _) = kubectl(&live, &["logs", "web", "-c", "client"]).await;
        (ok && out.lines().count() >= 4).then_some(out)
    })
    .await;
    assert_eq!(logs, "served\nhello from a configmap\ns3cr3t\nserved\n");

    // The node (containerd's namespace) reaches the pod at its IP.
    let out = tokio::process::Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{netns}"))
        .args(["busybox", "wget", "-qO-", &format!("http://{pod_ip}:8080/")])
        .output()
        .await
        .expect("wget in the node namespace");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "served\n");

    let restarts = |name: &'static str| {
        let pods = pods.clone();
        async move {
            let p = pods.get_opt(name).await.ok()??;
            let cs = p.status?.container_statuses?.into_iter().next()?;
            Some(cs)
        }
    };
    let crashed = eventually(90, "crash restarted twice", || async {
        restarts("crash").await.filter(|cs| cs.restart_count >= 2)
    })
    .await;
    let last = crashed.last_state.and_then(|s| s.terminated).expect("last state terminated");
    assert_eq!(last.exit_code, 3);
    let (ok, out, err) = kubectl(&live, &["logs", "crash", "--previous"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "crashing\n");
    eventually(90, "sick restarted by its liveness probe", || async {
        restarts("sick").await.filter(|cs| cs.restart_count >= 1)
    })
    .await;

    let ready = |name: &'static str| {
        let pods = pods.clone();
        async move {
            let p = pods.get_opt(name).await.ok()??;
            let c = p.status?.conditions?.into_iter().find(|c| c.type_ == "Ready")?;
            Some(c.status)
        }
    };
    eventually(60, "flip Ready", || async { (ready("flip").await.as_deref() == Some("True")).then_some(()) }).await;
    eventually(60, "flip not Ready", || async { (ready("flip").await.as_deref() == Some("False")).then_some(()) })
        .await;

    let mirror = format!("static-app-{NODE}");
    eventually(60, "mirror pod Running", || async {
        let p = pods.get_opt(&mirror).await.ok()??;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let (ok, out, err) = kubectl(&live, &["logs", &mirror]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "static\n");
    std::fs::remove_file(manifests.join("static.yaml")).expect("remove manifest");
    eventually(60, "mirror pod gone", || async { pods.get_opt(&mirror).await.ok()?.is_none().then_some(()) }).await;

    for name in ["web", "crash", "sick", "flip"] {
        pods.delete(name, &DeleteParams::default()).await.expect("delete");
    }
    eventually(60, "pods gone", || async { pods.list(&Default::default()).await.ok()?.items.is_empty().then_some(()) })
        .await;
    let sandboxes = runtime.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list sandboxes");
    assert!(sandboxes.is_empty(), "{sandboxes:?}");
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("kubelet stops").expect("no panic").expect("ok");
    drop(runtime);
    cd.stop().await;
    remove_cgroups("knode-net-test");
}
