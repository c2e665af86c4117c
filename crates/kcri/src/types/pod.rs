//! Pod sandboxes: configuration, listing, status and filters.

use std::time::SystemTime;

use super::{
    ContainerStatus, Labels, LinuxContainerResources, LinuxSandboxSecurityContext, NamespaceOptions, nanos_from_time,
    time_or_epoch, wire_enum,
};
use crate::proto::v1 as pb;

/// Identity of a sandbox: the pod it runs (`PodSandboxMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxMetadata {
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// How many sandboxes were created for this pod before this one.
    pub attempt: u32,
}

impl From<pb::PodSandboxMetadata> for PodSandboxMetadata {
    fn from(p: pb::PodSandboxMetadata) -> Self {
        Self { name: p.name, uid: p.uid, namespace: p.namespace, attempt: p.attempt }
    }
}

impl From<PodSandboxMetadata> for pb::PodSandboxMetadata {
    fn from(d: PodSandboxMetadata) -> Self {
        Self { name: d.name, uid: d.uid, namespace: d.namespace, attempt: d.attempt }
    }
}

/// DNS settings written into the sandbox's `resolv.conf` (`DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// Name servers.
    pub servers: Vec<String>,
    /// Search domains.
    pub searches: Vec<String>,
    /// Resolver options, e.g. `ndots:5`.
    pub options: Vec<String>,
}

wire_enum! {
    /// Transport protocol of a port mapping.
    Protocol fallback Tcp {
        /// TCP.
        Tcp = 0,
        /// UDP.
        Udp = 1,
        /// SCTP.
        Sctp = 2,
    }
}

/// A host port forwarded to the sandbox (`PortMapping`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMapping {
    /// Protocol.
    pub protocol: Protocol,
    /// Port inside the sandbox.
    pub container_port: i32,
    /// Port on the host (0 = none).
    pub host_port: i32,
    /// Host address to bind (empty = all).
    pub host_ip: String,
}

/// Linux part of a sandbox configuration (`LinuxPodSandboxConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxPodSandboxConfig {
    /// Parent cgroup of the sandbox, e.g. `kubepods-besteffort.slice` (systemd driver) or
    /// `/kubepods/besteffort/pod<uid>` (cgroupfs).
    pub cgroup_parent: String,
    /// Security settings of the sandbox.
    pub security_context: Option<LinuxSandboxSecurityContext>,
    /// Namespaced sysctls to set.
    pub sysctls: Labels,
    /// Pod overhead resources.
    pub overhead: Option<LinuxContainerResources>,
    /// Sum of the containers' resources.
    pub resources: Option<LinuxContainerResources>,
}

impl LinuxPodSandboxConfig {
    /// The configured network namespace mode ([`NamespaceMode::Pod`](super::NamespaceMode::Pod)
    /// when unset).
    pub fn network_mode(&self) -> super::NamespaceMode {
        self.security_context.as_ref().and_then(|s| s.namespace_options.as_ref()).map(|n| n.network).unwrap_or_default()
    }
}

/// Everything a runtime needs to create a sandbox (`PodSandboxConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    /// Pod identity; runtimes derive the sandbox name from it.
    pub metadata: PodSandboxMetadata,
    /// Hostname of the sandbox.
    pub hostname: String,
    /// Directory on the host where container logs go; a container's `log_path` is relative
    /// to it.
    pub log_directory: String,
    /// DNS settings.
    pub dns_config: Option<DnsConfig>,
    /// Host ports to map.
    pub port_mappings: Vec<PortMapping>,
    /// Labels, used by list filters.
    pub labels: Labels,
    /// Annotations, opaque to the runtime.
    pub annotations: Labels,
    /// Linux settings.
    pub linux: Option<LinuxPodSandboxConfig>,
}

