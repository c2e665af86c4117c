//! [`RuntimeService`] over gRPC.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::{Call, Client, MAX_MESSAGE_SIZE, required};
use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::runtime_service_client::RuntimeServiceClient;
use crate::service::{BoxFuture, EventStream, RuntimeService};
use crate::types::{
    AttachRequest, Container, ContainerConfig, ContainerFilter, ContainerStats, ContainerStatsFilter,
    ContainerStatusResponse, ExecRequest, ExecSyncRequest, ExecSyncResponse, Labels, LinuxContainerResources,
    MetricDescriptor, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxMetrics, PodSandboxStats,
    PodSandboxStatsFilter, PodSandboxStatusResponse, RuntimeConfig, RuntimeStatus, VersionInfo, secs_ceil,
    time_from_nanos,
};

/// The generated client on `channel`, with kubelet's message size limits.
pub(super) fn rt(channel: Channel) -> RuntimeServiceClient<Channel> {
    RuntimeServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
}

impl RuntimeService for Client {
    fn version(&self, api_version: String) -> BoxFuture<'_, Result<VersionInfo>> {
        Box::pin(async move {
            let req = pb::VersionRequest { version: api_version };
            let resp =
                self.call("Version", self.idempotent(), req, |c, r| async move { rt(c).version(r).await }).await?;
            Ok(resp.into())
        })
    }

    fn status(&self, verbose: bool) -> BoxFuture<'_, Result<RuntimeStatus>> {
        Box::pin(async move {
            let req = pb::StatusRequest { verbose };
            let resp = self.call("Status", self.idempotent(), req, |c, r| async move { rt(c).status(r).await }).await?;
            Ok(resp.into())
        })
    }

    fn runtime_config(&self) -> BoxFuture<'_, Result<RuntimeConfig>> {
        Box::pin(async move {
            let req = pb::RuntimeConfigRequest {};
            let resp = self
                .call("RuntimeConfig", self.idempotent(), req, |c, r| async move { rt(c).runtime_config(r).await })
                .await?;
            Ok(resp.into())
        })
    }

    fn update_runtime_config(&self, pod_cidr: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::UpdateRuntimeConfigRequest {
                runtime_config: Some(pb::RuntimeConfig { network_config: Some(pb::NetworkConfig { pod_cidr }) }),
            };
            self.call("UpdateRuntimeConfig", self.idempotent(), req, |c, r| async move {
                rt(c).update_runtime_config(r).await
            })
            .await?;
            Ok(())
        })
    }

    fn run_pod_sandbox(&self, config: PodSandboxConfig, runtime_handler: String) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::RunPodSandboxRequest { config: Some(config.into()), runtime_handler };
            let resp = self
                .call("RunPodSandbox", self.once(), req, |c, r| async move { rt(c).run_pod_sandbox(r).await })
                .await?;
            Ok(resp.pod_sandbox_id)
        })
    }

    fn stop_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::StopPodSandboxRequest { pod_sandbox_id };
            self.call("StopPodSandbox", self.idempotent(), req, |c, r| async move { rt(c).stop_pod_sandbox(r).await })
                .await?;
            Ok(())
        })
    }

    fn remove_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::RemovePodSandboxRequest { pod_sandbox_id };
            self.call(
                "RemovePodSandbox",
                self.idempotent(),
                req,
                |c, r| async move { rt(c).remove_pod_sandbox(r).await },
            )
            .await?;
            Ok(())
        })
    }

    fn pod_sandbox_status(
        &self,
        pod_sandbox_id: String,
        verbose: bool,
    ) -> BoxFuture<'_, Result<PodSandboxStatusResponse>> {
        Box::pin(async move {
            let req = pb::PodSandboxStatusRequest { pod_sandbox_id, verbose };
            let resp =
                self.call("PodSandboxStatus", self.idempotent(), req, |c, r| async move {
                    rt(c).pod_sandbox_status(r).await
                })
                .await?;
            Ok(PodSandboxStatusResponse {
                status: required(resp.status, "PodSandboxStatusResponse.status")?.into(),
                info: resp.info,
                containers_statuses: resp.containers_statuses.into_iter().map(Into::into).collect(),
                timestamp: time_from_nanos(resp.timestamp),
            })
        })
    }

    fn list_pod_sandbox(&self, filter: PodSandboxFilter) -> BoxFuture<'_, Result<Vec<PodSandbox>>> {
        Box::pin(async move {
            let req = pb::ListPodSandboxRequest { filter: Some(filter.into()) };
            let resp = self
                .call("ListPodSandbox", self.idempotent(), req, |c, r| async move { rt(c).list_pod_sandbox(r).await })
                .await?;
            Ok(resp.items.into_iter().map(Into::into).collect())
        })
    }

    fn create_container(
        &self,
        pod_sandbox_id: String,
        config: ContainerConfig,
        sandbox_config: PodSandboxConfig,
    ) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::CreateContainerRequest {
                pod_sandbox_id,
                config: Some(config.into()),
                sandbox_config: Some(sandbox_config.into()),
            };
            let resp = self
                .call("CreateContainer", self.once(), req, |c, r| async move { rt(c).create_container(r).await })
                .await?;
            Ok(resp.container_id)
        })
    }

    fn start_container(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::StartContainerRequest { container_id };
            self.call("StartContainer", self.once(), req, |c, r| async move { rt(c).start_container(r).await }).await?;
            Ok(())
        })
    }

    fn stop_container(&self, container_id: String, timeout: Duration) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::StopContainerRequest { container_id, timeout: secs_ceil(timeout) };
            // The runtime may wait the whole grace period before killing.
            let call = Call::Idempotent(self.timeout_plus(timeout));
            self.call("StopContainer", call, req, |c, r| async move { rt(c).stop_container(r).await }).await?;
            Ok(())
        })
    }

    fn remove_container(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::RemoveContainerRequest { container_id };
            self.call("RemoveContainer", self.idempotent(), req, |c, r| async move { rt(c).remove_container(r).await })
                .await?;
            Ok(())
        })
    }

    fn list_containers(&self, filter: ContainerFilter) -> BoxFuture<'_, Result<Vec<Container>>> {
        Box::pin(async move {
            let req = pb::ListContainersRequest { filter: Some(filter.into()) };
            let resp = self
                .call("ListContainers", self.idempotent(), req, |c, r| async move { rt(c).list_containers(r).await })
                .await?;
            Ok(resp.containers.into_iter().map(Into::into).collect())
        })
    }

    fn container_status(&self, container_id: String, verbose: bool) -> BoxFuture<'_, Result<ContainerStatusResponse>> {
        Box::pin(async move {
            let req = pb::ContainerStatusRequest { container_id, verbose };
            let resp = self
                .call("ContainerStatus", self.idempotent(), req, |c, r| async move { rt(c).container_status(r).await })
                .await?;
            Ok(ContainerStatusResponse {
                status: required(resp.status, "ContainerStatusResponse.status")?.into(),
                info: resp.info,
            })
        })
    }

    fn update_container_resources(
        &self,
        container_id: String,
        resources: LinuxContainerResources,
        annotations: Labels,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::UpdateContainerResourcesRequest {
                container_id,
                linux: Some(resources.into()),
                windows: None,
                annotations,
            };
            self.call("UpdateContainerResources", self.idempotent(), req, |c, r| async move {
                rt(c).update_container_resources(r).await
            })
            .await?;
            Ok(())
        })
    }

    fn reopen_container_log(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::ReopenContainerLogRequest { container_id };
            self.call("ReopenContainerLog", self.idempotent(), req, |c, r| async move {
                rt(c).reopen_container_log(r).await
            })
            .await?;
            Ok(())
        })
    }

    fn exec_sync(&self, request: ExecSyncRequest) -> BoxFuture<'_, Result<ExecSyncResponse>> {
        Box::pin(async move {
            let extra = request.timeout.unwrap_or_default();
            let req = pb::ExecSyncRequest {
                container_id: request.container_id,
                cmd: request.cmd,
                timeout: request.timeout.map_or(0, secs_ceil),
            };
            let call = Call::Once(self.timeout_plus(extra));
            let resp = self.call("ExecSync", call, req, |c, r| async move { rt(c).exec_sync(r).await }).await?;
            Ok(resp.into())
        })
    }

    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::ExecRequest::from(request);
            let resp = self.call("Exec", self.once(), req, |c, r| async move { rt(c).exec(r).await }).await?;
            Ok(resp.url)
        })
    }

    fn attach(&self, request: AttachRequest) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::AttachRequest::from(request);
            let resp = self.call("Attach", self.once(), req, |c, r| async move { rt(c).attach(r).await }).await?;
            Ok(resp.url)
        })
    }

    fn port_forward(&self, pod_sandbox_id: String, ports: Vec<i32>) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::PortForwardRequest { pod_sandbox_id, port: ports };
            let resp =
                self.call("PortForward", self.once(), req, |c, r| async move { rt(c).port_forward(r).await }).await?;
            Ok(resp.url)
        })
    }

    fn container_stats(&self, container_id: String) -> BoxFuture<'_, Result<ContainerStats>> {
        Box::pin(async move {
            let req = pb::ContainerStatsRequest { container_id };
            let resp = self
                .call("ContainerStats", self.idempotent(), req, |c, r| async move { rt(c).container_stats(r).await })
                .await?;
            Ok(required(resp.stats, "ContainerStatsResponse.stats")?.into())
        })
    }

    fn list_container_stats(&self, filter: ContainerStatsFilter) -> BoxFuture<'_, Result<Vec<ContainerStats>>> {
        Box::pin(async move {
            let req = pb::ListContainerStatsRequest {
                filter: Some(pb::ContainerStatsFilter {
                    id: filter.id.unwrap_or_default(),
                    pod_sandbox_id: filter.pod_sandbox_id.unwrap_or_default(),
                    label_selector: filter.label_selector,
                }),
            };
            let resp = self
                .call("ListContainerStats", self.idempotent(), req, |c, r| async move {
                    rt(c).list_container_stats(r).await
                })
                .await?;
            Ok(resp.stats.into_iter().map(Into::into).collect())
        })
    }

    fn pod_sandbox_stats(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<PodSandboxStats>> {
        Box::pin(async move {
            let req = pb::PodSandboxStatsRequest { pod_sandbox_id };
            let resp = self
                .call("PodSandboxStats", self.idempotent(), req, |c, r| async move { rt(c).pod_sandbox_stats(r).await })
                .await?;
            Ok(required(resp.stats, "PodSandboxStatsResponse.stats")?.into())
        })
    }

    fn list_pod_sandbox_stats(&self, filter: PodSandboxStatsFilter) -> BoxFuture<'_, Result<Vec<PodSandboxStats>>> {
        Box::pin(async move {
            let req = pb::ListPodSandboxStatsRequest {
                filter: Some(pb::PodSandboxStatsFilter {
                    id: filter.id.unwrap_or_default(),
                    label_selector: filter.label_selector,
                }),
            };
            let resp = self
                .call("ListPodSandboxStats", self.idempotent(), req, |c, r| async move {
                    rt(c).list_pod_sandbox_stats(r).await
                })
                .await?;
            Ok(resp.stats.into_iter().map(Into::into).collect())
        })
    }

    fn checkpoint_container(
        &self,
        container_id: String,
        location: String,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::CheckpointContainerRequest { container_id, location, timeout: secs_ceil(timeout) };
            let call = Call::Once(self.timeout_plus(timeout));
            self.call("CheckpointContainer", call, req, |c, r| async move { rt(c).checkpoint_container(r).await })
                .await?;
            Ok(())
        })
    }

    fn get_container_events(&self) -> BoxFuture<'_, Result<EventStream>> {
        Box::pin(async move {
            // Only the stream's opening has a deadline: the stream itself lives on.
            let req = pb::GetEventsRequest {};
            let stream = self
                .call("GetContainerEvents", self.once(), req, |c, r| async move { rt(c).get_container_events(r).await })
                .await?;
            let events = stream.map(|item| item.map(Into::into).map_err(Error::from));
            Ok(Box::pin(events) as EventStream)
        })
    }

    fn list_metric_descriptors(&self) -> BoxFuture<'_, Result<Vec<MetricDescriptor>>> {
        Box::pin(async move {
            let req = pb::ListMetricDescriptorsRequest {};
            let resp = self
                .call("ListMetricDescriptors", self.idempotent(), req, |c, r| async move {
                    rt(c).list_metric_descriptors(r).await
                })
                .await?;
            Ok(resp
                .descriptors
                .into_iter()
                .map(|d| MetricDescriptor { name: d.name, help: d.help, label_keys: d.label_keys })
                .collect())
        })
    }

    fn list_pod_sandbox_metrics(&self) -> BoxFuture<'_, Result<Vec<PodSandboxMetrics>>> {
        Box::pin(async move {
            let req = pb::ListPodSandboxMetricsRequest {};
            let resp = self
                .call("ListPodSandboxMetrics", self.idempotent(), req, |c, r| async move {
                    rt(c).list_pod_sandbox_metrics(r).await
                })
                .await?;
            Ok(resp.pod_metrics.into_iter().map(Into::into).collect())
        })
    }

    fn update_pod_sandbox_resources(
        &self,
        pod_sandbox_id: String,
        overhead: Option<LinuxContainerResources>,
        resources: Option<LinuxContainerResources>,
    ) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::UpdatePodSandboxResourcesRequest {
                pod_sandbox_id,
                overhead: overhead.map(Into::into),
                resources: resources.map(Into::into),
            };
            self.call("UpdatePodSandboxResources", self.idempotent(), req, |c, r| async move {
                rt(c).update_pod_sandbox_resources(r).await
            })
            .await?;
            Ok(())
        })
    }
}
