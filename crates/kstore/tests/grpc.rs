//! The etcd v3 gRPC API end to end: an in-process store served on a loopback port, driven
//! by gRPC clients generated from the same protos (the etcdctl tests check the wire format
//! against a real etcd client).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;

#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub, dead_code)]
mod mvccpb {
    tonic::include_proto!("mvccpb");
}

#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub, dead_code)]
mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

use etcdserverpb as pb;
use kstore::grpc::{ClusterInfo, MemberInfo};
use pb::cluster_client::ClusterClient;
use pb::kv_client::KvClient;
use pb::lease_client::LeaseClient;
use pb::maintenance_client::MaintenanceClient;
use pb::watch_client::WatchClient;

const WAIT: Duration = Duration::from_secs(10);

async fn channel(served: &common::Served) -> Channel {
    Channel::from_shared(served.url()).unwrap().connect().await.unwrap()
}

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: bytes::Bytes::copy_from_slice(key.as_bytes()),
        value: bytes::Bytes::copy_from_slice(value.as_bytes()),
        ..Default::default()
    }
}

fn get(key: &str) -> pb::RangeRequest {
    pb::RangeRequest { key: bytes::Bytes::copy_from_slice(key.as_bytes()), ..Default::default() }
}

fn prefix(p: &str) -> pb::RangeRequest {
    let end = kstore::prefix_end(p.as_bytes()).to_vec();
    pb::RangeRequest { key: bytes::Bytes::copy_from_slice(p.as_bytes()), range_end: end.into(), ..Default::default() }
}

fn keys(resp: &pb::RangeResponse) -> Vec<String> {
    resp.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect()
}

fn op_put(key: &str, value: &str) -> pb::RequestOp {
    pb::RequestOp { request: Some(pb::request_op::Request::RequestPut(put(key, value))) }
}

fn op_get(key: &str) -> pb::RequestOp {
    pb::RequestOp { request: Some(pb::request_op::Request::RequestRange(get(key))) }
}

