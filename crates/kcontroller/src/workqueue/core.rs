//! The work queue as a pure state machine: no clocks, no locks, no tasks. Every method that
//! depends on time takes `now`; [`WorkQueue`](super::WorkQueue) drives it from tokio.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::metrics::{InFlight, QueueMetrics};
use super::ratelimit::{BoxRateLimiter, RateLimiter, default_controller_rate_limiter};

/// Well-known priorities. Any `i32` is a priority; higher is served first.
#[derive(Debug)]
pub enum Priority {}

impl Priority {
    /// Events that should overtake normal work.
    pub const HIGH: i32 = 100;
    /// Ordinary adds.
    pub const NORMAL: i32 = 0;
    /// The initial list and periodic resyncs: work that should not hold back real changes.
    pub const LOW: i32 = -100;
}

/// How a key is added (controller-runtime's `AddOpts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddOpts {
    /// Higher is served first; a waiting key only ever moves up.
    pub priority: i32,
    /// Wait this long before the key becomes ready.
    pub after: Duration,
    /// Ask the rate limiter for the delay; with `after` also set, the shorter one wins.
    pub rate_limited: bool,
}

impl AddOpts {
    /// Options with this priority.
    pub fn priority(priority: i32) -> Self {
        Self { priority, ..Self::default() }
    }
    /// Options with this delay.
    pub fn after(after: Duration) -> Self {
        Self { after, ..Self::default() }
    }
    /// Options with the rate limiter's delay.
    pub fn rate_limited() -> Self {
        Self { rate_limited: true, ..Self::default() }
    }
    /// The same options with this priority.
    pub fn with_priority(self, priority: i32) -> Self {
        Self { priority, ..self }
    }
    /// The same options with this delay.
    pub fn with_after(self, after: Duration) -> Self {
        Self { after, ..self }
    }
}

/// What an add did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// The key is ready to be handed out.
    Queued,
    /// The key is being processed: it is handed out again once `done` is called.
    Requeued,
    /// The key waits for its delay.
    Delayed,
    /// The key was already waiting: the adds were merged (priority raised, delay shortened).
    Merged,
    /// The queue is shut down and takes no more keys.
    ShutDown,
}

/// What `done` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneOutcome {
    /// The key was not being processed.
    NotProcessing,
    /// The key is finished.
    Finished,
    /// The key was added again meanwhile and is ready once more.
    Requeued,
}

/// The order of ready keys: higher priority first, then by when they became ready, then by
/// insertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ReadyOrd {
    priority: Reverse<i32>,
    since: Instant,
    seq: u64,
}

impl ReadyOrd {
    fn raised(self, priority: i32) -> Self {
        Self { priority: Reverse(self.priority.0.max(priority)), ..self }
    }
}

/// Where a waiting key is.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// In `ready`.
    Ready(ReadyOrd),
    /// Ready, but the key is being processed: goes into `ready` on `done`.
    Parked(ReadyOrd),
    /// In `delayed` under `(at, seq)`.
    Delayed { at: Instant, seq: u64, priority: i32 },
}

#[derive(Debug, Default)]
struct Entry {
    /// When the current run started and its id in `running`, while a worker has the key.
    processing: Option<(Instant, u64)>,
    waiting: Option<Wait>,
}

/// A deduplicating, delaying, rate-limited priority queue of keys, with client-go's and
/// controller-runtime's semantics:
///
/// - a key added many times while it waits is handed out once;
/// - a key is never handed out twice at once: added while being processed, it is handed out
///   again only after [`done`](Queue::done);
/// - higher priorities first, and first come first served within a priority (by when the
///   key became ready: its first add, or the end of its delay);
/// - delayed keys keep their earliest ready time, and a key that is ready is not delayed;
/// - after [`shut_down`](Queue::shut_down) no adds are taken, keys still delayed are dropped, and
///   [`get`](Queue::get) hands out what is ready, then nothing.
pub struct Queue<K> {
    entries: HashMap<K, Entry>,
    ready: BTreeMap<ReadyOrd, K>,
    delayed: BTreeMap<(Instant, u64), K>,
    /// Keys in progress by start time, for the in-progress metrics.
    running: BTreeSet<(Instant, u64)>,
    parked: usize,
    seq: u64,
    shut_down: bool,
    limiter: BoxRateLimiter<K>,
    metrics: Option<QueueMetrics>,
}

