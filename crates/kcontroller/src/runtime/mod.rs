//! The reconcile runtime: a [`Controller`] turns informer events into keys on a
//! [`WorkQueue`] and runs a [`Reconciler`] over them with N
//! workers.
//!
//! ```text
//!  primary informer ──(predicate)──┐
//!  owned informers ──(ownerRef)────┼─► workqueue (dedup, per-key backoff, priorities)
//!  watched informers ──(mapper)────┘        │
//!                                   N workers: cache lookup → reconcile → done/requeue
//! ```
//!
//! Events of the initial list and of resyncs enter the queue at [`Priority::LOW`], live
//! changes at [`Priority::NORMAL`] (controller-runtime's priority queue), so a restart with
//! thousands of objects does not delay the reaction to a fresh change.

mod metrics;
mod predicate;
mod reconcile;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use kapi::{ApiResource, ObjectKey, Resource};
use kwatch::informer::{Event, SharedInformer};
use kwatch::lister::BoxFuture;
use kwatch::object::Object;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

pub use metrics::ControllerMetrics;
pub use predicate::Predicate;
pub use reconcile::{Action, ReconcileError, ReconcileResult, Reconciler, Request};

use crate::workqueue::{Priority, WorkQueue};

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// The caches did not sync in time.
    #[error("controller {controller}: caches did not sync within {timeout:?} (waiting for {waiting})")]
    CacheSyncTimeout {
        /// The controller.
        controller: String,
        /// The timeout.
        timeout: Duration,
        /// The sources not synced.
        waiting: String,
    },
    /// The configuration is invalid.
    #[error("controller configuration: {0}")]
    Config(String),
}

