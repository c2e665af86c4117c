use bytes::Bytes;

use super::*;
use crate::types::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(s: &mut Mvcc, k: &str, v: &str) -> i64 {
    s.put(&PutRequest { key: b(k), value: b(v), ..PutRequest::default() }, &|_| true).unwrap().0.revision
}

fn get(s: &Mvcc, k: &str, rev: i64) -> Option<KeyValue> {
    s.range(&RangeRequest { revision: rev, ..RangeRequest::key(b(k)) }).unwrap().kvs.into_iter().next()
}

fn keys(resp: &RangeResponse) -> Vec<String> {
    resp.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect()
}

#[test]
fn revisions_versions_and_history() {
    let mut s = Mvcc::new();
    assert_eq!(s.revision(), 1, "etcd starts at revision 1");
    assert_eq!(put(&mut s, "a", "1"), 2);
    assert_eq!(put(&mut s, "a", "2"), 3);
    let kv = get(&s, "a", 0).unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version, kv.value), (2, 3, 2, b("2")));
    assert_eq!(get(&s, "a", 2).unwrap().value, b("1"), "historical read");
    assert!(get(&s, "a", 1).is_none());
    let (del, events) =
        s.delete_range(&DeleteRangeRequest { key: b("a"), prev_kv: true, ..Default::default() }).unwrap();
    assert_eq!((del.revision, del.deleted, del.prev_kvs.len()), (4, 1, 1));
    assert_eq!(events[0].kind, EventKind::Delete);
    assert_eq!(events[0].kv.mod_revision, 4);
    assert!(get(&s, "a", 0).is_none());
    // Re-creation starts a new generation.
    assert_eq!(put(&mut s, "a", "3"), 5);
    let kv = get(&s, "a", 0).unwrap();
    assert_eq!((kv.create_revision, kv.version), (5, 1));
    // Deleting nothing does not create a revision.
    let (del, events) = s.delete_range(&DeleteRangeRequest { key: b("zz"), ..Default::default() }).unwrap();
    assert_eq!((del.revision, del.deleted, events.len()), (5, 0, 0));
    assert_eq!(s.revision(), 5);
}

#[test]
fn range_options() {
    let mut s = Mvcc::new();
    for (k, v) in [("a", "3"), ("b", "1"), ("c", "2"), ("d", "0")] {
        put(&mut s, k, v);
    }
    put(&mut s, "b", "9");
    let all = RangeRequest { key: b("a"), range_end: b("\0"), ..Default::default() };
    assert_eq!(keys(&s.range(&all).unwrap()), ["a", "b", "c", "d"]);
    let lim = s.range(&RangeRequest { limit: 2, ..all.clone() }).unwrap();
    assert_eq!((keys(&lim), lim.more, lim.count), (vec!["a".to_string(), "b".into()], true, 4));
    let exact = s.range(&RangeRequest { limit: 4, ..all.clone() }).unwrap();
    assert!(!exact.more);
    let span = s.range(&RangeRequest { key: b("b"), range_end: b("d"), ..Default::default() }).unwrap();
    assert_eq!(keys(&span), ["b", "c"]);
    let pre = s.range(&RangeRequest::prefix(b("c"))).unwrap();
    assert_eq!(keys(&pre), ["c"]);
    let count = s.range(&RangeRequest { count_only: true, ..all.clone() }).unwrap();
    assert_eq!((count.count, count.kvs.len()), (4, 0));
    let ko = s.range(&RangeRequest { keys_only: true, ..all.clone() }).unwrap();
    assert!(ko.kvs.iter().all(|kv| kv.value.is_empty()));
    let by_value = s.range(&RangeRequest { sort_target: SortTarget::Value, ..all.clone() }).unwrap();
    assert_eq!(keys(&by_value), ["d", "c", "a", "b"], "non-key targets default to ascending");
    let desc = s.range(&RangeRequest { sort_order: SortOrder::Descend, limit: 2, ..all.clone() }).unwrap();
    assert_eq!((keys(&desc), desc.more, desc.count), (vec!["d".to_string(), "c".into()], true, 4));
    let by_mod =
        s.range(&RangeRequest { sort_target: SortTarget::Mod, sort_order: SortOrder::Descend, ..all.clone() }).unwrap();
    assert_eq!(keys(&by_mod)[0], "b");
    let newer = s.range(&RangeRequest { min_mod_revision: 5, ..all.clone() }).unwrap();
    assert_eq!(
        (keys(&newer), newer.count),
        (vec!["d".to_string(), "b".into()].into_iter().rev().collect::<Vec<_>>(), 4)
    );
    let old = s.range(&RangeRequest { max_create_revision: 3, ..all.clone() }).unwrap();
    assert_eq!(keys(&old), ["a", "b"]);
    let at3 = s.range(&RangeRequest { revision: 3, ..all.clone() }).unwrap();
    assert_eq!((keys(&at3), at3.revision), (vec!["a".to_string(), "b".into()], 6));
    assert_eq!(s.range(&RangeRequest { revision: 7, ..all.clone() }), Err(MvccError::FutureRevision));
    assert_eq!(s.range(&RangeRequest::key(Bytes::new())), Err(MvccError::EmptyKey));
    let backwards = s.range(&RangeRequest { key: b("c"), range_end: b("a"), ..Default::default() }).unwrap();
    assert!(backwards.kvs.is_empty());
}

