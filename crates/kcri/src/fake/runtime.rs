//! [`RuntimeService`] for [`FakeRuntime`]: the async layer over `state.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{Behaviour, FakeRuntime, Inner};
use crate::error::{Error, Result};
use crate::service::{BoxFuture, EventStream, RuntimeService};
use crate::types::{
    AttachRequest, Container, ContainerConfig, ContainerFilter, ContainerState, ContainerStats, ContainerStatsFilter,
    ContainerStatusResponse, CpuUsage, ExecRequest, ExecSyncRequest, ExecSyncResponse, FilesystemUsage,
    KUBELET_API_VERSION, Labels, LinuxContainerResources, MemoryUsage, MetricDescriptor, NETWORK_READY, PodSandbox,
    PodSandboxConfig, PodSandboxFilter, PodSandboxMetrics, PodSandboxStats, PodSandboxStatsFilter,
    PodSandboxStatusResponse, RUNTIME_READY, RuntimeCondition, RuntimeConfig, RuntimeHandler, RuntimeStatus,
    VersionInfo, labels_match,
};

/// Appends `lines` to `path` in the CRI log format, creating parent directories.
async fn write_log(path: PathBuf, lines: Vec<String>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await?;
    for line in lines {
        // `F` marks a full line (not a partial one split by the runtime).
        let entry = format!("{} stdout F {line}\n", cri_timestamp(SystemTime::now()));
        file.write_all(entry.as_bytes()).await?;
    }
    file.flush().await
}

/// RFC 3339 with nanoseconds, as Go's `time.RFC3339Nano` which CRI logs use.
fn cri_timestamp(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time).map(|t| t.to_string()).unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

impl FakeRuntime {
    fn behaviour_for(&self, config: &ContainerConfig) -> Behaviour {
        let s = &self.inner.settings;
        s.by_name
            .get(&config.metadata.name)
            .or_else(|| s.by_image.get(&config.image.image))
            .cloned()
            .or_else(|| Behaviour::from_image_name(&config.image.image))
            .unwrap_or_default()
    }

    fn default_exec(cmd: &[String]) -> ExecSyncResponse {
        match cmd.split_first() {
            Some((prog, args)) if prog == "echo" => ExecSyncResponse::success(format!("{}\n", args.join(" "))),
            Some((prog, _)) if prog == "true" => ExecSyncResponse::success(Vec::new()),
            Some((prog, _)) if prog == "false" => ExecSyncResponse::failure(1, Vec::new()),
            _ => ExecSyncResponse::failure(126, format!("fake runtime: no ExecSync result configured for {cmd:?}\n")),
        }
    }
}

/// Makes container `id` exit with `code` after `after`, unless it was stopped or restarted
/// meanwhile. Holds the runtime weakly so a dropped runtime ends the timer.
fn spawn_exit_timer(inner: &Arc<Inner>, id: String, run: u64, after: Duration, code: i32) {
    let weak = Arc::downgrade(inner);
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        if let Some(inner) = weak.upgrade() {
            let runtime = FakeRuntime { inner };
            let event = runtime.lock().exit_container(&id, code, Some(run));
            tracing::debug!(container = %id, code, exited = event.is_some(), "fake container exit timer fired");
            runtime.emit(event);
        }
    });
}

