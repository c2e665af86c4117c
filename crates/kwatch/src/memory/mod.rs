//! [`MemoryListerWatcher`]: an in-memory source with API-server semantics, for tests and
//! benchmarks of everything built on a [`ListerWatcher`].
//!
//! It keeps every object's versions (one global revision counter, like etcd), a history
//! of changes for watches, and lets a test compact that history (watches and lists from
//! before the compaction then fail with 410 Expired), drop or break every open watch, send
//! bookmarks, inject errors and turn streaming lists off.

mod watch;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kapi::fields::FieldSelector;
use kapi::labels::Selector;
use kapi::{ObjectKey, StatusError};

use crate::lister::{BoxFuture, ListParams, ListerWatcher, ObjectList, ResourceVersionMatch, WatchError, WatchParams};
use crate::lister::{CAUSE_RESOURCE_VERSION_TOO_LARGE, WatchStream};
use crate::object::{Object, ObjectError, check_keyable};

/// Errors of the in-memory source's write methods.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// `create` of a key that exists.
    #[error("object {0} already exists")]
    AlreadyExists(ObjectKey),
    /// `update` or `delete` of a key that does not exist.
    #[error("object {0} not found")]
    NotFound(ObjectKey),
    /// The object cannot be stored.
    #[error(transparent)]
    Object(#[from] ObjectError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Added,
    Modified,
    Deleted,
}

struct LogEntry<K> {
    rev: u64,
    kind: EventKind,
    obj: Arc<K>,
    /// The previous state (to translate selector transitions into Added/Deleted).
    prev: Option<Arc<K>>,
}

struct Version<K> {
    rev: u64,
    /// `None`: deleted at `rev`.
    obj: Option<Arc<K>>,
}

struct State<K> {
    rev: u64,
    /// Versions at or before this revision are gone (except each key's latest).
    compacted: u64,
    objects: BTreeMap<ObjectKey, Vec<Version<K>>>,
    log: VecDeque<LogEntry<K>>,
    live: usize,
    /// Bumped by `drop_watches`: open watches end.
    epoch: u64,
    epoch_error: Option<WatchError>,
    /// Bumped by `send_bookmark`.
    bookmarks: u64,
    streaming: bool,
    list_faults: VecDeque<WatchError>,
    watch_faults: VecDeque<WatchError>,
    lists: Vec<ListParams>,
    watches: Vec<WatchParams>,
}

impl<K> State<K> {
    fn current(&self, key: &ObjectKey) -> Option<&Arc<K>> {
        self.objects.get(key).and_then(|v| v.last()).and_then(|v| v.obj.as_ref())
    }
}

pub(crate) struct Shared<K> {
    state: Mutex<State<K>>,
    /// Ticks on every change a watch may care about.
    tick: tokio::sync::watch::Sender<u64>,
}

impl<K> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }
}

/// An in-memory API server for one kind. Clones share the same objects.
pub struct MemoryListerWatcher<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for MemoryListerWatcher<K> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<K: Object> Default for MemoryListerWatcher<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Selectors of a list or watch, parsed.
pub(crate) struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    fn parse(labels: Option<&str>, fields: Option<&str>) -> Result<Self, WatchError> {
        let labels = match labels.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                Some(s.parse::<Selector>().map_err(|e| WatchError::Api(StatusError::bad_request(e.to_string())))?)
            }
        };
        let fields = match fields.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let sel =
                    s.parse::<FieldSelector>().map_err(|e| WatchError::Api(StatusError::bad_request(e.to_string())))?;
                if let Some(t) =
                    sel.terms().iter().find(|t| !matches!(t.field(), "metadata.name" | "metadata.namespace"))
                {
                    let msg = format!("field label not supported: {}", t.field());
                    return Err(WatchError::Api(StatusError::bad_request(msg)));
                }
                Some(sel)
            }
        };
        Ok(Self { labels, fields })
    }

    pub(crate) fn matches<K: Object>(&self, obj: &K) -> bool {
        let labels_ok = match (&self.labels, obj.labels()) {
            (None, _) => true,
            (Some(sel), Some(labels)) => sel.matches(labels),
            (Some(sel), None) => sel.matches(&BTreeMap::<String, String>::new()),
        };
        let fields_ok = self.fields.as_ref().is_none_or(|sel| {
            sel.matches(&[("metadata.name", obj.name()), ("metadata.namespace", obj.namespace().unwrap_or(""))])
        });
        labels_ok && fields_ok
    }
}

