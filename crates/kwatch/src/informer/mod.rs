//! Shared informers: one reflector and one cache per resource, shared by any number of
//! handlers.
//!
//! Each handler [`subscribe`](SharedInformer::subscribe)s, at any time, and gets a
//! [`Subscription`]: the cache's state at that moment as [`Event::Added`] events, then every
//! change. Taking the snapshot and registering the handler happen under the writer's lock,
//! so nothing is missed or delivered twice (client-go's `blockDeltas`).
//!
//! The writer never waits for a handler: each subscription has a bounded buffer, and a
//! handler that falls behind is told it [lagged](Event::Lagged) and resynced from the cache
//! (see [`Subscription`]). Handlers can ask for a periodic [`Event::Resync`] of every object.

mod subscription;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

pub use subscription::{MIN_RESYNC_PERIOD, Subscription};

use crate::lister::ListerWatcher;
use crate::metrics::{Metrics, ResourceMetrics};
use crate::object::{Object, Transform};
use crate::reflector::{Reflector, ReflectorConfig, ReflectorError, Sink};
use crate::store::{Change, Indexers, Store, StoreError, StoreOp, StoreWriter};
use subscription::{Item, Mailbox};

/// Errors of shared informers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InformerError {
    /// The reflector configuration is invalid.
    #[error(transparent)]
    Reflector(#[from] ReflectorError),
    /// The indexes are invalid (two with one name).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `run` was called twice.
    #[error("the informer for {0} has already been started")]
    AlreadyStarted(String),
}

/// What a handler receives.
#[derive(Debug, PartialEq)]
pub enum Event<K> {
    /// An object appeared (or was in the cache when the handler subscribed).
    Added(Arc<K>),
    /// An object changed.
    Updated {
        /// The object before.
        old: Arc<K>,
        /// The object now.
        new: Arc<K>,
    },
    /// An object was deleted.
    Deleted {
        /// Its last known state.
        obj: Arc<K>,
        /// The deletion was inferred (a relist no longer had the object, or it vanished
        /// while the handler lagged): `obj` may not be its final state
        /// (client-go's `DeletedFinalStateUnknown`).
        final_state_unknown: bool,
    },
    /// Everything up to here reflects a complete list: sent once the first list is applied
    /// (immediately on subscribing to a synced informer), and at the end of each resync
    /// after [`Event::Lagged`].
    Synced,
    /// The handler's buffer overflowed and `missed` events were dropped. What follows, up to
    /// the next [`Event::Synced`], brings the handler up to date.
    Lagged {
        /// Events dropped.
        missed: u64,
    },
    /// An unchanged object, sent by a periodic or lag resync.
    Resync(Arc<K>),
}

impl<K> Clone for Event<K> {
    fn clone(&self) -> Self {
        match self {
            Event::Added(o) => Event::Added(Arc::clone(o)),
            Event::Updated { old, new } => Event::Updated { old: Arc::clone(old), new: Arc::clone(new) },
            Event::Deleted { obj, final_state_unknown } => {
                Event::Deleted { obj: Arc::clone(obj), final_state_unknown: *final_state_unknown }
            }
            Event::Synced => Event::Synced,
            Event::Lagged { missed } => Event::Lagged { missed: *missed },
            Event::Resync(o) => Event::Resync(Arc::clone(o)),
        }
    }
}

impl<K> From<Change<K>> for Event<K> {
    fn from(change: Change<K>) -> Self {
        match change {
            Change::Added(o) => Event::Added(o),
            Change::Updated { old, new } => Event::Updated { old, new },
            Change::Deleted { obj, final_state_unknown } => Event::Deleted { obj, final_state_unknown },
            Change::Synced => Event::Synced,
        }
    }
}

pub(crate) struct Hub<K> {
    writer: StoreWriter<K>,
    subscribers: Vec<Arc<Mailbox<K>>>,
    stopped: bool,
}

pub(crate) struct Inner<K> {
    hub: Mutex<Hub<K>>,
    store: Store<K>,
    reflector: Mutex<Option<Reflector<K>>>,
    resource: String,
    metrics: ResourceMetrics,
}

impl<K> Inner<K> {
    fn lock_hub(&self) -> MutexGuard<'_, Hub<K>> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies the reflector's operations to the cache and fans each change out, under the hub
/// lock.
struct HubSink<K> {
    inner: Arc<Inner<K>>,
}

impl<K: Object> Sink<K> for HubSink<K> {
    fn apply(&mut self, op: StoreOp<K>) {
        let mut hub = self.inner.lock_hub();
        let Hub { writer, subscribers, .. } = &mut *hub;
        let metrics = &self.inner.metrics;
        let mut gone = false;
        writer.apply_with(op, &mut |change, before| {
            let event = Event::from(change);
            for mailbox in subscribers.iter() {
                match mailbox.offer(&event, before) {
                    None => gone = true,
                    Some(true) => {
                        metrics.handler_lagged.inc();
                        debug!("a handler lagged");
                    }
                    Some(false) => {}
                }
            }
        });
        if gone {
            subscribers.retain(|m| !m.is_dropped());
        }
        metrics.store_objects.set(i64::try_from(writer.len()).unwrap_or(i64::MAX));
    }
}

/// Ends every subscription when the informer stops, however `run` ends.
struct StopOnDrop<K>(Arc<Inner<K>>);

impl<K> Drop for StopOnDrop<K> {
    fn drop(&mut self) {
        let mut hub = self.0.lock_hub();
        hub.stopped = true;
        for mailbox in hub.subscribers.drain(..) {
            mailbox.close();
        }
    }
}

/// One list+watch and one cache for a resource, shared by many handlers.
pub struct SharedInformer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

impl<K> fmt::Debug for SharedInformer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedInformer").field("resource", &self.inner.resource).finish()
    }
}

