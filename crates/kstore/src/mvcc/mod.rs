//! Multi-version concurrency control: every write transaction creates one store revision;
//! each key keeps its history until compaction, so reads at past revisions and watches that
//! start in the past are served from the same structure.
//!
//! Pure and deterministic: no I/O, no clock. The replicated state machine applies requests
//! to it in log order on every node.

mod range;
mod snapshot;
#[cfg(test)]
mod tests;
mod txn;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::types::{Event, EventKind, KeyValue};

pub use range::KeyRange;
pub use txn::MAX_TXN_OPS;

/// Errors of the MVCC store, with etcd's messages. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MvccError {
    /// The requested revision was compacted away.
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    /// The requested revision does not exist yet.
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
    /// `ignore_value` / `ignore_lease` on a key that does not exist.
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// A put names a lease that does not exist.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A value was given together with `ignore_value`.
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// A lease was given together with `ignore_lease`.
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// The same key is written twice in one transaction.
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A transaction has too many operations.
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// An empty key.
    #[error("etcdserver: key is not provided")]
    EmptyKey,
}

/// One version of a key: the key-value, or a deletion.
#[derive(Debug, Clone)]
struct Version {
    main: i64,
    sub: i64,
    /// `None` marks a deletion (tombstone).
    kv: Option<Arc<KeyValue>>,
}

/// A key's versions, oldest first.
#[derive(Debug, Clone, Default)]
struct History {
    versions: Vec<Version>,
}

impl History {
    /// The version visible at revision `rev` (the latest with `main <= rev`).
    fn at(&self, rev: i64) -> Option<&Version> {
        let n = self.versions.partition_point(|v| v.main <= rev);
        n.checked_sub(1).map(|i| &self.versions[i])
    }

    fn live_at(&self, rev: i64) -> Option<&Arc<KeyValue>> {
        self.at(rev).and_then(|v| v.kv.as_ref())
    }

    fn latest(&self) -> Option<&Arc<KeyValue>> {
        self.versions.last().and_then(|v| v.kv.as_ref())
    }
}

/// The versioned key-value store.
#[derive(Debug, Clone)]
pub struct Mvcc {
    keys: BTreeMap<Bytes, History>,
    /// Every change by (revision, sub-revision), for replaying history to watchers.
    changes: BTreeMap<(i64, i64), Bytes>,
    revision: i64,
    compacted: i64,
}

impl Default for Mvcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mvcc {
    /// An empty store at revision 1 (etcd's first revision).
    pub fn new() -> Self {
        // etcd starts its compaction mark at -1, so that compacting revision 0 of a fresh
        // store succeeds.
        Self { keys: BTreeMap::new(), changes: BTreeMap::new(), revision: 1, compacted: -1 }
    }

    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The compacted revision (-1 if never compacted, as etcd reports it).
    pub fn compacted_revision(&self) -> i64 {
        self.compacted
    }

    /// Number of live keys at the current revision.
    pub fn len(&self) -> usize {
        self.keys.values().filter(|h| h.latest().is_some()).count()
    }

    /// Approximate bytes of live keys and values (etcd's `dbSize` stands for the backend
    /// file; this is the live data it would hold).
    pub fn approximate_size(&self) -> usize {
        self.keys.iter().filter_map(|(k, h)| h.latest().map(|kv| k.len() + kv.value.len() + 48)).sum()
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&KeyValue> {
        self.keys.get(key).and_then(History::latest).map(|kv| kv.as_ref())
    }

    /// Checks that `rev` (0 = current) can be read.
    fn check_rev(&self, rev: i64) -> Result<i64, MvccError> {
        match rev {
            0 => Ok(self.revision),
            r if r > self.revision => Err(MvccError::FutureRevision),
            r if r < self.compacted => Err(MvccError::Compacted),
            r => Ok(r),
        }
    }

    /// Compacts history: reads and watches before `rev` become impossible.
    pub fn compact(&mut self, rev: i64) -> Result<(), MvccError> {
        if rev > self.revision {
            return Err(MvccError::FutureRevision);
        }
        if rev <= self.compacted {
            return Err(MvccError::Compacted);
        }
        self.compacted = rev;
        self.keys.retain(|_, h| {
            // Keep what is visible at `rev` (unless it is an older deletion) and everything
            // after it.
            let n = h.versions.partition_point(|v| v.main <= rev);
            let keep_from = match n.checked_sub(1) {
                Some(i) if h.versions[i].kv.is_some() || h.versions[i].main == rev => i,
                Some(i) => i + 1,
                None => 0,
            };
            h.versions.drain(..keep_from);
            !h.versions.is_empty()
        });
        let kept = self.changes.split_off(&(rev, 0));
        self.changes = kept;
        Ok(())
    }

    /// Events of revisions in `[start, end)` on keys in `range` (whole revisions only).
    pub fn events_between(&self, start: i64, end: i64, range: &KeyRange) -> Result<Vec<Event>, MvccError> {
        self.collect_events(start, end, range, 0)
    }

    /// Events of revisions `>= start` (at most `limit` events, 0 = all) on keys in `range`,
    /// with previous key-values where history still has them. For watchers catching up.
    pub fn events_since(&self, start: i64, range: &KeyRange, limit: usize) -> Result<Vec<Event>, MvccError> {
        self.collect_events(start, i64::MAX, range, limit)
    }

    fn collect_events(&self, start: i64, end: i64, range: &KeyRange, limit: usize) -> Result<Vec<Event>, MvccError> {
        if start < self.compacted {
            return Err(MvccError::Compacted);
        }
        let mut out = Vec::new();
        if start >= end {
            return Ok(out);
        }
        for (&(main, sub), key) in self.changes.range((start, 0)..(end, 0)) {
            if !range.contains(key) {
                continue;
            }
            let Some(history) = self.keys.get(key) else { continue };
            let pos = history.versions.partition_point(|v| (v.main, v.sub) < (main, sub));
            let Some(version) = history.versions.get(pos).filter(|v| v.main == main && v.sub == sub) else {
                continue;
            };
            let prev_kv = pos.checked_sub(1).and_then(|p| history.versions[p].kv.as_deref().cloned());
            out.push(match &version.kv {
                Some(kv) => Event { kind: EventKind::Put, kv: kv.as_ref().clone(), prev_kv },
                None => Event {
                    kind: EventKind::Delete,
                    kv: KeyValue { key: key.clone(), mod_revision: main, ..KeyValue::default() },
                    prev_kv,
                },
            });
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// A hash of the key-values visible at `rev` (0 = current) and the compacted revision,
    /// for consistency checks between replicas (etcd `HashKV`).
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64), MvccError> {
        let rev = self.check_rev(rev)?;
        let mut h = crc32c::crc32c(&[]);
        for (key, history) in &self.keys {
            if let Some(kv) = history.live_at(rev) {
                h = crc32c::crc32c_append(h, key);
                h = crc32c::crc32c_append(h, &kv.value);
                h = crc32c::crc32c_append(h, &kv.mod_revision.to_le_bytes());
            }
        }
        Ok((h, self.compacted))
    }

    /// Records a new version of `key` at (`main`, `sub`); returns the previous live value.
    fn write(&mut self, main: i64, sub: i64, key: Bytes, kv: Option<KeyValue>) -> Option<KeyValue> {
        let history = self.keys.entry(key.clone()).or_default();
        let prev = history.latest().map(|kv| kv.as_ref().clone());
        history.versions.push(Version { main, sub, kv: kv.map(Arc::new) });
        self.changes.insert((main, sub), key);
        prev
    }
}
