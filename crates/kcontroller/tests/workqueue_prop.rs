//! Property tests of the pure work queue and the rate limiters: random operation sequences
//! against a simple model (linear scans over a map) and against invariants that need no model.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use kcontroller::workqueue::{
    AddOpts, AddOutcome, DoneOutcome, ExponentialBackoff, MaxOf, Priority, Queue, RateLimiter, TokenBucket,
};
use proptest::prelude::*;
use proptest::sample::Index;

const MS: Duration = Duration::from_millis(1);
/// The property suite's per-key backoff: short, so that delays matter within a few steps.
const BASE: Duration = Duration::from_millis(1);
const MAX: Duration = Duration::from_millis(16);

#[derive(Debug, Clone)]
enum Op {
    Add(u8),
    AddWithPriority(u8, i32),
    AddAfter(u8, u32, i32),
    AddRateLimited(u8),
    Advance(u32),
    Get,
    Done(Index),
    Forget(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..8;
    let priority = prop::sample::select(vec![Priority::LOW, Priority::NORMAL, 5, Priority::HIGH]);
    prop_oneof![
        4 => key.clone().prop_map(Op::Add),
        3 => (key.clone(), priority.clone()).prop_map(|(k, p)| Op::AddWithPriority(k, p)),
        3 => (key.clone(), 0u32..40, priority.clone()).prop_map(|(k, d, p)| Op::AddAfter(k, d, p)),
        2 => key.clone().prop_map(Op::AddRateLimited),
        3 => (0u32..30).prop_map(Op::Advance),
        6 => Just(Op::Get),
        4 => any::<Index>().prop_map(Op::Done),
        1 => key.prop_map(Op::Forget),
    ]
}

/// A waiting key of the model: ready once `ready_at` has passed.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    priority: i32,
    ready_at: Instant,
    seq: u64,
}

/// The queue's specification, written for clarity rather than speed.
struct Model {
    now: Instant,
    waiting: HashMap<u8, Waiting>,
    processing: BTreeSet<u8>,
    failures: HashMap<u8, u32>,
    seq: u64,
    shut_down: bool,
}

