//! The async work queue: the pure [`Queue`] behind a mutex, with workers woken by adds and
//! by the timers of delayed keys.

use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::core::{AddOpts, AddOutcome, DoneOutcome, Queue};
use super::metrics::{InFlight, InFlightSource, WorkQueueMetrics};
use super::ratelimit::{BoxRateLimiter, RateLimiter, default_controller_rate_limiter};

/// The queue's clock: tokio's, so that paused test time drives delays too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Shared<K> {
    name: String,
    core: Mutex<Queue<K>>,
    /// Wakes workers in `next`: a key became ready, the earliest delay moved, or shutdown.
    wake: Notify,
    /// Wakes `shutdown_and_drain` when the last lease is dropped after shutdown.
    idle: Notify,
}

impl<K> Shared<K> {
    fn lock(&self) -> MutexGuard<'_, Queue<K>> {
        // The core panics nowhere, so a poisoned lock still guards a consistent queue.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> InFlightSource for Shared<K> {
    fn in_flight(&self) -> InFlight {
        self.lock().in_flight(now())
    }
}

/// A work queue shared by producers (event handlers) and workers (reconcilers); cheap to
/// clone. See [`Queue`] for the semantics of adds.
///
/// Workers loop on [`next`](WorkQueue::next) and process the key of each [`Lease`]; the key
/// is done when the lease is dropped, so a worker that panics or is cancelled never keeps a
/// key from being processed again.
pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<K> std::fmt::Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue").field("name", &self.shared.name).field("core", &*self.shared.lock()).finish()
    }
}

/// Builds a [`WorkQueue`].
pub struct WorkQueueBuilder<K> {
    name: String,
    limiter: Option<BoxRateLimiter<K>>,
    metrics: Option<WorkQueueMetrics>,
}

