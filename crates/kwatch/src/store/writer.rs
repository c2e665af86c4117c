//! The single writer of a store: applies list and watch results and reports what changed.

use std::collections::HashSet;
use std::sync::Arc;

use arc_swap::ArcSwap;
use kapi::ObjectKey;
use tokio::sync::watch;

use super::{Index, IndexDef, Indexers, Key, KeySet, Shared, Snapshot, State, Store, SyncState};
use crate::object::Object;
use crate::pmap::PMap;

/// One thing a reflector observed, to apply to the cache.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp<K> {
    /// A full list (paginated or streamed) begins, or begins again after a failure.
    RelistStart,
    /// An object of the list in progress.
    RelistItem(K),
    /// The list is complete: keys that were not listed are deleted with tombstones.
    RelistEnd {
        /// The version the list was read at.
        resource_version: String,
    },
    /// A watch `Added` event.
    Added(K),
    /// A watch `Modified` event.
    Modified(K),
    /// A watch `Deleted` event carrying the object's last state.
    Deleted(K),
    /// A watch bookmark: progress without a change.
    Bookmark {
        /// The version reached.
        resource_version: String,
    },
}

/// What applying an operation did to the cache.
#[derive(Debug, PartialEq)]
pub enum Change<K> {
    /// A new key.
    Added(Arc<K>),
    /// A key's object was replaced.
    Updated {
        /// The object before.
        old: Arc<K>,
        /// The object now.
        new: Arc<K>,
    },
    /// A key was removed.
    Deleted {
        /// The last state known: the watch event's object, or for a tombstone the cached one.
        obj: Arc<K>,
        /// The deletion was inferred by a relist (the watch missed it), so `obj` may be stale.
        final_state_unknown: bool,
    },
    /// The first complete list has been applied.
    Synced,
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Added(o) => Change::Added(Arc::clone(o)),
            Change::Updated { old, new } => Change::Updated { old: Arc::clone(old), new: Arc::clone(new) },
            Change::Deleted { obj, final_state_unknown } => {
                Change::Deleted { obj: Arc::clone(obj), final_state_unknown: *final_state_unknown }
            }
            Change::Synced => Change::Synced,
        }
    }
}

/// The single writer of a store.
///
/// Every method publishes the resulting version before it returns, so readers see each
/// change as soon as it is applied. Dropping the writer before the first complete list
/// makes [`Store::wait_until_synced`] fail.
pub struct StoreWriter<K> {
    working: State<K>,
    /// The version readers currently see.
    published: Arc<State<K>>,
    shared: Arc<Shared<K>>,
    /// Keys listed so far by the relist in progress.
    seen: Option<HashSet<Key>>,
}

impl<K> Drop for StoreWriter<K> {
    fn drop(&mut self) {
        self.shared.sync.send_if_modified(|s| {
            let pending = *s == SyncState::Pending;
            if pending {
                *s = SyncState::Closed;
            }
            pending
        });
    }
}

fn namespace_value<K: Object>(obj: &K) -> String {
    obj.namespace().unwrap_or("").to_owned()
}

impl<K: Object> StoreWriter<K> {
    /// An empty, unsynced store with these indexes.
    pub fn new(indexers: Indexers<K>) -> Self {
        let defs: Arc<[IndexDef<K>]> = indexers.defs.into();
        let state = State {
            objects: PMap::default(),
            indexes: Arc::new(defs.iter().map(|_| Index::default()).collect()),
            defs,
            resource_version: Arc::from(""),
            synced: false,
        };
        let published = Arc::new(state.clone());
        let shared = Arc::new(Shared {
            current: ArcSwap::new(Arc::clone(&published)),
            sync: watch::Sender::new(SyncState::Pending),
        });
        Self { working: state, published, shared, seen: None }
    }

    /// A read handle.
    pub fn store(&self) -> Store<K> {
        Store { shared: Arc::clone(&self.shared) }
    }

    /// The version readers currently see.
    pub fn snapshot(&self) -> Snapshot<K> {
        Snapshot { state: Arc::clone(&self.published) }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.working.objects.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.working.objects.is_empty()
    }

    /// Applies an operation.
    pub fn apply(&mut self, op: StoreOp<K>) {
        self.apply_with(op, &mut |_, _| {});
    }

    /// Applies an operation and reports each change, in order, together with the version
    /// readers saw just before it. The new version is already published when the observer
    /// runs.
    pub fn apply_with(&mut self, op: StoreOp<K>, observer: &mut dyn FnMut(Change<K>, &Snapshot<K>)) {
        match op {
            StoreOp::RelistStart => {
                // Restarting forgets what an abandoned attempt listed: that list may have been
                // read at another version.
                self.seen = Some(HashSet::new());
            }
            StoreOp::RelistItem(obj) => self.relist_item(obj, observer),
            StoreOp::RelistEnd { resource_version } => self.relist_end(resource_version, observer),
            StoreOp::Added(obj) | StoreOp::Modified(obj) => {
                self.set_resource_version(obj.resource_version());
                let (key, change) = self.upsert(Arc::new(obj));
                if let Some(seen) = &mut self.seen {
                    seen.insert(key);
                }
                self.publish_change(change, observer);
            }
            StoreOp::Deleted(obj) => {
                self.set_resource_version(obj.resource_version());
                let key = obj.key();
                if let Some(seen) = &mut self.seen {
                    seen.remove(&key);
                }
                if self.remove(&key).is_some() {
                    let change = Change::Deleted { obj: Arc::new(obj), final_state_unknown: false };
                    self.publish_change(change, observer);
                } else {
                    self.publish();
                }
            }
            StoreOp::Bookmark { resource_version } => {
                self.set_resource_version(Some(&resource_version));
                self.publish();
            }
        }
    }

