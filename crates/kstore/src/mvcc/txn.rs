//! Writes: put, delete-range and transactions. A write transaction gets the next revision;
//! its changes get sub-revisions 0, 1, 2 … Reads inside a transaction see its own earlier
//! writes. On any error the transaction is rolled back, so nothing changes.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{KeyRange, Mvcc, MvccError};
use crate::types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event, EventKind, KeyValue,
    PutRequest, PutResponse, RequestOp, ResponseOp, TxnRequest, TxnResponse,
};

/// Most operations in one transaction (etcd's `--max-txn-ops` default).
pub const MAX_TXN_OPS: usize = 128;

struct WriteTxn<'a> {
    store: &'a mut Mvcc,
    /// The revision this transaction writes at.
    rev: i64,
    sub: i64,
    events: Vec<Event>,
    lease_exists: &'a dyn Fn(i64) -> bool,
}

impl Mvcc {
    /// Writes one key.
    pub fn put(
        &mut self,
        req: &PutRequest,
        lease_exists: &dyn Fn(i64) -> bool,
    ) -> Result<(PutResponse, Vec<Event>), MvccError> {
        let (resp, events) = self.write_txn(lease_exists, |tx| tx.put(req))?;
        Ok((resp, events))
    }

    /// Deletes a key or range.
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<(DeleteRangeResponse, Vec<Event>), MvccError> {
        self.write_txn(&|_| true, |tx| tx.delete(req))
    }

    /// Deletes the given keys in one revision (lease expiry). Missing keys are skipped.
    pub fn delete_keys(&mut self, keys: &[Bytes]) -> Vec<Event> {
        let result = self.write_txn(&|_| true, |tx| {
            for key in keys {
                tx.delete(&DeleteRangeRequest { key: key.clone(), ..DeleteRangeRequest::default() })?;
            }
            Ok(())
        });
        // Deleting single, non-empty keys cannot fail; an empty key is simply skipped.
        result.map(|(_, events)| events).unwrap_or_default()
    }

    /// Runs a transaction.
    pub fn txn(
        &mut self,
        req: &TxnRequest,
        lease_exists: &dyn Fn(i64) -> bool,
    ) -> Result<(TxnResponse, Vec<Event>), MvccError> {
        check_txn(req)?;
        self.write_txn(lease_exists, |tx| tx.txn(req))
    }

    fn write_txn<T>(
        &mut self,
        lease_exists: &dyn Fn(i64) -> bool,
        f: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, MvccError>,
    ) -> Result<(T, Vec<Event>), MvccError> {
        let rev = self.revision + 1;
        let mut tx = WriteTxn { store: self, rev, sub: 0, events: Vec::new(), lease_exists };
        match f(&mut tx) {
            Ok(out) => {
                let events = std::mem::take(&mut tx.events);
                if !events.is_empty() {
                    self.revision = rev;
                }
                Ok((out, events))
            }
            Err(e) => {
                let written: Vec<Bytes> = tx.events.iter().map(|ev| ev.kv.key.clone()).collect();
                self.rollback(rev, &written);
                Err(e)
            }
        }
    }

    fn rollback(&mut self, rev: i64, keys: &[Bytes]) {
        for key in keys {
            if let Some(h) = self.keys.get_mut(key) {
                h.versions.retain(|v| v.main != rev);
                if h.versions.is_empty() {
                    self.keys.remove(key);
                }
            }
        }
        let _ = self.changes.split_off(&(rev, 0));
    }
}

