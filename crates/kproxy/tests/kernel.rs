//! Kernel tests: rendered documents are loaded into real netfilter inside throwaway network
//! namespaces, and real TCP connections go through them.
//!
//! They need root and `ip`, `iptables-restore`, `iptables`, `nft`, `conntrack`, `busybox`
//! (Debian: iproute2, iptables, nftables, conntrack, busybox-static). A missing tool fails
//! the test; nothing is skipped. Only namespaces this process creates are touched.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;
mod netns;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use kproxy::convert::{SliceAddress, SliceEndpoints, SlicePort};
use kproxy::model::{
    Cidr, NamespacedName, Protocol, ProxyConfig, ServicePortInfo, ServicePortName, SessionAffinity, TrafficPolicy,
};
use kproxy::tracker::{Mode, Proxier};
use netns::{Netns, require_tools, veth, wait_for};

const TOOLS: &[&str] = &["ip", "iptables", "iptables-restore", "iptables-save", "nft", "conntrack", "busybox"];

/// `iptables -C || iptables -I` for every jump from the built-in chains.
fn ensure_jumps(ns: &Netns) {
    for j in kproxy::iptables::jump_rules() {
        let mut rule: Vec<&str> = vec!["-w", "-t", j.table, "-C", j.from];
        rule.extend(j.args.split_whitespace());
        rule.extend(["-j", j.to]);
        if !ns.output("iptables", &rule).status.success() {
            rule[3] = "-I";
            ns.run("iptables", &rule);
        }
    }
}

fn apply_iptables(ns: &Netns, doc: &str) {
    ns.run_stdin("iptables-restore", &["-w", "--test", "--noflush", "--counters"], doc);
    ns.run_stdin("iptables-restore", &["-w", "--noflush", "--counters"], doc);
    ensure_jumps(ns);
}

fn apply_nft(ns: &Netns, doc: &str) {
    ns.run_stdin("nft", &["-c", "-f", "-"], doc);
    ns.run_stdin("nft", &["-f", "-"], doc);
}

// ---------------------------------------------------------------------------------------
// (a) Every golden fixture's documents load.

fn multi_port() -> Vec<Fixture> {
    let mut ports = Vec::new();
    for (name, proto, p, target) in [
        ("http", Protocol::Tcp, 80, 80),
        ("https", Protocol::Tcp, 443, 8443),
        ("dns-udp", Protocol::Udp, 53, 53),
        ("dns-sctp", Protocol::Sctp, 53, 53),
    ] {
        let info = ServicePortInfo::new(ServicePortName::new("ns2", "svc2", name), proto, ip("172.30.0.42"), p);
        ports.push((info, vec![ep("10.180.0.1", target), ep("10.180.2.1", target)]));
    }
    vec![Fixture { ports }]
}

fn internal_local() -> Vec<Fixture> {
    let mut a = port("ns1", "svc1", "172.30.0.41", 80);
    a.internal_traffic_policy = TrafficPolicy::Local;
    let mut b = port("ns2", "svc2", "172.30.0.42", 80);
    b.internal_traffic_policy = TrafficPolicy::Local;
    vec![
        Fixture { ports: vec![(a, vec![ep("10.180.0.1", 80).on_node(NODE), ep("10.180.1.1", 80)])] },
        Fixture { ports: vec![(b, vec![ep("10.180.0.2", 80)])] },
    ]
}

fn large() -> Vec<Fixture> {
    (0..11u16)
        .map(|s| {
            let info = port("ns", &format!("svc{s}"), &format!("172.30.1.{s}"), 80);
            let eps = (0..100u16).map(|e| ep(&format!("10.{}.{}.{}", s, e / 200, e % 200 + 1), 80)).collect();
            Fixture { ports: vec![(info, eps)] }
        })
        .collect()
}

fn affinity_300() -> Vec<Fixture> {
    let mut info = port("ns1", "svc1", "172.30.0.41", 80);
    info.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 300 };
    vec![Fixture { ports: vec![(info, vec![ep("10.180.0.1", 80)])] }]
}

