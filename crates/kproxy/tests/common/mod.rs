//! Shared fixtures: upstream's test conventions (pod CIDR 10.0.0.0/8, service CIDR
//! 172.30.0.0/16, node 192.168.0.2, external IPs 192.168.99.x, external clients 203.0.113.x).
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use kproxy::convert::{SliceAddress, SliceEndpoints, SlicePort};
use kproxy::model::{
    Cidr, Endpoint, NamespacedName, Protocol, ProxyConfig, ServicePortInfo, ServicePortName, SessionAffinity,
    TrafficPolicy,
};
use kproxy::trace::{IptablesState, NftState, Packet};
use kproxy::tracker::{Mode, Proxier};

pub const NODE: &str = "test-node";
pub const NODE_IP: &str = "192.168.0.2";
pub const EXTERNAL_CLIENT: &str = "203.0.113.2";
pub const EXTERNAL_CLIENT_BLOCKED: &str = "203.0.113.130";

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn cfg() -> ProxyConfig {
    let mut c = ProxyConfig::new(NODE);
    c.node_ips = vec![ip(NODE_IP)];
    c.cluster_cidr = Some(Cidr::parse("10.0.0.0/8").unwrap());
    c.service_cidrs = vec![Cidr::parse("172.30.0.0/16").unwrap()];
    c.random_fully = false;
    c
}

pub fn local_addrs() -> Vec<Ipv4Addr> {
    vec![ip(NODE_IP), ip("192.168.1.2"), ip("192.168.99.11")]
}

pub fn port(ns: &str, name: &str, cluster_ip: &str, port: u16) -> ServicePortInfo {
    ServicePortInfo::new(ServicePortName::new(ns, name, "p80"), Protocol::Tcp, ip(cluster_ip), port)
}

pub fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint::ready(ip(addr), port)
}

/// A service (its ports) with the endpoints of each port.
pub struct Fixture {
    pub ports: Vec<(ServicePortInfo, Vec<Endpoint>)>,
}

/// Builds a proxier holding `fixtures` (one slice per service, ports matched by name).
pub fn proxier(cfg: ProxyConfig, mode: Mode, fixtures: &[Fixture]) -> Proxier {
    let mut p = Proxier::new(cfg, mode).unwrap();
    for f in fixtures {
        load(&mut p, f);
    }
    p
}

pub fn load(p: &mut Proxier, f: &Fixture) {
    let name = f.ports[0].0.name.service.clone();
    p.set_service(name.clone(), f.ports.iter().map(|(i, _)| i.clone()).collect()).unwrap();
    for (k, (info, eps)) in f.ports.iter().enumerate() {
        set_endpoints(p, &name, &format!("{}-{k}", name.name), info, eps);
    }
}

pub fn set_endpoints(p: &mut Proxier, svc: &NamespacedName, slice: &str, info: &ServicePortInfo, eps: &[Endpoint]) {
    // One slice per distinct endpoint port, like the EndpointSlice controller does.
    let mut ports: Vec<u16> = eps.iter().map(|e| e.port).collect();
    ports.sort();
    ports.dedup();
    if ports.is_empty() {
        ports.push(0);
    }
    for (k, prt) in ports.iter().enumerate() {
        let addresses = eps
            .iter()
            .filter(|e| e.port == *prt)
            .map(|e| SliceAddress {
                ip: e.ip,
                conditions: e.conditions,
                node_name: e.node_name.clone(),
                zone: e.zone.clone(),
            })
            .collect();
        p.set_slice(SliceEndpoints {
            service: svc.clone(),
            slice_name: format!("{slice}-{k}"),
            ports: if *prt == 0 {
                vec![]
            } else {
                vec![SlicePort { name: info.name.port.clone(), port: *prt, protocol: info.protocol }]
            },
            addresses,
        });
    }
}

