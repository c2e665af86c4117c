//! The all-in-one cluster behind `kcluster up`: the store, the API server, the controller
//! manager and the scheduler in one process, each the same library the component binaries
//! run, sharing one cancellation token.
//!
//! The control plane starts in dependency order (store → API server → controllers and
//! scheduler); [`Cluster::wait`] returns after Ctrl-C/SIGTERM has stopped every part.

mod guard;
pub mod network;
pub mod nodes;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kapiserver::{ApiServer, Config as ApiConfig};
use kcontroller::informers::Informers;
use kcontroller::manager::{Manager, ManagerConfig};
use kproxy::agent::ProxyMode;
use ksched::framework::SchedulerConfig;
use kstore::backend::{DynBackend, EmbeddedBackend, RemoteBackend};
use kstore::{Store, StoreConfig};
use kwatch::source::Source;
use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use guard::DataDirGuard;
pub use nodes::{NodesConfig, RuntimeChoice};

/// What `kcluster up` starts.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Where the store, certificates and kubeconfig live; kept across restarts.
    pub data_dir: PathBuf,
    /// The API server's HTTPS port.
    pub port: u16,
    /// The API server's address.
    pub bind_address: IpAddr,
    /// External etcd or kstore-server client URLs; empty: the embedded store.
    pub store_endpoints: Vec<String>,
    /// Where the control plane's metrics and `/healthz` are served (plain HTTP).
    pub metrics_address: SocketAddr,
    /// Where cluster DNS answers (UDP and TCP); `None`: no DNS.
    pub dns_address: Option<SocketAddr>,
    /// The nodes (kubelets) run in this process.
    pub nodes: NodesConfig,
    /// kube-proxy's mode for the containerd node (`None`: no kube-proxy). Fake nodes have no
    /// network to program, so they get none.
    pub proxy_mode: Option<ProxyMode>,
    /// The pod network (kube-proxy's `--cluster-cidr`).
    pub cluster_cidr: String,
    /// How long a node may miss heartbeats before it is unreachable and its pods are
    /// evicted (kube-controller-manager `--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked (`--node-monitor-period`, 5 s).
    pub node_monitor_period: Duration,
    /// The in-process components (controllers, scheduler, DNS, kubelets) watch the API
    /// server's watch cache directly instead of over HTTP (default). Their writes go over
    /// HTTP either way, as do kube-proxy's watches.
    pub in_process_watches: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./kcluster-data"),
            port: 6443,
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            store_endpoints: Vec::new(),
            metrics_address: SocketAddr::from(([127, 0, 0, 1], 10249)),
            dns_address: Some(SocketAddr::from(([127, 0, 0, 1], 10053))),
            nodes: NodesConfig::default(),
            proxy_mode: Some(ProxyMode::Nftables),
            cluster_cidr: "10.244.0.0/16".into(),
            node_monitor_grace_period: Duration::from_secs(40),
            node_monitor_period: Duration::from_secs(5),
            in_process_watches: true,
        }
    }
}

/// Why the cluster did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Another cluster runs on this data directory.
    #[error("the data directory {dir} belongs to a running cluster (pid {pid}); stop it or use another --data-dir")]
    DataDirInUse {
        /// The directory.
        dir: PathBuf,
        /// The process holding it.
        pid: u32,
    },
    /// The API server's port is taken.
    #[error("port {port} on {address} is taken (another API server?): {source}")]
    PortTaken {
        /// The address.
        address: IpAddr,
        /// The port.
        port: u16,
        /// The bind error.
        source: std::io::Error,
    },
    /// No configured store endpoint answered.
    #[error("no store reachable at {endpoints}: {reason}")]
    Store {
        /// The endpoints tried.
        endpoints: String,
        /// What failed.
        reason: String,
    },
    /// A component failed to start.
    #[error("{component}: {reason}")]
    Component {
        /// Which one.
        component: &'static str,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn component(component: &'static str) -> impl FnOnce(String) -> ClusterError {
    move |reason| ClusterError::Component { component, reason }
}

/// A running control plane.
pub struct Cluster {
    server: ApiServer,
    kubeconfig: PathBuf,
    client: kwatch::http::Client,
    tasks: JoinSet<()>,
    cancel: CancellationToken,
    metrics_address: SocketAddr,
    dns_address: Option<SocketAddr>,
    node_tokens: HashMap<String, CancellationToken>,
    _guard: DataDirGuard,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("url", &self.server.url()).field("kubeconfig", &self.kubeconfig).finish()
    }
}

