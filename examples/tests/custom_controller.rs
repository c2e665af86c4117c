//! The custom-controller example against a live kapiserver: a Website becomes a Deployment
//! owned by it, gets the example's finalizer and a status, and goes away cleanly.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

#[path = "../examples/custom-controller.rs"]
mod example;

use std::time::Duration;

use kapi::k8s::api::apps::v1::Deployment;
use kapi::{ApiResource, DynamicObject};
use kapiserver::ApiServer;
use kwatch::http::{Api, Client, DeleteParams, PostParams};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn website_becomes_a_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let (_server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
    let config = kwatch::http::Config::from_kubeconfig(&kubeconfig, None).unwrap();
    let client = Client::new(&config).unwrap();
    let controller = tokio::spawn(example::run(config, cancel.clone()));

    let websites = ApiResource {
        group: "demo.kcluster.dev".into(),
        version: "v1".into(),
        kind: "Website".into(),
        plural: "websites".into(),
        namespaced: true,
    };
    let sites: Api<DynamicObject> = Api::with_resource(client.clone(), websites.clone(), Some("default"));
    let site: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "demo.kcluster.dev/v1", "kind": "Website",
        "metadata": {"name": "blog"}, "spec": {"image": "nginx:1.27", "replicas": 2}}))
    .unwrap();
    // The CRD is installed by the controller; its resource appears shortly after.
    eventually("the Website resource", || async { sites.create(&site, &PostParams::default()).await.ok() }).await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = eventually("the Deployment", || async { deployments.get_opt("blog").await.unwrap() }).await;
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(spec.template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:1.27"));
    assert_eq!(d.metadata.owner_references.unwrap()[0].kind, "Website");
    let s = eventually("the finalizer and the status", || async {
        let s = sites.get("blog").await.unwrap();
        let has_finalizer = s.metadata.finalizers.iter().flatten().any(|f| f == "demo.kcluster.dev/cleanup");
        (has_finalizer && s.data.get("status").is_some()).then_some(s)
    })
    .await;
    assert_eq!(s.data["status"]["readyReplicas"], 0);

    // Deleting runs the cleanup and removes the finalizer.
    sites.delete("blog", &DeleteParams::default()).await.unwrap();
    eventually("the Website to be gone", || async { sites.get_opt("blog").await.unwrap().is_none().then_some(()) })
        .await;
    cancel.cancel();
    controller.await.unwrap().unwrap();
}
