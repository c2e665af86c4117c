//! Wire checks of the generated etcd v3 types against hand-computed protobuf bytes.
//!
//! A wrong field number still compiles and round-trips through our own code, yet silently
//! breaks etcdctl; these tests pin the numbers (and enum values) byte for byte. A field's
//! tag byte is `number << 3 | wire_type` (varint 0, length-delimited 2).

use prost::Message;

use super::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmType, CompactionRequest, Compare, DeleteRangeRequest, HashKvResponse,
    LeaseGrantRequest, LeaseTimeToLiveResponse, Member, MoveLeaderRequest, PutRequest, RangeRequest, RequestOp,
    ResponseHeader, SnapshotResponse, StatusResponse, TxnRequest, WatchCancelRequest, WatchCreateRequest,
    WatchProgressRequest, WatchRequest, WatchResponse, alarm_request, compare, range_request, request_op,
    watch_create_request, watch_request,
};
use super::mvccpb::{Event, KeyValue, event};

/// Encodes `msg`, checks the bytes, and checks that decoding `want` gives `msg` back.
fn assert_wire<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M, want: &[u8]) {
    assert_eq!(msg.encode_to_vec(), want, "encoding of {msg:?}");
    assert_eq!(&M::decode(want).expect("decode"), msg, "decoding of {want:02x?}");
}

#[test]
fn put_request_fields() {
    let put = PutRequest {
        key: bytes::Bytes::from_static(b"a"),
        value: bytes::Bytes::from_static(b"b"),
        lease: 5,
        ..Default::default()
    };
    assert_wire(&put, &[0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x18, 0x05]);

    let flags = PutRequest { prev_kv: true, ignore_value: true, ignore_lease: true, ..Default::default() };
    assert_wire(&flags, &[0x20, 0x01, 0x28, 0x01, 0x30, 0x01]);
}

#[test]
fn range_request_fields_and_enums() {
    let range = RangeRequest {
        key: bytes::Bytes::from_static(b"a"),
        range_end: bytes::Bytes::from_static(b"b"),
        limit: 10,
        revision: 7,
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Mod as i32,
        serializable: true,
        keys_only: true,
        count_only: true,
        min_mod_revision: 1,
        max_mod_revision: 2,
        min_create_revision: 3,
        max_create_revision: 4,
    };
    #[rustfmt::skip]
    let want = [
        0x0a, 0x01, b'a', // key = 1
        0x12, 0x01, b'b', // range_end = 2
        0x18, 0x0a,       // limit = 3
        0x20, 0x07,       // revision = 4
        0x28, 0x02,       // sort_order = 5: DESCEND = 2
        0x30, 0x03,       // sort_target = 6: MOD = 3
        0x38, 0x01,       // serializable = 7
        0x40, 0x01,       // keys_only = 8
        0x48, 0x01,       // count_only = 9
        0x50, 0x01,       // min_mod_revision = 10
        0x58, 0x02,       // max_mod_revision = 11
        0x60, 0x03,       // min_create_revision = 12
        0x68, 0x04,       // max_create_revision = 13
    ];
    assert_wire(&range, &want);

    use range_request::{SortOrder, SortTarget};
    assert_eq!([SortOrder::None, SortOrder::Ascend, SortOrder::Descend].map(|o| o as i32), [0, 1, 2]);
    assert_eq!(
        [SortTarget::Key, SortTarget::Version, SortTarget::Create, SortTarget::Mod, SortTarget::Value]
            .map(|t| t as i32),
        [0, 1, 2, 3, 4]
    );
}

#[test]
fn delete_range_and_compaction_fields() {
    let del = DeleteRangeRequest {
        key: bytes::Bytes::from_static(b"a"),
        range_end: bytes::Bytes::from_static(b"b"),
        prev_kv: true,
    };
    assert_wire(&del, &[0x0a, 0x01, b'a', 0x12, 0x01, b'b', 0x18, 0x01]);
    assert_wire(&CompactionRequest { revision: 5, physical: true }, &[0x08, 0x05, 0x10, 0x01]);
}

