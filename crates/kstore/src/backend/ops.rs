//! The backend operations as etcd requests, shared by both backends: each backend only
//! says how to send a range, a transaction, a deletion, a compaction and a lease grant
//! ([`Kv`]); the requests sent and the reading of the answers are the same for both.

use std::future::Future;

use bytes::Bytes;

use super::{BackendError, DeleteResponse, GetResponse, ListOptions, ListResponse, WatchOptions};
use crate::types::*;
use crate::watch::WatchRequest;

/// The etcd calls a backend makes.
pub(super) trait Kv: Send + Sync {
    /// A range read.
    fn range(&self, req: RangeRequest) -> impl Future<Output = Result<RangeResponse, BackendError>> + Send;
    /// A transaction.
    fn txn(&self, req: TxnRequest) -> impl Future<Output = Result<TxnResponse, BackendError>> + Send;
    /// A deletion.
    fn delete_range(
        &self,
        req: DeleteRangeRequest,
    ) -> impl Future<Output = Result<DeleteRangeResponse, BackendError>> + Send;
    /// A compaction.
    fn compact(&self, revision: i64) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// A lease grant; returns the id.
    fn lease_grant(&self, ttl: i64) -> impl Future<Output = Result<i64, BackendError>> + Send;
}

fn check_key(what: &str, key: &[u8]) -> Result<(), BackendError> {
    if key.is_empty() {
        return Err(BackendError::InvalidArgument(format!("{what}: the key is empty")));
    }
    Ok(())
}

fn mod_revision_is(key: &Bytes, revision: i64) -> Compare {
    Compare {
        key: key.clone(),
        range_end: Bytes::new(),
        result: CompareResult::Equal,
        target: CompareTarget::Mod(revision),
    }
}

pub(super) async fn get(kv: &impl Kv, key: Bytes) -> Result<GetResponse, BackendError> {
    check_key("get", &key)?;
    let resp = kv.range(RangeRequest::key(key)).await?;
    Ok(GetResponse { revision: resp.revision, kv: resp.kvs.into_iter().next() })
}

pub(super) async fn list(kv: &impl Kv, prefix: Bytes, opts: ListOptions) -> Result<ListResponse, BackendError> {
    check_key("list", &prefix)?;
    if opts.limit < 0 || opts.revision < 0 {
        return Err(BackendError::InvalidArgument(format!(
            "list: negative limit ({}) or revision ({})",
            opts.limit, opts.revision
        )));
    }
    let range_end = prefix_end(&prefix);
    let key = match opts.continue_from_key {
        Some(key) if !key.starts_with(&prefix) => {
            return Err(BackendError::InvalidArgument(format!(
                "list: continue key {:?} is outside the prefix {:?}",
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&prefix)
            )));
        }
        Some(key) => key,
        None => prefix,
    };
    let req = RangeRequest {
        key,
        range_end,
        limit: opts.limit,
        revision: opts.revision,
        count_only: opts.count_only,
        ..RangeRequest::default()
    };
    let resp = kv.range(req).await?;
    // etcd's header carries the store's current revision even for a read in the past.
    let revision = if opts.revision > 0 { opts.revision } else { resp.revision };
    Ok(ListResponse { revision, items: resp.kvs, more: resp.more, count: resp.count })
}

pub(super) async fn count(kv: &impl Kv, prefix: Bytes) -> Result<i64, BackendError> {
    check_key("count", &prefix)?;
    let req = RangeRequest { count_only: true, ..RangeRequest::prefix(prefix) };
    Ok(kv.range(req).await?.count)
}

pub(super) async fn create(kv: &impl Kv, key: Bytes, value: Bytes, lease: Option<i64>) -> Result<i64, BackendError> {
    check_key("create", &key)?;
    let lease = lease.unwrap_or(0);
    let txn = TxnRequest {
        compare: vec![mod_revision_is(&key, 0)],
        success: vec![RequestOp::Put(PutRequest { key: key.clone(), value, lease, ..PutRequest::default() })],
        failure: vec![],
    };
    let resp = kv.txn(txn).await.map_err(|e| e.for_lease(lease))?;
    if resp.succeeded { Ok(resp.revision) } else { Err(BackendError::AlreadyExists { key }) }
}

