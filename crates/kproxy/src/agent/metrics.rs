//! Prometheus metrics of the agent, with upstream kube-proxy's names
//! (`pkg/proxy/metrics/metrics.go`).

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set of per-table rule counts: `table="nat"|"filter"`.
pub type TableLabels = Vec<(&'static str, &'static str)>;

/// The agent's metrics. Clones share the same values.
#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    /// `kubeproxy_sync_proxy_rules_duration_seconds`: render and apply time of every sync.
    pub sync_duration: Histogram,
    /// `kubeproxy_sync_full_proxy_rules_duration_seconds`: full syncs only.
    pub full_sync_duration: Histogram,
    /// `kubeproxy_sync_partial_proxy_rules_duration_seconds`: partial syncs only.
    pub partial_sync_duration: Histogram,
    /// `kubeproxy_sync_proxy_rules_last_timestamp_seconds`: Unix time of the last successful
    /// sync.
    pub last_sync_timestamp: Gauge<f64, AtomicU64>,
    /// `kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds`: Unix time a change last
    /// queued a sync.
    pub last_queued_timestamp: Gauge<f64, AtomicU64>,
    /// `kubeproxy_network_programming_duration_seconds`: from an EndpointSlice's
    /// `endpoints.kubernetes.io/last-change-trigger-time` to the sync that programmed it.
    pub network_programming_duration: Histogram,
    /// `kubeproxy_sync_proxy_rules_iptables_total{table}`: `-A` rules in the last iptables
    /// document, per table (partial syncs count only what they wrote).
    pub iptables_rules: Family<TableLabels, Gauge>,
    /// `kubeproxy_sync_proxy_rules_iptables_restore_failures_total`: failed full
    /// `iptables-restore` runs.
    pub iptables_restore_failures: Counter,
    /// `kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total`: failed partial
    /// `iptables-restore` runs.
    pub iptables_partial_restore_failures: Counter,
    /// `kubeproxy_sync_proxy_rules_nftables_sync_failures_total`: failed `nft -f` runs.
    pub nftables_sync_failures: Counter,
    /// `kubeproxy_sync_proxy_rules_endpoint_changes_total`: EndpointSlice events applied.
    pub endpoint_changes: Counter,
    /// `kubeproxy_sync_proxy_rules_service_changes_total`: Service events applied.
    pub service_changes: Counter,
    /// `kubeproxy_sync_proxy_rules_conntrack_cleanup_failures_total` (kproxy's own): failed
    /// `conntrack -D` runs.
    pub conntrack_cleanup_failures: Counter,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        let sync = || Histogram::new(exponential_buckets(0.001, 2.0, 15));
        // Upstream: 0.25 s steps to 1 s, 1 s steps to 59 s, then 5 s and 30 s steps.
        let programming: Vec<f64> = [0.25, 0.5]
            .into_iter()
            .chain((1..60).map(f64::from))
            .chain((0..12).map(|i| 60.0 + 5.0 * f64::from(i)))
            .chain((0..7).map(|i| 120.0 + 30.0 * f64::from(i)))
            .collect();
        ProxyMetrics {
            sync_duration: sync(),
            full_sync_duration: sync(),
            partial_sync_duration: sync(),
            last_sync_timestamp: Gauge::default(),
            last_queued_timestamp: Gauge::default(),
            network_programming_duration: Histogram::new(programming),
            iptables_rules: Family::default(),
            iptables_restore_failures: Counter::default(),
            iptables_partial_restore_failures: Counter::default(),
            nftables_sync_failures: Counter::default(),
            endpoint_changes: Counter::default(),
            service_changes: Counter::default(),
            conntrack_cleanup_failures: Counter::default(),
        }
    }
}

impl ProxyMetrics {
    /// New metrics registered in `registry` (counter names get `_total` from the encoder).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            m.sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            m.full_sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            m.partial_sync_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "The last time proxy rules were successfully synced",
            m.last_sync_timestamp.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
            "The last time a sync of proxy rules was queued",
            m.last_queued_timestamp.clone(),
        );
        registry.register(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            m.network_programming_duration.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_iptables_total",
            "Total number of iptables rules owned by kube-proxy",
            m.iptables_rules.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_iptables_restore_failures",
            "Cumulative proxy iptables restore failures",
            m.iptables_restore_failures.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures",
            "Cumulative proxy iptables partial restore failures",
            m.iptables_partial_restore_failures.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_nftables_sync_failures",
            "Cumulative proxy nftables sync failures",
            m.nftables_sync_failures.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_endpoint_changes",
            "Cumulative proxy rules EndpointSlice changes",
            m.endpoint_changes.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_service_changes",
            "Cumulative proxy rules Service changes",
            m.service_changes.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_conntrack_cleanup_failures",
            "Cumulative failed conntrack cleanups of stale UDP entries",
            m.conntrack_cleanup_failures.clone(),
        );
        m
    }

    /// Sets the per-table iptables rule counts.
    pub fn set_iptables_rules(&self, nat: usize, filter: usize) {
        let to_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.iptables_rules.get_or_create(&vec![("table", "nat")]).set(to_i64(nat));
        self.iptables_rules.get_or_create(&vec![("table", "filter")]).set(to_i64(filter));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_upstreams() {
        let mut r = Registry::default();
        let m = ProxyMetrics::register(&mut r);
        m.sync_duration.observe(0.01);
        m.set_iptables_rules(325, 3);
        m.endpoint_changes.inc();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).map_err(|e| e.to_string()).ok();
        for name in [
            "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
            "kubeproxy_sync_proxy_rules_iptables_total{table=\"nat\"} 325",
            "kubeproxy_sync_proxy_rules_endpoint_changes_total 1",
            "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
            "kubeproxy_network_programming_duration_seconds_bucket",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
