//! Watches: watchers that are caught up ("synced") get each committed revision's events as
//! it is applied; watchers that start in the past, or whose consumer is slow, are
//! "unsynced" and catch up from the MVCC history in bounded batches. A slow watcher never
//! blocks writers or other watchers, and holds no buffered events of its own — like etcd's
//! unsynced watcher group.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::mvcc::{KeyRange, Mvcc, MvccError};
use crate::types::{Event, EventKind};

/// Revisions read per catch-up batch.
pub const CATCHUP_REVISIONS: i64 = 1000;

/// A watch to create (etcd `WatchCreateRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// First key.
    pub key: Bytes,
    /// End of the range, as for reads.
    pub range_end: Bytes,
    /// First revision to report; 0 = from the next revision.
    pub start_revision: i64,
    /// Send periodic progress notifications.
    pub progress_notify: bool,
    /// Include previous key-values.
    pub prev_kv: bool,
    /// Drop put events.
    pub no_put: bool,
    /// Drop delete events.
    pub no_delete: bool,
    /// The id the client wants (0 = assign one).
    pub watch_id: i64,
}

/// What a watch stream receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// The watch exists (answer to a create).
    Created {
        /// Its id.
        watch_id: i64,
        /// Store revision at creation.
        revision: i64,
    },
    /// Events of one or more whole revisions, in order.
    Events {
        /// The watch.
        watch_id: i64,
        /// Store revision when sent (at least the last event's).
        revision: i64,
        /// The events.
        events: Vec<Event>,
    },
    /// A progress notification: everything up to `revision` was delivered.
    Progress {
        /// The watch (-1 for a stream-wide answer to a progress request).
        watch_id: i64,
        /// Store revision.
        revision: i64,
    },
    /// The watch ended.
    Canceled {
        /// The watch.
        watch_id: i64,
        /// Set when it ended because its next revision was compacted.
        compact_revision: i64,
        /// Why.
        reason: String,
    },
}

/// Errors creating a watch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The stream already has a watch with that id.
    #[error("etcdserver: duplicate watch ID")]
    DuplicateId,
    /// The key is empty.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
}

/// Identifies a watch stream (one gRPC Watch call, or one in-process subscriber).
pub type StreamId = u64;

#[derive(Debug)]
struct Watcher {
    stream: StreamId,
    watch_id: i64,
    range: KeyRange,
    /// The next revision this watcher must see.
    next_rev: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    sink: mpsc::Sender<WatchMessage>,
}

impl Watcher {
    /// The events of `events` this watcher wants, shaped as it asked.
    fn select(&self, events: &[Event]) -> Vec<Event> {
        events
            .iter()
            .filter(|e| e.kv.mod_revision >= self.next_rev && self.range.contains(&e.kv.key))
            .filter(|e| match e.kind {
                EventKind::Put => !self.no_put,
                EventKind::Delete => !self.no_delete,
            })
            .map(|e| Event { prev_kv: if self.prev_kv { e.prev_kv.clone() } else { None }, ..e.clone() })
            .collect()
    }
}

/// All watchers of a store.
#[derive(Debug, Default)]
pub struct WatchHub {
    watchers: HashMap<u64, Watcher>,
    /// Synced single-key watchers by key; synced range watchers in a list.
    synced_keys: HashMap<Bytes, BTreeSet<u64>>,
    synced_ranges: BTreeSet<u64>,
    unsynced: BTreeSet<u64>,
    /// (stream, watch id) → internal id.
    by_stream: BTreeMap<(StreamId, i64), u64>,
    next_internal: u64,
}

impl WatchHub {
    /// No watchers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of watchers.
    pub fn len(&self) -> usize {
        self.watchers.len()
    }

