//! End-to-end behaviour of reflector + store + shared informer against the in-memory source.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use kapi::k8s::api::core::v1::{ConfigMap, Pod};
use kwatch::informer::{Event, SharedInformer};
use kwatch::lister::WatchError;
use kwatch::memory::MemoryListerWatcher;
use kwatch::metrics::Metrics;
use kwatch::object::{MetadataOnly, Object, PartialObjectMetadata, Transform};
use kwatch::reflector::ReflectorConfig;

fn informer(src: &MemoryListerWatcher<ConfigMap>, config: ReflectorConfig) -> SharedInformer<ConfigMap> {
    SharedInformer::builder(src.clone()).config(config).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn initial_sync_and_add_update_delete() {
    let src = MemoryListerWatcher::new();
    for i in 0..1200 {
        src.create(cm(&format!("c{i:04}"))).unwrap();
    }
    let inf = informer(&src, ReflectorConfig::new("configmaps"));
    let handler = consume(inf.subscribe(4096, None), None);
    let stop = run(&inf);
    inf.store().wait_until_synced().await.unwrap();
    assert_eq!(inf.store().len(), 1200);
    // Three pages of 500.
    assert_eq!(src.list_calls().len(), 3);
    src.update(cm("c0001")).unwrap();
    src.delete(&key("c0002")).unwrap();
    src.create(cm("new")).unwrap();
    converge(&inf.store(), &src).await;
    model_matches(&handler, &inf.store()).await;
    assert_eq!(handler.lock().unwrap().tombstones, 0);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn watch_drop_resumes_from_last_version_without_relisting() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    let inf = informer(&src, ReflectorConfig::new("configmaps"));
    let handler = consume(inf.subscribe(64, None), None);
    let stop = run(&inf);
    converge(&inf.store(), &src).await;
    for round in 0..5 {
        // Let the watch live a while (a watch closing within a second with no event counts
        // as broken and triggers a relist, as in client-go).
        tokio::time::sleep(Duration::from_secs(2)).await;
        src.update(cm("a")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        src.drop_watches(if round % 2 == 0 { None } else { Some(WatchError::transport("connection reset")) });
        src.create(cm(&format!("while-down-{round}"))).unwrap();
        converge(&inf.store(), &src).await;
    }
    assert_eq!(src.list_calls().len(), 1, "dropped watches resume, they do not relist");
    let watches = src.watch_calls();
    assert!(watches.len() >= 6);
    // Each new watch starts where the last one stopped.
    for w in &watches[1..] {
        assert_ne!(w.resource_version, "0");
        assert!(!w.resource_version.is_empty());
    }
    model_matches(&handler, &inf.store()).await;
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn compaction_forces_relist_with_tombstones() {
    let src = MemoryListerWatcher::new();
    for name in ["a", "b", "c", "d"] {
        src.create(cm(name)).unwrap();
    }
    let metrics = Metrics::default();
    let inf = SharedInformer::builder(src.clone())
        .config(ReflectorConfig::new("configmaps"))
        .metrics(&metrics)
        .build()
        .unwrap();
    let handler = consume(inf.subscribe(64, None), None);
    let stop = run(&inf);
    converge(&inf.store(), &src).await;
    // Disconnected: b and c deleted, d changed, e created; then history is compacted, so
    // the watch cannot resume and the deletions are only visible as absences in a list.
    src.drop_watches(Some(WatchError::transport("reset")));
    src.fail_next_watch(WatchError::transport("connection refused"));
    src.delete(&key("b")).unwrap();
    src.delete(&key("c")).unwrap();
    src.update(cm("d")).unwrap();
    src.create(cm("e")).unwrap();
    src.compact();
    converge(&inf.store(), &src).await;
    model_matches(&handler, &inf.store()).await;
    let h = handler.lock().unwrap();
    assert_eq!(h.tombstones, 2, "b and c are reported as DeletedFinalStateUnknown");
    let m = metrics.resource("configmaps");
    assert_eq!(m.relists(), 1);
    assert_eq!(m.store_objects(), 3);
    drop(h);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn late_subscribers_are_consistent_while_events_flow() {
    let src = MemoryListerWatcher::new();
    let inf = informer(&src, ReflectorConfig::new("configmaps"));
    let stop = run(&inf);
    let mut handlers = Vec::new();
    for step in 0..400u32 {
        let name = format!("c{}", step % 37);
        match step % 5 {
            0..=2 => {
                src.apply(cm(&name)).unwrap();
            }
            3 => {
                let _ = src.delete(&key(&name));
            }
            _ => {
                if step % 3 == 0 {
                    src.send_bookmark();
                }
            }
        }
        if step % 40 == 7 {
            handlers.push(consume(inf.subscribe(1024, None), None));
        }
        if step % 13 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    converge(&inf.store(), &src).await;
    assert_eq!(handlers.len(), 10);
    for h in &handlers {
        model_matches(h, &inf.store()).await;
        assert_eq!(h.lock().unwrap().lagged, 0);
    }
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn slow_handler_never_blocks_others() {
    let src = MemoryListerWatcher::new();
    for i in 0..50 {
        src.create(cm(&format!("c{i}"))).unwrap();
    }
    let metrics = Metrics::default();
    let inf = SharedInformer::builder(src.clone())
        .config(ReflectorConfig::new("configmaps"))
        .metrics(&metrics)
        .build()
        .unwrap();
    // The slow handler takes 50 ms per event with room for 8; the fast one keeps up.
    let slow = consume(inf.subscribe(8, None), Some(Duration::from_millis(50)));
    let fast = consume(inf.subscribe(10_000, None), None);
    let stop = run(&inf);
    inf.store().wait_until_synced().await.unwrap();
    let start = tokio::time::Instant::now();
    for i in 0..2000 {
        src.update(cm(&format!("c{}", i % 50))).unwrap();
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    converge(&inf.store(), &src).await;
    model_matches(&fast, &inf.store()).await;
    // The store and the fast handler were done long before the slow handler could have
    // taken 2000 events at 50 ms each (100 s).
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    assert_eq!(fast.lock().unwrap().lagged, 0);
    model_matches(&slow, &inf.store()).await;
    let s = slow.lock().unwrap();
    assert!(s.lagged >= 1, "the slow handler lagged");
    assert!(s.events < 2000, "and was spared most of the events: {}", s.events);
    assert!(metrics.resource("configmaps").handler_lagged() >= 1);
    drop(s);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn streaming_list_end_to_end_and_fallback() {
    for streaming_supported in [true, false] {
        let src = MemoryListerWatcher::new();
        src.set_streaming_list(streaming_supported);
        for i in 0..20 {
            src.create(cm(&format!("c{i}"))).unwrap();
        }
        let inf = informer(&src, ReflectorConfig::new("configmaps").streaming_list(true));
        let handler = consume(inf.subscribe(64, None), None);
        let stop = run(&inf);
        converge(&inf.store(), &src).await;
        assert_eq!(src.list_calls().is_empty(), streaming_supported);
        src.delete(&key("c3")).unwrap();
        converge(&inf.store(), &src).await;
        src.drop_watches(None);
        src.delete(&key("c4")).unwrap();
        src.compact();
        converge(&inf.store(), &src).await;
        model_matches(&handler, &inf.store()).await;
        assert_eq!(handler.lock().unwrap().tombstones, 1, "c4 vanished during the disconnection");
        stop.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn indexes_and_transform_on_typed_pods() {
    let src = MemoryListerWatcher::new();
    for (i, node) in ["n1", "n1", "n2"].iter().enumerate() {
        let mut p = pod("default", &format!("web{i}"), node);
        p.metadata.managed_fields = Some(vec![Default::default()]);
        src.create(p).unwrap();
    }
    let inf = SharedInformer::builder(src.clone())
        .config(ReflectorConfig::new("pods"))
        .index("node", |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect())
        .transform(Transform::strip_managed_fields())
        .build()
        .unwrap();
    let stop = run(&inf);
    let store = inf.store();
    store.wait_until_synced().await.unwrap();
    assert_eq!(store.index_keys("node", "n1").unwrap().len(), 2);
    assert!(store.list().iter().all(|p| p.metadata.managed_fields.is_none()));
    let mut moved = pod("default", "web0", "n2");
    moved.metadata.resource_version = None;
    src.update(moved).unwrap();
    converge(&store, &src).await;
    assert_eq!(store.index_keys("node", "n2").unwrap().len(), 2);
    assert_eq!(store.namespace("default").len(), 3);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn metadata_only_mode() {
    let src = MemoryListerWatcher::new();
    src.create(pod("default", "web0", "n1")).unwrap();
    let inf = SharedInformer::<PartialObjectMetadata>::builder(MetadataOnly::new(src.clone()))
        .config(ReflectorConfig::new("pods"))
        .build()
        .unwrap();
    let mut sub = inf.subscribe(16, None);
    let stop = run(&inf);
    match sub.recv().await {
        Some(Event::Added(meta)) => {
            assert_eq!(meta.key(), kapi::ObjectKey::namespaced("default", "web0"));
            assert_eq!(meta.labels().and_then(|l| l.get("app")).map(String::as_str), Some("web"));
        }
        other => panic!("{other:?}"),
    }
    src.delete(&kapi::ObjectKey::namespaced("default", "web0")).unwrap();
    assert!(matches!(sub.recv().await, Some(Event::Synced)));
    assert!(matches!(sub.recv().await, Some(Event::Deleted { final_state_unknown: false, .. })));
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn dynamic_objects() {
    use kapi::{ApiResource, DynamicObject};
    let crontabs = ApiResource {
        group: "stable.example.com".into(),
        version: "v1".into(),
        kind: "CronTab".into(),
        plural: "crontabs".into(),
        namespaced: true,
    };
    let src = MemoryListerWatcher::new();
    let mut c = DynamicObject::new("c1", &crontabs).within("ns");
    c.data.insert("spec".into(), serde_json::json!({"cronSpec": "* * * * */5"}));
    src.create(c).unwrap();
    let inf = SharedInformer::builder(src.clone())
        .config(ReflectorConfig::new("crontabs.stable.example.com"))
        .index("schedule", |c: &DynamicObject| {
            c.data
                .get("spec")
                .and_then(|s| s.get("cronSpec"))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .into_iter()
                .collect()
        })
        .build()
        .unwrap();
    let handler = consume(inf.subscribe(16, None), None);
    let stop = run(&inf);
    converge(&inf.store(), &src).await;
    assert_eq!(inf.store().index_keys("schedule", "* * * * */5").unwrap(), vec![key("c1")]);
    src.delete(&key("c1")).unwrap();
    converge(&inf.store(), &src).await;
    model_matches(&handler, &inf.store()).await;
    stop.cancel();
}
