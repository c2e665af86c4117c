//! Leases: the replicated part (which leases exist, their TTLs and attached keys) and the
//! leader's expiry clock (not replicated, like etcd: a new leader restarts every lease's
//! countdown, so leases survive leader changes and never expire early).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::types::{Event, EventKind};

/// Largest TTL etcd accepts (seconds).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Errors of lease operations, with etcd's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// No such lease.
    #[error("etcdserver: requested lease not found")]
    NotFound,
    /// A lease with that id exists.
    #[error("etcdserver: lease already exists")]
    Exists,
    /// TTL above [`MAX_LEASE_TTL`].
    #[error("etcdserver: too large lease TTL")]
    TtlTooLarge,
    /// Id 0 reached the state machine (the leader assigns ids before proposing).
    #[error("etcdserver: lease id 0 is reserved")]
    ZeroId,
}

/// One lease as replicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// Granted TTL in seconds.
    pub ttl: i64,
    /// Keys attached to it.
    pub keys: BTreeSet<Bytes>,
}

/// The replicated lease table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lessor {
    leases: BTreeMap<i64, Lease>,
}

impl Lessor {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a lease; `ttl` is raised to `min_ttl` (seconds).
    pub fn grant(&mut self, id: i64, ttl: i64, min_ttl: i64) -> Result<i64, LeaseError> {
        if id == 0 {
            return Err(LeaseError::ZeroId);
        }
        if ttl > MAX_LEASE_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let ttl = ttl.max(min_ttl);
        self.leases.insert(id, Lease { ttl, keys: BTreeSet::new() });
        Ok(ttl)
    }

    /// Removes a lease and returns the keys to delete with it.
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Bytes>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        Ok(lease.keys.into_iter().collect())
    }

    /// Whether the lease exists.
    pub fn exists(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// A lease.
    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease id, ascending.
    pub fn ids(&self) -> Vec<i64> {
        self.leases.keys().copied().collect()
    }

    /// Every lease with its TTL.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Lease)> {
        self.leases.iter().map(|(&id, l)| (id, l))
    }

    /// Keeps key attachments in step with committed changes.
    pub fn apply_events(&mut self, events: &[Event]) {
        for ev in events {
            if let Some(prev) = &ev.prev_kv {
                if prev.lease != 0 {
                    if let Some(l) = self.leases.get_mut(&prev.lease) {
                        l.keys.remove(&prev.key);
                    }
                }
            }
            if ev.kind == EventKind::Put && ev.kv.lease != 0 {
                if let Some(l) = self.leases.get_mut(&ev.kv.lease) {
                    l.keys.insert(ev.kv.key.clone());
                }
            }
        }
    }

    /// Restores a table (from a snapshot).
    pub fn from_leases(leases: impl IntoIterator<Item = (i64, Lease)>) -> Self {
        Self { leases: leases.into_iter().collect() }
    }
}

/// The leader's countdowns. Time is passed in, so tests need no clock.
#[derive(Debug, Clone, Default)]
pub struct ExpiryClock {
    deadlines: HashMap<i64, Instant>,
}

impl ExpiryClock {
    /// An empty clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts every lease's countdown afresh (on becoming leader).
    pub fn promote(&mut self, lessor: &Lessor, now: Instant) {
        self.deadlines = lessor.iter().map(|(id, l)| (id, now + secs(l.ttl))).collect();
    }

    /// Forgets everything (on losing leadership).
    pub fn demote(&mut self) {
        self.deadlines.clear();
    }

    /// Starts or restarts one lease's countdown (grant, keep-alive). Returns the TTL, or
    /// `None` if the lease does not exist.
    pub fn renew(&mut self, lessor: &Lessor, id: i64, now: Instant) -> Option<i64> {
        let ttl = lessor.get(id)?.ttl;
        self.deadlines.insert(id, now + secs(ttl));
        Some(ttl)
    }

    /// Seconds left (rounded up), or `None` if the lease is unknown to this clock.
    pub fn remaining(&self, id: i64, now: Instant) -> Option<i64> {
        let left = self.deadlines.get(&id)?.saturating_duration_since(now);
        Some(left.as_millis().div_ceil(1000) as i64)
    }

    /// Leases past their deadline that still exist, oldest deadline first.
    pub fn expired(&mut self, lessor: &Lessor, now: Instant) -> Vec<i64> {
        self.deadlines.retain(|id, _| lessor.exists(*id));
        let mut due: Vec<(Instant, i64)> =
            self.deadlines.iter().filter(|(_, d)| **d <= now).map(|(&id, &d)| (d, id)).collect();
        due.sort();
        due.into_iter().map(|(_, id)| id).collect()
    }
}

fn secs(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KeyValue;

    fn put(key: &str, lease: i64, prev: Option<i64>) -> Event {
        let kv = KeyValue { key: Bytes::copy_from_slice(key.as_bytes()), lease, ..KeyValue::default() };
        let prev_kv = prev.map(|l| KeyValue { lease: l, ..kv.clone() });
        Event { kind: EventKind::Put, kv, prev_kv }
    }

    #[test]
    fn grant_revoke_and_attachments() {
        let mut l = Lessor::new();
        assert_eq!(l.grant(7, 1, 5), Ok(5), "raised to the minimum TTL");
        assert_eq!(l.grant(7, 10, 5), Err(LeaseError::Exists));
        assert_eq!(l.grant(0, 10, 5), Err(LeaseError::ZeroId));
        assert_eq!(l.grant(8, MAX_LEASE_TTL + 1, 5), Err(LeaseError::TtlTooLarge));
        l.grant(8, 60, 5).unwrap();
        l.apply_events(&[put("a", 7, None), put("b", 7, None), put("c", 8, None)]);
        // Moving a key to another lease, and dropping it from a lease by overwriting.
        l.apply_events(&[put("b", 8, Some(7)), put("c", 0, Some(8))]);
        assert_eq!(l.get(7).unwrap().keys.len(), 1);
        assert_eq!(l.get(8).unwrap().keys.iter().collect::<Vec<_>>(), [&Bytes::from_static(b"b")]);
        let del = Event {
            kind: EventKind::Delete,
            kv: KeyValue { key: Bytes::from_static(b"a"), ..KeyValue::default() },
            prev_kv: Some(KeyValue { key: Bytes::from_static(b"a"), lease: 7, ..KeyValue::default() }),
        };
        l.apply_events(&[del]);
        assert!(l.get(7).unwrap().keys.is_empty());
        assert_eq!(l.revoke(8), Ok(vec![Bytes::from_static(b"b")]));
        assert_eq!(l.revoke(8), Err(LeaseError::NotFound));
        assert_eq!(l.ids(), [7]);
    }

    #[test]
    fn expiry_clock() {
        let mut l = Lessor::new();
        l.grant(1, 10, 1).unwrap();
        l.grant(2, 20, 1).unwrap();
        let t0 = Instant::now();
        let mut clock = ExpiryClock::new();
        clock.promote(&l, t0);
        assert_eq!(clock.remaining(1, t0), Some(10));
        assert!(clock.expired(&l, t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(clock.expired(&l, t0 + Duration::from_secs(10)), [1]);
        assert_eq!(clock.renew(&l, 1, t0 + Duration::from_secs(12)), Some(10));
        assert_eq!(clock.expired(&l, t0 + Duration::from_secs(21)), [2]);
        assert_eq!(clock.renew(&l, 9, t0), None);
        l.revoke(2).unwrap();
        assert!(clock.expired(&l, t0 + Duration::from_secs(21)).is_empty(), "revoked leases are forgotten");
        clock.demote();
        assert_eq!(clock.remaining(1, t0), None);
    }
}