#[test]
fn compare_target_union_and_range_end() {
    let cmp = Compare {
        result: compare::CompareResult::NotEqual as i32,
        target: compare::CompareTarget::Lease as i32,
        key: bytes::Bytes::from_static(b"k"),
        range_end: bytes::Bytes::from_static(b"z"),
        target_union: Some(compare::TargetUnion::Lease(9)),
    };
    #[rustfmt::skip]
    let want = [
        0x08, 0x03,             // result = 1: NOT_EQUAL = 3
        0x10, 0x04,             // target = 2: LEASE = 4
        0x1a, 0x01, b'k',       // key = 3
        0x40, 0x09,             // lease = 8
        0x82, 0x04, 0x01, b'z', // range_end = 64: tag 64 << 3 | 2 = 514 = varint 82 04
    ];
    assert_wire(&cmp, &want);

    // The other members of target_union: version = 4, create_revision = 5, mod_revision = 6, value = 7.
    let union = |u| Compare { target_union: Some(u), ..Default::default() };
    assert_wire(&union(compare::TargetUnion::Version(1)), &[0x20, 0x01]);
    assert_wire(&union(compare::TargetUnion::CreateRevision(2)), &[0x28, 0x02]);
    assert_wire(&union(compare::TargetUnion::ModRevision(3)), &[0x30, 0x03]);
    assert_wire(&union(compare::TargetUnion::Value(bytes::Bytes::from_static(b"v"))), &[0x3a, 0x01, b'v']);
    // A oneof member set to its default value is still sent, so "version == 0" is expressible.
    assert_wire(&union(compare::TargetUnion::Version(0)), &[0x20, 0x00]);

    use compare::{CompareResult, CompareTarget};
    assert_eq!(
        [CompareResult::Equal, CompareResult::Greater, CompareResult::Less, CompareResult::NotEqual].map(|r| r as i32),
        [0, 1, 2, 3]
    );
    assert_eq!(
        [CompareTarget::Version, CompareTarget::Create, CompareTarget::Mod, CompareTarget::Value, CompareTarget::Lease]
            .map(|t| t as i32),
        [0, 1, 2, 3, 4]
    );
}

#[test]
fn txn_request_ops() {
    let put = PutRequest { key: bytes::Bytes::from_static(b"a"), ..Default::default() };
    let txn = TxnRequest {
        compare: vec![Compare { key: bytes::Bytes::from_static(b"k"), ..Default::default() }],
        success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
        failure: vec![RequestOp { request: Some(request_op::Request::RequestTxn(TxnRequest::default())) }],
    };
    #[rustfmt::skip]
    let want = [
        0x0a, 0x03, 0x1a, 0x01, b'k',             // compare = 1 { key = 3 }
        0x12, 0x05, 0x12, 0x03, 0x0a, 0x01, b'a', // success = 2 { request_put = 2 { key = 1 } }
        0x1a, 0x02, 0x22, 0x00,                   // failure = 3 { request_txn = 4 {} }
    ];
    assert_wire(&txn, &want);

    // request_range = 1, request_delete_range = 3.
    let op = |r| RequestOp { request: Some(r) };
    assert_wire(&op(request_op::Request::RequestRange(RangeRequest::default())), &[0x0a, 0x00]);
    assert_wire(&op(request_op::Request::RequestDeleteRange(DeleteRangeRequest::default())), &[0x1a, 0x00]);
}

#[test]
fn watch_request_oneof_and_create_fields() {
    let create = WatchCreateRequest {
        key: bytes::Bytes::from_static(b"a"),
        range_end: bytes::Bytes::from_static(b"b"),
        start_revision: 5,
        progress_notify: true,
        filters: vec![watch_create_request::FilterType::Nodelete as i32],
        prev_kv: true,
        watch_id: 3,
        fragment: true,
    };
    #[rustfmt::skip]
    let want = [
        0x0a, 0x13,             // create_request = 1, 19 bytes
        0x0a, 0x01, b'a',       // key = 1
        0x12, 0x01, b'b',       // range_end = 2
        0x18, 0x05,             // start_revision = 3
        0x20, 0x01,             // progress_notify = 4
        0x2a, 0x01, 0x01,       // filters = 5, packed: NODELETE = 1
        0x30, 0x01,             // prev_kv = 6
        0x38, 0x03,             // watch_id = 7
        0x40, 0x01,             // fragment = 8
    ];
    assert_wire(&WatchRequest { request_union: Some(watch_request::RequestUnion::CreateRequest(create)) }, &want);

    // etcd's Go encoder also packs filters, but a decoder must accept the unpacked form too.
    let unpacked = WatchCreateRequest::decode(&[0x28, 0x00, 0x28, 0x01][..]).expect("decode");
    assert_eq!(unpacked.filters, [0, 1]);

    let cancel = watch_request::RequestUnion::CancelRequest(WatchCancelRequest { watch_id: 7 });
    assert_wire(&WatchRequest { request_union: Some(cancel) }, &[0x12, 0x02, 0x08, 0x07]);
    let progress = watch_request::RequestUnion::ProgressRequest(WatchProgressRequest {});
    assert_wire(&WatchRequest { request_union: Some(progress) }, &[0x1a, 0x00]);
}