/// The key-value a failed transaction's `Range(key)` read.
fn current(resp: TxnResponse) -> Option<Box<KeyValue>> {
    resp.responses.into_iter().find_map(|op| match op {
        ResponseOp::Range(r) => r.kvs.into_iter().next().map(Box::new),
        _ => None,
    })
}

pub(super) async fn update(
    kv: &impl Kv,
    key: Bytes,
    value: Bytes,
    expected: i64,
    lease: Option<i64>,
) -> Result<i64, BackendError> {
    check_key("update", &key)?;
    if expected < 0 {
        return Err(BackendError::InvalidArgument(format!("update: negative mod revision {expected}")));
    }
    let lease = lease.unwrap_or(0);
    let txn = TxnRequest {
        compare: vec![mod_revision_is(&key, expected)],
        success: vec![RequestOp::Put(PutRequest { key: key.clone(), value, lease, ..PutRequest::default() })],
        failure: vec![RequestOp::Range(RangeRequest::key(key.clone()))],
    };
    let resp = kv.txn(txn).await.map_err(|e| e.for_lease(lease))?;
    if resp.succeeded { Ok(resp.revision) } else { Err(BackendError::Conflict { key, current: current(resp) }) }
}

pub(super) async fn delete(kv: &impl Kv, key: Bytes, expected: Option<i64>) -> Result<DeleteResponse, BackendError> {
    check_key("delete", &key)?;
    let delete = DeleteRangeRequest { key: key.clone(), range_end: Bytes::new(), prev_kv: true };
    let (revision, prev) = match expected {
        None => {
            let resp = kv.delete_range(delete).await?;
            (resp.revision, resp.prev_kvs.into_iter().next())
        }
        Some(expected) => {
            let txn = TxnRequest {
                compare: vec![mod_revision_is(&key, expected)],
                success: vec![RequestOp::DeleteRange(delete)],
                failure: vec![RequestOp::Range(RangeRequest::key(key.clone()))],
            };
            let resp = kv.txn(txn).await?;
            if !resp.succeeded {
                return match current(resp) {
                    Some(current) => Err(BackendError::Conflict { key, current: Some(current) }),
                    None => Err(BackendError::NotFound { key }),
                };
            }
            let prev = resp.responses.into_iter().find_map(|op| match op {
                ResponseOp::DeleteRange(d) => d.prev_kvs.into_iter().next(),
                _ => None,
            });
            (resp.revision, prev)
        }
    };
    match prev {
        Some(prev_kv) => Ok(DeleteResponse { revision, prev_kv }),
        // Only with an expected revision of 0 on a missing key: nothing was deleted.
        None => Err(BackendError::NotFound { key }),
    }
}

pub(super) async fn compact(kv: &impl Kv, revision: i64) -> Result<(), BackendError> {
    if revision <= 0 {
        return Err(BackendError::InvalidArgument(format!("compact: revision {revision} is not positive")));
    }
    kv.compact(revision).await
}

pub(super) async fn current_revision(kv: &impl Kv) -> Result<i64, BackendError> {
    // A linearizable read of one (any) key: its header carries the current revision.
    let req = RangeRequest { count_only: true, ..RangeRequest::key(Bytes::from_static(b"\0")) };
    Ok(kv.range(req).await?.revision)
}

pub(super) async fn grant_lease(kv: &impl Kv, ttl_seconds: i64) -> Result<i64, BackendError> {
    if ttl_seconds <= 0 {
        return Err(BackendError::InvalidArgument(format!("grant lease: TTL {ttl_seconds} is not positive")));
    }
    kv.lease_grant(ttl_seconds).await
}

/// The store watch for a backend watch.
pub(super) fn watch_request(key: Bytes, opts: &WatchOptions) -> Result<WatchRequest, BackendError> {
    check_key("watch", &key)?;
    if opts.start_revision < 0 {
        return Err(BackendError::InvalidArgument(format!("watch: negative start revision {}", opts.start_revision)));
    }
    let range_end = if opts.prefix { prefix_end(&key) } else { Bytes::new() };
    Ok(WatchRequest {
        key,
        range_end,
        start_revision: opts.start_revision,
        progress_notify: opts.progress_notify,
        prev_kv: opts.prev_kv,
        ..WatchRequest::default()
    })
}