/// upstream's TestOverallIPTablesRules / TestOverallNFTablesRules services.
pub fn overall(with_affinity: bool) -> Vec<Fixture> {
    let svc1 = port("ns1", "svc1", "172.30.0.41", 80);
    let mut svc2 = port("ns2", "svc2", "172.30.0.42", 80);
    svc2.node_port = Some(3001);
    svc2.load_balancer_ips = vec![ip("1.2.3.4")];
    svc2.external_ips = vec![ip("192.168.99.22")];
    svc2.external_traffic_policy = TrafficPolicy::Local;
    svc2.health_check_node_port = Some(30000);
    let mut svc3 = port("ns3", "svc3", "172.30.0.43", 80);
    svc3.node_port = Some(3003);
    let mut svc4 = port("ns4", "svc4", "172.30.0.44", 80);
    svc4.external_ips = vec![ip("192.168.99.33")];
    let mut svc5 = port("ns5", "svc5", "172.30.0.45", 80);
    svc5.node_port = Some(3002);
    svc5.load_balancer_ips = vec![ip("5.6.7.8")];
    svc5.load_balancer_source_ranges = Some(vec![Cidr::parse(" 203.0.113.0/25").unwrap()]);
    if with_affinity {
        svc5.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 10800 };
    }
    let svc6 = port("ns6", "svc6", "172.30.0.46", 80);
    vec![
        Fixture { ports: vec![(svc1, vec![ep("10.180.0.1", 80)])] },
        Fixture { ports: vec![(svc2, vec![ep("10.180.0.2", 80)])] },
        Fixture { ports: vec![(svc3, vec![ep("10.180.0.3", 80)])] },
        Fixture { ports: vec![(svc4, vec![ep("10.180.0.4", 80), ep("10.180.0.5", 80).on_node(NODE)])] },
        Fixture { ports: vec![(svc5, vec![ep("10.180.0.3", 80)])] },
        Fixture { ports: vec![(svc6, vec![])] },
    ]
}

/// Renders a full sync and loads it into a fresh state.
pub fn full_iptables(cfg: ProxyConfig, fixtures: &[Fixture]) -> (String, IptablesState) {
    let mut p = proxier(cfg, Mode::Iptables, fixtures);
    let doc = p.sync(Duration::ZERO).unwrap().document.to_string();
    let st = IptablesState::parse(&doc).unwrap();
    st.check_jumps().unwrap();
    (doc, st)
}

pub fn full_nft(cfg: ProxyConfig, fixtures: &[Fixture]) -> (String, NftState) {
    let mut p = proxier(cfg, Mode::Nftables, fixtures);
    let doc = p.sync(Duration::ZERO).unwrap().document.to_string();
    let st = NftState::parse(&doc).unwrap();
    st.check_jumps().unwrap();
    (doc, st)
}

/// A packet-flow expectation, like upstream's `packetFlowTest`.
pub struct Flow {
    pub name: &'static str,
    pub src: &'static str,
    pub dst: &'static str,
    pub dport: u16,
    pub protocol: Protocol,
    pub output: &'static str,
    pub masq: bool,
}

pub fn flow(
    name: &'static str,
    src: &'static str,
    dst: &'static str,
    dport: u16,
    output: &'static str,
    masq: bool,
) -> Flow {
    Flow { name, src, dst, dport, protocol: Protocol::Tcp, output, masq }
}

/// Runs flows against both backends built from the same fixtures.
pub fn run_flows(cfg: ProxyConfig, fixtures: &[Fixture], flows: &[Flow]) {
    let (_, ipt) = full_iptables(cfg.clone(), fixtures);
    let (_, nft) = full_nft(cfg, fixtures);
    let locals = local_addrs();
    for f in flows {
        let pkt = Packet::tcp(ip(f.src), ip(f.dst), f.dport).with_protocol(f.protocol);
        for (backend, r) in [("iptables", ipt.trace(&pkt, &locals)), ("nftables", nft.trace(&pkt, &locals))] {
            assert_eq!(r.output(), f.output, "{backend}: {}", f.name);
            if !f.output.is_empty() && f.output != "DROP" && f.output != "REJECT" {
                assert_eq!(r.masquerade, f.masq, "{backend}: {} (masquerade)", f.name);
            }
        }
    }
}

/// Sorted non-empty lines (for order-insensitive golden comparisons).
pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> =
        s.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    v.sort();
    v
}
