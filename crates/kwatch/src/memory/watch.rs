//! Watch streams of the in-memory source. Each stream reads the shared history from its
//! own position (like kstore's unsynced watchers), so a slow consumer holds no buffer and
//! never slows the writer; it fails with 410 once compaction passes its position.

use std::collections::VecDeque;
use std::sync::Arc;

use kapi::StatusError;
use tokio::time::Instant;

use super::{EventKind, Filter, LogEntry, Shared, parse_rv, too_large};
use crate::lister::{ResourceVersionMatch, WatchError, WatchEvent, WatchParams, WatchStream};
use crate::object::Object;

/// Events read from the history per lock.
const BATCH: usize = 256;

struct Watcher<K> {
    shared: Arc<Shared<K>>,
    tick: tokio::sync::watch::Receiver<u64>,
    epoch: u64,
    bookmarks_seen: u64,
    bookmarks: bool,
    /// The last revision read from the history.
    after: u64,
    pending: VecDeque<Result<WatchEvent<K>, WatchError>>,
    deadline: Option<Instant>,
    filter: Filter,
    done: bool,
}

fn invalid(message: &str) -> WatchError {
    WatchError::Api(StatusError::new(kapi::Reason::Invalid, message))
}

pub(super) fn start<K: Object>(shared: &Arc<Shared<K>>, params: &WatchParams) -> Result<WatchStream<K>, WatchError> {
    let mut st = shared.lock();
    st.watches.push(params.clone());
    if let Some(e) = st.watch_faults.pop_front() {
        return Err(e);
    }
    let filter = Filter::parse(params.label_selector.as_deref(), params.field_selector.as_deref())?;
    let requested = parse_rv(&params.resource_version)?;
    let mut pending = VecDeque::new();
    let after = if params.send_initial_events {
        if !st.streaming {
            return Err(invalid(
                "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
            ));
        }
        if !params.bookmarks {
            return Err(invalid("allowWatchBookmarks must be true when sendInitialEvents is set"));
        }
        if params.resource_version_match != Some(ResourceVersionMatch::NotOlderThan) {
            return Err(invalid("sendInitialEvents requires resourceVersionMatch=NotOlderThan"));
        }
        if let Some(n) = requested.filter(|n| *n > st.rev) {
            return Err(too_large(n, st.rev));
        }
        initial_events(&st.objects, &filter, &mut pending);
        pending.push_back(Ok(WatchEvent::Bookmark { resource_version: st.rev.to_string(), initial_events_end: true }));
        st.rev
    } else if params.resource_version_match.is_some() {
        return Err(invalid("resourceVersionMatch is forbidden for watch unless sendInitialEvents is set"));
    } else {
        match requested {
            // "" and "0": the current state as synthetic Added events, then changes.
            None => {
                initial_events(&st.objects, &filter, &mut pending);
                st.rev
            }
            Some(n) => n,
        }
    };
    let watcher = Watcher {
        shared: Arc::clone(shared),
        tick: shared.tick.subscribe(),
        epoch: st.epoch,
        bookmarks_seen: st.bookmarks,
        bookmarks: params.bookmarks,
        after,
        pending,
        deadline: params.timeout.map(|t| Instant::now() + t),
        filter,
        done: false,
    };
    drop(st);
    Ok(Box::pin(futures_util::stream::unfold(watcher, |mut w| async move { w.next().await.map(|item| (item, w)) })))
}

fn initial_events<K: Object>(
    objects: &std::collections::BTreeMap<kapi::ObjectKey, Vec<super::Version<K>>>,
    filter: &Filter,
    out: &mut VecDeque<Result<WatchEvent<K>, WatchError>>,
) {
    for obj in objects.values().filter_map(|v| v.last().and_then(|v| v.obj.as_ref())) {
        if filter.matches(&**obj) {
            out.push_back(Ok(WatchEvent::Added(K::clone(obj))));
        }
    }
}

impl<K: Object> Watcher<K> {
    /// Translates a history entry through the selectors: an object that starts or stops
    /// matching is Added or Deleted, as the API server reports it.
    fn event(&self, e: &LogEntry<K>) -> Option<WatchEvent<K>> {
        let now = self.filter.matches(&*e.obj);
        let before = e.prev.as_deref().is_some_and(|p| self.filter.matches(p));
        let obj = || K::clone(&e.obj);
        match (e.kind, before, now) {
            (EventKind::Added, _, true) => Some(WatchEvent::Added(obj())),
            (EventKind::Modified, true, true) => Some(WatchEvent::Modified(obj())),
            (EventKind::Modified, false, true) => Some(WatchEvent::Added(obj())),
            (EventKind::Modified, true, false) => Some(WatchEvent::Deleted(obj())),
            (EventKind::Deleted, true, _) => Some(WatchEvent::Deleted(obj())),
            _ => None,
        }
    }

    /// Reads what is available; `false` when the stream must end.
    fn poll_history(&mut self) -> bool {
        let st = self.shared.lock();
        if st.epoch != self.epoch {
            if let Some(e) = st.epoch_error.clone() {
                self.pending.push_back(Err(e));
            }
            self.done = true;
            return false;
        }
        if self.after < st.compacted {
            let msg = format!("too old resource version: {} ({})", self.after, st.compacted + 1);
            self.pending.push_back(Ok(WatchEvent::Error(StatusError::expired(msg))));
            self.done = true;
            return false;
        }
        let start = st.log.partition_point(|e| e.rev <= self.after);
        for entry in st.log.range(start..).take(BATCH) {
            self.after = entry.rev;
            if let Some(ev) = self.event(entry) {
                self.pending.push_back(Ok(ev));
            }
        }
        let caught_up = st.log.back().is_none_or(|e| e.rev <= self.after);
        if self.pending.is_empty() && caught_up && self.bookmarks && st.bookmarks != self.bookmarks_seen {
            self.bookmarks_seen = st.bookmarks;
            self.after = self.after.max(st.rev);
            let resource_version = self.after.to_string();
            self.pending.push_back(Ok(WatchEvent::Bookmark { resource_version, initial_events_end: false }));
        }
        true
    }

    async fn next(&mut self) -> Option<Result<WatchEvent<K>, WatchError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done || self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            // Mark the tick seen before reading, so a change made after the read wakes us.
            self.tick.borrow_and_update();
            if !self.poll_history() || !self.pending.is_empty() {
                continue;
            }
            let deadline = self.deadline;
            tokio::select! {
                changed = self.tick.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => return None,
            }
        }
    }
}