/// The fixtures and configurations of the golden tests.
fn scenarios() -> Vec<(&'static str, ProxyConfig, Vec<Fixture>)> {
    let mut fully = cfg();
    fully.random_fully = true;
    fully.localhost_nodeports = false;
    let mut masq_all = cfg();
    masq_all.masquerade_all = true;
    vec![
        ("overall", cfg(), overall(false)),
        ("overall-affinity", cfg(), overall(true)),
        ("random-fully-no-localhost", fully, overall(false)),
        ("masquerade-all", masq_all, overall(false)),
        ("internal-local", cfg(), internal_local()),
        ("multi-port", cfg(), multi_port()),
        ("large", cfg(), large()),
        ("affinity-300", cfg(), affinity_300()),
    ]
}

/// Full sync, then a partial sync that changes one service's endpoints and removes another,
/// then a later partial sync (nftables deletes flushed chains), then a forced full sync.
fn documents(cfg: ProxyConfig, mode: Mode, fixtures: &[Fixture]) -> Vec<(String, String)> {
    let mut p = proxier(cfg, mode, fixtures);
    let mut docs = Vec::new();
    docs.push(("full".to_string(), p.sync(Duration::ZERO).unwrap().document.to_string()));
    if let Some(last) = fixtures.last() {
        let (info, eps) = &last.ports[0];
        let name = info.name.service.clone();
        let mut eps = eps.clone();
        eps.push(ep("10.180.9.9", eps.first().map_or(80, |e| e.port)));
        set_endpoints(&mut p, &name, &format!("{}-0", name.name), info, &eps);
    }
    if fixtures.len() > 1 {
        p.delete_service(&fixtures[0].ports[0].0.name.service);
    }
    docs.push(("partial".to_string(), p.sync(Duration::from_millis(10)).unwrap().document.to_string()));
    docs.push(("later".to_string(), p.sync(Duration::from_secs(5)).unwrap().document.to_string()));
    p.force_full_sync();
    docs.push(("full-again".to_string(), p.sync(Duration::from_secs(6)).unwrap().document.to_string()));
    docs
}

#[test]
fn golden_documents_are_accepted_by_iptables_restore() {
    require_tools(TOOLS);
    for (name, cfg, fixtures) in scenarios() {
        let ns = Netns::new("ipt");
        for (step, doc) in documents(cfg.clone(), Mode::Iptables, &fixtures) {
            eprintln!("iptables {name} {step}: {} lines", doc.lines().count());
            apply_iptables(&ns, &doc);
        }
        // The kernel holds what the last full document says.
        let saved = ns.run("iptables-save", &[]);
        assert!(saved.contains(":KUBE-SERVICES - [0:0]"), "{name}: {saved}");
        assert!(saved.contains("-A PREROUTING -j KUBE-SERVICES"), "{name}: {saved}");
        // Jumps are installed once however often they are ensured.
        ensure_jumps(&ns);
        let saved = ns.run("iptables-save", &[]);
        assert_eq!(saved.matches("-A PREROUTING -j KUBE-SERVICES").count(), 1, "{name}");
    }
}

#[test]
fn golden_documents_are_accepted_by_nft() {
    require_tools(TOOLS);
    for (name, cfg, fixtures) in scenarios() {
        let ns = Netns::new("nft");
        let mut last = String::new();
        for (step, doc) in documents(cfg.clone(), Mode::Nftables, &fixtures) {
            eprintln!("nftables {name} {step}: {} lines", doc.lines().count());
            apply_nft(&ns, &doc);
            last = doc;
        }
        let listed = ns.run("nft", &["list", "table", "ip", "kube-proxy"]);
        assert!(listed.contains("map service-ips"), "{name}: {listed}");
        assert!(last.contains("add table ip kube-proxy"));
    }
}

// ---------------------------------------------------------------------------------------
// (b) Real packets: client → node (proxy rules) → backends.

const CLIENT_IP: &str = "10.201.1.2";
const NODE_IP: &str = "10.201.1.1";
const CLUSTER_IP: &str = "172.30.0.10";
const NODEPORT_CLUSTER_IP: &str = "172.30.0.11";
const NODE_PORT: u16 = 30080;
const BACKENDS: usize = 3;

struct Topology {
    client: Netns,
    node: Netns,
    /// Kept alive (with their servers) for the test's duration.
    _backends: Vec<Netns>,
    _www: tempfile::TempDir,
}

fn backend_ip(i: usize) -> String {
    format!("10.202.{}.2", i + 1)
}

