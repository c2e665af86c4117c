//! The watch cache: one store watch per resource feeds an in-memory copy of the
//! resource and a window of recent events, from which any number of API watches and
//! `resourceVersion=0` lists are served. Thousands of watchers cost one store watch, and
//! each event is serialised once for all of them.
//!
//! A watcher that falls behind the broadcast buffer is ended; the client re-watches from
//! its last resourceVersion (served from the window) or relists on 410, as client-go does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use kapi::StatusError;
use kapi::fields::{KindFields, kind_fields};
use kstore::backend::{BackendEvent, ListOptions, WatchOptions};
use serde_json::Value;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::filter::Filter;
use crate::meta;
use crate::resources::ResourceInfo;
use crate::storage::{self, Storage};

/// An object as the cache holds it: parsed, serialised once, with its selectable data.
#[derive(Debug)]
pub struct Cached {
    /// Store key.
    pub key: Bytes,
    /// The object, resourceVersion set.
    pub value: Value,
    /// `value` serialised.
    pub json: Bytes,
    /// Labels, for selectors.
    pub labels: BTreeMap<String, String>,
    /// Selectable fields of the kind.
    pub fields: BTreeMap<&'static str, String>,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Mod revision.
    pub revision: i64,
}

impl Cached {
    fn new(key: Bytes, value: Value, revision: i64, kf: &KindFields) -> Result<Self, StatusError> {
        let json = Bytes::from(serde_json::to_vec(&value).map_err(StatusError::internal)?);
        Ok(Self {
            key,
            labels: meta::labels(&value),
            fields: kf.extract(&value),
            namespace: meta::namespace(&value).to_owned(),
            value,
            json,
            revision,
        })
    }

    fn passes(&self, f: &Filter) -> bool {
        f.matches(&self.namespace, &self.labels, &self.fields)
    }
}

/// Kind of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created (or entered a filter).
    Added,
    /// Changed.
    Modified,
    /// Deleted (or left a filter).
    Deleted,
}

impl EventType {
    /// The watch event type string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change at one revision.
#[derive(Debug, Clone)]
pub struct CacheEvent {
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletes: the last state, resourceVersion = the
    /// delete's revision).
    pub object: Arc<Cached>,
    /// The object before the change.
    pub prev: Option<Arc<Cached>>,
    /// Revision of the change.
    pub revision: i64,
}

impl CacheEvent {
    /// The event as a filtered watcher should see it, if at all: an object that starts
    /// matching is ADDED, one that stops matching is DELETED.
    pub fn filtered(&self, f: &Filter) -> Option<CacheEvent> {
        let now = self.object.passes(f);
        let before = self.prev.as_ref().is_some_and(|p| p.passes(f));
        let kind = match (self.kind, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Deleted, true, _) | (EventType::Deleted, _, true) => EventType::Deleted,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            _ => return None,
        };
        Some(CacheEvent { kind, ..self.clone() })
    }
}

/// What a watcher receives from the broadcast.
#[derive(Debug, Clone)]
pub enum Feed {
    /// A change.
    Event(Arc<CacheEvent>),
    /// The cache restarted (store watch lost or compacted past): watchers must end.
    Reset,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<Bytes, Arc<Cached>>,
    events: VecDeque<Arc<CacheEvent>>,
    /// Events after this revision are all in `events`.
    window_start: i64,
    /// The cache reflects the store at this revision.
    revision: i64,
    ready: bool,
}

/// A resource's cache. Created by [`WatchCache::start`]; lives until cancelled.
#[derive(Debug)]
pub struct WatchCache {
    res: ResourceInfo,
    state: RwLock<State>,
    tx: broadcast::Sender<Feed>,
    revision: watch::Sender<i64>,
    capacity: usize,
}

/// A new watch: the events to send first, then the live feed.
#[derive(Debug)]
pub struct Subscription {
    /// Events before the live feed (synthetic ADDED or replayed history), already filtered.
    pub initial: Vec<CacheEvent>,
    /// The cache revision the initial events reflect.
    pub revision: i64,
    /// Live changes after `revision`.
    pub live: LiveFeed,
}

/// A watcher's live feed: each change after its subscription once, in order, and the
/// revisions it may announce in bookmarks.
#[derive(Debug)]
pub struct LiveFeed {
    rx: broadcast::Receiver<Feed>,
    /// The watcher has been given (or has skipped as filtered out) every change up to here.
    last: i64,
    /// The newest revision the client was told of, by an event or a bookmark.
    announced: i64,
}

