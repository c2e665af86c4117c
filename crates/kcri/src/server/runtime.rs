//! gRPC `RuntimeService` backed by a [`RuntimeService`] implementation.

use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::proto::v1 as pb;
use crate::service::RuntimeService;
use crate::types::{ContainerStatsFilter, ExecSyncRequest, PodSandboxStatsFilter, duration_from_secs, nanos_from_time};

/// Adapts a [`RuntimeService`] to the generated gRPC trait.
pub(super) struct RuntimeAdaptor(pub(super) Arc<dyn RuntimeService>);

type Reply<T> = Result<Response<T>, Status>;

fn ok<T>(value: T) -> Reply<T> {
    Ok(Response::new(value))
}

/// Seconds from the wire (0 = none) as a duration; "none" is zero for stop and checkpoint.
fn secs(timeout: i64) -> std::time::Duration {
    duration_from_secs(timeout).unwrap_or_default()
}

#[tonic::async_trait]
impl pb::runtime_service_server::RuntimeService for RuntimeAdaptor {
    type GetContainerEventsStream = Pin<Box<dyn Stream<Item = Result<pb::ContainerEventResponse, Status>> + Send>>;

    async fn version(&self, req: Request<pb::VersionRequest>) -> Reply<pb::VersionResponse> {
        ok(self.0.version(req.into_inner().version).await?.into())
    }

    async fn status(&self, req: Request<pb::StatusRequest>) -> Reply<pb::StatusResponse> {
        ok(self.0.status(req.into_inner().verbose).await?.into())
    }

    async fn runtime_config(&self, _req: Request<pb::RuntimeConfigRequest>) -> Reply<pb::RuntimeConfigResponse> {
        ok(self.0.runtime_config().await?.into())
    }

    async fn update_runtime_config(
        &self,
        req: Request<pb::UpdateRuntimeConfigRequest>,
    ) -> Reply<pb::UpdateRuntimeConfigResponse> {
        let cidr = req.into_inner().runtime_config.and_then(|c| c.network_config).map(|n| n.pod_cidr);
        self.0.update_runtime_config(cidr.unwrap_or_default()).await?;
        ok(pb::UpdateRuntimeConfigResponse {})
    }

    async fn run_pod_sandbox(&self, req: Request<pb::RunPodSandboxRequest>) -> Reply<pb::RunPodSandboxResponse> {
        let r = req.into_inner();
        let config = r.config.ok_or_else(|| Status::invalid_argument("config is required"))?;
        let pod_sandbox_id = self.0.run_pod_sandbox(config.into(), r.runtime_handler).await?;
        ok(pb::RunPodSandboxResponse { pod_sandbox_id })
    }

    async fn stop_pod_sandbox(&self, req: Request<pb::StopPodSandboxRequest>) -> Reply<pb::StopPodSandboxResponse> {
        self.0.stop_pod_sandbox(req.into_inner().pod_sandbox_id).await?;
        ok(pb::StopPodSandboxResponse {})
    }

    async fn remove_pod_sandbox(
        &self,
        req: Request<pb::RemovePodSandboxRequest>,
    ) -> Reply<pb::RemovePodSandboxResponse> {
        self.0.remove_pod_sandbox(req.into_inner().pod_sandbox_id).await?;
        ok(pb::RemovePodSandboxResponse {})
    }

    async fn pod_sandbox_status(
        &self,
        req: Request<pb::PodSandboxStatusRequest>,
    ) -> Reply<pb::PodSandboxStatusResponse> {
        let r = req.into_inner();
        let s = self.0.pod_sandbox_status(r.pod_sandbox_id, r.verbose).await?;
        ok(pb::PodSandboxStatusResponse {
            status: Some(s.status.into()),
            info: s.info,
            containers_statuses: s.containers_statuses.into_iter().map(Into::into).collect(),
            timestamp: nanos_from_time(s.timestamp),
        })
    }

