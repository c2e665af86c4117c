//! Per-handler delivery: a bounded mailbox filled by the writer without ever waiting, and
//! the [`Subscription`] that drains it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::Stream;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Event, Inner};
use crate::object::Object;
use crate::pmap::IntoIter;
use crate::store::{Key, Snapshot};

/// What a mailbox holds: events, or snapshots expanded lazily by the receiver.
pub(super) enum Item<K> {
    Event(Event<K>),
    /// Every object as [`Event::Added`]: a late subscriber's initial state.
    Initial(Snapshot<K>),
    /// Every object as [`Event::Resync`]: a periodic resync.
    Resync(Snapshot<K>),
}

struct MailboxState<K> {
    /// Items, each marked whether it counts against the capacity.
    queue: VecDeque<(Item<K>, bool)>,
    /// Queued items that count against the capacity.
    counted: usize,
    capacity: usize,
    /// The buffer overflowed: the version the handler had been sent up to, and how many
    /// events were dropped since.
    lagged: Option<(Snapshot<K>, u64)>,
    /// The informer stopped: deliver what is queued, then end.
    closed: bool,
    /// The subscription was dropped.
    dropped: bool,
}

pub(super) struct Mailbox<K> {
    state: Mutex<MailboxState<K>>,
    notify: Notify,
    lag: Gauge,
}

impl<K> Mailbox<K> {
    pub(super) fn new(capacity: usize, lag: Gauge) -> Self {
        let state = MailboxState {
            queue: VecDeque::new(),
            counted: 0,
            capacity: capacity.max(1),
            lagged: None,
            closed: false,
            dropped: false,
        };
        Self { state: Mutex::new(state), notify: Notify::new(), lag }
    }

    fn lock(&self) -> MutexGuard<'_, MailboxState<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an item that does not count against the capacity (initial state, resyncs).
    pub(super) fn push_unbounded(&self, item: Item<K>) {
        self.lock().queue.push_back((item, false));
        self.lag.inc();
        self.notify.notify_one();
    }

    /// Queues an event without waiting. When the buffer is full, the mailbox switches to
    /// lagging: it records `before` (the version the handler has been sent) and drops
    /// events until the handler catches up. Returns `false` once the subscription is gone.
    pub(super) fn offer(&self, event: &Event<K>, before: &Snapshot<K>) -> Option<bool> {
        let mut st = self.lock();
        if st.dropped {
            return None;
        }
        if let Some((_, missed)) = &mut st.lagged {
            *missed += 1;
            return Some(false);
        }
        if st.counted >= st.capacity {
            st.lagged = Some((before.clone(), 1));
            drop(st);
            self.notify.notify_one();
            return Some(true);
        }
        st.queue.push_back((Item::Event(event.clone()), true));
        st.counted += 1;
        drop(st);
        self.lag.inc();
        self.notify.notify_one();
        Some(false)
    }

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_one();
    }

    pub(super) fn is_dropped(&self) -> bool {
        self.lock().dropped
    }

    pub(super) fn is_lagging(&self) -> bool {
        self.lock().lagged.is_some()
    }

    /// Ends lagging; returns the number of events dropped. Called with the hub locked.
    fn clear_lag(&self) -> u64 {
        self.lock().lagged.take().map_or(0, |(_, missed)| missed)
    }

    fn take(&self) -> Take<K> {
        let mut st = self.lock();
        if let Some((item, counted)) = st.queue.pop_front() {
            if counted {
                st.counted -= 1;
            }
            drop(st);
            self.lag.dec();
            return Take::Item(item);
        }
        if let Some((before, _)) = &st.lagged {
            return Take::Lagged(before.clone());
        }
        if st.closed { Take::Closed } else { Take::Empty }
    }
}

enum Take<K> {
    Item(Item<K>),
    Lagged(Snapshot<K>),
    Closed,
    Empty,
}

/// A lagging handler's catch-up: the difference between what it was sent and now.
struct Diff<K> {
    before: Snapshot<K>,
    now: Snapshot<K>,
    current: IntoIter<Key, Arc<K>>,
    /// Iterating `before` for deletions (after `now` for additions and updates).
    deletions: bool,
    /// `before` and `now` are the same version: everything is a resync.
    identical: bool,
    synced_pending: bool,
}

impl<K: Object> Diff<K> {
    fn next(&mut self) -> Option<Event<K>> {
        loop {
            let Some((key, obj)) = self.current.next() else {
                if !self.deletions && !self.identical {
                    self.deletions = true;
                    self.current = self.before.objects().into_iter();
                    continue;
                }
                if std::mem::take(&mut self.synced_pending) {
                    return Some(Event::Synced);
                }
                return None;
            };
            if self.identical {
                return Some(Event::Resync(obj));
            }
            if self.deletions {
                if self.now.get_arc(&key).is_none() {
                    return Some(Event::Deleted { obj, final_state_unknown: true });
                }
                continue;
            }
            return Some(match self.before.get_arc(&key) {
                None => Event::Added(obj),
                Some(old) if Arc::ptr_eq(old, &obj) => Event::Resync(obj),
                Some(old) => Event::Updated { old: Arc::clone(old), new: obj },
            });
        }
    }
}

