//! The [`RuntimeService`] and [`ImageService`] traits: the CRI v1 API as Rust calls.
//!
//! # Why boxed futures
//!
//! Callers hold runtimes as `Arc<dyn RuntimeService>` so that a kubelet-like component can
//! run against [`Client`](crate::Client) or [`FakeRuntime`](crate::fake::FakeRuntime)
//! without generics. `async fn` in traits is not object-safe, so every method returns a
//! [`BoxFuture`]; implementations write `Box::pin(async move { … })`. Arguments are owned
//! so the future does not borrow from the caller beyond `&self`.
//!
//! # Contract
//!
//! Implementations follow the CRI's rules: stopping or removing a sandbox or container that
//! does not exist succeeds (kubelet retries these after restarts), stopping is idempotent,
//! and removing a sandbox removes its containers. Missing objects in status calls are
//! [`Error::NotFound`](crate::Error::NotFound).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;

use crate::error::Result;
use crate::types::{
    AttachRequest, AuthConfig, Container, ContainerConfig, ContainerEvent, ContainerFilter, ContainerStats,
    ContainerStatsFilter, ContainerStatusResponse, ExecRequest, ExecSyncRequest, ExecSyncResponse, Image, ImageFilter,
    ImageFsInfo, ImageSpec, Labels, LinuxContainerResources, MetricDescriptor, PodSandbox, PodSandboxConfig,
    PodSandboxFilter, PodSandboxMetrics, PodSandboxStats, PodSandboxStatsFilter, PodSandboxStatusResponse,
    RuntimeConfig, RuntimeStatus, VersionInfo,
};

/// A boxed, `Send` future: the return type of every trait method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The stream of container lifecycle events returned by
/// [`RuntimeService::get_container_events`]. It ends when the runtime closes it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ContainerEvent>> + Send + 'static>>;

/// The CRI `RuntimeService`: sandboxes, containers, exec and statistics.
///
/// Methods map one-to-one to the CRI v1 RPCs of Kubernetes 1.33; see the module docs for
/// the idempotence contract.
pub trait RuntimeService: Send + Sync {
    /// `Version`: runtime name and versions. `api_version` is the caller's CRI API version,
    /// normally [`KUBELET_API_VERSION`](crate::types::KUBELET_API_VERSION).
    fn version(&self, api_version: String) -> BoxFuture<'_, Result<VersionInfo>>;
    /// `Status`: runtime and network readiness; `verbose` asks for `info`.
    fn status(&self, verbose: bool) -> BoxFuture<'_, Result<RuntimeStatus>>;
    /// `RuntimeConfig`: runtime configuration kubelet must agree with (cgroup driver).
    fn runtime_config(&self) -> BoxFuture<'_, Result<RuntimeConfig>>;
    /// `UpdateRuntimeConfig`: tells the runtime the node's pod CIDR.
    fn update_runtime_config(&self, pod_cidr: String) -> BoxFuture<'_, Result<()>>;

    /// `RunPodSandbox`: creates and starts a sandbox; returns its id.
    fn run_pod_sandbox(&self, config: PodSandboxConfig, runtime_handler: String) -> BoxFuture<'_, Result<String>>;
    /// `StopPodSandbox`: stops the sandbox's containers and tears down its network.
    /// Succeeds if the sandbox does not exist.
    fn stop_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>>;
    /// `RemovePodSandbox`: removes the sandbox and its containers, stopping them first.
    /// Succeeds if the sandbox does not exist.
    fn remove_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>>;
    /// `PodSandboxStatus`: the sandbox's state and network.
    fn pod_sandbox_status(
        &self,
        pod_sandbox_id: String,
        verbose: bool,
    ) -> BoxFuture<'_, Result<PodSandboxStatusResponse>>;
    /// `ListPodSandbox`: sandboxes passing `filter`.
    fn list_pod_sandbox(&self, filter: PodSandboxFilter) -> BoxFuture<'_, Result<Vec<PodSandbox>>>;

