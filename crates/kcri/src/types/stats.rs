//! Resource usage statistics and metrics of containers and sandboxes.

use std::time::SystemTime;

use super::{
    ContainerMetadata, FilesystemUsage, Labels, PodSandboxMetadata, nanos_from_time, time_from_nanos, wire_enum,
};
use crate::proto::v1 as pb;

fn opt_u64(v: Option<pb::UInt64Value>) -> Option<u64> {
    v.map(|v| v.value)
}

fn wrap_u64(v: Option<u64>) -> Option<pb::UInt64Value> {
    v.map(|value| pb::UInt64Value { value })
}

/// CPU usage (`CpuUsage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// When it was measured.
    pub timestamp: Option<SystemTime>,
    /// Cumulative CPU time in core-nanoseconds.
    pub usage_core_nano_seconds: Option<u64>,
    /// Recent usage in nanocores (1e9 = one core).
    pub usage_nano_cores: Option<u64>,
}

impl From<pb::CpuUsage> for CpuUsage {
    fn from(p: pb::CpuUsage) -> Self {
        Self {
            timestamp: time_from_nanos(p.timestamp),
            usage_core_nano_seconds: opt_u64(p.usage_core_nano_seconds),
            usage_nano_cores: opt_u64(p.usage_nano_cores),
        }
    }
}

impl From<CpuUsage> for pb::CpuUsage {
    fn from(d: CpuUsage) -> Self {
        Self {
            timestamp: nanos_from_time(d.timestamp),
            usage_core_nano_seconds: wrap_u64(d.usage_core_nano_seconds),
            usage_nano_cores: wrap_u64(d.usage_nano_cores),
            psi: None,
        }
    }
}

/// Memory usage (`MemoryUsage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// When it was measured.
    pub timestamp: Option<SystemTime>,
    /// Working set in bytes (what eviction looks at).
    pub working_set_bytes: Option<u64>,
    /// Bytes available before the limit.
    pub available_bytes: Option<u64>,
    /// Total usage in bytes.
    pub usage_bytes: Option<u64>,
    /// Anonymous and swap cache memory in bytes.
    pub rss_bytes: Option<u64>,
    /// Cumulative page faults.
    pub page_faults: Option<u64>,
    /// Cumulative major page faults.
    pub major_page_faults: Option<u64>,
}

impl From<pb::MemoryUsage> for MemoryUsage {
    fn from(p: pb::MemoryUsage) -> Self {
        Self {
            timestamp: time_from_nanos(p.timestamp),
            working_set_bytes: opt_u64(p.working_set_bytes),
            available_bytes: opt_u64(p.available_bytes),
            usage_bytes: opt_u64(p.usage_bytes),
            rss_bytes: opt_u64(p.rss_bytes),
            page_faults: opt_u64(p.page_faults),
            major_page_faults: opt_u64(p.major_page_faults),
        }
    }
}

impl From<MemoryUsage> for pb::MemoryUsage {
    fn from(d: MemoryUsage) -> Self {
        Self {
            timestamp: nanos_from_time(d.timestamp),
            working_set_bytes: wrap_u64(d.working_set_bytes),
            available_bytes: wrap_u64(d.available_bytes),
            usage_bytes: wrap_u64(d.usage_bytes),
            rss_bytes: wrap_u64(d.rss_bytes),
            page_faults: wrap_u64(d.page_faults),
            major_page_faults: wrap_u64(d.major_page_faults),
            psi: None,
        }
    }
}

/// Statistics of one container (`ContainerStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// Container id.
    pub id: String,
    /// Container name and attempt.
    pub metadata: ContainerMetadata,
    /// Container labels.
    pub labels: Labels,
    /// Container annotations.
    pub annotations: Labels,
    /// CPU usage.
    pub cpu: Option<CpuUsage>,
    /// Memory usage.
    pub memory: Option<MemoryUsage>,
    /// Usage of the writable layer.
    pub writable_layer: Option<FilesystemUsage>,
}

