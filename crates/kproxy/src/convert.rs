//! Conversion from Kubernetes `core/v1 Service` and `discovery/v1 EndpointSlice` objects to the
//! [`crate::model`] types, and the join of slices to service ports.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{
    Cidr, Conditions, DEFAULT_AFFINITY_TIMEOUT, Endpoint, NamespacedName, Protocol, ServicePortInfo, ServicePortName,
    SessionAffinity, TargetPort, TrafficPolicy,
};

/// Label joining an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Errors converting Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// `metadata.name` or `metadata.namespace` is missing.
    #[error("object has no {0}")]
    MissingMetadata(&'static str),
    /// An IP field does not hold an IPv4 address.
    #[error("{object}: invalid {field} {value:?}")]
    InvalidIp {
        /// `ns/name` of the object.
        object: String,
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: String,
    },
    /// A port number outside 1..=65535.
    #[error("{object}: {field} {value} out of range 1..=65535")]
    InvalidPort {
        /// `ns/name` of the object.
        object: String,
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: i64,
    },
    /// A protocol other than TCP, UDP, SCTP.
    #[error("{object}: unsupported protocol {value:?}")]
    InvalidProtocol {
        /// `ns/name` of the object.
        object: String,
        /// Offending value.
        value: String,
    },
    /// An invalid enum-like string (traffic policy, affinity).
    #[error("{object}: invalid {field} {value:?}")]
    InvalidValue {
        /// `ns/name` of the object.
        object: String,
        /// Field name.
        field: &'static str,
        /// Offending value.
        value: String,
    },
    /// A `loadBalancerSourceRanges` entry that is not an IPv4 CIDR (skipped, reported as warning).
    #[error("{object}: ignoring load balancer source range {value:?}")]
    InvalidSourceRange {
        /// `ns/name` of the object.
        object: String,
        /// Offending value.
        value: String,
    },
    /// An EndpointSlice without the `kubernetes.io/service-name` label.
    #[error("endpoint slice {0} has no {SERVICE_NAME_LABEL} label")]
    MissingServiceLabel(String),
}

/// Why a Service produces no rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// `type: ExternalName`.
    ExternalName,
    /// Headless (`clusterIP: None`) or no cluster IP yet.
    NoClusterIp,
    /// The cluster IP is IPv6 (only IPv4 is proxied here).
    OtherFamily,
}

/// Result of converting a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConversion {
    /// The Service's name.
    pub name: NamespacedName,
    /// One entry per port (empty when skipped).
    pub ports: Vec<ServicePortInfo>,
    /// Set when the Service is not proxied.
    pub skipped: Option<SkipReason>,
    /// Non-fatal problems (ignored values).
    pub warnings: Vec<ConvertError>,
}

fn ip_field(object: &str, field: &'static str, value: &str) -> Result<Ipv4Addr, ConvertError> {
    value.trim().parse().map_err(|_| ConvertError::InvalidIp {
        object: object.to_string(),
        field,
        value: value.to_string(),
    })
}

fn port_field(object: &str, field: &'static str, value: i32) -> Result<u16, ConvertError> {
    match u16::try_from(value) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ConvertError::InvalidPort { object: object.to_string(), field, value: i64::from(value) }),
    }
}

fn protocol_field(object: &str, value: Option<&String>) -> Result<Protocol, ConvertError> {
    match value {
        None => Ok(Protocol::Tcp),
        Some(p) => Protocol::parse(p)
            .map_err(|_| ConvertError::InvalidProtocol { object: object.to_string(), value: p.clone() }),
    }
}

fn policy_field(object: &str, field: &'static str, value: Option<&String>) -> Result<TrafficPolicy, ConvertError> {
    match value.map(String::as_str) {
        None | Some("") | Some("Cluster") => Ok(TrafficPolicy::Cluster),
        Some("Local") => Ok(TrafficPolicy::Local),
        Some(other) => Err(ConvertError::InvalidValue { object: object.to_string(), field, value: other.to_string() }),
    }
}