fn parse_rv(rv: &str) -> Result<Option<u64>, WatchError> {
    if rv.is_empty() || rv == "0" {
        return Ok(None);
    }
    rv.parse::<u64>().map(Some).map_err(|_| {
        WatchError::Api(StatusError::bad_request(format!("invalid resource version {rv:?}: not a number")))
    })
}

fn too_large(requested: u64, current: u64) -> WatchError {
    let message = format!("Too large resource version: {requested}, current: {current}");
    WatchError::from_status(StatusError::timeout(&message, 1).with_causes(vec![kapi::status::Cause {
        kind: CAUSE_RESOURCE_VERSION_TOO_LARGE.into(),
        field: String::new(),
        message: "Too large resource version".into(),
    }]))
}

impl<K: Object> MemoryListerWatcher<K> {
    /// An empty source at revision 1 (nothing compacted).
    pub fn new() -> Self {
        let state = State {
            rev: 1,
            compacted: 0,
            objects: BTreeMap::new(),
            log: VecDeque::new(),
            live: 0,
            epoch: 0,
            epoch_error: None,
            bookmarks: 0,
            streaming: true,
            list_faults: VecDeque::new(),
            watch_faults: VecDeque::new(),
            lists: Vec::new(),
            watches: Vec::new(),
        };
        Self { shared: Arc::new(Shared { state: Mutex::new(state), tick: tokio::sync::watch::Sender::new(0) }) }
    }

    fn write(&self, key: ObjectKey, kind: EventKind, obj: Option<K>) -> Result<K, MemoryError> {
        let mut st = self.shared.lock();
        let prev = st.current(&key).cloned();
        match (kind, &prev) {
            (EventKind::Added, Some(_)) => return Err(MemoryError::AlreadyExists(key)),
            (EventKind::Modified | EventKind::Deleted, None) => return Err(MemoryError::NotFound(key)),
            _ => {}
        }
        let Some(mut obj) = obj.or_else(|| prev.as_deref().cloned()) else { return Err(MemoryError::NotFound(key)) };
        st.rev += 1;
        let rev = st.rev;
        obj.metadata_mut().resource_version = Some(rev.to_string());
        let stored = Arc::new(obj.clone());
        let version = Version { rev, obj: (kind != EventKind::Deleted).then(|| Arc::clone(&stored)) };
        st.objects.entry(key).or_default().push(version);
        match kind {
            EventKind::Added => st.live += 1,
            EventKind::Deleted => st.live -= 1,
            EventKind::Modified => {}
        }
        st.log.push_back(LogEntry { rev, kind, obj: stored, prev });
        drop(st);
        self.shared.notify();
        Ok(obj)
    }

    /// Creates an object; returns it with its new `resourceVersion`.
    pub fn create(&self, obj: K) -> Result<K, MemoryError> {
        check_keyable(&obj)?;
        self.write(obj.key(), EventKind::Added, Some(obj))
    }

    /// Replaces an existing object; returns it with its new `resourceVersion`.
    pub fn update(&self, obj: K) -> Result<K, MemoryError> {
        check_keyable(&obj)?;
        self.write(obj.key(), EventKind::Modified, Some(obj))
    }

    /// Creates or replaces.
    pub fn apply(&self, obj: K) -> Result<K, MemoryError> {
        check_keyable(&obj)?;
        let exists = self.shared.lock().current(&obj.key()).is_some();
        if exists { self.update(obj) } else { self.create(obj) }
    }

    /// Deletes; returns the last state, carrying the deletion's `resourceVersion`.
    pub fn delete(&self, key: &ObjectKey) -> Result<K, MemoryError> {
        self.write(key.clone(), EventKind::Deleted, None)
    }

