//! The data-plane networking of `kcluster up` on a containerd node: kube-proxy for that node,
//! and the `kube-system/kube-dns` Service that lets its pods reach cluster DNS.
//!
//! Cluster DNS runs in this process, not in a pod, so `kube-dns` has no selector: its one
//! EndpointSlice (managed by `kcluster`) points at the node's IP and the DNS port, and
//! kube-proxy forwards `10.96.0.10:53` there, as it would to CoreDNS pods.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kproxy::agent::{Agent, AgentConfig, ProxyMetrics, ProxyMode, SystemRunner};
use kproxy::model::{Cidr, ProxyConfig};
use kwatch::http::{Api, Client, Patch, PatchParams};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::ClusterError;

/// The cluster DNS Service's address (kubeadm's default in 10.96.0.0/12).
pub const CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

const MANAGER: &str = "kcluster";

fn err(component: &'static str) -> impl Fn(String) -> ClusterError {
    move |reason| ClusterError::Component { component, reason }
}

/// Creates or updates `kube-system/kube-dns` (ClusterIP [`CLUSTER_DNS_IP`], port 53 UDP and
/// TCP) and its EndpointSlice pointing at `dns` (server-side apply, so restarts converge).
pub async fn ensure_dns_service(client: &Client, dns: SocketAddr) -> Result<(), ClusterError> {
    let port = dns.port();
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": CLUSTER_DNS_IP.to_string(), "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": port},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": port}]}
    }))
    .map_err(|e| err("kube-dns")(e.to_string()))?;
    let slice: EndpointSlice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kube-dns-kcluster", "namespace": "kube-system",
            "labels": {"kubernetes.io/service-name": "kube-dns",
                "endpointslice.kubernetes.io/managed-by": MANAGER}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [dns.ip().to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "dns", "port": port, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": port, "protocol": "TCP"}]
    }))
    .map_err(|e| err("kube-dns")(e.to_string()))?;
    let params = PatchParams::apply_force(MANAGER);
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let value = serde_json::to_value(&service).map_err(|e| err("kube-dns")(e.to_string()))?;
    services.patch("kube-dns", &Patch::Apply(value), &params).await.map_err(|e| err("kube-dns")(e.to_string()))?;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "kube-system");
    let value = serde_json::to_value(&slice).map_err(|e| err("kube-dns")(e.to_string()))?;
    slices
        .patch("kube-dns-kcluster", &Patch::Apply(value), &params)
        .await
        .map_err(|e| err("kube-dns")(e.to_string()))?;
    Ok(())
}

/// Builds kube-proxy for `node` (rules applied in this process's network namespace).
pub fn proxy(
    node: &str,
    node_ip: Ipv4Addr,
    cluster_cidr: &str,
    mode: ProxyMode,
    registry: &mut Registry,
) -> Result<Agent, ClusterError> {
    let mut proxy = ProxyConfig::new(node);
    proxy.node_ips = vec![node_ip];
    proxy.cluster_cidr = Some(Cidr::parse(cluster_cidr).map_err(|e| err("kube-proxy")(e.to_string()))?);
    let config = AgentConfig::new(proxy, mode);
    Agent::new(config, Arc::new(SystemRunner::new()), ProxyMetrics::register(registry))
        .map_err(|e| err("kube-proxy")(e.to_string()))
}

/// Runs `agent` until `cancel` fires.
pub async fn run_proxy(agent: Agent, client: Client, cancel: CancellationToken) {
    if let Err(e) = agent.run(client, None, cancel).await {
        tracing::error!(error = %e, "kube-proxy stopped");
    }
}
