//! The Node object: registration (create, or reconcile labels of an existing one) and the
//! status loop — conditions with heartbeats, addresses, capacity, allocatable, nodeInfo
//! and images — written when it changed, or every `nodeStatusReportFrequency` (5 min)
//! regardless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo,
};
use kapi::k8s::apimachinery::pkg::api::resource::Quantity;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;
use kcri::types::{ImageFilter, KUBELET_API_VERSION, NETWORK_READY, RUNTIME_READY};
use kcri::{ImageService, RuntimeService};
use kwatch::http::{Api, Client, ClientError, Patch, PatchParams, PostParams};
use tokio_util::sync::CancellationToken;

use crate::config::{KubeletConfig, NodeResources};
use crate::host::{self, SystemInfo};

/// Errors of node registration and status updates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// An API call failed.
    #[error("node API call: {0}")]
    Api(#[from] ClientError),
    /// A CRI call failed.
    #[error("runtime: {0}")]
    Runtime(#[from] kcri::Error),
    /// Cancelled before registering.
    #[error("cancelled")]
    Cancelled,
}

/// At most this many images are reported (upstream `nodeStatusMaxImages`).
pub const MAX_IMAGES: usize = 50;

/// Quantities of `r` in the API's form.
pub fn resource_list(r: &NodeResources) -> BTreeMap<String, Quantity> {
    let mut m = BTreeMap::new();
    m.insert(
        "cpu".to_owned(),
        Quantity(if r.cpu_millis % 1000 == 0 {
            (r.cpu_millis / 1000).to_string()
        } else {
            format!("{}m", r.cpu_millis)
        }),
    );
    m.insert(
        "memory".to_owned(),
        Quantity(if r.memory_bytes % 1024 == 0 {
            format!("{}Ki", r.memory_bytes / 1024)
        } else {
            r.memory_bytes.to_string()
        }),
    );
    m.insert("pods".to_owned(), Quantity(r.pods.to_string()));
    if let Some(s) = r.ephemeral_storage_bytes {
        m.insert("ephemeral-storage".to_owned(), Quantity(s.to_string()));
    }
    m
}

/// The Node to register: name, labels, taints, pod CIDR.
pub fn node_object(config: &KubeletConfig) -> Node {
    let mut node = Node::default();
    node.metadata.name = Some(config.node_name.clone());
    node.metadata.labels = Some(config.node_labels());
    node.metadata.annotations =
        Some([("volumes.kubernetes.io/controller-managed-attach-detach".to_owned(), "true".to_owned())].into());
    node.spec = Some(NodeSpec {
        pod_cidr: config.pod_cidr.clone(),
        pod_cidrs: config.pod_cidr.clone().map(|c| vec![c]),
        taints: (!config.taints.is_empty()).then(|| config.taints.clone()),
        ..Default::default()
    });
    node
}

/// What the status is computed from, besides the configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeFacts {
    pub(crate) runtime_ready: bool,
    pub(crate) network_ready: bool,
    pub(crate) runtime_message: String,
    pub(crate) runtime_version: String,
    pub(crate) images: Vec<ContainerImage>,
    pub(crate) system: SystemInfo,
    pub(crate) host_ip: String,
    pub(crate) hostname: String,
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str, now: &Time) -> NodeCondition {
    NodeCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// The node status at `now`; transition times are kept from `previous` when a condition's
/// status did not change.
pub(crate) fn node_status(
    config: &KubeletConfig,
    facts: &NodeFacts,
    previous: Option<&NodeStatus>,
    now: jiff::Timestamp,
) -> NodeStatus {
    let now = Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now));
    let ready = facts.runtime_ready && facts.network_ready;
    let ready_message = if ready {
        "kubelet is posting ready status".to_owned()
    } else {
        format!("container runtime not ready: {}", facts.runtime_message)
    };
    let mut conditions = vec![
        condition(
            "MemoryPressure",
            false,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            &now,
        ),
        condition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now),
        condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now),
        condition("Ready", ready, if ready { "KubeletReady" } else { "KubeletNotReady" }, &ready_message, &now),
    ];
    for c in &mut conditions {
        if let Some(old) = previous.and_then(|p| p.conditions.iter().flatten().find(|o| o.type_ == c.type_)) {
            if old.status == c.status {
                c.last_transition_time = old.last_transition_time.clone();
            }
        }
    }
    let mut addresses = vec![NodeAddress { type_: "InternalIP".into(), address: facts.host_ip.clone() }];
    if !facts.hostname.is_empty() {
        addresses.push(NodeAddress { type_: "Hostname".into(), address: facts.hostname.clone() });
    }
    NodeStatus {
        conditions: Some(conditions),
        addresses: Some(addresses),
        capacity: Some(resource_list(&config.capacity)),
        allocatable: Some(resource_list(&config.allocatable())),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(config.port) }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: host::go_arch().into(),
            operating_system: "linux".into(),
            boot_id: facts.system.boot_id.clone(),
            machine_id: facts.system.machine_id.clone(),
            system_uuid: facts.system.system_uuid.clone(),
            kernel_version: facts.system.kernel_version.clone(),
            os_image: facts.system.os_image.clone(),
            container_runtime_version: facts.runtime_version.clone(),
            kubelet_version: config.kubelet_version.clone(),
            kube_proxy_version: String::new(),
            ..Default::default()
        }),
        images: Some(facts.images.clone()),
        ..Default::default()
    }
}

/// Whether two statuses differ other than in heartbeat times.
pub(crate) fn status_changed(old: &NodeStatus, new: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(old) != strip(new)
}