#[test]
fn put_options_and_errors() {
    let mut s = Mvcc::new();
    let lease_ok = |id: i64| id == 7;
    let r = PutRequest { key: b("k"), value: b("v"), lease: 7, ..Default::default() };
    s.put(&r, &lease_ok).unwrap();
    let missing_lease = PutRequest { lease: 8, ..r.clone() };
    assert_eq!(s.put(&missing_lease, &lease_ok), Err(MvccError::LeaseNotFound));
    let keep = PutRequest { key: b("k"), value: b("w"), ignore_lease: true, prev_kv: true, ..Default::default() };
    let (resp, _) = s.put(&keep, &lease_ok).unwrap();
    assert_eq!(resp.prev_kv.unwrap().value, b("v"));
    assert_eq!(get(&s, "k", 0).unwrap().lease, 7);
    let keep_value = PutRequest { key: b("k"), ignore_value: true, ..Default::default() };
    s.put(&keep_value, &lease_ok).unwrap();
    let kv = get(&s, "k", 0).unwrap();
    assert_eq!((kv.value, kv.lease, kv.version), (b("w"), 0, 3));
    let on_missing = PutRequest { key: b("nope"), ignore_value: true, ..Default::default() };
    assert_eq!(s.put(&on_missing, &lease_ok), Err(MvccError::KeyNotFound));
    let both = PutRequest { key: b("k"), value: b("x"), ignore_value: true, ..Default::default() };
    assert_eq!(s.put(&both, &lease_ok), Err(MvccError::ValueProvided));
    let both = PutRequest { key: b("k"), lease: 7, ignore_lease: true, ..Default::default() };
    assert_eq!(s.put(&both, &lease_ok), Err(MvccError::LeaseProvided));
    assert_eq!(s.revision(), 4, "failed puts create no revision");
}

fn cmp(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare { key: b(key), range_end: Bytes::new(), result, target }
}