impl WriteTxn<'_> {
    /// The revision reads inside the transaction report.
    fn read_rev(&self) -> i64 {
        if self.events.is_empty() { self.store.revision } else { self.rev }
    }

    fn put(&mut self, req: &PutRequest) -> Result<PutResponse, MvccError> {
        if req.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        if req.ignore_value && !req.value.is_empty() {
            return Err(MvccError::ValueProvided);
        }
        if req.ignore_lease && req.lease != 0 {
            return Err(MvccError::LeaseProvided);
        }
        let existing = self.store.get(&req.key).cloned();
        if (req.ignore_value || req.ignore_lease) && existing.is_none() {
            return Err(MvccError::KeyNotFound);
        }
        let value = match (&existing, req.ignore_value) {
            (Some(kv), true) => kv.value.clone(),
            _ => req.value.clone(),
        };
        let lease = match (&existing, req.ignore_lease) {
            (Some(kv), true) => kv.lease,
            _ => req.lease,
        };
        if lease != 0 && !(self.lease_exists)(lease) {
            return Err(MvccError::LeaseNotFound);
        }
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: existing.as_ref().map_or(self.rev, |kv| kv.create_revision),
            mod_revision: self.rev,
            version: existing.as_ref().map_or(1, |kv| kv.version + 1),
            value,
            lease,
        };
        let prev = self.store.write(self.rev, self.sub, req.key.clone(), Some(kv.clone()));
        self.sub += 1;
        self.events.push(Event { kind: EventKind::Put, kv, prev_kv: prev.clone() });
        Ok(PutResponse { revision: self.rev, prev_kv: if req.prev_kv { prev } else { None } })
    }

    fn delete(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse, MvccError> {
        if req.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        let range = KeyRange::new(req.key.clone(), req.range_end.clone());
        let (victims, _) = self.store.scan(&range, i64::MAX, 0);
        let mut prev_kvs = Vec::new();
        for kv in &victims {
            let tombstone = KeyValue { key: kv.key.clone(), mod_revision: self.rev, ..KeyValue::default() };
            let prev = self.store.write(self.rev, self.sub, kv.key.clone(), None);
            self.sub += 1;
            self.events.push(Event { kind: EventKind::Delete, kv: tombstone, prev_kv: prev });
            if req.prev_kv {
                prev_kvs.push(kv.clone());
            }
        }
        let revision = if victims.is_empty() { self.read_rev() } else { self.rev };
        Ok(DeleteRangeResponse { revision, deleted: victims.len() as i64, prev_kvs })
    }

    fn compare(&self, c: &Compare) -> bool {
        let range = KeyRange::new(c.key.clone(), c.range_end.clone());
        let (kvs, _) = self.store.scan(&range, i64::MAX, 0);
        if kvs.is_empty() {
            // A missing key has no value to compare (etcd: always false); its other
            // attributes are zero.
            return !matches!(c.target, CompareTarget::Value(_)) && compare_kv(c, &KeyValue::default());
        }
        kvs.iter().all(|kv| compare_kv(c, kv))
    }

    fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, MvccError> {
        let succeeded = req.compare.iter().all(|c| self.compare(c));
        let ops = if succeeded { &req.success } else { &req.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) => {
                    let rev = if r.revision == 0 { i64::MAX } else { self.store.check_rev(r.revision)? };
                    ResponseOp::Range(self.store.range_at(r, rev, self.read_rev())?)
                }
                RequestOp::Put(p) => ResponseOp::Put(self.put(p)?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(self.delete(d)?),
                RequestOp::Txn(t) => ResponseOp::Txn(self.txn(t)?),
            });
        }
        let revision = self.read_rev();
        Ok(TxnResponse { revision, succeeded, responses })
    }
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let ord = match &c.target {
        CompareTarget::Version(v) => kv.version.cmp(v),
        CompareTarget::Create(v) => kv.create_revision.cmp(v),
        CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
        CompareTarget::Lease(v) => kv.lease.cmp(v),
        CompareTarget::Value(v) => kv.value.as_ref().cmp(v.as_ref()),
    };
    match c.result {
        CompareResult::Equal => ord.is_eq(),
        CompareResult::Greater => ord.is_gt(),
        CompareResult::Less => ord.is_lt(),
        CompareResult::NotEqual => ord.is_ne(),
    }
}

/// Static checks of a transaction (etcd `checkTxnRequest` / `checkIntervals`): the number of
/// operations, and that no branch writes a key twice or deletes a key it also puts.
fn check_txn(req: &TxnRequest) -> Result<(), MvccError> {
    if req.compare.len().max(req.success.len()).max(req.failure.len()) > MAX_TXN_OPS {
        return Err(MvccError::TooManyOps);
    }
    for branch in [&req.success, &req.failure] {
        let mut puts = BTreeSet::new();
        let mut deletes = Vec::new();
        collect_writes(branch, &mut puts, &mut deletes)?;
        for del in &deletes {
            if puts.iter().any(|k: &Bytes| del.contains(k)) {
                return Err(MvccError::DuplicateKey);
            }
        }
        for op in branch.iter() {
            if let RequestOp::Txn(t) = op {
                check_txn(t)?;
            }
        }
    }
    Ok(())
}

fn collect_writes(ops: &[RequestOp], puts: &mut BTreeSet<Bytes>, deletes: &mut Vec<KeyRange>) -> Result<(), MvccError> {
    for op in ops {
        match op {
            RequestOp::Put(p) => {
                if !puts.insert(p.key.clone()) {
                    return Err(MvccError::DuplicateKey);
                }
            }
            RequestOp::DeleteRange(d) => deletes.push(KeyRange::new(d.key.clone(), d.range_end.clone())),
            RequestOp::Txn(t) => {
                // A nested transaction's writes count in whichever branch runs: check the
                // union conservatively, as etcd does.
                let mut nested_puts = BTreeSet::new();
                for branch in [&t.success, &t.failure] {
                    let mut p = BTreeSet::new();
                    collect_writes(branch, &mut p, deletes)?;
                    nested_puts.extend(p);
                }
                for k in nested_puts {
                    if !puts.insert(k) {
                        return Err(MvccError::DuplicateKey);
                    }
                }
            }
            RequestOp::Range(_) => {}
        }
    }
    Ok(())
}