impl From<pb::ContainerStats> for ContainerStats {
    fn from(p: pb::ContainerStats) -> Self {
        let attrs = p.attributes.unwrap_or_default();
        Self {
            id: attrs.id,
            metadata: attrs.metadata.map(Into::into).unwrap_or_default(),
            labels: attrs.labels,
            annotations: attrs.annotations,
            cpu: p.cpu.map(Into::into),
            memory: p.memory.map(Into::into),
            writable_layer: p.writable_layer.map(Into::into),
        }
    }
}

impl From<ContainerStats> for pb::ContainerStats {
    fn from(d: ContainerStats) -> Self {
        Self {
            attributes: Some(pb::ContainerAttributes {
                id: d.id,
                metadata: Some(d.metadata.into()),
                labels: d.labels,
                annotations: d.annotations,
            }),
            cpu: d.cpu.map(Into::into),
            memory: d.memory.map(Into::into),
            writable_layer: d.writable_layer.map(Into::into),
            swap: None,
            io: None,
        }
    }
}

/// Which containers `ListContainerStats` covers (`ContainerStatsFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStatsFilter {
    /// Container id.
    pub id: Option<String>,
    /// Sandbox id.
    pub pod_sandbox_id: Option<String>,
    /// Labels that must all match.
    pub label_selector: Labels,
}

/// Network usage of one interface (`NetworkInterfaceUsage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInterfaceUsage {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: Option<u64>,
    /// Receive errors.
    pub rx_errors: Option<u64>,
    /// Bytes sent.
    pub tx_bytes: Option<u64>,
    /// Send errors.
    pub tx_errors: Option<u64>,
}

impl From<pb::NetworkInterfaceUsage> for NetworkInterfaceUsage {
    fn from(p: pb::NetworkInterfaceUsage) -> Self {
        Self {
            name: p.name,
            rx_bytes: opt_u64(p.rx_bytes),
            rx_errors: opt_u64(p.rx_errors),
            tx_bytes: opt_u64(p.tx_bytes),
            tx_errors: opt_u64(p.tx_errors),
        }
    }
}

impl From<NetworkInterfaceUsage> for pb::NetworkInterfaceUsage {
    fn from(d: NetworkInterfaceUsage) -> Self {
        Self {
            name: d.name,
            rx_bytes: wrap_u64(d.rx_bytes),
            rx_errors: wrap_u64(d.rx_errors),
            tx_bytes: wrap_u64(d.tx_bytes),
            tx_errors: wrap_u64(d.tx_errors),
        }
    }
}

/// Statistics of one sandbox (`PodSandboxStats`, Linux part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxStats {
    /// Sandbox id.
    pub id: String,
    /// Pod identity.
    pub metadata: PodSandboxMetadata,
    /// Sandbox labels.
    pub labels: Labels,
    /// Sandbox annotations.
    pub annotations: Labels,
    /// CPU usage of the whole pod.
    pub cpu: Option<CpuUsage>,
    /// Memory usage of the whole pod.
    pub memory: Option<MemoryUsage>,
    /// Network usage: the default interface first, then all.
    pub network: Vec<NetworkInterfaceUsage>,
    /// Number of processes.
    pub process_count: Option<u64>,
    /// Statistics of the sandbox's containers.
    pub containers: Vec<ContainerStats>,
}

