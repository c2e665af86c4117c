//! The kubelet against a live in-process API server and the fake CRI runtime.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Live, eventually, init_tracing, kubectl};
use kapi::k8s::ByteString;
use kapi::k8s::api::coordination::v1::Lease;
use kapi::k8s::api::core::v1::{
    ConfigMap, ConfigMapProjection, ConfigMapVolumeSource, Container, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
    EnvVar, EnvVarSource, ExecAction, HostPathVolumeSource, Node, ObjectFieldSelector, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec, Pod,
    PodSpec, Probe, ProjectedVolumeSource, Secret, SecretVolumeSource, Volume, VolumeMount, VolumeProjection,
};
use kcri::RuntimeService;
use kcri::fake::{Behaviour, FakeRuntime};
use kcri::types::{ContainerFilter, ContainerState, PodSandboxFilter};
use knode::pods::backoff::BackoffConfig;
use knode::{Kubelet, KubeletConfig, NodeResources};
use kwatch::http::{Api, DeleteParams, PostParams};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const NODE: &str = "fake-node-1";

struct Running {
    cancel: CancellationToken,
    task: JoinHandle<Result<(), knode::Error>>,
    root: tempfile::TempDir,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the kubelet stops promptly")
            .expect("no panic")
            .expect("clean stop");
    }
}

fn start(live: &Live, fake: &FakeRuntime) -> Running {
    start_with(live, fake, |_| {})
}

fn start_with(live: &Live, fake: &FakeRuntime, tweak: impl FnOnce(&mut KubeletConfig)) -> Running {
    start_with_client(live.client.clone(), fake, tweak)
}

fn start_with_client(
    client: kwatch::http::Client,
    fake: &FakeRuntime,
    tweak: impl FnOnce(&mut KubeletConfig),
) -> Running {
    let root = tempfile::tempdir().expect("tempdir");
    let mut config = KubeletConfig::new(NODE, NodeResources::new(4000, 8 << 30, 110));
    config.labels.insert("example.com/fake".into(), "true".into());
    config.root_dir = root.path().join("root");
    config.pod_log_dir = root.path().join("logs");
    config.node_ip = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    config.address = std::net::IpAddr::from([127, 0, 0, 1]);
    config.port = 0;
    config.node_lease_renew_interval = Duration::from_secs(1);
    config.node_status_update_frequency = Duration::from_secs(1);
    config.sync_frequency = Duration::from_secs(5);
    config.restart_backoff =
        BackoffConfig::new(Duration::from_millis(300), Duration::from_secs(2), Duration::from_secs(600));
    tweak(&mut config);
    let kubelet = Kubelet::builder(config)
        .runtime(Arc::new(fake.clone()), Arc::new(fake.clone()))
        .client(client)
        .build()
        .expect("valid kubelet");
    let cancel = CancellationToken::new();
    let task = tokio::spawn(kubelet.run(cancel.clone()));
    Running { cancel, task, root }
}

fn pod(name: &str, containers: Vec<Container>) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some(name.into());
    p.metadata.namespace = Some("default".into());
    p.metadata.labels = Some([("app".to_owned(), name.to_owned())].into());
    p.spec = Some(PodSpec { node_name: Some(NODE.into()), containers, ..Default::default() });
    p
}

fn container(name: &str, image: &str) -> Container {
    Container { name: name.into(), image: Some(image.into()), ..Default::default() }
}

fn condition(p: &Pod, t: &str) -> Option<String> {
    p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == t).map(|c| c.status.clone())
}

