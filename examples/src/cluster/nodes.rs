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
}

impl Default for NodesConfig {
    fn default() -> Self {
        Self {
            count: 1,
            runtime: RuntimeChoice::Auto,
            containerd_socket: PathBuf::from(CONTAINERD_SOCKET),
            fake_capacity: NodeResources::new(8000, 32 << 30, 110),
        }
    }
}

/// The name of node `i` (from 1).
pub fn node_name(i: usize) -> String {
    format!("node-{i}")
}

/// Builds the kubelets; the first on containerd when chosen. Returns them with a line
/// describing each runtime.
pub(super) async fn kubelets(
    config: &NodesConfig,
    data_dir: &Path,
    client: &kwatch::http::Client,
) -> Result<Vec<(Kubelet, String)>, ClusterError> {
    let err = |reason: String| ClusterError::Component { component: "kubelet", reason };
    let use_containerd = match config.runtime {
        RuntimeChoice::Fake => false,
        RuntimeChoice::Auto => config.containerd_socket.exists(),
        RuntimeChoice::Containerd => {
            if !config.containerd_socket.exists() {
                return Err(err(format!("no containerd socket at {}", config.containerd_socket.display())));
            }
            true
        }
    };
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
        kc.node_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        kc.address = IpAddr::V4(Ipv4Addr::LOCALHOST);
        kc.port = 0;
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
            .client(client.clone())
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