    fn relist_item(&mut self, obj: K, observer: &mut dyn FnMut(Change<K>, &Snapshot<K>)) {
        if let Some((key, cached)) = self.working.objects.get_key_value(&obj.key()) {
            // Same version: keep the cached object (and its memory), report nothing.
            if cached.resource_version().is_some() && cached.resource_version() == obj.resource_version() {
                let key = Arc::clone(key);
                if let Some(seen) = &mut self.seen {
                    seen.insert(key);
                }
                return;
            }
        }
        let (key, change) = self.upsert(Arc::new(obj));
        if let Some(seen) = &mut self.seen {
            seen.insert(key);
        }
        self.publish_change(change, observer);
    }

    fn relist_end(&mut self, resource_version: String, observer: &mut dyn FnMut(Change<K>, &Snapshot<K>)) {
        let seen = self.seen.take().unwrap_or_default();
        let stale: Vec<Key> =
            self.working.objects.iter().filter(|(k, _)| !seen.contains(*k)).map(|(k, _)| Arc::clone(k)).collect();
        drop(seen);
        for key in stale {
            if let Some(obj) = self.remove(&key) {
                self.publish_change(Change::Deleted { obj, final_state_unknown: true }, observer);
            }
        }
        self.working.resource_version = Arc::from(resource_version);
        let first = !self.working.synced;
        self.working.synced = true;
        self.publish();
        if first {
            self.shared.sync.send_replace(SyncState::Synced);
            let before = self.snapshot();
            observer(Change::Synced, &before);
        }
    }

    fn set_resource_version(&mut self, rv: Option<&str>) {
        if let Some(rv) = rv.filter(|rv| !rv.is_empty()) {
            if *self.working.resource_version != *rv {
                self.working.resource_version = Arc::from(rv);
            }
        }
    }

    fn publish(&mut self) {
        let next = Arc::new(self.working.clone());
        self.shared.current.store(Arc::clone(&next));
        self.published = next;
    }

    fn publish_change(&mut self, change: Change<K>, observer: &mut dyn FnMut(Change<K>, &Snapshot<K>)) {
        let before = self.snapshot();
        self.publish();
        observer(change, &before);
    }

    /// Inserts or replaces; returns the shared key and the change.
    fn upsert(&mut self, obj: Arc<K>) -> (Key, Change<K>) {
        let key = obj.key();
        let (key, old) = match self.working.objects.get_key_value(&key) {
            Some((k, v)) => (Arc::clone(k), Some(Arc::clone(v))),
            None => (Arc::new(key), None),
        };
        self.working.objects.insert(Arc::clone(&key), Arc::clone(&obj));
        self.reindex(&key, old.as_deref(), Some(&obj));
        let change = match old {
            Some(old) => Change::Updated { old, new: obj },
            None => Change::Added(obj),
        };
        (key, change)
    }

    fn remove(&mut self, key: &ObjectKey) -> Option<Arc<K>> {
        let (key, old) = self.working.objects.get_key_value(key).map(|(k, v)| (Arc::clone(k), Arc::clone(v)))?;
        self.working.objects.remove(&*key);
        self.reindex(&key, Some(&old), None);
        Some(old)
    }

    fn reindex(&mut self, key: &Key, old: Option<&K>, new: Option<&K>) {
        let defs = Arc::clone(&self.working.defs);
        for (i, def) in defs.iter().enumerate() {
            let (old_values, new_values) = match &def.func {
                // The namespace is part of the key: it only changes when the key comes or goes.
                None if old.is_some() && new.is_some() => continue,
                None => {
                    (old.map(namespace_value).into_iter().collect(), new.map(namespace_value).into_iter().collect())
                }
                Some(f) => (old.map(|o| f(o)).unwrap_or_default(), new.map(|n| f(n)).unwrap_or_default()),
            };
            if old_values == new_values {
                continue;
            }
            let Some(index) = Arc::make_mut(&mut self.working.indexes).get_mut(i) else { continue };
            for value in old_values.iter().filter(|v| !new_values.contains(v)) {
                let Some(mut set) = index.get(value.as_str()).cloned() else { continue };
                set.remove(&**key);
                if set.is_empty() {
                    index.remove(value.as_str());
                } else {
                    index.insert(value.clone(), set);
                }
            }
            for value in new_values.iter().filter(|v| !old_values.contains(v)) {
                let mut set: KeySet = index.get(value.as_str()).cloned().unwrap_or_default();
                set.insert(Arc::clone(key), ());
                index.insert(value.clone(), set);
            }
        }
    }
}
