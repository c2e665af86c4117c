//! Informers against a live kapiserver: through the HTTP API (kubeconfig, TLS, token) and
//! through the in-process source.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kapi::ApiResource;
use kapi::k8s::api::core::v1::Pod;
use kapiserver::rest::WriteOptions;
use kapiserver::{ApiServer, Config};
use kstore::backend::EmbeddedBackend;
use kstore::{Store, StoreConfig};
use kwatch::http::{Client, HttpListerWatcher};
use kwatch::informer::{Event, SharedInformer};
use kwatch::inprocess::ApiListerWatcher;
use kwatch::lister::ListerWatcher;
use kwatch::reflector::ReflectorConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Live {
    server: ApiServer,
    kubeconfig: std::path::PathBuf,
    _dir: tempfile::TempDir,
    cancel: CancellationToken,
}

async fn live() -> Live {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::single(1, None)).await.unwrap();
    let cancel = CancellationToken::new();
    let config = Config { data_dir: dir.path().join("data"), secure_port: 0, ..Config::default() };
    let server =
        ApiServer::start(config, Arc::new(EmbeddedBackend::new(Arc::new(store))), cancel.clone()).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    Live { server, kubeconfig, _dir: dir, cancel }
}

async fn create_pod(live: &Live, name: &str) {
    let api = live.server.api();
    let pods = api.resource("", "v1", "pods").unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    api.create(&pods, Some("default"), pod, &WriteOptions::default()).await.unwrap();
}

async fn label_pod(live: &Live, name: &str, value: &str) {
    let api = live.server.api();
    let pods = api.resource("", "v1", "pods").unwrap();
    let patch = serde_json::to_vec(&json!({"metadata": {"labels": {"v": value}}})).unwrap();
    api.patch(
        &pods,
        Some("default"),
        name,
        kapiserver::patch::PatchType::Merge,
        &patch,
        None,
        &WriteOptions::default(),
    )
    .await
    .unwrap();
}

async fn delete_pod(live: &Live, name: &str) {
    let api = live.server.api();
    let pods = api.resource("", "v1", "pods").unwrap();
    api.delete(&pods, Some("default"), name, &Default::default()).await.unwrap();
}

async fn next(sub: &mut kwatch::informer::Subscription<Pod>) -> Event<Pod> {
    tokio::time::timeout(Duration::from_secs(10), sub.recv()).await.unwrap().unwrap()
}

/// Initial sync of existing pods, then a create, an update and a delete, as a handler sees
/// them.
async fn exercise<L: ListerWatcher<Pod> + 'static>(live: &Live, source: L) {
    create_pod(live, "a").await;
    create_pod(live, "b").await;
    let informer = SharedInformer::builder(source).config(ReflectorConfig::new("pods")).build().unwrap();
    let mut sub = informer.subscribe(1024, None);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (informer, stop) = (informer.clone(), stop.clone());
        async move { informer.run(stop).await }
    });
    let store = informer.store();
    tokio::time::timeout(Duration::from_secs(10), store.wait_until_synced()).await.unwrap().unwrap();
    // The first list may be served from the watch cache before it has applied the last
    // create (resourceVersion "0", as client-go asks); the watch brings the rest.
    let mut initial = Vec::new();
    let mut synced = false;
    while !(synced && initial.len() == 2) {
        match next(&mut sub).await {
            Event::Added(p) => initial.push(p.metadata.name.clone().unwrap()),
            Event::Synced => synced = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(store.list().len(), 2);
    initial.sort();
    assert_eq!(initial, ["a", "b"]);

    create_pod(live, "c").await;
    assert!(matches!(next(&mut sub).await, Event::Added(p) if p.metadata.name.as_deref() == Some("c")));
    label_pod(live, "a", "2").await;
    match next(&mut sub).await {
        Event::Updated { old, new } => {
            assert!(old.metadata.labels.as_ref().unwrap().get("v").is_none());
            assert_eq!(new.metadata.labels.as_ref().unwrap()["v"], "2");
        }
        other => panic!("unexpected {other:?}"),
    }
    delete_pod(live, "b").await;
    assert!(matches!(next(&mut sub).await, Event::Deleted { obj, .. } if obj.metadata.name.as_deref() == Some("b")));
    assert_eq!(store.list().len(), 2);

    // A late subscriber gets the current state, then the stream.
    let mut late = informer.subscribe(1024, None);
    let mut names = Vec::new();
    loop {
        match next(&mut late).await {
            Event::Added(p) => names.push(p.metadata.name.clone().unwrap()),
            Event::Synced => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["a", "c"]);
    create_pod(live, "d").await;
    assert!(matches!(next(&mut late).await, Event::Added(p) if p.metadata.name.as_deref() == Some("d")));
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_source_against_kapiserver() {
    let live = live().await;
    let config = kwatch::http::Config::from_kubeconfig(&live.kubeconfig, None).unwrap();
    let client = Client::new(&config).unwrap();
    let source: HttpListerWatcher<Pod> = HttpListerWatcher::new(client, ApiResource::of::<Pod>(), Some("default"));
    exercise(&live, source).await;
    live.cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_source_against_kapiserver() {
    let live = live().await;
    let source: ApiListerWatcher<Pod> =
        ApiListerWatcher::new(live.server.api().clone(), "", "v1", "pods", Some("default")).unwrap();
    exercise(&live, source).await;
    live.cancel.cancel();
}

/// A burst of writes and deletes against a server with a 16-event watch window (which
/// ends watches that fall behind it): whether the reflector keeps up, resumes or relists
/// (410), the cache ends equal to the server. Which path runs depends on scheduling; the
/// paths themselves are tested deterministically against the in-memory source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn informer_converges_after_a_burst_on_a_small_watch_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::single(1, None)).await.unwrap();
    let cancel = CancellationToken::new();
    let config =
        Config { data_dir: dir.path().join("data"), secure_port: 0, watch_cache_size: 16, ..Config::default() };
    let server =
        ApiServer::start(config, Arc::new(EmbeddedBackend::new(Arc::new(store))), cancel.clone()).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let live = Live { server, kubeconfig, _dir: dir, cancel };

    let config = kwatch::http::Config::from_kubeconfig(&live.kubeconfig, None).unwrap();
    let source: HttpListerWatcher<Pod> =
        HttpListerWatcher::new(Client::new(&config).unwrap(), ApiResource::of::<Pod>(), Some("default"));
    let informer = SharedInformer::builder(source).config(ReflectorConfig::new("pods")).build().unwrap();
    // A handler that never reads must not hold anything back either.
    let _idle = informer.subscribe(4, None);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (informer, stop) = (informer.clone(), stop.clone());
        async move { informer.run(stop).await }
    });
    let cache = informer.store();
    tokio::time::timeout(Duration::from_secs(10), cache.wait_until_synced()).await.unwrap().unwrap();

    // A burst far larger than the window, with deletes mixed in.
    let creates = (0..120).map(|i| {
        let live = &live;
        async move { create_pod(live, &format!("p{i}")).await }
    });
    futures_util::future::join_all(creates).await;
    for i in (0..120).step_by(2) {
        delete_pod(&live, &format!("p{i}")).await;
    }
    let want: Vec<String> = (0..120).filter(|i| i % 2 == 1).map(|i| format!("p{i}")).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut names: Vec<String> = cache.list().iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        names.sort_by_key(|n| n[1..].parse::<u32>().unwrap_or(0));
        if names == want {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "cache did not converge: {} objects", names.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    running.await.unwrap().unwrap();
    live.cancel.cancel();
}
