//! Packet-flow tests run against both backends (upstream's `runPacketFlowTests` style).

mod common;

use common::*;
use kproxy::model::{Cidr, Protocol, ServicePortInfo, ServicePortName, SessionAffinity, TrafficPolicy};

#[test]
fn overall_flows() {
    let flows = [
        flow("no match", "10.0.0.2", "10.0.0.3", 80, "", false),
        flow("single endpoint", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
        flow("multiple endpoints", "10.0.0.2", "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80", false),
        flow("local, mark for masquerade", NODE_IP, "192.168.99.22", 80, "10.180.0.2:80", true),
        flow("DROP (Local policy, no local endpoints)", EXTERNAL_CLIENT, "192.168.99.22", 80, "DROP", false),
        flow("REJECT (no endpoints)", "10.0.0.2", "172.30.0.46", 80, "REJECT", false),
        flow("blocked external to loadbalancer IP", EXTERNAL_CLIENT_BLOCKED, "5.6.7.8", 80, "DROP", false),
        flow("accepted external to loadbalancer IP", EXTERNAL_CLIENT, "5.6.7.8", 80, "10.180.0.3:80", true),
        flow("pod to nodePort", "10.0.0.2", NODE_IP, 3001, "10.180.0.2:80", false),
        flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3003, "10.180.0.3:80", true),
        flow("hairpin", "10.180.0.1", "172.30.0.41", 80, "10.180.0.1:80", true),
        flow(
            "off-cluster client to cluster IP is masqueraded",
            EXTERNAL_CLIENT,
            "172.30.0.41",
            80,
            "10.180.0.1:80",
            true,
        ),
        flow("external IP, Cluster policy", EXTERNAL_CLIENT, "192.168.99.33", 80, "10.180.0.4:80, 10.180.0.5:80", true),
    ];
    run_flows(cfg(), &overall(false), &flows);
    // Affinity does not change the set of reachable endpoints in a trace.
    run_flows(cfg(), &overall(true), &flows);
}

#[test]
fn node_port_and_external_local_policy() {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.node_port = Some(3001);
    info.external_traffic_policy = TrafficPolicy::Local;
    let eps = vec![ep("10.180.0.1", 80), ep("10.180.2.1", 80).on_node(NODE)];
    let fx = [Fixture { ports: vec![(info, eps)] }];
    run_flows(
        cfg(),
        &fx,
        &[
            flow(
                "pod to cluster IP uses all endpoints",
                "10.0.0.2",
                "172.30.0.41",
                80,
                "10.180.0.1:80, 10.180.2.1:80",
                false,
            ),
            flow(
                "external to nodePort keeps source, local endpoint only",
                EXTERNAL_CLIENT,
                NODE_IP,
                3001,
                "10.180.2.1:80",
                false,
            ),
            flow(
                "node to nodePort is masqueraded, any endpoint",
                NODE_IP,
                NODE_IP,
                3001,
                "10.180.0.1:80, 10.180.2.1:80",
                true,
            ),
            flow(
                "pod to nodePort short-circuits to cluster chain",
                "10.0.0.2",
                NODE_IP,
                3001,
                "10.180.0.1:80, 10.180.2.1:80",
                false,
            ),
        ],
    );
}