#[test]
fn watch_response_and_event_fields() {
    let kv = KeyValue { key: bytes::Bytes::from_static(b"a"), mod_revision: 4, ..Default::default() };
    let resp = WatchResponse {
        header: Some(ResponseHeader { revision: 4, ..Default::default() }),
        watch_id: 1,
        created: true,
        canceled: true,
        compact_revision: 9,
        cancel_reason: "x".to_owned(),
        fragment: true,
        events: vec![Event { r#type: event::EventType::Delete as i32, kv: Some(kv), prev_kv: None }],
    };
    #[rustfmt::skip]
    let want = [
        0x0a, 0x02, 0x18, 0x04, // header = 1 { revision = 3 }
        0x10, 0x01,             // watch_id = 2
        0x18, 0x01,             // created = 3
        0x20, 0x01,             // canceled = 4
        0x28, 0x09,             // compact_revision = 5
        0x32, 0x01, b'x',       // cancel_reason = 6
        0x38, 0x01,             // fragment = 7
        0x5a, 0x09,             // events = 11, 9 bytes
        0x08, 0x01,             //   type = 1: DELETE = 1
        0x12, 0x05,             //   kv = 2, 5 bytes
        0x0a, 0x01, b'a',       //     key = 1
        0x18, 0x04,             //     mod_revision = 3
    ];
    assert_wire(&resp, &want);

    let prev = Event { prev_kv: Some(KeyValue::default()), ..Default::default() };
    assert_wire(&prev, &[0x1a, 0x00]);
    assert_eq!(event::EventType::Put as i32, 0);
}

#[test]
fn key_value_and_header_fields() {
    let kv = KeyValue {
        key: bytes::Bytes::from_static(b"k"),
        create_revision: 2,
        mod_revision: 3,
        version: 4,
        value: bytes::Bytes::from_static(b"v"),
        lease: 6,
    };
    assert_wire(&kv, &[0x0a, 0x01, b'k', 0x10, 0x02, 0x18, 0x03, 0x20, 0x04, 0x2a, 0x01, b'v', 0x30, 0x06]);

    let header = ResponseHeader { cluster_id: 1, member_id: 2, revision: 3, raft_term: 4 };
    assert_wire(&header, &[0x08, 0x01, 0x10, 0x02, 0x18, 0x03, 0x20, 0x04]);
}

#[test]
fn lease_fields() {
    assert_wire(&LeaseGrantRequest { ttl: 60, id: 2 }, &[0x08, 0x3c, 0x10, 0x02]);
    let ttl = LeaseTimeToLiveResponse {
        header: None,
        id: 1,
        ttl: 2,
        granted_ttl: 3,
        keys: vec![bytes::Bytes::from_static(b"a")],
    };
    assert_wire(&ttl, &[0x10, 0x01, 0x18, 0x02, 0x20, 0x03, 0x2a, 0x01, b'a']);
    // A negative int64 is a 10-byte varint (not zigzag): TTL = -1 for an unknown lease.
    let gone = LeaseTimeToLiveResponse { ttl: -1, ..Default::default() };
    assert_wire(&gone, &[0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
}

#[test]
fn member_fields() {
    let member = Member {
        id: 1,
        name: "n".to_owned(),
        peer_ur_ls: vec!["p".to_owned()],
        client_ur_ls: vec!["c".to_owned()],
        is_learner: true,
    };
    assert_wire(&member, &[0x08, 0x01, 0x12, 0x01, b'n', 0x1a, 0x01, b'p', 0x22, 0x01, b'c', 0x28, 0x01]);
}

#[test]
fn maintenance_fields() {
    let status = StatusResponse {
        header: None,
        version: "3.4".to_owned(),
        db_size: 3,
        leader: 4,
        raft_index: 5,
        raft_term: 6,
        raft_applied_index: 7,
        errors: vec!["e".to_owned()],
        db_size_in_use: 9,
        is_learner: true,
    };
    #[rustfmt::skip]
    let want = [
        0x12, 0x03, b'3', b'.', b'4', // version = 2
        0x18, 0x03,                   // dbSize = 3
        0x20, 0x04,                   // leader = 4
        0x28, 0x05,                   // raftIndex = 5
        0x30, 0x06,                   // raftTerm = 6
        0x38, 0x07,                   // raftAppliedIndex = 7
        0x42, 0x01, b'e',             // errors = 8
        0x48, 0x09,                   // dbSizeInUse = 9
        0x50, 0x01,                   // isLearner = 10
    ];
    assert_wire(&status, &want);

    let alarm = AlarmRequest {
        action: alarm_request::AlarmAction::Deactivate as i32,
        member_id: 2,
        alarm: AlarmType::Corrupt as i32,
    };
    assert_wire(&alarm, &[0x08, 0x02, 0x10, 0x02, 0x18, 0x02]);
    assert_wire(&AlarmMember { member_id: 1, alarm: AlarmType::Nospace as i32 }, &[0x08, 0x01, 0x10, 0x01]);

    let chunk = SnapshotResponse { header: None, remaining_bytes: 2, blob: bytes::Bytes::from_static(b"b") };
    assert_wire(&chunk, &[0x10, 0x02, 0x1a, 0x01, b'b']);
    assert_wire(&HashKvResponse { header: None, hash: 2, compact_revision: 3 }, &[0x10, 0x02, 0x18, 0x03]);
    assert_wire(&MoveLeaderRequest { target_id: 1 }, &[0x08, 0x01]);
}

#[test]
fn services_exist_with_etcd_names() {
    use super::etcdserverpb::{cluster_server, kv_server, lease_server, maintenance_server, watch_server};

    // Server traits and service wrappers; `NAME` is the gRPC path prefix etcd clients call.
    fn named<S: tonic::server::NamedService>() -> &'static str {
        S::NAME
    }
    struct NoKv;
    #[tonic::async_trait]
    impl kv_server::Kv for NoKv {
        async fn range(
            &self,
            _: tonic::Request<RangeRequest>,
        ) -> Result<tonic::Response<super::etcdserverpb::RangeResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("range"))
        }
        async fn put(
            &self,
            _: tonic::Request<PutRequest>,
        ) -> Result<tonic::Response<super::etcdserverpb::PutResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("put"))
        }
        async fn delete_range(
            &self,
            _: tonic::Request<DeleteRangeRequest>,
        ) -> Result<tonic::Response<super::etcdserverpb::DeleteRangeResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("delete_range"))
        }
        async fn txn(
            &self,
            _: tonic::Request<TxnRequest>,
        ) -> Result<tonic::Response<super::etcdserverpb::TxnResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("txn"))
        }
        async fn compact(
            &self,
            _: tonic::Request<CompactionRequest>,
        ) -> Result<tonic::Response<super::etcdserverpb::CompactionResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("compact"))
        }
    }
    assert_eq!(named::<kv_server::KvServer<NoKv>>(), "etcdserverpb.KV");
    assert_eq!(kv_server::SERVICE_NAME, "etcdserverpb.KV");
    assert_eq!(watch_server::SERVICE_NAME, "etcdserverpb.Watch");
    assert_eq!(lease_server::SERVICE_NAME, "etcdserverpb.Lease");
    assert_eq!(cluster_server::SERVICE_NAME, "etcdserverpb.Cluster");
    assert_eq!(maintenance_server::SERVICE_NAME, "etcdserverpb.Maintenance");

    // Client types (generic over the transport; Channel with the transport feature).
    let _: Option<super::etcdserverpb::kv_client::KvClient<tonic::transport::Channel>> = None;
    let _: Option<super::etcdserverpb::watch_client::WatchClient<tonic::transport::Channel>> = None;
    let _: Option<super::etcdserverpb::lease_client::LeaseClient<tonic::transport::Channel>> = None;
    let _: Option<super::etcdserverpb::cluster_client::ClusterClient<tonic::transport::Channel>> = None;
    let _: Option<super::etcdserverpb::maintenance_client::MaintenanceClient<tonic::transport::Channel>> = None;
}
