use std::sync::Arc;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{Node, Pod, PodSpec};

use super::*;

fn pod(ns: &str, name: &str, rv: u64, node: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.namespace = Some(ns.into());
    p.metadata.name = Some(name.into());
    p.metadata.resource_version = Some(rv.to_string());
    p.spec = Some(PodSpec { node_name: Some(node.into()), ..PodSpec::default() });
    p
}

fn by_node(p: &Pod) -> Vec<String> {
    p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect()
}

fn indexed_writer() -> StoreWriter<Pod> {
    let indexers = Indexers::new().with("node", by_node).unwrap();
    StoreWriter::new(indexers)
}

fn key(s: &str) -> ObjectKey {
    s.parse().unwrap()
}

fn record(w: &mut StoreWriter<Pod>, op: StoreOp<Pod>) -> Vec<Change<Pod>> {
    let mut out = Vec::new();
    w.apply_with(op, &mut |c, _| out.push(c));
    out
}

#[test]
fn add_update_delete_and_indexes() {
    let mut w = indexed_writer();
    let store = w.store();
    assert!(matches!(record(&mut w, StoreOp::Added(pod("a", "p1", 1, "n1")))[..], [Change::Added(_)]));
    w.apply(StoreOp::Added(pod("a", "p2", 2, "n1")));
    w.apply(StoreOp::Added(pod("b", "p3", 3, "n2")));
    assert_eq!(store.len(), 3);
    assert_eq!(store.index_keys("node", "n1").unwrap(), vec![key("a/p1"), key("a/p2")]);
    assert_eq!(store.index_values("node").unwrap(), vec!["n1", "n2"]);
    assert_eq!(store.namespace("a").len(), 2);
    assert_eq!(store.index_values(NAMESPACE_INDEX).unwrap(), vec!["a", "b"]);

    // Moving p2 to n2 moves it in the index; n1 keeps p1 only.
    let changes = record(&mut w, StoreOp::Modified(pod("a", "p2", 4, "n2")));
    match &changes[..] {
        [Change::Updated { old, new }] => {
            assert_eq!(old.metadata.resource_version.as_deref(), Some("2"));
            assert_eq!(new.metadata.resource_version.as_deref(), Some("4"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.index_keys("node", "n1").unwrap(), vec![key("a/p1")]);
    assert_eq!(store.index_keys("node", "n2").unwrap(), vec![key("a/p2"), key("b/p3")]);

    // Deleting the last object of a value removes the value (no empty sets left behind).
    let changes = record(&mut w, StoreOp::Deleted(pod("a", "p1", 5, "n1")));
    assert!(
        matches!(&changes[..], [Change::Deleted { final_state_unknown: false, obj }] if obj.metadata.resource_version.as_deref() == Some("5"))
    );
    assert_eq!(store.index_values("node").unwrap(), vec!["n2"]);
    assert_eq!(store.by_index("node", "n1").unwrap(), Vec::<Arc<Pod>>::new());
    assert_eq!(store.snapshot().resource_version(), "5");

    // Deleting an absent key reports nothing.
    assert!(record(&mut w, StoreOp::Deleted(pod("a", "zz", 6, "n1"))).is_empty());
    assert_eq!(store.snapshot().resource_version(), "6");
}

#[test]
fn unknown_index_and_conflicts() {
    let w = indexed_writer();
    let store = w.store();
    assert_eq!(store.by_index("nope", "x"), Err(StoreError::UnknownIndex("nope".into())));
    assert!(store.index_keys("nope", "x").unwrap_err().to_string().contains("\"nope\""));
    let err = Indexers::<Pod>::new().with(NAMESPACE_INDEX, by_node).unwrap_err();
    assert_eq!(err, StoreError::IndexConflict("namespace".into()));
    let err = Indexers::<Pod>::new().with("x", by_node).unwrap().with("x", by_node).unwrap_err();
    assert_eq!(err, StoreError::IndexConflict("x".into()));
    assert_eq!(format!("{:?}", Indexers::<Pod>::new().with("x", by_node).unwrap()), "[\"namespace\", \"x\"]");
}

#[test]
fn multi_value_index() {
    let labels =
        |p: &Pod| -> Vec<String> { p.metadata.labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect() };
    let mut w = StoreWriter::new(Indexers::new().with("labels", labels).unwrap());
    let mut p = pod("a", "p", 1, "n");
    p.metadata.labels = Some([("app".into(), "web".into()), ("tier".into(), "fe".into())].into());
    w.apply(StoreOp::Added(p.clone()));
    let store = w.store();
    assert_eq!(store.index_values("labels").unwrap(), vec!["app=web", "tier=fe"]);
    p.metadata.labels = Some([("app".into(), "web".into())].into());
    p.metadata.resource_version = Some("2".into());
    w.apply(StoreOp::Modified(p));
    assert_eq!(store.index_values("labels").unwrap(), vec!["app=web"]);
    assert_eq!(store.by_index("labels", "app=web").unwrap().len(), 1);
}

#[test]
fn cluster_scoped_objects_index_under_empty_namespace() {
    let mut w = StoreWriter::<Node>::new(Indexers::new());
    let mut n = Node::default();
    n.metadata.name = Some("n1".into());
    w.apply(StoreOp::Added(n));
    let store = w.store();
    assert_eq!(store.namespace("").len(), 1);
    assert!(store.get(&ObjectKey::cluster("n1")).is_some());
}

#[test]
fn snapshots_do_not_move() {
    let mut w = indexed_writer();
    w.apply(StoreOp::Added(pod("a", "p1", 1, "n1")));
    let store = w.store();
    let before = store.snapshot();
    w.apply(StoreOp::Modified(pod("a", "p1", 2, "n2")));
    w.apply(StoreOp::Added(pod("a", "p2", 3, "n1")));
    assert_eq!(before.len(), 1);
    assert_eq!(before.get(&key("a/p1")).unwrap().metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(before.index_keys("node", "n1").unwrap(), vec![key("a/p1")]);
    let now = store.snapshot();
    assert_eq!(now.len(), 2);
    assert_eq!(now.index_keys("node", "n1").unwrap(), vec![key("a/p2")]);
    assert_eq!(now.keys(), vec![key("a/p1"), key("a/p2")]);
}

#[test]
fn relist_is_a_diff_with_tombstones() {
    let mut w = indexed_writer();
    let store = w.store();
    w.apply(StoreOp::RelistStart);
    for p in [pod("a", "keep", 1, "n1"), pod("a", "change", 2, "n1"), pod("a", "gone", 3, "n1")] {
        w.apply(StoreOp::RelistItem(p));
    }
    assert!(!store.is_synced());
    let changes = record(&mut w, StoreOp::RelistEnd { resource_version: "3".into() });
    assert!(matches!(&changes[..], [Change::Synced]));
    assert!(store.is_synced());
    let kept = store.get(&key("a/keep")).unwrap();

    // The relist: "keep" unchanged, "change" changed, "new" appeared, "gone" missing.
    let mut all = record(&mut w, StoreOp::RelistStart);
    for p in [pod("a", "keep", 1, "n1"), pod("a", "change", 9, "n2"), pod("a", "new", 10, "n1")] {
        all.extend(record(&mut w, StoreOp::RelistItem(p)));
    }
    all.extend(record(&mut w, StoreOp::RelistEnd { resource_version: "10".into() }));
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(matches!(&all[0], Change::Updated { new, .. } if new.metadata.name.as_deref() == Some("change")));
    assert!(matches!(&all[1], Change::Added(o) if o.metadata.name.as_deref() == Some("new")));
    assert!(
        matches!(&all[2], Change::Deleted { obj, final_state_unknown: true } if obj.metadata.name.as_deref() == Some("gone"))
    );
    // The unchanged object is the very same allocation.
    assert!(Arc::ptr_eq(&kept, &store.get(&key("a/keep")).unwrap()));
    assert_eq!(store.snapshot().resource_version(), "10");
    assert_eq!(store.index_keys("node", "n1").unwrap(), vec![key("a/keep"), key("a/new")]);
}

#[test]
fn restarted_relist_forgets_the_abandoned_attempt() {
    let mut w = indexed_writer();
    w.apply(StoreOp::RelistStart);
    w.apply(StoreOp::RelistItem(pod("a", "x", 1, "n")));
    w.apply(StoreOp::RelistItem(pod("a", "y", 2, "n")));
    // The list failed half-way; the retry (read later) no longer has "x".
    w.apply(StoreOp::RelistStart);
    w.apply(StoreOp::RelistItem(pod("a", "y", 2, "n")));
    let changes = record(&mut w, StoreOp::RelistEnd { resource_version: "3".into() });
    assert!(
        matches!(&changes[0], Change::Deleted { obj, final_state_unknown: true } if obj.metadata.name.as_deref() == Some("x"))
    );
    assert_eq!(w.store().keys_for_test(), vec![key("a/y")]);
}

#[test]
fn observer_sees_the_version_before_each_change() {
    let mut w = indexed_writer();
    w.apply(StoreOp::Added(pod("a", "p", 1, "n")));
    let mut seen = Vec::new();
    w.apply_with(StoreOp::Modified(pod("a", "p", 2, "n")), &mut |c, before| {
        seen.push((before.get(&key("a/p")).unwrap().metadata.resource_version.clone(), c));
    });
    assert_eq!(seen[0].0.as_deref(), Some("1"));
    assert_eq!(w.snapshot().get(&key("a/p")).unwrap().metadata.resource_version.as_deref(), Some("2"));
}

#[tokio::test]
async fn wait_until_synced() {
    let mut w = indexed_writer();
    let store = w.store();
    let waiter = tokio::spawn({
        let store = store.clone();
        async move { store.wait_until_synced().await }
    });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    w.apply(StoreOp::RelistStart);
    w.apply(StoreOp::RelistEnd { resource_version: "1".into() });
    assert_eq!(waiter.await.unwrap(), Ok(()));
    assert_eq!(store.wait_until_synced().await, Ok(()));

    let w2 = indexed_writer();
    let store2 = w2.store();
    drop(w2);
    assert_eq!(store2.wait_until_synced().await, Err(StoreError::Closed));
}

impl Store<Pod> {
    fn keys_for_test(&self) -> Vec<ObjectKey> {
        self.snapshot().keys()
    }
}
