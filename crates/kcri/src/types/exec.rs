//! Exec, attach and port-forward requests, and container lifecycle events.

use std::time::{Duration, SystemTime};

use super::{ContainerStatus, PodSandboxStatus, nanos_from_time, time_or_epoch, wire_enum};
use crate::proto::v1 as pb;

/// Output of a command run to completion in a container (`ExecSyncResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSyncResponse {
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
    /// Exit code of the command.
    pub exit_code: i32,
}

impl ExecSyncResponse {
    /// A response with `stdout` and exit code 0, as a passing probe would get.
    pub fn success(stdout: impl Into<Vec<u8>>) -> Self {
        Self { stdout: stdout.into(), stderr: Vec::new(), exit_code: 0 }
    }

    /// A response with `stderr` and a non-zero `exit_code`, as a failing probe would get.
    pub fn failure(exit_code: i32, stderr: impl Into<Vec<u8>>) -> Self {
        Self { stdout: Vec::new(), stderr: stderr.into(), exit_code }
    }
}

impl From<pb::ExecSyncResponse> for ExecSyncResponse {
    fn from(p: pb::ExecSyncResponse) -> Self {
        Self { stdout: p.stdout, stderr: p.stderr, exit_code: p.exit_code }
    }
}

impl From<ExecSyncResponse> for pb::ExecSyncResponse {
    fn from(d: ExecSyncResponse) -> Self {
        Self { stdout: d.stdout, stderr: d.stderr, exit_code: d.exit_code }
    }
}

/// A synchronous exec (`ExecSyncRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSyncRequest {
    /// Container to run in.
    pub container_id: String,
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// Time limit for the command; `None` waits indefinitely. Sent in whole seconds,
    /// rounded up.
    pub timeout: Option<Duration>,
}

/// A streaming exec to be served at the returned URL (`ExecRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// Container to run in.
    pub container_id: String,
    /// Command and arguments.
    pub cmd: Vec<String>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Stream stdin.
    pub stdin: bool,
    /// Stream stdout.
    pub stdout: bool,
    /// Stream stderr (ignored with a TTY).
    pub stderr: bool,
}

impl From<pb::ExecRequest> for ExecRequest {
    fn from(p: pb::ExecRequest) -> Self {
        Self {
            container_id: p.container_id,
            cmd: p.cmd,
            tty: p.tty,
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
        }
    }
}

impl From<ExecRequest> for pb::ExecRequest {
    fn from(d: ExecRequest) -> Self {
        Self {
            container_id: d.container_id,
            cmd: d.cmd,
            tty: d.tty,
            stdin: d.stdin,
            stdout: d.stdout,
            stderr: d.stderr,
        }
    }
}

/// An attach to a running container's streams, served at the returned URL
/// (`AttachRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    /// Container to attach to.
    pub container_id: String,
    /// Stream stdin.
    pub stdin: bool,
    /// The container has a TTY.
    pub tty: bool,
    /// Stream stdout.
    pub stdout: bool,
    /// Stream stderr.
    pub stderr: bool,
}

impl From<pb::AttachRequest> for AttachRequest {
    fn from(p: pb::AttachRequest) -> Self {
        Self { container_id: p.container_id, stdin: p.stdin, tty: p.tty, stdout: p.stdout, stderr: p.stderr }
    }
}

impl From<AttachRequest> for pb::AttachRequest {
    fn from(d: AttachRequest) -> Self {
        Self { container_id: d.container_id, stdin: d.stdin, tty: d.tty, stdout: d.stdout, stderr: d.stderr }
    }
}

wire_enum! {
    /// What happened to a container (`ContainerEventType`).
    ContainerEventType fallback Created {
        /// Created.
        Created = 0,
        /// Started.
        Started = 1,
        /// Stopped (exited).
        Stopped = 2,
        /// Removed.
        Deleted = 3,
    }
}

/// One container lifecycle event from `GetContainerEvents` (`ContainerEventResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Container the event is about.
    pub container_id: String,
    /// What happened.
    pub event_type: ContainerEventType,
    /// When it happened.
    pub created_at: SystemTime,
    /// Status of the container's sandbox at that time, if the runtime sends it.
    pub pod_sandbox_status: Option<PodSandboxStatus>,
    /// Statuses of the sandbox's containers at that time.
    pub containers_statuses: Vec<ContainerStatus>,
}

impl From<pb::ContainerEventResponse> for ContainerEvent {
    fn from(p: pb::ContainerEventResponse) -> Self {
        Self {
            container_id: p.container_id,
            event_type: ContainerEventType::from_i32(p.container_event_type),
            created_at: time_or_epoch(p.created_at),
            pod_sandbox_status: p.pod_sandbox_status.map(Into::into),
            containers_statuses: p.containers_statuses.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<ContainerEvent> for pb::ContainerEventResponse {
    fn from(d: ContainerEvent) -> Self {
        Self {
            container_id: d.container_id,
            container_event_type: d.event_type.to_i32(),
            created_at: nanos_from_time(Some(d.created_at)),
            pod_sandbox_status: d.pod_sandbox_status.map(Into::into),
            containers_statuses: d.containers_statuses.into_iter().map(Into::into).collect(),
        }
    }
}
