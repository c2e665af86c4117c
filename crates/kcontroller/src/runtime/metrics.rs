//! controller-runtime's reconcile metrics, with its names and labels.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::workqueue::WorkQueueMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabel {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    controller: String,
    result: &'static str,
}

fn time_histogram() -> Histogram {
    // controller-runtime's buckets span 5 ms … 60 s; exponential from 5 ms ×2 covers them.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The metric families of every controller in a process: controller-runtime's reconcile
/// metrics and the controllers' work queue metrics (`workqueue_*`).
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    queues: Option<WorkQueueMetrics>,
    total: Family<ResultLabel, Counter>,
    errors: Family<ControllerLabel, Counter>,
    terminal: Family<ControllerLabel, Counter>,
    panics: Family<ControllerLabel, Counter>,
    time: Family<ControllerLabel, Histogram, fn() -> Histogram>,
    max_concurrent: Family<ControllerLabel, Gauge>,
    active: Family<ControllerLabel, Gauge>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            queues: None,
            total: Family::default(),
            errors: Family::default(),
            terminal: Family::default(),
            panics: Family::default(),
            time: Family::new_with_constructor(time_histogram),
            max_concurrent: Family::default(),
            active: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Creates the families and registers them (counters gain `_total` on exposition).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self { queues: Some(WorkQueueMetrics::register(registry)), ..Self::default() };
        registry.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            m.total.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            m.errors.clone(),
        );
        registry.register(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller",
            m.terminal.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_panics",
            "Total number of reconciliation panics per controller",
            m.panics.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            m.time.clone(),
        );
        registry.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            m.max_concurrent.clone(),
        );
        registry.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            m.active.clone(),
        );
        m
    }

    /// The work queue families, when registered.
    pub fn queues(&self) -> Option<&WorkQueueMetrics> {
        self.queues.as_ref()
    }

    /// The handles of one controller.
    pub(crate) fn controller(&self, name: &str) -> Handles {
        let label = ControllerLabel { controller: name.to_owned() };
        let result = |result| self.total.get_or_create(&ResultLabel { controller: name.to_owned(), result }).clone();
        Handles {
            success: result("success"),
            error: result("error"),
            requeue: result("requeue"),
            requeue_after: result("requeue_after"),
            errors: self.errors.get_or_create(&label).clone(),
            terminal: self.terminal.get_or_create(&label).clone(),
            panics: self.panics.get_or_create(&label).clone(),
            time: self.time.get_or_create(&label).clone(),
            max_concurrent: self.max_concurrent.get_or_create(&label).clone(),
            active: self.active.get_or_create(&label).clone(),
        }
    }
}

/// One controller's metric handles.
#[derive(Clone, Debug)]
pub(crate) struct Handles {
    pub(crate) success: Counter,
    pub(crate) error: Counter,
    pub(crate) requeue: Counter,
    pub(crate) requeue_after: Counter,
    pub(crate) errors: Counter,
    pub(crate) terminal: Counter,
    pub(crate) panics: Counter,
    pub(crate) time: Histogram,
    pub(crate) max_concurrent: Gauge,
    pub(crate) active: Gauge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_controller_runtime_names() {
        let mut registry = Registry::default();
        let m = ControllerMetrics::register(&mut registry);
        let h = m.controller("replicaset");
        h.success.inc();
        h.time.observe(0.01);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains(r#"controller_runtime_reconcile_total{controller="replicaset",result="success"} 1"#));
        assert!(text.contains("controller_runtime_reconcile_time_seconds_bucket"));
        assert!(text.contains("controller_runtime_active_workers"));
        assert!(m.queues().is_some());
    }
}
