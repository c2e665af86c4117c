//! The cache: objects keyed by `namespace/name`, secondary indexes, and snapshot reads that
//! never block the writer.
//!
//! One [`StoreWriter`] applies what a reflector observes; any number of [`Store`] handles
//! read. Every write publishes a new immutable [`Snapshot`]: objects are shared as `Arc<K>`
//! and the maps are persistent (hash array mapped tries), so a snapshot costs a few pointer
//! copies and a write copies only the O(log n) nodes on its path. Readers load the current
//! snapshot without a lock and keep it as long as they like.
//!
//! Indexes follow client-go's `Indexers`: an index function maps an object to any number of
//! values; [`Store::by_index`] finds the objects with a value and [`Store::index_keys`] their
//! keys. The [`NAMESPACE_INDEX`] is always present.
//!
//! A relist is applied as a diff, never as a second copy of the store: each listed object
//! replaces the cached one (or is kept, when its `resourceVersion` is unchanged), and when the
//! list ends every key that was not listed is deleted with a tombstone
//! ([`Change::Deleted`] with `final_state_unknown`), client-go's `DeletedFinalStateUnknown`.

mod writer;

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use kapi::ObjectKey;
use tokio::sync::watch;

use crate::object::Object;
use crate::pmap::PMap;

pub use writer::{Change, StoreOp, StoreWriter};

/// Name of the built-in index from namespace to objects (client-go's `NamespaceIndex`).
/// Cluster-scoped objects are indexed under the empty string.
pub const NAMESPACE_INDEX: &str = "namespace";

/// Errors of the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No index has this name.
    #[error("index with name {0:?} does not exist")]
    UnknownIndex(String),
    /// Two indexes were given the same name.
    #[error("indexer conflict: an index named {0:?} already exists")]
    IndexConflict(String),
    /// The writer went away before the first list was applied.
    #[error("the store's writer was dropped before the store synced")]
    Closed,
}

/// An index function: the values under which an object is indexed.
pub type IndexFn<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

pub(crate) struct IndexDef<K> {
    name: String,
    /// `None` for the namespace index, whose value never changes for a key.
    func: Option<IndexFn<K>>,
}

/// The indexes of a store: the namespace index plus named index functions.
pub struct Indexers<K> {
    defs: Vec<IndexDef<K>>,
}

impl<K> Default for Indexers<K> {
    fn default() -> Self {
        Self { defs: vec![IndexDef { name: NAMESPACE_INDEX.to_owned(), func: None }] }
    }
}

impl<K> Indexers<K> {
    /// The namespace index only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an index; fails when the name is taken (including [`NAMESPACE_INDEX`]).
    pub fn with(
        mut self,
        name: impl Into<String>,
        func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<Self, StoreError> {
        let name = name.into();
        if self.defs.iter().any(|d| d.name == name) {
            return Err(StoreError::IndexConflict(name));
        }
        self.defs.push(IndexDef { name, func: Some(Arc::new(func)) });
        Ok(self)
    }

    /// The index names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| d.name.as_str())
    }
}

impl<K> fmt::Debug for Indexers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

pub(crate) type Key = Arc<ObjectKey>;
type KeySet = PMap<Key, ()>;
type Index = PMap<String, KeySet>;

/// One immutable version of the cache.
pub(crate) struct State<K> {
    objects: PMap<Key, Arc<K>>,
    /// Parallel to `defs`. Shared between versions until an index changes.
    indexes: Arc<Vec<Index>>,
    defs: Arc<[IndexDef<K>]>,
    resource_version: Arc<str>,
    synced: bool,
}

impl<K> Clone for State<K> {
    fn clone(&self) -> Self {
        Self {
            objects: self.objects.clone(),
            indexes: Arc::clone(&self.indexes),
            defs: Arc::clone(&self.defs),
            resource_version: Arc::clone(&self.resource_version),
            synced: self.synced,
        }
    }
}

/// A consistent, immutable view of the cache at one moment.
///
/// Cheap to clone; holding one keeps the objects it contains alive, even those the store
/// has since replaced or deleted.
pub struct Snapshot<K> {
    state: Arc<State<K>>,
}

impl<K> Clone for Snapshot<K> {
    fn clone(&self) -> Self {
        Self { state: Arc::clone(&self.state) }
    }
}

impl<K> fmt::Debug for Snapshot<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("len", &self.state.objects.len())
            .field("resource_version", &&*self.state.resource_version)
            .field("synced", &self.state.synced)
            .finish()
    }
}