async fn backend(config: &ClusterConfig) -> Result<DynBackend, ClusterError> {
    if config.store_endpoints.is_empty() {
        let dir = config.data_dir.join("store");
        let store = Store::open(StoreConfig::single(1, Some(dir)))
            .await
            .map_err(|e| ClusterError::Store { endpoints: "embedded".into(), reason: e.to_string() })?;
        return Ok(Arc::new(EmbeddedBackend::new(Arc::new(store))));
    }
    match RemoteBackend::connect_cluster(&config.store_endpoints).await {
        Ok(b) => Ok(Arc::new(b)),
        Err(e) => Err(ClusterError::Store { endpoints: config.store_endpoints.join(","), reason: e.to_string() }),
    }
}

impl Cluster {
    /// Starts the control plane; `progress` is told about each step as it completes.
    ///
    /// # Errors
    /// A data directory in use, a taken port, an unreachable store, or a component that
    /// failed to start (everything started so far is stopped).
    pub async fn start(
        config: &ClusterConfig,
        cancel: CancellationToken,
        mut progress: impl FnMut(&str),
    ) -> Result<Self, ClusterError> {
        let guard = DataDirGuard::acquire(&config.data_dir)?;
        // A clear message rather than a bind error from deep inside the server.
        std::net::TcpListener::bind((config.bind_address, config.port)).map_err(|source| ClusterError::PortTaken {
            address: config.bind_address,
            port: config.port,
            source,
        })?;
        let backend = backend(config).await?;
        progress(if config.store_endpoints.is_empty() { "store (embedded)" } else { "store (external)" });

        let api_config = ApiConfig {
            bind_address: config.bind_address,
            secure_port: config.port,
            data_dir: config.data_dir.join("apiserver"),
            ..ApiConfig::default()
        };
        let server = ApiServer::start(api_config, backend, cancel.clone())
            .await
            .map_err(|e| component("apiserver")(e.to_string()))?;
        let kubeconfig = config.data_dir.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).map_err(|e| component("kubeconfig")(e.to_string()))?;
        progress(&format!("apiserver on {}", server.url()));

        let kube = kwatch::http::Config::from_kubeconfig(&kubeconfig, None)
            .map_err(|e| component("kubeconfig")(e.to_string()))?;
        let client = kwatch::http::Client::new(&kube).map_err(|e| component("client")(e.to_string()))?;
        let mut registry = Registry::default();
        let mut tasks = JoinSet::new();

        let mut manager_config = ManagerConfig::new("kcluster");
        manager_config.node_monitor_grace_period = config.node_monitor_grace_period;
        manager_config.node_monitor_period = config.node_monitor_period;
        // One informer factory for the controllers, the scheduler and DNS: each resource is
        // watched and decoded once for all of them.
        let source = if config.in_process_watches {
            Source::InProcess { api: server.api().clone(), client: client.clone() }
        } else {
            Source::Http(client.clone())
        };
        let informers = Informers::with_source(source.clone(), kwatch::metrics::Metrics::register(&mut registry));
        let manager = Manager::with_informers(client.clone(), manager_config, informers.clone(), &mut registry)
            .map_err(|e| component("controller-manager")(e.to_string()))?;
        let c = cancel.clone();
        tasks.spawn(async move {
            if let Err(e) = manager.run(c).await {
                tracing::error!(error = %e, "controller manager stopped");
            }
        });
        progress("controller-manager");

        let sched_config = SchedulerConfig::default();
        let sched_registry = ksched::kube::registry(&client);
        sched_config.build_profiles(&sched_registry).map_err(|e| component("scheduler")(e.to_string()))?;
        let sched_metrics = ksched::scheduler::SchedulerMetrics::register(&mut registry);
        let (c, sc, si) = (cancel.clone(), client.clone(), informers.clone());
        tasks.spawn(async move {
            let run = ksched::kube::run(sc, &sched_config, &sched_registry, &si, Some(sched_metrics), c);
            if let Err(e) = run.await {
                tracing::error!(error = %e, "scheduler stopped");
            }
        });
        progress("scheduler");

