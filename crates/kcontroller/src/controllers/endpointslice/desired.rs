//! The pure part of the EndpointSlice controller: from a Service, its pods and their nodes'
//! zones, the slices that should exist; and how to get there from the slices that do.

use std::collections::{BTreeMap, HashMap};

use kapi::k8s::api::core::v1::{Pod, Service, ServicePort};
use kapi::k8s::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;

/// Endpoints per slice (upstream's `--max-endpoints-per-slice` default).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// Label naming the Service of a slice.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the slice's manager.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The node label carrying the zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// A pod's resolved ports: (name, port, protocol) per Service port it exposes.
type PortKey = Vec<(Option<String>, i32, String)>;

/// One slice's content: its address type, ports and endpoints (sorted).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceContent {
    /// `IPv4` or `IPv6`.
    pub address_type: String,
    /// The ports, in the Service's order.
    pub ports: Vec<EndpointPort>,
    /// The endpoints, sorted by address.
    pub endpoints: Vec<Endpoint>,
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// The container port a Service port targets on `pod` (`targetPort` by number or by name;
/// unset means the Service port).
fn resolve_port(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(p)) => Some(*p),
        Some(IntOrString::String(name)) => {
            let protocol = sp.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().flat_map(|c| c.ports.iter().flatten()).find_map(|cp| {
                (cp.name.as_deref() == Some(name) && cp.protocol.as_deref().unwrap_or("TCP") == protocol)
                    .then_some(cp.container_port)
            })
        }
    }
}

/// The endpoint of one pod, or `None` when it has no address yet or is finished.
fn endpoint(pod: &Pod, svc: &Service, zones: &HashMap<String, String>, publish_not_ready: bool) -> Option<Endpoint> {
    if terminal(pod) {
        return None;
    }
    let ip = pod.status.as_ref()?.pod_ip.clone().filter(|ip| !ip.is_empty())?;
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = pod_ready(pod);
    let spec = pod.spec.as_ref();
    let node = spec.and_then(|s| s.node_name.clone());
    // A pod is addressable by hostname when its subdomain is the Service's name.
    let hostname = spec.and_then(|s| match (&s.hostname, &s.subdomain) {
        (Some(h), Some(sub)) if Some(sub) == svc.metadata.name.as_ref() => Some(h.clone()),
        _ => None,
    });
    Some(Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(publish_not_ready || (ready && !terminating)),
            serving: Some(ready),
            terminating: Some(terminating),
        }),
        hostname,
        zone: node.as_ref().and_then(|n| zones.get(n)).cloned(),
        node_name: node,
        target_ref: Some(kapi::k8s::api::core::v1::ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.metadata.namespace.clone(),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn address_type(ip: &str) -> &'static str {
    if ip.contains(':') { "IPv6" } else { "IPv4" }
}

/// The slices the Service should have: endpoints grouped by their resolved port set and
/// address type, in chunks of at most `max` endpoints.
pub fn desired(svc: &Service, pods: &[&Pod], zones: &HashMap<String, String>, max: usize) -> Vec<SliceContent> {
    let spec = svc.spec.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let service_ports = spec.ports.unwrap_or_default();
    // (address type, resolved ports) → endpoints
    let mut groups: BTreeMap<(String, PortKey), Vec<Endpoint>> = BTreeMap::new();
    let mut port_specs: HashMap<PortKey, Vec<EndpointPort>> = HashMap::new();
    for pod in pods {
        let Some(ep) = endpoint(pod, svc, zones, publish_not_ready) else { continue };
        let mut key = Vec::new();
        let mut ports = Vec::new();
        for sp in &service_ports {
            // A pod that does not expose a named port gets no entry for it (upstream).
            let Some(port) = resolve_port(sp, pod) else { continue };
            let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
            key.push((sp.name.clone(), port, protocol.clone()));
            ports.push(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol),
                app_protocol: sp.app_protocol.clone(),
            });
        }
        port_specs.entry(key.clone()).or_insert(ports);
        let family = address_type(&ep.addresses[0]).to_owned();
        groups.entry((family, key)).or_default().push(ep);
    }
    let mut out = Vec::new();
    if groups.is_empty() {
        // A placeholder: consumers can tell "no endpoints" from "not yet processed".
        let family = spec.ip_families.as_ref().and_then(|f| f.first()).cloned().unwrap_or_else(|| "IPv4".into());
        out.push(SliceContent { address_type: family, ports: Vec::new(), endpoints: Vec::new() });
        return out;
    }
    for ((family, key), mut endpoints) in groups {
        endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        let ports = port_specs.get(&key).cloned().unwrap_or_default();
        for chunk in endpoints.chunks(max.max(1)) {
            out.push(SliceContent { address_type: family.clone(), ports: ports.clone(), endpoints: chunk.to_vec() });
        }
    }
    out
}

/// The writes that turn `existing` slices into `desired` ones.
#[derive(Debug, Default, PartialEq)]
pub struct SlicePlan {
    /// New slices to create.
    pub create: Vec<SliceContent>,
    /// Existing slices (by name) to rewrite with new content.
    pub update: Vec<(String, SliceContent)>,
    /// Existing slices (by name) to delete.
    pub delete: Vec<String>,
}

fn content_of(slice: &EndpointSlice) -> SliceContent {
    let mut endpoints = slice.endpoints.clone();
    endpoints.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    SliceContent { address_type: slice.address_type.clone(), ports: slice.ports.clone().unwrap_or_default(), endpoints }
}

/// Plans with little churn: an existing slice already equal to a desired one is kept; the
/// rest are reused (same address type and ports first) before anything is created, and
/// what is left over is deleted.
pub fn plan(desired: Vec<SliceContent>, existing: &[&EndpointSlice]) -> SlicePlan {
    let mut plan = SlicePlan::default();
    let mut free: Vec<(String, SliceContent)> =
        existing.iter().map(|s| (s.metadata.name.clone().unwrap_or_default(), content_of(s))).collect();
    free.sort_by(|a, b| a.0.cmp(&b.0));
    let mut unmatched = Vec::new();
    for want in desired {
        if let Some(i) = free.iter().position(|(_, have)| *have == want) {
            free.remove(i);
        } else {
            unmatched.push(want);
        }
    }
    for want in unmatched {
        let same_shape = free.iter().position(|(_, h)| h.address_type == want.address_type && h.ports == want.ports);
        let reusable = same_shape.or_else(|| free.iter().position(|(_, h)| h.address_type == want.address_type));
        match reusable {
            Some(i) => {
                let (name, _) = free.remove(i);
                plan.update.push((name, want));
            }
            None => plan.create.push(want),
        }
    }
    plan.delete = free.into_iter().map(|(n, _)| n).collect();
    plan
}

#[cfg(test)]
mod tests;
