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
use kwatch::source::Source;
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
    let cancel = CancellationToken::new();
    let (server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
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

/// `Source::InProcess` reads built-in resources in process, and falls back to HTTP for
/// what the server does not have built in (here a resource it does not serve at all: the
/// HTTP source reports it as not found, the in-process lookup could not be made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_picks_in_process_for_built_in_resources() {
    let live = live().await;
    let config = kwatch::http::Config::from_kubeconfig(&live.kubeconfig, None).unwrap();
    let client = Client::new(&config).unwrap();
    let source = Source::InProcess { api: live.server.api().clone(), client };
    exercise(&live, source.lister_watcher::<Pod>(&ApiResource::of::<Pod>(), Some("default"))).await;
    let missing = ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        namespaced: true,
    };
    let lw = source.lister_watcher::<serde_json::Value>(&missing, None);
    let err = lw.list(&kwatch::lister::ListParams::default()).await.unwrap_err();
    assert!(err.to_string().contains("404") || err.to_string().to_lowercase().contains("not found"), "{err}");
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

/// The network between an informer and the server, which a test can cut: [`Cut::cut`] ends
/// the open watches and holds new lists and watches until [`Cut::restore`]. It records the
/// version every watch started from.
struct Cuttable<L> {
    inner: L,
    gate: Arc<Cut>,
}

struct Cut {
    open: tokio::sync::watch::Sender<bool>,
    watched_from: std::sync::Mutex<Vec<String>>,
    lists: std::sync::atomic::AtomicUsize,
}

impl Cut {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            open: tokio::sync::watch::channel(true).0,
            watched_from: Default::default(),
            lists: Default::default(),
        })
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn restore(&self) {
        self.open.send_replace(true);
    }

    async fn wait_open(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }

    fn watches(&self) -> Vec<String> {
        self.watched_from.lock().unwrap().clone()
    }
}

impl<L: ListerWatcher<Pod>> ListerWatcher<Pod> for Cuttable<L> {
    fn list<'a>(
        &'a self,
        params: &'a kwatch::lister::ListParams,
    ) -> kwatch::lister::BoxFuture<'a, Result<kwatch::lister::ObjectList<Pod>, kwatch::lister::WatchError>> {
        Box::pin(async move {
            self.gate.wait_open().await;
            self.gate.lists.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.list(params).await
        })
    }

    fn watch<'a>(
        &'a self,
        params: &'a kwatch::lister::WatchParams,
    ) -> kwatch::lister::BoxFuture<'a, Result<kwatch::lister::WatchStream<Pod>, kwatch::lister::WatchError>> {
        Box::pin(async move {
            self.gate.wait_open().await;
            self.gate.watched_from.lock().unwrap().push(params.resource_version.clone());
            let stream = self.inner.watch(params).await?;
            let mut closed = self.gate.open.subscribe();
            let cut = async move {
                let _ = closed.wait_for(|open| !*open).await;
            };
            Ok(Box::pin(futures_util::StreamExt::take_until(stream, cut)) as kwatch::lister::WatchStream<Pod>)
        })
    }
}

async fn server_with_window(window: usize) -> (Live, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreConfig::single(1, None)).await.unwrap());
    let cancel = CancellationToken::new();
    let config =
        Config { data_dir: dir.path().join("data"), secure_port: 0, watch_cache_size: window, ..Config::default() };
    let server = ApiServer::start(config, Arc::new(EmbeddedBackend::new(store.clone())), cancel.clone()).await.unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    (Live { server, kubeconfig, _dir: dir, cancel }, store)
}

