//! Upstream `ControllerExpectations` / `UIDTrackingControllerExpectations`: how many pod
//! creations and which pod deletions a controller still waits to observe through its
//! informer, so it does not act twice on a stale cache.
//!
//! This is I/O-layer state, but pure: the caller passes the time. The protocol, per
//! controller key (`namespace/name`):
//!
//! 1. before planning, `satisfied(key, now)` decides whether the plan may create or delete;
//! 2. before creating `n` pods, `expect_creations(key, n, now)`; before deleting, the
//!    `expect_deletions(key, pod_keys, now)`;
//! 3. the pod informer calls `creation_observed(key)` for each pod it sees created with this
//!    controller, and `deletion_observed(key, pod_key)` for each pod it sees deleted (or
//!    marked for deletion);
//! 4. a create that failed or was skipped by slow start is also reported with
//!    `creation_observed`, a failed delete with `deletion_observed` (nothing will be seen);
//! 5. when the controller object is deleted, `delete(key)`.
//!
//! Expectations older than [`EXPECTATIONS_TTL`] count as satisfied.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kapi::k8s::jiff::Timestamp;

/// How long expectations are waited for before they are considered satisfied anyway.
pub const EXPECTATIONS_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    adds: i64,
    dels: i64,
    deleted_keys: BTreeSet<String>,
    at: Timestamp,
}

impl Record {
    fn fulfilled(&self) -> bool {
        self.adds <= 0 && self.dels <= 0
    }
}

/// Expected pod creations and deletions per controller key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    records: BTreeMap<String, Record>,
    ttl: Option<Duration>,
}

impl Expectations {
    /// Empty expectations with the upstream TTL of five minutes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty expectations with another TTL (tests, tuning).
    pub fn with_ttl(ttl: Duration) -> Self {
        Self { records: BTreeMap::new(), ttl: Some(ttl) }
    }

    fn ttl(&self) -> Duration {
        self.ttl.unwrap_or(EXPECTATIONS_TTL)
    }

    /// Whether the controller may act: no record, all expectations observed, or the record
    /// is older than the TTL.
    pub fn satisfied(&self, key: &str, now: Timestamp) -> bool {
        match self.records.get(key) {
            None => true,
            Some(r) if r.fulfilled() => true,
            Some(r) => super::pod::duration_until(r.at, now) > self.ttl(),
        }
    }

    /// Replaces the record: `adds` creations are expected from `now` on.
    pub fn expect_creations(&mut self, key: &str, adds: usize, now: Timestamp) {
        self.records.insert(
            key.to_owned(),
            Record { adds: i64::try_from(adds).unwrap_or(i64::MAX), dels: 0, deleted_keys: BTreeSet::new(), at: now },
        );
    }

    /// Replaces the record: the deletion of each pod key (`namespace/name`) is expected.
    pub fn expect_deletions(&mut self, key: &str, pod_keys: impl IntoIterator<Item = String>, now: Timestamp) {
        let deleted_keys: BTreeSet<String> = pod_keys.into_iter().collect();
        let dels = i64::try_from(deleted_keys.len()).unwrap_or(i64::MAX);
        self.records.insert(key.to_owned(), Record { adds: 0, dels, deleted_keys, at: now });
    }

    /// One expected creation was observed (or will never happen).
    pub fn creation_observed(&mut self, key: &str) {
        if let Some(r) = self.records.get_mut(key) {
            r.adds -= 1;
        }
    }

    /// The deletion of `pod_key` was observed (or will never happen). Only a pod whose
    /// deletion was expected lowers the count, and only once.
    pub fn deletion_observed(&mut self, key: &str, pod_key: &str) {
        if let Some(r) = self.records.get_mut(key) {
            if r.deleted_keys.remove(pod_key) {
                r.dels -= 1;
            }
        }
    }

    /// Forgets the controller (it was deleted).
    pub fn delete(&mut self, key: &str) {
        self.records.remove(key);
    }

    /// Creations and deletions still expected for `key` (`(0, 0)` without a record).
    pub fn pending(&self, key: &str) -> (i64, i64) {
        self.records.get(key).map_or((0, 0), |r| (r.adds, r.dels))
    }
}

#[cfg(test)]
mod tests {
    use super::super::pod::testutil::t;
    use super::*;

    #[test]
    fn no_record_is_satisfied() {
        assert!(Expectations::new().satisfied("ns/a", t(0)));
    }

    #[test]
    fn creations_must_be_observed() {
        let mut e = Expectations::new();
        e.expect_creations("ns/a", 2, t(0));
        assert!(!e.satisfied("ns/a", t(1)));
        e.creation_observed("ns/a");
        assert!(!e.satisfied("ns/a", t(1)));
        e.creation_observed("ns/a");
        assert!(e.satisfied("ns/a", t(1)));
        assert!(e.satisfied("ns/other", t(1)));
        // Extra observations keep it satisfied.
        e.creation_observed("ns/a");
        assert!(e.satisfied("ns/a", t(1)));
        assert_eq!(e.pending("ns/a"), (-1, 0));
    }

    #[test]
    fn deletions_are_tracked_by_pod_key() {
        let mut e = Expectations::new();
        e.expect_deletions("ns/a", ["ns/p1".to_string(), "ns/p2".to_string()], t(0));
        e.deletion_observed("ns/a", "ns/unrelated");
        e.deletion_observed("ns/a", "ns/p1");
        e.deletion_observed("ns/a", "ns/p1");
        assert_eq!(e.pending("ns/a"), (0, 1));
        assert!(!e.satisfied("ns/a", t(0)));
        e.deletion_observed("ns/a", "ns/p2");
        assert!(e.satisfied("ns/a", t(0)));
    }

    #[test]
    fn expectations_expire_after_ttl() {
        let mut e = Expectations::new();
        e.expect_creations("ns/a", 1, t(0));
        assert!(!e.satisfied("ns/a", t(300)), "exactly the TTL is not expired");
        assert!(e.satisfied("ns/a", t(301)));
        let mut short = Expectations::with_ttl(Duration::from_secs(10));
        short.expect_creations("ns/a", 1, t(0));
        assert!(short.satisfied("ns/a", t(11)));
    }

    #[test]
    fn new_expectations_replace_old_and_delete_forgets() {
        let mut e = Expectations::new();
        e.expect_creations("ns/a", 5, t(0));
        e.expect_deletions("ns/a", ["ns/p".to_string()], t(1));
        assert_eq!(e.pending("ns/a"), (0, 1));
        e.delete("ns/a");
        assert!(e.satisfied("ns/a", t(1)));
        e.creation_observed("ns/a");
        assert_eq!(e.pending("ns/a"), (0, 0), "observations without a record are ignored");
    }
}