fn metadata_name(
    meta: &kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Result<NamespacedName, ConvertError> {
    let name = meta.name.clone().ok_or(ConvertError::MissingMetadata("metadata.name"))?;
    let namespace = meta.namespace.clone().ok_or(ConvertError::MissingMetadata("metadata.namespace"))?;
    Ok(NamespacedName { namespace, name })
}

/// Converts a Service into one [`ServicePortInfo`] per port.
///
/// ExternalName and headless Services (and IPv6-only ones) are reported as skipped. Invalid
/// `loadBalancerSourceRanges` entries are dropped with a warning; if ranges were given but none
/// is usable the service keeps a firewall that admits no source (fail closed). A range of
/// `0.0.0.0/0` means "allow all" and removes the firewall, as upstream does.
pub fn service_from_k8s(svc: &Service) -> Result<ServiceConversion, ConvertError> {
    let name = metadata_name(&svc.metadata)?;
    let obj = name.to_string();
    let mut out = ServiceConversion { name: name.clone(), ports: Vec::new(), skipped: None, warnings: Vec::new() };
    let Some(spec) = svc.spec.as_ref() else {
        out.skipped = Some(SkipReason::NoClusterIp);
        return Ok(out);
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        out.skipped = Some(SkipReason::ExternalName);
        return Ok(out);
    }
    let cluster_ip = match spec.cluster_ip.as_deref().map(str::trim) {
        None | Some("") | Some("None") => {
            out.skipped = Some(SkipReason::NoClusterIp);
            return Ok(out);
        }
        Some(ip) => ip,
    };
    // Prefer the IPv4 entry of clusterIPs for dual-stack services.
    let v4 = std::iter::once(cluster_ip)
        .chain(spec.cluster_ips.iter().flatten().map(String::as_str))
        .find(|s| !s.contains(':'));
    let Some(cluster_ip) = v4 else {
        out.skipped = Some(SkipReason::OtherFamily);
        return Ok(out);
    };
    let cluster_ip = ip_field(&obj, "spec.clusterIP", cluster_ip)?;

    let svc_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    let mut external_ips = Vec::new();
    for ip in spec.external_ips.iter().flatten() {
        if ip.contains(':') {
            continue;
        }
        external_ips.push(ip_field(&obj, "spec.externalIPs", ip)?);
    }
    let mut load_balancer_ips = Vec::new();
    if svc_type == "LoadBalancer" {
        let ingress = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_ref());
        for ing in ingress.into_iter().flatten() {
            let Some(ip) = ing.ip.as_deref() else { continue };
            // Proxy-mode load balancers deliver to nodes themselves; only VIP mode is captured.
            if ip.is_empty() || ip.contains(':') || ing.ip_mode.as_deref().is_some_and(|m| m != "VIP") {
                continue;
            }
            load_balancer_ips.push(ip_field(&obj, "status.loadBalancer.ingress.ip", ip)?);
        }
    }
    let load_balancer_source_ranges = match spec.load_balancer_source_ranges.as_ref() {
        Some(ranges) if !ranges.is_empty() => {
            let mut parsed = Vec::new();
            let mut allow_all = false;
            for r in ranges {
                if r.contains(':') {
                    continue;
                }
                match Cidr::parse(r) {
                    Ok(c) if c.is_zero() => allow_all = true,
                    Ok(c) => parsed.push(c),
                    Err(_) => {
                        out.warnings.push(ConvertError::InvalidSourceRange { object: obj.clone(), value: r.clone() })
                    }
                }
            }
            if allow_all { None } else { Some(parsed) }
        }
        _ => None,
    };
    let session_affinity = match spec.session_affinity.as_deref() {
        None | Some("") | Some("None") => SessionAffinity::None,
        Some("ClientIP") => {
            let t = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT as i32);
            let timeout_seconds =
                u32::try_from(t).ok().filter(|&t| t > 0).ok_or_else(|| ConvertError::InvalidValue {
                    object: obj.clone(),
                    field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    value: t.to_string(),
                })?;
            SessionAffinity::ClientIp { timeout_seconds }
        }
        Some(other) => {
            return Err(ConvertError::InvalidValue {
                object: obj,
                field: "spec.sessionAffinity",
                value: other.to_string(),
            });
        }
    };
    let internal_traffic_policy =
        policy_field(&obj, "spec.internalTrafficPolicy", spec.internal_traffic_policy.as_ref())?;
    let external_traffic_policy =
        policy_field(&obj, "spec.externalTrafficPolicy", spec.external_traffic_policy.as_ref())?;
    let is_external_type = svc_type == "NodePort" || svc_type == "LoadBalancer";
    let health_check_node_port = match spec.health_check_node_port {
        Some(p) if svc_type == "LoadBalancer" && external_traffic_policy == TrafficPolicy::Local && p != 0 => {
            Some(port_field(&obj, "spec.healthCheckNodePort", p)?)
        }
        _ => None,
    };

    for p in spec.ports.iter().flatten() {
        let protocol = protocol_field(&obj, p.protocol.as_ref())?;
        let port = port_field(&obj, "spec.ports.port", p.port)?;
        let node_port = match p.node_port {
            Some(np) if np != 0 && is_external_type => Some(port_field(&obj, "spec.ports.nodePort", np)?),
            _ => None,
        };
        let target_port = match &p.target_port {
            None => None,
            Some(IntOrString::Int(n)) => Some(TargetPort::Number(port_field(&obj, "spec.ports.targetPort", *n)?)),
            Some(IntOrString::String(s)) => Some(TargetPort::Named(s.clone())),
        };
        out.ports.push(ServicePortInfo {
            name: ServicePortName { service: name.clone(), port: p.name.clone().unwrap_or_default() },
            protocol,
            cluster_ip,
            port,
            node_port,
            target_port,
            external_ips: external_ips.clone(),
            load_balancer_ips: load_balancer_ips.clone(),
            load_balancer_source_ranges: load_balancer_source_ranges.clone(),
            session_affinity,
            internal_traffic_policy,
            external_traffic_policy: if is_external_type || !external_ips.is_empty() {
                external_traffic_policy
            } else {
                TrafficPolicy::Cluster
            },
            health_check_node_port,
        });
    }
    Ok(out)
}

