//! The cluster's nodes: one knode kubelet per node in this process, the first on
//! containerd when asked for (or, with `auto`, when its socket exists), the others on the
//! in-memory fake runtime (like KWOK: many nodes on one machine).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::core::v1::Node;
use knode::{Kubelet, KubeletConfig, NodeResources};
use kwatch::http::Api;
use kwatch::lister::ListParams;

use super::ClusterError;

/// containerd's default CRI socket.
pub const CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";

/// Which container runtime the first node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// containerd when its socket exists, else the fake runtime.
    #[default]
    Auto,
    /// containerd (fails when its socket is missing).
    Containerd,
    /// The in-memory fake runtime for every node.
    Fake,
}

/// The nodes to start.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    /// How many.
    pub count: usize,
    /// The first node's runtime.
    pub runtime: RuntimeChoice,
    /// containerd's socket.
    pub containerd_socket: PathBuf,
    /// Capacity of each fake node.
    pub fake_capacity: NodeResources,
    /// The containerd node's IP (`--node-ip`), where its kubelet API listens and cluster DNS
    /// is reached from pods; loopback when unset (fake nodes always use loopback).
    pub node_ip: Option<Ipv4Addr>,
    /// Name servers of ClusterFirst pods (set by the cluster when pods can reach its DNS).
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster's DNS domain.
    pub cluster_domain: String,
    /// The first node's static pod directory (`--pod-manifest-path`).
    pub static_pod_path: Option<PathBuf>,
    /// How often each kubelet renews its node Lease, its heartbeat (upstream 10 s); keep it
    /// well under the controller manager's node monitor grace period.
    pub lease_renew_interval: Duration,
}

impl Default for NodesConfig {
    fn default() -> Self {
        Self {
            count: 1,
            runtime: RuntimeChoice::Auto,
            containerd_socket: PathBuf::from(CONTAINERD_SOCKET),
            fake_capacity: NodeResources::new(8000, 32 << 30, 110),
            node_ip: None,
            cluster_dns: Vec::new(),
            cluster_domain: "cluster.local".into(),
            static_pod_path: None,
            lease_renew_interval: Duration::from_secs(10),
        }
    }
}

/// The name of node `i` (from 1).
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

/// Whether the first node runs on containerd.
pub(super) fn uses_containerd(config: &NodesConfig) -> Result<bool, ClusterError> {
    Ok(match config.runtime {
        RuntimeChoice::Fake => false,
        RuntimeChoice::Auto => config.containerd_socket.exists(),
        RuntimeChoice::Containerd => {
            if !config.containerd_socket.exists() {
                return Err(ClusterError::Component {
                    component: "kubelet",
                    reason: format!("no containerd socket at {}", config.containerd_socket.display()),
                });
            }
            true
        }
    })
}

/// Builds the kubelets; the first on containerd when chosen. Returns them with a line
/// describing each runtime.
pub(super) async fn kubelets(
    config: &NodesConfig,
    data_dir: &Path,
    source: &kwatch::source::Source,
) -> Result<Vec<(Kubelet, String)>, ClusterError> {
    let err = |reason: String| ClusterError::Component { component: "kubelet", reason };
    let use_containerd = uses_containerd(config)?;
    let mut out = Vec::with_capacity(config.count);
    for i in 1..=config.count {
        let name = node_name(i);
        let dir = data_dir.join("nodes").join(&name);
        let real = i == 1 && use_containerd;
        let capacity =
            if real { NodeResources::from_host(110).map_err(|e| err(e.to_string()))? } else { config.fake_capacity };
        let mut kc = KubeletConfig::new(name.clone(), capacity);
        kc.root_dir = dir.join("root");
        kc.pod_log_dir = dir.join("logs");
        // Every kubelet of this machine serves its API on loopback, each on a free port
        // (reported in its Node's status, where the API server finds it).
        let ip = if real { config.node_ip.unwrap_or(Ipv4Addr::LOCALHOST) } else { Ipv4Addr::LOCALHOST };
        kc.node_ip = Some(IpAddr::V4(ip));
        kc.address = IpAddr::V4(ip);
        kc.port = 0;
        kc.cluster_dns = config.cluster_dns.clone();
        kc.cluster_domain = config.cluster_domain.clone();
        kc.node_lease_renew_interval = config.lease_renew_interval;
        if i == 1 {
            kc.static_pod_path = config.static_pod_path.clone();
        }
        kc.labels.insert("kubernetes.io/hostname".into(), name.clone());
        let (runtime, images, what): (Arc<dyn kcri::RuntimeService>, Arc<dyn kcri::ImageService>, String) = if real {
            let endpoint = format!("unix://{}", config.containerd_socket.display());
            let c =
                Arc::new(kcri::Client::connect(endpoint.as_str()).await.map_err(|e| err(format!("{endpoint}: {e}")))?);
            (c.clone(), c, format!("{name} on containerd"))
        } else {
            kc.labels.insert("type".into(), "fake".into());
            let fake = kcri::fake::FakeRuntime::new();
            (Arc::new(fake.clone()), Arc::new(fake), format!("{name} on the fake runtime"))
        };
        let kubelet = Kubelet::builder(kc)
            .runtime(runtime, images)
            .client(source.client().clone())
            .pod_source(source.clone())
            .build()
            .map_err(|e| err(e.to_string()))?;
        out.push((kubelet, what));
    }
    Ok(out)
}

/// Waits until `count` nodes report Ready, calling `progress` as the number grows.
pub(super) async fn wait_ready(client: &kwatch::http::Client, count: usize, mut progress: impl FnMut(usize)) {
    let api: Api<Node> = Api::all(client.clone());
    let mut last = usize::MAX;
    loop {
        if let Ok(list) = api.list(&ListParams::default()).await {
            let ready = list.items.iter().filter(|n| is_ready(n)).count();
            if ready != last {
                progress(ready);
                last = ready;
            }
            if ready >= count {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