impl From<pb::PodSandboxStats> for PodSandboxStats {
    fn from(p: pb::PodSandboxStats) -> Self {
        let attrs = p.attributes.unwrap_or_default();
        let linux = p.linux.unwrap_or_default();
        let network = linux
            .network
            .map(|n| n.default_interface.into_iter().chain(n.interfaces).map(Into::into).collect())
            .unwrap_or_default();
        Self {
            id: attrs.id,
            metadata: attrs.metadata.map(Into::into).unwrap_or_default(),
            labels: attrs.labels,
            annotations: attrs.annotations,
            cpu: linux.cpu.map(Into::into),
            memory: linux.memory.map(Into::into),
            network,
            process_count: linux.process.and_then(|p| opt_u64(p.process_count)),
            containers: linux.containers.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<PodSandboxStats> for pb::PodSandboxStats {
    fn from(d: PodSandboxStats) -> Self {
        let mut interfaces = d.network.into_iter().map(pb::NetworkInterfaceUsage::from);
        let default_interface = interfaces.next();
        let network = default_interface.map(|def| pb::NetworkUsage {
            timestamp: 0,
            default_interface: Some(def),
            interfaces: interfaces.collect(),
        });
        Self {
            attributes: Some(pb::PodSandboxAttributes {
                id: d.id,
                metadata: Some(d.metadata.into()),
                labels: d.labels,
                annotations: d.annotations,
            }),
            linux: Some(pb::LinuxPodSandboxStats {
                cpu: d.cpu.map(Into::into),
                memory: d.memory.map(Into::into),
                network,
                process: d.process_count.map(|c| pb::ProcessUsage { timestamp: 0, process_count: wrap_u64(Some(c)) }),
                containers: d.containers.into_iter().map(Into::into).collect(),
                io: None,
            }),
            windows: None,
        }
    }
}

/// Which sandboxes `ListPodSandboxStats` covers (`PodSandboxStatsFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxStatsFilter {
    /// Sandbox id.
    pub id: Option<String>,
    /// Labels that must all match.
    pub label_selector: Labels,
}

/// Description of a metric the runtime exports (`MetricDescriptor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricDescriptor {
    /// Metric name.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Label names, in the order of [`Metric::label_values`].
    pub label_keys: Vec<String>,
}

wire_enum! {
    /// Kind of metric (`MetricType`).
    MetricType fallback Counter {
        /// Monotonic counter.
        Counter = 0,
        /// Gauge.
        Gauge = 1,
    }
}

/// One metric sample (`Metric`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metric {
    /// Metric name.
    pub name: String,
    /// When it was sampled.
    pub timestamp: Option<SystemTime>,
    /// Kind.
    pub metric_type: MetricType,
    /// Label values, matching the descriptor's keys.
    pub label_values: Vec<String>,
    /// Value.
    pub value: Option<u64>,
}

impl From<pb::Metric> for Metric {
    fn from(p: pb::Metric) -> Self {
        Self {
            name: p.name,
            timestamp: time_from_nanos(p.timestamp),
            metric_type: MetricType::from_i32(p.metric_type),
            label_values: p.label_values,
            value: opt_u64(p.value),
        }
    }
}

impl From<Metric> for pb::Metric {
    fn from(d: Metric) -> Self {
        Self {
            name: d.name,
            timestamp: nanos_from_time(d.timestamp),
            metric_type: d.metric_type.to_i32(),
            label_values: d.label_values,
            value: wrap_u64(d.value),
        }
    }
}

/// Metrics of one sandbox and its containers (`PodSandboxMetrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxMetrics {
    /// Sandbox id.
    pub pod_sandbox_id: String,
    /// Sandbox-level metrics.
    pub metrics: Vec<Metric>,
    /// Per-container metrics: container id and samples.
    pub container_metrics: Vec<(String, Vec<Metric>)>,
}

impl From<pb::PodSandboxMetrics> for PodSandboxMetrics {
    fn from(p: pb::PodSandboxMetrics) -> Self {
        Self {
            pod_sandbox_id: p.pod_sandbox_id,
            metrics: p.metrics.into_iter().map(Into::into).collect(),
            container_metrics: p
                .container_metrics
                .into_iter()
                .map(|c| (c.container_id, c.metrics.into_iter().map(Into::into).collect()))
                .collect(),
        }
    }
}

impl From<PodSandboxMetrics> for pb::PodSandboxMetrics {
    fn from(d: PodSandboxMetrics) -> Self {
        Self {
            pod_sandbox_id: d.pod_sandbox_id,
            metrics: d.metrics.into_iter().map(Into::into).collect(),
            container_metrics: d
                .container_metrics
                .into_iter()
                .map(|(container_id, m)| pb::ContainerMetrics {
                    container_id,
                    metrics: m.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}
