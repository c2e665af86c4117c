//! The pure input model: service ports, endpoints, node and proxy configuration, and the
//! endpoint selection rules (traffic policies, terminating-endpoint fallback).
//!
//! Only IPv4 is modelled: kube-proxy runs one proxier per IP family and this crate implements
//! the IPv4 one. Conversion from Kubernetes objects lives in [`crate::convert`].

use std::fmt;
use std::net::Ipv4Addr;

/// Errors from building model values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A CIDR string could not be parsed.
    #[error("invalid CIDR {0:?}")]
    InvalidCidr(String),
    /// A protocol other than TCP, UDP or SCTP.
    #[error("unsupported protocol {0:?} (want TCP, UDP or SCTP)")]
    InvalidProtocol(String),
    /// The masquerade bit must be in 0..=31.
    #[error("masquerade bit {0} out of range 0..=31")]
    InvalidMasqueradeBit(u8),
}

/// Transport protocol of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Lower-case name as used in rules and hashes (`tcp`, `udp`, `sctp`).
    pub fn as_lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses the API spelling (`TCP`, `UDP`, `SCTP`); lower case is accepted too.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        match s {
            "TCP" | "tcp" => Ok(Protocol::Tcp),
            "UDP" | "udp" => Ok(Protocol::Udp),
            "SCTP" | "sctp" => Ok(Protocol::Sctp),
            other => Err(ModelError::InvalidProtocol(other.to_string())),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_lower())
    }
}

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: Ipv4Addr,
    prefix_len: u8,
}

impl Cidr {
    /// Builds a CIDR; host bits of `addr` are cleared. Fails if `prefix_len > 32`.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, ModelError> {
        if prefix_len > 32 {
            return Err(ModelError::InvalidCidr(format!("{addr}/{prefix_len}")));
        }
        let mask = Self::mask_of(prefix_len);
        Ok(Cidr { addr: Ipv4Addr::from(u32::from(addr) & mask), prefix_len })
    }

    /// Parses `a.b.c.d/n`, ignoring surrounding whitespace (the API historically allowed it).
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let t = s.trim();
        let bad = || ModelError::InvalidCidr(s.to_string());
        let (ip, len) = t.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Cidr::new(ip, len)
    }

    fn mask_of(prefix_len: u8) -> u32 {
        if prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix_len)) }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix_len) == u32::from(self.addr)
    }

    /// Whether this is `0.0.0.0/0`.
    pub fn is_zero(&self) -> bool {
        self.prefix_len == 0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// `namespace/name` of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespacedName {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl NamespacedName {
    /// Builds a name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        NamespacedName { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for NamespacedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One port of a Service: `ns/name:port` (`ns/name` when the port is unnamed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServicePortName {
    /// The Service.
    pub service: NamespacedName,
    /// The port's name (may be empty for single-port services).
    pub port: String,
}

impl ServicePortName {
    /// Builds a service port name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, port: impl Into<String>) -> Self {
        ServicePortName { service: NamespacedName::new(namespace, name), port: port.into() }
    }
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.service)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A Service port's `targetPort`, kept for information: kube-proxy itself takes endpoint ports
/// from the EndpointSlice port whose name matches the service port's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetPort {
    /// A port number.
    Number(u16),
    /// A named container port, resolved by the EndpointSlice controller.
    Named(String),
}

/// Session affinity of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionAffinity {
    /// No affinity.
    #[default]
    None,
    /// Stick a client IP to one endpoint for `timeout_seconds` (default 10800).
    ClientIp {
        /// Stickiness timeout in seconds.
        timeout_seconds: u32,
    },
}

/// Default ClientIP affinity timeout (3 hours).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;

/// Internal or external traffic policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficPolicy {
    /// Use endpoints anywhere in the cluster.
    #[default]
    Cluster,
    /// Use only endpoints on this node.
    Local,
}

