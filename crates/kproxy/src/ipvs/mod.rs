//! IPVS mode, kept proportionate: the virtual/real server set as an `ipvsadm-restore`
//! document, the ipsets it relies on as an `ipset restore` document, the iptables rules
//! (masquerade, NodePort and load-balancer source filtering) and the addresses to bind on the
//! `kube-ipvs0` dummy device.

pub mod table;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use self::table::{IpvsTable, ServiceOptions, VirtualServer};
use crate::iptables::JumpRule;
use crate::model::{ProxyConfig, SessionAffinity};
use crate::prep::PreparedServicePort;

/// The dummy interface holding every service address.
pub const DUMMY_DEVICE: &str = "kube-ipvs0";

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpvsError {
    /// An unknown scheduler name.
    #[error("unknown IPVS scheduler {0:?}")]
    UnknownScheduler(String),
    /// An `ipvsadm` line that could not be read.
    #[error("cannot parse ipvsadm output: {0}")]
    Parse(String),
}

/// IPVS scheduling algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduler {
    /// Round robin.
    #[default]
    RoundRobin,
    /// Least connection.
    LeastConnection,
    /// Destination hashing.
    DestinationHashing,
    /// Source hashing.
    SourceHashing,
    /// Shortest expected delay.
    ShortestExpectedDelay,
    /// Never queue.
    NeverQueue,
}

impl Scheduler {
    /// The `ipvsadm -s` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduler::RoundRobin => "rr",
            Scheduler::LeastConnection => "lc",
            Scheduler::DestinationHashing => "dh",
            Scheduler::SourceHashing => "sh",
            Scheduler::ShortestExpectedDelay => "sed",
            Scheduler::NeverQueue => "nq",
        }
    }

    /// Parses an `ipvsadm -s` name.
    pub fn parse(s: &str) -> Result<Self, IpvsError> {
        Ok(match s {
            "rr" | "" => Scheduler::RoundRobin,
            "lc" => Scheduler::LeastConnection,
            "dh" => Scheduler::DestinationHashing,
            "sh" => Scheduler::SourceHashing,
            "sed" => Scheduler::ShortestExpectedDelay,
            "nq" => Scheduler::NeverQueue,
            other => return Err(IpvsError::UnknownScheduler(other.to_string())),
        })
    }
}

/// The documents for one IPVS sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsDocuments {
    /// The virtual and real servers.
    pub table: IpvsTable,
    /// [`IpvsTable::to_restore`] of `table`: `ipvsadm -R` input for an empty table (an agent
    /// applies [`IpvsTable::diff_to`] against the kernel's table instead).
    pub ipvsadm: String,
    /// `ipset restore` input.
    pub ipset: String,
    /// `iptables-restore --noflush` input.
    pub iptables: String,
    /// Addresses to bind on [`DUMMY_DEVICE`].
    pub bind_addresses: Vec<Ipv4Addr>,
}

/// The jumps from the built-in chains to the chains of [`IpvsDocuments::iptables`].
pub fn jump_rules() -> &'static [JumpRule] {
    &[
        JumpRule { table: "filter", from: "INPUT", args: "", to: "KUBE-PROXY-FIREWALL" },
        JumpRule { table: "filter", from: "FORWARD", args: "", to: "KUBE-PROXY-FIREWALL" },
        JumpRule { table: "filter", from: "FORWARD", args: "", to: "KUBE-FORWARD" },
        JumpRule { table: "nat", from: "OUTPUT", args: "", to: "KUBE-SERVICES" },
        JumpRule { table: "nat", from: "PREROUTING", args: "", to: "KUBE-SERVICES" },
        JumpRule { table: "nat", from: "POSTROUTING", args: "", to: "KUBE-POSTROUTING" },
    ]
}