impl<K> std::fmt::Debug for WorkQueueBuilder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueueBuilder").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueueBuilder<K> {
    /// The rate limiter of [`WorkQueue::add_rate_limited`]; by default
    /// [`default_controller_rate_limiter`].
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<K> + Send + 'static) -> Self {
        self.limiter = Some(Box::new(limiter));
        self
    }

    /// Counts into `metrics`, under the queue's name; by default nothing is counted.
    pub fn metrics(mut self, metrics: &WorkQueueMetrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// The queue.
    pub fn build(self) -> WorkQueue<K> {
        let limiter = self.limiter.unwrap_or_else(|| Box::new(default_controller_rate_limiter()));
        let mut core = Queue::new(limiter);
        if let Some(metrics) = &self.metrics {
            core = core.with_metrics(metrics.queue(&self.name));
        }
        let shared =
            Arc::new(Shared { name: self.name, core: Mutex::new(core), wake: Notify::new(), idle: Notify::new() });
        if let Some(metrics) = &self.metrics {
            metrics.track_in_flight(&shared.name, &shared);
        }
        WorkQueue { shared }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    /// A queue called `name` with the default rate limiter and no metrics.
    pub fn new(name: impl Into<String>) -> Self {
        Self::builder(name).build()
    }

    /// A builder of a queue called `name` (the `name` and `controller` labels of its metrics).
    pub fn builder(name: impl Into<String>) -> WorkQueueBuilder<K> {
        WorkQueueBuilder { name: name.into(), limiter: None, metrics: None }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Adds `key` now with [`Priority::NORMAL`](super::Priority::NORMAL).
    pub fn add(&self, key: K) -> AddOutcome {
        self.add_with(key, AddOpts::default())
    }

    /// Adds `key` now with `priority`; a waiting key is raised to it, never lowered.
    pub fn add_with_priority(&self, key: K, priority: i32) -> AddOutcome {
        self.add_with(key, AddOpts::priority(priority))
    }

    /// Adds `key` once `delay` has passed; a key already ready is not delayed.
    pub fn add_after(&self, key: K, delay: Duration) -> AddOutcome {
        self.add_with(key, AddOpts::after(delay))
    }

    /// Adds `key` after the rate limiter's delay, counting one more failure of it.
    pub fn add_rate_limited(&self, key: K) -> AddOutcome {
        self.add_with(key, AddOpts::rate_limited())
    }

    /// Adds `key` as `opts` say.
    pub fn add_with(&self, key: K, opts: AddOpts) -> AddOutcome {
        let (outcome, wake) = {
            let mut q = self.shared.lock();
            let before = q.next_ready_at();
            let outcome = q.add_with(key, opts, now());
            // Sleeping workers need a nudge only for a new ready key or an earlier deadline.
            let sooner = match (q.next_ready_at(), before) {
                (Some(after), Some(before)) => after < before,
                (Some(_), None) => true,
                (None, _) => false,
            };
            (outcome, outcome == AddOutcome::Queued || sooner)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        outcome
    }

    /// Forgets the failures of `key` in the rate limiter; call it once the key succeeded.
    pub fn forget(&self, key: &K) {
        self.shared.lock().forget(key);
    }

    /// How many failures of `key` the rate limiter counts.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.shared.lock().num_requeues(key)
    }

    /// Keys waiting, delayed ones included.
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    /// Whether no key is waiting.
    pub fn is_empty(&self) -> bool {
        self.shared.lock().is_empty()
    }

    /// Keys waiting without delay (`workqueue_depth`).
    pub fn depth(&self) -> usize {
        self.shared.lock().depth()
    }

    /// Keys handed out whose leases are alive.
    pub fn processing(&self) -> usize {
        self.shared.lock().processing()
    }

    /// Whether [`shutdown`](WorkQueue::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().is_shut_down()
    }

    /// Waits for the next ready key and leases it; `None` once the queue is shut down and no
    /// key is ready any more.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a key is taken from the queue only in the same poll that returns its
    /// lease, so dropping the future (in a `select!`, on a timeout) loses no key, and a
    /// wake-up it had received is passed on to another waiting worker.
    pub async fn next(&self) -> Option<Lease<K>> {
        let (lease, pass_on) = loop {
            // Registered before looking, so an add between the look and the wait still wakes us.
            let mut notified = pin!(self.shared.wake.notified());
            notified.as_mut().enable();
            let deadline = {
                let mut q = self.shared.lock();
                if let Some((key, waited)) = q.get_with_wait(now()) {
                    let pass_on = q.ready_len() > 0 || q.next_ready_at().is_some();
                    break (Lease { queue: self.clone(), key, waited }, pass_on);
                }
                if q.is_shut_down() {
                    return None;
                }
                q.next_ready_at()
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        };
        // One add wakes one worker: if more is ready, or a delay needs watching, pass the
        // wake-up on. Our own registration is dropped by now, so it reaches another worker.
        if pass_on {
            self.shared.wake.notify_one();
        }
        Some(lease)
    }

    /// Takes no more adds and drops delayed keys; [`next`](WorkQueue::next) hands out what is
    /// ready, then returns `None` to every worker.
    pub fn shutdown(&self) {
        self.shared.lock().shut_down(now());
        tracing::debug!(queue = %self.shared.name, "work queue shut down");
        self.shared.wake.notify_waiters();
    }

    /// [`shutdown`](WorkQueue::shutdown), then waits until every lease is dropped (client-go's
    /// `ShutDownWithDrain`). Keys that are ready but not leased do not hold it up: workers
    /// still calling `next` take them.
    pub async fn shutdown_and_drain(&self) {
        self.shutdown();
        loop {
            let mut idle = pin!(self.shared.idle.notified());
            idle.as_mut().enable();
            if self.shared.lock().is_drained() {
                return;
            }
            idle.await;
        }
    }

    fn finish(&self, key: &K) {
        let (requeued, idle) = {
            let mut q = self.shared.lock();
            let outcome = q.done(key, now());
            (outcome == DoneOutcome::Requeued, q.is_shut_down() && q.is_drained())
        };
        if requeued {
            self.shared.wake.notify_one();
        }
        if idle {
            self.shared.idle.notify_waiters();
        }
    }
}

/// A key handed out to one worker. The key is done when the lease is dropped: until then
/// no other worker gets it, and adds of it wait behind this run.
pub struct Lease<K: Clone + Eq + Hash + Send + 'static> {
    queue: WorkQueue<K>,
    key: K,
    waited: Duration,
}

impl<K: Clone + Eq + Hash + Send + 'static> Lease<K> {
    /// The key to process.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// How long the key waited in the queue before this hand-out.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The queue the key came from.
    pub fn queue(&self) -> &WorkQueue<K> {
        &self.queue
    }

    /// Success: forgets the key's failures and marks it done.
    pub fn finish(self) {
        self.queue.forget(self.key());
    }

    /// Failure: requeues the key after the rate limiter's delay and marks it done.
    pub fn retry(self) -> AddOutcome {
        self.queue.add_rate_limited(self.key().clone())
    }

    /// Requeues the key after `delay` and marks it done (a reconciler's `RequeueAfter`).
    pub fn retry_after(self, delay: Duration) -> AddOutcome {
        self.queue.add_after(self.key().clone(), delay)
    }
}

impl<K: Clone + Eq + Hash + Send + 'static + std::fmt::Debug> std::fmt::Debug for Lease<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("queue", &self.queue.shared.name).field("key", &self.key).finish()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Drop for Lease<K> {
    fn drop(&mut self) {
        self.queue.finish(&self.key);
    }
}
