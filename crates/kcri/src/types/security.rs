//! Linux namespaces, security contexts and resources shared by sandboxes and containers.

use super::{Labels, wire_enum};
use crate::proto::v1 as pb;

wire_enum! {
    /// Which namespace a sandbox or container gets (`NamespaceMode`).
    NamespaceMode fallback Pod {
        /// Shared by the containers of the pod (the default).
        Pod = 0,
        /// One for each container.
        Container = 1,
        /// The host's (node's) namespace, e.g. host networking.
        Node = 2,
        /// The namespace of the container named by `target_id`.
        Target = 3,
    }
}

/// Namespace modes of a sandbox or container (`NamespaceOption`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceOptions {
    /// Network namespace; [`NamespaceMode::Node`] is host networking (no CNI call).
    pub network: NamespaceMode,
    /// PID namespace.
    pub pid: NamespaceMode,
    /// IPC namespace.
    pub ipc: NamespaceMode,
    /// Container id for [`NamespaceMode::Target`].
    pub target_id: String,
}

impl From<pb::NamespaceOption> for NamespaceOptions {
    fn from(p: pb::NamespaceOption) -> Self {
        Self {
            network: NamespaceMode::from_i32(p.network),
            pid: NamespaceMode::from_i32(p.pid),
            ipc: NamespaceMode::from_i32(p.ipc),
            target_id: p.target_id,
        }
    }
}

impl From<NamespaceOptions> for pb::NamespaceOption {
    fn from(d: NamespaceOptions) -> Self {
        Self {
            network: d.network.to_i32(),
            pid: d.pid.to_i32(),
            ipc: d.ipc.to_i32(),
            target_id: d.target_id,
            userns_options: None,
        }
    }
}

wire_enum! {
    /// Kind of seccomp or AppArmor profile.
    SecurityProfileType fallback RuntimeDefault {
        /// The runtime's default profile.
        RuntimeDefault = 0,
        /// No profile.
        Unconfined = 1,
        /// A profile on the node, named by `localhost_ref`.
        Localhost = 2,
    }
}

/// A seccomp or AppArmor profile (`SecurityProfile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityProfile {
    /// Kind of profile.
    pub profile_type: SecurityProfileType,
    /// Path or name of a [`SecurityProfileType::Localhost`] profile.
    pub localhost_ref: String,
}

impl From<pb::SecurityProfile> for SecurityProfile {
    fn from(p: pb::SecurityProfile) -> Self {
        Self { profile_type: SecurityProfileType::from_i32(p.profile_type), localhost_ref: p.localhost_ref }
    }
}

impl From<SecurityProfile> for pb::SecurityProfile {
    fn from(d: SecurityProfile) -> Self {
        Self { profile_type: d.profile_type.to_i32(), localhost_ref: d.localhost_ref }
    }
}

/// Security settings of a whole sandbox (`LinuxSandboxSecurityContext`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxSandboxSecurityContext {
    /// Namespace modes of the sandbox.
    pub namespace_options: Option<NamespaceOptions>,
    /// UID of the sandbox process, if set.
    pub run_as_user: Option<i64>,
    /// GID of the sandbox process, if set.
    pub run_as_group: Option<i64>,
    /// Mount the sandbox root filesystem read-only.
    pub readonly_rootfs: bool,
    /// Extra groups of the sandbox process.
    pub supplemental_groups: Vec<i64>,
    /// Run the sandbox privileged.
    pub privileged: bool,
    /// Seccomp profile.
    pub seccomp: Option<SecurityProfile>,
    /// AppArmor profile.
    pub apparmor: Option<SecurityProfile>,
}

impl From<pb::LinuxSandboxSecurityContext> for LinuxSandboxSecurityContext {
    fn from(p: pb::LinuxSandboxSecurityContext) -> Self {
        Self {
            namespace_options: p.namespace_options.map(Into::into),
            run_as_user: p.run_as_user.map(|v| v.value),
            run_as_group: p.run_as_group.map(|v| v.value),
            readonly_rootfs: p.readonly_rootfs,
            supplemental_groups: p.supplemental_groups,
            privileged: p.privileged,
            seccomp: p.seccomp.map(Into::into),
            apparmor: p.apparmor.map(Into::into),
        }
    }
}

impl From<LinuxSandboxSecurityContext> for pb::LinuxSandboxSecurityContext {
    fn from(d: LinuxSandboxSecurityContext) -> Self {
        Self {
            namespace_options: d.namespace_options.map(Into::into),
            run_as_user: d.run_as_user.map(|value| pb::Int64Value { value }),
            run_as_group: d.run_as_group.map(|value| pb::Int64Value { value }),
            readonly_rootfs: d.readonly_rootfs,
            supplemental_groups: d.supplemental_groups,
            privileged: d.privileged,
            seccomp: d.seccomp.map(Into::into),
            apparmor: d.apparmor.map(Into::into),
            ..Default::default()
        }
    }
}

/// Linux capabilities to add or drop (`Capability`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Capabilities to add, e.g. `CAP_NET_ADMIN`.
    pub add: Vec<String>,
    /// Capabilities to drop.
    pub drop: Vec<String>,
    /// Ambient capabilities to add.
    pub add_ambient: Vec<String>,
}

