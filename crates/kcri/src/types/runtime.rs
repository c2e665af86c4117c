//! Runtime-wide information: version, status conditions and configuration.

use super::{Labels, wire_enum};
use crate::proto::v1 as pb;

/// The CRI API version this crate speaks in `Version` requests, as kubelet sends it.
pub const KUBELET_API_VERSION: &str = "0.1.0";

/// Answer of `Version` (`VersionResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionInfo {
    /// Version of the runtime's kubelet-facing API (`0.1.0`).
    pub version: String,
    /// Runtime name, e.g. `containerd`.
    pub runtime_name: String,
    /// Runtime version, e.g. `1.6.20`.
    pub runtime_version: String,
    /// CRI API version the runtime serves, e.g. `v1`.
    pub runtime_api_version: String,
}

impl From<pb::VersionResponse> for VersionInfo {
    fn from(p: pb::VersionResponse) -> Self {
        Self {
            version: p.version,
            runtime_name: p.runtime_name,
            runtime_version: p.runtime_version,
            runtime_api_version: p.runtime_api_version,
        }
    }
}

impl From<VersionInfo> for pb::VersionResponse {
    fn from(d: VersionInfo) -> Self {
        Self {
            version: d.version,
            runtime_name: d.runtime_name,
            runtime_version: d.runtime_version,
            runtime_api_version: d.runtime_api_version,
        }
    }
}

/// Condition type: the runtime can run containers.
pub const RUNTIME_READY: &str = "RuntimeReady";
/// Condition type: pod networking (CNI) is ready.
pub const NETWORK_READY: &str = "NetworkReady";

/// One runtime condition (`RuntimeCondition`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeCondition {
    /// Type, e.g. [`RUNTIME_READY`] or [`NETWORK_READY`].
    pub condition_type: String,
    /// Whether the condition holds.
    pub status: bool,
    /// Machine-readable reason when it does not.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
}

/// A runtime handler (runtime class) and its features (`RuntimeHandler`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeHandler {
    /// Name; empty for the default handler.
    pub name: String,
    /// Supports recursive read-only mounts.
    pub recursive_read_only_mounts: bool,
    /// Supports user namespaces.
    pub user_namespaces: bool,
}

/// Answer of `Status` (`StatusResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStatus {
    /// Conditions; kubelet requires [`RUNTIME_READY`] and [`NETWORK_READY`].
    pub conditions: Vec<RuntimeCondition>,
    /// Runtime-specific details, filled when `verbose` was asked.
    pub info: Labels,
    /// Runtime handlers the runtime offers.
    pub runtime_handlers: Vec<RuntimeHandler>,
    /// Supports the `Strict` supplemental groups policy.
    pub supplemental_groups_policy: bool,
}

impl RuntimeStatus {
    /// The condition of type `condition_type`, if reported.
    pub fn condition(&self, condition_type: &str) -> Option<&RuntimeCondition> {
        self.conditions.iter().find(|c| c.condition_type == condition_type)
    }

    /// Whether both [`RUNTIME_READY`] and [`NETWORK_READY`] hold.
    pub fn is_ready(&self) -> bool {
        [RUNTIME_READY, NETWORK_READY].iter().all(|t| self.condition(t).is_some_and(|c| c.status))
    }
}

impl From<pb::StatusResponse> for RuntimeStatus {
    fn from(p: pb::StatusResponse) -> Self {
        Self {
            conditions: p
                .status
                .map(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .map(|c| RuntimeCondition {
                    condition_type: c.r#type,
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                })
                .collect(),
            info: p.info,
            runtime_handlers: p
                .runtime_handlers
                .into_iter()
                .map(|h| {
                    let features = h.features.unwrap_or_default();
                    RuntimeHandler {
                        name: h.name,
                        recursive_read_only_mounts: features.recursive_read_only_mounts,
                        user_namespaces: features.user_namespaces,
                    }
                })
                .collect(),
            supplemental_groups_policy: p.features.is_some_and(|f| f.supplemental_groups_policy),
        }
    }
}

impl From<RuntimeStatus> for pb::StatusResponse {
    fn from(d: RuntimeStatus) -> Self {
        Self {
            status: Some(pb::RuntimeStatus {
                conditions: d
                    .conditions
                    .into_iter()
                    .map(|c| pb::RuntimeCondition {
                        r#type: c.condition_type,
                        status: c.status,
                        reason: c.reason,
                        message: c.message,
                    })
                    .collect(),
            }),
            info: d.info,
            runtime_handlers: d
                .runtime_handlers
                .into_iter()
                .map(|h| pb::RuntimeHandler {
                    name: h.name,
                    features: Some(pb::RuntimeHandlerFeatures {
                        recursive_read_only_mounts: h.recursive_read_only_mounts,
                        user_namespaces: h.user_namespaces,
                    }),
                })
                .collect(),
            features: Some(pb::RuntimeFeatures { supplemental_groups_policy: d.supplemental_groups_policy }),
        }
    }
}

wire_enum! {
    /// cgroup driver the runtime uses (`CgroupDriver`).
    CgroupDriver fallback Systemd {
        /// systemd manages cgroups.
        Systemd = 0,
        /// Direct cgroupfs writes.
        Cgroupfs = 1,
    }
}

/// Answer of `RuntimeConfig` (`RuntimeConfigResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// cgroup driver, when the runtime reports a Linux configuration.
    pub cgroup_driver: Option<CgroupDriver>,
}

impl From<pb::RuntimeConfigResponse> for RuntimeConfig {
    fn from(p: pb::RuntimeConfigResponse) -> Self {
        Self { cgroup_driver: p.linux.map(|l| CgroupDriver::from_i32(l.cgroup_driver)) }
    }
}

impl From<RuntimeConfig> for pb::RuntimeConfigResponse {
    fn from(d: RuntimeConfig) -> Self {
        Self { linux: d.cgroup_driver.map(|c| pb::LinuxRuntimeConfiguration { cgroup_driver: c.to_i32() }) }
    }
}