    /// The current object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<K> {
        self.shared.lock().current(key).map(|o| K::clone(o))
    }

    /// The current objects, sorted by key.
    pub fn objects(&self) -> Vec<K> {
        let st = self.shared.lock();
        st.objects.values().filter_map(|v| v.last().and_then(|v| v.obj.as_deref()).cloned()).collect()
    }

    /// Number of current objects.
    pub fn len(&self) -> usize {
        self.shared.lock().live
    }

    /// True when there are no objects.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current revision.
    pub fn revision(&self) -> u64 {
        self.shared.lock().rev
    }

    /// Forgets all history up to the current revision: older lists, continue tokens and
    /// watches fail with 410 Expired from now on.
    pub fn compact(&self) {
        let mut st = self.shared.lock();
        let rev = st.rev;
        st.compacted = rev;
        st.log.clear();
        st.objects.retain(|_, versions| {
            let keep_from = versions.iter().rposition(|v| v.rev <= rev).unwrap_or(0);
            versions.drain(..keep_from);
            versions.retain(|v| v.rev > rev || v.obj.is_some());
            !versions.is_empty()
        });
        drop(st);
        self.shared.notify();
    }

    /// Ends every open watch, as a connection loss would; `error`, when given, is the last
    /// item each stream yields.
    pub fn drop_watches(&self, error: Option<WatchError>) {
        let mut st = self.shared.lock();
        st.epoch += 1;
        st.epoch_error = error;
        drop(st);
        self.shared.notify();
    }

    /// Sends a bookmark on every open watch that asked for them, once it has caught up.
    pub fn send_bookmark(&self) {
        self.shared.lock().bookmarks += 1;
        self.shared.notify();
    }

    /// Whether watches accept `sendInitialEvents` (on by default). Off, they answer
    /// 422 Invalid, as a server without the WatchList feature does.
    pub fn set_streaming_list(&self, enabled: bool) {
        self.shared.lock().streaming = enabled;
    }

    /// The next list call fails with `error`.
    pub fn fail_next_list(&self, error: WatchError) {
        self.shared.lock().list_faults.push_back(error);
    }

    /// The next watch call fails with `error`.
    pub fn fail_next_watch(&self, error: WatchError) {
        self.shared.lock().watch_faults.push_back(error);
    }

    /// The parameters of every list call so far.
    pub fn list_calls(&self) -> Vec<ListParams> {
        self.shared.lock().lists.clone()
    }

    /// The parameters of every watch call so far.
    pub fn watch_calls(&self) -> Vec<WatchParams> {
        self.shared.lock().watches.clone()
    }

    fn list_sync(&self, params: &ListParams) -> Result<ObjectList<K>, WatchError> {
        let mut st = self.shared.lock();
        st.lists.push(params.clone());
        if let Some(e) = st.list_faults.pop_front() {
            return Err(e);
        }
        let filter = Filter::parse(params.label_selector.as_deref(), params.field_selector.as_deref())?;
        let (at, start) = match params.continue_token.as_deref().filter(|c| !c.is_empty()) {
            Some(token) => {
                let bad = || WatchError::Api(StatusError::bad_request(format!("invalid continue token {token:?}")));
                let (rev, key) = token.split_once(':').ok_or_else(bad)?;
                let rev = rev.parse::<u64>().map_err(|_| bad())?;
                let key: ObjectKey = key.parse().map_err(|_| bad())?;
                if rev < st.compacted {
                    return Err(WatchError::from_status(StatusError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You \
                         can start a new list without the continue parameter.",
                    )));
                }
                (rev, Bound::Excluded(key))
            }
            None => {
                let at = match parse_rv(&params.resource_version)? {
                    None => st.rev,
                    Some(n) if n > st.rev => return Err(too_large(n, st.rev)),
                    Some(n) if params.resource_version_match == Some(ResourceVersionMatch::Exact) => {
                        if n < st.compacted {
                            let msg = format!("too old resource version: {n} ({})", st.compacted);
                            return Err(WatchError::from_status(StatusError::expired(msg)));
                        }
                        n
                    }
                    Some(_) => st.rev,
                };
                (at, Bound::Unbounded)
            }
        };
        let limit = params.limit.filter(|l| *l > 0).map_or(usize::MAX, |l| l as usize);
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut last_key: Option<&ObjectKey> = None;
        for (key, versions) in st.objects.range((start, Bound::Unbounded)) {
            let Some(obj) = versions.iter().rev().find(|v| v.rev <= at).and_then(|v| v.obj.as_ref()) else { continue };
            if !filter.matches(&**obj) {
                continue;
            }
            if items.len() == limit {
                continue_token = last_key.map(|k| format!("{at}:{k}"));
                break;
            }
            items.push(K::clone(obj));
            last_key = Some(key);
        }
        Ok(ObjectList { items, resource_version: at.to_string(), continue_token, remaining_item_count: None })
    }
}

impl<K: Object> ListerWatcher<K> for MemoryListerWatcher<K> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>> {
        Box::pin(async move { self.list_sync(params) })
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>> {
        Box::pin(async move { watch::start(&self.shared, params) })
    }
}

#[cfg(test)]
mod tests;
