//! The scheduler against a live kapiserver: pending pods are bound through `pods/binding`,
//! an unschedulable pod gets `PodScheduled=False` with upstream's message and a
//! FailedScheduling event, and is bound once a node that fits appears.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kapi::k8s::api::core::v1::{Event, Node, Pod};
use kapiserver::ApiServer;
use kcontroller::informers::Informers;
use ksched::framework::SchedulerConfig;
use kwatch::http::{Api, Client, PostParams};
use kwatch::lister::ListParams;
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn eventually<T, Fut: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> Fut) -> T {
    for _ in 0..300 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A kapiserver on an in-memory store, the cancellation token that stops it, and an admin
/// client (the directory holds its files).
async fn start_server() -> (tempfile::TempDir, CancellationToken, Client) {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (_server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
    let client = Client::new(&kwatch::http::Config::from_kubeconfig(&kubeconfig, None).unwrap()).unwrap();
    (dir, cancel, client)
}

/// The scheduler against `client`'s API server, as `kube-scheduler` runs it.
fn start_scheduler(client: &Client, cancel: &CancellationToken) -> tokio::task::JoinHandle<()> {
    let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::default());
    let registry = ksched::kube::registry(client);
    let (client, cancel) = (client.clone(), cancel.clone());
    tokio::spawn(async move {
        ksched::kube::run(client, &SchedulerConfig::default(), &registry, &informers, None, cancel).await.unwrap();
    })
}

async fn add_node(client: &Client, name: &str, cpu: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let n: Node =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}))
            .unwrap();
    let mut n = nodes.create(&n, &PostParams::default()).await.unwrap();
    n.status = Some(
        serde_json::from_value(json!({"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "capacity": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}]}))
        .unwrap(),
    );
    nodes.replace_status(name, &n, &PostParams::default()).await.unwrap();
}

async fn add_pod(client: &Client, name: &str, cpu: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}}))
    .unwrap();
    pods.create(&p, &PostParams::default()).await.unwrap();
}