#[test]
fn load_balancer_source_ranges_including_node() {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.node_port = Some(3001);
    info.load_balancer_ips = vec![ip("1.2.3.4"), ip("5.6.7.8")];
    info.load_balancer_source_ranges =
        Some(vec![Cidr::parse("192.168.0.0/24").unwrap(), Cidr::parse(" 203.0.113.0/25").unwrap()]);
    let fx = [Fixture { ports: vec![(info, vec![ep("10.180.0.1", 80)])] }];
    run_flows(
        cfg(),
        &fx,
        &[
            flow("pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
            flow("nodePort bypasses source ranges", EXTERNAL_CLIENT_BLOCKED, NODE_IP, 3001, "10.180.0.1:80", true),
            flow("accepted external to LB1", EXTERNAL_CLIENT, "1.2.3.4", 80, "10.180.0.1:80", true),
            flow("accepted external to LB2", EXTERNAL_CLIENT, "5.6.7.8", 80, "10.180.0.1:80", true),
            flow("blocked external to LB1", EXTERNAL_CLIENT_BLOCKED, "1.2.3.4", 80, "DROP", false),
            flow("pod to LB blocked by ranges", "10.0.0.2", "5.6.7.8", 80, "DROP", false),
            flow("node to LB allowed", NODE_IP, "1.2.3.4", 80, "10.180.0.1:80", true),
            flow("LB-SNATted node traffic implicitly allowed", "1.2.3.4", "1.2.3.4", 80, "10.180.0.1:80", true),
        ],
    );
}

#[test]
fn no_endpoints_rejects_everywhere() {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.node_port = Some(3001);
    info.external_ips = vec![ip("192.168.99.11")];
    info.load_balancer_ips = vec![ip("1.2.3.4")];
    let fx = [Fixture { ports: vec![(info, vec![])] }];
    run_flows(
        cfg(),
        &fx,
        &[
            flow("pod to cluster IP", "10.0.0.2", "172.30.0.41", 80, "REJECT", false),
            flow("external to external IP", EXTERNAL_CLIENT, "192.168.99.11", 80, "REJECT", false),
            flow("external to nodePort", EXTERNAL_CLIENT, NODE_IP, 3001, "REJECT", false),
            flow("pod to LB IP", "10.0.0.2", "1.2.3.4", 80, "REJECT", false),
            flow("external to LB IP", EXTERNAL_CLIENT, "1.2.3.4", 80, "REJECT", false),
        ],
    );
}

#[test]
fn terminating_endpoints_are_a_fallback() {
    let mut a = port("ns1", "svc1", "172.30.0.41", 80);
    a.node_port = Some(3001);
    a.external_traffic_policy = TrafficPolicy::Local;
    let eps = vec![
        ep("10.180.0.1", 80).on_node(NODE).terminating(),
        ep("10.180.0.2", 80).on_node("other"),
        ep("10.180.0.3", 80).on_node("other").terminating(),
    ];
    let b = port("ns2", "svc2", "172.30.0.42", 80);
    let only_terminating = vec![ep("10.180.1.1", 80).terminating(), ep("10.180.1.2", 80).terminating()];
    let fx = [Fixture { ports: vec![(a, eps)] }, Fixture { ports: vec![(b, only_terminating)] }];
    run_flows(
        cfg(),
        &fx,
        &[
            flow("cluster traffic uses the ready endpoint", "10.0.0.2", "172.30.0.41", 80, "10.180.0.2:80", false),
            flow(
                "Local external traffic falls back to local terminating",
                EXTERNAL_CLIENT,
                NODE_IP,
                3001,
                "10.180.0.1:80",
                false,
            ),
            flow(
                "no ready endpoint: serving+terminating ones used",
                "10.0.0.2",
                "172.30.0.42",
                80,
                "10.180.1.1:80, 10.180.1.2:80",
                false,
            ),
        ],
    );
}

#[test]
fn internal_local_policy() {
    let mut a = port("ns1", "svc1", "172.30.0.41", 80);
    a.internal_traffic_policy = TrafficPolicy::Local;
    let mut b = port("ns2", "svc2", "172.30.0.42", 80);
    b.internal_traffic_policy = TrafficPolicy::Local;
    let fx = [
        Fixture { ports: vec![(a, vec![ep("10.180.0.1", 80).on_node(NODE), ep("10.180.1.1", 80)])] },
        Fixture { ports: vec![(b, vec![ep("10.180.0.2", 80)])] },
    ];
    run_flows(
        cfg(),
        &fx,
        &[
            flow("local endpoint only", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80", false),
            flow("no local endpoints drops", "10.0.0.2", "172.30.0.42", 80, "DROP", false),
        ],
    );
}

#[test]
fn protocols_and_named_ports() {
    let mut ports = Vec::new();
    for (name, proto, p, target) in [
        ("http", Protocol::Tcp, 80, 80),
        ("https", Protocol::Tcp, 443, 8443),
        ("dns-udp", Protocol::Udp, 53, 53),
        ("dns-tcp", Protocol::Tcp, 53, 5353),
        ("dns-sctp", Protocol::Sctp, 53, 53),
    ] {
        let info = ServicePortInfo::new(ServicePortName::new("ns2", "svc2", name), proto, ip("172.30.0.42"), p);
        ports.push((info, vec![ep("10.180.0.1", target).on_node(NODE), ep("10.180.2.1", target).on_node("node2")]));
    }
    let fx = [Fixture { ports }];
    let mut udp = flow("UDP", "10.180.0.2", "172.30.0.42", 53, "10.180.0.1:53, 10.180.2.1:53", false);
    udp.protocol = Protocol::Udp;
    let mut sctp = flow("SCTP", "10.180.0.2", "172.30.0.42", 53, "10.180.0.1:53, 10.180.2.1:53", false);
    sctp.protocol = Protocol::Sctp;
    run_flows(
        cfg(),
        &fx,
        &[
            flow("target port", "10.180.0.2", "172.30.0.42", 443, "10.180.0.1:8443, 10.180.2.1:8443", false),
            flow("TCP on shared port", "10.180.0.2", "172.30.0.42", 53, "10.180.0.1:5353, 10.180.2.1:5353", false),
            udp,
            sctp,
        ],
    );
    // nftables additionally rejects unknown ports of known cluster IPs and drops unallocated ones.
    let (_, nft) = full_nft(cfg(), &fx);
    let pkt = |d: &str, p: u16, proto| kproxy::trace::Packet::tcp(ip("10.180.0.2"), ip(d), p).with_protocol(proto);
    assert_eq!(nft.trace(&pkt("172.30.0.42", 80, Protocol::Udp), &local_addrs()).output(), "REJECT");
    assert_eq!(nft.trace(&pkt("172.30.0.50", 80, Protocol::Tcp), &local_addrs()).output(), "DROP");
    let (_, ipt) = full_iptables(cfg(), &fx);
    assert_eq!(ipt.trace(&pkt("172.30.0.42", 80, Protocol::Udp), &local_addrs()).output(), "");
}

#[test]
fn health_check_node_port_is_accepted_by_iptables() {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.node_port = Some(3001);
    info.load_balancer_ips = vec![ip("1.2.3.4")];
    info.external_traffic_policy = TrafficPolicy::Local;
    info.health_check_node_port = Some(30000);
    let (_, ipt) = full_iptables(cfg(), &[Fixture { ports: vec![(info, vec![ep("10.180.0.1", 80).on_node(NODE)])] }]);
    let r = ipt.trace(&kproxy::trace::Packet::tcp(ip(EXTERNAL_CLIENT), ip(NODE_IP), 30000), &local_addrs());
    assert_eq!(r.output(), "ACCEPT");
}

#[test]
fn affinity_service_still_reaches_every_endpoint() {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 10800 };
    let fx = [Fixture { ports: vec![(info, vec![ep("10.180.0.1", 80), ep("10.180.0.2", 80), ep("10.180.0.3", 80)])] }];
    run_flows(
        cfg(),
        &fx,
        &[flow("affinity", "10.0.0.2", "172.30.0.41", 80, "10.180.0.1:80, 10.180.0.2:80, 10.180.0.3:80", false)],
    );
}