impl From<pb::PodSandboxConfig> for PodSandboxConfig {
    fn from(p: pb::PodSandboxConfig) -> Self {
        Self {
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            hostname: p.hostname,
            log_directory: p.log_directory,
            dns_config: p.dns_config.map(|d| DnsConfig {
                servers: d.servers,
                searches: d.searches,
                options: d.options,
            }),
            port_mappings: p
                .port_mappings
                .into_iter()
                .map(|m| PortMapping {
                    protocol: Protocol::from_i32(m.protocol),
                    container_port: m.container_port,
                    host_port: m.host_port,
                    host_ip: m.host_ip,
                })
                .collect(),
            labels: p.labels,
            annotations: p.annotations,
            linux: p.linux.map(|l| LinuxPodSandboxConfig {
                cgroup_parent: l.cgroup_parent,
                security_context: l.security_context.map(Into::into),
                sysctls: l.sysctls,
                overhead: l.overhead.map(Into::into),
                resources: l.resources.map(Into::into),
            }),
        }
    }
}

impl From<PodSandboxConfig> for pb::PodSandboxConfig {
    fn from(d: PodSandboxConfig) -> Self {
        Self {
            metadata: Some(d.metadata.into()),
            hostname: d.hostname,
            log_directory: d.log_directory,
            dns_config: d.dns_config.map(|c| pb::DnsConfig {
                servers: c.servers,
                searches: c.searches,
                options: c.options,
            }),
            port_mappings: d
                .port_mappings
                .into_iter()
                .map(|m| pb::PortMapping {
                    protocol: m.protocol.to_i32(),
                    container_port: m.container_port,
                    host_port: m.host_port,
                    host_ip: m.host_ip,
                })
                .collect(),
            labels: d.labels,
            annotations: d.annotations,
            linux: d.linux.map(|l| pb::LinuxPodSandboxConfig {
                cgroup_parent: l.cgroup_parent,
                security_context: l.security_context.map(Into::into),
                sysctls: l.sysctls,
                overhead: l.overhead.map(Into::into),
                resources: l.resources.map(Into::into),
            }),
            windows: None,
        }
    }
}

wire_enum! {
    /// Sandbox state (`PodSandboxState`).
    PodSandboxState fallback NotReady {
        /// Running, with its network set up.
        Ready = 0,
        /// Stopped, or not (yet) usable.
        NotReady = 1,
    }
}

/// A sandbox as listed by `ListPodSandbox` (`PodSandbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandbox {
    /// Runtime-assigned id.
    pub id: String,
    /// Pod identity.
    pub metadata: PodSandboxMetadata,
    /// State.
    pub state: PodSandboxState,
    /// Creation time.
    pub created_at: SystemTime,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Runtime handler (runtime class) it runs under; empty for the default.
    pub runtime_handler: String,
}

impl From<pb::PodSandbox> for PodSandbox {
    fn from(p: pb::PodSandbox) -> Self {
        Self {
            id: p.id,
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            state: PodSandboxState::from_i32(p.state),
            created_at: time_or_epoch(p.created_at),
            labels: p.labels,
            annotations: p.annotations,
            runtime_handler: p.runtime_handler,
        }
    }
}

impl From<PodSandbox> for pb::PodSandbox {
    fn from(d: PodSandbox) -> Self {
        Self {
            id: d.id,
            metadata: Some(d.metadata.into()),
            state: d.state.to_i32(),
            created_at: nanos_from_time(Some(d.created_at)),
            labels: d.labels,
            annotations: d.annotations,
            runtime_handler: d.runtime_handler,
        }
    }
}

/// Network of a sandbox (`PodSandboxNetworkStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxNetwork {
    /// Primary pod IP; empty for host-network sandboxes.
    pub ip: String,
    /// Further IPs (e.g. the other family of a dual-stack pod).
    pub additional_ips: Vec<String>,
}

/// Detailed sandbox state (`PodSandboxStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandboxStatus {
    /// Runtime-assigned id.
    pub id: String,
    /// Pod identity.
    pub metadata: PodSandboxMetadata,
    /// State.
    pub state: PodSandboxState,
    /// Creation time.
    pub created_at: SystemTime,
    /// Network, if the runtime reports it.
    pub network: Option<PodSandboxNetwork>,
    /// Namespace modes the sandbox runs with.
    pub namespace_options: Option<NamespaceOptions>,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Runtime handler.
    pub runtime_handler: String,
}