fn compare_value(key: &str, value: &str) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Value as i32,
        key: bytes::Bytes::copy_from_slice(key.as_bytes()),
        target_union: Some(pb::compare::TargetUnion::Value(bytes::Bytes::copy_from_slice(value.as_bytes()))),
        range_end: bytes::Bytes::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_and_range_with_prefix_limit_sort_and_revision() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    let first = kv.put(put("/a/1", "x")).await.unwrap().into_inner();
    let header = first.header.unwrap();
    assert_eq!(header.revision, 2, "etcd's first write is revision 2");
    assert_eq!((header.cluster_id, header.member_id), (served.store.cluster_id(), 1));
    assert!(header.raft_term >= 1);
    kv.put(put("/a/2", "z")).await.unwrap();
    kv.put(put("/a/3", "y")).await.unwrap();
    kv.put(put("/b/1", "w")).await.unwrap();
    let prev = kv.put(pb::PutRequest { prev_kv: true, ..put("/a/1", "x2") }).await.unwrap().into_inner();
    assert_eq!(prev.prev_kv.unwrap().value, &b"x"[..]);

    let all = kv.range(prefix("/a/")).await.unwrap().into_inner();
    assert_eq!(keys(&all), ["/a/1", "/a/2", "/a/3"]);
    assert_eq!((all.count, all.more, all.header.unwrap().revision), (3, false, 6));
    let kv1 = &all.kvs[0];
    assert_eq!((kv1.create_revision, kv1.mod_revision, kv1.version, kv1.value.as_ref()), (2, 6, 2, &b"x2"[..]));

    let limited = kv.range(pb::RangeRequest { limit: 2, ..prefix("/a/") }).await.unwrap().into_inner();
    assert_eq!((keys(&limited), limited.more, limited.count), (vec!["/a/1".into(), "/a/2".into()], true, 3));

    let by_value = pb::RangeRequest {
        sort_order: pb::range_request::SortOrder::Descend as i32,
        sort_target: pb::range_request::SortTarget::Value as i32,
        ..prefix("/a/")
    };
    assert_eq!(keys(&kv.range(by_value).await.unwrap().into_inner()), ["/a/2", "/a/3", "/a/1"], "z > y > x2");

    let old = kv.range(pb::RangeRequest { revision: 2, ..get("/a/1") }).await.unwrap().into_inner();
    assert_eq!(old.kvs[0].value, &b"x"[..]);
    assert_eq!(old.header.unwrap().revision, 6, "the header carries the store revision, not the one read");

    let counted = kv.range(pb::RangeRequest { count_only: true, ..prefix("/") }).await.unwrap().into_inner();
    assert_eq!((counted.count, counted.kvs.len()), (4, 0));
    let bare = kv.range(pb::RangeRequest { keys_only: true, serializable: true, ..get("/b/1") }).await.unwrap();
    assert!(bare.into_inner().kvs[0].value.is_empty());
    let every = pb::RangeRequest {
        key: bytes::Bytes::from_static(b"\0"),
        range_end: bytes::Bytes::from_static(b"\0"),
        ..Default::default()
    };
    assert_eq!(kv.range(every).await.unwrap().into_inner().count, 4);

    let empty = kv.range(get("")).await.unwrap_err();
    assert_eq!((empty.code(), empty.message()), (Code::InvalidArgument, "etcdserver: key is not provided"));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_range_returns_previous_values() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    for k in ["d/1", "d/2", "e"] {
        kv.put(put(k, k)).await.unwrap();
    }
    let end = kstore::prefix_end(b"d/").to_vec();
    let del = pb::DeleteRangeRequest { key: bytes::Bytes::from_static(b"d/"), range_end: end.into(), prev_kv: true };
    let resp = kv.delete_range(del).await.unwrap().into_inner();
    assert_eq!(resp.deleted, 2);
    let prev: Vec<&[u8]> = resp.prev_kvs.iter().map(|kv| kv.value.as_ref()).collect();
    assert_eq!(prev, [&b"d/1"[..], &b"d/2"[..]]);
    assert_eq!(resp.header.unwrap().revision, 5, "one revision for the whole deletion");
    let none = kv
        .delete_range(pb::DeleteRangeRequest { key: bytes::Bytes::from_static(b"zz"), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(none.into_inner().deleted, 0);
    let every = pb::RangeRequest {
        key: bytes::Bytes::from_static(b"\0"),
        range_end: bytes::Bytes::from_static(b"\0"),
        ..Default::default()
    };
    assert_eq!(kv.range(every).await.unwrap().into_inner().count, 1);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_compare_and_swap() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    kv.put(put("lock", "free")).await.unwrap();
    let cas = |expect: &str, new: &str| pb::TxnRequest {
        compare: vec![compare_value("lock", expect)],
        success: vec![op_put("lock", new), op_get("lock")],
        failure: vec![op_get("lock")],
    };
    let won = kv.txn(cas("free", "mine")).await.unwrap().into_inner();
    assert!(won.succeeded);
    assert_eq!(won.header.unwrap().revision, 3);
    let Some(pb::response_op::Response::ResponseRange(read)) = &won.responses[1].response else { panic!() };
    assert_eq!(read.kvs[0].value, &b"mine"[..], "reads in a transaction see its writes");
    // Nested answers carry only a revision, as in etcd.
    assert_eq!(read.header, Some(pb::ResponseHeader { revision: 3, ..Default::default() }));

    let lost = kv.txn(cas("free", "theirs")).await.unwrap().into_inner();
    assert!(!lost.succeeded);
    let Some(pb::response_op::Response::ResponseRange(read)) = &lost.responses[0].response else { panic!() };
    assert_eq!(read.kvs[0].value, &b"mine"[..]);

    // Compares on versions and revisions, and a nested transaction.
    let version_is_2 = pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Version as i32,
        key: bytes::Bytes::from_static(b"lock"),
        target_union: Some(pb::compare::TargetUnion::Version(2)),
        range_end: bytes::Bytes::new(),
    };
    let mod_below_100 = pb::Compare {
        result: pb::compare::CompareResult::Less as i32,
        target: pb::compare::CompareTarget::Mod as i32,
        key: bytes::Bytes::from_static(b"lock"),
        target_union: Some(pb::compare::TargetUnion::ModRevision(100)),
        range_end: bytes::Bytes::new(),
    };
    let inner = pb::TxnRequest { compare: vec![], success: vec![op_put("inner", "1")], failure: vec![] };
    let nested = pb::TxnRequest {
        compare: vec![version_is_2, mod_below_100],
        success: vec![pb::RequestOp { request: Some(pb::request_op::Request::RequestTxn(inner)) }],
        failure: vec![],
    };
    let resp = kv.txn(nested).await.unwrap().into_inner();
    assert!(resp.succeeded);
    let Some(pb::response_op::Response::ResponseTxn(inner)) = &resp.responses[0].response else { panic!() };
    assert!(inner.succeeded);
    assert_eq!(kv.range(get("inner")).await.unwrap().into_inner().count, 1);

    let dup = pb::TxnRequest { success: vec![op_put("k", "1"), op_put("k", "2")], ..Default::default() };
    let err = kv.txn(dup).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "etcdserver: duplicate key given in txn request"));
    served.stop().await;
}