impl RuntimeService for FakeRuntime {
    fn version(&self, _api_version: String) -> BoxFuture<'_, Result<VersionInfo>> {
        self.note("Version");
        Box::pin(async move {
            Ok(VersionInfo {
                version: KUBELET_API_VERSION.into(),
                runtime_name: "kcri-fake".into(),
                runtime_version: env!("CARGO_PKG_VERSION").into(),
                runtime_api_version: "v1".into(),
            })
        })
    }

    fn status(&self, _verbose: bool) -> BoxFuture<'_, Result<RuntimeStatus>> {
        let network_ready = self.record("Status").network_ready;
        Box::pin(async move {
            let network = RuntimeCondition {
                condition_type: NETWORK_READY.into(),
                status: network_ready,
                reason: if network_ready { String::new() } else { "NetworkPluginNotReady".into() },
                message: if network_ready { String::new() } else { "fake network is not ready".into() },
            };
            Ok(RuntimeStatus {
                conditions: vec![
                    RuntimeCondition { condition_type: RUNTIME_READY.into(), status: true, ..Default::default() },
                    network,
                ],
                runtime_handlers: vec![RuntimeHandler::default()],
                ..Default::default()
            })
        })
    }

    fn runtime_config(&self) -> BoxFuture<'_, Result<RuntimeConfig>> {
        self.note("RuntimeConfig");
        let driver = self.inner.settings.cgroup_driver;
        Box::pin(async move { Ok(RuntimeConfig { cgroup_driver: Some(driver) }) })
    }

    fn update_runtime_config(&self, pod_cidr: String) -> BoxFuture<'_, Result<()>> {
        self.record("UpdateRuntimeConfig").pod_cidr = pod_cidr;
        Box::pin(async { Ok(()) })
    }

    fn run_pod_sandbox(&self, config: PodSandboxConfig, runtime_handler: String) -> BoxFuture<'_, Result<String>> {
        let result = self.record("RunPodSandbox").run_sandbox(config, runtime_handler);
        Box::pin(async move { result })
    }

    fn stop_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>> {
        let events = self.record("StopPodSandbox").stop_sandbox(&pod_sandbox_id);
        self.emit(events);
        Box::pin(async { Ok(()) })
    }

    fn remove_pod_sandbox(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<()>> {
        let events = self.record("RemovePodSandbox").remove_sandbox(&pod_sandbox_id);
        self.emit(events);
        Box::pin(async { Ok(()) })
    }

    fn pod_sandbox_status(
        &self,
        pod_sandbox_id: String,
        _verbose: bool,
    ) -> BoxFuture<'_, Result<PodSandboxStatusResponse>> {
        let result = self.record("PodSandboxStatus").sandbox(&pod_sandbox_id).map(|s| PodSandboxStatusResponse {
            status: s.status.clone(),
            info: Labels::new(),
            containers_statuses: Vec::new(),
            timestamp: Some(SystemTime::now()),
        });
        Box::pin(async move { result })
    }

    fn list_pod_sandbox(&self, filter: PodSandboxFilter) -> BoxFuture<'_, Result<Vec<PodSandbox>>> {
        let items = self.record("ListPodSandbox").sandbox_listing(&filter);
        Box::pin(async move { Ok(items) })
    }

    fn create_container(
        &self,
        pod_sandbox_id: String,
        config: ContainerConfig,
        _sandbox_config: PodSandboxConfig,
    ) -> BoxFuture<'_, Result<String>> {
        let behaviour = self.behaviour_for(&config);
        let result = self.record("CreateContainer").create_container(&pod_sandbox_id, config, behaviour);
        Box::pin(async move {
            let (id, event) = result?;
            self.emit([event]);
            Ok(id)
        })
    }

    fn start_container(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        self.note("StartContainer");
        Box::pin(async move {
            // Latency before the state changes: a caller polling status sees Created meanwhile.
            let latency = self.inner.settings.start_latency;
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let (run, event, behaviour, log_path) = {
                let mut state = self.lock();
                let (run, event) = state.start_container(&container_id)?;
                let c = state.container(&container_id)?;
                (run, event, c.behaviour.clone(), c.status.log_path.clone())
            };
            if !log_path.is_empty() {
                // A log that cannot be written is the caller's setup problem, as with a real
                // runtime, but should not fail the start.
                if let Err(e) = write_log(PathBuf::from(&log_path), behaviour.logs.clone()).await {
                    tracing::warn!(path = %log_path, error = %e, "fake runtime could not write container log");
                }
            }
            self.emit([event]);
            if let Some((after, code)) = behaviour.exit {
                spawn_exit_timer(&self.inner, container_id, run, after, code);
            }
            Ok(())
        })
    }

    fn stop_container(&self, container_id: String, _timeout: Duration) -> BoxFuture<'_, Result<()>> {
        let event = self.record("StopContainer").stop_container(&container_id);
        self.emit(event);
        Box::pin(async { Ok(()) })
    }

    fn remove_container(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        let event = self.record("RemoveContainer").remove_container(&container_id);
        self.emit(event);
        Box::pin(async { Ok(()) })
    }

    fn list_containers(&self, filter: ContainerFilter) -> BoxFuture<'_, Result<Vec<Container>>> {
        let state = self.record("ListContainers");
        // Filtered before copying: a kubelet lists one pod's containers at a time.
        let items: Vec<Container> = state
            .containers
            .values()
            .filter(|c| filter.matches_fields(&c.status.id, c.status.state, &c.pod_sandbox_id, &c.status.labels))
            .map(|c| c.listing())
            .collect();
        drop(state);
        Box::pin(async move { Ok(items) })
    }

    fn container_status(&self, container_id: String, _verbose: bool) -> BoxFuture<'_, Result<ContainerStatusResponse>> {
        let result = self
            .record("ContainerStatus")
            .container(&container_id)
            .map(|c| ContainerStatusResponse { status: c.status.clone(), info: Labels::new() });
        Box::pin(async move { result })
    }

    fn update_container_resources(
        &self,
        container_id: String,
        resources: LinuxContainerResources,
        _annotations: Labels,
    ) -> BoxFuture<'_, Result<()>> {
        let result = self.record("UpdateContainerResources").update_resources(&container_id, resources);
        Box::pin(async move { result })
    }

    fn reopen_container_log(&self, container_id: String) -> BoxFuture<'_, Result<()>> {
        let result = self.record("ReopenContainerLog").container(&container_id).and_then(|c| {
            if c.status.state == ContainerState::Running {
                Ok(())
            } else {
                Err(Error::failed_precondition(format!("container {container_id} is not running")))
            }
        });
        Box::pin(async move { result })
    }

    fn exec_sync(&self, request: ExecSyncRequest) -> BoxFuture<'_, Result<ExecSyncResponse>> {
        let state = self.record("ExecSync");
        let result = state.container(&request.container_id).and_then(|c| {
            if c.status.state != ContainerState::Running {
                return Err(Error::failed_precondition(format!("container {} is not running", request.container_id)));
            }
            let configured = state.exec_results.iter().rev().find(|(cmd, _)| *cmd == request.cmd);
            Ok(configured.map(|(_, r)| r.clone()).unwrap_or_else(|| Self::default_exec(&request.cmd)))
        });
        drop(state);
        Box::pin(async move { result })
    }

    fn exec(&self, request: ExecRequest) -> BoxFuture<'_, Result<String>> {
        let result = self.record("Exec").container(&request.container_id).map(|c| c.status.id.clone());
        Box::pin(async move { result.map(|id| format!("http://127.0.0.1:0/exec/{id}")) })
    }

    fn attach(&self, request: AttachRequest) -> BoxFuture<'_, Result<String>> {
        let result = self.record("Attach").container(&request.container_id).map(|c| c.status.id.clone());
        Box::pin(async move { result.map(|id| format!("http://127.0.0.1:0/attach/{id}")) })
    }

    fn port_forward(&self, pod_sandbox_id: String, _ports: Vec<i32>) -> BoxFuture<'_, Result<String>> {
        let result = self.record("PortForward").sandbox(&pod_sandbox_id).map(|s| s.status.id.clone());
        Box::pin(async move { result.map(|id| format!("http://127.0.0.1:0/portforward/{id}")) })
    }

    fn container_stats(&self, container_id: String) -> BoxFuture<'_, Result<ContainerStats>> {
        let result = self.record("ContainerStats").container(&container_id).map(|c| fake_stats(&c.status));
        Box::pin(async move { result })
    }

    fn list_container_stats(&self, filter: ContainerStatsFilter) -> BoxFuture<'_, Result<Vec<ContainerStats>>> {
        let state = self.record("ListContainerStats");
        let stats = state
            .containers
            .values()
            .filter(|c| c.status.state == ContainerState::Running)
            .filter(|c| filter.id.as_deref().is_none_or(|id| c.status.id.starts_with(id)))
            .filter(|c| filter.pod_sandbox_id.as_deref().is_none_or(|p| c.pod_sandbox_id.starts_with(p)))
            .filter(|c| labels_match(&filter.label_selector, &c.status.labels))
            .map(|c| fake_stats(&c.status))
            .collect();
        drop(state);
        Box::pin(async move { Ok(stats) })
    }

    fn pod_sandbox_stats(&self, pod_sandbox_id: String) -> BoxFuture<'_, Result<PodSandboxStats>> {
        let state = self.record("PodSandboxStats");
        let result = state.sandbox(&pod_sandbox_id).map(|s| sandbox_stats(&state, s));
        drop(state);
        Box::pin(async move { result })
    }

    fn list_pod_sandbox_stats(&self, filter: PodSandboxStatsFilter) -> BoxFuture<'_, Result<Vec<PodSandboxStats>>> {
        let state = self.record("ListPodSandboxStats");
        let stats = state
            .sandboxes
            .values()
            .filter(|s| filter.id.as_deref().is_none_or(|id| s.status.id.starts_with(id)))
            .filter(|s| labels_match(&filter.label_selector, &s.status.labels))
            .map(|s| sandbox_stats(&state, s))
            .collect();
        drop(state);
        Box::pin(async move { Ok(stats) })
    }

    fn checkpoint_container(
        &self,
        container_id: String,
        _location: String,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<()>> {
        let result = self.record("CheckpointContainer").container(&container_id).map(|_| ());
        Box::pin(async move { result })
    }

    fn get_container_events(&self) -> BoxFuture<'_, Result<EventStream>> {
        self.note("GetContainerEvents");
        let receiver = self.inner.events.subscribe();
        Box::pin(async move {
            let stream = BroadcastStream::new(receiver).map(|item| {
                item.map_err(|BroadcastStreamRecvError::Lagged(n)| Error::Runtime {
                    code: 8,
                    message: format!("event subscriber lagged; {n} events dropped"),
                })
            });
            Ok(Box::pin(stream) as EventStream)
        })
    }

    fn list_metric_descriptors(&self) -> BoxFuture<'_, Result<Vec<MetricDescriptor>>> {
        self.note("ListMetricDescriptors");
        Box::pin(async { Ok(Vec::new()) })
    }

    fn list_pod_sandbox_metrics(&self) -> BoxFuture<'_, Result<Vec<PodSandboxMetrics>>> {
        let state = self.record("ListPodSandboxMetrics");
        let metrics = state
            .sandboxes
            .keys()
            .map(|id| PodSandboxMetrics { pod_sandbox_id: id.clone(), ..Default::default() })
            .collect();
        drop(state);
        Box::pin(async move { Ok(metrics) })
    }

    fn update_pod_sandbox_resources(
        &self,
        pod_sandbox_id: String,
        _overhead: Option<LinuxContainerResources>,
        _resources: Option<LinuxContainerResources>,
    ) -> BoxFuture<'_, Result<()>> {
        let result = self.record("UpdatePodSandboxResources").sandbox(&pod_sandbox_id).map(|_| ());
        Box::pin(async move { result })
    }
}