/// What [`LiveFeed::settle`] found.
#[derive(Debug)]
pub struct Settled {
    /// Changes passing the filter that were still queued: to send before the bookmark.
    pub events: Vec<CacheEvent>,
    /// The revision to announce in a bookmark, when it moved past the last event or
    /// bookmark the client got.
    pub bookmark: Option<i64>,
}

impl LiveFeed {
    fn take(&mut self, ev: &CacheEvent, f: &Filter) -> Option<CacheEvent> {
        if ev.revision <= self.last {
            return None;
        }
        self.last = ev.revision;
        let out = ev.filtered(f)?;
        self.announced = ev.revision;
        Some(out)
    }

    /// The next change passing `f`; `None` when the watch must end (the watcher fell behind
    /// the broadcast buffer or the cache restarted): the client resumes from its last
    /// resourceVersion or relists.
    ///
    /// # Cancel safety
    /// Cancel safe: a change is consumed only when it is returned or filtered out.
    pub async fn next(&mut self, f: &Filter) -> Option<CacheEvent> {
        loop {
            match self.rx.recv().await {
                Ok(Feed::Event(ev)) => {
                    if let Some(e) = self.take(&ev, f) {
                        return Some(e);
                    }
                }
                Ok(Feed::Reset) | Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => {
                    return None;
                }
            }
        }
    }

    /// Prepares a bookmark at `cache`'s revision: takes the changes still queued for this
    /// watcher, which must be sent first. `None` when the watch must end.
    ///
    /// # Correctness
    /// A bookmark promises the client every change up to its revision. The cache publishes
    /// a change before its revision moves past it, so once the revision is read here every
    /// change up to it is queued; draining the queue (rather than announcing the revision
    /// right away) keeps a bookmark from overtaking a change still in the queue, which the
    /// watcher would then skip as already seen.
    pub fn settle(&mut self, cache: &WatchCache, f: &Filter) -> Option<Settled> {
        let revision = cache.revision();
        let mut events = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(Feed::Event(ev)) => events.extend(self.take(&ev, f)),
                Err(TryRecvError::Empty) => break,
                Ok(Feed::Reset) | Err(TryRecvError::Lagged(_) | TryRecvError::Closed) => return None,
            }
        }
        self.last = self.last.max(revision);
        let bookmark = (self.last > self.announced).then_some(self.last);
        self.announced = self.last;
        Some(Settled { events, bookmark })
    }
}