impl<K: Object> Snapshot<K> {
    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.state.objects.get(key).cloned()
    }

    /// Whether an object has this key.
    pub fn contains(&self, key: &ObjectKey) -> bool {
        self.state.objects.contains_key(key)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.state.objects.len()
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.state.objects.is_empty()
    }

    /// The objects, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<K>> + '_ {
        self.state.objects.iter().map(|(_, v)| v)
    }

    /// The objects, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.iter().cloned().collect()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = self.state.objects.iter().map(|(k, _)| ObjectKey::clone(k)).collect();
        keys.sort();
        keys
    }

    fn index(&self, name: &str) -> Result<&Index, StoreError> {
        let pos = self
            .state
            .defs
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| StoreError::UnknownIndex(name.to_owned()))?;
        self.state.indexes.get(pos).ok_or_else(|| StoreError::UnknownIndex(name.to_owned()))
    }

    /// The objects indexed under `value` in index `name` (client-go's `ByIndex`).
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<Arc<K>>, StoreError> {
        let Some(set) = self.index(name)?.get(value) else { return Ok(Vec::new()) };
        Ok(set.iter().filter_map(|(k, _)| self.state.objects.get(k).cloned()).collect())
    }

    /// The sorted keys of the objects indexed under `value` (client-go's `IndexKeys`).
    pub fn index_keys(&self, name: &str, value: &str) -> Result<Vec<ObjectKey>, StoreError> {
        let Some(set) = self.index(name)?.get(value) else { return Ok(Vec::new()) };
        let mut keys: Vec<ObjectKey> = set.iter().map(|(k, _)| ObjectKey::clone(k)).collect();
        keys.sort();
        Ok(keys)
    }

    /// The sorted values present in index `name` (client-go's `ListIndexFuncValues`).
    pub fn index_values(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let mut values: Vec<String> = self.index(name)?.iter().map(|(v, _)| v.clone()).collect();
        values.sort();
        Ok(values)
    }

    /// The objects of one namespace (`""` for cluster-scoped objects).
    pub fn namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.by_index(NAMESPACE_INDEX, namespace).unwrap_or_default()
    }

    /// The resource version of the last list, watch event or bookmark applied.
    pub fn resource_version(&self) -> &str {
        &self.state.resource_version
    }

    /// Whether a complete list has been applied.
    pub fn is_synced(&self) -> bool {
        self.state.synced
    }

    /// Whether two snapshots hold the same objects map version.
    pub(crate) fn same_objects(&self, other: &Self) -> bool {
        self.state.objects.ptr_eq(&other.state.objects)
    }

    /// The objects map, for owning iteration.
    pub(crate) fn objects(&self) -> PMap<Key, Arc<K>> {
        self.state.objects.clone()
    }

    /// The object with this key, looked up by the shared key.
    pub(crate) fn get_arc(&self, key: &Key) -> Option<&Arc<K>> {
        self.state.objects.get(key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    Pending,
    Synced,
    Closed,
}

struct Shared<K> {
    current: ArcSwap<State<K>>,
    sync: watch::Sender<SyncState>,
}

/// A read handle on the cache. Clones share the same cache.
pub struct Store<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<K> fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.current.load();
        f.debug_struct("Store").field("len", &state.objects.len()).field("synced", &state.synced).finish()
    }
}

impl<K: Object> Store<K> {
    /// The current version of the cache. Lock-free; never waits for the writer.
    pub fn snapshot(&self) -> Snapshot<K> {
        Snapshot { state: self.shared.current.load_full() }
    }

    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.shared.current.load().objects.get(key).cloned()
    }

    /// All objects, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.snapshot().list()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.shared.current.load().objects.len()
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See [`Snapshot::by_index`].
    pub fn by_index(&self, name: &str, value: &str) -> Result<Vec<Arc<K>>, StoreError> {
        self.snapshot().by_index(name, value)
    }

    /// See [`Snapshot::index_keys`].
    pub fn index_keys(&self, name: &str, value: &str) -> Result<Vec<ObjectKey>, StoreError> {
        self.snapshot().index_keys(name, value)
    }

    /// See [`Snapshot::index_values`].
    pub fn index_values(&self, name: &str) -> Result<Vec<String>, StoreError> {
        self.snapshot().index_values(name)
    }

    /// The objects of one namespace.
    pub fn namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.snapshot().namespace(namespace)
    }

    /// Whether a complete list has been applied.
    pub fn is_synced(&self) -> bool {
        *self.shared.sync.borrow() == SyncState::Synced
    }

    /// Waits until a complete list has been applied (client-go's `WaitForCacheSync`).
    ///
    /// Fails with [`StoreError::Closed`] when the writer is dropped before that.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future has no effect on the store.
    pub async fn wait_until_synced(&self) -> Result<(), StoreError> {
        let mut rx = self.shared.sync.subscribe();
        let state = rx.wait_for(|s| *s != SyncState::Pending).await.map(|s| *s).unwrap_or(SyncState::Closed);
        match state {
            SyncState::Synced => Ok(()),
            SyncState::Pending | SyncState::Closed => Err(StoreError::Closed),
        }
    }
}

#[cfg(test)]
mod tests;
