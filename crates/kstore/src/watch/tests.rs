use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::types::{DeleteRangeRequest, PutRequest};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(m: &mut Mvcc, hub: &mut WatchHub, k: &str, v: &str) {
    let (resp, events) = m.put(&PutRequest { key: b(k), value: b(v), ..PutRequest::default() }, &|_| true).unwrap();
    hub.notify(resp.revision, &events);
}

fn drain(rx: &mut mpsc::Receiver<WatchMessage>) -> Vec<WatchMessage> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

fn event_revs(msgs: &[WatchMessage]) -> Vec<i64> {
    msgs.iter()
        .flat_map(|m| match m {
            WatchMessage::Events { events, .. } => events.iter().map(|e| e.kv.mod_revision).collect(),
            _ => vec![],
        })
        .collect()
}

#[test]
fn live_events_with_filters_and_prev_kv() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    let (tx, mut rx) = mpsc::channel(16);
    let req = WatchRequest { key: b("a"), range_end: b("b"), prev_kv: true, ..WatchRequest::default() };
    assert_eq!(hub.watch(1, &req, m.revision(), tx.clone()), Ok(0));
    let nodel = WatchRequest { key: b("a1"), no_delete: true, ..WatchRequest::default() };
    assert_eq!(hub.watch(1, &nodel, m.revision(), tx), Ok(1));
    put(&mut m, &mut hub, "a1", "x");
    put(&mut m, &mut hub, "b1", "ignored");
    put(&mut m, &mut hub, "a1", "y");
    let (_, events) = m.delete_range(&DeleteRangeRequest { key: b("a1"), ..Default::default() }).unwrap();
    hub.notify(m.revision(), &events);
    let msgs = drain(&mut rx);
    assert!(matches!(msgs[0], WatchMessage::Created { watch_id: 0, revision: 1 }));
    let for0: Vec<&WatchMessage> =
        msgs.iter().filter(|m| matches!(m, WatchMessage::Events { watch_id: 0, .. })).collect();
    assert_eq!(for0.len(), 3);
    let WatchMessage::Events { events, .. } = for0[1] else { panic!() };
    assert_eq!(events[0].prev_kv.as_ref().unwrap().value, b("x"));
    let for1 = msgs.iter().filter(|m| matches!(m, WatchMessage::Events { watch_id: 1, .. })).count();
    assert_eq!(for1, 2, "deletes filtered out");
}

#[test]
fn start_revision_replays_history_then_goes_live() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    for i in 0..5 {
        put(&mut m, &mut hub, "k", &i.to_string());
    }
    let (tx, mut rx) = mpsc::channel(16);
    let req = WatchRequest { key: b("k"), start_revision: 3, ..WatchRequest::default() };
    hub.watch(7, &req, m.revision(), tx).unwrap();
    assert_eq!(hub.unsynced(), 1);
    assert!(!hub.sync(&m), "caught up in one batch");
    put(&mut m, &mut hub, "k", "live");
    let revs = event_revs(&drain(&mut rx));
    assert_eq!(revs, [3, 4, 5, 6, 7]);
}

#[test]
fn slow_watcher_falls_back_to_history_without_losing_events() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    let (tx, mut rx) = mpsc::channel(3);
    hub.watch(1, &WatchRequest { key: b("k"), ..WatchRequest::default() }, m.revision(), tx).unwrap();
    for i in 0..10 {
        put(&mut m, &mut hub, "k", &i.to_string());
    }
    assert_eq!(hub.unsynced(), 1, "the full queue made it unsynced");
    let mut seen = event_revs(&drain(&mut rx));
    while hub.sync(&m) {
        seen.extend(event_revs(&drain(&mut rx)));
    }
    seen.extend(event_revs(&drain(&mut rx)));
    put(&mut m, &mut hub, "k", "after");
    seen.extend(event_revs(&drain(&mut rx)));
    assert_eq!(seen, (2..=12).collect::<Vec<i64>>(), "every revision exactly once, in order");
}

#[test]
fn compacted_start_cancels_with_the_compact_revision() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    for i in 0..5 {
        put(&mut m, &mut hub, "k", &i.to_string());
    }
    m.compact(4).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    hub.watch(1, &WatchRequest { key: b("k"), start_revision: 2, ..WatchRequest::default() }, m.revision(), tx)
        .unwrap();
    hub.sync(&m);
    let msgs = drain(&mut rx);
    assert!(matches!(msgs.last(), Some(WatchMessage::Canceled { compact_revision: 4, .. })), "{msgs:?}");
    assert!(hub.is_empty());
}

#[test]
fn ids_cancel_and_progress() {
    let (m, mut hub) = (Mvcc::new(), WatchHub::new());
    let (tx, mut rx) = mpsc::channel(16);
    let req = WatchRequest { key: b("k"), progress_notify: true, ..WatchRequest::default() };
    assert_eq!(hub.watch(1, &req, 1, tx.clone()), Ok(0));
    assert_eq!(hub.watch(1, &req, 1, tx.clone()), Ok(1));
    assert_eq!(hub.watch(2, &req, 1, tx.clone()), Ok(0), "ids are per stream");
    let fixed = WatchRequest { watch_id: 1, ..req.clone() };
    assert_eq!(hub.watch(1, &fixed, 1, tx.clone()), Err(WatchError::DuplicateId));
    assert_eq!(hub.watch(1, &WatchRequest::default(), 1, tx.clone()), Err(WatchError::EmptyKey));
    assert!(hub.cancel(1, 0));
    assert!(!hub.cancel(1, 0));
    assert_eq!(hub.watch(1, &req, 1, tx.clone()), Ok(0), "freed ids are reused");
    drain(&mut rx);
    hub.progress_all(m.revision());
    assert_eq!(drain(&mut rx).len(), 3);
    hub.request_progress(1, 5, &tx);
    assert!(matches!(drain(&mut rx)[..], [WatchMessage::Progress { watch_id: -1, revision: 5 }]));
    hub.close_stream(1);
    assert_eq!(hub.len(), 1);
}

#[test]
fn closed_receivers_are_dropped() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    let (tx, rx) = mpsc::channel(2);
    hub.watch(1, &WatchRequest { key: b("k"), ..WatchRequest::default() }, m.revision(), tx).unwrap();
    drop(rx);
    put(&mut m, &mut hub, "k", "v");
    assert!(hub.is_empty());
}

#[test]
fn resync_after_snapshot_replays_skipped_revisions() {
    let (mut m, mut hub) = (Mvcc::new(), WatchHub::new());
    let (tx, mut rx) = mpsc::channel(16);
    hub.watch(1, &WatchRequest { key: b("k"), ..WatchRequest::default() }, m.revision(), tx).unwrap();
    // Writes applied without notifying the hub, as when a snapshot replaces the state.
    for i in 0..3 {
        m.put(&PutRequest { key: b("k"), value: b(&i.to_string()), ..PutRequest::default() }, &|_| true).unwrap();
    }
    hub.resync_all();
    assert_eq!(hub.unsynced(), 1);
    hub.sync(&m);
    assert_eq!(event_revs(&drain(&mut rx)), [2, 3, 4]);
}
