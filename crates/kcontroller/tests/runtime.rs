//! The reconcile runtime over in-memory sources: owned objects trigger their owner,
//! predicates filter updates, errors back off and retry, panics are recovered, requeues
//! come back, one key is never reconciled twice at once, and the metrics use
//! controller-runtime's names.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::ConfigMap;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kcontroller::runtime::{Action, Controller, ControllerMetrics, Predicate, ReconcileError, Request};
use kwatch::informer::SharedInformer;
use kwatch::memory::MemoryListerWatcher;
use tokio_util::sync::CancellationToken;

fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some("default".into());
    c.metadata.name = Some(name.into());
    c.metadata.uid = Some(format!("uid-{name}"));
    c.metadata.generation = Some(1);
    c
}

struct Harness {
    source: MemoryListerWatcher<ConfigMap>,
    informer: SharedInformer<ConfigMap>,
    cancel: CancellationToken,
}

fn harness() -> Harness {
    let source = MemoryListerWatcher::new();
    let informer = SharedInformer::builder(source.clone()).build().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let (informer, cancel) = (informer.clone(), cancel.clone());
        async move { informer.run(cancel).await }
    });
    Harness { source, informer, cancel }
}

type Counts = Arc<Mutex<HashMap<String, usize>>>;

fn count(counts: &Counts, key: &str) -> usize {
    counts.lock().unwrap().get(key).copied().unwrap_or(0)
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owned_objects_trigger_their_owner_and_predicates_filter_updates() {
    let h = harness();
    // A second informer over the same kind stands for "children".
    let children = SharedInformer::builder(h.source.clone()).build().unwrap();
    tokio::spawn({
        let (c, cancel) = (children.clone(), h.cancel.clone());
        async move { c.run(cancel).await }
    });
    let counts: Counts = Arc::default();
    let seen = counts.clone();
    let reconcile = move |req: Request<ConfigMap>| {
        let seen = seen.clone();
        async move {
            *seen.lock().unwrap().entry(req.key.name().to_owned()).or_default() += 1;
            Ok(Action::Done)
        }
    };
    h.source.create(cm("parent")).unwrap();
    let controller =
        Controller::new("owners", h.informer.clone()).with_predicate(Predicate::generation_changed()).owns(children);
    let running = tokio::spawn(controller.run(reconcile, h.cancel.clone()));
    wait_for("the initial reconcile", || count(&counts, "parent") == 1).await;

    // A child controlled by the parent: its changes reconcile the parent.
    let mut child = cm("child");
    child.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "parent".into(),
        uid: "uid-parent".into(),
        controller: Some(true),
        block_owner_deletion: None,
    }]);
    let before = count(&counts, "parent");
    h.source.create(child).unwrap();
    wait_for("the owner to be reconciled", || count(&counts, "parent") > before).await;

    // A status-like update of the parent (same generation) is filtered; a spec change is not.
    let settled = count(&counts, "parent");
    let mut p = h.source.get(&ObjectKey::namespaced("default", "parent")).unwrap();
    p.metadata.labels = Some([("a".to_owned(), "b".to_owned())].into());
    h.source.update(p.clone()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&counts, "parent"), settled, "same generation: filtered");
    p.metadata.generation = Some(2);
    h.source.update(p).unwrap();
    wait_for("a reconcile on a generation change", || count(&counts, "parent") > settled).await;
    // Deletions always pass.
    let before = count(&counts, "parent");
    h.source.delete(&ObjectKey::namespaced("default", "parent")).unwrap();
    wait_for("a reconcile on deletion", || count(&counts, "parent") > before).await;
    h.cancel.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_back_off_panics_recover_requeues_return_and_metrics_report() {
    let h = harness();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ControllerMetrics::register(&mut registry);
    let counts: Counts = Arc::default();
    let seen = counts.clone();
    let reconcile = move |req: Request<ConfigMap>| {
        let seen = seen.clone();
        async move {
            let name = req.key.name().to_owned();
            let n = {
                let mut c = seen.lock().unwrap();
                let n = c.entry(name.clone()).or_default();
                *n += 1;
                *n
            };
            match name.as_str() {
                // Fails twice, then succeeds.
                "flaky" if n <= 2 => Err(ReconcileError::new(format!("attempt {n} failed"))),
                "panicky" if n == 1 => panic!("reconcile panicked"),
                // Polls three times.
                "poller" if n < 3 => Ok(Action::RequeueAfter(Duration::from_millis(50))),
                "bad" => Err(ReconcileError::terminal("bad input")),
                _ => Ok(Action::Done),
            }
        }
    };
    for name in ["flaky", "panicky", "poller", "bad"] {
        h.source.create(cm(name)).unwrap();
    }
    let controller = Controller::new("retries", h.informer.clone()).workers(2).metrics(&metrics);
    let running = tokio::spawn(controller.run(reconcile, h.cancel.clone()));
    wait_for("three attempts of flaky", || count(&counts, "flaky") == 3).await;
    wait_for("a retry after the panic", || count(&counts, "panicky") == 2).await;
    wait_for("three polls", || count(&counts, "poller") == 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&counts, "flaky"), 3, "success stops the retries");
    assert_eq!(count(&counts, "bad"), 1, "terminal errors are not retried");

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        r#"controller_runtime_reconcile_total{controller="retries",result="error"} 4"#,
        r#"controller_runtime_reconcile_total{controller="retries",result="requeue_after"} 2"#,
        r#"controller_runtime_reconcile_panics_total{controller="retries"} 1"#,
        r#"controller_runtime_terminal_reconcile_errors_total{controller="retries"} 1"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="retries"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    for family in
        ["workqueue_depth", "workqueue_adds_total", "workqueue_retries_total", "workqueue_queue_duration_seconds"]
    {
        assert!(text.contains(family), "missing {family}");
    }
    h.cancel.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_is_never_reconciled_twice_at_once() {
    let h = harness();
    h.source.create(cm("hot")).unwrap();
    let (active, max, total) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (a, m, t) = (active.clone(), max.clone(), total.clone());
    let reconcile = move |_req: Request<ConfigMap>| {
        let (a, m, t) = (a.clone(), m.clone(), t.clone());
        async move {
            let now = a.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            a.fetch_sub(1, Ordering::SeqCst);
            t.fetch_add(1, Ordering::SeqCst);
            Ok(Action::Done)
        }
    };
    let controller = Controller::new("hot", h.informer.clone()).workers(4);
    let running = tokio::spawn(controller.run(reconcile, h.cancel.clone()));
    for i in 0..200 {
        let mut c = h.source.get(&ObjectKey::namespaced("default", "hot")).unwrap();
        c.data = Some([("i".to_owned(), i.to_string())].into());
        h.source.update(c).unwrap();
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(max.load(Ordering::SeqCst), 1, "never two workers on one key");
    let n = total.load(Ordering::SeqCst);
    assert!((2..200).contains(&n), "updates were coalesced: {n} reconciles for 200 updates");
    h.cancel.cancel();
    running.await.unwrap().unwrap();
}