        // With kube-proxy on a containerd node, pods reach cluster DNS through the kube-dns
        // Service, forwarded to the node's IP: DNS must listen there too.
        let containerd = nodes::uses_containerd(&config.nodes)?;
        let proxy_mode = config.proxy_mode.filter(|_| containerd);
        let node_ip = config.nodes.node_ip.unwrap_or(Ipv4Addr::LOCALHOST);
        let pod_dns = proxy_mode.is_some() && config.dns_address.is_some();
        if proxy_mode == Some(ProxyMode::Ipvs) {
            kproxy::agent::ipvs::check_ipvs(&kproxy::agent::SystemRunner::new())
                .map_err(|e| component("kube-proxy")(e.to_string()))?;
        }
        let mut dns_address = None;
        if let Some(mut addr) = config.dns_address {
            // Not the wildcard address: UDP answers must leave from the address kube-proxy
            // forwarded to, or conntrack cannot map them back to the Service.
            if pod_dns && addr.ip().is_loopback() && !node_ip.is_loopback() {
                addr.set_ip(IpAddr::V4(node_ip));
            }
            // The shared informer factory (one set of kwatch metrics per registry); it starts
            // informers made after its start too.
            let dns = crate::dns::DnsServer::start(addr, "cluster.local", &informers, cancel.clone())
                .await
                .map_err(|e| component("dns")(e.to_string()))?;
            informers.start(cancel.clone());
            dns_address = Some(dns.local_addr());
            progress(&format!("cluster-dns on {}", dns.local_addr()));
            if pod_dns {
                let target = SocketAddr::new(IpAddr::V4(node_ip), dns.local_addr().port());
                network::ensure_dns_service(&client, target).await?;
                progress(&format!("kube-dns service {}:53 -> {target}", network::CLUSTER_DNS_IP));
            }
        }

        let mut nodes_config = config.nodes.clone();
        if pod_dns {
            nodes_config.cluster_dns = vec![IpAddr::V4(network::CLUSTER_DNS_IP)];
        }
        let mut node_tokens = HashMap::new();
        for (kubelet, what) in nodes::kubelets(&nodes_config, &config.data_dir, &source).await? {
            let c = cancel.child_token();
            node_tokens.insert(kubelet.config().node_name.clone(), c.clone());
            tasks.spawn(async move {
                if let Err(e) = kubelet.run(c).await {
                    tracing::error!(error = %e, "kubelet stopped");
                }
            });
            progress(&format!("kubelet {what}"));
        }

        if let Some(mode) = proxy_mode {
            let agent = network::proxy(&nodes::node_name(1), node_ip, &config.cluster_cidr, mode, &mut registry)?;
            tasks.spawn(network::run_proxy(agent, client.clone(), cancel.clone()));
            progress(&format!("kube-proxy ({mode}) for {}", nodes::node_name(1)));
        }

        let metrics_address = crate::serve::serve_metrics(config.metrics_address, Arc::new(registry), cancel.clone())
            .await
            .map_err(|e| component("metrics")(e.to_string()))?;
        Ok(Self { server, kubeconfig, client, tasks, cancel, metrics_address, dns_address, node_tokens, _guard: guard })
    }

    /// The admin kubeconfig (`<data-dir>/kubeconfig`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server's URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A client of the API server with admin rights.
    pub fn client(&self) -> &kwatch::http::Client {
        &self.client
    }

    /// Where metrics and `/healthz` are served.
    pub fn metrics_address(&self) -> SocketAddr {
        self.metrics_address
    }

    /// Where cluster DNS answers, if it runs.
    pub fn dns_address(&self) -> Option<SocketAddr> {
        self.dns_address
    }

    /// Runs `task` until the cluster stops (node agents, proxies …).
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Stops one node's kubelet, as if the machine died: its heartbeats stop and, after the
    /// grace period, the node-lifecycle controller marks it unreachable and evicts its pods.
    /// Returns false for an unknown node.
    pub fn stop_node(&self, name: &str) -> bool {
        self.node_tokens.get(name).inspect(|t| t.cancel()).is_some()
    }

    /// The cancellation token every part stops on.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits until `count` nodes are Ready, calling `progress` with the number ready as it
    /// changes; returns early when the cluster stops.
    pub async fn wait_nodes_ready(&self, count: usize, progress: impl FnMut(usize)) {
        tokio::select! {
            _ = nodes::wait_ready(&self.client, count, progress) => {}
            _ = self.cancel.cancelled() => {}
        }
    }

    /// Waits until the cancellation token fires and every part has stopped.
    pub async fn wait(mut self) {
        self.cancel.cancelled().await;
        while self.tasks.join_next().await.is_some() {}
        self.server.wait().await;
    }
}
