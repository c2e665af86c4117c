//! Deployments and ReplicaSets against a live kapiserver, driven by the real kubectl, with a
//! simulated kubelet that marks pods Ready: create → rollout → image change → rollout →
//! history → undo → scale, and ReplicationControllers.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Live, always_ready, eventually, fake_kubelet, kubectl_ok};
use kapi::k8s::api::apps::v1::{Deployment, ReplicaSet};
use kapi::k8s::api::core::v1::{Pod, ReplicationController};
use kcontroller::manager::{self, ManagerConfig};
use kwatch::http::Api;
use kwatch::lister::ListParams;
use tokio_util::sync::CancellationToken;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:1
"#;

fn start(live: &Live) -> (CancellationToken, CancellationToken) {
    let stop = CancellationToken::new();
    let mut config = ManagerConfig::new("test-kcm");
    config.controllers = ["deployment", "replicaset", "replicationcontroller", "garbage-collector"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let client = live.client.clone();
    let s = stop.clone();
    tokio::spawn(async move {
        let mut registry = prometheus_client::registry::Registry::default();
        manager::run(client, config, &mut registry, s).await.unwrap();
    });
    let kubelet = CancellationToken::new();
    tokio::spawn(fake_kubelet(live.client.clone(), "node-1", kubelet.clone(), always_ready));
    (stop, kubelet)
}

async fn kubectl(live: &Live, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let kubeconfig = live.kubeconfig.clone();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl_ok(&kubeconfig, 33, &refs)
    })
    .await
    .unwrap()
}

async fn running_images(live: &Live) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    let list = pods.list(&ListParams { label_selector: Some("app=web".into()), ..Default::default() }).await.unwrap();
    let mut images: Vec<String> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap())
        .collect();
    images.sort();
    images
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_history_undo_and_scale_with_kubectl() {
    let live = Live::start().await;
    let (stop, kubelet) = start(&live);
    let manifest = live.kubeconfig.with_file_name("web.yaml");
    std::fs::write(&manifest, DEPLOYMENT).unwrap();
    kubectl(&live, &["apply", "-f", manifest.to_str().unwrap()]).await;
    let out = kubectl(&live, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(running_images(&live).await, ["busybox:1"; 3]);

    // An image change rolls out a second ReplicaSet.
    kubectl(&live, &["set", "image", "deployment/web", "c=busybox:2"]).await;
    let out = kubectl(&live, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually(30, "three busybox:2 pods and no others", || async {
        (running_images(&live).await == ["busybox:2"; 3]).then_some(())
    })
    .await;
    let history = kubectl(&live, &["rollout", "history", "deployment/web"]).await;
    assert!(history.contains("1 ") && history.contains("2 "), "{history}");

    // Undo goes back to the first template, reusing its ReplicaSet as revision 3.
    kubectl(&live, &["rollout", "undo", "deployment/web"]).await;
    let out = kubectl(&live, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually(30, "three busybox:1 pods again", || async {
        (running_images(&live).await == ["busybox:1"; 3]).then_some(())
    })
    .await;
    let rss: Api<ReplicaSet> = Api::namespaced(live.client.clone(), "default");
    let list = rss.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2, "the old ReplicaSet was reused");
    let active = list.items.iter().find(|r| r.spec.as_ref().unwrap().replicas == Some(3)).unwrap();
    assert_eq!(active.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"], "3");
    let history = kubectl(&live, &["rollout", "history", "deployment/web"]).await;
    assert!(history.contains("2 ") && history.contains("3 "), "{history}");

    // Scale.
    kubectl(&live, &["scale", "deployment/web", "--replicas=5"]).await;
    let deployments: Api<Deployment> = Api::namespaced(live.client.clone(), "default");
    eventually(30, "five available replicas", || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("web").await.unwrap();
            let s = d.status.unwrap_or_default();
            (s.available_replicas == Some(5) && s.updated_replicas == Some(5)).then_some(())
        }
    })
    .await;
    let d = deployments.get("web").await.unwrap();
    let conditions = d.status.unwrap().conditions.unwrap();
    let available = conditions.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!((available.status.as_str(), available.reason.as_deref()), ("True", Some("MinimumReplicasAvailable")));
    let progressing = conditions.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetAvailable"));

    // Paused, a template change is not rolled out; resumed, it is.
    kubectl(&live, &["rollout", "pause", "deployment/web"]).await;
    kubectl(&live, &["set", "image", "deployment/web", "c=busybox:3"]).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(rss.list(&ListParams::default()).await.unwrap().items.len(), 2, "no rollout while paused");
    let d = deployments.get("web").await.unwrap();
    let progressing = d.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("DeploymentPaused"));
    kubectl(&live, &["rollout", "resume", "deployment/web"]).await;
    let out = kubectl(&live, &["rollout", "status", "deployment/web", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    eventually(30, "five busybox:3 pods", || async { (running_images(&live).await == ["busybox:3"; 5]).then_some(()) })
        .await;

    // Deleting the Deployment takes its ReplicaSets and pods with it (garbage collector).
    kubectl(&live, &["delete", "deployment/web"]).await;
    eventually(30, "no pods left", || async { running_images(&live).await.is_empty().then_some(()) }).await;
    stop.cancel();
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_controller_replaces_deleted_pods() {
    let live = Live::start().await;
    let (stop, kubelet) = start(&live);
    let rcs: Api<ReplicationController> = Api::namespaced(live.client.clone(), "default");
    let rc: ReplicationController = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "legacy"},
        "spec": {"replicas": 2, "selector": {"app": "legacy"},
            "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap();
    rcs.create(&rc, &Default::default()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    let live_pods = || async {
        let list =
            pods.list(&ListParams { label_selector: Some("app=legacy".into()), ..Default::default() }).await.unwrap();
        list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect::<Vec<_>>()
    };
    let first = eventually(30, "two pods", || async {
        let p = live_pods().await;
        (p.len() == 2).then_some(p)
    })
    .await;
    pods.delete(first[0].metadata.name.as_deref().unwrap(), &Default::default()).await.unwrap();
    eventually(30, "a replacement pod and ready status", || async {
        let p = live_pods().await;
        let rc = rcs.get("legacy").await.unwrap();
        let s = rc.status.unwrap_or_default();
        (p.len() == 2 && !p.iter().any(|x| x.metadata.name == first[0].metadata.name) && s.ready_replicas == Some(2))
            .then_some(())
    })
    .await;
    stop.cancel();
    kubelet.cancel();
}
