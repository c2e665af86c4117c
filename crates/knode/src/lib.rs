//! `knode`: the kubelet as a library. It registers a Node, renews its Lease, runs the pods
//! bound to it through a CRI runtime (containerd, or the in-memory fake), probes them,
//! materializes their volumes, and reports their status.
//!
//! ```no_run
//! use std::sync::Arc;
//! use knode::{Kubelet, KubeletConfig, NodeResources};
//! use kcri::fake::FakeRuntime;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kube = kwatch::http::Config::from_kubeconfig("admin.conf".as_ref(), None)?;
//! let client = kwatch::http::Client::new(&kube)?;
//!
//! // A fake node: resources from flags, containers in memory.
//! let mut config = KubeletConfig::new("node-1", NodeResources::new(4000, 8 << 30, 110));
//! config.labels.insert("node-role.kubernetes.io/worker".into(), String::new());
//! config.root_dir = "/tmp/knode/root".into();
//! config.pod_log_dir = "/tmp/knode/logs".into();
//! let fake = FakeRuntime::new();
//! let kubelet = Kubelet::builder(config)
//!     .runtime(Arc::new(fake.clone()), Arc::new(fake))
//!     .client(client)
//!     .build()?;
//!
//! let cancel = CancellationToken::new();
//! kubelet.run(cancel).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What it does
//!
//! - [`node`]: registers the Node (create, or reconcile labels of an existing one) and
//!   writes its status — Ready/MemoryPressure/DiskPressure/PIDPressure, addresses,
//!   capacity, allocatable, nodeInfo, images — when it changes or every 5 minutes.
//! - [`lease`]: renews `kube-node-lease/<node>` every 10 s.
//! - [`pods`]: an informer on `spec.nodeName=<node>` feeds one worker per pod. Each sync
//!   computes [`pods::actions::compute_pod_actions`] (pure) and applies it: sandbox,
//!   init containers in order, containers with restart back-off ([`pods::backoff`]),
//!   graceful termination on deletion followed by deleting the API object with grace 0.
//!   A PLEG relist every second wakes the workers of pods whose containers changed.
//! - [`probes`]: exec, HTTP GET and TCP probes with upstream defaults.
//! - [`volumes`]: emptyDir, hostPath, configMap, secret, downwardAPI, projected and
//!   hostPath/local-backed PVCs under `<root>/pods/<uid>/volumes`.
//! - [`status`]: the pod status (phase, conditions, container statuses), pure.
//! - [`logs`]: the log layout and reading logs back.
//! - [`static_pods`]: pods from manifest files, shown in the API as mirror pods.
//! - [`server`]: the kubelet API over HTTPS (`/healthz`, `/metrics`, container logs for
//!   `kubectl logs` through the API server).
//!
//! Every loop stops when the [`CancellationToken`]
//! passed to [`Kubelet::run`] fires; containers keep running, as when a kubelet restarts.

pub mod config;
pub mod downward;
mod host;
pub mod lease;
pub mod logs;
pub mod node;
mod pleg;
pub mod pods;
pub mod probes;
pub mod server;
pub mod static_pods;
pub mod status;
pub mod volumes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kcri::types::{CgroupDriver, KUBELET_API_VERSION};
use kcri::{ImageService, RuntimeService};
use kwatch::http::Client;
use kwatch::informer::SharedInformer;
use kwatch::object::Transform;
use kwatch::reflector::ReflectorConfig;
use kwatch::source::Source;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use config::{ConfigError, KubeletConfig, NodeResources};

