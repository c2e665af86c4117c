//! The built-in controllers against a live kapiserver: service accounts, namespace
//! deletion, the garbage collector in its three modes, EndpointSlices following readiness,
//! and node loss → taint → eviction.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Live, always_ready, eventually, fake_kubelet};
use kapi::k8s::api::core::v1::{ConfigMap, Namespace, Node, NodeCondition, NodeStatus, Pod, Service, ServiceAccount};
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kcontroller::manager::{self, ManagerConfig};
use kwatch::http::{Api, DeleteParams, PostParams, PropagationPolicy};
use kwatch::lister::ListParams;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn start_manager(live: &Live, controllers: &[&str], tune: impl FnOnce(&mut ManagerConfig)) -> CancellationToken {
    let cancel = CancellationToken::new();
    let mut config = ManagerConfig::new("test-kcm");
    config.controllers = controllers.iter().map(|s| (*s).to_owned()).collect();
    tune(&mut config);
    let client = live.client.clone();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let mut registry = prometheus_client::registry::Registry::default();
        manager::run(client, config, &mut registry, stop).await.unwrap();
    });
    cancel
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn create_namespace(live: &Live, name: &str) {
    let api: Api<Namespace> = Api::all(live.client.clone());
    api.create(&from_json(json!({"metadata": {"name": name}})), &PostParams::default()).await.unwrap();
}