impl<K: Object> SharedInformer<K> {
    /// Starts building an informer over `lw`.
    pub fn builder(lw: impl ListerWatcher<K> + 'static) -> InformerBuilder<K> {
        InformerBuilder {
            lw: Box::new(lw),
            config: ReflectorConfig::default(),
            indexers: Ok(Indexers::new()),
            transform: None,
            metrics: None,
        }
    }

    /// The cache.
    pub fn store(&self) -> Store<K> {
        self.inner.store.clone()
    }

    /// Whether the first list has been applied.
    pub fn has_synced(&self) -> bool {
        self.inner.store.is_synced()
    }

    /// Subscribes a handler with a buffer of `buffer` events (at least 1; client-go's
    /// listeners start at 1024) and, optionally, a periodic resync (at least
    /// [`MIN_RESYNC_PERIOD`]).
    ///
    /// The subscription first yields the cache's current objects as [`Event::Added`]
    /// (and [`Event::Synced`] if the informer has synced), then the live stream. After the
    /// informer stops, it yields what remains and then ends.
    pub fn subscribe(&self, buffer: usize, resync: Option<Duration>) -> Subscription<K> {
        let mailbox = Arc::new(Mailbox::new(buffer, self.inner.metrics.handler_lag.clone()));
        let mut hub = self.inner.lock_hub();
        let snapshot = hub.writer.snapshot();
        let synced = snapshot.is_synced();
        if !snapshot.is_empty() {
            mailbox.push_unbounded(Item::Initial(snapshot));
        }
        if synced {
            mailbox.push_unbounded(Item::Event(Event::Synced));
        }
        if hub.stopped {
            mailbox.close();
        } else {
            hub.subscribers.push(Arc::clone(&mailbox));
        }
        drop(hub);
        Subscription::new(mailbox, Arc::clone(&self.inner), resync)
    }

    /// Number of subscribed handlers.
    pub fn handlers(&self) -> usize {
        self.inner.lock_hub().subscribers.iter().filter(|m| !m.is_dropped()).count()
    }

    /// Runs the reflector until `cancel` fires, then ends every subscription (after they
    /// have delivered what they hold). Fails if the informer was already started.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the informer exactly as cancelling the token does.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), InformerError> {
        let reflector = self
            .inner
            .reflector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| InformerError::AlreadyStarted(self.inner.resource.clone()))?;
        let _stop = StopOnDrop(Arc::clone(&self.inner));
        reflector.run(HubSink { inner: Arc::clone(&self.inner) }, cancel).await;
        Ok(())
    }
}

/// Builds a [`SharedInformer`].
#[must_use]
pub struct InformerBuilder<K> {
    lw: Box<dyn ListerWatcher<K>>,
    config: ReflectorConfig,
    indexers: Result<Indexers<K>, StoreError>,
    transform: Option<Transform<K>>,
    metrics: Option<Metrics>,
}

impl<K: Object> InformerBuilder<K> {
    /// Reflector settings (resource name, page size, streaming list, selectors).
    pub fn config(mut self, config: ReflectorConfig) -> Self {
        self.config = config;
        self
    }

    /// Adds a secondary index (in addition to the namespace index).
    pub fn index(mut self, name: impl Into<String>, func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.indexers = self.indexers.and_then(|i| i.with(name, func));
        self
    }

    /// Transforms every object before it enters the cache.
    pub fn transform(mut self, transform: Transform<K>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// Counts into these metric families.
    pub fn metrics(mut self, metrics: &Metrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Builds the informer (not started: see [`SharedInformer::run`]).
    pub fn build(self) -> Result<SharedInformer<K>, InformerError> {
        let metrics = self.metrics.unwrap_or_default().resource(&self.config.resource);
        let resource = self.config.resource.clone();
        let mut reflector = Reflector::new(self.lw, self.config)?.metrics(metrics.clone());
        if let Some(t) = self.transform {
            reflector = reflector.transform(t);
        }
        let writer = StoreWriter::new(self.indexers?);
        let store = writer.store();
        let hub = Hub { writer, subscribers: Vec::new(), stopped: false };
        let inner = Inner { hub: Mutex::new(hub), store, reflector: Mutex::new(Some(reflector)), resource, metrics };
        Ok(SharedInformer { inner: Arc::new(inner) })
    }
}

#[cfg(test)]
mod tests;
