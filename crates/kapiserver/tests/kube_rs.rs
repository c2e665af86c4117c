//! The kube-rs client (a real Kubernetes client library) against the API server: list,
//! watch, create, patch (merge and apply) and delete, for Pods and a CRD's objects.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{StoreKind, TestServer};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

async fn client(server: &TestServer) -> kube::Client {
    let kc = Kubeconfig::read_from(&server.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_with_kube_rs() {
    let server = TestServer::start(StoreKind::Embedded).await;
    let client = client(&server).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    assert!(pods.list(&ListParams::default()).await.unwrap().items.is_empty());

    let list = pods.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut events = pods.watch(&WatchParams::default(), &rv).await.unwrap().boxed();

    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p1", "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    let created = pods.create(&PostParams::default(), &pod).await.unwrap();
    assert!(created.metadata.uid.is_some());
    assert_eq!(created.spec.unwrap().restart_policy.as_deref(), Some("Always"));

    let first = tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(first, WatchEvent::Added(ref p) if p.metadata.name.as_deref() == Some("p1")), "{first:?}");

    let patched = pods
        .patch("p1", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"m": "1"}}})))
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["m"], "1");
    let modified = tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(modified, WatchEvent::Modified(_)), "{modified:?}");

    let applied = pods
        .patch(
            "p1",
            &PatchParams::apply("kube-rs-test").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "labels": {"applied": "yes"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.labels.as_ref().unwrap()["applied"], "yes");
    assert!(applied.metadata.managed_fields.unwrap().iter().any(|m| m.manager.as_deref() == Some("kube-rs-test")));

    let selected = pods.list(&ListParams::default().labels("applied=yes")).await.unwrap();
    assert_eq!(selected.items.len(), 1);

    pods.delete("p1", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("p1").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_with_kube_rs() {
    let server = TestServer::start(StoreKind::Embedded).await;
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                }}},
                "subresources": {"status": {}}
            }]
        }
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let established = crds.get("widgets.example.com").await.unwrap();
    let conditions = established.status.unwrap().conditions.unwrap();
    assert!(conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"));

    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let w = DynamicObject::new("w1", &ar).data(json!({"spec": {"size": 3}}));
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.data["spec"]["size"], 3);
    assert_eq!(created.metadata.generation, Some(1));

    let patched =
        widgets.patch("w1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": 4}}))).await.unwrap();
    assert_eq!(patched.data["spec"]["size"], 4);
    assert_eq!(patched.metadata.generation, Some(2));

    let applied = widgets
        .patch(
            "w1",
            &PatchParams::apply("kube-rs-test").force(),
            &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["size"], 5);

    assert_eq!(widgets.list(&ListParams::default()).await.unwrap().items.len(), 1);
    widgets.delete("w1", &DeleteParams::default()).await.unwrap();
    assert!(widgets.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_shared_between_both_groups() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let server = TestServer::start(StoreKind::Embedded).await;
    let client = client(&server).await;
    let new: Api<Event> = Api::namespaced(client.clone(), "default");
    let e: Event = serde_json::from_value(json!({
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "kcluster/test", "reportingInstance": "t1", "action": "Pulling",
        "reason": "Pulled", "type": "Normal", "note": "image pulled",
        "regarding": {"kind": "Pod", "name": "p1", "namespace": "default"}
    }))
    .unwrap();
    new.create(&PostParams::default(), &e).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let listed = core.list(&ListParams::default().fields("involvedObject.name=p1")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].message.as_deref(), Some("image pulled"));
    assert_eq!(listed.items[0].reporting_component.as_deref(), Some("kcluster/test"));
    assert_eq!(new.get("e1").await.unwrap().note.as_deref(), Some("image pulled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_schemas_validate_prune_default_print_and_scale() {
    let server = TestServer::start(StoreKind::Embedded).await;
    let client = client(&server).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["mode"], "properties": {
                        "mode": {"type": "string", "enum": ["fast", "slow"]},
                        "replicas": {"type": "integer", "maximum": 10, "default": 1},
                        "color": {"type": "string", "default": "blue"}
                    }},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                }}},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Mode", "type": "string", "jsonPath": ".spec.mode"}]
            }]
        }
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    // A schema that is not structural is refused.
    let mut bad = crd.clone();
    bad.metadata.name = Some("bads.example.com".into());
    bad.spec.names.plural = "bads".into();
    bad.spec.names.kind = "Bad".into();
    bad.spec.versions[0].schema =
        serde_json::from_value(json!({"openAPIV3Schema": {"properties": {"spec": {"type": "object"}}}})).unwrap();
    let err = crds.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 422), "{err:?}");

    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Gadget"), "gadgets");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let invalid = DynamicObject::new("g0", &ar).data(json!({"spec": {"mode": "warp", "replicas": 20}}));
    let err = gadgets.create(&PostParams::default(), &invalid).await.unwrap_err();
    let kube::Error::Api(status) = &err else { panic!("{err:?}") };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("spec.mode: Unsupported value: \"warp\""), "{}", status.message);
    assert!(status.message.contains("spec.replicas: Invalid value: 20"), "{}", status.message);

    let g = DynamicObject::new("g1", &ar).data(json!({"spec": {"mode": "fast", "extra": true}}));
    let created = gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert!(created.data["spec"].get("extra").is_none(), "unknown fields are pruned");
    assert_eq!(created.data["spec"]["replicas"], 1, "defaulted");
    assert_eq!(created.data["spec"]["color"], "blue", "defaulted");
    let strict = DynamicObject::new("g2", &ar).data(json!({"spec": {"mode": "fast", "extra": true}}));
    let (status, body) = common::send(
        &client,
        http::Method::POST,
        "/apis/example.com/v1/namespaces/default/gadgets?fieldValidation=Strict",
        "application/json",
        serde_json::to_vec(&strict).unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("unknown field \\\"spec.extra\\\""));

    // Printer columns in Tables.
    let req = http::Request::builder()
        .uri("/apis/example.com/v1/namespaces/default/gadgets")
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let names: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    // Upstream adds no Age column when a version declares its own columns.
    assert_eq!(names, ["Name", "Mode"]);
    assert_eq!(table["rows"][0]["cells"][1], "fast");

    // The scale subresource follows the CRD's paths.
    let scaled = gadgets
        .patch_scale("g1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    assert_eq!(gadgets.get("g1").await.unwrap().data["spec"]["replicas"], 3);
}
