//! Controllers for Kubernetes: a workqueue with client-go's guarantees, a reconcile runtime
//! with controller-runtime's builder, leader election, events and finalizers — and the
//! built-in controllers of the cluster's kube-controller-manager.
//!
//! A controller watches objects through shared informers ([`kwatch`]), turns every change
//! into the key of the object to reconcile, and calls a [`Reconciler`](runtime::Reconciler)
//! with that key and the cached object — level-triggered, never twice at once for one key,
//! retried with per-key backoff on errors.
//!
//! ```
//! use std::time::Duration;
//!
//! use kapi::k8s::api::core::v1::ConfigMap;
//! use kcontroller::runtime::{Action, Controller, ReconcileError, Request};
//! use kwatch::informer::SharedInformer;
//! use kwatch::memory::MemoryListerWatcher;
//! use tokio_util::sync::CancellationToken;
//!
//! fn config_map(name: &str) -> ConfigMap {
//!     let mut c = ConfigMap::default();
//!     c.metadata.namespace = Some("default".into());
//!     c.metadata.name = Some(name.into());
//!     c
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! // The objects: here in memory; in a program, an API server (`kwatch::http`).
//! let source = MemoryListerWatcher::new();
//! source.create(config_map("settings"))?;
//! let informer = SharedInformer::builder(source.clone()).build()?;
//! let cancel = CancellationToken::new();
//! tokio::spawn({
//!     let (informer, cancel) = (informer.clone(), cancel.clone());
//!     async move { informer.run(cancel).await }
//! });
//!
//! // The reconciler sees keys and cached objects.
//! let (seen, mut reconciled) = tokio::sync::mpsc::unbounded_channel();
//! let reconcile = move |req: Request<ConfigMap>| {
//!     let seen = seen.clone();
//!     async move {
//!         let data = req.object.map(|cm| cm.data.clone().unwrap_or_default().len());
//!         seen.send((req.key.to_string(), data)).map_err(ReconcileError::new)?;
//!         Ok(Action::Done)
//!     }
//! };
//! let controller = Controller::new("config-maps", informer).workers(2);
//! let running = tokio::spawn(controller.run(reconcile, cancel.clone()));
//!
//! assert_eq!(reconciled.recv().await, Some(("default/settings".to_owned(), Some(0))));
//! source.delete(&kapi::ObjectKey::namespaced("default", "settings"))?;
//! assert_eq!(reconciled.recv().await, Some(("default/settings".to_owned(), None)));
//!
//! cancel.cancel();
//! running.await??;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! Modules:
//! - [`workqueue`]: the queue (pure core + async wrapper), rate limiters, metrics.
//! - [`runtime`]: [`Controller`](runtime::Controller), predicates, reconcile results,
//!   controller-runtime's metrics.
//! - [`informers`]: one shared informer per resource for all controllers of a process.
//! - [`leader`]: leader election on coordination Leases.
//! - [`events`]: an `events.k8s.io/v1` recorder with series deduplication.
//! - [`finalizer`]: cleanup before deletion.
//! - [`controllers`]: the built-in controllers; [`manager`] runs them together.
//! - [`discovery`]: which resources the server serves.
//! - [`volume`]: binding claims to volumes (the PV controller's decisions).

#![forbid(unsafe_code)]

pub mod apps;
pub mod controllers;
pub mod discovery;
pub mod events;
pub mod finalizer;
pub mod informers;
pub mod leader;
pub mod manager;
pub mod runtime;
pub mod volume;
pub mod workqueue;
