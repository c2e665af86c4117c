//! Prometheus metrics of reflectors, stores and informers.
//!
//! Names follow the spirit of client-go's (since removed) `reflector_*` metrics, under the
//! `kwatch_` prefix, each labelled with the `resource` watched (`pods`, `deployments.apps`):
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `kwatch_lists_total` | counter | complete lists started (paginated or streamed) |
//! | `kwatch_relists_total` | counter | lists after the first (410, errors, fallbacks) |
//! | `kwatch_watches_total` | counter | watch requests |
//! | `kwatch_watch_events_total` | counter | watch events received (bookmarks included) |
//! | `kwatch_store_objects` | gauge | objects in the cache |
//! | `kwatch_handler_lag_events` | gauge | events queued for handlers, not yet taken |
//! | `kwatch_handler_lagged_total` | counter | times a handler's buffer overflowed |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The label set of every kwatch metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabel {
    resource: String,
}

/// The metric families, registered once per process (or per registry) and shared by every
/// reflector and informer.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    lists: Family<ResourceLabel, Counter>,
    relists: Family<ResourceLabel, Counter>,
    watches: Family<ResourceLabel, Counter>,
    watch_events: Family<ResourceLabel, Counter>,
    store_objects: Family<ResourceLabel, Gauge>,
    handler_lag: Family<ResourceLabel, Gauge>,
    handler_lagged: Family<ResourceLabel, Counter>,
}

impl Metrics {
    /// Creates the families and registers them. Without a call to this, [`Metrics::default`]
    /// counts into families that no registry exports.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("kwatch_lists", "Complete lists started by reflectors", m.lists.clone());
        registry.register("kwatch_relists", "Lists after the first one of a reflector", m.relists.clone());
        registry.register("kwatch_watches", "Watch requests made by reflectors", m.watches.clone());
        registry.register("kwatch_watch_events", "Watch events received by reflectors", m.watch_events.clone());
        registry.register("kwatch_store_objects", "Objects in the cache", m.store_objects.clone());
        registry.register(
            "kwatch_handler_lag_events",
            "Events queued for informer handlers and not yet taken",
            m.handler_lag.clone(),
        );
        registry.register(
            "kwatch_handler_lagged",
            "Times an informer handler's buffer overflowed",
            m.handler_lagged.clone(),
        );
        m
    }

    /// The metrics of one resource (`pods`, `deployments.apps`).
    pub fn resource(&self, resource: &str) -> ResourceMetrics {
        let label = ResourceLabel { resource: resource.to_owned() };
        ResourceMetrics {
            lists: self.lists.get_or_create(&label).clone(),
            relists: self.relists.get_or_create(&label).clone(),
            watches: self.watches.get_or_create(&label).clone(),
            watch_events: self.watch_events.get_or_create(&label).clone(),
            store_objects: self.store_objects.get_or_create(&label).clone(),
            handler_lag: self.handler_lag.get_or_create(&label).clone(),
            handler_lagged: self.handler_lagged.get_or_create(&label).clone(),
        }
    }
}

/// The metrics of one resource; cheap to clone (handles on shared atomics).
#[derive(Debug, Clone, Default)]
pub struct ResourceMetrics {
    pub(crate) lists: Counter,
    pub(crate) relists: Counter,
    pub(crate) watches: Counter,
    pub(crate) watch_events: Counter,
    pub(crate) store_objects: Gauge,
    pub(crate) handler_lag: Gauge,
    pub(crate) handler_lagged: Counter,
}

impl ResourceMetrics {
    /// Complete lists started.
    pub fn lists(&self) -> u64 {
        self.lists.get()
    }
    /// Lists after the first.
    pub fn relists(&self) -> u64 {
        self.relists.get()
    }
    /// Watch requests.
    pub fn watches(&self) -> u64 {
        self.watches.get()
    }
    /// Watch events received.
    pub fn watch_events(&self) -> u64 {
        self.watch_events.get()
    }
    /// Objects in the cache.
    pub fn store_objects(&self) -> i64 {
        self.store_objects.get()
    }
    /// Events queued for handlers.
    pub fn handler_lag_events(&self) -> i64 {
        self.handler_lag.get()
    }
    /// Handler buffer overflows.
    pub fn handler_lagged(&self) -> u64 {
        self.handler_lagged.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn exported_names() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let pods = metrics.resource("pods");
        pods.lists.inc();
        pods.store_objects.set(3);
        pods.handler_lag.inc();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "kwatch_lists_total{resource=\"pods\"} 1",
            "kwatch_relists_total{resource=\"pods\"} 0",
            "kwatch_watches_total{resource=\"pods\"} 0",
            "kwatch_watch_events_total{resource=\"pods\"} 0",
            "kwatch_store_objects{resource=\"pods\"} 3",
            "kwatch_handler_lag_events{resource=\"pods\"} 1",
            "kwatch_handler_lagged_total{resource=\"pods\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Handles of the same resource share their values.
        assert_eq!(metrics.resource("pods").lists(), 1);
        assert_eq!(metrics.resource("nodes").lists(), 0);
    }
}