#[test]
fn transactions() {
    let mut s = Mvcc::new();
    put(&mut s, "a", "1");
    // The API server's create: If ModRevision(k) == 0 Then Put.
    let create = TxnRequest {
        compare: vec![cmp("b", CompareResult::Equal, CompareTarget::Mod(0))],
        success: vec![RequestOp::Put(PutRequest { key: b("b"), value: b("new"), ..Default::default() })],
        failure: vec![RequestOp::Range(RangeRequest::key(b("b")))],
    };
    let (resp, events) = s.txn(&create, &|_| true).unwrap();
    assert!(resp.succeeded);
    assert_eq!((resp.revision, events.len()), (3, 1));
    let (resp, events) = s.txn(&create, &|_| true).unwrap();
    assert!(!resp.succeeded, "second create fails");
    assert!(events.is_empty());
    assert_eq!(resp.revision, 3, "read-only branch creates no revision");
    let ResponseOp::Range(r) = &resp.responses[0] else { panic!("range expected") };
    assert_eq!(r.kvs[0].value, b("new"));

    // Update with optimistic concurrency, and reads see the transaction's own writes.
    let update = TxnRequest {
        compare: vec![cmp("b", CompareResult::Equal, CompareTarget::Mod(3))],
        success: vec![
            RequestOp::Put(PutRequest { key: b("b"), value: b("v2"), ..Default::default() }),
            RequestOp::Range(RangeRequest::key(b("b"))),
            RequestOp::DeleteRange(DeleteRangeRequest { key: b("a"), ..Default::default() }),
        ],
        failure: vec![],
    };
    let (resp, events) = s.txn(&update, &|_| true).unwrap();
    assert!(resp.succeeded);
    assert_eq!(events.len(), 2, "one revision, two sub-revisions");
    let ResponseOp::Range(r) = &resp.responses[1] else { panic!("range expected") };
    assert_eq!((r.kvs[0].value.clone(), r.revision), (b("v2"), 4));
    assert_eq!(s.revision(), 4);

    // Value compares on a missing key always fail; version compares see zero.
    let t = TxnRequest {
        compare: vec![cmp("zz", CompareResult::NotEqual, CompareTarget::Value(b("x")))],
        ..Default::default()
    };
    assert!(!s.txn(&t, &|_| true).unwrap().0.succeeded);
    let t =
        TxnRequest { compare: vec![cmp("zz", CompareResult::Equal, CompareTarget::Version(0))], ..Default::default() };
    assert!(s.txn(&t, &|_| true).unwrap().0.succeeded);
    // Range compares need every key to hold.
    put(&mut s, "r1", "x");
    put(&mut s, "r2", "y");
    let mut c = cmp("r", CompareResult::Equal, CompareTarget::Value(b("x")));
    c.range_end = b("s");
    assert!(!s.txn(&TxnRequest { compare: vec![c.clone()], ..Default::default() }, &|_| true).unwrap().0.succeeded);
    c.result = CompareResult::Greater;
    c.target = CompareTarget::Value(b("a"));
    assert!(s.txn(&TxnRequest { compare: vec![c], ..Default::default() }, &|_| true).unwrap().0.succeeded);
}