    /// `CreateContainer`: creates a container in a sandbox; returns its id.
    fn create_container(
        &self,
        pod_sandbox_id: String,
        config: ContainerConfig,
        sandbox_config: PodSandboxConfig,
    ) -> BoxFuture<'_, Result<String>>;
    /// `StartContainer`: starts a created container.
    fn start_container(&self, container_id: String) -> BoxFuture<'_, Result<()>>;
    /// `StopContainer`: signals the container, killing it after `timeout`. Succeeds if the
    /// container is already stopped or does not exist.
    fn stop_container(&self, container_id: String, timeout: Duration) -> BoxFuture<'_, Result<()>>;
    /// `RemoveContainer`: removes the container, killing it if running. Succeeds if it does
    /// not exist.
    fn remove_container(&self, container_id: String) -> BoxFuture<'_, Result<()>>;
    /// `ListContainers`: containers passing `filter`.
    fn list_containers(&self, filter: ContainerFilter) -> BoxFuture<'_, Result<Vec<Container>>>;
    /// `ContainerStatus`: the container's state, exit code and timestamps.
    fn container_status(&self, container_id: String, verbose: bool) -> BoxFuture<'_, Result<ContainerStatusResponse>>;
    /// `UpdateContainerResources`: changes a container's cgroup limits.
    fn update_container_resources(
        &self,
        container_id: String,
        resources: LinuxContainerResources,
        annotations: Labels,
    ) -> BoxFuture<'_, Result<()>>;
    /// `ReopenContainerLog`: makes the runtime reopen the log file (after rotation).
    fn reopen_container_log(&self, container_id: String) -> BoxFuture<'_, Result<()>>;

    /// `ExecSync`: runs a command to completion and returns its output (probes use it).
    fn exec_sync(&self, request: ExecSyncRequest) -> BoxFuture<'_, Result<ExecSyncResponse>>;
    /// `Exec`: prepares a streaming exec; returns the URL serving it.
    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<String>>;
    /// `Attach`: prepares a streaming attach; returns the URL serving it.
    fn attach(&self, request: AttachRequest) -> BoxFuture<'_, Result<String>>;
    /// `PortForward`: prepares forwarding to sandbox `ports`; returns the URL serving it.
    fn port_forward(&self, pod_sandbox_id: String, ports: Vec<i32>) -> BoxFuture<'_, Result<String>>;

    /// `ContainerStats`: resource usage of one container.
    fn container_stats(&self, container_id: String) -> BoxFuture<'_, Result<ContainerStats>>;
    /// `ListContainerStats`: resource usage of the containers passing `filter`.
    fn list_container_stats(&self, filter: ContainerStatsFilter) -> BoxFuture<'_, Result<Vec<ContainerStats>>>;
    /// `PodSandboxStats`: resource usage of one sandbox.
    fn pod_sandbox_stats(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<PodSandboxStats>>;
    /// `ListPodSandboxStats`: resource usage of the sandboxes passing `filter`.
    fn list_pod_sandbox_stats(&self, filter: PodSandboxStatsFilter) -> BoxFuture<'_, Result<Vec<PodSandboxStats>>>;

    /// `CheckpointContainer`: checkpoints a container to `location` within `timeout`.
    fn checkpoint_container(
        &self,
        container_id: String,
        location: String,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<()>>;
    /// `GetContainerEvents`: a stream of container lifecycle events from now on.
    fn get_container_events(&self) -> BoxFuture<'_, Result<EventStream>>;
    /// `ListMetricDescriptors`: metrics [`list_pod_sandbox_metrics`](Self::list_pod_sandbox_metrics)
    /// returns.
    fn list_metric_descriptors(&self) -> BoxFuture<'_, Result<Vec<MetricDescriptor>>>;
    /// `ListPodSandboxMetrics`: metrics of every sandbox.
    fn list_pod_sandbox_metrics(&self) -> BoxFuture<'_, Result<Vec<PodSandboxMetrics>>>;
    /// `UpdatePodSandboxResources` (1.33): tells the runtime a sandbox's new resources after
    /// an in-place resize.
    fn update_pod_sandbox_resources(
        &self,
        pod_sandbox_id: String,
        overhead: Option<LinuxContainerResources>,
        resources: Option<LinuxContainerResources>,
    ) -> BoxFuture<'_, Result<()>>;
}

/// The CRI `ImageService`: pulling, listing and removing images.
pub trait ImageService: Send + Sync {
    /// `ListImages`: images passing `filter`.
    fn list_images(&self, filter: ImageFilter) -> BoxFuture<'_, Result<Vec<Image>>>;
    /// `ImageStatus`: the image, or `None` if the runtime does not have it.
    fn image_status(&self, image: ImageSpec) -> BoxFuture<'_, Result<Option<Image>>>;
    /// `PullImage`: pulls `image`; returns the image reference (id) the runtime stored.
    fn pull_image(
        &self,
        image: ImageSpec,
        auth: Option<AuthConfig>,
        sandbox_config: Option<PodSandboxConfig>,
    ) -> BoxFuture<'_, Result<String>>;
    /// `RemoveImage`: removes `image`. Succeeds if the image does not exist.
    fn remove_image(&self, image: ImageSpec) -> BoxFuture<'_, Result<()>>;
    /// `ImageFsInfo`: usage of the filesystems holding images and containers.
    fn image_fs_info(&self) -> BoxFuture<'_, Result<ImageFsInfo>>;
}