impl<K> std::fmt::Debug for Queue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("ready", &self.ready.len())
            .field("parked", &self.parked)
            .field("delayed", &self.delayed.len())
            .field("processing", &self.running.len())
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for Queue<K> {
    /// A queue with [`default_controller_rate_limiter`].
    fn default() -> Self {
        Self::new(Box::new(default_controller_rate_limiter()))
    }
}

impl<K: Clone + Eq + Hash> Queue<K> {
    /// An empty queue whose rate-limited adds ask `limiter`.
    pub fn new(limiter: BoxRateLimiter<K>) -> Self {
        Self {
            entries: HashMap::new(),
            ready: BTreeMap::new(),
            delayed: BTreeMap::new(),
            running: BTreeSet::new(),
            parked: 0,
            seq: 0,
            shut_down: false,
            limiter,
            metrics: None,
        }
    }

    /// The same queue, counting into `metrics`.
    pub fn with_metrics(mut self, metrics: QueueMetrics) -> Self {
        metrics.depth.set(self.depth() as i64);
        self.metrics = Some(metrics);
        self
    }

    /// Adds `key` now with [`Priority::NORMAL`].
    pub fn add(&mut self, key: K, now: Instant) -> AddOutcome {
        self.add_with(key, AddOpts::default(), now)
    }

    /// Adds `key` now with `priority`; a key already waiting is raised to it, never lowered.
    pub fn add_with_priority(&mut self, key: K, priority: i32, now: Instant) -> AddOutcome {
        self.add_with(key, AddOpts::priority(priority), now)
    }

    /// Adds `key` once `delay` has passed. A key already ready stays ready; of several
    /// delays of one key the earliest ready time wins.
    pub fn add_after(&mut self, key: K, delay: Duration, now: Instant) -> AddOutcome {
        self.add_with(key, AddOpts::after(delay), now)
    }

    /// Adds `key` after the rate limiter's delay, counting one more failure of it.
    pub fn add_rate_limited(&mut self, key: K, now: Instant) -> AddOutcome {
        self.add_with(key, AddOpts::rate_limited(), now)
    }

    /// Adds `key` as `opts` say. Delayed adds count as retries in the metrics.
    pub fn add_with(&mut self, key: K, opts: AddOpts, now: Instant) -> AddOutcome {
        if self.shut_down {
            return AddOutcome::ShutDown;
        }
        self.promote(now);
        let mut delay = opts.after;
        if opts.rate_limited {
            let limited = self.limiter.when(&key, now);
            if delay.is_zero() || limited < delay {
                delay = limited;
            }
        }
        let outcome = if delay.is_zero() {
            self.enqueue_ready(key, opts.priority, now)
        } else {
            if let Some(m) = &self.metrics {
                m.retries.inc();
            }
            self.enqueue_delayed(key, opts.priority, later(now, delay))
        };
        self.sync_depth();
        outcome
    }

    fn enqueue_ready(&mut self, key: K, priority: i32, now: Instant) -> AddOutcome {
        let Some(entry) = self.entries.get_mut(&key) else {
            let ord = ReadyOrd { priority: Reverse(priority), since: now, seq: self.next_seq() };
            self.ready.insert(ord, key.clone());
            self.entries.insert(key, Entry { processing: None, waiting: Some(Wait::Ready(ord)) });
            self.count_add();
            return AddOutcome::Queued;
        };
        match entry.waiting {
            Some(Wait::Ready(ord)) => {
                let raised = ord.raised(priority);
                if raised != ord {
                    // Reinsert so that the new priority takes effect at the same place in time.
                    self.ready.remove(&ord);
                    self.ready.insert(raised, key);
                    entry.waiting = Some(Wait::Ready(raised));
                }
                AddOutcome::Merged
            }
            Some(Wait::Parked(ord)) => {
                entry.waiting = Some(Wait::Parked(ord.raised(priority)));
                AddOutcome::Merged
            }
            Some(Wait::Delayed { at, seq, priority: was }) => {
                self.delayed.remove(&(at, seq));
                entry.waiting = None;
                let ord = ReadyOrd { priority: Reverse(was.max(priority)), since: at.min(now), seq: self.next_seq() };
                self.make_ready(key, ord)
            }
            None => {
                // Processing and not waiting: wait behind the current run.
                let ord = ReadyOrd { priority: Reverse(priority), since: now, seq: self.next_seq() };
                self.make_ready(key, ord)
            }
        }
    }