    async fn list_pod_sandbox(&self, req: Request<pb::ListPodSandboxRequest>) -> Reply<pb::ListPodSandboxResponse> {
        let filter = req.into_inner().filter.map(Into::into).unwrap_or_default();
        let items = self.0.list_pod_sandbox(filter).await?;
        ok(pb::ListPodSandboxResponse { items: items.into_iter().map(Into::into).collect() })
    }

    async fn create_container(&self, req: Request<pb::CreateContainerRequest>) -> Reply<pb::CreateContainerResponse> {
        let r = req.into_inner();
        let config = r.config.ok_or_else(|| Status::invalid_argument("config is required"))?;
        let container_id = self
            .0
            .create_container(r.pod_sandbox_id, config.into(), r.sandbox_config.map(Into::into).unwrap_or_default())
            .await?;
        ok(pb::CreateContainerResponse { container_id })
    }

    async fn start_container(&self, req: Request<pb::StartContainerRequest>) -> Reply<pb::StartContainerResponse> {
        self.0.start_container(req.into_inner().container_id).await?;
        ok(pb::StartContainerResponse {})
    }

    async fn stop_container(&self, req: Request<pb::StopContainerRequest>) -> Reply<pb::StopContainerResponse> {
        let r = req.into_inner();
        self.0.stop_container(r.container_id, secs(r.timeout)).await?;
        ok(pb::StopContainerResponse {})
    }

    async fn remove_container(&self, req: Request<pb::RemoveContainerRequest>) -> Reply<pb::RemoveContainerResponse> {
        self.0.remove_container(req.into_inner().container_id).await?;
        ok(pb::RemoveContainerResponse {})
    }

    async fn list_containers(&self, req: Request<pb::ListContainersRequest>) -> Reply<pb::ListContainersResponse> {
        let filter = req.into_inner().filter.map(Into::into).unwrap_or_default();
        let containers = self.0.list_containers(filter).await?;
        ok(pb::ListContainersResponse { containers: containers.into_iter().map(Into::into).collect() })
    }

    async fn container_status(&self, req: Request<pb::ContainerStatusRequest>) -> Reply<pb::ContainerStatusResponse> {
        let r = req.into_inner();
        let s = self.0.container_status(r.container_id, r.verbose).await?;
        ok(pb::ContainerStatusResponse { status: Some(s.status.into()), info: s.info })
    }

    async fn update_container_resources(
        &self,
        req: Request<pb::UpdateContainerResourcesRequest>,
    ) -> Reply<pb::UpdateContainerResourcesResponse> {
        let r = req.into_inner();
        self.0
            .update_container_resources(r.container_id, r.linux.map(Into::into).unwrap_or_default(), r.annotations)
            .await?;
        ok(pb::UpdateContainerResourcesResponse {})
    }

    async fn reopen_container_log(
        &self,
        req: Request<pb::ReopenContainerLogRequest>,
    ) -> Reply<pb::ReopenContainerLogResponse> {
        self.0.reopen_container_log(req.into_inner().container_id).await?;
        ok(pb::ReopenContainerLogResponse {})
    }

    async fn exec_sync(&self, req: Request<pb::ExecSyncRequest>) -> Reply<pb::ExecSyncResponse> {
        let r = req.into_inner();
        let request =
            ExecSyncRequest { container_id: r.container_id, cmd: r.cmd, timeout: duration_from_secs(r.timeout) };
        ok(self.0.exec_sync(request).await?.into())
    }

    async fn exec(&self, req: Request<pb::ExecRequest>) -> Reply<pb::ExecResponse> {
        ok(pb::ExecResponse { url: self.0.exec(req.into_inner().into()).await? })
    }

    async fn attach(&self, req: Request<pb::AttachRequest>) -> Reply<pb::AttachResponse> {
        ok(pb::AttachResponse { url: self.0.attach(req.into_inner().into()).await? })
    }

    async fn port_forward(&self, req: Request<pb::PortForwardRequest>) -> Reply<pb::PortForwardResponse> {
        let r = req.into_inner();
        ok(pb::PortForwardResponse { url: self.0.port_forward(r.pod_sandbox_id, r.port).await? })
    }

