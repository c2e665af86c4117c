//! An embeddable Kubernetes scheduler: upstream's framework (every extension point as a
//! trait), scheduling queue, cache and default plugins with their exact formulas — usable
//! in memory inside an application, or against the Kubernetes API as `kube-scheduler`.
//!
//! ```
//! use std::sync::Arc;
//!
//! use kapi::k8s::api::core::v1::{Node, Pod};
//! use ksched::framework::SchedulerConfig;
//! use ksched::scheduler::{Outcome, Scheduler};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! # rt.block_on(async {
//! // The default profile (upstream's plugins and weights), binding in memory.
//! let config = SchedulerConfig::default();
//! let profiles = config.build_profiles(&ksched::memory::registry())?;
//! let (mut scheduler, handle, mut outcomes) = Scheduler::new(profiles, &config, true);
//!
//! // The application feeds nodes and pods …
//! for (name, cpu) in [("small", "1"), ("large", "8")] {
//!     let node: Node = serde_json::from_value(json!({"metadata": {"name": name},
//!         "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"}}}))?;
//!     handle.add_node(Arc::new(node));
//! }
//! let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}))?;
//! handle.add_pod(Arc::new(pod));
//!
//! // … and receives the decisions (or runs `scheduler.run(cancel)` in a task).
//! scheduler.drain().await;
//! assert_eq!(
//!     outcomes.recv().await,
//!     Some(Outcome::Bound { pod: "default/web".into(), node: "large".into() })
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })
//! # }
//! ```
//!
//! Modules:
//! - [`framework`]: the plugin traits, statuses, cycle state, snapshots, events and
//!   queueing hints, profiles, the registry and `KubeSchedulerConfiguration`.
//! - [`plugins`]: the default plugins.
//! - [`queue`]: activeQ, backoffQ, unschedulable pods, gates, hints, nominations.
//! - [`cache`]: nodes with their pods, assumed pods, incremental snapshots.
//! - [`scheduler`]: the scheduling loop, cycles and binding cycles.
//! - [`memory`]: running without an API server; `kube` (feature `kube`): against one.

#![forbid(unsafe_code)]

pub mod cache;
pub mod framework;
#[cfg(feature = "kube")]
pub mod kube;
pub mod memory;
pub mod plugins;
pub mod queue;
pub mod scheduler;
pub mod types;