enum Cursor<K> {
    Idle,
    Added(IntoIter<Key, Arc<K>>),
    Resync(IntoIter<Key, Arc<K>>),
    Diff(Box<Diff<K>>),
}

/// One handler's view of a [`SharedInformer`](super::SharedInformer): the cache's state when
/// it subscribed, then every change, in order, with no gap and no duplicate.
///
/// Its buffer is bounded. When it fills up the informer does not wait: the subscription
/// is marked lagging and later events are dropped for it. Once the handler has taken what
/// was buffered, it gets [`Event::Lagged`], then a resync of the whole cache (each object
/// once, as `Added`, `Updated` or `Resync` relative to what the handler was last sent, plus
/// a tombstone `Deleted` for each object that disappeared meanwhile), then [`Event::Synced`],
/// and the live stream again.
///
/// Dropping the subscription unsubscribes.
pub struct Subscription<K> {
    pub(super) mailbox: Arc<Mailbox<K>>,
    pub(super) inner: Arc<Inner<K>>,
    cursor: Cursor<K>,
    resync: Option<Duration>,
    next_resync: Option<Instant>,
}

impl<K> Drop for Subscription<K> {
    fn drop(&mut self) {
        let mut st = self.mailbox.lock();
        st.dropped = true;
        let queued = st.queue.len();
        st.queue.clear();
        st.counted = 0;
        drop(st);
        self.mailbox.lag.dec_by(i64::try_from(queued).unwrap_or(i64::MAX));
    }
}

/// Handlers may not ask for resyncs more often than this (client-go's
/// `minimumResyncPeriod`).
pub const MIN_RESYNC_PERIOD: Duration = Duration::from_secs(1);

impl<K: Object> Subscription<K> {
    pub(super) fn new(mailbox: Arc<Mailbox<K>>, inner: Arc<Inner<K>>, resync: Option<Duration>) -> Self {
        let resync = resync.filter(|p| !p.is_zero()).map(|p| p.max(MIN_RESYNC_PERIOD));
        let next_resync = resync.map(|p| Instant::now() + p);
        Self { mailbox, inner, cursor: Cursor::Idle, resync, next_resync }
    }

    fn cursor_next(&mut self) -> Option<Event<K>> {
        let next = match &mut self.cursor {
            Cursor::Idle => None,
            Cursor::Added(it) => it.next().map(|(_, o)| Event::Added(o)),
            Cursor::Resync(it) => it.next().map(|(_, o)| Event::Resync(o)),
            Cursor::Diff(diff) => diff.next(),
        };
        if next.is_none() {
            self.cursor = Cursor::Idle;
        }
        next
    }

    /// Takes the next event without waiting; `None` when none is ready (or the stream ended).
    pub fn try_recv(&mut self) -> Option<Event<K>> {
        loop {
            if let Some(event) = self.cursor_next() {
                return Some(event);
            }
            match self.mailbox.take() {
                Take::Item(Item::Event(event)) => return Some(event),
                Take::Item(Item::Initial(snap)) => self.cursor = Cursor::Added(snap.objects().into_iter()),
                Take::Item(Item::Resync(snap)) => self.cursor = Cursor::Resync(snap.objects().into_iter()),
                Take::Lagged(before) => return Some(self.recover(before)),
                Take::Closed | Take::Empty => return None,
            }
        }
    }

    /// Ends lagging: with the writer paused, takes the current version and re-enables
    /// delivery, so the resync and the events after it join without gap or duplicate.
    fn recover(&mut self, before: Snapshot<K>) -> Event<K> {
        let hub = self.inner.lock_hub();
        let now = hub.writer.snapshot();
        let missed = self.mailbox.clear_lag();
        drop(hub);
        let current = now.objects().into_iter();
        let synced_pending = now.is_synced();
        let identical = before.same_objects(&now);
        let diff = Diff { before, now, current, deletions: false, identical, synced_pending };
        self.cursor = Cursor::Diff(Box::new(diff));
        Event::Lagged { missed }
    }

    /// Queues a resync of the current version at the current position of the stream.
    fn queue_resync(&mut self) {
        let hub = self.inner.lock_hub();
        let now = hub.writer.snapshot();
        if now.is_synced() && !self.mailbox.is_lagging() && !now.is_empty() {
            self.mailbox.push_unbounded(Item::Resync(now));
        }
    }

    /// The next event; `None` once the informer has stopped and everything was delivered.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an event is only removed from the buffer when this returns it.
    pub async fn recv(&mut self) -> Option<Event<K>> {
        loop {
            if let Some(event) = self.try_recv() {
                return Some(event);
            }
            if self.mailbox.is_finished() {
                return None;
            }
            let deadline = self.next_resync;
            tokio::select! {
                () = self.mailbox.notify.notified() => {}
                () = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.next_resync = self.resync.map(|period| Instant::now() + period);
                    self.queue_resync();
                }
            }
        }
    }

    /// The subscription as a [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Event<K>> + Send {
        futures_util::stream::unfold(self, |mut s| async move { s.recv().await.map(|e| (e, s)) })
    }
}

impl<K> Mailbox<K> {
    /// Closed, and nothing left to deliver.
    fn is_finished(&self) -> bool {
        let st = self.lock();
        st.closed && st.queue.is_empty() && st.lagged.is_none()
    }
}
