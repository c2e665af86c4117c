//! The work queue between informers and reconcilers, with client-go's and
//! controller-runtime's semantics: deduplication, one worker per key at a time, priorities,
//! delays, per-key rate limiting and Prometheus metrics.
//!
//! [`Queue`] is the pure state machine (time is an argument), which tests and property tests
//! drive directly; [`WorkQueue`] runs it for async producers and workers:
//!
//! ```
//! use std::time::Duration;
//!
//! use kcontroller::workqueue::{Priority, WorkQueue};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let queue = WorkQueue::<String>::new("pods");
//! queue.add("default/web-0".to_owned());
//! queue.add_with_priority("default/web-1".to_owned(), Priority::LOW);
//! queue.add("default/web-0".to_owned()); // deduplicated
//!
//! let worker = tokio::spawn({
//!     let queue = queue.clone();
//!     async move {
//!         let mut seen = Vec::new();
//!         while let Some(lease) = queue.next().await {
//!             seen.push(lease.key().clone());
//!             lease.finish(); // success: forget its failures; dropping a lease also marks it done
//!         }
//!         seen
//!     }
//! });
//! tokio::time::sleep(Duration::from_millis(10)).await;
//! queue.shutdown_and_drain().await;
//! assert_eq!(worker.await.unwrap(), ["default/web-0", "default/web-1"]);
//! # }
//! ```

mod core;
mod metrics;
mod queue;
mod ratelimit;
#[cfg(test)]
mod tests;

pub use self::core::{AddOpts, AddOutcome, DoneOutcome, Priority, Queue};
pub use self::metrics::{InFlight, InFlightSource, QueueMetrics, WorkQueueMetrics};
pub use self::queue::{Lease, WorkQueue, WorkQueueBuilder};
pub use self::ratelimit::{
    BoxRateLimiter, ExponentialBackoff, MaxOf, RateLimiter, TokenBucket, default_controller_rate_limiter,
};
