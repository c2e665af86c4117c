//! Reflectors, indexed caches and shared informers: how controllers, the scheduler and
//! kubelets see the cluster.
//!
//! ```
//! use std::time::Duration;
//!
//! use kapi::ObjectKey;
//! use kapi::k8s::api::core::v1::{Pod, PodSpec};
//! use kwatch::informer::{Event, SharedInformer};
//! use kwatch::memory::MemoryListerWatcher;
//! use kwatch::object::Transform;
//! use kwatch::reflector::ReflectorConfig;
//! use tokio_util::sync::CancellationToken;
//!
//! fn pod(name: &str, node: &str) -> Pod {
//!     let mut p = Pod::default();
//!     p.metadata.namespace = Some("default".into());
//!     p.metadata.name = Some(name.into());
//!     p.spec = Some(PodSpec { node_name: Some(node.into()), ..PodSpec::default() });
//!     p
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! // A source: here in memory; in a program, the API server.
//! let source = MemoryListerWatcher::new();
//! source.create(pod("web-0", "node-1"))?;
//!
//! // One informer per resource: a reflector, a cache with a secondary index, a transform.
//! let informer = SharedInformer::builder(source.clone())
//!     .config(ReflectorConfig::new("pods"))
//!     .index("node", |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect())
//!     .transform(Transform::strip_managed_fields())
//!     .build()?;
//!
//! // Any number of handlers, subscribed before or after the start.
//! let mut handler = informer.subscribe(1024, None);
//! let stop = CancellationToken::new();
//! let running = tokio::spawn({
//!     let (informer, stop) = (informer.clone(), stop.clone());
//!     async move { informer.run(stop).await }
//! });
//!
//! let store = informer.store();
//! store.wait_until_synced().await?;
//! assert!(matches!(handler.recv().await, Some(Event::Added(p)) if p.metadata.name.as_deref() == Some("web-0")));
//! assert_eq!(handler.recv().await, Some(Event::Synced));
//!
//! source.create(pod("web-1", "node-1"))?;
//! assert!(matches!(handler.recv().await, Some(Event::Added(_))));
//! assert_eq!(store.index_keys("node", "node-1")?.len(), 2);
//! assert!(store.get(&ObjectKey::namespaced("default", "web-1")).is_some());
//!
//! stop.cancel();
//! running.await??;
//! assert_eq!(handler.recv().await, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! # Place in the architecture
//!
//! `kwatch` depends on `kapi` only. It is what every client of the API server builds on:
//! `kcontroller` (work queues and reconcilers), `ksched`, `knode` and `kproxy` read the
//! cluster through its caches and react to its events. Sources implement
//! [`ListerWatcher`](lister::ListerWatcher): the HTTP client of an API server, an in-process
//! `kapiserver`, or the in-memory [`MemoryListerWatcher`](memory::MemoryListerWatcher) that
//! tests use.
//!
//! # Modules
//!
//! - [`lister`]: the source trait, list and watch parameters, events, errors.
//! - [`reflector`]: list, then watch, relist on 410, backoff; paginated or streaming lists.
//! - [`store`]: the cache, snapshot reads that never block the writer, indexes, relists
//!   applied as diffs with tombstones.
//! - [`informer`]: shared informers and their subscriptions.
//! - [`object`]: what can be cached; transforms; metadata-only objects.
//! - [`packed`]: compact objects (typed metadata + JSON) for large caches.
//! - [`memory`]: the in-memory source.
//! - [`source`]: HTTP or in-process, chosen at run time.
//! - [`metrics`]: Prometheus metrics.
//!
//! # Differences from client-go
//!
//! - Handlers have bounded buffers; a handler that falls behind is resynced (see
//!   [`informer::Subscription`]) instead of buffering without limit.
//! - A relist whose object has the cached `resourceVersion` keeps the cached object and
//!   sends nothing (client-go sends an update with equal versions to resyncing handlers).
//! - A relist is applied page by page as a diff, so the cache may briefly mix objects of
//!   the new list with ones not yet listed; each object only moves forward in time.
//! - Transport failures when opening a watch back off and retry the watch (client-go retries
//!   only "connection refused"; other failures relist).
//! - A server that answers a streaming list with a plain watch (a bookmark without the
//!   initial-events-end annotation) is not asked for streaming lists again.

#![forbid(unsafe_code)]

pub mod http;
pub mod informer;
#[cfg(feature = "kapiserver")]
pub mod inprocess;
pub mod lister;
pub mod memory;
pub mod metrics;
pub mod object;
pub mod packed;
mod pmap;
pub mod reflector;
pub mod source;
pub mod store;