/// Security settings of one container (`LinuxContainerSecurityContext`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxContainerSecurityContext {
    /// Capabilities to add or drop.
    pub capabilities: Option<Capabilities>,
    /// Run the container privileged.
    pub privileged: bool,
    /// Namespace modes of the container.
    pub namespace_options: Option<NamespaceOptions>,
    /// UID of the container process, if set.
    pub run_as_user: Option<i64>,
    /// GID of the container process, if set.
    pub run_as_group: Option<i64>,
    /// User name of the container process (used when `run_as_user` is unset).
    pub run_as_username: String,
    /// Mount the root filesystem read-only.
    pub readonly_rootfs: bool,
    /// Extra groups of the container process.
    pub supplemental_groups: Vec<i64>,
    /// Set `no_new_privs` on the container process.
    pub no_new_privs: bool,
    /// Paths masked from the container.
    pub masked_paths: Vec<String>,
    /// Paths made read-only in the container.
    pub readonly_paths: Vec<String>,
    /// Seccomp profile.
    pub seccomp: Option<SecurityProfile>,
    /// AppArmor profile.
    pub apparmor: Option<SecurityProfile>,
}

impl From<pb::LinuxContainerSecurityContext> for LinuxContainerSecurityContext {
    fn from(p: pb::LinuxContainerSecurityContext) -> Self {
        Self {
            capabilities: p.capabilities.map(|c| Capabilities {
                add: c.add_capabilities,
                drop: c.drop_capabilities,
                add_ambient: c.add_ambient_capabilities,
            }),
            privileged: p.privileged,
            namespace_options: p.namespace_options.map(Into::into),
            run_as_user: p.run_as_user.map(|v| v.value),
            run_as_group: p.run_as_group.map(|v| v.value),
            run_as_username: p.run_as_username,
            readonly_rootfs: p.readonly_rootfs,
            supplemental_groups: p.supplemental_groups,
            no_new_privs: p.no_new_privs,
            masked_paths: p.masked_paths,
            readonly_paths: p.readonly_paths,
            seccomp: p.seccomp.map(Into::into),
            apparmor: p.apparmor.map(Into::into),
        }
    }
}

impl From<LinuxContainerSecurityContext> for pb::LinuxContainerSecurityContext {
    fn from(d: LinuxContainerSecurityContext) -> Self {
        Self {
            capabilities: d.capabilities.map(|c| pb::Capability {
                add_capabilities: c.add,
                drop_capabilities: c.drop,
                add_ambient_capabilities: c.add_ambient,
            }),
            privileged: d.privileged,
            namespace_options: d.namespace_options.map(Into::into),
            run_as_user: d.run_as_user.map(|value| pb::Int64Value { value }),
            run_as_group: d.run_as_group.map(|value| pb::Int64Value { value }),
            run_as_username: d.run_as_username,
            readonly_rootfs: d.readonly_rootfs,
            supplemental_groups: d.supplemental_groups,
            no_new_privs: d.no_new_privs,
            masked_paths: d.masked_paths,
            readonly_paths: d.readonly_paths,
            seccomp: d.seccomp.map(Into::into),
            apparmor: d.apparmor.map(Into::into),
            ..Default::default()
        }
    }
}

/// A hugepage limit (`HugepageLimit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HugepageLimit {
    /// Page size, e.g. `2MB`.
    pub page_size: String,
    /// Limit in bytes.
    pub limit: u64,
}

/// cgroup resources of a container or sandbox (`LinuxContainerResources`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxContainerResources {
    /// CFS period in microseconds (0 = unset).
    pub cpu_period: i64,
    /// CFS quota in microseconds (0 = unset).
    pub cpu_quota: i64,
    /// CPU shares (relative weight).
    pub cpu_shares: i64,
    /// Memory limit in bytes (0 = unset).
    pub memory_limit_in_bytes: i64,
    /// OOM score adjustment.
    pub oom_score_adj: i64,
    /// CPUs the container may use, e.g. `0-3`.
    pub cpuset_cpus: String,
    /// Memory nodes the container may use.
    pub cpuset_mems: String,
    /// Hugepage limits.
    pub hugepage_limits: Vec<HugepageLimit>,
    /// cgroup v2 unified parameters.
    pub unified: Labels,
    /// Memory plus swap limit in bytes (0 = unset).
    pub memory_swap_limit_in_bytes: i64,
}

impl From<pb::LinuxContainerResources> for LinuxContainerResources {
    fn from(p: pb::LinuxContainerResources) -> Self {
        Self {
            cpu_period: p.cpu_period,
            cpu_quota: p.cpu_quota,
            cpu_shares: p.cpu_shares,
            memory_limit_in_bytes: p.memory_limit_in_bytes,
            oom_score_adj: p.oom_score_adj,
            cpuset_cpus: p.cpuset_cpus,
            cpuset_mems: p.cpuset_mems,
            hugepage_limits: p
                .hugepage_limits
                .into_iter()
                .map(|h| HugepageLimit { page_size: h.page_size, limit: h.limit })
                .collect(),
            unified: p.unified,
            memory_swap_limit_in_bytes: p.memory_swap_limit_in_bytes,
        }
    }
}

impl From<LinuxContainerResources> for pb::LinuxContainerResources {
    fn from(d: LinuxContainerResources) -> Self {
        Self {
            cpu_period: d.cpu_period,
            cpu_quota: d.cpu_quota,
            cpu_shares: d.cpu_shares,
            memory_limit_in_bytes: d.memory_limit_in_bytes,
            oom_score_adj: d.oom_score_adj,
            cpuset_cpus: d.cpuset_cpus,
            cpuset_mems: d.cpuset_mems,
            hugepage_limits: d
                .hugepage_limits
                .into_iter()
                .map(|h| pb::HugepageLimit { page_size: h.page_size, limit: h.limit })
                .collect(),
            unified: d.unified,
            memory_swap_limit_in_bytes: d.memory_swap_limit_in_bytes,
        }
    }
}