fn http_source(live: &Live) -> HttpListerWatcher<Pod> {
    let config = kwatch::http::Config::from_kubeconfig(&live.kubeconfig, None).unwrap();
    HttpListerWatcher::new(Client::new(&config).unwrap(), ApiResource::of::<Pod>(), Some("default"))
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// Reads the subscription until it has seen `Synced`, returning the names added before it.
async fn initial_names(sub: &mut kwatch::informer::Subscription<Pod>) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        match next(sub).await {
            Event::Added(p) => names.push(name(&p).to_owned()),
            Event::Synced => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    names.sort();
    names
}

/// A watch cut while the server's window still holds the missed events resumes from the
/// last version seen, without a list, and delivers exactly the missed events in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_watch_resumes_from_the_last_version_without_a_relist() {
    let (live, _store) = server_with_window(1024).await;
    create_pod(&live, "a").await;
    create_pod(&live, "b").await;
    let gate = Cut::new();
    let source = Cuttable { inner: http_source(&live), gate: gate.clone() };
    let informer = SharedInformer::builder(source).config(ReflectorConfig::new("pods")).build().unwrap();
    let mut sub = informer.subscribe(1024, None);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (informer, stop) = (informer.clone(), stop.clone());
        async move { informer.run(stop).await }
    });
    let mut have = initial_names(&mut sub).await;
    // The first list may come from a cache a write behind; the watch brings the rest.
    while have.len() < 2 {
        match next(&mut sub).await {
            Event::Added(p) => have.push(name(&p).to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    // An event through the watch, so that its end is not a "very short watch" (which
    // client-go, and the reflector, answer with a backoff and a list).
    create_pod(&live, "c").await;
    let c = match next(&mut sub).await {
        Event::Added(p) => p,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(name(&c), "c");
    let lists_before = gate.lists.load(std::sync::atomic::Ordering::SeqCst);

    gate.cut();
    create_pod(&live, "d").await;
    label_pod(&live, "a", "2").await;
    delete_pod(&live, "b").await;
    gate.restore();

    assert!(matches!(next(&mut sub).await, Event::Added(p) if name(&p) == "d"));
    assert!(matches!(next(&mut sub).await, Event::Updated { new, .. } if name(&new) == "a"));
    assert!(matches!(
        next(&mut sub).await,
        Event::Deleted { obj, final_state_unknown: false } if name(&obj) == "b"
    ));
    assert_eq!(gate.lists.load(std::sync::atomic::Ordering::SeqCst), lists_before, "the cut watch was relisted");
    // The reopened watch started from the last version seen, possibly later (a bookmark).
    let resumed = gate.watches().last().unwrap().parse::<i64>().unwrap();
    let c_rv = c.metadata.resource_version.as_deref().unwrap().parse::<i64>().unwrap();
    assert!(resumed >= c_rv, "resumed from {resumed}, before the last event {c_rv}");
    let mut names: Vec<String> = informer.store().list().iter().map(|p| name(p).to_owned()).collect();
    names.sort();
    assert_eq!(names, ["a", "c", "d"]);

    stop.cancel();
    running.await.unwrap().unwrap();
    live.cancel.cancel();
}

/// A watch cut for longer than the server's window, during which the store is compacted,
/// comes back to 410 Expired: the reflector lists again (from a consistent read), the cache
/// ends equal to the server, and the handler sees the missed deletes as tombstones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_past_the_window_and_compaction_gets_410_and_relists() {
    let (live, store) = server_with_window(16).await;
    for n in ["a", "b", "c"] {
        create_pod(&live, n).await;
    }
    let gate = Cut::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = kwatch::metrics::Metrics::register(&mut registry);
    let source = Cuttable { inner: http_source(&live), gate: gate.clone() };
    let mut config = ReflectorConfig::new("pods");
    config.backoff.initial = Duration::from_millis(10);
    let informer = SharedInformer::builder(source).config(config).metrics(&metrics).build().unwrap();
    let mut sub = informer.subscribe(1024, None);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (informer, stop) = (informer.clone(), stop.clone());
        async move { informer.run(stop).await }
    });
    let mut have = initial_names(&mut sub).await;
    while have.len() < 3 {
        match next(&mut sub).await {
            Event::Added(p) => have.push(name(&p).to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    create_pod(&live, "d").await;
    assert!(matches!(next(&mut sub).await, Event::Added(p) if name(&p) == "d"));
    let watched_before = gate.watches().len();

    gate.cut();
    // Far more changes than the 16-event window, then a compaction of the store.
    delete_pod(&live, "a").await;
    label_pod(&live, "b", "2").await;
    for i in 0..30 {
        create_pod(&live, &format!("n{i}")).await;
    }
    for i in 0..30 {
        delete_pod(&live, &format!("n{i}")).await;
    }
    create_pod(&live, "e").await;
    store.compact(store.revision()).await.unwrap();
    gate.restore();

    // The resumed watch is refused; the relist brings the cache to the server's state.
    let mut deleted = Vec::new();
    let mut added = Vec::new();
    let mut updated = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(deleted.contains(&"a".to_owned()) && added.contains(&"e".to_owned()) && updated.contains(&"b".to_owned())) {
        assert!(tokio::time::Instant::now() < deadline, "no relist: {deleted:?} {added:?} {updated:?}");
        match next(&mut sub).await {
            Event::Deleted { obj, final_state_unknown } => {
                assert!(final_state_unknown, "a missed delete is a tombstone");
                deleted.push(name(&obj).to_owned());
            }
            Event::Added(p) => added.push(name(&p).to_owned()),
            Event::Updated { new, .. } => updated.push(name(&new).to_owned()),
            Event::Synced | Event::Resync(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // The short-lived pods were never seen: a relist reports only the end state.
    assert_eq!((deleted, added, updated), (vec!["a".to_owned()], vec!["e".to_owned()], vec!["b".to_owned()]));
    let pods = informer.store();
    let mut names: Vec<String> = pods.list().iter().map(|p| name(p).to_owned()).collect();
    names.sort();
    assert_eq!(names, ["b", "c", "d", "e"]);
    let m = metrics.resource("pods");
    assert_eq!(m.relists(), 1, "exactly one relist");
    // And the informer is live again after the relist.
    create_pod(&live, "f").await;
    loop {
        match next(&mut sub).await {
            Event::Added(p) if name(&p) == "f" => break,
            Event::Synced | Event::Resync(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let watches = gate.watches();
    assert!(watches.len() >= watched_before + 2, "the refused watch and the one after the relist: {watches:?}");
    assert_eq!(m.relists(), 1);
    stop.cancel();
    running.await.unwrap().unwrap();
    live.cancel.cancel();
}
