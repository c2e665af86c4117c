//! Prometheus metrics of work queues, named as client-go's and labelled as
//! controller-runtime's: `name` and `controller`, both the queue's name.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `workqueue_depth` | gauge | keys waiting to be handed out (see [`Queue::depth`]) |
//! | `workqueue_adds_total` | counter | keys that started waiting (deduplicated adds are not counted) |
//! | `workqueue_queue_duration_seconds` | histogram | time from the add to the hand-out |
//! | `workqueue_work_duration_seconds` | histogram | time from the hand-out to `done` |
//! | `workqueue_unfinished_work_seconds` | gauge | sum of the running times of keys in progress |
//! | `workqueue_longest_running_processor_seconds` | gauge | running time of the oldest key in progress |
//! | `workqueue_retries_total` | counter | delayed adds (rate-limited or `add_after`) |
//!
//! Histogram buckets are client-go's: 10 ns to 10 s, ×10 apart (`1e-8 · 10^i`, 10 buckets).
//!
//! The two in-progress gauges are computed at scrape time by a collector that asks each
//! queue for its running keys, so a stuck worker shows up on the very next scrape (client-go
//! refreshes them every 500 ms instead). Queues report through [`InFlightSource`];
//! [`WorkQueue`](super::WorkQueue) does that by itself when built with metrics.
//!
//! [`Queue::depth`]: super::Queue::depth

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label set of every work queue metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueueLabels {
    name: String,
    controller: String,
}

impl QueueLabels {
    fn new(name: &str) -> Self {
        Self { name: name.to_owned(), controller: name.to_owned() }
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-8, 10.0, 10))
}

type HistogramFamily = Family<QueueLabels, Histogram, fn() -> Histogram>;

/// What a queue has in progress at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Keys handed out and not done.
    pub count: usize,
    /// The sum of their running times.
    pub unfinished: Duration,
    /// The running time of the oldest.
    pub longest: Duration,
}

/// A queue that can tell what it has in progress; asked at every scrape.
pub trait InFlightSource: Send + Sync {
    /// The keys in progress now.
    fn in_flight(&self) -> InFlight;
}

/// The metric families of work queues, registered once per registry and shared by every
/// queue; [`WorkQueueMetrics::queue`] hands out the series of one queue.
#[derive(Debug, Clone)]
pub struct WorkQueueMetrics {
    depth: Family<QueueLabels, Gauge>,
    adds: Family<QueueLabels, Counter>,
    queue_duration: HistogramFamily,
    work_duration: HistogramFamily,
    retries: Family<QueueLabels, Counter>,
    in_flight: Arc<InFlightCollector>,
}

impl Default for WorkQueueMetrics {
    /// Families that no registry exports; see [`WorkQueueMetrics::register`].
    fn default() -> Self {
        Self {
            depth: Family::default(),
            adds: Family::default(),
            queue_duration: Family::new_with_constructor(duration_histogram),
            work_duration: Family::new_with_constructor(duration_histogram),
            retries: Family::default(),
            in_flight: Arc::default(),
        }
    }
}

impl WorkQueueMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        // Counters are registered without `_total`: the encoder appends it.
        registry.register("workqueue_depth", "Current depth of workqueue", m.depth.clone());
        registry.register("workqueue_adds", "Total number of adds handled by workqueue", m.adds.clone());
        registry.register(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            m.queue_duration.clone(),
        );
        registry.register(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            m.work_duration.clone(),
        );
        registry.register("workqueue_retries", "Total number of retries handled by workqueue", m.retries.clone());
        registry.register_collector(Box::new(m.in_flight.clone()));
        m
    }

    /// The series of the queue called `name`. Queues of one name share them.
    pub fn queue(&self, name: &str) -> QueueMetrics {
        let labels = QueueLabels::new(name);
        QueueMetrics {
            depth: self.depth.get_or_create(&labels).clone(),
            adds: self.adds.get_or_create(&labels).clone(),
            queue_duration: self.queue_duration.get_or_create(&labels).clone(),
            work_duration: self.work_duration.get_or_create(&labels).clone(),
            retries: self.retries.get_or_create(&labels).clone(),
        }
    }

    /// Reports the in-progress gauges of the queue `name` from `source` for as long as
    /// `source` lives. Sources of one name add up (longest: the maximum).
    pub fn track_in_flight<S: InFlightSource + 'static>(&self, name: &str, source: &Arc<S>) {
        let weak: Weak<dyn InFlightSource> = Arc::downgrade(source) as Weak<dyn InFlightSource>;
        self.in_flight.sources.lock().unwrap_or_else(PoisonError::into_inner).push((name.to_owned(), weak));
    }
}

/// The series of one queue; cheap to clone (handles on shared atomics).
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    pub(crate) depth: Gauge,
    pub(crate) adds: Counter,
    pub(crate) queue_duration: Histogram,
    pub(crate) work_duration: Histogram,
    pub(crate) retries: Counter,
}

impl Default for QueueMetrics {
    /// Series that no registry exports.
    fn default() -> Self {
        Self {
            depth: Gauge::default(),
            adds: Counter::default(),
            queue_duration: duration_histogram(),
            work_duration: duration_histogram(),
            retries: Counter::default(),
        }
    }
}

impl QueueMetrics {
    /// `workqueue_depth`.
    pub fn depth(&self) -> i64 {
        self.depth.get()
    }
    /// `workqueue_adds_total`.
    pub fn adds(&self) -> u64 {
        self.adds.get()
    }
    /// `workqueue_retries_total`.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }
}

/// Computes the in-progress gauges at scrape time.
#[derive(Debug, Default)]
struct InFlightCollector {
    sources: Mutex<Vec<(String, Weak<dyn InFlightSource>)>>,
}

impl Collector for InFlightCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // (name, unfinished, longest), one row per name in the order first registered.
        let mut rows: Vec<(String, f64, f64)> = Vec::new();
        {
            let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            // Dropped queues leave the list here, so the list stays as long as the live ones.
            sources.retain(|(_, weak)| weak.strong_count() > 0);
            for (name, weak) in sources.iter() {
                let Some(source) = weak.upgrade() else { continue };
                let f = source.in_flight();
                let (sum, max) = (f.unfinished.as_secs_f64(), f.longest.as_secs_f64());
                match rows.iter_mut().find(|(n, _, _)| n == name) {
                    Some(row) => {
                        row.1 += sum;
                        row.2 = row.2.max(max);
                    }
                    None => rows.push((name.clone(), sum, max)),
                }
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let unfinished = encoder.encode_descriptor(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by \
             work_duration. Large values indicate stuck threads. One can deduce the number of stuck \
             threads by observing the rate at which this increases.",
            None,
            MetricType::Gauge,
        )?;
        encode_rows(unfinished, rows.iter().map(|(name, sum, _)| (name, *sum)))?;
        let longest = encoder.encode_descriptor(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            None,
            MetricType::Gauge,
        )?;
        encode_rows(longest, rows.iter().map(|(name, _, max)| (name, *max)))
    }
}

fn encode_rows<'a>(
    mut family: prometheus_client::encoding::MetricEncoder<'_>,
    rows: impl Iterator<Item = (&'a String, f64)>,
) -> Result<(), std::fmt::Error> {
    for (name, value) in rows {
        let labels = QueueLabels::new(name);
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}