    /// Puts a key that has an entry and no wait into `ready`, or parks it behind its run.
    fn make_ready(&mut self, key: K, ord: ReadyOrd) -> AddOutcome {
        self.count_add();
        let Some(entry) = self.entries.get_mut(&key) else { return AddOutcome::Merged };
        if entry.processing.is_some() {
            entry.waiting = Some(Wait::Parked(ord));
            self.parked += 1;
            AddOutcome::Requeued
        } else {
            entry.waiting = Some(Wait::Ready(ord));
            self.ready.insert(ord, key);
            AddOutcome::Queued
        }
    }

    fn enqueue_delayed(&mut self, key: K, priority: i32, at: Instant) -> AddOutcome {
        let Some(entry) = self.entries.get_mut(&key) else {
            let seq = self.next_seq();
            self.delayed.insert((at, seq), key.clone());
            self.entries.insert(key, Entry { processing: None, waiting: Some(Wait::Delayed { at, seq, priority }) });
            return AddOutcome::Delayed;
        };
        match entry.waiting {
            Some(Wait::Ready(_) | Wait::Parked(_)) => {
                // Already waiting without delay: the delayed add only lends its priority.
                let _ = self.enqueue_ready(key, priority, at);
                AddOutcome::Merged
            }
            Some(Wait::Delayed { at: was_at, seq, priority: was }) => {
                let priority = priority.max(was);
                if at < was_at {
                    self.delayed.remove(&(was_at, seq));
                    self.delayed.insert((at, seq), key);
                    entry.waiting = Some(Wait::Delayed { at, seq, priority });
                } else {
                    entry.waiting = Some(Wait::Delayed { at: was_at, seq, priority });
                }
                AddOutcome::Merged
            }
            None => {
                // Not `next_seq()`: `entry` still borrows the map.
                self.seq += 1;
                let seq = self.seq;
                self.delayed.insert((at, seq), key);
                entry.waiting = Some(Wait::Delayed { at, seq, priority });
                AddOutcome::Delayed
            }
        }
    }

    /// Moves delayed keys whose time has come into `ready`, in the order of their ready times.
    fn promote(&mut self, now: Instant) {
        while let Some(first) = self.delayed.first_entry() {
            if first.key().0 > now {
                break;
            }
            let ((at, seq), key) = first.remove_entry();
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            let Some(Wait::Delayed { priority, .. }) = entry.waiting else { continue };
            entry.waiting = None;
            // Ready since its delay ended, not since this call noticed it.
            let _ = self.make_ready(key, ReadyOrd { priority: Reverse(priority), since: at, seq });
        }
    }

    /// Hands out the best ready key and marks it as being processed; `None` when no key is
    /// ready (see [`next_ready_at`](Queue::next_ready_at)) or the queue is shut down and drained.
    pub fn get(&mut self, now: Instant) -> Option<K> {
        self.get_with_wait(now).map(|(key, _)| key)
    }

    /// [`get`](Queue::get), with how long the key waited since it became ready.
    pub fn get_with_wait(&mut self, now: Instant) -> Option<(K, Duration)> {
        self.promote(now);
        while let Some((ord, key)) = self.ready.pop_first() {
            let Some(entry) = self.entries.get_mut(&key) else { continue };
            let run = (now, self.seq);
            self.seq += 1;
            entry.waiting = None;
            entry.processing = Some(run);
            self.running.insert(run);
            let waited = now.saturating_duration_since(ord.since);
            if let Some(m) = &self.metrics {
                m.queue_duration.observe(waited.as_secs_f64());
            }
            self.sync_depth();
            return Some((key, waited));
        }
        // Promotions may have parked keys behind their runs.
        self.sync_depth();
        None
    }

    /// Marks `key` as processed. If it was added meanwhile, it becomes ready again.
    pub fn done(&mut self, key: &K, now: Instant) -> DoneOutcome {
        // A due delayed re-add is a re-add too.
        self.promote(now);
        let outcome = self.finish(key, now);
        self.sync_depth();
        outcome
    }