type RunSource = Box<dyn FnOnce(WorkQueue<ObjectKey>, CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// One event source feeding the queue.
struct Source {
    name: String,
    synced: Box<dyn Fn() -> bool + Send + Sync>,
    run: RunSource,
}

/// A controller for primary objects of kind `K`.
pub struct Controller<K: Object> {
    name: String,
    primary: SharedInformer<K>,
    resource: ApiResource,
    predicate: Option<Predicate<K>>,
    sources: Vec<Source>,
    workers: usize,
    queue: WorkQueue<ObjectKey>,
    metrics: ControllerMetrics,
    resync: Option<Duration>,
    buffer: usize,
    cache_sync_timeout: Duration,
}

impl<K: Object + Resource<DynamicType = ()>> Controller<K> {
    /// A controller named `name` (used in logs and metrics) for the objects of `primary`.
    pub fn new(name: impl Into<String>, primary: SharedInformer<K>) -> Self {
        Self::for_resource(name, primary, ApiResource::of::<K>())
    }
}

impl<K: Object> Controller<K> {
    /// A controller for a kind known at run time (custom resources as
    /// [`kapi::DynamicObject`]).
    pub fn for_resource(name: impl Into<String>, primary: SharedInformer<K>, resource: ApiResource) -> Self {
        let name = name.into();
        let queue = WorkQueue::new(name.clone());
        Self {
            name,
            primary,
            resource,
            predicate: None,
            sources: Vec::new(),
            workers: 1,
            queue,
            metrics: ControllerMetrics::default(),
            resync: None,
            buffer: 1024,
            cache_sync_timeout: Duration::from_secs(120),
        }
    }

    /// Filters updates of primary objects (creations and deletions always pass).
    #[must_use]
    pub fn with_predicate(mut self, predicate: Predicate<K>) -> Self {
        self.predicate = Some(predicate);
        self
    }

    /// Reconciles the controlling owner (an ownerReference with `controller: true` of the
    /// primary kind) when a `C` changes.
    #[must_use]
    pub fn owns<C: Object>(self, children: SharedInformer<C>) -> Self {
        let (group, kind, namespaced) =
            (self.resource.group.clone(), self.resource.kind.clone(), self.resource.namespaced);
        self.watches_with(children, None, move |child: &C| controller_key(child, &group, &kind, namespaced))
    }

    /// Reconciles the keys `mapper` returns when a `C` changes.
    #[must_use]
    pub fn watches<C: Object>(
        self,
        informer: SharedInformer<C>,
        mapper: impl Fn(&C) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        self.watches_with(informer, None, mapper)
    }

    /// [`Controller::watches`] with a predicate on updates of `C`.
    #[must_use]
    pub fn watches_with<C: Object>(
        mut self,
        informer: SharedInformer<C>,
        predicate: Option<Predicate<C>>,
        mapper: impl Fn(&C) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        let store = informer.store();
        let (buffer, resync) = (self.buffer, self.resync);
        let name = format!("{}<-{}", self.name, std::any::type_name::<C>().rsplit("::").next().unwrap_or("?"));
        self.sources.push(Source {
            name,
            synced: Box::new(move || store.is_synced()),
            run: Box::new(move |queue, cancel| {
                let sub = informer.subscribe(buffer, resync);
                let keys_of = move |e: &Event<C>| event_keys(e, predicate.as_ref(), &mapper);
                Box::pin(pump(sub, queue, keys_of, cancel))
            }),
        });
        self
    }

    /// Reconciles the keys `keys_of` returns for each event of `C` — for controllers that
    /// must see the event itself (a ReplicaSet controller lowers its expectations when a
    /// pod it created appears, in the same step that queues the ReplicaSet).
    #[must_use]
    pub fn watches_events<C: Object>(
        mut self,
        informer: SharedInformer<C>,
        keys_of: impl Fn(&Event<C>) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        let store = informer.store();
        let (buffer, resync) = (self.buffer, self.resync);
        let name = format!("{}<-{}", self.name, std::any::type_name::<C>().rsplit("::").next().unwrap_or("?"));
        self.sources.push(Source {
            name,
            synced: Box::new(move || store.is_synced()),
            run: Box::new(move |queue, cancel| {
                let sub = informer.subscribe(buffer, resync);
                Box::pin(pump(sub, queue, keys_of, cancel))
            }),
        });
        self
    }

    /// Worker count (1). Never two workers on one key.
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Replaces the queue (another rate limiter, metrics).
    #[must_use]
    pub fn queue(mut self, queue: WorkQueue<ObjectKey>) -> Self {
        self.queue = queue;
        self
    }

    /// Reports to these metric families (reconciles and the queue). Call it before
    /// [`Controller::handle`]: it replaces the queue with one that reports.
    #[must_use]
    pub fn metrics(mut self, metrics: &ControllerMetrics) -> Self {
        self.metrics = metrics.clone();
        if let Some(q) = metrics.queues() {
            self.queue = WorkQueue::builder(self.name.clone()).metrics(q).build();
        }
        self
    }

    /// Resyncs every primary object this often (none by default).
    #[must_use]
    pub fn resync(mut self, period: Duration) -> Self {
        self.resync = Some(period);
        self
    }

    /// How long to wait for the caches before giving up (2 min).
    #[must_use]
    pub fn cache_sync_timeout(mut self, timeout: Duration) -> Self {
        self.cache_sync_timeout = timeout;
        self
    }

    /// The queue, to enqueue keys from elsewhere (timers, other controllers).
    pub fn handle(&self) -> WorkQueue<ObjectKey> {
        self.queue.clone()
    }

    /// Runs until `cancel` fires: waits for the caches, then reconciles with the workers.
    /// On cancellation, no new key is taken and the reconciles in flight finish.
    ///
    /// # Cancel safety
    /// Dropping the future abandons reconciles in flight; cancel the token instead.
    pub async fn run(self, reconciler: impl Reconciler<K>, cancel: CancellationToken) -> Result<(), ControllerError> {
        let Controller { name, primary, predicate, mut sources, workers, queue, metrics, resync, buffer, .. } = self;
        let span = info_span!("controller", controller = %name);
        let primary_store = primary.store();
        {
            let store = primary_store.clone();
            let informer = primary.clone();
            sources.insert(
                0,
                Source {
                    name: format!("{name}<-primary"),
                    synced: Box::new(move || store.is_synced()),
                    run: Box::new(move |queue, cancel| {
                        let sub = informer.subscribe(buffer, resync);
                        let keys_of = move |e: &Event<K>| event_keys(e, predicate.as_ref(), &|o: &K| vec![o.key()]);
                        Box::pin(pump(sub, queue, keys_of, cancel))
                    }),
                },
            );
        }
        let stop_sources = cancel.child_token();
        let mut tasks = Vec::new();
        let mut synced = Vec::new();
        for s in sources {
            synced.push((s.name, s.synced));
            tasks.push(tokio::spawn((s.run)(queue.clone(), stop_sources.clone()).instrument(span.clone())));
        }

        // Wait for every cache, as controller-runtime does before starting workers.
        let started = Instant::now();
        loop {
            let waiting: Vec<&str> = synced.iter().filter(|(_, f)| !f()).map(|(n, _)| n.as_str()).collect();
            if waiting.is_empty() {
                break;
            }
            if started.elapsed() > self.cache_sync_timeout {
                stop_sources.cancel();
                return Err(ControllerError::CacheSyncTimeout {
                    controller: name,
                    timeout: self.cache_sync_timeout,
                    waiting: waiting.join(", "),
                });
            }
            tokio::select! {
                () = cancel.cancelled() => {
                    stop_sources.cancel();
                    return Ok(());
                }
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        info!(parent: &span, workers, "caches synced, starting workers");

        let handles = metrics.controller(&name);
        handles.max_concurrent.set(workers as i64);
        let reconciler = Arc::new(reconciler);
        let mut workers_done = Vec::new();
        for _ in 0..workers {
            let worker = Worker {
                queue: queue.clone(),
                store: primary_store.clone(),
                reconciler: Arc::clone(&reconciler),
                metrics: handles.clone(),
            };
            workers_done.push(tokio::spawn(worker.run(cancel.clone()).instrument(span.clone())));
        }
        cancel.cancelled().await;
        stop_sources.cancel();
        queue.shutdown();
        for w in workers_done {
            let _ = w.await;
        }
        for t in tasks {
            let _ = t.await;
        }
        info!(parent: &span, "stopped");
        Ok(())
    }
}

/// The key of the controlling owner of `obj`, when it is of the given kind.
pub fn controller_key<C: Object>(obj: &C, group: &str, kind: &str, owner_namespaced: bool) -> Vec<ObjectKey> {
    let Some(owner) = kapi::owner::controller_of(obj.metadata()) else {
        return Vec::new();
    };
    let owner_group = owner.api_version.split_once('/').map_or("", |(g, _)| g);
    if owner.kind != kind || owner_group != group {
        return Vec::new();
    }
    let ns = if owner_namespaced { obj.namespace().map(str::to_owned) } else { None };
    vec![ObjectKey::new(ns, owner.name.clone())]
}

/// The keys an event concerns, from a mapper of objects and an optional update predicate:
/// an update concerns both the old and the new object's keys (a changed owner or label
/// moves it from one key to another).
fn event_keys<C: Object>(
    event: &Event<C>,
    predicate: Option<&Predicate<C>>,
    mapper: &(impl Fn(&C) -> Vec<ObjectKey> + ?Sized),
) -> Vec<ObjectKey> {
    match event {
        Event::Added(o) | Event::Resync(o) | Event::Deleted { obj: o, .. } => mapper(o),
        Event::Updated { old, new } => {
            if predicate.is_some_and(|p| !p.allows(old, new)) {
                return Vec::new();
            }
            let mut keys: BTreeSet<ObjectKey> = mapper(new).into_iter().collect();
            keys.extend(mapper(old));
            keys.into_iter().collect()
        }
        Event::Synced | Event::Lagged { .. } => Vec::new(),
    }
}

/// Moves one subscription's events into the queue as keys.
async fn pump<C: Object>(
    mut sub: kwatch::informer::Subscription<C>,
    queue: WorkQueue<ObjectKey>,
    keys_of: impl Fn(&Event<C>) -> Vec<ObjectKey> + Send + Sync + 'static,
    cancel: CancellationToken,
) {
    // Before the first `Synced`, events describe the initial list.
    let mut initial = true;
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            e = sub.recv() => match e {
                Some(e) => e,
                None => return,
            },
        };
        let priority = match &event {
            Event::Synced => {
                initial = false;
                continue;
            }
            Event::Lagged { missed } => {
                debug!(missed, "handler lagged; a resync follows");
                continue;
            }
            Event::Resync(_) => Priority::LOW,
            Event::Added(_) if initial => Priority::LOW,
            _ => Priority::NORMAL,
        };
        for k in keys_of(&event) {
            queue.add_with_priority(k, priority);
        }
    }
}

struct Worker<K: Object, R> {
    queue: WorkQueue<ObjectKey>,
    store: kwatch::store::Store<K>,
    reconciler: Arc<R>,
    metrics: metrics::Handles,
}

impl<K: Object, R: Reconciler<K>> Worker<K, R> {
    async fn run(self, cancel: CancellationToken) {
        loop {
            let lease = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                l = self.queue.next() => match l {
                    Some(l) => l,
                    None => return,
                },
            };
            let key = lease.key().clone();
            let request = Request { object: self.store.get(&key), key: key.clone() };
            self.metrics.active.inc();
            let started = Instant::now();
            let span = info_span!("reconcile", key = %key);
            let outcome = AssertUnwindSafe(self.reconciler.reconcile(request).instrument(span)).catch_unwind().await;
            self.metrics.time.observe(started.elapsed().as_secs_f64());
            self.metrics.active.dec();
            match outcome {
                Ok(Ok(Action::Done)) => {
                    self.metrics.success.inc();
                    self.queue.forget(&key);
                }
                Ok(Ok(Action::RequeueAfter(d))) => {
                    self.metrics.requeue_after.inc();
                    self.queue.forget(&key);
                    self.queue.add_after(key, d);
                }
                Ok(Ok(Action::Requeue)) => {
                    self.metrics.requeue.inc();
                    self.queue.add_rate_limited(key);
                }
                Ok(Err(e)) if e.is_terminal() => {
                    self.metrics.error.inc();
                    self.metrics.errors.inc();
                    self.metrics.terminal.inc();
                    warn!(key = %key, error = %e, "terminal reconcile error; not retried until the object changes");
                    self.queue.forget(&key);
                }
                Ok(Err(e)) => {
                    self.metrics.error.inc();
                    self.metrics.errors.inc();
                    debug!(key = %key, error = %e, "reconcile failed; retrying with backoff");
                    self.queue.add_rate_limited(key);
                }
                Err(_) => {
                    // RecoverPanic: a panicking reconcile is an error, the worker lives on.
                    self.metrics.panics.inc();
                    self.metrics.error.inc();
                    self.metrics.errors.inc();
                    warn!(key = %key, "reconcile panicked; retrying with backoff");
                    self.queue.add_rate_limited(key);
                }
            }
            drop(lease);
        }
    }
}
