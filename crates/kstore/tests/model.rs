//! Model-based property test: random operation sequences run against the MVCC store and
//! against a deliberately naive model (a full copy of the key space per revision); every
//! response, error and history replay must match.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use kstore::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put { key: u8, value: u8, lease: i64, prev_kv: bool, ignore_value: bool },
    Delete { key: u8, end: Option<u8>, prev_kv: bool },
    Range(RangeRequest),
    Txn { cmp_key: u8, target: u8, value: i64, result: u8, put_key: u8, del_key: u8, read_key: u8 },
    Compact(i64),
    Watch { start: i64, key: u8, end: Option<u8> },
}

fn key(k: u8) -> Bytes {
    Bytes::from(vec![b'a' + (k % 6)])
}

fn end(e: Option<u8>) -> Bytes {
    match e {
        None => Bytes::new(),
        Some(7) => Bytes::from_static(b"\0"),
        Some(x) => key(x),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let range = (
        0u8..6,
        proptest::option::of(0u8..8),
        0i64..4,
        -2i64..30,
        0u8..3,
        0u8..5,
        any::<bool>(),
        any::<bool>(),
        0i64..20,
        0i64..20,
    )
        .prop_map(|(k, e, limit, rev, order, target, keys_only, count_only, min_mod, max_create)| RangeRequest {
            key: key(k),
            range_end: end(e),
            limit,
            revision: rev.max(0),
            sort_order: [SortOrder::None, SortOrder::Ascend, SortOrder::Descend][order as usize],
            sort_target: [SortTarget::Key, SortTarget::Version, SortTarget::Create, SortTarget::Mod, SortTarget::Value]
                [target as usize],
            keys_only,
            count_only,
            min_mod_revision: if min_mod > 15 { min_mod - 15 } else { 0 },
            max_create_revision: if max_create > 15 { max_create - 10 } else { 0 },
            ..RangeRequest::default()
        });
    prop_oneof![
        4 => (0u8..6, any::<u8>(), 0i64..3, any::<bool>(), proptest::bool::weighted(0.1))
            .prop_map(|(key, value, lease, prev_kv, ignore_value)| Op::Put { key, value, lease, prev_kv, ignore_value }),
        1 => (0u8..6, proptest::option::of(0u8..8), any::<bool>()).prop_map(|(key, end, prev_kv)| Op::Delete { key, end, prev_kv }),
        3 => range.prop_map(Op::Range),
        2 => (0u8..6, 0u8..4, 0i64..8, 0u8..4, 0u8..6, 0u8..6, 0u8..6).prop_map(|(cmp_key, target, value, result, put_key, del_key, read_key)| {
            Op::Txn { cmp_key, target, value, result, put_key, del_key, read_key }
        }),
        1 => (0i64..30).prop_map(Op::Compact),
        1 => (0i64..30, 0u8..6, proptest::option::of(0u8..8)).prop_map(|(start, key, end)| Op::Watch { start, key, end }),
    ]
}

/// The naive model: the whole key space at every revision, and every event.
struct Model {
    states: Vec<BTreeMap<Bytes, KeyValue>>,
    events: Vec<Event>,
    compacted: i64,
}

fn in_range(k: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        k == start
    } else if end == b"\0" {
        k >= start
    } else {
        k >= start && k < end
    }
}