    /// Whether there are no watchers.
    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }

    /// Number of watchers catching up.
    pub fn unsynced(&self) -> usize {
        self.unsynced.len()
    }

    /// Creates a watch on `stream`; its messages go to `sink`. The `Created` message is
    /// sent here; past events follow from [`sync`](Self::sync).
    pub fn watch(
        &mut self,
        stream: StreamId,
        req: &WatchRequest,
        current_rev: i64,
        sink: mpsc::Sender<WatchMessage>,
    ) -> Result<i64, WatchError> {
        if req.key.is_empty() {
            return Err(WatchError::EmptyKey);
        }
        let watch_id = if req.watch_id != 0 {
            if self.by_stream.contains_key(&(stream, req.watch_id)) {
                return Err(WatchError::DuplicateId);
            }
            req.watch_id
        } else {
            // The lowest free id on this stream, as etcd assigns them.
            let used: BTreeSet<i64> =
                self.by_stream.range((stream, i64::MIN)..=(stream, i64::MAX)).map(|(&(_, w), _)| w).collect();
            (0..).find(|id| !used.contains(id)).unwrap_or(0)
        };
        let internal = self.next_internal;
        self.next_internal += 1;
        let next_rev = if req.start_revision == 0 { current_rev + 1 } else { req.start_revision };
        let watcher = Watcher {
            stream,
            watch_id,
            range: KeyRange::new(req.key.clone(), req.range_end.clone()),
            next_rev,
            prev_kv: req.prev_kv,
            no_put: req.no_put,
            no_delete: req.no_delete,
            progress_notify: req.progress_notify,
            sink,
        };
        let _ = watcher.sink.try_send(WatchMessage::Created { watch_id, revision: current_rev });
        self.by_stream.insert((stream, watch_id), internal);
        let in_past = next_rev <= current_rev;
        self.watchers.insert(internal, watcher);
        if in_past {
            self.unsynced.insert(internal);
        } else {
            self.mark_synced(internal);
        }
        Ok(watch_id)
    }

    fn mark_synced(&mut self, id: u64) {
        let Some(w) = self.watchers.get(&id) else { return };
        if w.range.is_single() {
            let key = KeyRange::start_of(&w.range);
            self.synced_keys.entry(key).or_default().insert(id);
        } else {
            self.synced_ranges.insert(id);
        }
    }

    fn unmark_synced(&mut self, id: u64) {
        let Some(w) = self.watchers.get(&id) else { return };
        if w.range.is_single() {
            let key = KeyRange::start_of(&w.range);
            if let Some(set) = self.synced_keys.get_mut(&key) {
                set.remove(&id);
                if set.is_empty() {
                    self.synced_keys.remove(&key);
                }
            }
        } else {
            self.synced_ranges.remove(&id);
        }
    }

    fn remove(&mut self, id: u64) -> Option<Watcher> {
        self.unmark_synced(id);
        self.unsynced.remove(&id);
        let w = self.watchers.remove(&id)?;
        self.by_stream.remove(&(w.stream, w.watch_id));
        Some(w)
    }

    /// Cancels a watch; returns whether it existed.
    pub fn cancel(&mut self, stream: StreamId, watch_id: i64) -> bool {
        let Some(&id) = self.by_stream.get(&(stream, watch_id)) else { return false };
        if let Some(w) = self.remove(id) {
            let _ = w.sink.try_send(WatchMessage::Canceled { watch_id, compact_revision: 0, reason: String::new() });
        }
        true
    }

    /// Drops every watch of a stream (the client went away).
    pub fn close_stream(&mut self, stream: StreamId) {
        let ids: Vec<u64> = self.by_stream.range((stream, i64::MIN)..=(stream, i64::MAX)).map(|(_, &id)| id).collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// Delivers the events of one committed revision to synced watchers. A watcher whose
    /// queue is full becomes unsynced and will catch up from history.
    pub fn notify(&mut self, revision: i64, events: &[Event]) {
        if events.is_empty() || self.watchers.is_empty() {
            return;
        }
        let mut candidates: BTreeSet<u64> = self.synced_ranges.clone();
        for e in events {
            if let Some(ids) = self.synced_keys.get(&e.kv.key) {
                candidates.extend(ids);
            }
        }
        for id in candidates {
            let Some(w) = self.watchers.get(&id) else { continue };
            let selected = w.select(events);
            if selected.is_empty() {
                continue;
            }
            let msg = WatchMessage::Events { watch_id: w.watch_id, revision, events: selected };
            match w.sink.try_send(msg) {
                Ok(()) => {
                    if let Some(w) = self.watchers.get_mut(&id) {
                        w.next_rev = revision + 1;
                    }
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Too slow: stop pushing, it will catch up from `revision` on.
                    self.unmark_synced(id);
                    self.unsynced.insert(id);
                    if let Some(w) = self.watchers.get_mut(&id) {
                        w.next_rev = revision;
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.remove(id);
                }
            }
        }
    }

    /// Advances unsynced watchers by at most [`CATCHUP_REVISIONS`] revisions each, reading
    /// history from `mvcc`. Watchers whose next revision was compacted are canceled with
    /// the compacted revision. Returns whether unsynced watchers remain.
    pub fn sync(&mut self, mvcc: &Mvcc) -> bool {
        let current = mvcc.revision();
        let ids: Vec<u64> = self.unsynced.iter().copied().collect();
        for id in ids {
            let Some(w) = self.watchers.get(&id) else { continue };
            if w.sink.is_closed() {
                self.remove(id);
                continue;
            }
            if w.next_rev > current {
                self.unsynced.remove(&id);
                self.mark_synced(id);
                continue;
            }
            let end = (w.next_rev + CATCHUP_REVISIONS).min(current + 1);
            match mvcc.events_between(w.next_rev, end, &w.range) {
                Err(MvccError::Compacted) => {
                    let compact_revision = mvcc.compacted_revision();
                    let watch_id = w.watch_id;
                    let msg = WatchMessage::Canceled {
                        watch_id,
                        compact_revision,
                        reason: "mvcc: required revision has been compacted".into(),
                    };
                    // If the queue is full the client is told on a later round.
                    if w.sink.try_send(msg).is_ok() {
                        self.remove(id);
                    }
                }
                Err(_) => {}
                Ok(events) => {
                    let selected = w.select(&events);
                    let sent = selected.is_empty()
                        || w.sink
                            .try_send(WatchMessage::Events {
                                watch_id: w.watch_id,
                                revision: current,
                                events: selected,
                            })
                            .is_ok();
                    if sent {
                        if let Some(w) = self.watchers.get_mut(&id) {
                            w.next_rev = end;
                        }
                        if end > current {
                            self.unsynced.remove(&id);
                            self.mark_synced(id);
                        }
                    }
                }
            }
        }
        !self.unsynced.is_empty()
    }

    /// Makes every watcher catch up from history: after the store's state was replaced by a
    /// snapshot, revisions were skipped that live delivery never saw.
    pub fn resync_all(&mut self) {
        let synced: Vec<u64> = self.watchers.keys().copied().filter(|id| !self.unsynced.contains(id)).collect();
        for id in synced {
            self.unmark_synced(id);
            self.unsynced.insert(id);
        }
    }

    /// Sends a progress notification to every synced watcher that asked for them.
    pub fn progress_all(&mut self, revision: i64) {
        for (id, w) in &self.watchers {
            if w.progress_notify && !self.unsynced.contains(id) {
                let _ = w.sink.try_send(WatchMessage::Progress { watch_id: w.watch_id, revision });
            }
        }
    }

    /// Answers a client's progress request on `stream`: sent only when every watch of the
    /// stream is caught up (otherwise the client would wrongly believe it saw everything).
    pub fn request_progress(&mut self, stream: StreamId, revision: i64, sink: &mpsc::Sender<WatchMessage>) {
        let all_synced =
            self.by_stream.range((stream, i64::MIN)..=(stream, i64::MAX)).all(|(_, id)| !self.unsynced.contains(id));
        if all_synced {
            let _ = sink.try_send(WatchMessage::Progress { watch_id: -1, revision });
        }
    }
}

#[cfg(test)]
mod tests;
