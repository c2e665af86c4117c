//! Containers: configuration, listing, status and filters.

use std::time::SystemTime;

use super::{
    ImageSpec, Labels, LinuxContainerResources, LinuxContainerSecurityContext, labels_match, nanos_from_time,
    time_from_nanos, time_or_epoch, wire_enum,
};
use crate::proto::v1 as pb;

/// Identity of a container within its sandbox (`ContainerMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerMetadata {
    /// Container name, unique in the sandbox for a given attempt.
    pub name: String,
    /// Restart attempt: how many containers of this name the sandbox had before.
    pub attempt: u32,
}

impl From<pb::ContainerMetadata> for ContainerMetadata {
    fn from(p: pb::ContainerMetadata) -> Self {
        Self { name: p.name, attempt: p.attempt }
    }
}

impl From<ContainerMetadata> for pb::ContainerMetadata {
    fn from(d: ContainerMetadata) -> Self {
        Self { name: d.name, attempt: d.attempt }
    }
}

/// An environment variable (`KeyValue`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValue {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

impl KeyValue {
    /// A variable `key=value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: value.into() }
    }
}

wire_enum! {
    /// Mount propagation (`MountPropagation`).
    MountPropagation fallback Private {
        /// No propagation (`rprivate`).
        Private = 0,
        /// Host mounts appear in the container (`rslave`).
        HostToContainer = 1,
        /// Both ways (`rshared`).
        Bidirectional = 2,
    }
}

/// A host path mounted into a container (`Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// Path in the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// Mount read-only.
    pub readonly: bool,
    /// Relabel for SELinux.
    pub selinux_relabel: bool,
    /// Propagation.
    pub propagation: MountPropagation,
    /// Make submounts read-only too (needs a runtime that supports it).
    pub recursive_read_only: bool,
}

impl From<pb::Mount> for Mount {
    fn from(p: pb::Mount) -> Self {
        Self {
            container_path: p.container_path,
            host_path: p.host_path,
            readonly: p.readonly,
            selinux_relabel: p.selinux_relabel,
            propagation: MountPropagation::from_i32(p.propagation),
            recursive_read_only: p.recursive_read_only,
        }
    }
}

impl From<Mount> for pb::Mount {
    fn from(d: Mount) -> Self {
        Self {
            container_path: d.container_path,
            host_path: d.host_path,
            readonly: d.readonly,
            selinux_relabel: d.selinux_relabel,
            propagation: d.propagation.to_i32(),
            recursive_read_only: d.recursive_read_only,
            ..Default::default()
        }
    }
}

/// A host device made available in a container (`Device`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// Path in the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// cgroup permissions, e.g. `rwm`.
    pub permissions: String,
}

/// Linux part of a container configuration (`LinuxContainerConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxContainerConfig {
    /// cgroup resources.
    pub resources: Option<LinuxContainerResources>,
    /// Security settings.
    pub security_context: Option<LinuxContainerSecurityContext>,
}

/// Everything a runtime needs to create a container (`ContainerConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Image to run.
    pub image: ImageSpec,
    /// Entrypoint override (empty = the image's).
    pub command: Vec<String>,
    /// Arguments override (empty = the image's).
    pub args: Vec<String>,
    /// Working directory (empty = the image's).
    pub working_dir: String,
    /// Environment variables.
    pub envs: Vec<KeyValue>,
    /// Host path mounts.
    pub mounts: Vec<Mount>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Labels, used by list filters; kubelet puts pod and container names here.
    pub labels: Labels,
    /// Annotations; kubelet keeps restart count and termination settings here.
    pub annotations: Labels,
    /// Log file path relative to the sandbox's `log_directory`.
    pub log_path: String,
    /// Keep stdin open.
    pub stdin: bool,
    /// Close stdin after the first attach disconnects.
    pub stdin_once: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Linux settings.
    pub linux: Option<LinuxContainerConfig>,
}

impl From<pb::ContainerConfig> for ContainerConfig {
    fn from(p: pb::ContainerConfig) -> Self {
        Self {
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            image: p.image.map(Into::into).unwrap_or_default(),
            command: p.command,
            args: p.args,
            working_dir: p.working_dir,
            envs: p.envs.into_iter().map(|kv| KeyValue { key: kv.key, value: kv.value }).collect(),
            mounts: p.mounts.into_iter().map(Into::into).collect(),
            devices: p
                .devices
                .into_iter()
                .map(|d| Device {
                    container_path: d.container_path,
                    host_path: d.host_path,
                    permissions: d.permissions,
                })
                .collect(),
            labels: p.labels,
            annotations: p.annotations,
            log_path: p.log_path,
            stdin: p.stdin,
            stdin_once: p.stdin_once,
            tty: p.tty,
            linux: p.linux.map(|l| LinuxContainerConfig {
                resources: l.resources.map(Into::into),
                security_context: l.security_context.map(Into::into),
            }),
        }
    }
}