/// Everything kube-proxy needs to know about one Service port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServicePortInfo {
    /// `ns/name:port`.
    pub name: ServicePortName,
    /// Transport protocol.
    pub protocol: Protocol,
    /// The IPv4 cluster IP.
    pub cluster_ip: Ipv4Addr,
    /// Service port.
    pub port: u16,
    /// NodePort, if allocated.
    pub node_port: Option<u16>,
    /// `targetPort` (informational).
    pub target_port: Option<TargetPort>,
    /// `spec.externalIPs` (IPv4 ones).
    pub external_ips: Vec<Ipv4Addr>,
    /// VIP-mode load-balancer ingress IPs from `status.loadBalancer` (IPv4 ones).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `loadBalancerSourceRanges`: `None` means unrestricted; `Some(ranges)` restricts
    /// load-balancer traffic to those sources (an empty list denies every source).
    pub load_balancer_source_ranges: Option<Vec<Cidr>>,
    /// Session affinity.
    pub session_affinity: SessionAffinity,
    /// `internalTrafficPolicy`.
    pub internal_traffic_policy: TrafficPolicy,
    /// `externalTrafficPolicy`.
    pub external_traffic_policy: TrafficPolicy,
    /// Health-check NodePort (only set for `externalTrafficPolicy: Local` load balancers).
    pub health_check_node_port: Option<u16>,
}

impl ServicePortInfo {
    /// A plain ClusterIP service port with defaults for everything else.
    pub fn new(name: ServicePortName, protocol: Protocol, cluster_ip: Ipv4Addr, port: u16) -> Self {
        ServicePortInfo {
            name,
            protocol,
            cluster_ip,
            port,
            node_port: None,
            target_port: None,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            load_balancer_source_ranges: None,
            session_affinity: SessionAffinity::None,
            internal_traffic_policy: TrafficPolicy::Cluster,
            external_traffic_policy: TrafficPolicy::Cluster,
            health_check_node_port: None,
        }
    }

    /// Whether traffic can arrive from outside (NodePort, external IPs or load-balancer IPs).
    pub fn externally_accessible(&self) -> bool {
        self.node_port.is_some() || !self.external_ips.is_empty() || !self.load_balancer_ips.is_empty()
    }

    /// Whether `internalTrafficPolicy` is Local.
    pub fn internal_policy_local(&self) -> bool {
        self.internal_traffic_policy == TrafficPolicy::Local
    }

    /// Whether `externalTrafficPolicy` is Local (only meaningful if externally accessible).
    pub fn external_policy_local(&self) -> bool {
        self.externally_accessible() && self.external_traffic_policy == TrafficPolicy::Local
    }

    /// Whether some traffic is routed with the Cluster policy.
    pub fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_policy_local() || (self.externally_accessible() && !self.external_policy_local())
    }

    /// Whether some traffic is routed with the Local policy.
    pub fn uses_local_endpoints(&self) -> bool {
        self.internal_policy_local() || self.external_policy_local()
    }

    /// Whether a load-balancer firewall is requested (source ranges given and LB IPs present).
    pub fn has_firewall(&self) -> bool {
        self.load_balancer_source_ranges.is_some() && !self.load_balancer_ips.is_empty()
    }
}

/// Readiness conditions of an endpoint (EndpointSlice semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conditions {
    /// Ready to receive new connections.
    pub ready: bool,
    /// Serving (may be true while terminating).
    pub serving: bool,
    /// Being deleted.
    pub terminating: bool,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions { ready: true, serving: true, terminating: false }
    }
}

/// One backend address of a service port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Backend IP.
    pub ip: Ipv4Addr,
    /// Backend port.
    pub port: u16,
    /// Conditions.
    pub conditions: Conditions,
    /// Node hosting the endpoint, if known.
    pub node_name: Option<String>,
    /// Zone of the endpoint, if known.
    pub zone: Option<String>,
}

impl Endpoint {
    /// A ready endpoint with no node or zone.
    pub fn ready(ip: Ipv4Addr, port: u16) -> Self {
        Endpoint { ip, port, conditions: Conditions::default(), node_name: None, zone: None }
    }

    /// The same endpoint placed on `node`.
    pub fn on_node(mut self, node: impl Into<String>) -> Self {
        self.node_name = Some(node.into());
        self
    }