/// Reads the runtime's state for the status.
pub(crate) async fn facts(
    runtime: &dyn RuntimeService,
    images: &dyn ImageService,
    host_ip: &str,
) -> Result<NodeFacts, NodeError> {
    let version = runtime.version(KUBELET_API_VERSION.into()).await?;
    let status = runtime.status(false).await?;
    let cond = |t: &str| status.condition(t).map(|c| (c.status, c.message.clone()));
    let (runtime_ready, rm) = cond(RUNTIME_READY).unwrap_or((false, "runtime status unknown".into()));
    let (network_ready, nm) = cond(NETWORK_READY).unwrap_or((false, "network status unknown".into()));
    let mut list: Vec<ContainerImage> = images
        .list_images(ImageFilter::default())
        .await?
        .into_iter()
        .map(|i| ContainerImage {
            names: Some(i.repo_digests.into_iter().chain(i.repo_tags).collect()),
            size_bytes: i64::try_from(i.size).ok(),
        })
        .collect();
    list.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    list.truncate(MAX_IMAGES);
    let runtime_message = [(!runtime_ready).then_some(rm), (!network_ready).then_some(nm)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    Ok(NodeFacts {
        runtime_ready,
        network_ready,
        runtime_message,
        runtime_version: format!("{}://{}", version.runtime_name, version.runtime_version),
        images: list,
        system: host::system_info(),
        host_ip: host_ip.to_owned(),
        hostname: host::hostname(),
    })
}

/// Creates the Node, or reconciles the labels of an existing one; retries until it
/// succeeds or `cancel` fires. Returns the Node's UID.
pub(crate) async fn register(
    client: &Client,
    config: &KubeletConfig,
    cancel: &CancellationToken,
) -> Result<String, NodeError> {
    let api: Api<Node> = Api::all(client.clone());
    let node = node_object(config);
    let mut delay = Duration::from_millis(100);
    loop {
        let result = match api.create(&node, &PostParams::default()).await {
            Ok(created) => {
                tracing::info!(node = %config.node_name, "registered node");
                Ok(created)
            }
            Err(ClientError::Api(s)) if s.code() == 409 => {
                let patch = serde_json::json!({ "metadata": { "labels": config.node_labels() } });
                api.patch(&config.node_name, &Patch::Merge(patch), &PatchParams::default()).await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(n) => return Ok(n.metadata.uid.unwrap_or_default()),
            Err(e) => tracing::warn!(error = %e, "registering the node failed; retrying"),
        }
        tokio::select! {
            () = cancel.cancelled() => return Err(NodeError::Cancelled),
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(7));
    }
}

/// Computes the status every `nodeStatusUpdateFrequency`; writes it when it changed or
/// when the last write is older than `nodeStatusReportFrequency`.
pub(crate) async fn status_loop(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
    host_ip: String,
    cancel: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut last: Option<(NodeStatus, tokio::time::Instant)> = None;
    let mut ticker = tokio::time::interval(config.node_status_update_frequency);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let facts = match facts(runtime.as_ref(), images.as_ref(), &host_ip).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "reading runtime state for node status failed");
                NodeFacts { runtime_message: e.to_string(), host_ip: host_ip.clone(), ..Default::default() }
            }
        };
        let previous = last.as_ref().map(|(s, _)| s);
        let status = node_status(&config, &facts, previous, jiff::Timestamp::now());
        let due = match &last {
            None => true,
            Some((old, at)) => status_changed(old, &status) || at.elapsed() >= config.node_status_report_frequency,
        };
        if !due {
            continue;
        }
        let patch = serde_json::json!({ "status": status });
        match api.patch_status(&config.node_name, &Patch::Strategic(patch), &PatchParams::default()).await {
            Ok(_) => last = Some((status, tokio::time::Instant::now())),
            Err(e) => tracing::warn!(error = %e, "updating node status failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KubeletConfig {
        let mut c = KubeletConfig::new("n1", NodeResources::new(2500, 8 << 30, 110));
        c.pod_cidr = Some("10.244.1.0/24".into());
        c
    }

    #[test]
    fn object_and_resources() {
        let n = node_object(&config());
        assert_eq!(n.metadata.labels.as_ref().map(|l| l["kubernetes.io/hostname"].as_str()), Some("n1"));
        assert_eq!(n.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()), Some("10.244.1.0/24"));
        let r = resource_list(&config().capacity);
        assert_eq!((r["cpu"].0.as_str(), r["memory"].0.as_str(), r["pods"].0.as_str()), ("2500m", "8388608Ki", "110"));
    }

    #[test]
    fn status_conditions_and_change_detection() {
        let facts =
            NodeFacts { runtime_ready: true, network_ready: true, host_ip: "10.0.0.1".into(), ..Default::default() };
        let t0 = jiff::Timestamp::from_second(1_700_000_000).expect("ts");
        let s0 = node_status(&config(), &facts, None, t0);
        let ready = s0.conditions.iter().flatten().find(|c| c.type_ == "Ready").expect("ready");
        assert_eq!(ready.status, "True");
        let t1 = jiff::Timestamp::from_second(1_700_000_010).expect("ts");
        let s1 = node_status(&config(), &facts, Some(&s0), t1);
        assert!(!status_changed(&s0, &s1), "only heartbeats moved");
        let r1 = s1.conditions.iter().flatten().find(|c| c.type_ == "Ready").expect("ready");
        assert_eq!(r1.last_transition_time, ready.last_transition_time);
        assert_ne!(r1.last_heartbeat_time, ready.last_heartbeat_time);
        let down = NodeFacts { network_ready: false, ..facts };
        let s2 = node_status(&config(), &down, Some(&s1), t1);
        assert!(status_changed(&s1, &s2));
    }
}
