//! Conversions between the generated etcd v3 messages and kstore's domain types.
//!
//! Requests are taken leniently, as etcd takes them: unknown enum values fall back to the
//! default, a negative revision means "latest", and a compare whose operand does not match
//! its target compares against zero (etcd reads the operand only if its type matches).

use bytes::Bytes;

use crate::proto::etcdserverpb as pb;
use crate::proto::mvccpb;
use crate::types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event, EventKind, KeyValue,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder, SortTarget, TxnRequest,
    TxnResponse,
};
use crate::watch::WatchRequest;

use pb::compare::{CompareResult as PbResult, CompareTarget as PbTarget, TargetUnion};
use pb::range_request::{SortOrder as PbOrder, SortTarget as PbSortTarget};

pub(crate) fn range_request(r: pb::RangeRequest) -> RangeRequest {
    let sort_order = match PbOrder::try_from(r.sort_order) {
        Ok(PbOrder::Ascend) => SortOrder::Ascend,
        Ok(PbOrder::Descend) => SortOrder::Descend,
        Ok(PbOrder::None) | Err(_) => SortOrder::None,
    };
    let sort_target = match PbSortTarget::try_from(r.sort_target) {
        Ok(PbSortTarget::Version) => SortTarget::Version,
        Ok(PbSortTarget::Create) => SortTarget::Create,
        Ok(PbSortTarget::Mod) => SortTarget::Mod,
        Ok(PbSortTarget::Value) => SortTarget::Value,
        Ok(PbSortTarget::Key) | Err(_) => SortTarget::Key,
    };
    RangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit.max(0),
        revision: r.revision.max(0),
        sort_order,
        sort_target,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    }
}