/// Renders the IPVS documents for `services`.
pub fn render(cfg: &ProxyConfig, services: &[&PreparedServicePort], scheduler: Scheduler) -> IpvsDocuments {
    let mut d = IpvsDocuments::default();
    let mut bind = BTreeSet::new();
    let mut cluster_ip = Vec::new();
    let mut external_ip = Vec::new();
    let mut lb = Vec::new();
    let mut lb_fw = Vec::new();
    let mut lb_src = Vec::new();
    let mut loopback = BTreeSet::new();
    let mut node_ports: [BTreeSet<u16>; 3] = Default::default();
    let sched = scheduler.as_str();
    for svc in services {
        let info = &svc.info;
        let p = info.protocol.as_lower();
        let persistence = match info.session_affinity {
            SessionAffinity::ClientIp { timeout_seconds } => Some(timeout_seconds),
            SessionAffinity::None => None,
        };
        let internal = if info.internal_policy_local() { &svc.selection.local } else { &svc.selection.cluster };
        let external = if info.external_policy_local() { &svc.selection.local } else { &svc.selection.cluster };
        let virtual_server = |d: &mut IpvsDocuments, ip: Ipv4Addr, port: u16, eps: &[usize]| {
            let vs = VirtualServer { protocol: info.protocol, addr: SocketAddrV4::new(ip, port) };
            d.table.add_service(vs, ServiceOptions { scheduler: sched.to_string(), persistence });
            for &i in eps {
                let e = &svc.endpoints[i];
                d.table.add_real_server(&vs, SocketAddrV4::new(e.endpoint.ip, e.endpoint.port), 1);
            }
        };
        bind.insert(info.cluster_ip);
        cluster_ip.push(format!("{},{p}:{}", info.cluster_ip, info.port));
        virtual_server(&mut d, info.cluster_ip, info.port, internal);
        for ip in &info.external_ips {
            bind.insert(*ip);
            external_ip.push(format!("{ip},{p}:{}", info.port));
            virtual_server(&mut d, *ip, info.port, external);
        }
        for ip in &info.load_balancer_ips {
            bind.insert(*ip);
            lb.push(format!("{ip},{p}:{}", info.port));
            if let Some(ranges) = &info.load_balancer_source_ranges {
                lb_fw.push(format!("{ip},{p}:{}", info.port));
                for r in ranges {
                    lb_src.push(format!("{ip},{p}:{},{r}", info.port));
                }
            }
            virtual_server(&mut d, *ip, info.port, external);
        }
        if let Some(np) = info.node_port {
            node_ports[info.protocol as usize].insert(np);
            for ip in &cfg.node_ips {
                virtual_server(&mut d, *ip, np, external);
            }
        }
        for &i in &svc.selection.reachable {
            let e = &svc.endpoints[i];
            loopback.insert(format!("{},{p}:{},{}", e.ip, e.endpoint.port, e.ip));
        }
    }
    d.bind_addresses = bind.into_iter().collect();
    d.ipvsadm = d.table.to_restore();

    let mut set = |name: &str, kind: &str, entries: &mut dyn Iterator<Item = String>| {
        let _ = writeln!(d.ipset, "create {name} {kind} -exist");
        let _ = writeln!(d.ipset, "flush {name}");
        for e in entries {
            let _ = writeln!(d.ipset, "add {name} {e} -exist");
        }
    };
    set("KUBE-CLUSTER-IP", "hash:ip,port", &mut cluster_ip.into_iter());
    set("KUBE-EXTERNAL-IP", "hash:ip,port", &mut external_ip.into_iter());
    set("KUBE-LOAD-BALANCER", "hash:ip,port", &mut lb.into_iter());
    set("KUBE-LOAD-BALANCER-FW", "hash:ip,port", &mut lb_fw.into_iter());
    set("KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net", &mut lb_src.into_iter());
    set("KUBE-LOOP-BACK", "hash:ip,port,ip", &mut loopback.into_iter());
    for (i, name) in ["KUBE-NODE-PORT-TCP", "KUBE-NODE-PORT-UDP", "KUBE-NODE-PORT-SCTP"].iter().enumerate() {
        let kind = if i == 2 { "hash:ip,port" } else { "bitmap:port range 0-65535" };
        let ports: Vec<String> = node_ports[i].iter().map(|p| p.to_string()).collect();
        set(name, kind, &mut ports.into_iter());
    }

    let mark = cfg.masquerade_mark_hex();
    let t = &mut d.iptables;
    t.push_str("*filter\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-SOURCE-RANGES-FIREWALL - [0:0]\n");
    t.push_str("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP\n");
    t.push_str("-A KUBE-PROXY-FIREWALL -m comment --comment \"Kubernetes load balancer firewall\" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -m set ! --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j KUBE-SOURCE-RANGES-FIREWALL\n");
    t.push_str("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n");
    let _ = writeln!(
        t,
        "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {mark}/{mark} -j ACCEPT"
    );
    t.push_str("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
    t.push_str("COMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODE-PORT - [0:0]\n:KUBE-LOAD-BALANCER - [0:0]\n");
    t.push_str("-A KUBE-POSTROUTING -m comment --comment \"Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose\" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE\n");
    let _ = writeln!(t, "-A KUBE-POSTROUTING -m mark ! --mark {mark}/{mark} -j RETURN");
    let _ = writeln!(t, "-A KUBE-POSTROUTING -j MARK --xor-mark {mark}");
    let _ = writeln!(
        t,
        "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE{}",
        if cfg.random_fully { " --random-fully" } else { "" }
    );
    let _ = writeln!(t, "-A KUBE-MARK-MASQ -j MARK --or-mark {mark}");
    if cfg.masquerade_all {
        t.push_str("-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ\n");
    } else if let Some(c) = cfg.cluster_cidr {
        let _ = writeln!(
            t,
            "-A KUBE-SERVICES -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s {c} -j KUBE-MARK-MASQ"
        );
    }
    t.push_str("-A KUBE-SERVICES -m comment --comment \"Kubernetes service external ip + port for masquerade and filter purpose\" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ\n");
    t.push_str("-A KUBE-SERVICES -m comment --comment \"Kubernetes service lb portal\" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER\n");
    t.push_str("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT\n");
    t.push_str("-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n");
    t.push_str("-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ\n");
    for (p, set) in [("tcp", "KUBE-NODE-PORT-TCP"), ("udp", "KUBE-NODE-PORT-UDP")] {
        let _ = writeln!(
            t,
            "-A KUBE-NODE-PORT -p {p} -m comment --comment \"Kubernetes nodeport {} port for masquerade purpose\" -m set --match-set {set} dst -j KUBE-MARK-MASQ",
            p.to_uppercase()
        );
    }
    t.push_str("-A KUBE-NODE-PORT -p sctp -m comment --comment \"Kubernetes nodeport SCTP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-SCTP dst,dst -j KUBE-MARK-MASQ\n");
    t.push_str("COMMIT\n");
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Endpoint, Protocol, ServicePortInfo, ServicePortName};

    #[test]
    fn renders_virtual_and_real_servers() {
        let mut cfg = ProxyConfig::new("node");
        cfg.node_ips = vec![[192, 168, 0, 2].into()];
        cfg.cluster_cidr = Some(crate::model::Cidr::parse("10.0.0.0/8").unwrap());
        let mut info = ServicePortInfo::new(
            ServicePortName::new("ns1", "svc1", "p80"),
            Protocol::Tcp,
            [172, 30, 0, 41].into(),
            80,
        );
        info.node_port = Some(30080);
        info.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 10800 };
        let eps = vec![Endpoint::ready([10, 180, 0, 1].into(), 8080), Endpoint::ready([10, 180, 0, 2].into(), 8080)];
        let svc = PreparedServicePort::new(info, eps, &cfg, None).unwrap();
        let d = render(&cfg, &[&svc], Scheduler::RoundRobin);
        assert!(d.ipvsadm.contains("-A -t 172.30.0.41:80 -s rr -p 10800\n"));
        assert!(d.ipvsadm.contains("-a -t 172.30.0.41:80 -r 10.180.0.1:8080 -m -w 1\n"));
        assert!(d.ipvsadm.contains("-A -t 192.168.0.2:30080 -s rr -p 10800\n"));
        assert!(d.ipset.contains("add KUBE-CLUSTER-IP 172.30.0.41,tcp:80 -exist\n"));
        assert!(d.ipset.contains("add KUBE-LOOP-BACK 10.180.0.2,tcp:8080,10.180.0.2 -exist\n"));
        assert!(d.ipset.contains("add KUBE-NODE-PORT-TCP 30080 -exist\n"));
        assert!(d.iptables.contains("! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"));
        assert_eq!(d.bind_addresses, vec![Ipv4Addr::new(172, 30, 0, 41)]);
        let st = crate::trace::IptablesState::parse(&d.iptables).unwrap();
        st.check_jumps().unwrap();
        assert_eq!(Scheduler::parse("lc").unwrap(), Scheduler::LeastConnection);
        assert!(Scheduler::parse("wat").is_err());
    }
}