async fn get_pod(live: &Live, name: &str) -> Option<Pod> {
    Api::<Pod>::namespaced(live.client.clone(), "default").get_opt(name).await.expect("get pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_registers_becomes_ready_and_renews_its_lease() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::builder().image("docker.io/library/nginx:1.27").build().expect("fake");
    let kubelet = start(&live, &fake);
    let nodes: Api<Node> = Api::all(live.client.clone());
    let node = eventually(20, "node Ready", || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get_opt(NODE).await.ok()??;
            let ready =
                n.status.as_ref()?.conditions.as_ref()?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(n)
        }
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/hostname").map(String::as_str), Some(NODE));
    assert_eq!(labels.get("kubernetes.io/os").map(String::as_str), Some("linux"));
    assert_eq!(labels.get("example.com/fake").map(String::as_str), Some("true"));
    let status = node.status.clone().unwrap_or_default();
    assert_eq!(status.capacity.as_ref().map(|c| c["cpu"].0.as_str()), Some("4"));
    assert_eq!(status.capacity.as_ref().map(|c| c["pods"].0.as_str()), Some("110"));
    let info = status.node_info.expect("nodeInfo");
    assert!(info.container_runtime_version.starts_with("kcri-fake://"), "{info:?}");
    assert!(status.images.iter().flatten().any(|i| i.names.iter().flatten().any(|n| n.contains("nginx"))));
    for t in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(status.conditions.iter().flatten().any(|c| c.type_ == t && c.status == "False"), "{t}");
    }

    let leases: Api<Lease> = Api::namespaced(live.client.clone(), "kube-node-lease");
    let first = eventually(10, "lease", || {
        let leases = leases.clone();
        async move { leases.get_opt(NODE).await.ok()?.and_then(|l| l.spec?.renew_time) }
    })
    .await;
    let lease = leases.get(NODE).await.expect("lease");
    assert_eq!(lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()), Some(NODE));
    assert_eq!(lease.metadata.owner_references.as_ref().map(|o| o[0].kind.as_str()), Some("Node"));
    eventually(10, "lease renewal", || {
        let (leases, first) = (leases.clone(), first.clone());
        async move {
            let t = leases.get_opt(NODE).await.ok()??.spec?.renew_time?;
            (t.0 > first.0).then_some(())
        }
    })
    .await;

    // A restart re-registers the existing node without error.
    kubelet.stop().await;
    let again = start(&live, &fake);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!again.task.is_finished());
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_becomes_ready_and_is_deleted_gracefully() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::new();
    let kubelet = start(&live, &fake);
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    let mut web = container("web", "docker.io/library/nginx:1.27");
    web.env = Some(vec![
        EnvVar { name: "GREETING".into(), value: Some("hello".into()), ..Default::default() },
        EnvVar {
            name: "MY_POD".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: "metadata.name".into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        },
    ]);
    pods.create(&pod("web", vec![web]), &PostParams::default()).await.expect("create pod");

    let running = eventually(20, "pod Running and Ready", || async {
        let p = get_pod(&live, "web").await?;
        let s = p.status.as_ref()?;
        (s.phase.as_deref() == Some("Running") && condition(&p, "Ready").as_deref() == Some("True")).then_some(p)
    })
    .await;
    let status = running.status.clone().expect("status");
    assert!(status.pod_ip.as_deref().is_some_and(|ip| ip.starts_with("10.88.")), "{status:?}");
    assert!(status.host_ip.is_some() && status.start_time.is_some());
    for t in ["PodScheduled", "Initialized", "ContainersReady", "PodReadyToStartContainers"] {
        assert_eq!(condition(&running, t).as_deref(), Some("True"), "{t}");
    }
    let cs = &status.container_statuses.expect("container statuses")[0];
    assert!(cs.ready && cs.started == Some(true) && cs.restart_count == 0);
    assert!(cs.container_id.as_deref().is_some_and(|id| id.starts_with("kcri-fake://")));
    assert!(cs.state.as_ref().is_some_and(|s| s.running.is_some()));

    // The runtime has the labelled sandbox and container, with env and log path.
    let uid = running.metadata.uid.clone().expect("uid");
    let sandboxes = fake.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list");
    assert_eq!(sandboxes.len(), 1);
    assert_eq!(sandboxes[0].labels.get("io.kubernetes.pod.uid"), Some(&uid));
    assert_eq!(sandboxes[0].labels.get("io.kubernetes.pod.name").map(String::as_str), Some("web"));
    let containers = fake.list_containers(ContainerFilter::default()).await.expect("list");
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].labels.get("io.kubernetes.container.name").map(String::as_str), Some("web"));
    let st = fake.container_status(containers[0].id.clone(), false).await.expect("status").status;
    assert!(st.log_path.ends_with(&format!("default_web_{uid}/web/0.log")), "{}", st.log_path);
    assert_eq!(st.annotations.get("io.kubernetes.container.restartCount").map(String::as_str), Some("0"));

    // A restarted kubelet adopts the running container instead of restarting it.
    let Running { cancel, task, root } = kubelet;
    cancel.cancel();
    task.await.expect("no panic").expect("clean stop");
    drop(root);
    let kubelet = start(&live, &fake);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = fake.list_containers(ContainerFilter::default()).await.expect("list");
    assert_eq!(after.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [containers[0].id.as_str()]);
    let p = get_pod(&live, "web").await.expect("pod");
    assert_eq!(condition(&p, "Ready").as_deref(), Some("True"));
    assert_eq!(p.status.and_then(|s| s.container_statuses).map(|c| c[0].restart_count), Some(0));

    // Deletion: graceful stop, sandbox removed, API object gone.
    pods.delete("web", &DeleteParams::default()).await.expect("delete");
    eventually(20, "pod gone from the API", || async { get_pod(&live, "web").await.is_none().then_some(()) }).await;
    eventually(10, "runtime cleaned up", || async {
        let s = fake.list_pod_sandbox(PodSandboxFilter::default()).await.ok()?;
        let c = fake.list_containers(ContainerFilter::default()).await.ok()?;
        (s.is_empty() && c.is_empty()).then_some(())
    })
    .await;
    assert!(fake.calls().contains(&"StopContainer"));
    assert!(!kubelet.root.path().join("root/pods").join(&uid).exists(), "pod directory removed");
    kubelet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_container_is_restarted_with_backoff() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::new();
    let kubelet = start(&live, &fake);
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    pods.create(&pod("crash", vec![container("c", "fake/exit:1")]), &PostParams::default()).await.expect("create");
    let p = eventually(30, "restartCount >= 3", || async {
        let p = get_pod(&live, "crash").await?;
        let cs = p.status.as_ref()?.container_statuses.as_ref()?.first()?.clone();
        (cs.restart_count >= 3).then_some(p)
    })
    .await;
    let status = p.status.expect("status");
    assert_eq!(status.phase.as_deref(), Some("Running"), "restartPolicy Always keeps the pod Running");
    let cs = &status.container_statuses.expect("statuses")[0];
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    // Old attempts are garbage-collected: the newest two remain, plus one just started
    // before the next sync collects (4+ attempts were made).
    let containers = fake.list_containers(ContainerFilter::default()).await.expect("list");
    assert!(containers.len() <= 3, "{containers:?}");

    // A crash loop reports CrashLoopBackOff while waiting.
    let backing_off = eventually(20, "CrashLoopBackOff", || async {
        let p = get_pod(&live, "crash").await?;
        let cs = p.status.as_ref()?.container_statuses.as_ref()?.first()?.clone();
        let reason = cs.state?.waiting?.reason?;
        (reason == "CrashLoopBackOff").then_some(p)
    })
    .await;
    assert_eq!(condition(&backing_off, "Ready").as_deref(), Some("False"));
    assert_eq!(condition(&backing_off, "ContainersReady").as_deref(), Some("False"));

    // Init containers run to completion, in order, before the containers.
    let mut with_init = pod("init", vec![container("main", "docker.io/library/nginx:1.27")]);
    with_init.spec.as_mut().expect("spec").init_containers =
        Some(vec![container("first", "fake/exit-after-100ms:0"), container("second", "fake/exit:0")]);
    pods.create(&with_init, &PostParams::default()).await.expect("create");
    let p = eventually(20, "initialized pod Running", || async {
        let p = get_pod(&live, "init").await?;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    assert_eq!(condition(&p, "Initialized").as_deref(), Some("True"));
    let init: Vec<_> = p.status.as_ref().and_then(|s| s.init_container_statuses.clone()).expect("init statuses");
    assert_eq!(init.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["first", "second"]);
    for c in &init {
        let t = c.state.as_ref().and_then(|s| s.terminated.as_ref()).expect("terminated");
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    }
    let first_done = init[0].state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at.clone());
    let second_start = init[1].state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.started_at.clone());
    assert!(first_done <= second_start, "init containers ran in order");

    // restartPolicy Never: a failed container fails the pod.
    let mut never = pod("never", vec![container("c", "fake/exit:3")]);
    never.spec.as_mut().expect("spec").restart_policy = Some("Never".into());
    pods.create(&never, &PostParams::default()).await.expect("create");
    let p = eventually(20, "pod Failed", || async {
        let p = get_pod(&live, "never").await?;
        (p.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(p)
    })
    .await;
    let cs = &p.status.and_then(|s| s.container_statuses).expect("statuses")[0];
    assert_eq!(cs.restart_count, 0);
    assert_eq!(cs.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(3));
    kubelet.stop().await;
}

