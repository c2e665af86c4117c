//! IPVS mode against the real kernel, inside a network namespace made by the test: the
//! agent's applier binds service addresses on `kube-ipvs0`, loads the ipsets and the iptables
//! rules that match them, and a second sync removes what is no longer needed.
//!
//! Needs root and `ip`, `ipset`, `iptables`, `iptables-restore`, `iptables-save`, `ipvsadm`
//! (Debian: iproute2, ipset, iptables, ipvsadm). A missing tool fails the test. The virtual
//! server table itself needs a kernel with `ip_vs`; on one without it (CONFIG_IP_VS unset, as on
//! the CI machine) the test checks that the agent refuses IPVS mode with a clear error instead.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;
mod netns;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use kproxy::agent::apply::ApplyError;
use kproxy::agent::ipvs::{
    apply_ipsets, apply_rules, apply_table, bind_addresses, check_ipvs, ensure_device, read_table,
};
use kproxy::agent::runner::{CommandRunner, SystemRunner};
use kproxy::ipvs::{DUMMY_DEVICE, IpvsDocuments, Scheduler};
use kproxy::model::{Protocol, ServicePortInfo, ServicePortName, SessionAffinity};
use kproxy::tracker::{Mode, Proxier};
use netns::{Netns, require_tools};

fn sync(p: &mut Proxier) -> IpvsDocuments {
    p.sync(Duration::ZERO).unwrap().ipvs.cloned().unwrap()
}

fn addresses(ns: &Netns) -> BTreeSet<Ipv4Addr> {
    kproxy::agent::ipvs::parse_addresses(&ns.run("ip", &["-o", "-4", "addr", "show", "dev", DUMMY_DEVICE]))
}

fn ipset_members(ns: &Netns, set: &str) -> BTreeSet<String> {
    let listed = ns.run("ipset", &["list", set]);
    let members = listed.split("Members:\n").nth(1).unwrap_or("");
    members.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Applies one sync as the agent does, except the virtual server table (which needs `ip_vs`).
fn apply_without_table(runner: &dyn CommandRunner, docs: &IpvsDocuments, full: bool) {
    let (_, stale) = bind_addresses(runner, docs).unwrap();
    apply_ipsets(runner, docs).unwrap();
    apply_rules(runner, docs, full).unwrap();
    for ip in stale {
        let out = runner.run("ip", &["addr", "del", &format!("{ip}/32"), "dev", DUMMY_DEVICE], None).unwrap();
        assert!(out.success(), "{out:?}");
    }
}

#[test]
fn ipvs_mode_binds_addresses_and_loads_ipsets_and_rules() {
    require_tools(&["ip", "ipset", "iptables", "iptables-restore", "iptables-save", "ipvsadm"]);
    let ns = Netns::new("ipvs");
    let runner = SystemRunner::in_netns(&ns.name);

    // kube-ipvs0 is a dummy device; kernels built without the dummy driver get a bridge of the
    // same name, which holds addresses the same way.
    if let Err(e) = ensure_device(&runner) {
        assert!(e.to_string().contains("Unknown device type"), "{e}");
        ns.ip(&["link", "add", DUMMY_DEVICE, "type", "bridge"]);
    }

    let mut p = Proxier::new(cfg(), Mode::Ipvs { scheduler: Scheduler::RoundRobin }).unwrap();
    for f in overall(true) {
        load(&mut p, &f);
    }
    let mut dns =
        ServicePortInfo::new(ServicePortName::new("kube-system", "dns", "dns"), Protocol::Udp, ip("172.30.0.10"), 53);
    dns.session_affinity = SessionAffinity::ClientIp { timeout_seconds: 300 };
    let dns_name = dns.name.service.clone();
    p.set_service(dns_name.clone(), vec![dns.clone()]).unwrap();
    set_endpoints(&mut p, &dns_name, "dns", &dns, &[ep("10.180.0.7", 53), ep("10.180.0.8", 53)]);
    let docs = sync(&mut p);
    apply_without_table(&runner, &docs, true);

    let want: BTreeSet<Ipv4Addr> = docs.bind_addresses.iter().copied().collect();
    assert!(want.contains(&ip("172.30.0.10")) && want.contains(&ip("192.168.99.33")) && want.contains(&ip("5.6.7.8")));
    assert_eq!(addresses(&ns), want);
    assert_eq!(
        ipset_members(&ns, "KUBE-CLUSTER-IP"),
        set_of(&[
            "172.30.0.10,udp:53",
            "172.30.0.41,tcp:80",
            "172.30.0.42,tcp:80",
            "172.30.0.43,tcp:80",
            "172.30.0.44,tcp:80",
            "172.30.0.45,tcp:80",
            "172.30.0.46,tcp:80",
        ])
    );
    assert_eq!(ipset_members(&ns, "KUBE-NODE-PORT-TCP"), set_of(&["3001", "3002", "3003"]));
    assert_eq!(ipset_members(&ns, "KUBE-LOAD-BALANCER-SOURCE-CIDR"), set_of(&["5.6.7.8,tcp:80,203.0.113.0/25"]));
    let saved = ns.run("iptables-save", &[]);
    // iptables-save puts the source match first.
    assert!(
        saved.contains("-A KUBE-SERVICES ! -s 10.0.0.0/8 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"),
        "{saved}"
    );
    assert!(saved.contains("-A PREROUTING -j KUBE-SERVICES"), "{saved}");

    // The second sync: svc4 (with its external IP) goes, the DNS service loses an endpoint.
    p.delete_service(&kproxy::model::NamespacedName::new("ns4", "svc4"));
    set_endpoints(&mut p, &dns_name, "dns", &dns, &[ep("10.180.0.8", 53)]);
    let next = sync(&mut p);
    apply_without_table(&runner, &next, true);
    let now = addresses(&ns);
    assert!(!now.contains(&ip("192.168.99.33")) && !now.contains(&ip("172.30.0.44")), "{now:?}");
    assert_eq!(now.len(), want.len() - 2);
    assert!(!ipset_members(&ns, "KUBE-CLUSTER-IP").contains("172.30.0.44,tcp:80"));
    assert_eq!(ipset_members(&ns, "KUBE-EXTERNAL-IP"), set_of(&["192.168.99.22,tcp:80"]));
    // Full syncs do not duplicate the jumps.
    let saved = ns.run("iptables-save", &[]);
    assert_eq!(saved.matches("-A PREROUTING -j KUBE-SERVICES").count(), 1, "{saved}");
    assert_eq!(saved.matches("-A FORWARD -j KUBE-FORWARD").count(), 1, "{saved}");

    match check_ipvs(&runner) {
        Ok(()) => {
            // The kernel has IPVS: the table is applied and read back, then diffed to the
            // second sync's.
            apply_table(&runner, &docs.table).unwrap();
            assert_eq!(read_table(&runner).unwrap(), docs.table);
            let changes = apply_table(&runner, &next.table).unwrap();
            assert!(changes > 0);
            assert_eq!(read_table(&runner).unwrap(), next.table);
            assert_eq!(apply_table(&runner, &next.table).unwrap(), 0);
        }
        Err(ApplyError::IpvsUnavailable(msg)) => {
            eprintln!("this kernel has no IPVS ({msg}): the virtual server table is covered by unit tests only");
            let e = kproxy::agent::ipvs::apply_ipvs(&runner, &next, false).unwrap_err();
            assert!(e.to_string().contains("ipvsadm"), "{e}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}
