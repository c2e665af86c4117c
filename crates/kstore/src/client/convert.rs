//! Domain requests to etcd v3 messages, and etcd v3 responses back to domain types (the
//! opposite direction of the server's conversions).

use crate::proto::etcdserverpb as pb;
use crate::proto::mvccpb;
use crate::types::*;
use crate::watch::{WatchMessage, WatchRequest};

use pb::compare::{CompareResult as PbResult, CompareTarget as PbTarget, TargetUnion};

fn revision(h: Option<&pb::ResponseHeader>) -> i64 {
    h.map_or(0, |h| h.revision)
}

pub(super) fn range_request(r: &RangeRequest) -> pb::RangeRequest {
    pb::RangeRequest {
        key: r.key.clone(),
        range_end: r.range_end.clone(),
        limit: r.limit,
        revision: r.revision,
        sort_order: match r.sort_order {
            SortOrder::None => 0,
            SortOrder::Ascend => 1,
            SortOrder::Descend => 2,
        },
        sort_target: match r.sort_target {
            SortTarget::Key => 0,
            SortTarget::Version => 1,
            SortTarget::Create => 2,
            SortTarget::Mod => 3,
            SortTarget::Value => 4,
        },
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    }
}

pub(super) fn put_request(p: &PutRequest) -> pb::PutRequest {
    pb::PutRequest {
        key: p.key.clone(),
        value: p.value.clone(),
        lease: p.lease,
        prev_kv: p.prev_kv,
        ignore_value: p.ignore_value,
        ignore_lease: p.ignore_lease,
    }
}

pub(super) fn delete_request(d: &DeleteRangeRequest) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest { key: d.key.clone(), range_end: d.range_end.clone(), prev_kv: d.prev_kv }
}

fn compare(c: &Compare) -> pb::Compare {
    let (target, union) = match &c.target {
        CompareTarget::Version(v) => (PbTarget::Version, TargetUnion::Version(*v)),
        CompareTarget::Create(v) => (PbTarget::Create, TargetUnion::CreateRevision(*v)),
        CompareTarget::Mod(v) => (PbTarget::Mod, TargetUnion::ModRevision(*v)),
        CompareTarget::Value(v) => (PbTarget::Value, TargetUnion::Value(v.clone())),
        CompareTarget::Lease(v) => (PbTarget::Lease, TargetUnion::Lease(*v)),
    };
    let result = match c.result {
        CompareResult::Equal => PbResult::Equal,
        CompareResult::Greater => PbResult::Greater,
        CompareResult::Less => PbResult::Less,
        CompareResult::NotEqual => PbResult::NotEqual,
    };
    pb::Compare {
        result: result as i32,
        target: target as i32,
        key: c.key.clone(),
        range_end: c.range_end.clone(),
        target_union: Some(union),
    }
}

fn request_op(op: &RequestOp) -> pb::RequestOp {
    use pb::request_op::Request;
    let request = match op {
        RequestOp::Range(r) => Request::RequestRange(range_request(r)),
        RequestOp::Put(p) => Request::RequestPut(put_request(p)),
        RequestOp::DeleteRange(d) => Request::RequestDeleteRange(delete_request(d)),
        RequestOp::Txn(t) => Request::RequestTxn(txn_request(t)),
    };
    pb::RequestOp { request: Some(request) }
}

pub(super) fn txn_request(t: &TxnRequest) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: t.compare.iter().map(compare).collect(),
        success: t.success.iter().map(request_op).collect(),
        failure: t.failure.iter().map(request_op).collect(),
    }
}

pub(super) fn key_value(kv: mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub(super) fn range_response(r: pb::RangeResponse) -> RangeResponse {
    RangeResponse {
        revision: revision(r.header.as_ref()),
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

pub(super) fn put_response(r: pb::PutResponse) -> PutResponse {
    PutResponse { revision: revision(r.header.as_ref()), prev_kv: r.prev_kv.map(key_value) }
}

pub(super) fn delete_response(r: pb::DeleteRangeResponse) -> DeleteRangeResponse {
    DeleteRangeResponse {
        revision: revision(r.header.as_ref()),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

pub(super) fn txn_response(r: pb::TxnResponse) -> TxnResponse {
    use pb::response_op::Response;
    let responses = r
        .responses
        .into_iter()
        .filter_map(|op| {
            Some(match op.response? {
                Response::ResponseRange(r) => ResponseOp::Range(range_response(r)),
                Response::ResponsePut(p) => ResponseOp::Put(put_response(p)),
                Response::ResponseDeleteRange(d) => ResponseOp::DeleteRange(delete_response(d)),
                Response::ResponseTxn(t) => ResponseOp::Txn(txn_response(t)),
            })
        })
        .collect();
    TxnResponse { revision: revision(r.header.as_ref()), succeeded: r.succeeded, responses }
}

pub(super) fn watch_create(w: &WatchRequest) -> pb::WatchRequest {
    let mut filters = Vec::new();
    if w.no_put {
        filters.push(0);
    }
    if w.no_delete {
        filters.push(1);
    }
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: w.key.clone(),
            range_end: w.range_end.clone(),
            start_revision: w.start_revision,
            progress_notify: w.progress_notify,
            filters,
            prev_kv: w.prev_kv,
            watch_id: w.watch_id,
            fragment: false,
        })),
    }
}

pub(super) fn watch_response(r: pb::WatchResponse) -> WatchMessage {
    let rev = revision(r.header.as_ref());
    if r.created {
        return WatchMessage::Created { watch_id: r.watch_id, revision: rev };
    }
    if r.canceled || r.compact_revision != 0 {
        return WatchMessage::Canceled {
            watch_id: r.watch_id,
            compact_revision: r.compact_revision,
            reason: r.cancel_reason,
        };
    }
    if r.events.is_empty() {
        return WatchMessage::Progress { watch_id: r.watch_id, revision: rev };
    }
    let events = r
        .events
        .into_iter()
        .map(|e| Event {
            kind: if e.r#type == 1 { EventKind::Delete } else { EventKind::Put },
            kv: e.kv.map(key_value).unwrap_or_default(),
            prev_kv: e.prev_kv.map(key_value),
        })
        .collect();
    WatchMessage::Events { watch_id: r.watch_id, revision: rev, events }
}