/// A port of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlicePort {
    /// Port name (matches the service port's name; empty when unnamed).
    pub name: String,
    /// Port number.
    pub port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

/// One address of an EndpointSlice, without a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SliceAddress {
    /// Address (kube-proxy uses the first address of each endpoint).
    pub ip: Ipv4Addr,
    /// Conditions (`ready`/`serving` default to true, `terminating` to false).
    pub conditions: Conditions,
    /// Node name.
    pub node_name: Option<String>,
    /// Zone.
    pub zone: Option<String>,
}

/// The proxy-relevant content of one EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SliceEndpoints {
    /// The owning Service (from the `kubernetes.io/service-name` label).
    pub service: NamespacedName,
    /// The slice's own name.
    pub slice_name: String,
    /// Ports.
    pub ports: Vec<SlicePort>,
    /// Addresses.
    pub addresses: Vec<SliceAddress>,
}

/// Converts an EndpointSlice. Slices of other address types (IPv6, FQDN) yield `Ok(None)`.
pub fn endpoint_slice_from_k8s(slice: &EndpointSlice) -> Result<Option<SliceEndpoints>, ConvertError> {
    let own = metadata_name(&slice.metadata)?;
    if slice.address_type != "IPv4" {
        return Ok(None);
    }
    let obj = own.to_string();
    let svc_name = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConvertError::MissingServiceLabel(obj.clone()))?;
    let mut ports = Vec::new();
    for p in slice.ports.iter().flatten() {
        // A port without a number is not usable (upstream skips it).
        let Some(n) = p.port else { continue };
        ports.push(SlicePort {
            name: p.name.clone().unwrap_or_default(),
            port: port_field(&obj, "ports.port", n)?,
            protocol: protocol_field(&obj, p.protocol.as_ref())?,
        });
    }
    let mut addresses = Vec::new();
    for ep in &slice.endpoints {
        let Some(first) = ep.addresses.first() else { continue };
        let c = ep.conditions.as_ref();
        let ready = c.and_then(|c| c.ready).unwrap_or(true);
        addresses.push(SliceAddress {
            ip: ip_field(&obj, "endpoints.addresses", first)?,
            conditions: Conditions {
                ready,
                serving: c.and_then(|c| c.serving).unwrap_or(ready),
                terminating: c.and_then(|c| c.terminating).unwrap_or(false),
            },
            node_name: ep.node_name.clone(),
            zone: ep.zone.clone(),
        });
    }
    Ok(Some(SliceEndpoints {
        service: NamespacedName { namespace: own.namespace, name: svc_name.clone() },
        slice_name: own.name,
        ports,
        addresses,
    }))
}