/// A client side of a Watch stream.
struct Watcher {
    requests: mpsc::Sender<pb::WatchRequest>,
    responses: tonic::Streaming<pb::WatchResponse>,
}

impl Watcher {
    async fn open(served: &common::Served) -> Self {
        let (requests, rx) = mpsc::channel(16);
        let mut client = WatchClient::new(channel(served).await);
        let responses = client.watch(ReceiverStream::new(rx)).await.unwrap().into_inner();
        Self { requests, responses }
    }

    async fn send(&self, request: pb::watch_request::RequestUnion) {
        self.requests.send(pb::WatchRequest { request_union: Some(request) }).await.unwrap();
    }

    async fn create(&self, create: pb::WatchCreateRequest) {
        self.send(pb::watch_request::RequestUnion::CreateRequest(create)).await;
    }

    async fn next(&mut self) -> pb::WatchResponse {
        tokio::time::timeout(WAIT, self.responses.next()).await.expect("a watch response in time").unwrap().unwrap()
    }

    /// Events until `n` have arrived.
    async fn events(&mut self, n: usize) -> Vec<mvccpb::Event> {
        let mut events = Vec::new();
        while events.len() < n {
            let resp = self.next().await;
            assert!(!resp.canceled, "unexpected cancel: {resp:?}");
            events.extend(resp.events);
        }
        events
    }
}

fn watch_key(key: &str) -> pb::WatchCreateRequest {
    pb::WatchCreateRequest { key: bytes::Bytes::copy_from_slice(key.as_bytes()), ..Default::default() }
}

