//! The replicated store end to end, in process: single node (memory and WAL, restart),
//! leases with expiry, watches, and a three-member group over TCP with failover.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kstore::watch::{WatchMessage, WatchRequest};
use kstore::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn fast(mut cfg: StoreConfig) -> StoreConfig {
    cfg.tick = Duration::from_millis(10);
    cfg.min_lease_ttl = 1;
    cfg
}

async fn put(s: &Store, k: &str, v: &str) -> i64 {
    s.put(PutRequest { key: b(k), value: b(v), ..Default::default() }).await.unwrap().revision
}

async fn get(s: &Store, k: &str) -> Option<Bytes> {
    s.range(&RangeRequest::key(b(k))).await.unwrap().kvs.into_iter().next().map(|kv| kv.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_kv_txn_compact() {
    let s = Store::open(fast(StoreConfig::single(1, None))).await.unwrap();
    assert_eq!(put(&s, "a", "1").await, 2);
    assert_eq!(get(&s, "a").await, Some(b("1")));
    let txn = TxnRequest {
        compare: vec![Compare {
            key: b("a"),
            range_end: Bytes::new(),
            result: CompareResult::Equal,
            target: CompareTarget::Mod(2),
        }],
        success: vec![RequestOp::Put(PutRequest { key: b("a"), value: b("2"), ..Default::default() })],
        failure: vec![],
    };
    assert!(s.txn(txn.clone()).await.unwrap().succeeded);
    assert!(!s.txn(txn).await.unwrap().succeeded);
    let err = s.put(PutRequest { key: b("x"), ignore_value: true, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.to_string(), "etcdserver: key not found");
    assert_eq!(s.compact(3).await.unwrap(), 3);
    let old = s.range(&RangeRequest { revision: 2, ..RangeRequest::key(b("a")) }).await.unwrap_err();
    assert_eq!(old.to_string(), "mvcc: required revision has been compacted");
    let del = s.delete_range(DeleteRangeRequest { key: b("a"), ..Default::default() }).await.unwrap();
    assert_eq!(del.deleted, 1);
    let st = s.status().await.unwrap();
    assert_eq!((st.member_id, st.leader, st.revision), (1, Some(1), 4));
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_and_take_their_keys() {
    let s = Store::open(fast(StoreConfig::single(1, None))).await.unwrap();
    let (id, ttl) = s.lease_grant(0, 1).await.unwrap();
    assert!(id > 0);
    assert_eq!(ttl, 1);
    s.put(PutRequest { key: b("l"), value: b("v"), lease: id, ..Default::default() }).await.unwrap();
    let (_, granted, keys) = s.lease_time_to_live(id, true).await.unwrap().unwrap();
    assert_eq!((granted, keys), (1, vec![b("l")]));
    assert_eq!(s.lease_leases().await.unwrap(), [id]);
    // Keep-alives hold it; then it expires within about a second.
    for _ in 0..3 {
        assert_eq!(s.lease_keep_alive(id).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert_eq!(get(&s, "l").await, Some(b("v")));
    let mut gone = false;
    for _ in 0..50 {
        if get(&s, "l").await.is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "expired lease deleted its key");
    assert_eq!(s.lease_time_to_live(id, false).await.unwrap(), None);
    assert_eq!(s.lease_keep_alive(id).await.unwrap(), 0);
    let (id2, _) = s.lease_grant(77, 60).await.unwrap();
    assert_eq!(id2, 77);
    assert_eq!(s.lease_grant(77, 60).await.unwrap_err().to_string(), "etcdserver: lease already exists");
    s.lease_revoke(77).await.unwrap();
    assert_eq!(s.lease_revoke(77).await.unwrap_err().to_string(), "etcdserver: requested lease not found");
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_replay_and_follow() {
    let s = Store::open(fast(StoreConfig::single(1, None))).await.unwrap();
    put(&s, "w/a", "1").await;
    put(&s, "w/b", "1").await;
    let mut stream = s.watch_stream(64);
    let req = WatchRequest {
        key: b("w/"),
        range_end: prefix_end(b"w/"),
        start_revision: 2,
        prev_kv: true,
        ..Default::default()
    };
    let id = s.watch(&stream, &req).unwrap();
    put(&s, "w/a", "2").await;
    s.delete_range(DeleteRangeRequest { key: b("w/b"), ..Default::default() }).await.unwrap();
    let mut revs = Vec::new();
    while revs.len() < 4 {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().unwrap() {
            WatchMessage::Created { watch_id, .. } => assert_eq!(watch_id, id),
            WatchMessage::Events { events, .. } => revs.extend(events.iter().map(|e| (e.kv.mod_revision, e.kind))),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(revs, [(2, EventKind::Put), (3, EventKind::Put), (4, EventKind::Put), (5, EventKind::Delete)]);
    assert!(s.cancel_watch(&stream, id));
    s.request_progress(&stream);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_the_write_ahead_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fast(StoreConfig::single(1, Some(dir.path().to_path_buf())));
    let s = Store::open(cfg.clone()).await.unwrap();
    for i in 0..50 {
        put(&s, &format!("k{i}"), &format!("v{i}")).await;
    }
    let rev = s.revision();
    s.shutdown().await.unwrap();
    let s = Store::open(cfg).await.unwrap();
    assert_eq!(get(&s, "k49").await, Some(b("v49")));
    assert_eq!(s.revision(), rev);
    assert_eq!(put(&s, "k0", "again").await, rev + 1);
    s.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_replicate_and_fail_over() {
    let mut peers = BTreeMap::new();
    for id in 1..=3u64 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        peers.insert(id, l.local_addr().unwrap());
    }
    let mut stores = BTreeMap::new();
    for id in 1..=3u64 {
        let mut cfg = fast(StoreConfig::single(id, None));
        cfg.peers = peers.clone();
        stores.insert(id, Store::open(cfg).await.unwrap());
    }
    let leader = loop {
        let mut found = None;
        for (id, s) in &stores {
            if s.status().await.unwrap().leader == Some(*id) {
                found = Some(*id);
            }
        }
        if let Some(l) = found {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Writes through a follower are forwarded; linearizable reads on any member see them.
    let follower = *stores.keys().find(|&&id| id != leader).unwrap();
    put(&stores[&follower], "x", "1").await;
    for s in stores.values() {
        assert_eq!(get(s, "x").await, Some(b("1")));
    }
    // Kill the leader: the others elect a new one and keep serving.
    stores.remove(&leader).unwrap().shutdown().await.unwrap();
    let survivor = stores.values().next().unwrap();
    let mut ok = false;
    for _ in 0..200 {
        if tokio::time::timeout(
            Duration::from_millis(500),
            survivor.put(PutRequest { key: b("y"), value: b("2"), ..Default::default() }),
        )
        .await
        .is_ok_and(|r| r.is_ok())
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a new leader accepted writes");
    for s in stores.values() {
        assert_eq!(get(s, "y").await, Some(b("2")));
    }
    for (_, s) in stores {
        s.shutdown().await.unwrap();
    }
}