async fn config_map(live: &Live, ns: &str, name: &str, owner: Option<(&ConfigMap, bool)>) -> ConfigMap {
    let api: Api<ConfigMap> = Api::namespaced(live.client.clone(), ns);
    let mut cm: ConfigMap = from_json(json!({"metadata": {"name": name}, "data": {"k": "v"}}));
    if let Some((o, block)) = owner {
        cm.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: o.metadata.name.clone().unwrap(),
            uid: o.metadata.uid.clone().unwrap(),
            block_owner_deletion: Some(block),
            controller: None,
        }]);
    }
    api.create(&cm, &PostParams::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_and_namespace_deletion() {
    let live = Live::start().await;
    let stop = start_manager(&live, &["serviceaccount", "namespace", "garbage-collector"], |_| {});
    let kubelet = CancellationToken::new();
    tokio::spawn(fake_kubelet(live.client.clone(), "node-1", kubelet.clone(), always_ready));

    create_namespace(&live, "team-a").await;
    let accounts: Api<ServiceAccount> = Api::namespaced(live.client.clone(), "team-a");
    eventually(20, "the default service account", || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.unwrap() }
    })
    .await;
    // Deleted, it comes back.
    accounts.delete("default", &DeleteParams::default()).await.unwrap();
    eventually(20, "the default service account again", || {
        let accounts = accounts.clone();
        async move { accounts.get_opt("default").await.unwrap() }
    })
    .await;

    // Content of several kinds, then the namespace goes.
    config_map(&live, "team-a", "settings", None).await;
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "team-a");
    pods.create(
        &from_json(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(live.client.clone());
    let pending = namespaces.delete("team-a", &DeleteParams::default()).await.unwrap();
    assert!(pending.is_some(), "the namespace waits for its content");
    eventually(30, "the namespace to be gone", || {
        let namespaces = namespaces.clone();
        async move { namespaces.get_opt("team-a").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(live.client.clone(), "team-a");
    assert!(cms.list(&ListParams::default()).await.unwrap().items.is_empty());
    stop.cancel();
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_background_foreground_orphan() {
    let live = Live::start().await;
    let stop = start_manager(&live, &["garbage-collector"], |_| {});
    let cms: Api<ConfigMap> = Api::namespaced(live.client.clone(), "default");
    let gone = |name: &'static str| {
        let cms = cms.clone();
        move || {
            let cms = cms.clone();
            async move { cms.get_opt(name).await.unwrap().is_none().then_some(()) }
        }
    };

    // Background: the owner goes at once, the dependent after it.
    let owner = config_map(&live, "default", "bg-owner", None).await;
    config_map(&live, "default", "bg-dep", Some((&owner, false))).await;
    let deleted = cms.delete("bg-owner", &DeleteParams::propagation(PropagationPolicy::Background)).await.unwrap();
    assert!(deleted.is_none());
    eventually(30, "the background dependent to be collected", gone("bg-dep")).await;

    // Foreground: the owner stays (deletionTimestamp, foregroundDeletion finalizer) until
    // its blocking dependent is gone.
    let owner = config_map(&live, "default", "fg-owner", None).await;
    config_map(&live, "default", "fg-dep", Some((&owner, true))).await;
    let pending = cms.delete("fg-owner", &DeleteParams::propagation(PropagationPolicy::Foreground)).await.unwrap();
    let pending = pending.expect("a foreground deletion waits");
    assert!(pending.metadata.finalizers.unwrap().contains(&"foregroundDeletion".to_owned()));
    eventually(30, "the foreground dependent to be collected", gone("fg-dep")).await;
    eventually(30, "the foreground owner to be gone", gone("fg-owner")).await;

    // Orphan: the owner goes, the dependent stays without the reference.
    let owner = config_map(&live, "default", "or-owner", None).await;
    config_map(&live, "default", "or-dep", Some((&owner, true))).await;
    cms.delete("or-owner", &DeleteParams::propagation(PropagationPolicy::Orphan)).await.unwrap();
    eventually(30, "the orphaning owner to be gone", gone("or-owner")).await;
    let dep = cms.get("or-dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty(), "the reference was removed");

    // A dependent created after its owner is already gone is collected too.
    let mut ghost = owner.clone();
    ghost.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    ghost.metadata.name = Some("never-existed".into());
    config_map(&live, "default", "late-dep", Some((&ghost, false))).await;
    eventually(30, "the dependent of a missing owner to be collected", gone("late-dep")).await;
    stop.cancel();
}

fn ready_unless_labelled(pod: &Pod) -> bool {
    pod.metadata.labels.as_ref().and_then(|l| l.get("ready")).map(String::as_str) != Some("false")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_slices_follow_readiness() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let live = Live::start().await;
    let stop = start_manager(&live, &["endpointslice"], |_| {});
    let kubelet = CancellationToken::new();
    tokio::spawn(fake_kubelet(live.client.clone(), "node-1", kubelet.clone(), ready_unless_labelled));
    let services: Api<Service> = Api::namespaced(live.client.clone(), "default");
    services
        .create(
            &from_json(json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})),
            &PostParams::default(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    for i in 0..3 {
        pods.create(
            &from_json(json!({"metadata": {"name": format!("web-{i}"), "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]}})),
            &PostParams::default(),
        )
        .await
        .unwrap();
    }
    let slices: Api<EndpointSlice> = Api::namespaced(live.client.clone(), "default");
    let ready_count = |want: usize| {
        let slices = slices.clone();
        move || {
            let slices = slices.clone();
            async move {
                let list = slices
                    .list(&ListParams {
                        label_selector: Some("kubernetes.io/service-name=web".into()),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                let eps: Vec<_> = list.items.iter().flat_map(|s| s.endpoints.clone()).collect();
                let ready = eps.iter().filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true)).count();
                (eps.len() == 3 && ready == want).then_some(list.items)
            }
        }
    };
    let items = eventually(30, "three ready endpoints", ready_count(3)).await;
    assert_eq!(items.len(), 1);
    let slice = &items[0];
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080), "the named target port resolved");
    assert_eq!(
        slice.metadata.labels.as_ref().unwrap()["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert!(slice.endpoints.iter().all(|e| e.node_name.as_deref() == Some("node-1")));
    assert_eq!(slice.metadata.owner_references.as_ref().unwrap()[0].kind, "Service");

    // One pod turns unready: its endpoint stays, not ready.
    pods.patch(
        "web-1",
        &kwatch::http::Patch::Merge(json!({"metadata": {"labels": {"ready": "false"}}})),
        &Default::default(),
    )
    .await
    .unwrap();
    eventually(30, "two ready endpoints", ready_count(2)).await;
    stop.cancel();
    kubelet.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_node_is_tainted_and_intolerant_pods_are_evicted() {
    let live = Live::start().await;
    let nodes: Api<Node> = Api::all(live.client.clone());
    let node: Node = from_json(json!({"metadata": {"name": "lost"}}));
    let mut node = nodes.create(&node, &PostParams::default()).await.unwrap();
    node.status = Some(NodeStatus {
        conditions: Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            last_heartbeat_time: Some(kapi::k8s::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())),
            ..Default::default()
        }]),
        ..Default::default()
    });
    nodes.replace_status("lost", &node, &PostParams::default()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    // One pod tolerates unreachable nodes for 1 s; the other gets the 300 s default.
    pods.create(
        &from_json(json!({"metadata": {"name": "short"}, "spec": {"nodeName": "lost",
            "containers": [{"name": "c", "image": "busybox"}],
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}]}})),
        &PostParams::default(),
    )
    .await
    .unwrap();
    let patient = pods
        .create(
            &from_json(json!({"metadata": {"name": "patient"}, "spec": {"nodeName": "lost",
                "containers": [{"name": "c", "image": "busybox"}]}})),
            &PostParams::default(),
        )
        .await
        .unwrap();
    let defaults = patient.spec.unwrap().tolerations.unwrap();
    assert!(
        defaults
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable") && t.toleration_seconds == Some(300))
    );

    let stop = start_manager(&live, &["node-lifecycle"], |c| {
        c.node_monitor_grace_period = Duration::from_secs(2);
        c.node_monitor_period = Duration::from_millis(500);
    });
    let tainted = eventually(30, "the unreachable taints", || {
        let nodes = nodes.clone();
        async move {
            let n = nodes.get("lost").await.unwrap();
            let taints = n.spec.clone().unwrap_or_default().taints.unwrap_or_default();
            (taints.iter().any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")).then_some(n)
        }
    })
    .await;
    let ready = tainted.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
    eventually(30, "the intolerant pod to be evicted", || {
        let pods = pods.clone();
        async move {
            match pods.get_opt("short").await.unwrap() {
                None => Some(()),
                Some(p) => p.metadata.deletion_timestamp.is_some().then_some(()),
            }
        }
    })
    .await;
    let p = pods.get("patient").await.unwrap();
    assert!(p.metadata.deletion_timestamp.is_none(), "a pod tolerating 300 s stays");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_its_pods_to_completion() {
    use kapi::k8s::api::batch::v1::Job;
    let live = Live::start().await;
    let _cancel = start_manager(&live, &["job"], |_| {});
    let jobs: Api<Job> = Api::namespaced(live.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(live.client.clone(), "default");
    let job: Job = from_json(json!({"metadata": {"name": "pi"}, "spec": {"completions": 3, "parallelism": 2,
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}));
    jobs.create(&job, &PostParams::default()).await.unwrap();
    let list = |pods: Api<Pod>| async move {
        pods.list(&ListParams { label_selector: Some("job-name=pi".into()), ..ListParams::default() })
            .await
            .unwrap()
            .items
    };
    // Parallelism 2: two pods, labelled by the API server's defaulting, owned by the Job.
    let first = eventually(10, "two pods", || {
        let pods = pods.clone();
        async move { Some(list(pods).await).filter(|p| p.len() == 2) }
    })
    .await;
    let owner = &first[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
    // Each pod that succeeds makes room for the next until three have succeeded.
    eventually(20, "the Job to complete", || {
        let (pods, jobs) = (pods.clone(), jobs.clone());
        async move {
            for mut p in list(pods.clone()).await {
                let status = p.status.get_or_insert_with(Default::default);
                if status.phase.as_deref() != Some("Succeeded") {
                    status.phase = Some("Succeeded".into());
                    let name = p.metadata.name.clone().unwrap();
                    pods.replace_status(&name, &p, &PostParams::default()).await.unwrap();
                }
            }
            let j = jobs.get("pi").await.unwrap();
            let conditions = j.status.and_then(|s| s.conditions).unwrap_or_default();
            conditions.iter().any(|c| c.type_ == "Complete" && c.status == "True").then_some(())
        }
    })
    .await;
    let j = jobs.get("pi").await.unwrap();
    let status = j.status.unwrap();
    assert_eq!((status.succeeded, status.active), (Some(3), Some(0)));
    assert_eq!(list(pods).await.len(), 3, "exactly three pods were started");
}
