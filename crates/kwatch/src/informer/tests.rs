use std::collections::BTreeMap;
use std::time::Duration;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::ConfigMap;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::memory::MemoryListerWatcher;

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some("ns".into());
    c.metadata.name = Some(name.into());
    c
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::namespaced("ns", name)
}

fn informer(src: &MemoryListerWatcher<ConfigMap>) -> SharedInformer<ConfigMap> {
    SharedInformer::builder(src.clone()).config(ReflectorConfig::new("configmaps")).build().unwrap()
}

fn describe(ev: &Event<ConfigMap>) -> String {
    let id = |o: &ConfigMap| format!("{}@{}", o.name(), o.resource_version().unwrap_or(""));
    match ev {
        Event::Added(o) => format!("+{}", id(o)),
        Event::Updated { old, new } => format!("~{}>{}", id(old), id(new)),
        Event::Deleted { obj, final_state_unknown } => {
            format!("-{}{}", id(obj), if *final_state_unknown { "?" } else { "" })
        }
        Event::Synced => "synced".into(),
        Event::Lagged { missed } => format!("lagged({missed})"),
        Event::Resync(o) => format!("={}", id(o)),
    }
}

async fn next(sub: &mut Subscription<ConfigMap>) -> String {
    let ev = tokio::time::timeout(Duration::from_secs(600), sub.recv()).await.expect("no event").expect("ended");
    describe(&ev)
}

/// Takes events until the subscription has nothing ready, sorted within runs of
/// snapshot-expanded events (their order is unspecified).
fn drain(sub: &mut Subscription<ConfigMap>) -> Vec<String> {
    std::iter::from_fn(|| sub.try_recv().map(|e| describe(&e))).collect()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[tokio::test(start_paused = true)]
async fn early_subscriber_sees_list_then_changes() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    let inf = informer(&src);
    let mut sub = inf.subscribe(16, None);
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let inf = inf.clone();
        let cancel = cancel.clone();
        async move { inf.run(cancel).await }
    });
    assert_eq!(next(&mut sub).await, "+a@2");
    assert_eq!(next(&mut sub).await, "synced");
    src.update(cm("a")).unwrap();
    assert_eq!(next(&mut sub).await, "~a@2>a@3");
    src.delete(&key("a")).unwrap();
    assert_eq!(next(&mut sub).await, "-a@4");
    assert!(inf.has_synced());
    cancel.cancel();
    run.await.unwrap().unwrap();
    assert_eq!(sub.recv().await, None);
    assert_eq!(inf.run(CancellationToken::new()).await, Err(InformerError::AlreadyStarted("configmaps".into())));
    // Subscribing to a stopped informer yields its last state and ends.
    src.create(cm("late")).unwrap();
    let mut after = inf.subscribe(4, None);
    assert_eq!(next(&mut after).await, "synced");
    assert_eq!(after.recv().await, None);
}