#[test]
fn transaction_errors_change_nothing() {
    let mut s = Mvcc::new();
    put(&mut s, "a", "1");
    let dup = TxnRequest {
        success: vec![
            RequestOp::Put(PutRequest { key: b("k"), ..Default::default() }),
            RequestOp::Put(PutRequest { key: b("k"), ..Default::default() }),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(&dup, &|_| true), Err(MvccError::DuplicateKey));
    let overlap = TxnRequest {
        success: vec![
            RequestOp::Put(PutRequest { key: b("k1"), ..Default::default() }),
            RequestOp::DeleteRange(DeleteRangeRequest { key: b("k"), range_end: b("l"), ..Default::default() }),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(&overlap, &|_| true), Err(MvccError::DuplicateKey));
    let many = TxnRequest {
        success: (0..129).map(|i| RequestOp::Range(RangeRequest::key(b(&format!("{i}"))))).collect(),
        ..Default::default()
    };
    assert_eq!(s.txn(&many, &|_| true), Err(MvccError::TooManyOps));
    // A failing operation after a successful write rolls the write back.
    let late_failure = TxnRequest {
        success: vec![
            RequestOp::Put(PutRequest { key: b("x"), value: b("1"), ..Default::default() }),
            RequestOp::Put(PutRequest { key: b("missing"), ignore_value: true, ..Default::default() }),
        ],
        ..Default::default()
    };
    assert_eq!(s.txn(&late_failure, &|_| true), Err(MvccError::KeyNotFound));
    assert!(get(&s, "x", 0).is_none());
    assert_eq!(s.revision(), 2);
    assert_eq!(s.events_since(0, &KeyRange::new(b("a"), b("\0")), 0).unwrap().len(), 1);
    // The next write reuses the revision cleanly.
    assert_eq!(put(&mut s, "x", "2"), 3);
}

#[test]
fn compaction() {
    let mut s = Mvcc::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "a", "2"); // 3
    put(&mut s, "b", "1"); // 4
    s.delete_range(&DeleteRangeRequest { key: b("b"), ..Default::default() }).unwrap(); // 5
    put(&mut s, "c", "1"); // 6
    assert_eq!(s.compact(7), Err(MvccError::FutureRevision));
    s.compact(5).unwrap();
    assert_eq!(s.compact(5), Err(MvccError::Compacted));
    assert_eq!(s.range(&RangeRequest { revision: 4, ..RangeRequest::key(b("a")) }), Err(MvccError::Compacted));
    assert_eq!(get(&s, "a", 5).unwrap().value, b("2"), "reads at the compaction revision still work");
    assert!(get(&s, "b", 5).is_none());
    assert_eq!(get(&s, "c", 0).unwrap().value, b("1"));
    let all = KeyRange::new(b("a"), b("\0"));
    assert_eq!(s.events_since(4, &all, 0), Err(MvccError::Compacted));
    let events = s.events_since(5, &all, 0).unwrap();
    assert_eq!(events.iter().map(|e| e.kv.mod_revision).collect::<Vec<_>>(), [5, 6]);
    s.compact(6).unwrap();
    assert!(!s.keys.contains_key(&b("b")[..]), "deleted keys disappear once compacted past");
}

#[test]
fn history_replay_for_watchers() {
    let mut s = Mvcc::new();
    put(&mut s, "a", "1");
    put(&mut s, "b", "1");
    put(&mut s, "a", "2");
    s.delete_range(&DeleteRangeRequest { key: b("a"), ..Default::default() }).unwrap();
    let only_a = KeyRange::new(b("a"), Bytes::new());
    let ev = s.events_since(0, &only_a, 0).unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[1].prev_kv.as_ref().unwrap().value, b("1"));
    assert_eq!(ev[2].kind, EventKind::Delete);
    assert_eq!(ev[2].prev_kv.as_ref().unwrap().value, b("2"));
    assert_eq!(s.events_since(4, &only_a, 0).unwrap().len(), 2);
    assert_eq!(s.events_since(5, &only_a, 0).unwrap().len(), 1);
    assert_eq!(s.events_since(0, &KeyRange::new(b("a"), b("\0")), 2).unwrap().len(), 2);
}

#[test]
fn key_ranges() {
    let single = KeyRange::new(b("a"), Bytes::new());
    assert!(single.contains(b"a") && !single.contains(b"ab"));
    let from = KeyRange::new(b("b"), b("\0"));
    assert!(from.contains(b"zzz") && !from.contains(b"a"));
    let span = KeyRange::new(b("b"), b("d"));
    assert!(span.contains(b"c") && !span.contains(b"d"));
    assert!(span.overlaps(&KeyRange::new(b("c"), Bytes::new())));
    assert!(!span.overlaps(&KeyRange::new(b("d"), Bytes::new())));
    assert!(from.overlaps(&span));
    assert!(!single.overlaps(&span));
}

#[test]
fn hash_is_stable_across_equal_states() {
    let mut a = Mvcc::new();
    let mut b2 = Mvcc::new();
    for s in [&mut a, &mut b2] {
        put(s, "x", "1");
        put(s, "y", "2");
    }
    assert_eq!(a.hash_kv(0), b2.hash_kv(0));
    put(&mut a, "x", "3");
    assert_ne!(a.hash_kv(0).unwrap().0, b2.hash_kv(0).unwrap().0);
}