fn scheduled(p: &Pod) -> Option<(String, String)> {
    let c = p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "PodScheduled")?.clone();
    Some((c.status, c.message.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_pending_pods_and_retries_unschedulable_ones() {
    let (_dir, cancel, client) = start_server().await;

    let scheduler = start_scheduler(&client, &cancel);

    add_node(&client, "n1", "2").await;
    add_pod(&client, "p1", "1").await;
    add_pod(&client, "p2", "1").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["p1", "p2"] {
        let p = eventually("a binding", || async {
            let p = pods.get(name).await.unwrap();
            p.spec.as_ref().unwrap().node_name.is_some().then_some(p)
        })
        .await;
        assert_eq!(p.spec.as_ref().unwrap().node_name.as_deref(), Some("n1"));
        assert_eq!(scheduled(&p).unwrap().0, "True", "the binding sets PodScheduled");
    }

    // No room: the pod says why, and an event is recorded.
    add_pod(&client, "big", "4").await;
    let (status, message) = eventually("the PodScheduled condition", || async {
        scheduled(&pods.get("big").await.unwrap()).filter(|(s, _)| s == "False")
    })
    .await;
    assert_eq!(status, "False");
    // p1 and p2 have the same priority: preemption cannot help, and says so.
    assert_eq!(
        message,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually("a FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items.iter().any(|e| e.reason.as_deref() == Some("FailedScheduling")).then_some(())
    })
    .await;

    // A node that fits appears: the pod is retried and bound there.
    add_node(&client, "n2", "8").await;
    let p = eventually("the retried binding", || async {
        let p = pods.get("big").await.unwrap();
        p.spec.as_ref().unwrap().node_name.is_some().then_some(p)
    })
    .await;
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n2"));
    cancel.cancel();
    scheduler.await.unwrap();
}

/// VolumeBinding against the API server, with the PV controller of kcontroller: a claim
/// whose class waits for its first consumer is bound to the volume on the node the pod
/// lands on (the scheduler writes the choice, the controller completes it); a claim of an
/// immediate class is bound with no pod at all, and its volume is released when it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_bound_to_volumes_on_the_chosen_node() {
    use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use kapi::k8s::api::storage::v1::StorageClass;

    let (_dir, cancel, client) = start_server().await;

    // The PV controller, as kube-controller-manager runs it.
    let controller_informers = Informers::new(client.clone(), kwatch::metrics::Metrics::default());
    let ctx = kcontroller::controllers::Context::new(
        client.clone(),
        controller_informers.clone(),
        kcontroller::runtime::ControllerMetrics::default(),
        "test",
    )
    .unwrap();
    let pv_controller =
        tokio::spawn(kcontroller::controllers::build("persistentvolume-binder", &ctx, cancel.clone()).unwrap());
    controller_informers.start(cancel.clone());

    let scheduler = start_scheduler(&client, &cancel);
    add_node(&client, "n1", "4").await;
    add_node(&client, "n2", "4").await;

    let classes: Api<StorageClass> = Api::all(client.clone());
    let class = json!({"metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": "WaitForFirstConsumer"});
    classes.create(&serde_json::from_value(class).unwrap(), &PostParams::default()).await.unwrap();
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let local_pv = |name: &str, size: &str, node: &str| {
        serde_json::from_value::<PersistentVolume>(json!({"metadata": {"name": name}, "spec": {
            "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
            "persistentVolumeReclaimPolicy": "Retain", "local": {"path": format!("/mnt/{name}")},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}))
        .unwrap()
    };
    // Only n2's volume is large enough.
    for pv in [local_pv("small-n1", "1Gi", "n1"), local_pv("big-n2", "10Gi", "n2")] {
        volumes.create(&pv, &PostParams::default()).await.unwrap();
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let claim = |name: &str, class: &str| {
        serde_json::from_value::<PersistentVolumeClaim>(json!({"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": class,
            "resources": {"requests": {"storage": "5Gi"}}}}))
        .unwrap()
    };
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    claims.create(&claim("data", "local"), &PostParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = claims.get("data").await.unwrap();
    assert!(pending.spec.unwrap().volume_name.is_none(), "waits for its first consumer");
    eventually("a WaitForFirstConsumer event", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items.iter().any(|e| e.reason.as_deref() == Some("WaitForFirstConsumer")).then_some(())
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = json!({"metadata": {"name": "db"}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}});
    pods.create(&serde_json::from_value(pod).unwrap(), &PostParams::default()).await.unwrap();
    let node = eventually("the pod bound", || async { pods.get("db").await.unwrap().spec.unwrap().node_name }).await;
    assert_eq!(node, "n2", "the node with a volume that fits");
    let bound = claims.get("data").await.unwrap();
    assert_eq!(bound.spec.as_ref().unwrap().volume_name.as_deref(), Some("big-n2"), "bound before the pod");
    assert_eq!(bound.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
    let annotations = bound.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("pv.kubernetes.io/bind-completed").map(String::as_str), Some("yes"));
    let pv = volumes.get("big-n2").await.unwrap();
    let claim_ref = pv.spec.as_ref().unwrap().claim_ref.clone().unwrap();
    assert_eq!((claim_ref.name.as_deref(), claim_ref.uid.as_deref()), (Some("data"), bound.metadata.uid.as_deref()));
    eventually("big-n2 Bound", || async {
        let pv = volumes.get("big-n2").await.unwrap();
        (pv.status.unwrap().phase.as_deref() == Some("Bound")).then_some(())
    })
    .await;
    assert_eq!(
        volumes.get("small-n1").await.unwrap().status.unwrap().phase.as_deref(),
        Some("Available"),
        "the other volume is untouched"
    );

    // An immediate claim (no class) is bound by the controller alone, and releases its
    // volume when deleted.
    let plain = serde_json::from_value::<PersistentVolume>(json!({"metadata": {"name": "plain"}, "spec": {
        "capacity": {"storage": "8Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
        "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": "/tmp/plain"}}}))
    .unwrap();
    volumes.create(&plain, &PostParams::default()).await.unwrap();
    claims.create(&claim("now", ""), &PostParams::default()).await.unwrap();
    eventually("claim now bound to plain", || async {
        let c = claims.get("now").await.unwrap();
        let phase = c.status.as_ref().and_then(|s| s.phase.clone());
        (c.spec.unwrap().volume_name.as_deref() == Some("plain") && phase.as_deref() == Some("Bound")).then_some(())
    })
    .await;
    claims.delete("now", &Default::default()).await.unwrap();
    eventually("plain Released", || async {
        let pv = volumes.get("plain").await.unwrap();
        (pv.status.unwrap().phase.as_deref() == Some("Released")).then_some(())
    })
    .await;

    cancel.cancel();
    scheduler.await.unwrap();
    pv_controller.await.unwrap().unwrap();
}