impl Model {
    fn new() -> Self {
        Model { states: vec![BTreeMap::new(), BTreeMap::new()], events: Vec::new(), compacted: -1 }
    }
    fn rev(&self) -> i64 {
        self.states.len() as i64 - 1
    }
    fn check(&self, rev: i64) -> Result<i64, MvccError> {
        match rev {
            0 => Ok(self.rev()),
            r if r > self.rev() => Err(MvccError::FutureRevision),
            r if r < self.compacted => Err(MvccError::Compacted),
            r => Ok(r),
        }
    }
    fn range_in(state: &BTreeMap<Bytes, KeyValue>, r: &RangeRequest, header: i64) -> RangeResponse {
        let mut kvs: Vec<KeyValue> =
            state.values().filter(|kv| in_range(&kv.key, &r.key, &r.range_end)).cloned().collect();
        let count = kvs.len() as i64;
        if r.count_only {
            return RangeResponse { revision: header, kvs: vec![], more: false, count };
        }
        let filtered = r.sort_order != SortOrder::None || r.min_mod_revision != 0 || r.max_create_revision != 0;
        if !filtered && r.limit > 0 {
            // etcd's quirk: without an explicit order or filters the server reads `limit + 1`
            // keys in key order and only then sorts by a non-key target.
            kvs.truncate(r.limit as usize + 1);
        }
        if r.min_mod_revision != 0 {
            kvs.retain(|kv| kv.mod_revision >= r.min_mod_revision);
        }
        if r.max_create_revision != 0 {
            kvs.retain(|kv| kv.create_revision <= r.max_create_revision);
        }
        let order = if r.sort_target != SortTarget::Key && r.sort_order == SortOrder::None {
            SortOrder::Ascend
        } else {
            r.sort_order
        };
        let field = |kv: &KeyValue| -> (i64, Bytes) {
            match r.sort_target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, Bytes::new()),
                SortTarget::Create => (kv.create_revision, Bytes::new()),
                SortTarget::Mod => (kv.mod_revision, Bytes::new()),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        match order {
            SortOrder::Ascend => kvs.sort_by_key(field),
            SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(field(kv))),
            SortOrder::None => {}
        }
        let more = r.limit > 0 && kvs.len() as i64 > r.limit;
        if more {
            kvs.truncate(r.limit as usize);
        }
        if r.keys_only {
            for kv in &mut kvs {
                kv.value = Bytes::new();
            }
        }
        RangeResponse { revision: header, kvs, more, count }
    }
    fn range(&self, r: &RangeRequest) -> Result<RangeResponse, MvccError> {
        let rev = self.check(r.revision)?;
        Ok(Self::range_in(&self.states[rev as usize], r, self.rev()))
    }
    fn commit(&mut self, next: BTreeMap<Bytes, KeyValue>, events: Vec<Event>) {
        if !events.is_empty() {
            self.states.push(next);
            self.events.extend(events);
        }
    }
    fn put(
        next: &mut BTreeMap<Bytes, KeyValue>,
        rev: i64,
        ev: &mut Vec<Event>,
        p: &PutRequest,
    ) -> Result<PutResponse, MvccError> {
        if p.ignore_value && !p.value.is_empty() {
            return Err(MvccError::ValueProvided);
        }
        let old = next.get(&p.key).cloned();
        if p.ignore_value && old.is_none() {
            return Err(MvccError::KeyNotFound);
        }
        if p.lease != 0 && p.lease != 1 {
            return Err(MvccError::LeaseNotFound);
        }
        let kv = KeyValue {
            key: p.key.clone(),
            create_revision: old.as_ref().map_or(rev, |o| o.create_revision),
            mod_revision: rev,
            version: old.as_ref().map_or(1, |o| o.version + 1),
            value: if p.ignore_value {
                old.as_ref().map(|o| o.value.clone()).unwrap_or_default()
            } else {
                p.value.clone()
            },
            lease: p.lease,
        };
        next.insert(p.key.clone(), kv.clone());
        ev.push(Event { kind: EventKind::Put, kv, prev_kv: old.clone() });
        Ok(PutResponse { revision: rev, prev_kv: if p.prev_kv { old } else { None } })
    }
    fn delete(
        next: &mut BTreeMap<Bytes, KeyValue>,
        rev: i64,
        ev: &mut Vec<Event>,
        d: &DeleteRangeRequest,
    ) -> DeleteRangeResponse {
        let victims: Vec<KeyValue> =
            next.values().filter(|kv| in_range(&kv.key, &d.key, &d.range_end)).cloned().collect();
        for kv in &victims {
            next.remove(&kv.key);
            ev.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue { key: kv.key.clone(), mod_revision: rev, ..KeyValue::default() },
                prev_kv: Some(kv.clone()),
            });
        }
        DeleteRangeResponse {
            revision: if ev.is_empty() { rev - 1 } else { rev },
            deleted: victims.len() as i64,
            prev_kvs: if d.prev_kv { victims } else { vec![] },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mvcc_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut store = Mvcc::new();
        let mut model = Model::new();
        let leases = |id: i64| id == 1;
        for op in ops {
            match op {
                Op::Put { key: k, value, lease, prev_kv, ignore_value } => {
                    let req = PutRequest {
                        key: key(k),
                        value: if ignore_value { Bytes::new() } else { Bytes::from(vec![value]) },
                        lease, prev_kv, ignore_value, ignore_lease: false,
                    };
                    let got = store.put(&req, &leases).map(|(r, _)| r);
                    let rev = model.rev() + 1;
                    let mut next = model.states.last().unwrap().clone();
                    let mut ev = Vec::new();
                    let want = Model::put(&mut next, rev, &mut ev, &req);
                    if want.is_ok() { model.commit(next, ev); }
                    prop_assert_eq!(got, want);
                }
                Op::Delete { key: k, end: e, prev_kv } => {
                    let req = DeleteRangeRequest { key: key(k), range_end: end(e), prev_kv };
                    let got = store.delete_range(&req).unwrap().0;
                    let rev = model.rev() + 1;
                    let mut next = model.states.last().unwrap().clone();
                    let mut ev = Vec::new();
                    let want = Model::delete(&mut next, rev, &mut ev, &req);
                    model.commit(next, ev);
                    prop_assert_eq!(got, want);
                }
                Op::Range(req) => {
                    prop_assert_eq!(store.range(&req), model.range(&req), "{:?}", req);
                }
                Op::Txn { cmp_key, target, value, result, put_key, del_key, read_key } => {
                    let t = match target {
                        0 => CompareTarget::Version(value % 4),
                        1 => CompareTarget::Create(value),
                        2 => CompareTarget::Mod(value),
                        _ => CompareTarget::Value(Bytes::from(vec![value as u8])),
                    };
                    let result = [CompareResult::Equal, CompareResult::Greater, CompareResult::Less, CompareResult::NotEqual][result as usize];
                    let cmp = Compare { key: key(cmp_key), range_end: Bytes::new(), result, target: t.clone() };
                    let put = PutRequest { key: key(put_key), value: Bytes::from_static(b"t"), ..PutRequest::default() };
                    let del = DeleteRangeRequest { key: key(del_key), ..DeleteRangeRequest::default() };
                    let read = RangeRequest::key(key(read_key));
                    let mut success = vec![RequestOp::Put(put.clone()), RequestOp::Range(read.clone())];
                    if del_key % 6 != put_key % 6 {
                        success.push(RequestOp::DeleteRange(del.clone()));
                    }
                    let req = TxnRequest { compare: vec![cmp], success: success.clone(), failure: vec![RequestOp::Range(read.clone())] };
                    let got = store.txn(&req, &leases).map(|(r, _)| r).unwrap();
                    // Model: evaluate the compare on the current state.
                    let cur = model.states.last().unwrap().clone();
                    let holds = match cur.get(&key(cmp_key)) {
                        None => !matches!(t, CompareTarget::Value(_)) && {
                            let zero = 0i64;
                            let v = match t { CompareTarget::Version(v) | CompareTarget::Create(v) | CompareTarget::Mod(v) => v, _ => 0 };
                            let ord = zero.cmp(&v);
                            match result { CompareResult::Equal => ord.is_eq(), CompareResult::Greater => ord.is_gt(), CompareResult::Less => ord.is_lt(), CompareResult::NotEqual => ord.is_ne() }
                        },
                        Some(kv) => {
                            let ord = match &t {
                                CompareTarget::Version(v) => kv.version.cmp(v),
                                CompareTarget::Create(v) => kv.create_revision.cmp(v),
                                CompareTarget::Mod(v) => kv.mod_revision.cmp(v),
                                CompareTarget::Value(v) => kv.value.as_ref().cmp(v.as_ref()),
                                CompareTarget::Lease(v) => kv.lease.cmp(v),
                            };
                            match result { CompareResult::Equal => ord.is_eq(), CompareResult::Greater => ord.is_gt(), CompareResult::Less => ord.is_lt(), CompareResult::NotEqual => ord.is_ne() }
                        }
                    };
                    prop_assert_eq!(got.succeeded, holds);
                    if holds {
                        let rev = model.rev() + 1;
                        let mut next = cur;
                        let mut ev = Vec::new();
                        let p = Model::put(&mut next, rev, &mut ev, &put).unwrap();
                        let r = Model::range_in(&next, &read, rev);
                        let mut responses = vec![ResponseOp::Put(p), ResponseOp::Range(r)];
                        if success.len() == 3 {
                            let mut d = Model::delete(&mut next, rev, &mut ev, &del);
                            d.revision = rev;
                            responses.push(ResponseOp::DeleteRange(d));
                        }
                        model.commit(next, ev);
                        prop_assert_eq!(got, TxnResponse { revision: rev, succeeded: true, responses });
                    } else {
                        let r = Model::range_in(&cur, &read, model.rev());
                        prop_assert_eq!(got, TxnResponse { revision: model.rev(), succeeded: false, responses: vec![ResponseOp::Range(r)] });
                    }
                }
                Op::Compact(rev) => {
                    let want = if rev > model.rev() { Err(MvccError::FutureRevision) } else if rev <= model.compacted { Err(MvccError::Compacted) } else { Ok(()) };
                    if want.is_ok() { model.compacted = rev; }
                    prop_assert_eq!(store.compact(rev), want);
                }
                Op::Watch { start, key: k, end: e } => {
                    let range = KeyRange::new(key(k), end(e));
                    let got = store.events_since(start, &range, 0);
                    if start < model.compacted {
                        prop_assert_eq!(got, Err(MvccError::Compacted));
                    } else {
                        let want: Vec<(EventKind, KeyValue)> = model.events.iter()
                            .filter(|ev| ev.kv.mod_revision >= start && range.contains(&ev.kv.key))
                            .map(|ev| (ev.kind, ev.kv.clone()))
                            .collect();
                        let got: Vec<(EventKind, KeyValue)> = got.unwrap().into_iter().map(|ev| (ev.kind, ev.kv)).collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
            prop_assert_eq!(store.revision(), model.rev());
        }
    }
}
