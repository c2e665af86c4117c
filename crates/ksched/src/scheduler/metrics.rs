//! kube-scheduler's metrics, with upstream's names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    result: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

fn attempt_histogram() -> Histogram {
    // Upstream: exponential buckets from 1 ms, factor 2, 15 buckets.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The scheduler's metric families.
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    attempts: Family<AttemptLabels, Counter>,
    duration: Family<AttemptLabels, Histogram, fn() -> Histogram>,
    pending: Family<QueueLabel, Gauge>,
    preemption_attempts: Counter,
    preemption_victims: Counter,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            duration: Family::new_with_constructor(attempt_histogram),
            pending: Family::default(),
            preemption_attempts: Counter::default(),
            preemption_victims: Counter::default(),
        }
    }
}

impl SchedulerMetrics {
    /// Creates and registers the families (counters gain `_total` on exposition).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result",
            m.attempts.clone(),
        );
        registry.register(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            m.duration.clone(),
        );
        registry.register("scheduler_pending_pods", "Number of pending pods, by the queue type", m.pending.clone());
        registry.register(
            "scheduler_preemption_attempts",
            "Total preemption attempts in the cluster till now",
            m.preemption_attempts.clone(),
        );
        registry.register(
            "scheduler_preemption_victims",
            "Number of selected preemption victims",
            m.preemption_victims.clone(),
        );
        m
    }

    /// Records one attempt: `scheduled`, `unschedulable` or `error`.
    pub(crate) fn attempt(&self, result: &'static str, profile: &str, seconds: f64) {
        let labels = AttemptLabels { result, profile: profile.to_owned() };
        self.attempts.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(seconds);
    }

    /// Records a preemption with its victims.
    pub(crate) fn preemption(&self, victims: usize) {
        self.preemption_attempts.inc();
        self.preemption_victims.inc_by(victims as u64);
    }

    /// Sets the pending pod gauges.
    pub(crate) fn pending(&self, (active, backoff, unschedulable, gated): (usize, usize, usize, usize)) {
        for (queue, n) in [("active", active), ("backoff", backoff), ("unschedulable", unschedulable), ("gated", gated)]
        {
            self.pending.get_or_create(&QueueLabel { queue }).set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}