    fn finish(&mut self, key: &K, now: Instant) -> DoneOutcome {
        let Some(entry) = self.entries.get_mut(key) else { return DoneOutcome::NotProcessing };
        let Some(run) = entry.processing.take() else { return DoneOutcome::NotProcessing };
        self.running.remove(&run);
        if let Some(m) = &self.metrics {
            m.work_duration.observe(now.saturating_duration_since(run.0).as_secs_f64());
        }
        match entry.waiting {
            Some(Wait::Parked(ord)) => {
                entry.waiting = Some(Wait::Ready(ord));
                self.parked -= 1;
                self.ready.insert(ord, key.clone());
                DoneOutcome::Requeued
            }
            Some(_) => DoneOutcome::Finished,
            None => {
                self.entries.remove(key);
                DoneOutcome::Finished
            }
        }
    }

    /// Forgets the failures of `key` in the rate limiter.
    pub fn forget(&mut self, key: &K) {
        self.limiter.forget(key);
    }

    /// How many failures of `key` the rate limiter counts.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.limiter.num_requeues(key)
    }

    /// Stops taking adds and drops the keys still delayed at `now`; ready keys are still
    /// handed out.
    pub fn shut_down(&mut self, now: Instant) {
        self.promote(now);
        self.shut_down = true;
        for ((_, _), key) in std::mem::take(&mut self.delayed) {
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.waiting = None;
                if entry.processing.is_none() {
                    self.entries.remove(&key);
                }
            }
        }
        self.sync_depth();
    }

    /// Whether [`shut_down`](Queue::shut_down) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// When the earliest delayed key becomes ready (possibly already past: the next
    /// [`get`](Queue::get) moves it); `None` when no key is delayed.
    pub fn next_ready_at(&self) -> Option<Instant> {
        self.delayed.first_key_value().map(|((at, _), _)| *at)
    }

    /// Keys waiting: ready, parked behind their own run, or delayed (delayed ones that are due
    /// count as ready only from the next call that takes `now`).
    pub fn len(&self) -> usize {
        self.ready.len() + self.parked + self.delayed.len()
    }

    /// Whether no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys waiting without delay: those ready plus those parked behind their own run, as
    /// client-go's `workqueue_depth` counts them. Delayed keys are not counted.
    pub fn depth(&self) -> usize {
        self.ready.len() + self.parked
    }

    /// Keys ready to be handed out now (parked and delayed ones not counted).
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Keys handed out and not done.
    pub fn processing(&self) -> usize {
        self.running.len()
    }

    /// Whether no key is being processed: after shutdown, nothing handed out is pending.
    pub fn is_drained(&self) -> bool {
        self.running.is_empty()
    }

    /// Whether `key` is being processed.
    pub fn is_processing(&self, key: &K) -> bool {
        self.entries.get(key).is_some_and(|e| e.processing.is_some())
    }

    /// Whether `key` is waiting (ready, parked or delayed).
    pub fn is_waiting(&self, key: &K) -> bool {
        self.entries.get(key).is_some_and(|e| e.waiting.is_some())
    }

    /// What is in progress at `now`, for the in-progress metrics.
    pub fn in_flight(&self, now: Instant) -> InFlight {
        let unfinished = self
            .running
            .iter()
            .fold(Duration::ZERO, |sum, (start, _)| sum.saturating_add(now.saturating_duration_since(*start)));
        let longest = self.running.first().map(|(start, _)| now.saturating_duration_since(*start)).unwrap_or_default();
        InFlight { count: self.running.len(), unfinished, longest }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn count_add(&self) {
        if let Some(m) = &self.metrics {
            m.adds.inc();
        }
    }

    fn sync_depth(&self) {
        if let Some(m) = &self.metrics {
            m.depth.set(self.depth() as i64);
        }
    }
}

/// `now + delay`, held at the farthest representable instant rather than overflowing.
fn later(now: Instant, delay: Duration) -> Instant {
    if let Some(at) = now.checked_add(delay) {
        return at;
    }
    // Halve until it fits: still centuries away, which is "never" for a work queue.
    let mut step = delay;
    let mut at = now;
    while !step.is_zero() {
        step /= 2;
        if let Some(next) = at.checked_add(step) {
            at = next;
        }
    }
    at
}