pub(crate) fn put_request(r: pb::PutRequest) -> PutRequest {
    PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub(crate) fn delete_request(r: pb::DeleteRangeRequest) -> DeleteRangeRequest {
    DeleteRangeRequest { key: r.key, range_end: r.range_end, prev_kv: r.prev_kv }
}

pub(crate) fn compare(c: pb::Compare) -> Compare {
    let result = match PbResult::try_from(c.result) {
        Ok(PbResult::Greater) => CompareResult::Greater,
        Ok(PbResult::Less) => CompareResult::Less,
        Ok(PbResult::NotEqual) => CompareResult::NotEqual,
        Ok(PbResult::Equal) | Err(_) => CompareResult::Equal,
    };
    let union = c.target_union;
    let int = |want: fn(&TargetUnion) -> Option<i64>| union.as_ref().and_then(want).unwrap_or(0);
    let target = match PbTarget::try_from(c.target) {
        Ok(PbTarget::Create) => CompareTarget::Create(int(|u| match u {
            TargetUnion::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Mod) => CompareTarget::Mod(int(|u| match u {
            TargetUnion::ModRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Value) => CompareTarget::Value(match &union {
            Some(TargetUnion::Value(v)) => Bytes::copy_from_slice(v),
            _ => Bytes::new(),
        }),
        Ok(PbTarget::Lease) => CompareTarget::Lease(int(|u| match u {
            TargetUnion::Lease(v) => Some(*v),
            _ => None,
        })),
        Ok(PbTarget::Version) | Err(_) => CompareTarget::Version(int(|u| match u {
            TargetUnion::Version(v) => Some(*v),
            _ => None,
        })),
    };
    Compare { key: c.key, range_end: c.range_end, result, target }
}

/// An operation; `None` for an empty `RequestOp`, which is skipped (etcd answers it with an
/// empty `ResponseOp`).
fn request_op(op: pb::RequestOp) -> Option<RequestOp> {
    use pb::request_op::Request;
    Some(match op.request? {
        Request::RequestRange(r) => RequestOp::Range(range_request(r)),
        Request::RequestPut(r) => RequestOp::Put(put_request(r)),
        Request::RequestDeleteRange(r) => RequestOp::DeleteRange(delete_request(r)),
        Request::RequestTxn(r) => RequestOp::Txn(txn_request(r)),
    })
}

pub(crate) fn txn_request(r: pb::TxnRequest) -> TxnRequest {
    TxnRequest {
        compare: r.compare.into_iter().map(compare).collect(),
        success: r.success.into_iter().filter_map(request_op).collect(),
        failure: r.failure.into_iter().filter_map(request_op).collect(),
    }
}

pub(crate) fn watch_request(r: pb::WatchCreateRequest) -> WatchRequest {
    use pb::watch_create_request::FilterType;
    let has = |f: FilterType| r.filters.contains(&(f as i32));
    // etcd: an empty key watches from the smallest key, `\0`.
    let key = if r.key.is_empty() { Bytes::from_static(b"\0") } else { r.key };
    WatchRequest {
        key,
        range_end: r.range_end,
        start_revision: r.start_revision.max(0),
        progress_notify: r.progress_notify,
        prev_kv: r.prev_kv,
        no_put: has(FilterType::Noput),
        no_delete: has(FilterType::Nodelete),
        watch_id: r.watch_id,
    }
}

pub(crate) fn key_value(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub(crate) fn event(e: Event) -> mvccpb::Event {
    let kind = match e.kind {
        EventKind::Put => mvccpb::event::EventType::Put,
        EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event { r#type: kind as i32, kv: Some(key_value(e.kv)), prev_kv: e.prev_kv.map(key_value) }
}

/// A header that carries only a revision: what etcd puts in the answers nested in a
/// transaction.
fn nested_header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader { revision, ..Default::default() })
}

/// The responses take their header from `header`; nested ones get [`nested_header`].
pub(crate) fn range_response(r: RangeResponse, header: Option<pb::ResponseHeader>) -> pb::RangeResponse {
    pb::RangeResponse { header, kvs: r.kvs.into_iter().map(key_value).collect(), more: r.more, count: r.count }
}

pub(crate) fn put_response(r: PutResponse, header: Option<pb::ResponseHeader>) -> pb::PutResponse {
    pb::PutResponse { header, prev_kv: r.prev_kv.map(key_value) }
}

pub(crate) fn delete_response(r: DeleteRangeResponse, header: Option<pb::ResponseHeader>) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse { header, deleted: r.deleted, prev_kvs: r.prev_kvs.into_iter().map(key_value).collect() }
}

pub(crate) fn txn_response(r: TxnResponse, header: Option<pb::ResponseHeader>) -> pb::TxnResponse {
    use pb::response_op::Response;
    let responses = r
        .responses
        .into_iter()
        .map(|op| {
            let response = match op {
                ResponseOp::Range(r) => {
                    let h = nested_header(r.revision);
                    Response::ResponseRange(range_response(r, h))
                }
                ResponseOp::Put(r) => {
                    let h = nested_header(r.revision);
                    Response::ResponsePut(put_response(r, h))
                }
                ResponseOp::DeleteRange(r) => {
                    let h = nested_header(r.revision);
                    Response::ResponseDeleteRange(delete_response(r, h))
                }
                ResponseOp::Txn(r) => {
                    let h = nested_header(r.revision);
                    Response::ResponseTxn(txn_response(r, h))
                }
            };
            pb::ResponseOp { response: Some(response) }
        })
        .collect();
    pb::TxnResponse { header, succeeded: r.succeeded, responses }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb_compare(target: PbTarget, union: Option<TargetUnion>) -> pb::Compare {
        pb::Compare {
            result: PbResult::Greater as i32,
            target: target as i32,
            key: bytes::Bytes::from_static(b"k"),
            target_union: union,
            range_end: bytes::Bytes::new(),
        }
    }

    #[test]
    fn compares_read_the_operand_of_their_target() {
        let c = compare(pb_compare(PbTarget::Mod, Some(TargetUnion::ModRevision(7))));
        assert_eq!((c.result, c.target), (CompareResult::Greater, CompareTarget::Mod(7)));
        let c = compare(pb_compare(PbTarget::Value, Some(TargetUnion::Value(bytes::Bytes::from_static(b"v")))));
        assert_eq!(c.target, CompareTarget::Value(Bytes::from_static(b"v")));
        // A mismatched or missing operand compares against zero, as in etcd.
        let c = compare(pb_compare(PbTarget::Create, Some(TargetUnion::Version(3))));
        assert_eq!(c.target, CompareTarget::Create(0));
        let c = compare(pb_compare(PbTarget::Lease, None));
        assert_eq!(c.target, CompareTarget::Lease(0));
        let mut odd = pb_compare(PbTarget::Version, Some(TargetUnion::Version(2)));
        odd.result = 42;
        assert_eq!(compare(odd).result, CompareResult::Equal);
    }

    #[test]
    fn ranges_are_taken_leniently() {
        let r = range_request(pb::RangeRequest {
            key: bytes::Bytes::from_static(b"a"),
            revision: -3,
            limit: -1,
            sort_order: 9,
            sort_target: PbSortTarget::Mod as i32,
            ..Default::default()
        });
        assert_eq!((r.revision, r.limit, r.sort_order, r.sort_target), (0, 0, SortOrder::None, SortTarget::Mod));
    }

    #[test]
    fn nested_transactions_and_empty_ops() {
        let inner = pb::TxnRequest {
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: bytes::Bytes::from_static(b"x"),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        };
        let outer = pb::TxnRequest {
            success: vec![
                pb::RequestOp { request: Some(pb::request_op::Request::RequestTxn(inner)) },
                pb::RequestOp { request: None },
            ],
            ..Default::default()
        };
        let t = txn_request(outer);
        assert_eq!(t.success.len(), 1);
        let RequestOp::Txn(inner) = &t.success[0] else { panic!("not a txn: {:?}", t.success[0]) };
        assert!(matches!(&inner.success[0], RequestOp::Put(p) if p.key == "x"));

        let resp = txn_response(
            TxnResponse {
                revision: 5,
                succeeded: true,
                responses: vec![ResponseOp::Put(PutResponse { revision: 5, prev_kv: None })],
            },
            None,
        );
        let Some(pb::response_op::Response::ResponsePut(put)) = &resp.responses[0].response else { panic!() };
        assert_eq!(put.header, Some(pb::ResponseHeader { revision: 5, ..Default::default() }));
    }

    #[test]
    fn watch_requests() {
        use pb::watch_create_request::FilterType;
        let w = watch_request(pb::WatchCreateRequest {
            key: bytes::Bytes::new(),
            range_end: bytes::Bytes::from_static(b"\0"),
            filters: vec![FilterType::Nodelete as i32, 17],
            ..Default::default()
        });
        assert_eq!(w.key, Bytes::from_static(b"\0"), "an empty key starts at the smallest key");
        assert!(w.no_delete && !w.no_put);
    }

    #[test]
    fn events_and_key_values() {
        let kv =
            KeyValue { key: "k".into(), create_revision: 2, mod_revision: 3, version: 2, value: "v".into(), lease: 9 };
        let e = event(Event { kind: EventKind::Delete, kv: kv.clone(), prev_kv: Some(kv) });
        assert_eq!(e.r#type, mvccpb::event::EventType::Delete as i32);
        let prev = e.prev_kv.unwrap();
        assert_eq!((&prev.key[..], prev.lease, prev.version), (&b"k"[..], 9, 2));
    }
}