impl From<ContainerConfig> for pb::ContainerConfig {
    fn from(d: ContainerConfig) -> Self {
        Self {
            metadata: Some(d.metadata.into()),
            image: Some(d.image.into()),
            command: d.command,
            args: d.args,
            working_dir: d.working_dir,
            envs: d.envs.into_iter().map(|kv| pb::KeyValue { key: kv.key, value: kv.value }).collect(),
            mounts: d.mounts.into_iter().map(Into::into).collect(),
            devices: d
                .devices
                .into_iter()
                .map(|d| pb::Device {
                    container_path: d.container_path,
                    host_path: d.host_path,
                    permissions: d.permissions,
                })
                .collect(),
            labels: d.labels,
            annotations: d.annotations,
            log_path: d.log_path,
            stdin: d.stdin,
            stdin_once: d.stdin_once,
            tty: d.tty,
            linux: d.linux.map(|l| pb::LinuxContainerConfig {
                resources: l.resources.map(Into::into),
                security_context: l.security_context.map(Into::into),
            }),
            ..Default::default()
        }
    }
}

wire_enum! {
    /// Container state (`ContainerState`).
    ContainerState fallback Unknown {
        /// Created, not started.
        Created = 0,
        /// Running.
        Running = 1,
        /// Exited; see the exit code.
        Exited = 2,
        /// The runtime does not know.
        Unknown = 3,
    }
}

/// A container as listed by `ListContainers` (`Container`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Runtime-assigned id.
    pub id: String,
    /// Id of the sandbox it belongs to.
    pub pod_sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Image as requested.
    pub image: ImageSpec,
    /// Image reference the runtime resolved (usually the image id).
    pub image_ref: String,
    /// Image id.
    pub image_id: String,
    /// State.
    pub state: ContainerState,
    /// Creation time.
    pub created_at: SystemTime,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
}

impl From<pb::Container> for Container {
    fn from(p: pb::Container) -> Self {
        Self {
            id: p.id,
            pod_sandbox_id: p.pod_sandbox_id,
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            image: p.image.map(Into::into).unwrap_or_default(),
            image_ref: p.image_ref,
            image_id: p.image_id,
            state: ContainerState::from_i32(p.state),
            created_at: time_or_epoch(p.created_at),
            labels: p.labels,
            annotations: p.annotations,
        }
    }
}

impl From<Container> for pb::Container {
    fn from(d: Container) -> Self {
        Self {
            id: d.id,
            pod_sandbox_id: d.pod_sandbox_id,
            metadata: Some(d.metadata.into()),
            image: Some(d.image.into()),
            image_ref: d.image_ref,
            image_id: d.image_id,
            state: d.state.to_i32(),
            created_at: nanos_from_time(Some(d.created_at)),
            labels: d.labels,
            annotations: d.annotations,
        }
    }
}

/// Detailed container state (`ContainerStatus`).
///
/// Restart bookkeeping is not a CRI concept: kubelet keeps it in `labels` and `annotations`
/// (see [`ContainerStatus::restart_count`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Runtime-assigned id.
    pub id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// State.
    pub state: ContainerState,
    /// Creation time.
    pub created_at: SystemTime,
    /// Start time, once started.
    pub started_at: Option<SystemTime>,
    /// Exit time, once exited.
    pub finished_at: Option<SystemTime>,
    /// Exit code, meaningful once exited.
    pub exit_code: i32,
    /// Image as requested.
    pub image: ImageSpec,
    /// Image reference the runtime resolved.
    pub image_ref: String,
    /// Image id.
    pub image_id: String,
    /// Short machine-readable reason, e.g. `Completed`, `Error`, `OOMKilled`.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Absolute log file path.
    pub log_path: String,
    /// Current Linux resources, if the runtime reports them.
    pub resources: Option<LinuxContainerResources>,
}

/// Annotation in which kubelet records a container's restart count.
pub const RESTART_COUNT_ANNOTATION: &str = "io.kubernetes.container.restartCount";