/// Plausible constant usage: enough for code that reads stats to see every field filled.
fn fake_stats(status: &crate::types::ContainerStatus) -> ContainerStats {
    let now = Some(SystemTime::now());
    ContainerStats {
        id: status.id.clone(),
        metadata: status.metadata.clone(),
        labels: status.labels.clone(),
        annotations: status.annotations.clone(),
        cpu: Some(CpuUsage { timestamp: now, usage_core_nano_seconds: Some(1_000_000), usage_nano_cores: Some(1_000) }),
        memory: Some(MemoryUsage {
            timestamp: now,
            working_set_bytes: Some(4 << 20),
            usage_bytes: Some(4 << 20),
            rss_bytes: Some(2 << 20),
            ..Default::default()
        }),
        writable_layer: Some(FilesystemUsage {
            timestamp: now,
            mountpoint: "/var/lib/kcri-fake".into(),
            used_bytes: Some(4096),
            inodes_used: Some(1),
        }),
    }
}

fn sandbox_stats(state: &super::state::State, s: &super::state::SandboxRec) -> PodSandboxStats {
    let containers: Vec<ContainerStats> = state
        .containers
        .values()
        .filter(|c| c.pod_sandbox_id == s.status.id && c.status.state == ContainerState::Running)
        .map(|c| fake_stats(&c.status))
        .collect();
    PodSandboxStats {
        id: s.status.id.clone(),
        metadata: s.status.metadata.clone(),
        labels: s.status.labels.clone(),
        annotations: s.status.annotations.clone(),
        process_count: Some(containers.len() as u64),
        containers,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_timestamps_are_rfc3339_utc() {
        let t = std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(cri_timestamp(t), "2023-11-14T22:13:20.123456789Z");
    }
}