    /// The same endpoint marked serving and terminating (not ready).
    pub fn terminating(mut self) -> Self {
        self.conditions = Conditions { ready: false, serving: true, terminating: true };
        self
    }

    /// Whether the endpoint is on `node_name`.
    pub fn is_local(&self, node_name: &str) -> bool {
        self.node_name.as_deref() == Some(node_name)
    }

    /// Whether it is usable only as a terminating fallback.
    pub fn serving_terminating(&self) -> bool {
        self.conditions.serving && self.conditions.terminating
    }
}

/// Node identity and proxier settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// This node's name (decides which endpoints are local).
    pub node_name: String,
    /// This node's IPv4 addresses (NodePort destinations, "local" addresses).
    pub node_ips: Vec<Ipv4Addr>,
    /// The pod CIDR used to tell pod traffic from off-cluster traffic (`None`: no detection).
    pub cluster_cidr: Option<Cidr>,
    /// Service CIDRs; nftables drops traffic to unallocated cluster IPs in them.
    pub service_cidrs: Vec<Cidr>,
    /// The fwmark bit used to request masquerade (default 14, mark `0x4000`).
    pub masquerade_bit: u8,
    /// Masquerade all traffic to cluster IPs.
    pub masquerade_all: bool,
    /// Accept NodePorts on 127.0.0.0/8 (upstream's default); when false the iptables
    /// NodePort jump excludes loopback destinations.
    pub localhost_nodeports: bool,
    /// Add `--random-fully` / `fully-random` to the masquerade rule.
    pub random_fully: bool,
}

impl ProxyConfig {
    /// Defaults for `node_name`: masquerade bit 14, localhost NodePorts on, `--random-fully`.
    pub fn new(node_name: impl Into<String>) -> Self {
        ProxyConfig {
            node_name: node_name.into(),
            node_ips: Vec::new(),
            cluster_cidr: None,
            service_cidrs: Vec::new(),
            masquerade_bit: 14,
            masquerade_all: false,
            localhost_nodeports: true,
            random_fully: true,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.masquerade_bit > 31 {
            return Err(ModelError::InvalidMasqueradeBit(self.masquerade_bit));
        }
        Ok(())
    }

    /// The masquerade mark value, `1 << masquerade_bit` (bit clamped to 31).
    pub fn masquerade_mark(&self) -> u32 {
        1u32 << self.masquerade_bit.min(31)
    }

    /// The mark as `0x…` text.
    pub fn masquerade_mark_hex(&self) -> String {
        format!("{:#x}", self.masquerade_mark())
    }

    /// Whether `ip` is one of this node's addresses or loopback.
    pub fn is_local_address(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback() || self.node_ips.contains(&ip)
    }
}

/// The endpoints a service port routes to, as indices into its endpoint list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSelection {
    /// Endpoints for Cluster-policy traffic (ready ones, else serving+terminating ones).
    pub cluster: Vec<usize>,
    /// Endpoints for Local-policy traffic (local ready ones, else local serving+terminating).
    pub local: Vec<usize>,
    /// Union of the two, sorted: every endpoint that gets a `KUBE-SEP` / `endpoint-` chain.
    pub reachable: Vec<usize>,
    /// Whether any usable endpoint exists anywhere in the cluster.
    pub has_any: bool,
}