impl Model {
    fn new(now: Instant) -> Self {
        Self {
            now,
            waiting: HashMap::new(),
            processing: BTreeSet::new(),
            failures: HashMap::new(),
            seq: 0,
            shut_down: false,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn add(&mut self, key: u8, priority: i32, delay: Duration) -> AddOutcome {
        if self.shut_down {
            return AddOutcome::ShutDown;
        }
        let now = self.now;
        let at = now + delay;
        match self.waiting.get(&key).copied() {
            None => {
                let seq = self.next_seq();
                self.waiting.insert(key, Waiting { priority, ready_at: at, seq });
                if !delay.is_zero() {
                    AddOutcome::Delayed
                } else if self.processing.contains(&key) {
                    AddOutcome::Requeued
                } else {
                    AddOutcome::Queued
                }
            }
            Some(w) => {
                let priority = w.priority.max(priority);
                if w.ready_at <= now || (!delay.is_zero() && w.ready_at <= at) {
                    // Ready already, or delayed to an earlier time: only the priority moves.
                    self.waiting.insert(key, Waiting { priority, ..w });
                    AddOutcome::Merged
                } else if !delay.is_zero() {
                    self.waiting.insert(key, Waiting { priority, ready_at: at, ..w });
                    AddOutcome::Merged
                } else {
                    // A delayed key added without delay: ready now, in line from now.
                    let seq = self.next_seq();
                    self.waiting.insert(key, Waiting { priority, ready_at: now, seq });
                    if self.processing.contains(&key) { AddOutcome::Requeued } else { AddOutcome::Queued }
                }
            }
        }
    }

    fn backoff(&mut self, key: u8) -> Duration {
        let n = self.failures.entry(key).or_insert(0);
        let delay = if *n < 32 { (BASE * 2u32.pow(*n)).min(MAX) } else { MAX };
        *n += 1;
        delay
    }

    fn get(&mut self) -> Option<(u8, Duration)> {
        let now = self.now;
        let (&key, &w) = self
            .waiting
            .iter()
            .filter(|(k, w)| w.ready_at <= now && !self.processing.contains(k))
            .min_by_key(|(_, w)| (std::cmp::Reverse(w.priority), w.ready_at, w.seq))?;
        self.waiting.remove(&key);
        self.processing.insert(key);
        Some((key, now - w.ready_at))
    }

    fn done(&mut self, key: u8) -> DoneOutcome {
        if !self.processing.remove(&key) {
            DoneOutcome::NotProcessing
        } else if self.waiting.get(&key).is_some_and(|w| w.ready_at <= self.now) {
            DoneOutcome::Requeued
        } else {
            DoneOutcome::Finished
        }
    }

    /// Drops the keys still delayed; returns them.
    fn shut_down(&mut self) -> Vec<u8> {
        self.shut_down = true;
        let now = self.now;
        let dropped: Vec<u8> = self.waiting.iter().filter(|(_, w)| w.ready_at > now).map(|(k, _)| *k).collect();
        for k in &dropped {
            self.waiting.remove(k);
        }
        dropped
    }

    fn depth(&self) -> usize {
        self.waiting.values().filter(|w| w.ready_at <= self.now).count()
    }

    fn next_ready_at(&self) -> Option<Instant> {
        self.waiting.values().map(|w| w.ready_at).filter(|at| *at > self.now).min()
    }
}

/// Model-free bookkeeping: keys added since they were last handed out.
#[derive(Default)]
struct Pending(HashSet<u8>);

impl Pending {
    fn added(&mut self, key: u8, outcome: AddOutcome) {
        if outcome != AddOutcome::ShutDown {
            self.0.insert(key);
        }
    }
    /// Dedup: a key is handed out only if it was added since it was last handed out.
    fn handed_out(&mut self, key: u8) {
        assert!(self.0.remove(&key), "{key} handed out without an add since its last hand-out");
    }
}

fn check(q: &Queue<u8>, m: &Model, promoted: bool) {
    assert_eq!(q.len(), m.waiting.len(), "one entry per waiting key");
    assert_eq!(q.processing(), m.processing.len());
    for k in 0..8u8 {
        assert_eq!(q.is_processing(&k), m.processing.contains(&k), "processing {k}");
        assert_eq!(q.is_waiting(&k), m.waiting.contains_key(&k), "waiting {k}");
    }
    if promoted {
        assert_eq!(q.depth(), m.depth());
        assert_eq!(q.next_ready_at(), m.next_ready_at());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn queue_matches_model(ops in prop::collection::vec(op(), 1..120), shutdown_at in prop::option::of(0usize..120)) {
        let t0 = Instant::now();
        let mut q = Queue::<u8>::new(Box::new(ExponentialBackoff::new(BASE, MAX)));
        let mut m = Model::new(t0);
        let mut pending = Pending::default();
        // Whether the queue has seen the model's `now`: `Advance` moves only the model's clock.
        let mut synced = true;
        for (i, op) in ops.iter().enumerate() {
            if shutdown_at == Some(i) {
                q.shut_down(m.now);
                for k in m.shut_down() {
                    pending.0.remove(&k);
                }
                synced = true;
                check(&q, &m, synced);
            }
            let now = m.now;
            match *op {
                Op::Add(k) => {
                    let got = q.add(k, now);
                    prop_assert_eq!(got, m.add(k, Priority::NORMAL, Duration::ZERO));
                    pending.added(k, got);
                }
                Op::AddWithPriority(k, p) => {
                    let got = q.add_with_priority(k, p, now);
                    prop_assert_eq!(got, m.add(k, p, Duration::ZERO));
                    pending.added(k, got);
                }
                Op::AddAfter(k, ms, p) => {
                    // The plain `add_after` is `NORMAL`; others carry a priority.
                    let got = if p == Priority::NORMAL {
                        q.add_after(k, ms * MS, now)
                    } else {
                        q.add_with(k, AddOpts::after(ms * MS).with_priority(p), now)
                    };
                    prop_assert_eq!(got, m.add(k, p, ms * MS));
                    pending.added(k, got);
                }
                Op::AddRateLimited(k) => {
                    let got = q.add_rate_limited(k, now);
                    let want = if m.shut_down { AddOutcome::ShutDown } else { let d = m.backoff(k); m.add(k, Priority::NORMAL, d) };
                    prop_assert_eq!(got, want);
                    prop_assert_eq!(q.num_requeues(&k), m.failures.get(&k).copied().unwrap_or(0));
                    pending.added(k, got);
                }
                Op::Advance(ms) => m.now += ms * MS,
                Op::Get => {
                    let got = q.get_with_wait(now);
                    if let Some((k, _)) = got {
                        prop_assert!(!m.processing.contains(&k), "{} handed to two workers", k);
                        pending.handed_out(k);
                    }
                    prop_assert_eq!(got, m.get());
                }
                Op::Done(ix) => {
                    let k = if m.processing.is_empty() { ix.index(8) as u8 } else { **ix.get(&m.processing.iter().collect::<Vec<_>>()) };
                    prop_assert_eq!(q.done(&k, now), m.done(k));
                }
                Op::Forget(k) => {
                    q.forget(&k);
                    m.failures.remove(&k);
                    prop_assert_eq!(q.num_requeues(&k), 0);
                }
            }
            match op {
                Op::Advance(_) => synced = false,
                Op::Forget(_) => {}
                _ => synced = true,
            }
            check(&q, &m, synced);
        }
        // Nothing is lost: once time passes and every run ends, every pending key comes out.
        m.now += Duration::from_secs(3600);
        let now = m.now;
        for k in m.processing.clone() {
            prop_assert_eq!(q.done(&k, now), m.done(k));
        }
        while let Some((k, waited)) = q.get_with_wait(now) {
            prop_assert_eq!(Some((k, waited)), m.get());
            pending.handed_out(k);
            prop_assert_eq!(q.done(&k, now), m.done(k));
        }
        prop_assert!(pending.0.is_empty(), "lost {:?}", pending.0);
        prop_assert!(q.is_empty() && q.is_drained());
    }

    #[test]
    fn fifo_within_a_priority_higher_first(adds in prop::collection::vec((0u32..5, prop::sample::select(vec![-100, 0, 100])), 1..40)) {
        let t0 = Instant::now();
        let mut q = Queue::<u8>::new(Box::new(ExponentialBackoff::default()));
        let mut now = t0;
        let mut expected = Vec::new();
        for (i, (gap, priority)) in adds.iter().enumerate() {
            now += *gap * MS;
            q.add_with_priority(i as u8, *priority, now);
            expected.push((std::cmp::Reverse(*priority), now, i as u8));
        }
        expected.sort();
        let mut got = Vec::new();
        while let Some(k) = q.get(now) {
            got.push(k);
        }
        prop_assert_eq!(got, expected.into_iter().map(|(_, _, k)| k).collect::<Vec<_>>());
    }

    #[test]
    fn exponential_backoff_stays_in_bounds(ops in prop::collection::vec((0u8..4, any::<bool>()), 1..200)) {
        let t0 = Instant::now();
        let mut l = ExponentialBackoff::<u8>::default();
        let mut failures: HashMap<u8, u32> = HashMap::new();
        for (k, forget) in ops {
            if forget {
                l.forget(&k);
                failures.remove(&k);
                continue;
            }
            let n = failures.entry(k).or_insert(0);
            let d = l.when(&k, t0);
            // 5 ms · 2^n in nanoseconds, computed apart from the limiter's own arithmetic.
            let cap = Duration::from_secs(1000);
            let floor_ns = if *n < 64 { 5_000_000u128 << *n } else { u128::MAX };
            let floor = Duration::from_nanos(floor_ns.min(cap.as_nanos()) as u64);
            prop_assert!(d >= floor && d <= cap, "{:?} after {} failures", d, n);
            prop_assert_eq!(d, floor, "exactly min(5 ms · 2^n, 1000 s)");
            *n += 1;
            prop_assert_eq!(l.num_requeues(&k), *n);
        }
    }

    #[test]
    fn combined_limiter_is_the_max_of_its_parts(steps in prop::collection::vec((0u8..4, 0u32..300, any::<bool>()), 1..300)) {
        let mut now = Instant::now();
        let mut exp = ExponentialBackoff::<u8>::default();
        let mut bucket = TokenBucket::new(10.0, 5);
        let mut both = MaxOf::<u8>::new(vec![Box::new(ExponentialBackoff::<u8>::default()), Box::new(TokenBucket::new(10.0, 5))]);
        let (mut last_slot, mut last_delayed) = (now, false);
        for (k, gap, forget) in steps {
            now += gap * MS;
            if forget {
                exp.forget(&k);
                both.forget(&k);
                continue;
            }
            let (a, b, c) = (exp.when(&k, now), bucket.when(&k, now), both.when(&k, now));
            prop_assert!(c >= a && c >= b);
            prop_assert_eq!(c, a.max(b));
            prop_assert_eq!(both.num_requeues(&k), exp.num_requeues(&k));
            // The bucket hands out slots in order; in debt, exactly 1/qps apart (give or take
            // a nanosecond of rounding).
            let slot = now + b;
            let ns = Duration::from_nanos(1);
            prop_assert!(slot + ns >= last_slot, "{:?} then {:?}", last_slot, slot);
            if !b.is_zero() && last_delayed {
                prop_assert!(slot + ns >= last_slot + 100 * MS && slot <= last_slot + 100 * MS + ns);
            }
            (last_slot, last_delayed) = (slot, !b.is_zero());
        }
    }
}