impl WatchCache {
    /// Starts caching `res`: lists it, then follows a store watch until `cancel`.
    /// `capacity` bounds both the event window and each watcher's backlog.
    pub fn start(res: ResourceInfo, storage: Storage, capacity: usize, cancel: CancellationToken) -> Arc<Self> {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let (revision, _) = watch::channel(0);
        let cache =
            Arc::new(Self { res, state: RwLock::new(State::default()), tx, revision, capacity: capacity.max(16) });
        let run = Arc::clone(&cache);
        tokio::spawn(async move { run.run(storage, cancel).await });
        cache
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The revision the cache has caught up to.
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// Waits until the cache reflects at least `rev`, up to `timeout`.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is consumed.
    pub async fn wait_for(&self, rev: i64, timeout: Duration) -> Result<(), StatusError> {
        let mut rx = self.revision.subscribe();
        let wait = rx.wait_for(|r| *r >= rev && self.read().ready);
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(_)) => Ok(()),
            _ => {
                Err(StatusError::timeout(format!("Too large resource version: {rev}, current: {}", self.revision()), 1))
            }
        }
    }

    /// The cached object at `key`, if the cache is ready and has it.
    pub fn get(&self, key: &Bytes) -> Option<Arc<Cached>> {
        let st = self.read();
        if !st.ready {
            return None;
        }
        st.objects.get(key).cloned()
    }

    /// All objects passing `f` after `start` (exclusive), in key order, at most `limit`
    /// (0 = all). Returns the items, the cache revision and whether more remain.
    pub fn list(&self, f: &Filter, start: Option<&Bytes>, limit: usize) -> (Vec<Arc<Cached>>, i64, bool) {
        let st = self.read();
        let iter: Box<dyn Iterator<Item = &Arc<Cached>>> = match start {
            Some(k) => Box::new(
                st.objects
                    .range::<Bytes, _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded))
                    .map(|(_, v)| v),
            ),
            None => Box::new(st.objects.values()),
        };
        let mut out = Vec::new();
        let mut more = false;
        for c in iter.filter(|c| c.passes(f)) {
            if limit > 0 && out.len() == limit {
                more = true;
                break;
            }
            out.push(Arc::clone(c));
        }
        (out, st.revision, more)
    }

    /// Subscribes a watcher. `from = None` starts with the current state as ADDED events;
    /// `Some(rv)` replays what changed after `rv` (410 Expired when `rv` is older than the
    /// window).
    pub fn subscribe(&self, from: Option<i64>, f: &Filter) -> Result<Subscription, StatusError> {
        let st = self.read();
        if !st.ready {
            return Err(StatusError::too_many_requests("the watch cache is initializing; retry", 1));
        }
        // Subscribing under the lock: the feed holds exactly the changes after `st.revision`.
        let live = self.tx.subscribe();
        let initial = match from {
            None => st
                .objects
                .values()
                .filter(|c| c.passes(f))
                .map(|c| CacheEvent { kind: EventType::Added, object: Arc::clone(c), prev: None, revision: c.revision })
                .collect(),
            Some(rv) if rv < st.window_start => {
                return Err(StatusError::expired(format!("too old resource version: {rv} ({})", st.window_start + 1)));
            }
            Some(rv) => st.events.iter().filter(|e| e.revision > rv).filter_map(|e| e.filtered(f)).collect(),
        };
        Ok(Subscription {
            initial,
            revision: st.revision,
            live: LiveFeed { rx: live, last: st.revision, announced: st.revision },
        })
    }

    async fn run(self: Arc<Self>, storage: Storage, cancel: CancellationToken) {
        let kf = kind_fields(&self.res.group, &self.res.kind);
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            match self.sync(&storage, &kf, &cancel).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(resource = %self.res.plural, group = %self.res.group, error = %e, "watch cache restarting");
                    self.write().ready = false;
                    let _ = self.tx.send(Feed::Reset);
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Lists the resource, then applies the store watch until it fails or `cancel`.
    async fn sync(&self, storage: &Storage, kf: &KindFields, cancel: &CancellationToken) -> Result<(), StatusError> {
        let prefix = storage.prefix(&self.res, None)?;
        let mut objects = BTreeMap::new();
        let mut opts = ListOptions::limit(10_000);
        let revision = loop {
            let page = storage.backend().list(prefix.clone(), opts.clone()).await.map_err(StatusError::internal)?;
            for kv in &page.items {
                let value = storage::decode_for(&self.res, kv)?;
                objects.insert(kv.key.clone(), Arc::new(Cached::new(kv.key.clone(), value, kv.mod_revision, kf)?));
            }
            match opts.next_page(&page) {
                Some(next) => opts = next,
                None => break page.revision,
            }
        };
        {
            let mut st = self.write();
            *st = State { objects, events: VecDeque::new(), window_start: revision, revision, ready: true };
        }
        self.revision.send_replace(revision);
        let wopts = WatchOptions { prefix: true, start_revision: revision + 1, prev_kv: true, progress_notify: true };
        let mut w = storage.backend().watch(prefix, wopts).await.map_err(StatusError::internal)?;
        let mut progress = tokio::time::interval(Duration::from_secs(1));
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = progress.tick() => {
                    // Keeps the cache revision fresh when the resource is idle, so
                    // consistent reads and bookmarks do not wait for a write.
                    w.request_progress();
                    continue;
                }
                ev = w.next() => ev,
            };
            match ev {
                Some(BackendEvent::Progress(rev)) => self.advance(rev),
                Some(BackendEvent::Added(c)) | Some(BackendEvent::Modified(c)) => {
                    let value = storage::decode_for(&self.res, &c.kv)?;
                    let obj = Arc::new(Cached::new(c.kv.key.clone(), value, c.kv.mod_revision, kf)?);
                    self.apply(obj, false);
                }
                Some(BackendEvent::Deleted(c)) => {
                    let Some(prev) = c.prev_kv else { continue };
                    let mut value = storage::decode_for(&self.res, &prev)?;
                    meta::set(&mut value, "resourceVersion", Value::String(c.kv.mod_revision.to_string()));
                    let obj = Arc::new(Cached::new(prev.key.clone(), value, c.kv.mod_revision, kf)?);
                    self.apply(obj, true);
                }
                Some(BackendEvent::Error(e)) => return Err(StatusError::internal(e)),
                None => return Err(StatusError::internal("store watch ended")),
            }
        }
    }

    fn advance(&self, rev: i64) {
        let mut st = self.write();
        if rev > st.revision {
            st.revision = rev;
            drop(st);
            self.revision.send_replace(rev);
        }
    }

    fn apply(&self, obj: Arc<Cached>, deleted: bool) {
        let rev = obj.revision;
        let mut st = self.write();
        let prev =
            if deleted { st.objects.remove(&obj.key) } else { st.objects.insert(obj.key.clone(), Arc::clone(&obj)) };
        let kind = match (deleted, &prev) {
            (true, _) => EventType::Deleted,
            (false, Some(_)) => EventType::Modified,
            (false, None) => EventType::Added,
        };
        let prev = if deleted { None } else { prev };
        let ev = Arc::new(CacheEvent { kind, object: obj, prev, revision: rev });
        st.events.push_back(Arc::clone(&ev));
        while st.events.len() > self.capacity {
            if let Some(old) = st.events.pop_front() {
                st.window_start = old.revision;
            }
        }
        st.revision = st.revision.max(rev);
        // Sent under the lock so a subscriber sees each change exactly once.
        let _ = self.tx.send(Feed::Event(ev));
        drop(st);
        self.revision.send_replace(rev);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resources::builtin;
    use serde_json::json;

    fn pods() -> ResourceInfo {
        builtin().into_iter().find(|r| r.plural == "pods").unwrap()
    }

    /// A ready cache with no store behind it: changes are applied by hand.
    fn cache() -> WatchCache {
        let (tx, _) = broadcast::channel(16);
        let (revision, _) = watch::channel(1);
        let state = State { revision: 1, window_start: 1, ready: true, ..State::default() };
        WatchCache { res: pods(), state: RwLock::new(state), tx, revision, capacity: 16 }
    }

    fn pod(name: &str, node: &str, rev: i64) -> Arc<Cached> {
        let v = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "a", "resourceVersion": rev.to_string()},
            "spec": {"nodeName": node}});
        let key = Bytes::from(format!("/registry/pods/a/{name}"));
        Arc::new(Cached::new(key, v, rev, &kind_fields("", "Pod")).unwrap())
    }

    fn on_node(node: &str) -> Filter {
        Filter::parse(&pods(), None, None, Some(&format!("spec.nodeName={node}"))).unwrap()
    }

    fn names(events: &[CacheEvent]) -> Vec<(EventType, String, i64)> {
        events.iter().map(|e| (e.kind, meta::name(&e.object.value).to_owned(), e.revision)).collect()
    }

    #[tokio::test]
    async fn a_bookmark_never_overtakes_a_queued_change() {
        let cache = cache();
        let f = on_node("n1");
        let mut sub = cache.subscribe(Some(1), &f).unwrap();
        // Changes published while the watcher is busy elsewhere: the cache's revision is
        // already past them when the bookmark timer fires.
        cache.apply(pod("p1", "", 2), false);
        cache.apply(pod("p1", "n1", 3), false);
        cache.apply(pod("p2", "n2", 4), false);
        assert_eq!(cache.revision(), 4);
        let settled = sub.live.settle(&cache, &f).unwrap();
        assert_eq!(names(&settled.events), [(EventType::Added, "p1".to_owned(), 3)], "bound to n1: ADDED");
        assert_eq!(settled.bookmark, Some(4));
        // Nothing is sent twice, and later changes still come.
        cache.apply(pod("p1", "n1", 5), false);
        let next = sub.live.next(&f).await.unwrap();
        assert_eq!((next.kind, next.revision), (EventType::Modified, 5));
        let settled = sub.live.settle(&cache, &f).unwrap();
        assert!(settled.events.is_empty());
        assert_eq!(settled.bookmark, None, "nothing new since the last event");
        // A progress notification moves the revision with no change: a bookmark only.
        cache.advance(9);
        let settled = sub.live.settle(&cache, &f).unwrap();
        assert!(settled.events.is_empty());
        assert_eq!(settled.bookmark, Some(9));
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_ended() {
        let cache = cache();
        let f = on_node("n1");
        let mut sub = cache.subscribe(None, &f).unwrap();
        for rev in 2..40 {
            cache.apply(pod("p1", "n1", rev), false);
        }
        assert!(sub.live.next(&f).await.is_none());
        let mut sub = cache.subscribe(None, &f).unwrap();
        for rev in 40..80 {
            cache.apply(pod("p1", "n1", rev), false);
        }
        assert!(sub.live.settle(&cache, &f).is_none());
    }
}