/// Splits `endpoints` by traffic policy, like upstream's `CategorizeEndpoints` (without
/// topology hints): Cluster policy uses ready endpoints and falls back to serving+terminating
/// ones when none is ready; Local policy does the same restricted to `node_name`.
pub fn categorize_endpoints(endpoints: &[Endpoint], svc: &ServicePortInfo, node_name: &str) -> EndpointSelection {
    let mut sel = EndpointSelection::default();
    if svc.uses_cluster_endpoints() {
        sel.cluster = (0..endpoints.len()).filter(|&i| endpoints[i].conditions.ready).collect();
        if sel.cluster.is_empty() {
            sel.cluster = (0..endpoints.len()).filter(|&i| endpoints[i].serving_terminating()).collect();
        }
        sel.has_any = !sel.cluster.is_empty();
    }
    if !svc.uses_local_endpoints() {
        sel.reachable = sel.cluster.clone();
        return sel;
    }
    let mut local_ready = false;
    let mut local_terminating = false;
    for ep in endpoints {
        if ep.conditions.ready {
            sel.has_any = true;
            local_ready |= ep.is_local(node_name);
        } else if ep.serving_terminating() {
            sel.has_any = true;
            local_terminating |= ep.is_local(node_name);
        }
    }
    if local_ready {
        sel.local = (0..endpoints.len())
            .filter(|&i| endpoints[i].is_local(node_name) && endpoints[i].conditions.ready)
            .collect();
    } else if local_terminating {
        sel.local = (0..endpoints.len())
            .filter(|&i| endpoints[i].is_local(node_name) && endpoints[i].serving_terminating())
            .collect();
    }
    if !svc.uses_cluster_endpoints() {
        sel.reachable = sel.local.clone();
        return sel;
    }
    let mut all: Vec<usize> = sel.cluster.iter().chain(sel.local.iter()).copied().collect();
    all.sort_unstable();
    all.dedup();
    sel.reachable = all;
    sel
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn svc() -> ServicePortInfo {
        ServicePortInfo::new(ServicePortName::new("ns", "s", "p"), Protocol::Tcp, ip("172.30.0.1"), 80)
    }

    #[test]
    fn cidr_parse_and_contains() {
        let c = Cidr::parse(" 203.0.113.7/25").unwrap();
        assert_eq!(c.to_string(), "203.0.113.0/25");
        assert!(c.contains(ip("203.0.113.2")));
        assert!(!c.contains(ip("203.0.113.130")));
        assert!(Cidr::parse("1.2.3.4/33").is_err());
        assert!(Cidr::parse("1.2.3.4").is_err());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn port_name_display() {
        assert_eq!(ServicePortName::new("ns1", "svc1", "p80").to_string(), "ns1/svc1:p80");
        assert_eq!(ServicePortName::new("ns1", "svc1", "").to_string(), "ns1/svc1");
    }

    #[test]
    fn masquerade_mark() {
        let c = ProxyConfig::new("n");
        assert_eq!(c.masquerade_mark_hex(), "0x4000");
        let mut bad = c.clone();
        bad.masquerade_bit = 40;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn cluster_policy_prefers_ready_then_terminating() {
        let eps = vec![Endpoint::ready(ip("10.0.0.1"), 80), Endpoint::ready(ip("10.0.0.2"), 80).terminating()];
        let s = categorize_endpoints(&eps, &svc(), "node");
        assert_eq!(s.cluster, vec![0]);
        assert!(s.has_any);
        let eps = vec![Endpoint::ready(ip("10.0.0.2"), 80).terminating()];
        let s = categorize_endpoints(&eps, &svc(), "node");
        assert_eq!(s.cluster, vec![0]);
        let mut gone = Endpoint::ready(ip("10.0.0.3"), 80);
        gone.conditions = Conditions { ready: false, serving: false, terminating: true };
        let s = categorize_endpoints(&[gone], &svc(), "node");
        assert!(s.cluster.is_empty() && !s.has_any);
    }

    #[test]
    fn local_policy_uses_local_endpoints() {
        let mut s = svc();
        s.node_port = Some(30000);
        s.external_traffic_policy = TrafficPolicy::Local;
        let eps = vec![
            Endpoint::ready(ip("10.0.0.1"), 80).on_node("other"),
            Endpoint::ready(ip("10.0.0.2"), 80).on_node("me").terminating(),
        ];
        let sel = categorize_endpoints(&eps, &s, "me");
        assert_eq!(sel.cluster, vec![0]);
        assert_eq!(sel.local, vec![1], "local falls back to serving+terminating");
        assert_eq!(sel.reachable, vec![0, 1]);
        s.internal_traffic_policy = TrafficPolicy::Local;
        let sel = categorize_endpoints(&eps, &s, "me");
        assert!(sel.cluster.is_empty());
        assert_eq!(sel.reachable, vec![1]);
        assert!(sel.has_any);
    }
}