impl PodSandboxStatus {
    /// The primary pod IP, if any.
    pub fn ip(&self) -> Option<&str> {
        self.network.as_ref().map(|n| n.ip.as_str()).filter(|ip| !ip.is_empty())
    }
}

impl From<pb::PodSandboxStatus> for PodSandboxStatus {
    fn from(p: pb::PodSandboxStatus) -> Self {
        Self {
            id: p.id,
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            state: PodSandboxState::from_i32(p.state),
            created_at: time_or_epoch(p.created_at),
            network: p.network.map(|n| PodSandboxNetwork {
                ip: n.ip,
                additional_ips: n.additional_ips.into_iter().map(|ip| ip.ip).collect(),
            }),
            namespace_options: p.linux.and_then(|l| l.namespaces).and_then(|n| n.options).map(Into::into),
            labels: p.labels,
            annotations: p.annotations,
            runtime_handler: p.runtime_handler,
        }
    }
}

impl From<PodSandboxStatus> for pb::PodSandboxStatus {
    fn from(d: PodSandboxStatus) -> Self {
        Self {
            id: d.id,
            metadata: Some(d.metadata.into()),
            state: d.state.to_i32(),
            created_at: nanos_from_time(Some(d.created_at)),
            network: d.network.map(|n| pb::PodSandboxNetworkStatus {
                ip: n.ip,
                additional_ips: n.additional_ips.into_iter().map(|ip| pb::PodIp { ip }).collect(),
            }),
            linux: d
                .namespace_options
                .map(|o| pb::LinuxPodSandboxStatus { namespaces: Some(pb::Namespace { options: Some(o.into()) }) }),
            labels: d.labels,
            annotations: d.annotations,
            runtime_handler: d.runtime_handler,
        }
    }
}

/// Answer of `PodSandboxStatus` (`PodSandboxStatusResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandboxStatusResponse {
    /// The sandbox.
    pub status: PodSandboxStatus,
    /// Runtime-specific details, filled when `verbose` was asked.
    pub info: Labels,
    /// Statuses of the sandbox's containers (runtimes with evented PLEG support fill it).
    pub containers_statuses: Vec<ContainerStatus>,
    /// When the runtime took this status.
    pub timestamp: Option<SystemTime>,
}

/// Which sandboxes `ListPodSandbox` returns (`PodSandboxFilter`); empty fields match all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSandboxFilter {
    /// Sandbox id (runtimes may accept a unique prefix).
    pub id: Option<String>,
    /// State.
    pub state: Option<PodSandboxState>,
    /// Labels that must all be present with these values.
    pub label_selector: Labels,
}

impl PodSandboxFilter {
    /// Whether `sandbox` passes the filter (id prefix, state, labels).
    pub fn matches(&self, sandbox: &PodSandbox) -> bool {
        self.matches_fields(&sandbox.id, sandbox.state, &sandbox.labels)
    }

    /// [`matches`](Self::matches) on the fields alone (a runtime can filter its records
    /// before building listings).
    pub fn matches_fields(&self, id: &str, state: PodSandboxState, labels: &Labels) -> bool {
        self.id.as_deref().is_none_or(|want| id.starts_with(want))
            && self.state.is_none_or(|s| s == state)
            && labels_match(&self.label_selector, labels)
    }
}

/// Whether every selector entry is present in `labels` with the same value.
pub(crate) fn labels_match(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl From<pb::PodSandboxFilter> for PodSandboxFilter {
    fn from(p: pb::PodSandboxFilter) -> Self {
        Self {
            id: Some(p.id).filter(|id| !id.is_empty()),
            state: p.state.map(|s| PodSandboxState::from_i32(s.state)),
            label_selector: p.label_selector,
        }
    }
}

impl From<PodSandboxFilter> for pb::PodSandboxFilter {
    fn from(d: PodSandboxFilter) -> Self {
        Self {
            id: d.id.unwrap_or_default(),
            state: d.state.map(|s| pb::PodSandboxStateValue { state: s.to_i32() }),
            label_selector: d.label_selector,
        }
    }
}