/// Joins the slices of a Service to one of its ports: every address of every slice that has a
/// port with the same name and protocol. Duplicates (`ip:port`) keep the first occurrence;
/// the result is sorted by the `ip:port` string, as upstream orders endpoints.
pub fn endpoints_for_port<'a>(
    slices: impl IntoIterator<Item = &'a SliceEndpoints>,
    port: &ServicePortInfo,
) -> Vec<Endpoint> {
    let mut by_key: BTreeMap<String, Endpoint> = BTreeMap::new();
    for slice in slices {
        let Some(sp) = slice.ports.iter().find(|p| p.name == port.name.port && p.protocol == port.protocol) else {
            continue;
        };
        for a in &slice.addresses {
            let key = format!("{}:{}", a.ip, sp.port);
            by_key.entry(key).or_insert_with(|| Endpoint {
                ip: a.ip,
                port: sp.port,
                conditions: a.conditions,
                node_name: a.node_name.clone(),
                zone: a.zone.clone(),
            });
        }
    }
    by_key.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::api::core::v1::{
        ClientIPConfig, LoadBalancerIngress, LoadBalancerStatus, ServicePort, ServiceSpec, ServiceStatus,
        SessionAffinityConfig,
    };
    use kapi::k8s::api::discovery::v1::{Endpoint as K8sEndpoint, EndpointConditions, EndpointPort};
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(ns: &str, name: &str) -> ObjectMeta {
        ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..Default::default() }
    }

    fn lb_service() -> Service {
        Service {
            metadata: meta("ns5", "svc5"),
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                cluster_ip: Some("172.30.0.45".into()),
                external_traffic_policy: Some("Local".into()),
                health_check_node_port: Some(30000),
                load_balancer_source_ranges: Some(vec![" 203.0.113.0/25".into(), "bogus".into()]),
                session_affinity: Some("ClientIP".into()),
                session_affinity_config: Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig { timeout_seconds: Some(300) }),
                }),
                ports: Some(vec![
                    ServicePort {
                        name: Some("p80".into()),
                        port: 80,
                        node_port: Some(3002),
                        target_port: Some(IntOrString::String("http".into())),
                        ..Default::default()
                    },
                    ServicePort {
                        name: Some("dns".into()),
                        port: 53,
                        protocol: Some("UDP".into()),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(vec![
                        LoadBalancerIngress { ip: Some("5.6.7.8".into()), ..Default::default() },
                        LoadBalancerIngress {
                            ip: Some("9.9.9.9".into()),
                            ip_mode: Some("Proxy".into()),
                            ..Default::default()
                        },
                    ]),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn converts_load_balancer() {
        let c = service_from_k8s(&lb_service()).unwrap();
        assert_eq!(c.skipped, None);
        assert_eq!(c.ports.len(), 2);
        let p = &c.ports[0];
        assert_eq!(p.name.to_string(), "ns5/svc5:p80");
        assert_eq!(p.node_port, Some(3002));
        assert_eq!(p.load_balancer_ips, vec!["5.6.7.8".parse::<Ipv4Addr>().unwrap()]);
        assert_eq!(p.load_balancer_source_ranges, Some(vec![Cidr::parse("203.0.113.0/25").unwrap()]));
        assert_eq!(p.session_affinity, SessionAffinity::ClientIp { timeout_seconds: 300 });
        assert_eq!(p.external_traffic_policy, TrafficPolicy::Local);
        assert_eq!(p.health_check_node_port, Some(30000));
        assert_eq!(p.target_port, Some(TargetPort::Named("http".into())));
        assert_eq!(c.ports[1].protocol, Protocol::Udp);
        assert_eq!(c.warnings.len(), 1, "bogus range reported");
    }

    #[test]
    fn skips_external_name_and_headless() {
        let mut s = lb_service();
        s.spec.as_mut().unwrap().type_ = Some("ExternalName".into());
        assert_eq!(service_from_k8s(&s).unwrap().skipped, Some(SkipReason::ExternalName));
        let mut s = lb_service();
        s.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        assert_eq!(service_from_k8s(&s).unwrap().skipped, Some(SkipReason::NoClusterIp));
    }

    #[test]
    fn reports_bad_input() {
        let mut s = lb_service();
        s.spec.as_mut().unwrap().cluster_ip = Some("300.1.1.1".into());
        assert!(matches!(service_from_k8s(&s), Err(ConvertError::InvalidIp { .. })));
        let mut s = lb_service();
        s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].port = 70000;
        assert!(matches!(service_from_k8s(&s), Err(ConvertError::InvalidPort { .. })));
        let mut s = lb_service();
        s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].protocol = Some("ICMP".into());
        assert!(matches!(service_from_k8s(&s), Err(ConvertError::InvalidProtocol { .. })));
        let mut s = lb_service();
        s.metadata.namespace = None;
        assert_eq!(service_from_k8s(&s), Err(ConvertError::MissingMetadata("metadata.namespace")));
    }

    #[test]
    fn zero_source_range_means_unrestricted_and_all_invalid_fails_closed() {
        let mut s = lb_service();
        s.spec.as_mut().unwrap().load_balancer_source_ranges = Some(vec!["0.0.0.0/0".into()]);
        assert_eq!(service_from_k8s(&s).unwrap().ports[0].load_balancer_source_ranges, None);
        s.spec.as_mut().unwrap().load_balancer_source_ranges = Some(vec!["nope".into()]);
        assert_eq!(service_from_k8s(&s).unwrap().ports[0].load_balancer_source_ranges, Some(vec![]));
    }

    fn slice(
        name: &str,
        svc: &str,
        port_name: &str,
        port: i32,
        addrs: &[(&str, Option<bool>, Option<&str>)],
    ) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                labels: Some([(SERVICE_NAME_LABEL.to_string(), svc.to_string())].into()),
                ..meta("ns5", name)
            },
            address_type: "IPv4".into(),
            ports: Some(vec![EndpointPort { name: Some(port_name.into()), port: Some(port), ..Default::default() }]),
            endpoints: addrs
                .iter()
                .map(|(ip, ready, node)| K8sEndpoint {
                    addresses: vec![(*ip).into()],
                    conditions: Some(EndpointConditions { ready: *ready, serving: None, terminating: None }),
                    node_name: node.map(String::from),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn joins_slices_by_port_name() {
        let svc = service_from_k8s(&lb_service()).unwrap();
        let a = endpoint_slice_from_k8s(&slice("a", "svc5", "p80", 8080, &[("10.0.0.2", None, Some("n1"))]))
            .unwrap()
            .unwrap();
        let b = endpoint_slice_from_k8s(&slice(
            "b",
            "svc5",
            "p80",
            8080,
            &[("10.0.0.1", Some(false), None), ("10.0.0.2", None, None)],
        ))
        .unwrap()
        .unwrap();
        let other =
            endpoint_slice_from_k8s(&slice("c", "svc5", "dns", 53, &[("10.0.0.9", None, None)])).unwrap().unwrap();
        assert_eq!(a.service, NamespacedName::new("ns5", "svc5"));
        let eps = endpoints_for_port([&a, &b, &other], &svc.ports[0]);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].ip.to_string(), "10.0.0.1");
        assert!(!eps[0].conditions.ready && !eps[0].conditions.serving);
        assert_eq!(eps[1].port, 8080);
        assert_eq!(eps[1].node_name.as_deref(), Some("n1"), "first slice wins on duplicates");
        // UDP port "dns" does not match the TCP-named slice port from `other` (protocol TCP default)
        assert!(endpoints_for_port([&other], &svc.ports[1]).is_empty());
    }

    #[test]
    fn slice_errors() {
        let mut s = slice("a", "svc5", "p80", 80, &[("10.0.0.1", None, None)]);
        s.metadata.labels = None;
        assert!(matches!(endpoint_slice_from_k8s(&s), Err(ConvertError::MissingServiceLabel(_))));
        let mut s = slice("a", "svc5", "p80", 80, &[("fe80::1", None, None)]);
        assert!(matches!(endpoint_slice_from_k8s(&s), Err(ConvertError::InvalidIp { .. })));
        s.address_type = "IPv6".into();
        assert_eq!(endpoint_slice_from_k8s(&s), Ok(None));
    }
}