fn summary(events: &[mvccpb::Event]) -> Vec<(i32, String, i64)> {
    events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().unwrap();
            (e.r#type, String::from_utf8_lossy(&kv.value).into_owned(), kv.mod_revision)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_past_revision_gets_history_then_live_events() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    kv.put(put("w", "1")).await.unwrap(); // rev 2
    kv.put(put("other", "x")).await.unwrap(); // rev 3
    kv.put(put("w", "2")).await.unwrap(); // rev 4

    let mut watcher = Watcher::open(&served).await;
    watcher.create(pb::WatchCreateRequest { start_revision: 2, prev_kv: true, ..watch_key("w") }).await;
    let created = watcher.next().await;
    assert!(created.created && !created.canceled);
    assert_eq!((created.watch_id, created.header.unwrap().revision), (0, 4));
    let past = watcher.events(2).await;
    assert_eq!(summary(&past), [(0, "1".into(), 2), (0, "2".into(), 4)]);
    assert_eq!(past[1].prev_kv.as_ref().unwrap().value, &b"1"[..]);

    kv.put(put("w", "3")).await.unwrap(); // rev 5
    kv.delete_range(pb::DeleteRangeRequest { key: bytes::Bytes::from_static(b"w"), ..Default::default() })
        .await
        .unwrap(); // rev 6
    let live = watcher.events(2).await;
    assert_eq!(summary(&live), [(0, "3".into(), 5), (1, String::new(), 6)]);

    // A second watch on the same stream, for a prefix, without deletes.
    let mut range = pb::WatchCreateRequest {
        key: bytes::Bytes::from_static(b"p/"),
        range_end: bytes::Bytes::from_static(b"p0"),
        ..Default::default()
    };
    range.filters = vec![pb::watch_create_request::FilterType::Nodelete as i32];
    watcher.create(range).await;
    let created = watcher.next().await;
    assert_eq!((created.created, created.watch_id), (true, 1));
    kv.put(put("p/1", "a")).await.unwrap();
    kv.delete_range(pb::DeleteRangeRequest { key: bytes::Bytes::from_static(b"p/1"), ..Default::default() })
        .await
        .unwrap();
    kv.put(put("p/2", "b")).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let resp = watcher.next().await;
        assert_eq!(resp.watch_id, 1);
        seen.extend(summary(&resp.events));
    }
    assert_eq!(seen, [(0, "a".into(), 7), (0, "b".into(), 9)]);

    // Cancel: answered once, and nothing more arrives for the watch.
    watcher.send(pb::watch_request::RequestUnion::CancelRequest(pb::WatchCancelRequest { watch_id: 0 })).await;
    let canceled = watcher.next().await;
    assert_eq!((canceled.canceled, canceled.watch_id), (true, 0));
    kv.put(put("w", "4")).await.unwrap();
    kv.put(put("p/3", "c")).await.unwrap();
    let next = watcher.next().await;
    assert_eq!((next.watch_id, summary(&next.events)), (1, vec![(0, "c".into(), 11)]));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refusals_progress_and_compaction() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    let mut watcher = Watcher::open(&served).await;

    watcher.create(pb::WatchCreateRequest { watch_id: 7, ..watch_key("a") }).await;
    assert_eq!(watcher.next().await.watch_id, 7);
    // etcd 3.4 answers a refused create with created and canceled at once.
    watcher.create(pb::WatchCreateRequest { watch_id: 7, ..watch_key("b") }).await;
    let dup = watcher.next().await;
    assert!(dup.created && dup.canceled);
    assert_eq!(dup.cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
    watcher.create(pb::WatchCreateRequest { range_end: bytes::Bytes::from_static(b"a"), ..watch_key("b") }).await;
    let empty = watcher.next().await;
    assert!(empty.created && empty.canceled);
    assert_eq!(empty.cancel_reason, "mvcc: watcher range is empty");

    // An empty key watches from the smallest key, as in etcd.
    watcher.create(pb::WatchCreateRequest { range_end: bytes::Bytes::from_static(b"\0"), ..Default::default() }).await;
    let all = watcher.next().await;
    assert!(all.created && !all.canceled);

    kv.put(put("z", "1")).await.unwrap();
    let ev = watcher.next().await;
    assert_eq!((ev.watch_id, ev.events.len()), (all.watch_id, 1));

    watcher.send(pb::watch_request::RequestUnion::ProgressRequest(pb::WatchProgressRequest {})).await;
    let progress = watcher.next().await;
    assert_eq!((progress.watch_id, progress.events.len()), (-1, 0));
    assert_eq!(progress.header.unwrap().revision, 2);

    for i in 0..3 {
        kv.put(put("c", &i.to_string())).await.unwrap();
    }
    for _ in 0..3 {
        watcher.next().await; // the catch-all watch sees them
    }
    kv.compact(pb::CompactionRequest { revision: 4, physical: true }).await.unwrap();
    watcher.create(pb::WatchCreateRequest { start_revision: 2, ..watch_key("c") }).await;
    let created = watcher.next().await;
    assert!(created.created);
    let gone = watcher.next().await;
    assert!(gone.canceled);
    assert_eq!((gone.watch_id, gone.compact_revision), (created.watch_id, 4));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_misses_nothing() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    let mut watcher = Watcher::open(&served).await;
    let prefix = pb::WatchCreateRequest {
        key: bytes::Bytes::from_static(b"s/"),
        range_end: bytes::Bytes::from_static(b"s0"),
        ..Default::default()
    };
    watcher.create(prefix).await;
    assert!(watcher.next().await.created);
    // Far more than the server and HTTP/2 buffer while the client reads nothing: the
    // watcher falls behind and catches up from history.
    const N: usize = 2500;
    let value = "v".repeat(1000);
    for i in 0..N {
        kv.put(put(&format!("s/{i:05}"), &value)).await.unwrap();
    }
    watcher.create(watch_key("t")).await;
    let (mut seen, mut last_rev) = (0, 1);
    // Counts a response's events, checking that they come in order with none missing.
    let mut count = |resp: &pb::WatchResponse, seen: &mut usize| {
        for e in &resp.events {
            let rev = e.kv.as_ref().unwrap().mod_revision;
            assert_eq!(rev, last_rev + 1, "in order, none missing");
            last_rev = rev;
        }
        *seen += resp.events.len();
    };
    // The second watch is created once the server gets to the request; its `Created`
    // tells from which revision on it reports.
    let created = loop {
        let resp = watcher.next().await;
        assert!(!resp.canceled, "{resp:?}");
        match resp.watch_id {
            0 => count(&resp, &mut seen),
            1 => break resp,
            other => panic!("unexpected watch {other}"),
        }
    };
    assert!(created.created && created.events.is_empty());
    kv.put(put("t", "1")).await.unwrap();
    let mut second = Vec::new();
    while second.is_empty() {
        let resp = watcher.next().await;
        match resp.watch_id {
            0 => count(&resp, &mut seen),
            1 => second.extend(resp.events),
            other => panic!("unexpected watch {other}"),
        }
    }
    while seen < N {
        let resp = watcher.next().await;
        assert_eq!(resp.watch_id, 0);
        count(&resp, &mut seen);
    }
    assert_eq!(seen, N);
    assert_eq!(summary(&second), [(0, "1".into(), N as i64 + 2)]);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_gets_many_revisions_per_response() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    let mut watcher = Watcher::open(&served).await;
    let prefix = pb::WatchCreateRequest {
        key: bytes::Bytes::from_static(b"m/"),
        range_end: bytes::Bytes::from_static(b"m0"),
        ..Default::default()
    };
    watcher.create(prefix).await;
    assert!(watcher.next().await.created);
    // More than HTTP/2's stream window and the responses buffered towards the client,
    // while it reads nothing: the rest wait in the store's queue and are merged when it
    // reads again.
    const N: usize = 250;
    let value = "v".repeat(16 * 1024);
    for i in 0..N {
        kv.put(put(&format!("m/{i:03}"), &value)).await.unwrap();
    }
    let (mut seen, mut responses, mut last_rev) = (0, 0, 1);
    while seen < N {
        let resp = watcher.next().await;
        assert!(!resp.canceled, "{resp:?}");
        responses += 1;
        for e in &resp.events {
            let rev = e.kv.as_ref().unwrap().mod_revision;
            assert_eq!(rev, last_rev + 1, "in order, none missing");
            last_rev = rev;
        }
        assert!(resp.header.as_ref().unwrap().revision >= last_rev, "the header covers its events");
        seen += resp.events.len();
    }
    assert_eq!(seen, N);
    assert!(responses < N, "queued revisions were merged: {responses} responses for {N} revisions");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_grant_keep_alive_time_to_live_and_revoke() {
    let served = common::serve().await;
    let ch = channel(&served).await;
    let (mut lease, mut kv) = (LeaseClient::new(ch.clone()), KvClient::new(ch));
    let granted = lease.lease_grant(pb::LeaseGrantRequest { ttl: 60, id: 0 }).await.unwrap().into_inner();
    assert!(granted.id > 0);
    assert_eq!((granted.ttl, granted.error.as_str()), (60, ""));
    let chosen = lease.lease_grant(pb::LeaseGrantRequest { ttl: 30, id: 42 }).await.unwrap().into_inner();
    assert_eq!(chosen.id, 42);
    let again = lease.lease_grant(pb::LeaseGrantRequest { ttl: 30, id: 42 }).await.unwrap_err();
    assert_eq!((again.code(), again.message()), (Code::FailedPrecondition, "etcdserver: lease already exists"));
    let huge = lease.lease_grant(pb::LeaseGrantRequest { ttl: 9_000_000_001, id: 0 }).await.unwrap_err();
    assert_eq!((huge.code(), huge.message()), (Code::OutOfRange, "etcdserver: too large lease TTL"));

    kv.put(pb::PutRequest { lease: granted.id, ..put("leased", "v") }).await.unwrap();
    let bad = kv.put(pb::PutRequest { lease: 999, ..put("x", "v") }).await.unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::NotFound, "etcdserver: requested lease not found"));

    // Keep-alive stream: one answer per request, TTL 0 for an unknown lease.
    let (tx, rx) = mpsc::channel(4);
    let mut answers = lease.lease_keep_alive(ReceiverStream::new(rx)).await.unwrap().into_inner();
    for id in [granted.id, 12345, granted.id] {
        tx.send(pb::LeaseKeepAliveRequest { id }).await.unwrap();
        let answer = tokio::time::timeout(WAIT, answers.next()).await.unwrap().unwrap().unwrap();
        let expect = if id == 12345 { 0 } else { 60 };
        assert_eq!((answer.id, answer.ttl), (id, expect));
        assert!(answer.header.is_some());
    }
    drop(tx);
    assert!(tokio::time::timeout(WAIT, answers.next()).await.unwrap().is_none(), "closing the requests ends it");

    let ttl = pb::LeaseTimeToLiveRequest { id: granted.id, keys: true };
    let ttl = lease.lease_time_to_live(ttl).await.unwrap().into_inner();
    assert_eq!((ttl.id, ttl.granted_ttl, ttl.keys), (granted.id, 60, vec![bytes::Bytes::from_static(b"leased")]));
    assert!((59..=60).contains(&ttl.ttl), "remaining {}", ttl.ttl);
    let unknown = lease.lease_time_to_live(pb::LeaseTimeToLiveRequest { id: 7, keys: false }).await.unwrap();
    assert_eq!(unknown.into_inner().ttl, -1, "etcd reports an unknown lease with TTL -1");
    let all = lease.lease_leases(pb::LeaseLeasesRequest {}).await.unwrap().into_inner();
    let mut ids: Vec<i64> = all.leases.iter().map(|l| l.id).collect();
    ids.sort();
    assert_eq!(ids, [42, granted.id]);

    let revoked = lease.lease_revoke(pb::LeaseRevokeRequest { id: granted.id }).await.unwrap().into_inner();
    assert_eq!(revoked.header.unwrap().revision, 3, "revoking deleted the key in a new revision");
    assert_eq!(kv.range(get("leased")).await.unwrap().into_inner().count, 0);
    let twice = lease.lease_revoke(pb::LeaseRevokeRequest { id: granted.id }).await.unwrap_err();
    assert_eq!((twice.code(), twice.message()), (Code::NotFound, "etcdserver: requested lease not found"));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_errors_have_etcds_codes() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    for i in 0..4 {
        kv.put(put("k", &i.to_string())).await.unwrap(); // revisions 2..=5
    }
    let done = kv.compact(pb::CompactionRequest { revision: 4, physical: false }).await.unwrap().into_inner();
    assert_eq!(done.header.unwrap().revision, 5);
    let check = |err: tonic::Status, message: &str| {
        assert_eq!((err.code(), err.message()), (Code::OutOfRange, message));
    };
    let compacted = "etcdserver: mvcc: required revision has been compacted";
    let future = "etcdserver: mvcc: required revision is a future revision";
    check(kv.compact(pb::CompactionRequest { revision: 4, physical: false }).await.unwrap_err(), compacted);
    check(kv.compact(pb::CompactionRequest { revision: 50, physical: false }).await.unwrap_err(), future);
    check(kv.range(pb::RangeRequest { revision: 3, ..get("k") }).await.unwrap_err(), compacted);
    check(kv.range(pb::RangeRequest { revision: 6, ..get("k") }).await.unwrap_err(), future);
    let at4 = kv.range(pb::RangeRequest { revision: 4, ..get("k") }).await.unwrap().into_inner();
    assert_eq!(at4.kvs[0].value, &b"2"[..]);
    let mut maint = MaintenanceClient::new(channel(&served).await);
    let hash = maint.hash_kv(pb::HashKvRequest { revision: 0 }).await.unwrap().into_inner();
    assert_eq!((hash.compact_revision, hash.header.unwrap().revision), (4, 5));
    let err = maint.hash_kv(pb::HashKvRequest { revision: 2 }).await.unwrap_err();
    check(err, compacted);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_status_snapshot_and_the_rest() {
    let served = common::serve().await;
    let ch = channel(&served).await;
    let (mut maint, mut kv) = (MaintenanceClient::new(ch.clone()), KvClient::new(ch));
    for i in 0..200 {
        kv.put(put(&format!("key/{i:04}"), &"v".repeat(500))).await.unwrap();
    }
    let status = maint.status(pb::StatusRequest {}).await.unwrap().into_inner();
    assert!(status.version.starts_with("3.4."), "{}", status.version);
    assert_eq!((status.leader, status.is_learner, status.errors.len()), (1, false, 0));
    assert!(status.raft_term >= 1 && status.raft_index >= 200 && status.raft_applied_index >= 200);
    assert!(status.db_size > 100_000);
    assert_eq!(status.header.unwrap().revision, 201);

    let mut stream = maint.snapshot(pb::SnapshotRequest {}).await.unwrap().into_inner();
    let mut parts = Vec::new();
    while let Some(part) = tokio::time::timeout(WAIT, stream.next()).await.unwrap() {
        parts.push(part.unwrap());
    }
    assert!(parts.len() >= 4, "{} messages", parts.len());
    let (digest, body) = parts.split_last().unwrap();
    assert!(body.iter().all(|p| p.blob.len() <= 32 * 1024));
    let data: Vec<u8> = body.iter().flat_map(|p| p.blob.iter().copied()).collect();
    for (i, part) in body.iter().enumerate() {
        let sent: usize = body[..=i].iter().map(|p| p.blob.len()).sum();
        assert_eq!(part.remaining_bytes as usize, data.len() - sent);
    }
    assert_eq!(digest.remaining_bytes, 0);
    assert_eq!(digest.blob, Sha256::digest(&data).to_vec(), "the last message is the SHA-256 of the rest");
    assert_eq!(data.len() % 512, 0, "padded like etcd's page-aligned database files");
    let restored = kstore::state::KvState::restore(data.into()).unwrap();
    assert_eq!(restored.mvcc().revision(), 201);

    let hash = maint.hash(pb::HashRequest {}).await.unwrap().into_inner();
    let hash_kv = maint.hash_kv(pb::HashKvRequest { revision: 0 }).await.unwrap().into_inner();
    assert_eq!(hash.hash, hash_kv.hash);
    maint.defragment(pb::DefragmentRequest {}).await.unwrap();
    let alarms = maint.alarm(pb::AlarmRequest::default()).await.unwrap().into_inner();
    assert!(alarms.alarms.is_empty());
    maint.move_leader(pb::MoveLeaderRequest { target_id: 1 }).await.unwrap();
    let bad = maint.move_leader(pb::MoveLeaderRequest { target_id: 9 }).await.unwrap_err();
    assert_eq!((bad.code(), bad.message()), (Code::FailedPrecondition, "etcdserver: bad leader transferee"));
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_list_uses_the_cluster_information() {
    let served = common::serve_with(|server, addr| {
        server.cluster(ClusterInfo {
            members: vec![MemberInfo {
                id: 1,
                name: "n1".into(),
                peer_urls: vec!["http://127.0.0.1:2380".into()],
                client_urls: vec![format!("http://{addr}")],
                is_learner: false,
            }],
        })
    })
    .await;
    let mut cluster = ClusterClient::new(channel(&served).await);
    let list = cluster.member_list(pb::MemberListRequest {}).await.unwrap().into_inner();
    assert_eq!(list.members.len(), 1);
    let m = &list.members[0];
    assert_eq!((m.id, m.name.as_str(), m.is_learner), (1, "n1", false));
    assert_eq!(
        (m.peer_ur_ls.clone(), m.client_ur_ls.clone()),
        (vec!["http://127.0.0.1:2380".into()], vec![served.url()])
    );
    assert_eq!(list.header.unwrap().revision, 0, "etcd's cluster answers carry no revision");

    let add = pb::MemberAddRequest { peer_ur_ls: vec!["http://127.0.0.1:2480".into()], is_learner: true };
    // An in-process store started without peer addresses cannot grow.
    let refused = cluster.member_add(add).await.unwrap_err();
    assert!(refused.message().contains("cannot grow"), "{refused:?}");
    let missing = cluster.member_remove(pb::MemberRemoveRequest { id: 5 }).await.unwrap_err();
    assert_eq!((missing.code(), missing.message()), (Code::NotFound, "etcdserver: member not found"));
    let voter = cluster.member_promote(pb::MemberPromoteRequest { id: 1 }).await.unwrap_err();
    assert_eq!(voter.message(), "etcdserver: can only promote a learner member");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused() {
    let served = common::serve().await;
    let mut kv = KvClient::new(channel(&served).await);
    let big = "x".repeat(1_600_000);
    let err = kv.put(put("big", &big)).await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::InvalidArgument, "etcdserver: request is too large"));
    let huge = "x".repeat(2_200_000);
    assert!(kv.put(put("huge", &huge)).await.is_err(), "past the gRPC limit");
    let fits = "x".repeat(1_500_000);
    kv.put(put("fits", &fits)).await.unwrap();
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams() {
    let served = common::serve().await;
    let mut watcher = Watcher::open(&served).await;
    watcher.create(watch_key("a")).await;
    assert!(watcher.next().await.created);
    let (tx, rx) = mpsc::channel(1);
    let mut lease = LeaseClient::new(channel(&served).await);
    let mut keep_alive = lease.lease_keep_alive(ReceiverStream::new(rx)).await.unwrap().into_inner();
    served.stop().await;
    let end = tokio::time::timeout(WAIT, watcher.responses.next()).await.unwrap();
    let status = end.unwrap().unwrap_err();
    assert_eq!((status.code(), status.message()), (Code::Unavailable, "etcdserver: server stopped"));
    let end = tokio::time::timeout(WAIT, keep_alive.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(_))), "{end:?}");
    drop(tx);
}
