//! The remote client against an in-process gRPC server: every call round-trips to the
//! same domain values the in-process API returns.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kstore::client::{Client, ClientError, Code};
use kstore::watch::{WatchMessage, WatchRequest};
use kstore::*;
use tokio_util::sync::CancellationToken;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_client_round_trips() {
    let mut cfg = StoreConfig::single(1, None);
    cfg.tick = Duration::from_millis(10);
    let store = Arc::new(Store::open(cfg).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(kstore::grpc::serve(store.clone(), listener, stop.clone()));
    let c = Client::connect(&addr.to_string()).await.unwrap();

    let put = c.put(&PutRequest { key: b("a"), value: b("1"), ..Default::default() }).await.unwrap();
    assert_eq!(put.revision, 2);
    let mut w = c.watch(&WatchRequest { key: b("a"), prev_kv: true, ..Default::default() }).await.unwrap();
    assert!(matches!(w.next().await.unwrap(), Some(WatchMessage::Created { .. })));
    let cas = TxnRequest {
        compare: vec![Compare {
            key: b("a"),
            range_end: Bytes::new(),
            result: CompareResult::Equal,
            target: CompareTarget::Mod(2),
        }],
        success: vec![RequestOp::Put(PutRequest { key: b("a"), value: b("2"), prev_kv: true, ..Default::default() })],
        failure: vec![RequestOp::Range(RangeRequest::key(b("a")))],
    };
    let remote = c.txn(&cas).await.unwrap();
    assert!(remote.succeeded);
    let ResponseOp::Put(p) = &remote.responses[0] else { panic!() };
    assert_eq!(p.prev_kv.as_ref().unwrap().value, b("1"));
    let Some(WatchMessage::Events { events, .. }) = w.next().await.unwrap() else { panic!() };
    assert_eq!((events[0].kv.value.clone(), events[0].prev_kv.as_ref().unwrap().value.clone()), (b("2"), b("1")));

    let req = RangeRequest { key: b("a"), range_end: b("\0"), ..Default::default() };
    assert_eq!(c.range(&req).await.unwrap(), store.range(&req).await.unwrap());
    let (id, ttl) = c.lease_grant(0, 30).await.unwrap();
    assert_eq!(ttl, 30);
    assert_eq!(c.lease_keep_alive(id).await.unwrap(), 30);
    c.lease_revoke(id).await.unwrap();
    assert_eq!(c.lease_keep_alive(id).await.unwrap(), 0);
    let del = c.delete_range(&DeleteRangeRequest { key: b("a"), prev_kv: true, ..Default::default() }).await.unwrap();
    assert_eq!(del.deleted, 1);
    c.compact(3).await.unwrap();
    let err = c.range(&RangeRequest { revision: 2, ..RangeRequest::key(b("a")) }).await.unwrap_err();
    assert!(matches!(err, ClientError::Status { code: Code::OutOfRange, .. }), "{err}");
    assert_eq!(err.to_string(), "etcdserver: mvcc: required revision has been compacted");
    let (rev, term) = c.status().await.unwrap();
    assert_eq!(rev, store.revision());
    assert!(term >= 1);
    stop.cancel();
}
