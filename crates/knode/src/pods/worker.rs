//! The pod worker: one task per pod, serializing its syncs. Each sync reads what the
//! runtime has, computes [`PodActions`](super::actions::PodActions), applies them (kill →
//! sandbox → init containers → containers, with restart back-off), runs probes and writes
//! the status when it changed. A pod being deleted is terminated gracefully and then
//! deleted from the API with grace 0.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kapi::k8s::api::core::v1::{Pod, PodStatus};
use kcri::types::{ImageSpec, PodSandboxConfig};
use kwatch::http::{Api, DeleteParams, Patch, PatchParams, PostParams};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::actions::compute_pod_actions;
use super::runtime::{self, ContainerView, PodRuntime};
use super::spec::{container_config, pod_identity, sandbox_config};
use super::{Shared, env};
use crate::downward::RuntimeFields;
use crate::probes::PodProbes;
use crate::static_pods::{CONFIG_MIRROR_ANNOTATION, is_mirror, is_static, mirror_of};
use crate::status::{StatusInput, Waiting, pod_status};
use crate::volumes;

/// Errors of one sync; the worker logs them and retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A CRI call failed.
    #[error("runtime: {0}")]
    Runtime(#[from] kcri::Error),
    /// An API call failed.
    #[error("API: {0}")]
    Api(#[from] kwatch::http::ClientError),
    /// The pod has no spec or UID.
    #[error("pod {0} has no spec or uid")]
    Invalid(String),
}

/// What the manager tells a worker.
#[derive(Debug, Clone)]
pub(crate) enum PodUpdate {
    /// The pod as the API has it now.
    Present(Arc<Pod>),
    /// The pod is gone from the API: stop everything and end.
    Gone(Arc<Pod>),
}

/// Retry delay after a failed sync or a container that could not be started.
const RETRY: Duration = Duration::from_secs(2);

pub(crate) struct Worker {
    shared: Arc<Shared>,
    updates: watch::Receiver<PodUpdate>,
    kick: Arc<Notify>,
    probes: PodProbes,
    waiting: BTreeMap<String, Waiting>,
    /// The last status written, and when.
    last_written: Option<(PodStatus, tokio::time::Instant)>,
    deleted_from_api: bool,
    volumes_refreshed: Option<tokio::time::Instant>,
}

impl Worker {
    pub(crate) fn new(shared: Arc<Shared>, updates: watch::Receiver<PodUpdate>, kick: Arc<Notify>) -> Self {
        Self {
            shared,
            updates,
            kick,
            probes: PodProbes::default(),
            waiting: BTreeMap::new(),
            last_written: None,
            deleted_from_api: false,
            volumes_refreshed: None,
        }
    }

    /// Syncs until the pod is gone or `cancel` fires (then containers keep running, as when
    /// a kubelet restarts).
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        loop {
            let update = self.updates.borrow_and_update().clone();
            let wait = match update {
                PodUpdate::Gone(pod) => {
                    if let Err(e) = self.terminate(&pod, false).await {
                        tracing::warn!(error = %e, "cleaning up a deleted pod failed");
                    }
                    self.probes.stop_all();
                    return;
                }
                PodUpdate::Present(pod) if pod.metadata.deletion_timestamp.is_some() => {
                    match self.terminate(&pod, true).await {
                        Ok(()) => self.shared.config.sync_frequency,
                        Err(e) => {
                            tracing::warn!(error = %e, "terminating pod failed; retrying");
                            RETRY
                        }
                    }
                }
                PodUpdate::Present(pod) => match self.sync(&pod, &cancel).await {
                    Ok(wait) => wait,
                    Err(e) => {
                        tracing::warn!(error = %e, "pod sync failed; retrying");
                        RETRY
                    }
                },
            };
            tokio::select! {
                () = cancel.cancelled() => {
                    self.probes.stop_all();
                    return;
                }
                changed = self.updates.changed() => if changed.is_err() {
                    self.probes.stop_all();
                    return;
                },
                () = self.kick.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> PodSandboxConfig {
        let (_, _, uid) = pod_identity(pod);
        let mut config = sandbox_config(pod, attempt, &self.shared.config.pod_log_dir, &self.shared.cgroup_parent(uid));
        config.dns_config = super::dns::pod_dns_config(pod, &self.shared.dns);
        config
    }

    /// One sync; returns how long to wait before the next one at the latest.
    async fn sync(&mut self, pod: &Pod, cancel: &CancellationToken) -> Result<Duration, SyncError> {
        let (name, ns, uid) = pod_identity(pod);
        let spec = pod.spec.as_ref().ok_or_else(|| SyncError::Invalid(format!("{ns}/{name}")))?;
        if uid.is_empty() {
            return Err(SyncError::Invalid(format!("{ns}/{name}")));
        }
        if is_static(pod) {
            if let Err(e) = self.ensure_mirror(pod).await {
                tracing::warn!(error = %e, "creating the mirror pod failed");
            }
        }
        let rt = self.shared.runtime.clone();
        let mut view = runtime::fetch(rt.as_ref(), uid).await?;
        let (_, unhealthy) = self.probes.states(spec, &view);
        let actions = compute_pod_actions(spec, &view, &unhealthy);
        self.waiting.clear();
        let mut wait = self.shared.config.sync_frequency;
        if !actions.is_noop() {
            tracing::debug!(?actions, "applying pod actions");
        }
        let grace = self.shared.grace_period(pod);
        if actions.kill_pod {
            self.kill_all(&view, grace).await?;
        }
        for k in &actions.kill {
            tracing::info!(container = %k.name, reason = %k.reason, "killing container");
            rt.stop_container(k.id.clone(), grace).await?;
        }
        for id in &actions.remove_containers {
            rt.remove_container(id.clone()).await?;
        }
        for id in &actions.remove_sandboxes {
            rt.remove_pod_sandbox(id.clone()).await?;
        }
        let mut sandbox = view.sandbox().filter(|s| s.ready).cloned();
        if let Some(attempt) = actions.create_sandbox {
            let config = self.sandbox_config(pod, attempt);
            std::fs::create_dir_all(&config.log_directory).map_err(|e| {
                kcri::Error::InvalidArgument(format!("creating log directory {}: {e}", config.log_directory))
            })?;
            tracing::info!(attempt, "creating pod sandbox");
            rt.run_pod_sandbox(config, String::new()).await?;
            view = runtime::fetch(rt.as_ref(), uid).await?;
            sandbox = view.sandbox().filter(|s| s.ready).cloned();
        }
        let mut to_start: Vec<(String, bool)> = actions.start.iter().map(|n| (n.clone(), false)).collect();
        if let Some(init) = &actions.start_init {
            to_start.insert(0, (init.clone(), true));
        }
        // configMap, secret and downward API volumes of running pods are refreshed at most
        // every `syncFrequency`, and whenever containers start.
        let refresh = self.volumes_refreshed.is_none_or(|t| t.elapsed() >= self.shared.config.sync_frequency);
        if let (Some(sandbox), true) = (&sandbox, !to_start.is_empty() || refresh) {
            let fields = RuntimeFields::new(
                sandbox.ip.iter().chain(&sandbox.additional_ips).cloned().collect(),
                Some(self.shared.host_ip.clone()),
            );
            let fields = if sandbox.host_network {
                RuntimeFields::new(vec![self.shared.host_ip.clone()], Some(self.shared.host_ip.clone()))
            } else {
                fields
            };
            let ctx = volumes::VolumeContext {
                client: &self.shared.client,
                root: &self.shared.config.root_dir,
                pod,
                fields: &fields,
                allocatable: &self.shared.allocatable,
            };
            match volumes::prepare(&ctx).await {
                Err(e) => {
                    tracing::warn!(error = %e, "volumes not ready");
                    for (n, _) in &to_start {
                        self.waiting.insert(n.clone(), Waiting::new("ContainerCreating", e.to_string()));
                    }
                    if to_start.is_empty() {
                        // A failed refresh of a running pod's volumes waits for the next resync.
                        self.volumes_refreshed = Some(tokio::time::Instant::now());
                    } else {
                        wait = wait.min(RETRY);
                    }
                }
                Ok(vols) => {
                    self.volumes_refreshed = Some(tokio::time::Instant::now());
                    let sandbox_config = self.sandbox_config(pod, sandbox.attempt);
                    for (cname, init) in &to_start {
                        let latest = view.latest(cname, *init).cloned();
                        if let Some(remaining) = self.in_backoff(uid, cname, latest.as_ref()) {
                            let message = format!(
                                "back-off {}s restarting failed container={cname} pod={name}_{ns}({uid})",
                                remaining.as_secs().max(1)
                            );
                            self.waiting.insert(cname.clone(), Waiting::new("CrashLoopBackOff", message));
                            wait = wait.min(remaining);
                            continue;
                        }
                        let start = StartContainer { pod, name: cname, init: *init, latest: latest.as_ref() };
                        if let Err(w) = self.start_container(&start, &sandbox.id, &sandbox_config, &fields, &vols).await
                        {
                            tracing::warn!(container = %cname, reason = %w.reason, message = %w.message, "container not started");
                            self.waiting.insert(cname.clone(), w);
                            wait = wait.min(RETRY);
                        }
                    }
                }
            }
        }
        if !actions.is_noop() {
            view = runtime::fetch(rt.as_ref(), uid).await?;
        }
        let host = match view.sandbox() {
            Some(s) if !s.host_network => s.ip.clone().unwrap_or_else(|| self.shared.host_ip.clone()),
            _ => self.shared.host_ip.clone(),
        };
        if actions.terminal {
            self.probes.stop_all();
        } else {
            self.probes.sync(&self.shared.runtime, spec, &view, &host, &self.kick, cancel);
        }
        self.write_status(pod, &view).await?;
        Ok(wait)
    }

    /// The remaining back-off of container `name` whose newest instance is `latest`;
    /// records the restart when none remains.
    fn in_backoff(&self, uid: &str, name: &str, latest: Option<&ContainerView>) -> Option<Duration> {
        let dead = latest.filter(|l| l.is_exited())?;
        let finished = dead.finished_at.unwrap_or(dead.created_at);
        let now = SystemTime::now();
        let key = (uid.to_owned(), name.to_owned());
        let mut backoff = self.shared.lock_backoff();
        if let Some(r) = backoff.remaining(&key, finished, now) {
            return Some(r);
        }
        let ran_for = dead.started_at.and_then(|s| finished.duration_since(s).ok()).unwrap_or_default();
        backoff.record_restart(key, now, ran_for);
        None
    }

    async fn start_container(
        &self,
        s: &StartContainer<'_>,
        sandbox_id: &str,
        sandbox_config: &PodSandboxConfig,
        fields: &RuntimeFields,
        vols: &BTreeMap<String, std::path::PathBuf>,
    ) -> Result<(), Waiting> {
        let spec = s.pod.spec.as_ref().ok_or_else(|| Waiting::new("CreateContainerConfigError", "pod has no spec"))?;
        let list = if s.init { spec.init_containers.as_deref().unwrap_or(&[]) } else { &spec.containers };
        let c = list
            .iter()
            .find(|c| c.name == s.name)
            .ok_or_else(|| Waiting::new("CreateContainerConfigError", "container not in spec"))?;
        let image = c.image.clone().unwrap_or_default();
        self.ensure_image(&image, c.image_pull_policy.as_deref(), sandbox_config).await?;
        let envs = env::container_env(&self.shared.client, s.pod, c, fields, &self.shared.allocatable)
            .await
            .map_err(|e| Waiting::new("CreateContainerConfigError", e.to_string()))?;
        let mounts = volumes::mounts(c, vols).map_err(|e| Waiting::new("CreateContainerConfigError", e.to_string()))?;
        let attempt = s.latest.map_or(0, |l| l.attempt + 1);
        let config = container_config(s.pod, c, attempt, s.init, envs, mounts);
        let rt = &self.shared.runtime;
        tracing::info!(container = %c.name, attempt, image = %image, "starting container");
        let id = rt
            .create_container(sandbox_id.to_owned(), config, sandbox_config.clone())
            .await
            .map_err(|e| Waiting::new("CreateContainerError", e.to_string()))?;
        if let Err(e) = rt.start_container(id.clone()).await {
            let _ = rt.remove_container(id).await;
            return Err(Waiting::new("RunContainerError", e.to_string()));
        }
        Ok(())
    }

    /// Pulls `image` if the pull policy asks for it.
    async fn ensure_image(&self, image: &str, policy: Option<&str>, sandbox: &PodSandboxConfig) -> Result<(), Waiting> {
        let policy = policy.unwrap_or_else(|| default_pull_policy(image));
        let images = &self.shared.images;
        let present = match policy {
            "Always" => false,
            _ => images
                .image_status(ImageSpec::new(image))
                .await
                .map_err(|e| Waiting::new("ErrImagePull", e.to_string()))?
                .is_some(),
        };
        if present {
            return Ok(());
        }
        if policy == "Never" {
            return Err(Waiting::new(
                "ErrImageNeverPull",
                format!("Container image {image:?} is not present with pull policy of Never"),
            ));
        }
        tracing::info!(%image, "pulling image");
        images
            .pull_image(ImageSpec::new(image), None, Some(sandbox.clone()))
            .await
            .map(|_| ())
            .map_err(|e| Waiting::new("ErrImagePull", e.to_string()))
    }

    /// Stops every running container (with `grace`) and every ready sandbox.
    async fn kill_all(&self, view: &PodRuntime, grace: Duration) -> Result<(), SyncError> {
        let mut stops = tokio::task::JoinSet::new();
        for c in view.containers.iter().filter(|c| !c.is_exited()) {
            let (rt, id, name) = (self.shared.runtime.clone(), c.id.clone(), c.name.clone());
            tracing::info!(container = %name, grace = ?grace, "stopping container");
            stops.spawn(async move { rt.stop_container(id, grace).await });
        }
        while let Some(r) = stops.join_next().await {
            if let Ok(r) = r {
                r?;
            }
        }
        for s in view.sandboxes.iter().filter(|s| s.ready) {
            self.shared.runtime.stop_pod_sandbox(s.id.clone()).await?;
        }
        Ok(())
    }

    /// Kills the pod's containers gracefully, removes its sandboxes and volumes, and, if
    /// `delete` (the API pod has a deletion timestamp), deletes the API object with grace 0.
    async fn terminate(&mut self, pod: &Pod, delete: bool) -> Result<(), SyncError> {
        let (name, ns, uid) = pod_identity(pod);
        if uid.is_empty() {
            return Err(SyncError::Invalid(format!("{ns}/{name}")));
        }
        self.probes.stop_all();
        let view = runtime::fetch(self.shared.runtime.as_ref(), uid).await?;
        if !view.is_empty() {
            tracing::info!("terminating pod");
            self.kill_all(&view, self.shared.grace_period(pod)).await?;
            for s in &view.sandboxes {
                self.shared.runtime.remove_pod_sandbox(s.id.clone()).await?;
            }
        }
        if let Err(e) = volumes::cleanup(&self.shared.config.root_dir, uid).await {
            tracing::warn!(error = %e, "removing pod directory failed");
        }
        {
            let mut backoff = self.shared.lock_backoff();
            for c in pod.spec.iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten())) {
                backoff.forget(&(uid.to_owned(), c.name.clone()));
            }
        }
        if is_static(pod) {
            self.delete_mirror(pod, true).await?;
        }
        if delete && !self.deleted_from_api {
            let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
            match api.delete(name, &DeleteParams::default().grace_period(0).with_uid(uid)).await {
                Ok(_) => {}
                Err(kwatch::http::ClientError::Api(s)) if s.code() == 404 || s.code() == 409 => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!("pod deleted from the API");
            self.deleted_from_api = true;
        }
        Ok(())
    }

    /// Creates the mirror pod of static pod `pod` if missing; deletes a stale or deleted one
    /// (recreated at the next sync).
    async fn ensure_mirror(&self, pod: &Pod) -> Result<(), SyncError> {
        let (name, ns, uid) = pod_identity(pod);
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        match api.get_opt(name).await? {
            Some(m) if mirror_uid(&m) == Some(uid) && m.metadata.deletion_timestamp.is_none() => Ok(()),
            Some(_) => self.delete_mirror(pod, false).await,
            None => {
                tracing::info!("creating mirror pod");
                match api.create(&mirror_of(pod), &PostParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kwatch::http::ClientError::Api(s)) if s.code() == 409 => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Deletes the pod named like `pod` with grace 0 — only if it is `pod`'s mirror when
    /// `only_ours`.
    async fn delete_mirror(&self, pod: &Pod, only_ours: bool) -> Result<(), SyncError> {
        let (name, ns, uid) = pod_identity(pod);
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        let Some(m) = api.get_opt(name).await? else { return Ok(()) };
        if (only_ours && mirror_uid(&m) != Some(uid)) || !is_mirror(&m) {
            return Ok(());
        }
        let params = DeleteParams::default().grace_period(0).with_uid(m.metadata.uid.clone().unwrap_or_default());
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kwatch::http::ClientError::Api(s)) if s.code() == 404 || s.code() == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Computes the status and writes it when it differs from the pod's and from the last
    /// one written.
    async fn write_status(&mut self, pod: &Pod, view: &PodRuntime) -> Result<(), SyncError> {
        let spec = pod.spec.clone().unwrap_or_default();
        let (probe_states, _) = self.probes.states(&spec, view);
        let mut input = StatusInput::new(pod, view, &probe_states, &self.waiting, jiff::Timestamp::now());
        input.host_ip = Some(&self.shared.host_ip);
        input.runtime_name = &self.shared.runtime_name;
        let status = pod_status(&input);
        if !status_needs_write(pod.status.as_ref(), &status, self.last_written.as_ref(), tokio::time::Instant::now()) {
            return Ok(());
        }
        let (name, ns, _) = pod_identity(pod);
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), ns);
        let body = serde_json::json!({ "status": status });
        tracing::debug!(phase = ?status.phase, "writing pod status");
        match api.patch_status(name, &Patch::Merge(body), &PatchParams::default()).await {
            Ok(_) => {}
            Err(kwatch::http::ClientError::Api(s)) if s.code() == 404 => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        self.last_written = Some((status, tokio::time::Instant::now()));
        Ok(())
    }
}

/// How long the API's copy of a status this worker wrote may still differ from it before
/// it is written again. The informer normally delivers the worker's own write well within
/// this; a difference that outlives it was written by someone else (the node lifecycle
/// controller marking the pods of an unreachable node not ready, a client) and is set
/// right, as upstream's status manager reconciles.
const STATUS_SETTLE: Duration = Duration::from_secs(10);

/// Whether `new` must be written, given the API's status and the last one written.
fn status_needs_write(
    api: Option<&PodStatus>,
    new: &PodStatus,
    last: Option<&(PodStatus, tokio::time::Instant)>,
    now: tokio::time::Instant,
) -> bool {
    if api == Some(new) {
        return false;
    }
    match last {
        Some((written, at)) if written == new => now.saturating_duration_since(*at) >= STATUS_SETTLE,
        _ => true,
    }
}

fn mirror_uid(pod: &Pod) -> Option<&str> {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_MIRROR_ANNOTATION)).map(String::as_str)
}

struct StartContainer<'a> {
    pod: &'a Pod,
    name: &'a str,
    init: bool,
    latest: Option<&'a ContainerView>,
}

/// Upstream's default pull policy: `Always` for `:latest` or untagged images, else
/// `IfNotPresent`.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_written_again_when_someone_else_changed_it() {
        let running = PodStatus { phase: Some("Running".into()), ..PodStatus::default() };
        let pending = PodStatus { phase: Some("Pending".into()), ..PodStatus::default() };
        let t0 = tokio::time::Instant::now();
        let written = (running.clone(), t0);
        // Nothing written yet, or something else written last: write.
        assert!(status_needs_write(Some(&pending), &running, None, t0));
        assert!(status_needs_write(Some(&pending), &running, Some(&(pending.clone(), t0)), t0));
        // The API has it: nothing to do.
        assert!(!status_needs_write(Some(&running), &running, Some(&written), t0));
        assert!(!status_needs_write(Some(&running), &running, None, t0));
        // The informer has not delivered the write yet: no second write...
        assert!(!status_needs_write(Some(&pending), &running, Some(&written), t0 + Duration::from_secs(1)));
        assert!(!status_needs_write(None, &running, Some(&written), t0 + Duration::from_secs(1)));
        // ...unless the API still disagrees long after: someone else wrote it.
        assert!(status_needs_write(Some(&pending), &running, Some(&written), t0 + STATUS_SETTLE));
    }

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }
}
