//! Helpers shared by the integration tests: objects, a model that checks every event a
//! handler receives, and waiting in virtual time.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{ConfigMap, Pod, PodSpec};
use kwatch::informer::{Event, SharedInformer, Subscription};
use kwatch::memory::MemoryListerWatcher;
use kwatch::object::Object;
use kwatch::store::Store;
use tokio_util::sync::CancellationToken;

pub fn cm(name: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some("ns".into());
    c.metadata.name = Some(name.into());
    c
}

pub fn pod(ns: &str, name: &str, node: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.namespace = Some(ns.into());
    p.metadata.name = Some(name.into());
    p.metadata.labels = Some([("app".to_owned(), name.trim_end_matches(char::is_numeric).to_owned())].into());
    p.spec = Some(PodSpec { node_name: Some(node.into()), ..PodSpec::default() });
    p
}

pub fn key(name: &str) -> ObjectKey {
    ObjectKey::namespaced("ns", name)
}

/// What a handler believes the cache holds, built only from its events. Every event is
/// checked against it: an `Added` for a known key, an `Updated` whose `old` is not what the
/// handler last saw, or a `Deleted`/`Resync` of an unknown key means a gap or a duplicate.
pub struct Model<K> {
    pub objects: BTreeMap<ObjectKey, Arc<K>>,
    pub synced: bool,
    /// Between `Lagged` and the `Synced` that ends its resync.
    pub resyncing: bool,
    pub lagged: u64,
    pub events: u64,
    pub tombstones: u64,
    pub errors: Vec<String>,
}

impl<K> Default for Model<K> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            synced: false,
            resyncing: false,
            lagged: 0,
            events: 0,
            tombstones: 0,
            errors: Vec::new(),
        }
    }
}

impl<K: Object> Model<K> {
    pub fn apply(&mut self, event: Event<K>) {
        self.events += 1;
        match event {
            Event::Added(o) => {
                if let Some(prev) = self.objects.insert(o.key(), o.clone()) {
                    self.errors.push(format!("duplicate Added for {} (had {:?})", o.key(), prev.resource_version()));
                }
            }
            Event::Updated { old, new } => match self.objects.get(&new.key()) {
                Some(cur) if Arc::ptr_eq(cur, &old) => {
                    self.objects.insert(new.key(), new);
                }
                Some(cur) => self.errors.push(format!(
                    "Updated {} from {:?}, but the handler last saw {:?}",
                    new.key(),
                    old.resource_version(),
                    cur.resource_version()
                )),
                None => self.errors.push(format!("Updated for unknown {}", new.key())),
            },
            Event::Deleted { obj, final_state_unknown } => {
                if final_state_unknown {
                    self.tombstones += 1;
                }
                if self.objects.remove(&obj.key()).is_none() {
                    self.errors.push(format!("Deleted for unknown {}", obj.key()));
                }
            }
            Event::Resync(o) => match self.objects.get(&o.key()) {
                Some(cur) if Arc::ptr_eq(cur, &o) => {}
                other => self.errors.push(format!(
                    "Resync of {} at {:?}, but the handler has {:?}",
                    o.key(),
                    o.resource_version(),
                    other.map(|c| c.resource_version().map(str::to_owned))
                )),
            },
            Event::Synced => {
                self.synced = true;
                self.resyncing = false;
            }
            Event::Lagged { .. } => {
                self.lagged += 1;
                self.resyncing = true;
            }
        }
    }

    /// `(key, resourceVersion)` pairs, sorted.
    pub fn state(&self) -> Vec<(ObjectKey, Option<String>)> {
        self.objects.iter().map(|(k, v)| (k.clone(), v.resource_version().map(str::to_owned))).collect()
    }
}

pub fn store_state<K: Object>(store: &Store<K>) -> Vec<(ObjectKey, Option<String>)> {
    let mut s: Vec<_> = store.list().iter().map(|o| (o.key(), o.resource_version().map(str::to_owned))).collect();
    s.sort();
    s
}

pub fn source_state<K: Object>(src: &MemoryListerWatcher<K>) -> Vec<(ObjectKey, Option<String>)> {
    src.objects().iter().map(|o| (o.key(), o.resource_version().map(str::to_owned))).collect()
}

/// A handler task applying its events to a model, optionally slowly.
pub fn consume<K: Object>(mut sub: Subscription<K>, delay: Option<Duration>) -> Arc<Mutex<Model<K>>> {
    let model = Arc::new(Mutex::new(Model::default()));
    let m = Arc::clone(&model);
    tokio::spawn(async move {
        while let Some(ev) = sub.recv().await {
            m.lock().unwrap().apply(ev);
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
        }
    });
    model
}

/// Runs an informer in the background; returns the token that stops it.
pub fn run<K: Object>(informer: &SharedInformer<K>) -> CancellationToken {
    let cancel = CancellationToken::new();
    let inf = informer.clone();
    let c = cancel.clone();
    tokio::spawn(async move { inf.run(c).await });
    cancel
}

/// Waits (in virtual time, up to an hour) until `done` holds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let wait = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(3600), wait).await.is_err() {
        panic!("timed out waiting for {what}");
    }
}

/// Waits until the store holds exactly what the source holds, at its revision.
pub async fn converge<K: Object>(store: &Store<K>, src: &MemoryListerWatcher<K>) {
    eventually("the store to catch up", || {
        let snap = store.snapshot();
        snap.is_synced() && snap.resource_version() == src.revision().to_string()
    })
    .await;
    assert_eq!(store_state(store), source_state(src));
}

/// Waits until a handler's model equals the store, and checks it saw no inconsistency.
pub async fn model_matches<K: Object>(model: &Arc<Mutex<Model<K>>>, store: &Store<K>) {
    eventually("the handler to catch up", || {
        let m = model.lock().unwrap();
        m.synced && !m.resyncing && m.state() == store_state(store)
    })
    .await;
    let m = model.lock().unwrap();
    assert!(m.errors.is_empty(), "handler saw inconsistencies: {:?}", m.errors);
    assert!(m.synced);
}