#[tokio::test(start_paused = true)]
async fn late_subscriber_gets_snapshot_then_stream() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    src.create(cm("b")).unwrap();
    let inf = informer(&src);
    let cancel = CancellationToken::new();
    tokio::spawn({
        let inf = inf.clone();
        let cancel = cancel.clone();
        async move { inf.run(cancel).await }
    });
    inf.store().wait_until_synced().await.unwrap();
    let mut sub = inf.subscribe(16, None);
    let mut initial = vec![next(&mut sub).await, next(&mut sub).await];
    initial.sort();
    assert_eq!(initial, ["+a@2", "+b@3"]);
    assert_eq!(next(&mut sub).await, "synced");
    src.create(cm("c")).unwrap();
    assert_eq!(next(&mut sub).await, "+c@4");
    assert_eq!(inf.handlers(), 1);
    drop(sub);
    src.create(cm("d")).unwrap();
    settle().await;
    assert_eq!(inf.handlers(), 0);
    cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn slow_handler_lags_and_catches_up_exactly() {
    let src = MemoryListerWatcher::new();
    for name in ["keep", "change", "gone"] {
        src.create(cm(name)).unwrap();
    }
    let inf = informer(&src);
    let metrics = inf.inner.metrics.clone();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let inf = inf.clone();
        let cancel = cancel.clone();
        async move { inf.run(cancel).await }
    });
    inf.store().wait_until_synced().await.unwrap();
    let mut slow = inf.subscribe(2, None);
    let mut fast = inf.subscribe(100, None);
    // Initial snapshot and Synced fill the slow buffer (they do not count against it).
    settle().await;
    src.update(cm("change")).unwrap(); // rev 5: queued
    src.update(cm("change")).unwrap(); // rev 6: queued, buffer full
    src.create(cm("new")).unwrap(); // rev 7: dropped, lagging from here
    src.delete(&key("gone")).unwrap(); // rev 8: dropped
    settle().await;
    assert_eq!(metrics.handler_lagged(), 1);
    let fast_events = drain(&mut fast);
    assert_eq!(fast_events.len(), 3 + 1 + 4, "{fast_events:?}");

    let mut got = drain(&mut slow);
    let initial: Vec<String> = got.drain(..4).collect();
    assert_eq!(initial.iter().filter(|e| e.starts_with('+')).count(), 3);
    assert_eq!(initial[3], "synced");
    assert_eq!(got[..3], ["~change@3>change@5", "~change@5>change@6", "lagged(2)"]);
    let mut resync: Vec<String> = got[3..got.len() - 1].to_vec();
    resync.sort();
    assert_eq!(resync, ["+new@7", "-gone@4?", "=change@6", "=keep@2"]);
    assert_eq!(got.last().map(String::as_str), Some("synced"));
    // Live again.
    src.update(cm("keep")).unwrap();
    assert_eq!(next(&mut slow).await, "~keep@2>keep@9");
    assert_eq!(metrics.handler_lag_events(), 1, "fast has one queued event");
    drop(fast);
    assert_eq!(metrics.handler_lag_events(), 0);
    cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn periodic_resync() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a")).unwrap();
    src.create(cm("b")).unwrap();
    let inf = informer(&src);
    let cancel = CancellationToken::new();
    tokio::spawn({
        let inf = inf.clone();
        let cancel = cancel.clone();
        async move { inf.run(cancel).await }
    });
    let mut sub = inf.subscribe(16, Some(Duration::from_millis(1)));
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut sub).await);
    }
    let start = tokio::time::Instant::now();
    let mut resync = vec![next(&mut sub).await, next(&mut sub).await];
    resync.sort();
    assert_eq!(resync, ["=a@2", "=b@3"]);
    // The period was raised to the 1 s minimum.
    assert!(start.elapsed() >= Duration::from_millis(900), "{:?}", start.elapsed());
    cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn builder_errors_and_transform() {
    let src: MemoryListerWatcher<ConfigMap> = MemoryListerWatcher::new();
    let err = SharedInformer::builder(src.clone()).index("namespace", |_: &ConfigMap| vec![]).build().unwrap_err();
    assert_eq!(err, InformerError::Store(StoreError::IndexConflict("namespace".into())));
    let mut bad = ReflectorConfig::new("x");
    bad.page_size = 10;
    bad.min_watch_timeout = Duration::ZERO;
    assert!(matches!(
        SharedInformer::builder(src.clone()).config(bad).build(),
        Err(InformerError::Reflector(ReflectorError::Config(_)))
    ));
    let mut c = cm("a");
    c.data = Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    src.create(c).unwrap();
    let inf = SharedInformer::builder(src.clone())
        .index("has-data", |c: &ConfigMap| vec![c.data.is_some().to_string()])
        .transform(Transform::new(|mut c: ConfigMap| {
            c.data = None;
            c
        }))
        .build()
        .unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let inf = inf.clone();
        let cancel = cancel.clone();
        async move { inf.run(cancel).await }
    });
    inf.store().wait_until_synced().await.unwrap();
    assert_eq!(inf.store().index_keys("has-data", "false").unwrap(), vec![key("a")]);
    cancel.cancel();
}