/// Errors of building and running a [`Kubelet`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The builder lacks a runtime or a client.
    #[error("the kubelet builder needs {0}")]
    Missing(&'static str),
    /// The runtime did not answer at start-up.
    #[error("container runtime: {0}")]
    Runtime(#[from] kcri::Error),
    /// Node registration failed.
    #[error(transparent)]
    Node(#[from] node::NodeError),
    /// The pod informer could not be built.
    #[error("pod informer: {0}")]
    Informer(#[from] kwatch::informer::InformerError),
    /// The kubelet API could not start.
    #[error(transparent)]
    Server(#[from] server::ServerError),
}

/// Builds a [`Kubelet`]; see [`Kubelet::builder`].
#[must_use]
pub struct KubeletBuilder {
    config: KubeletConfig,
    runtime: Option<(Arc<dyn RuntimeService>, Arc<dyn ImageService>)>,
    client: Option<Client>,
    pods: Option<Source>,
}

impl std::fmt::Debug for KubeletBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl KubeletBuilder {
    /// The CRI runtime: a [`kcri::Client`] for containerd, or a
    /// [`kcri::fake::FakeRuntime`] for fake nodes.
    pub fn runtime(mut self, runtime: Arc<dyn RuntimeService>, images: Arc<dyn ImageService>) -> Self {
        self.runtime = Some((runtime, images));
        self
    }

    /// The API server client.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Where the pods of this node are watched (default: the client's HTTP API). A kubelet
    /// composed into one process with its API server can read the server's watch cache.
    pub fn pod_source(mut self, source: Source) -> Self {
        self.pods = Some(source);
        self
    }

    /// Checks the configuration and makes the kubelet.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid configuration, [`Error::Missing`] without a runtime
    /// or client.
    pub fn build(self) -> Result<Kubelet, Error> {
        self.config.validate()?;
        let (runtime, images) = self.runtime.ok_or(Error::Missing("a runtime"))?;
        let client = self.client.ok_or(Error::Missing("an API client"))?;
        let pods = self.pods.unwrap_or_else(|| Source::Http(client.clone()));
        Ok(Kubelet { config: Arc::new(self.config), runtime, images, client, pods })
    }
}

/// A kubelet; [`run`](Self::run) it.
pub struct Kubelet {
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
    client: Client,
    pods: Source,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").field("node", &self.config.node_name).finish_non_exhaustive()
    }
}

impl Kubelet {
    /// A builder with `config`.
    pub fn builder(config: KubeletConfig) -> KubeletBuilder {
        KubeletBuilder { config, runtime: None, client: None, pods: None }
    }

    /// The configuration.
    pub fn config(&self) -> &KubeletConfig {
        &self.config
    }

    /// Runs until `cancel` fires: runs its pods, and registers the node, then renews its
    /// Lease and updates its status. Static pods start even while the API server does not
    /// answer yet (registration keeps retrying), so a kubelet can run the control plane it
    /// will register with. Returns once every task has stopped.
    ///
    /// # Errors
    ///
    /// The runtime does not answer `Version`, or the kubelet API cannot listen. Later
    /// failures are logged and retried.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future aborts nothing already spawned cleanly; cancel the token instead.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), Error> {
        let span = tracing::info_span!("kubelet", node = %self.config.node_name);
        self.run_inner(cancel).instrument(span).await
    }

    async fn run_inner(mut self, cancel: CancellationToken) -> Result<(), Error> {
        // The API's port is known before the Node registers, so that it reports the port
        // in use (a configured 0 picks a free one).
        let listener = server::bind(&self.config).await?;
        if let Ok(addr) = listener.local_addr() {
            Arc::make_mut(&mut self.config).port = addr.port();
        }
        let version = self.runtime.version(KUBELET_API_VERSION.into()).await?;
        tracing::info!(runtime = %version.runtime_name, version = %version.runtime_version, "connected to the runtime");
        let systemd = match self.runtime.runtime_config().await {
            Ok(c) => c.cgroup_driver == Some(CgroupDriver::Systemd),
            Err(e) => {
                tracing::info!(error = %e, "RuntimeConfig unavailable; assuming the cgroupfs driver");
                false
            }
        };
        if let Some(cidr) = &self.config.pod_cidr {
            if let Err(e) = self.runtime.update_runtime_config(cidr.clone()).await {
                tracing::warn!(error = %e, "UpdateRuntimeConfig failed");
            }
        }
        let host_ip = self.config.node_ip.unwrap_or_else(host::default_ip).to_string();

        let allocatable: BTreeMap<_, _> = node::resource_list(&self.config.allocatable())
            .into_iter()
            .filter_map(|(k, v)| v.0.parse().ok().map(|q| (k, q)))
            .collect();
        let shared = Arc::new(pods::Shared {
            config: self.config.clone(),
            runtime: self.runtime.clone(),
            images: self.images.clone(),
            client: self.client.clone(),
            runtime_name: version.runtime_name.clone(),
            host_ip: host_ip.clone(),
            systemd_cgroups: systemd,
            allocatable,
            backoff: Mutex::new(pods::backoff::Backoff::new(self.config.restart_backoff)),
            dns: pods::dns_settings(&self.config),
        });

        let source = self.pods.lister_watcher::<kapi::k8s::api::core::v1::Pod>(
            &kapi::ApiResource::of::<kapi::k8s::api::core::v1::Pod>(),
            None,
        );
        let informer = SharedInformer::builder(source)
            .config(ReflectorConfig::new("pods").fields(format!("spec.nodeName={}", self.config.node_name)))
            .transform(Transform::strip_managed_fields())
            .build()?;

        let tls = server::tls_config(&self.config, &host_ip)?;
        let api = server::ApiState {
            pods: informer.store(),
            runtime: self.runtime.clone(),
            pod_log_dir: self.config.pod_log_dir.clone(),
        };
        tracing::info!(address = %self.config.address, port = self.config.port, "serving the kubelet API");
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(server::serve(listener, tls, api, cancel.clone()).instrument(tracing::info_span!("kubelet-api")));
        if self.config.register_node {
            // Registration retries in the background: static pods (a self-hosted control
            // plane among them) start before the API server answers. Heartbeats follow it.
            let (client, config, runtime, images) =
                (self.client.clone(), self.config.clone(), self.runtime.clone(), self.images.clone());
            let cancel = cancel.clone();
            tasks.spawn(
                async move {
                    let Ok(node_uid) = node::register(&client, &config, &cancel).await else { return };
                    let lease = lease::run(client.clone(), config.clone(), node_uid, cancel.clone())
                        .instrument(tracing::info_span!("lease"));
                    let status = node::status_loop(client, config, runtime, images, host_ip, cancel)
                        .instrument(tracing::info_span!("node-status"));
                    tokio::join!(lease, status);
                }
                .instrument(tracing::info_span!("node")),
            );
        }
        let (relist_tx, relist_rx) = tokio::sync::mpsc::channel(16);
        tasks.spawn(
            pleg::run(self.runtime.clone(), self.config.pleg_relist_period, relist_tx, cancel.clone())
                .instrument(tracing::info_span!("pleg")),
        );
        {
            let informer = informer.clone();
            let cancel = cancel.clone();
            tasks.spawn(
                async move {
                    if let Err(e) = informer.run(cancel).await {
                        tracing::error!(error = %e, "pod informer stopped");
                    }
                }
                .instrument(tracing::info_span!("pod-informer")),
            );
        }
        let (static_tx, static_rx) = tokio::sync::mpsc::channel(4);
        if let Some(dir) = self.config.static_pod_path.clone() {
            let (node, period) = (self.config.node_name.clone(), self.config.file_check_frequency);
            tasks.spawn(
                static_pods::run(dir, node, period, static_tx, cancel.clone())
                    .instrument(tracing::info_span!("static-pods")),
            );
        } else {
            drop(static_tx);
        }
        tasks.spawn(
            pods::PodManager::new(shared)
                .run(informer, relist_rx, static_rx, cancel.clone())
                .instrument(tracing::info_span!("pods")),
        );
        cancel.cancelled().await;
        while tasks.join_next().await.is_some() {}
        tracing::info!("kubelet stopped");
        Ok(())
    }
}
