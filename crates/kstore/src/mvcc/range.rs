//! Key ranges and reads (etcd's `Range` semantics, including limit, count, revision
//! filters and sorting as the etcd server applies them).

use std::ops::Bound;

use bytes::Bytes;

use super::{Mvcc, MvccError};
use crate::types::{KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget};

/// A key or key range as etcd encodes it: `end` empty = the single key `start`;
/// `end == "\0"` = every key `>= start`; otherwise `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    start: Bytes,
    end: Bytes,
}

impl KeyRange {
    /// A range from etcd's `key` / `range_end` pair.
    pub fn new(key: Bytes, range_end: Bytes) -> Self {
        Self { start: key, end: range_end }
    }

    /// The first key.
    pub fn start_of(range: &KeyRange) -> Bytes {
        range.start.clone()
    }

    /// Whether the range is a single key.
    pub fn is_single(&self) -> bool {
        self.end.is_empty()
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        if self.end.is_empty() {
            key == self.start.as_ref()
        } else if self.end.as_ref() == b"\0" {
            key >= self.start.as_ref()
        } else {
            key >= self.start.as_ref() && key < self.end.as_ref()
        }
    }

    /// Whether two ranges share a key.
    pub fn overlaps(&self, other: &KeyRange) -> bool {
        let end = |r: &KeyRange| -> Option<Bytes> {
            if r.end.is_empty() {
                let mut e = r.start.to_vec();
                e.push(0);
                Some(Bytes::from(e))
            } else if r.end.as_ref() == b"\0" {
                None
            } else {
                Some(r.end.clone())
            }
        };
        let (a_end, b_end) = (end(self), end(other));
        let a_before_b = a_end.as_ref().is_some_and(|e| e.as_ref() <= other.start.as_ref());
        let b_before_a = b_end.as_ref().is_some_and(|e| e.as_ref() <= self.start.as_ref());
        !(a_before_b || b_before_a)
    }

    pub(super) fn bounds(&self) -> (Bound<Bytes>, Bound<Bytes>) {
        if self.end.is_empty() {
            (Bound::Included(self.start.clone()), Bound::Included(self.start.clone()))
        } else if self.end.as_ref() == b"\0" {
            (Bound::Included(self.start.clone()), Bound::Unbounded)
        } else if self.end.as_ref() <= self.start.as_ref() {
            // An empty range: etcd returns nothing.
            (Bound::Included(self.start.clone()), Bound::Excluded(self.start.clone()))
        } else {
            (Bound::Included(self.start.clone()), Bound::Excluded(self.end.clone()))
        }
    }
}

impl Mvcc {
    /// Key-values visible at `rev` in `range`, in key order; at most `limit` (0 = all), and
    /// the total number of keys in the range.
    pub(super) fn scan(&self, range: &KeyRange, rev: i64, limit: usize) -> (Vec<KeyValue>, usize) {
        let mut kvs = Vec::new();
        let mut count = 0;
        let bounds = range.bounds();
        if matches!((&bounds.0, &bounds.1), (Bound::Included(a), Bound::Excluded(b)) if a >= b) {
            return (kvs, 0);
        }
        for history in self.keys.range(bounds).map(|(_, h)| h) {
            if let Some(kv) = history.live_at(rev) {
                count += 1;
                if limit == 0 || kvs.len() < limit {
                    kvs.push(kv.as_ref().clone());
                }
            }
        }
        (kvs, count)
    }

    /// Counts keys visible at `rev` in `range`.
    fn count(&self, range: &KeyRange, rev: i64) -> usize {
        let bounds = range.bounds();
        if matches!((&bounds.0, &bounds.1), (Bound::Included(a), Bound::Excluded(b)) if a >= b) {
            return 0;
        }
        self.keys.range(bounds).filter(|(_, h)| h.live_at(rev).is_some()).count()
    }

    /// Serves a read at its revision (0 = current).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let rev = self.check_rev(req.revision)?;
        self.range_at(req, rev, self.revision)
    }

    /// Serves a read at `rev`, reporting `header_rev` as the response revision. Inside a
    /// write transaction `rev` covers the transaction's own writes.
    pub(super) fn range_at(&self, req: &RangeRequest, rev: i64, header_rev: i64) -> Result<RangeResponse, MvccError> {
        if req.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        let range = KeyRange::new(req.key.clone(), req.range_end.clone());
        if req.count_only {
            let count = self.count(&range, rev) as i64;
            return Ok(RangeResponse { revision: header_rev, kvs: Vec::new(), more: false, count });
        }
        let filtered = req.sort_order != SortOrder::None
            || req.min_mod_revision != 0
            || req.max_mod_revision != 0
            || req.min_create_revision != 0
            || req.max_create_revision != 0;
        // Like the etcd server: with filters or sorting read everything and cut afterwards;
        // otherwise read one extra key to know whether there is more.
        let fetch = match (filtered, req.limit) {
            (true, _) | (false, 0) => 0,
            (false, l) => usize::try_from(l).unwrap_or(usize::MAX - 1).saturating_add(1),
        };
        let (mut kvs, count) = self.scan(&range, rev, fetch);
        if req.max_mod_revision != 0 {
            kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
        }
        if req.min_mod_revision != 0 {
            kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
        }
        if req.max_create_revision != 0 {
            kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
        }
        if req.min_create_revision != 0 {
            kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
        }
        let mut order = req.sort_order;
        if req.sort_target != SortTarget::Key && order == SortOrder::None {
            // Results are in key order already; other targets default to ascending.
            order = SortOrder::Ascend;
        }
        if order != SortOrder::None {
            sort(&mut kvs, req.sort_target, order);
        }
        let mut more = false;
        if req.limit > 0 && kvs.len() as i64 > req.limit {
            kvs.truncate(req.limit as usize);
            more = true;
        }
        if req.keys_only {
            for kv in &mut kvs {
                kv.value = Bytes::new();
            }
        }
        Ok(RangeResponse { revision: header_rev, kvs, more, count: count as i64 })
    }
}

fn sort(kvs: &mut [KeyValue], target: SortTarget, order: SortOrder) {
    let by = |a: &KeyValue, b: &KeyValue| match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    };
    // Stable, so ties keep key order.
    if order == SortOrder::Descend {
        kvs.sort_by(|a, b| by(b, a));
    } else {
        kvs.sort_by(by);
    }
}
