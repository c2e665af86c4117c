//! Model-based property test of watch streams: random writes, compactions and slow
//! consumers; every watcher must receive exactly the model's events for its range from its
//! start revision — in order, none lost, none duplicated — or be canceled for compaction
//! after a correct prefix.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use kstore::watch::{WatchHub, WatchMessage, WatchRequest};
use kstore::*;
use proptest::prelude::*;
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
enum Op {
    Put(u8),
    Delete(u8),
    TxnPair(u8, u8),
    Compact,
    Watch { key: u8, prefix: bool, back: i64, capacity: usize },
    Drain(usize),
    Sync,
}

fn key(k: u8) -> Bytes {
    Bytes::from(format!("k{}", k % 5))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..5).prop_map(Op::Put),
        1 => (0u8..5).prop_map(Op::Delete),
        1 => (0u8..5, 0u8..5).prop_map(|(a, b)| Op::TxnPair(a, b)),
        1 => Just(Op::Compact),
        2 => (0u8..5, any::<bool>(), 0i64..8, 1usize..4).prop_map(|(key, prefix, back, capacity)| Op::Watch { key, prefix, back, capacity }),
        2 => (0usize..4).prop_map(Op::Drain),
        2 => Just(Op::Sync),
    ]
}

struct Watcher {
    range: KeyRange,
    start: i64,
    rx: mpsc::Receiver<WatchMessage>,
    got: Vec<(EventKind, Bytes, i64)>,
    canceled_at: Option<i64>,
}

fn drain(w: &mut Watcher) {
    while let Ok(m) = w.rx.try_recv() {
        match m {
            WatchMessage::Events { events, .. } => {
                w.got.extend(events.into_iter().map(|e| (e.kind, e.kv.key, e.kv.mod_revision)))
            }
            WatchMessage::Canceled { compact_revision, .. } => w.canceled_at = Some(compact_revision),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn watch_streams_match_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut store = Mvcc::new();
        let mut hub = WatchHub::new();
        let mut all_events: Vec<Event> = Vec::new();
        let mut watchers: Vec<Watcher> = Vec::new();
        let no_leases = |_: i64| false;
        for op in ops {
            let events = match op {
                Op::Put(k) => store.put(&PutRequest { key: key(k), value: Bytes::from_static(b"v"), ..Default::default() }, &no_leases).unwrap().1,
                Op::Delete(k) => store.delete_range(&DeleteRangeRequest { key: key(k), ..Default::default() }).unwrap().1,
                Op::TxnPair(a, b) if a % 5 != b % 5 => {
                    let txn = TxnRequest {
                        success: vec![
                            RequestOp::Put(PutRequest { key: key(a), value: Bytes::from_static(b"t"), ..Default::default() }),
                            RequestOp::DeleteRange(DeleteRangeRequest { key: key(b), ..Default::default() }),
                        ],
                        ..Default::default()
                    };
                    store.txn(&txn, &no_leases).unwrap().1
                }
                Op::TxnPair(..) => Vec::new(),
                Op::Compact => {
                    let rev = (store.compacted_revision() + 2).min(store.revision());
                    let _ = store.compact(rev);
                    Vec::new()
                }
                Op::Watch { key: k, prefix, back, capacity } => {
                    let start = (store.revision() - back).max(store.compacted_revision()).max(1);
                    let range_end = if prefix { Bytes::from_static(b"l") } else { Bytes::new() };
                    let (tx, rx) = mpsc::channel(capacity);
                    let req = WatchRequest { key: key(k), range_end: range_end.clone(), start_revision: start, ..Default::default() };
                    hub.watch(watchers.len() as u64, &req, store.revision(), tx).unwrap();
                    watchers.push(Watcher { range: KeyRange::new(key(k), range_end), start, rx, got: Vec::new(), canceled_at: None });
                    Vec::new()
                }
                Op::Drain(i) => {
                    if let Some(w) = watchers.get_mut(i) {
                        drain(w);
                    }
                    Vec::new()
                }
                Op::Sync => {
                    hub.sync(&store);
                    Vec::new()
                }
            };
            if !events.is_empty() {
                hub.notify(store.revision(), &events);
                all_events.extend(events);
            }
        }
        // Let everyone catch up.
        for _ in 0..1000 {
            for w in &mut watchers {
                drain(w);
            }
            if !hub.sync(&store) {
                break;
            }
        }
        for w in &mut watchers {
            drain(w);
        }
        for (i, w) in watchers.iter().enumerate() {
            let want: Vec<(EventKind, Bytes, i64)> = all_events
                .iter()
                .filter(|e| e.kv.mod_revision >= w.start && w.range.contains(&e.kv.key))
                .map(|e| (e.kind, e.kv.key.clone(), e.kv.mod_revision))
                .collect();
            match w.canceled_at {
                None => prop_assert_eq!(&w.got, &want, "watcher {} from {}", i, w.start),
                Some(compacted) => {
                    prop_assert!(w.got.len() <= want.len() && w.got[..] == want[..w.got.len()], "watcher {} got a wrong prefix", i);
                    let next = w.got.last().map_or(w.start, |e| e.2 + 1);
                    prop_assert!(next < compacted, "watcher {} canceled at {} though it needed {}", i, compacted, next);
                }
            }
        }
    }
}