    async fn container_stats(&self, req: Request<pb::ContainerStatsRequest>) -> Reply<pb::ContainerStatsResponse> {
        let stats = self.0.container_stats(req.into_inner().container_id).await?;
        ok(pb::ContainerStatsResponse { stats: Some(stats.into()) })
    }

    async fn list_container_stats(
        &self,
        req: Request<pb::ListContainerStatsRequest>,
    ) -> Reply<pb::ListContainerStatsResponse> {
        let f = req.into_inner().filter.unwrap_or_default();
        let filter = ContainerStatsFilter {
            id: Some(f.id).filter(|s| !s.is_empty()),
            pod_sandbox_id: Some(f.pod_sandbox_id).filter(|s| !s.is_empty()),
            label_selector: f.label_selector,
        };
        let stats = self.0.list_container_stats(filter).await?;
        ok(pb::ListContainerStatsResponse { stats: stats.into_iter().map(Into::into).collect() })
    }

    async fn pod_sandbox_stats(&self, req: Request<pb::PodSandboxStatsRequest>) -> Reply<pb::PodSandboxStatsResponse> {
        let stats = self.0.pod_sandbox_stats(req.into_inner().pod_sandbox_id).await?;
        ok(pb::PodSandboxStatsResponse { stats: Some(stats.into()) })
    }

    async fn list_pod_sandbox_stats(
        &self,
        req: Request<pb::ListPodSandboxStatsRequest>,
    ) -> Reply<pb::ListPodSandboxStatsResponse> {
        let f = req.into_inner().filter.unwrap_or_default();
        let filter =
            PodSandboxStatsFilter { id: Some(f.id).filter(|s| !s.is_empty()), label_selector: f.label_selector };
        let stats = self.0.list_pod_sandbox_stats(filter).await?;
        ok(pb::ListPodSandboxStatsResponse { stats: stats.into_iter().map(Into::into).collect() })
    }

    async fn checkpoint_container(
        &self,
        req: Request<pb::CheckpointContainerRequest>,
    ) -> Reply<pb::CheckpointContainerResponse> {
        let r = req.into_inner();
        self.0.checkpoint_container(r.container_id, r.location, secs(r.timeout)).await?;
        ok(pb::CheckpointContainerResponse {})
    }

    async fn get_container_events(&self, _req: Request<pb::GetEventsRequest>) -> Reply<Self::GetContainerEventsStream> {
        let events = self.0.get_container_events().await?;
        let stream = events.map(|item| item.map(Into::into).map_err(Status::from));
        ok(Box::pin(stream))
    }

    async fn list_metric_descriptors(
        &self,
        _req: Request<pb::ListMetricDescriptorsRequest>,
    ) -> Reply<pb::ListMetricDescriptorsResponse> {
        let descriptors = self.0.list_metric_descriptors().await?;
        ok(pb::ListMetricDescriptorsResponse {
            descriptors: descriptors
                .into_iter()
                .map(|d| pb::MetricDescriptor { name: d.name, help: d.help, label_keys: d.label_keys })
                .collect(),
        })
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _req: Request<pb::ListPodSandboxMetricsRequest>,
    ) -> Reply<pb::ListPodSandboxMetricsResponse> {
        let metrics = self.0.list_pod_sandbox_metrics().await?;
        ok(pb::ListPodSandboxMetricsResponse { pod_metrics: metrics.into_iter().map(Into::into).collect() })
    }

    async fn update_pod_sandbox_resources(
        &self,
        req: Request<pb::UpdatePodSandboxResourcesRequest>,
    ) -> Reply<pb::UpdatePodSandboxResourcesResponse> {
        let r = req.into_inner();
        self.0
            .update_pod_sandbox_resources(r.pod_sandbox_id, r.overhead.map(Into::into), r.resources.map(Into::into))
            .await?;
        ok(pb::UpdatePodSandboxResourcesResponse {})
    }
}