impl Topology {
    fn new() -> Topology {
        let client = Netns::new("client");
        let node = Netns::new("node");
        veth(&client, "eth0", &format!("{CLIENT_IP}/24"), &node, "vclient", &format!("{NODE_IP}/24"));
        client.ip(&["route", "add", "default", "via", NODE_IP]);
        node.sysctl("net.ipv4.ip_forward", "1");
        let www = tempfile::tempdir().unwrap();
        let mut backends = Vec::new();
        for i in 0..BACKENDS {
            let mut b = Netns::new(&format!("backend{i}"));
            let gw = format!("10.202.{}.1", i + 1);
            veth(&node, &format!("vb{i}"), &format!("{gw}/24"), &b, "eth0", &format!("{}/24", backend_ip(i)));
            b.ip(&["route", "add", "default", "via", &gw]);
            let dir = www.path().join(format!("b{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("index.html"), format!("backend-{i}\n")).unwrap();
            let dir = dir.to_str().unwrap().to_string();
            b.spawn("busybox", &["httpd", "-f", "-p", &format!("{}:80", backend_ip(i)), "-h", &dir]);
            backends.push(b);
        }
        let t = Topology { client, node, _backends: backends, _www: www };
        // Servers are up and routes work before any rule exists.
        for i in 0..BACKENDS {
            let url = backend_ip(i);
            wait_for(Duration::from_secs(5), "backend httpd", || {
                (t.get_from(&t.client, &url).as_deref() == Some(&format!("backend-{i}"))).then_some(())
            });
        }
        t
    }

    /// An HTTP GET of `/` on `addr` (`ip:port`) from `ns` with `busybox nc` (busybox's
    /// static `wget` crashes on some hosts); the body, or `None` when the connection failed.
    fn get_from(&self, ns: &Netns, addr: &str) -> Option<String> {
        let (host, port) = addr.split_once(':').unwrap_or((addr, "80"));
        let out = ns.output_stdin("busybox", &["nc", "-w", "2", host, port], "GET / HTTP/1.0\r\n\r\n");
        let text = String::from_utf8_lossy(&out.stdout);
        let (head, body) = text.split_once("\r\n\r\n")?;
        (out.status.success() && head.starts_with("HTTP/1.1 200")).then(|| body.trim().to_string())
    }

    fn dump(&self) -> String {
        let ipt = self.node.output("iptables-save", &[]);
        let nft = self.node.output("nft", &["list", "ruleset"]);
        let ct = self.node.output("conntrack", &["-L"]);
        format!(
            "iptables-save:\n{}\nnft:\n{}\nconntrack:\n{}",
            String::from_utf8_lossy(&ipt.stdout),
            String::from_utf8_lossy(&nft.stdout),
            String::from_utf8_lossy(&ct.stdout)
        )
    }

    /// Connects until every expected backend answered (at most 200 tries); any other answer
    /// or a failed connection fails the test.
    fn expect_spread(&self, url: &str, expected: &[usize]) {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let want: Vec<String> = expected.iter().map(|i| format!("backend-{i}")).collect();
        for attempt in 0..200 {
            let Some(body) = self.get_from(&self.client, url) else {
                panic!("request {attempt} to {url} failed\n{}", self.dump());
            };
            assert!(want.contains(&body), "{url} answered {body:?}, expected one of {want:?}");
            *seen.entry(body).or_default() += 1;
            if seen.len() == want.len() && attempt + 1 >= 20 {
                eprintln!("{url}: {seen:?}");
                return;
            }
        }
        panic!("{url}: only {seen:?} answered, expected all of {want:?}");
    }
}

fn slice(service: &NamespacedName, backends: &[usize]) -> SliceEndpoints {
    SliceEndpoints {
        service: service.clone(),
        slice_name: format!("{}-abc", service.name),
        ports: vec![SlicePort { name: "http".into(), port: 80, protocol: Protocol::Tcp }],
        addresses: backends
            .iter()
            .map(|&i| SliceAddress {
                ip: ip(&backend_ip(i)),
                conditions: Default::default(),
                node_name: Some(format!("backend-node-{i}")),
                zone: None,
            })
            .collect(),
    }
}

fn packet_test(mode: Mode, t: &Topology) {
    let mut cfg = ProxyConfig::new("node");
    cfg.node_ips = vec![ip(NODE_IP)];
    cfg.cluster_cidr = Some(Cidr::parse("10.202.0.0/16").unwrap());
    cfg.service_cidrs = vec![Cidr::parse("172.30.0.0/16").unwrap()];
    let web = NamespacedName::new("ns1", "web");
    let np = NamespacedName::new("ns1", "np");
    let mut p = Proxier::new(cfg, mode).unwrap();
    p.set_service(
        web.clone(),
        vec![ServicePortInfo::new(ServicePortName::new("ns1", "web", "http"), Protocol::Tcp, ip(CLUSTER_IP), 80)],
    )
    .unwrap();
    let mut np_port =
        ServicePortInfo::new(ServicePortName::new("ns1", "np", "http"), Protocol::Tcp, ip(NODEPORT_CLUSTER_IP), 8080);
    np_port.node_port = Some(NODE_PORT);
    p.set_service(np.clone(), vec![np_port]).unwrap();
    let all: Vec<usize> = (0..BACKENDS).collect();
    p.set_slice(slice(&web, &all));
    p.set_slice(slice(&np, &all));
    let apply = |doc: &str| match mode {
        Mode::Iptables => apply_iptables(&t.node, doc),
        Mode::Nftables => apply_nft(&t.node, doc),
        Mode::Ipvs { .. } => unreachable!("IPVS has its own test (ipvs_kernel.rs)"),
    };
    apply(p.sync(Duration::ZERO).unwrap().document);

    let cluster_url = CLUSTER_IP.to_string();
    let node_port_url = format!("{NODE_IP}:{NODE_PORT}");
    t.expect_spread(&cluster_url, &all);
    t.expect_spread(&node_port_url, &all);

    // One endpoint goes away: after a partial sync only the others answer.
    let remaining: Vec<usize> = (0..BACKENDS - 1).collect();
    p.set_slice(slice(&web, &remaining));
    p.set_slice(slice(&np, &remaining));
    let sync = p.sync(Duration::from_secs(1)).unwrap();
    assert!(!sync.full);
    apply(sync.document);
    t.expect_spread(&cluster_url, &remaining);
    t.expect_spread(&node_port_url, &remaining);

    // A later sync deletes what the removal only flushed; traffic still flows.
    apply(p.sync(Duration::from_secs(3)).unwrap().document);
    t.expect_spread(&cluster_url, &remaining);
}

#[test]
fn real_packets_reach_every_endpoint_iptables_then_nftables() {
    require_tools(TOOLS);
    let t = Topology::new();
    // The service IP is not served before rules exist.
    assert!(t.get_from(&t.client, CLUSTER_IP).is_none());

    packet_test(Mode::Iptables, &t);

    // Flush everything iptables-nft wrote and the NAT state, then the same in nftables mode.
    t.node.run("nft", &["flush", "ruleset"]);
    t.node.run("conntrack", &["-F"]);
    assert!(t.get_from(&t.client, CLUSTER_IP).is_none());
    packet_test(Mode::Nftables, &t);
}

/// The agent's iptables applier: a full sync removes per-service chains a failed or earlier
/// run left behind, and installs the built-in chain jumps once.
#[cfg(feature = "agent")]
#[test]
fn agent_applier_removes_leftover_chains_on_full_sync() {
    use kproxy::agent::apply::apply_iptables;
    use kproxy::agent::runner::SystemRunner;
    require_tools(TOOLS);
    let ns = Netns::new("leftover");
    let runner = SystemRunner::in_netns(&ns.name);
    let doc = documents(cfg(), Mode::Iptables, &overall(false)).swap_remove(0).1;
    apply_iptables(&runner, &doc, true).unwrap();
    ns.run_stdin(
        "iptables-restore",
        &["--noflush"],
        "*nat\n:KUBE-SEP-LEFTOVER - [0:0]\n-A KUBE-SEP-LEFTOVER -j RETURN\nCOMMIT\n",
    );
    assert!(ns.run("iptables-save", &["-t", "nat"]).contains(":KUBE-SEP-LEFTOVER"));
    apply_iptables(&runner, &doc, true).unwrap();
    let saved = ns.run("iptables-save", &[]);
    assert!(!saved.contains("KUBE-SEP-LEFTOVER"), "{saved}");
    assert!(saved.contains(":KUBE-SEP-SXIVWICOYRO3J4NJ"), "{saved}");
    assert_eq!(saved.matches("-A PREROUTING -j KUBE-SERVICES").count(), 1, "{saved}");
}