fn exec_probe(cmd: &[&str]) -> Probe {
    Probe {
        exec: Some(ExecAction { command: Some(cmd.iter().map(|s| (*s).to_owned()).collect()) }),
        period_seconds: Some(1),
        failure_threshold: Some(1),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_drive_readiness_and_liveness_restarts() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::new();
    let kubelet = start(&live, &fake);
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");

    let mut unready = container("app", "docker.io/library/nginx:1.27");
    unready.readiness_probe = Some(exec_probe(&["false"]));
    pods.create(&pod("unready", vec![unready]), &PostParams::default()).await.expect("create");
    let mut ready = container("app", "docker.io/library/nginx:1.27");
    ready.readiness_probe = Some(exec_probe(&["true"]));
    pods.create(&pod("ready", vec![ready]), &PostParams::default()).await.expect("create");

    eventually(20, "probed pod Ready", || async {
        let p = get_pod(&live, "ready").await?;
        (condition(&p, "Ready").as_deref() == Some("True")).then_some(())
    })
    .await;
    // The failing probe has had several periods by now: still not ready, but Running.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p = get_pod(&live, "unready").await.expect("pod");
    assert_eq!(p.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Running"));
    assert_eq!(condition(&p, "Ready").as_deref(), Some("False"));
    assert_eq!(condition(&p, "ContainersReady").as_deref(), Some("False"));
    let cs = &p.status.and_then(|s| s.container_statuses).expect("statuses")[0];
    assert!(!cs.ready && cs.restart_count == 0);

    // Liveness failure restarts the container.
    let mut sick = container("app", "docker.io/library/nginx:1.27");
    sick.liveness_probe = Some(exec_probe(&["false"]));
    pods.create(&pod("sick", vec![sick]), &PostParams::default()).await.expect("create");
    eventually(20, "liveness restart", || async {
        let p = get_pod(&live, "sick").await?;
        let cs = p.status?.container_statuses?.first()?.clone();
        (cs.restart_count >= 1).then_some(())
    })
    .await;
    let running = fake.list_containers(ContainerFilter { state: Some(ContainerState::Running), ..Default::default() });
    assert!(running.await.expect("list").len() >= 2);
    kubelet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_map_and_secret_volumes_are_files() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::new();
    let kubelet = start(&live, &fake);
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    cm.data = Some([("app.conf".to_owned(), "level=debug\n".to_owned())].into());
    Api::<ConfigMap>::namespaced(live.client.clone(), "default").create(&cm, &PostParams::default()).await.expect("cm");
    let mut secret = Secret::default();
    secret.metadata.name = Some("creds".into());
    secret.data = Some([("password".to_owned(), ByteString(b"s3cret".to_vec()))].into());
    Api::<Secret>::namespaced(live.client.clone(), "default")
        .create(&secret, &PostParams::default())
        .await
        .expect("secret");

    // A PersistentVolume on a host path, and a claim bound to it.
    let pv_dir = kubelet.root.path().join("pv-data");
    let mut pv = PersistentVolume::default();
    pv.metadata.name = Some("pv1".into());
    pv.spec = Some(PersistentVolumeSpec {
        capacity: Some(
            [("storage".to_owned(), kapi::k8s::apimachinery::pkg::api::resource::Quantity("1Gi".into()))].into(),
        ),
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        host_path: Some(HostPathVolumeSource {
            path: pv_dir.display().to_string(),
            type_: Some("DirectoryOrCreate".into()),
        }),
        ..Default::default()
    });
    Api::<PersistentVolume>::all(live.client.clone()).create(&pv, &PostParams::default()).await.expect("pv");
    let mut pvc = PersistentVolumeClaim::default();
    pvc.metadata.name = Some("claim".into());
    pvc.spec = Some(PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        volume_name: Some("pv1".into()),
        resources: Some(kapi::k8s::api::core::v1::VolumeResourceRequirements {
            requests: Some(
                [("storage".to_owned(), kapi::k8s::apimachinery::pkg::api::resource::Quantity("1Gi".into()))].into(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    });
    Api::<PersistentVolumeClaim>::namespaced(live.client.clone(), "default")
        .create(&pvc, &PostParams::default())
        .await
        .expect("pvc");

    let mut app = container("app", "docker.io/library/nginx:1.27");
    app.volume_mounts = Some(vec![
        VolumeMount { name: "info".into(), mount_path: "/etc/podinfo".into(), ..Default::default() },
        VolumeMount { name: "all".into(), mount_path: "/projected".into(), ..Default::default() },
        VolumeMount { name: "data".into(), mount_path: "/data".into(), ..Default::default() },
        VolumeMount { name: "config".into(), mount_path: "/etc/app".into(), ..Default::default() },
        VolumeMount {
            name: "creds".into(),
            mount_path: "/var/creds".into(),
            read_only: Some(true),
            ..Default::default()
        },
        VolumeMount { name: "scratch".into(), mount_path: "/scratch".into(), ..Default::default() },
    ]);
    let mut p = pod("vols", vec![app]);
    p.spec.as_mut().expect("spec").volumes = Some(vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource { name: "settings".into(), ..Default::default() }),
            ..Default::default()
        },
        Volume {
            name: "creds".into(),
            secret: Some(SecretVolumeSource { secret_name: Some("creds".into()), ..Default::default() }),
            ..Default::default()
        },
        Volume { name: "scratch".into(), empty_dir: Some(Default::default()), ..Default::default() },
        Volume {
            name: "info".into(),
            downward_api: Some(DownwardAPIVolumeSource {
                items: Some(vec![
                    DownwardAPIVolumeFile {
                        path: "name".into(),
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    DownwardAPIVolumeFile {
                        path: "labels".into(),
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.labels".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "all".into(),
            projected: Some(ProjectedVolumeSource {
                sources: Some(vec![VolumeProjection {
                    config_map: Some(ConfigMapProjection { name: "settings".into(), ..Default::default() }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: "claim".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
    ]);
    Api::<Pod>::namespaced(live.client.clone(), "default").create(&p, &PostParams::default()).await.expect("pod");
    eventually(20, "pod Running", || async {
        let p = get_pod(&live, "vols").await?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let containers = fake.list_containers(ContainerFilter::default()).await.expect("list");
    let st = fake.container_status(containers[0].id.clone(), false).await.expect("status").status;
    let mount = |path: &str| st.mounts.iter().find(|m| m.container_path == path).cloned().expect("mount");
    let config = mount("/etc/app");
    assert_eq!(std::fs::read_to_string(format!("{}/app.conf", config.host_path)).expect("cm file"), "level=debug\n");
    let creds = mount("/var/creds");
    assert!(creds.readonly);
    assert_eq!(std::fs::read(format!("{}/password", creds.host_path)).expect("secret file"), b"s3cret");
    let root = kubelet.root.path().join("root/pods");
    assert!(config.host_path.starts_with(root.to_str().expect("utf8")), "{}", config.host_path);
    assert!(config.host_path.contains("volumes/kubernetes.io~configmap/config"));
    assert!(std::path::Path::new(&mount("/scratch").host_path).is_dir());
    let info = mount("/etc/podinfo").host_path;
    assert_eq!(std::fs::read_to_string(format!("{info}/name")).expect("downward name"), "vols");
    assert_eq!(std::fs::read_to_string(format!("{info}/labels")).expect("downward labels"), "app=\"vols\"");
    let projected = mount("/projected").host_path;
    assert_eq!(std::fs::read_to_string(format!("{projected}/app.conf")).expect("projected"), "level=debug\n");
    assert_eq!(mount("/data").host_path, pv_dir.display().to_string());
    assert!(pv_dir.is_dir(), "DirectoryOrCreate made the PV's directory");
    kubelet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pods_run_with_mirror_pods() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::new();
    let manifests = tempfile::tempdir().expect("tempdir");
    let manifest = manifests.path().join("web.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-web\n  namespace: kube-system\nspec:\n  containers:\n  - name: web\n    image: docker.io/library/nginx:1.27\n",
    )
    .expect("write manifest");
    let dir = manifests.path().to_owned();
    let kubelet = start_with(&live, &fake, |c| {
        c.static_pod_path = Some(dir);
        c.file_check_frequency = Duration::from_millis(500);
    });
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "kube-system");
    let name = format!("static-web-{NODE}");
    let mirror = eventually(20, "mirror pod Running", || async {
        let p = pods.get_opt(&name).await.ok()??;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(p)
    })
    .await;
    let annotations = mirror.metadata.annotations.clone().unwrap_or_default();
    let hash = annotations.get("kubernetes.io/config.mirror").cloned().expect("mirror annotation");
    assert_eq!(annotations.get("kubernetes.io/config.source").map(String::as_str), Some("file"));
    assert_ne!(mirror.metadata.uid.as_deref(), Some(hash.as_str()), "the mirror has its own UID");
    assert_eq!(condition(&mirror, "Ready").as_deref(), Some("True"));
    let sandboxes = fake.list_pod_sandbox(PodSandboxFilter::default()).await.expect("list");
    assert_eq!(sandboxes.len(), 1, "the mirror pod is not run a second time");
    assert_eq!(sandboxes[0].labels.get("io.kubernetes.pod.uid"), Some(&hash));

    // Deleting the mirror pod does not stop the static pod; the mirror comes back.
    pods.delete(&name, &DeleteParams::default()).await.expect("delete mirror");
    let old_uid = mirror.metadata.uid.clone();
    eventually(20, "mirror pod recreated", || async {
        let p = pods.get_opt(&name).await.ok()??;
        (p.metadata.uid != old_uid && p.metadata.deletion_timestamp.is_none()).then_some(())
    })
    .await;
    let containers = fake.list_containers(ContainerFilter::default()).await.expect("list");
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0].state, ContainerState::Running);

    // Removing the manifest stops the pod and deletes the mirror.
    std::fs::remove_file(&manifest).expect("remove manifest");
    eventually(20, "static pod stopped and mirror gone", || async {
        let gone = pods.get_opt(&name).await.ok()?.is_none();
        let empty = fake.list_pod_sandbox(PodSandboxFilter::default()).await.ok()?.is_empty();
        (gone && empty).then_some(())
    })
    .await;
    kubelet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_reach_the_kubelet_through_the_api_server() {
    init_tracing();
    let live = Live::start().await;
    let fake = FakeRuntime::builder()
        .behaviour_for_image("fake/talker:1", Behaviour::run_forever().with_logs(["hello", "from the fake"]))
        .behaviour_for_image("fake/short:1", Behaviour::exit_after(Duration::from_secs(2), 0).with_logs(["bye"]))
        .build()
        .expect("fake runtime");
    let kubelet = start(&live, &fake);
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    let two = pod("talker", vec![container("app", "fake/talker:1"), container("side", "fake/talker:1")]);
    pods.create(&two, &PostParams::default()).await.expect("create");
    let mut short = pod("short", vec![container("app", "fake/short:1")]);
    short.spec.as_mut().expect("spec").restart_policy = Some("Never".into());
    pods.create(&short, &PostParams::default()).await.expect("create");
    for name in ["talker", "short"] {
        eventually(20, "pod Running", || async {
            (get_pod(&live, name).await?.status?.phase.as_deref() == Some("Running")).then_some(())
        })
        .await;
    }

    // The node reports where its kubelet API listens.
    let node: Node = Api::all(live.client.clone()).get(NODE).await.expect("node");
    let port = node.status.and_then(|s| s.daemon_endpoints).and_then(|d| d.kubelet_endpoint).map(|e| e.port);
    assert!(port.is_some_and(|p| p > 0 && p != 10250), "a free port: {port:?}");
    let curl = |path: String| async move {
        let out = tokio::process::Command::new("curl").args(["-sSk", &path]).output().await.expect("curl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let base = format!("https://127.0.0.1:{}", port.unwrap_or_default());
    assert_eq!(curl(format!("{base}/healthz")).await, "ok");
    let metrics = curl(format!("{base}/metrics")).await;
    assert!(
        metrics.contains("kubelet_running_pods 2") && metrics.contains("# TYPE kubelet_running_containers gauge"),
        "{metrics}"
    );

    let (ok, out, err) = kubectl(&live, &["logs", "talker", "-c", "app"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "hello\nfrom the fake\n");
    let (ok, out, _) = kubectl(&live, &["logs", "talker", "-c", "side", "--tail=1"]).await;
    assert!(ok);
    assert_eq!(out, "from the fake\n");
    let (ok, out, _) = kubectl(&live, &["logs", "talker", "-c", "app", "--timestamps"]).await;
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.len() > 30 && l.as_bytes()[4] == b'-' && l.contains("T")), "{out}");
    assert!(lines[1].ends_with(" from the fake"), "{out}");
    let (ok, _, err) = kubectl(&live, &["logs", "talker", "-c", "nope"]).await;
    assert!(!ok && err.contains("container nope is not valid for pod talker"), "{err}");
    let (ok, _, err) = kubectl(&live, &["logs", "talker", "-c", "app", "--previous"]).await;
    assert!(!ok && err.contains("previous"), "no earlier instance: {err}");

    // Following ends when the container exits.
    let started = std::time::Instant::now();
    let (ok, out, err) = kubectl(&live, &["logs", "-f", "short"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "bye\n");
    assert!(started.elapsed() < Duration::from_secs(30));
    kubelet.stop().await;
}

/// The API server on `dir` and `port` with a fresh in-memory store.
async fn api_server(dir: &std::path::Path, port: u16) -> (kapiserver::ApiServer, CancellationToken) {
    use kstore::{Store, StoreConfig};
    let store = Store::open(StoreConfig::single(1, None)).await.expect("test setup");
    let cancel = CancellationToken::new();
    let config = kapiserver::Config { data_dir: dir.join("data"), secure_port: port, ..kapiserver::Config::default() };
    let backend = Arc::new(kstore::backend::EmbeddedBackend::new(Arc::new(store)));
    (kapiserver::ApiServer::start(config, backend, cancel.clone()).await.expect("test setup"), cancel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pods_start_before_the_api_server_answers() {
    init_tracing();
    // An API server's certificates and kubeconfig, then the server stops: the kubelet starts
    // against an address nobody answers on, as a self-hosted control plane's kubelet does.
    let dir = tempfile::tempdir().expect("test setup");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("test setup").local_addr().expect("test setup").port();
    let (server, stop) = api_server(dir.path(), port).await;
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("test setup");
    stop.cancel();
    server.wait().await;
    let client =
        kwatch::http::Client::new(&kwatch::http::Config::from_kubeconfig(&kubeconfig, None).expect("test setup"))
            .expect("test setup");

    let manifests = tempfile::tempdir().expect("test setup");
    std::fs::write(
        manifests.path().join("apiserver.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  hostNetwork: true\n  containers:\n  - name: apiserver\n    image: registry.k8s.io/kube-apiserver:v1.33.0\n",
    )
    .expect("test setup");
    let fake = FakeRuntime::new();
    let dir_path = manifests.path().to_owned();
    let kubelet = start_with_client(client, &fake, |c| {
        c.static_pod_path = Some(dir_path);
        c.file_check_frequency = Duration::from_millis(500);
    });
    eventually(20, "the static pod running without an API server", || async {
        let containers = fake.list_containers(ContainerFilter::default()).await.ok()?;
        (containers.len() == 1 && containers[0].state == ContainerState::Running).then_some(())
    })
    .await;

    // The API server comes up (same certificates, same port): the node registers and the
    // static pod gets its mirror pod.
    let (server, stop) = api_server(dir.path(), port).await;
    let client =
        kwatch::http::Client::new(&kwatch::http::Config::from_kubeconfig(&kubeconfig, None).expect("test setup"))
            .expect("test setup");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let name = format!("kube-apiserver-{NODE}");
    eventually(60, "the mirror pod Running", || async {
        let p = pods.get_opt(&name).await.ok()??;
        (p.status.as_ref()?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let nodes: Api<kapi::k8s::api::core::v1::Node> = Api::all(client);
    eventually(30, "the node registered", || async { nodes.get_opt(NODE).await.ok()? }).await;
    let containers = fake.list_containers(ContainerFilter::default()).await.expect("test setup");
    assert_eq!(containers.len(), 1, "the static pod was not started twice");
    kubelet.stop().await;
    stop.cancel();
    server.wait().await;
}
