use std::time::Duration;

use kapi::k8s::api::core::v1::ConfigMap;
use kapi::{ObjectKey, StatusError};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::memory::MemoryListerWatcher;
use crate::store::{Indexers, Store, StoreWriter};

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some("ns".into());
    c.metadata.name = Some(name.into());
    c
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::namespaced("ns", name)
}

struct Running {
    store: Store<ConfigMap>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.cancel.cancel();
        self.task.await.unwrap();
    }
}

fn start(src: &MemoryListerWatcher<ConfigMap>, config: ReflectorConfig) -> Running {
    start_with(Reflector::new(src.clone(), config).unwrap())
}

fn start_with(reflector: Reflector<ConfigMap>) -> Running {
    let writer = StoreWriter::new(Indexers::new());
    let store = writer.store();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(reflector.run(writer, cancel.clone()));
    Running { store, cancel, task }
}

/// Waits (in virtual time) until the store reflects `src` at its current revision.
async fn converge(store: &Store<ConfigMap>, src: &MemoryListerWatcher<ConfigMap>) {
    let rv = src.revision().to_string();
    let done = async {
        loop {
            let snap = store.snapshot();
            if snap.is_synced() && snap.resource_version() == rv {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(3600), done).await.expect("store never caught up");
    let want: Vec<(ObjectKey, Option<String>)> =
        src.objects().into_iter().map(|o| (o.key(), o.metadata.resource_version)).collect();
    let mut got: Vec<(ObjectKey, Option<String>)> =
        store.list().iter().map(|o| (o.key(), o.metadata.resource_version.clone())).collect();
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test(start_paused = true)]
async fn first_list_then_watch_parameters() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    let r = start(&src, ReflectorConfig::new("configmaps"));
    r.store.wait_until_synced().await.unwrap();
    converge(&r.store, &src).await;
    let lists = src.list_calls();
    assert_eq!(lists[0].resource_version, "0");
    assert_eq!(lists[0].limit, Some(500));
    let watch = &src.watch_calls()[0];
    assert_eq!(watch.resource_version, "2");
    assert!(watch.bookmarks && !watch.send_initial_events);
    let timeout = watch.timeout.unwrap();
    assert!(timeout >= Duration::from_secs(300) && timeout < Duration::from_secs(600), "{timeout:?}");
    src.update(cm("a")).unwrap();
    src.create(cm("b")).unwrap();
    src.delete(&key("a")).unwrap();
    converge(&r.store, &src).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn expired_watch_relists_from_last_version_then_from_latest() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    src.create(cm("b")).unwrap();
    let r = start(&src, ReflectorConfig::new("configmaps"));
    converge(&r.store, &src).await;
    // While disconnected: b is deleted and c created, and history is compacted.
    src.drop_watches(Some(WatchError::transport("reset")));
    src.fail_next_watch(WatchError::transport("connection refused"));
    src.delete(&key("b")).unwrap();
    src.create(cm("c")).unwrap();
    src.compact();
    converge(&r.store, &src).await;
    assert_eq!(r.store.snapshot().keys(), vec![key("a"), key("c")]);
    let rvs: Vec<String> = src.list_calls().iter().map(|l| l.resource_version.clone()).collect();
    assert_eq!(rvs[0], "0");
    // The relist asks for the last version seen first (not older than it), as client-go does.
    assert_eq!(rvs.get(1).map(String::as_str), Some("3"), "{rvs:?}");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn relist_from_compacted_exact_version_retries_from_latest() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    let r = start(&src, ReflectorConfig::new("configmaps"));
    converge(&r.store, &src).await;
    // The next list fails as if its version were too old; the retry reads the latest data.
    src.fail_next_list(WatchError::from_status(StatusError::expired("too old resource version")));
    src.drop_watches(None);
    src.compact();
    src.create(cm("b")).unwrap();
    src.compact();
    converge(&r.store, &src).await;
    let rvs: Vec<String> = src.list_calls().iter().map(|l| l.resource_version.clone()).collect();
    assert!(rvs.windows(2).any(|w| w[0] == "2" && w[1].is_empty()), "{rvs:?}");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pages_and_expired_continue_token() {
    let src = MemoryListerWatcher::new();
    for i in 0..5 {
        src.create(cm(&format!("c{i}"))).unwrap();
    }
    let r = start(&src, ReflectorConfig::new("configmaps").page_size(2));
    converge(&r.store, &src).await;
    let lists = src.list_calls();
    assert_eq!(lists.len(), 3);
    assert!(lists[1].continue_token.is_some() && lists[1].resource_version.is_empty());
    r.stop().await;

    // A continue token that expires mid-list falls back to one unpaginated list.
    let src2 = MemoryListerWatcher::new();
    for i in 0..5 {
        src2.create(cm(&format!("c{i}"))).unwrap();
    }
    src2.fail_next_list(WatchError::from_status(StatusError::expired("x"))); // the relist retry below
    let r = start(&src2, ReflectorConfig::new("configmaps").page_size(2));
    converge(&r.store, &src2).await;
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn streaming_list_and_fallback() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    let r = start(&src, ReflectorConfig::new("configmaps").streaming_list(true));
    converge(&r.store, &src).await;
    assert!(src.list_calls().is_empty());
    let w = &src.watch_calls()[0];
    assert!(w.send_initial_events && w.bookmarks);
    assert_eq!(w.resource_version_match, Some(ResourceVersionMatch::NotOlderThan));
    src.create(cm("b")).unwrap();
    converge(&r.store, &src).await;
    r.stop().await;

    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    src.set_streaming_list(false);
    let r = start(&src, ReflectorConfig::new("configmaps").streaming_list(true));
    converge(&r.store, &src).await;
    assert_eq!(src.list_calls().len(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_backs_off_without_relisting() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    for _ in 0..3 {
        src.fail_next_watch(WatchError::from_status(StatusError::too_many_requests("slow down", 1)));
    }
    let started = Instant::now();
    let r = start(&src, ReflectorConfig::new("configmaps"));
    converge(&r.store, &src).await;
    src.create(cm("b")).unwrap();
    converge(&r.store, &src).await;
    assert_eq!(src.list_calls().len(), 1);
    assert_eq!(src.watch_calls().len(), 4);
    // 0.8 + 1.6 + 3.2 s at least.
    assert!(started.elapsed() >= Duration::from_millis(5600));
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn transform_and_metrics() {
    let src = MemoryListerWatcher::new();
    let mut c = cm("a");
    c.data = Some([("big".to_owned(), "x".repeat(100))].into());
    src.create(c).unwrap();
    let metrics = crate::metrics::Metrics::default().resource("configmaps");
    let reflector = Reflector::new(src.clone(), ReflectorConfig::new("configmaps"))
        .unwrap()
        .transform(Transform::new(|mut c: ConfigMap| {
            c.data = None;
            c
        }))
        .metrics(metrics.clone());
    let r = start_with(reflector);
    converge(&r.store, &src).await;
    assert!(r.store.get(&key("a")).unwrap().data.is_none());
    assert_eq!(metrics.lists(), 1);
    assert_eq!(metrics.relists(), 0);
    src.drop_watches(None);
    src.compact();
    src.create(cm("b")).unwrap();
    src.compact();
    converge(&r.store, &src).await;
    assert_eq!(metrics.relists(), 1);
    assert!(metrics.watches() >= 2);
    r.stop().await;
}

#[test]
fn config_validation() {
    let mut c = ReflectorConfig::default();
    assert!(c.validate().is_ok());
    c.min_watch_timeout = Duration::ZERO;
    assert!(matches!(c.validate(), Err(ReflectorError::Config(m)) if m.contains("min_watch_timeout")));
    let c = ReflectorConfig::default().labels(" app=x");
    assert!(c.validate().is_err());
    let mut c = ReflectorConfig::default();
    c.backoff.factor = 0.0;
    let src: MemoryListerWatcher<ConfigMap> = MemoryListerWatcher::new();
    assert!(Reflector::new(src, c).is_err());
}