impl ContainerStatus {
    /// Restart count recorded by kubelet in the [`RESTART_COUNT_ANNOTATION`] annotation, if
    /// present and numeric.
    pub fn restart_count(&self) -> Option<u32> {
        self.annotations.get(RESTART_COUNT_ANNOTATION).and_then(|v| v.parse().ok())
    }
}

impl From<pb::ContainerStatus> for ContainerStatus {
    fn from(p: pb::ContainerStatus) -> Self {
        Self {
            id: p.id,
            metadata: p.metadata.map(Into::into).unwrap_or_default(),
            state: ContainerState::from_i32(p.state),
            created_at: time_or_epoch(p.created_at),
            started_at: time_from_nanos(p.started_at),
            finished_at: time_from_nanos(p.finished_at),
            exit_code: p.exit_code,
            image: p.image.map(Into::into).unwrap_or_default(),
            image_ref: p.image_ref,
            image_id: p.image_id,
            reason: p.reason,
            message: p.message,
            labels: p.labels,
            annotations: p.annotations,
            mounts: p.mounts.into_iter().map(Into::into).collect(),
            log_path: p.log_path,
            resources: p.resources.and_then(|r| r.linux).map(Into::into),
        }
    }
}

impl From<ContainerStatus> for pb::ContainerStatus {
    fn from(d: ContainerStatus) -> Self {
        Self {
            id: d.id,
            metadata: Some(d.metadata.into()),
            state: d.state.to_i32(),
            created_at: nanos_from_time(Some(d.created_at)),
            started_at: nanos_from_time(d.started_at),
            finished_at: nanos_from_time(d.finished_at),
            exit_code: d.exit_code,
            image: Some(d.image.into()),
            image_ref: d.image_ref,
            image_id: d.image_id,
            reason: d.reason,
            message: d.message,
            labels: d.labels,
            annotations: d.annotations,
            mounts: d.mounts.into_iter().map(Into::into).collect(),
            log_path: d.log_path,
            resources: d.resources.map(|r| pb::ContainerResources { linux: Some(r.into()), windows: None }),
            ..Default::default()
        }
    }
}

/// Answer of `ContainerStatus` (`ContainerStatusResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatusResponse {
    /// The container.
    pub status: ContainerStatus,
    /// Runtime-specific details, filled when `verbose` was asked.
    pub info: Labels,
}

/// Which containers `ListContainers` returns (`ContainerFilter`); empty fields match all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// Container id (runtimes may accept a unique prefix).
    pub id: Option<String>,
    /// State.
    pub state: Option<ContainerState>,
    /// Sandbox id.
    pub pod_sandbox_id: Option<String>,
    /// Labels that must all be present with these values.
    pub label_selector: Labels,
}

impl ContainerFilter {
    /// Whether `container` passes the filter (id prefix, state, sandbox, labels).
    pub fn matches(&self, container: &Container) -> bool {
        self.matches_fields(&container.id, container.state, &container.pod_sandbox_id, &container.labels)
    }

    /// [`matches`](Self::matches) on the fields alone (a runtime can filter its records
    /// before building listings).
    pub fn matches_fields(&self, id: &str, state: ContainerState, pod_sandbox_id: &str, labels: &Labels) -> bool {
        self.id.as_deref().is_none_or(|want| id.starts_with(want))
            && self.state.is_none_or(|s| s == state)
            && self.pod_sandbox_id.as_deref().is_none_or(|p| pod_sandbox_id.starts_with(p))
            && labels_match(&self.label_selector, labels)
    }
}

impl From<pb::ContainerFilter> for ContainerFilter {
    fn from(p: pb::ContainerFilter) -> Self {
        Self {
            id: Some(p.id).filter(|s| !s.is_empty()),
            state: p.state.map(|s| ContainerState::from_i32(s.state)),
            pod_sandbox_id: Some(p.pod_sandbox_id).filter(|s| !s.is_empty()),
            label_selector: p.label_selector,
        }
    }
}

impl From<ContainerFilter> for pb::ContainerFilter {
    fn from(d: ContainerFilter) -> Self {
        Self {
            id: d.id.unwrap_or_default(),
            state: d.state.map(|s| pb::ContainerStateValue { state: s.to_i32() }),
            pod_sandbox_id: d.pod_sandbox_id.unwrap_or_default(),
            label_selector: d.label_selector,
        }
    }
}
