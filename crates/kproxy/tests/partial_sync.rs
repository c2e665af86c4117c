//! Change tracking: partial syncs rewrite only what changed, and applying them on top of the
//! previous state gives exactly what a fresh full sync would.

mod common;

use std::time::Duration;

use common::*;
use kproxy::model::{NamespacedName, Protocol, ServicePortInfo, ServicePortName};
use kproxy::trace::{IptablesState, NftState};
use kproxy::tracker::Mode;

fn many(n: u32) -> Vec<Fixture> {
    (0..n)
        .map(|i| {
            let mut info = port("ns", &format!("svc{i}"), &format!("172.30.1.{i}"), 80);
            if i % 2 == 0 {
                info.node_port = Some(30000 + i as u16);
            }
            Fixture { ports: vec![(info, vec![ep(&format!("10.1.{i}.1"), 8080), ep(&format!("10.1.{i}.2"), 8080)])] }
        })
        .collect()
}

fn svc_name(i: u32) -> NamespacedName {
    NamespacedName::new("ns", format!("svc{i}"))
}

#[test]
fn iptables_partial_sync_rewrites_only_changed_chains() {
    let fx = many(5);
    let mut p = proxier(cfg(), Mode::Iptables, &fx);
    let first = p.sync(Duration::ZERO).unwrap();
    assert!(first.full);
    let mut state = IptablesState::parse(first.document).unwrap();

    // Nothing changed: top-level chains only.
    let idle = p.sync(Duration::ZERO).unwrap();
    assert!(!idle.full);
    assert_eq!(idle.changed_services, 0);
    assert!(!idle.document.contains(":KUBE-SVC-"));
    assert!(!idle.document.contains(":KUBE-SEP-"));
    assert!(idle.document.contains(":KUBE-SERVICES - [0:0]\n"));
    assert!(idle.document.contains(":KUBE-EXTERNAL-SERVICES - [0:0]\n"));
    assert!(idle.document.contains(":KUBE-NODEPORTS - [0:0]\n"));
    state.apply(idle.document).unwrap();
    state.check_jumps().unwrap();

    // Replace one endpoint of svc2.
    let info = fx[2].ports[0].0.clone();
    set_endpoints(&mut p, &svc_name(2), "svc2-0", &info, &[ep("10.1.2.1", 8080), ep("10.1.2.9", 8080)]);
    let r = p.sync(Duration::ZERO).unwrap();
    assert!(!r.full);
    assert_eq!(r.changed_services, 1);
    let svc_chains: Vec<&str> = r.document.lines().filter(|l| l.starts_with(":KUBE-SVC-")).collect();
    assert_eq!(svc_chains.len(), 1, "{}", r.document);
    let deleted: Vec<&str> = r.document.lines().filter(|l| l.starts_with("-X ")).collect();
    assert_eq!(deleted.len(), 1, "the removed endpoint's KUBE-SEP chain is deleted");
    state.apply(r.document).unwrap();
    state.check_jumps().unwrap();

    // Equivalent to a fresh full sync of the same inputs.
    let mut fresh = proxier(cfg(), Mode::Iptables, &fx);
    set_endpoints(&mut fresh, &svc_name(2), "svc2-0", &info, &[ep("10.1.2.1", 8080), ep("10.1.2.9", 8080)]);
    let fresh_state = IptablesState::parse(fresh.sync(Duration::ZERO).unwrap().document).unwrap();
    assert_eq!(state, fresh_state);

    // Deleting a service deletes all its chains.
    p.delete_service(&svc_name(4));
    let r = p.sync(Duration::ZERO).unwrap();
    assert_eq!(
        r.document.lines().filter(|l| l.starts_with("-X ")).count(),
        4,
        "SVC, EXT and two SEP chains\n{}",
        r.document
    );
    state.apply(r.document).unwrap();
    state.check_jumps().unwrap();
    let mut fresh = proxier(cfg(), Mode::Iptables, &fx);
    set_endpoints(&mut fresh, &svc_name(2), "svc2-0", &info, &[ep("10.1.2.1", 8080), ep("10.1.2.9", 8080)]);
    fresh.delete_service(&svc_name(4));
    let fresh_state = IptablesState::parse(fresh.sync(Duration::ZERO).unwrap().document).unwrap();
    assert_eq!(state, fresh_state);

    // Forced full sync rewrites everything again.
    p.force_full_sync();
    let r = p.sync(Duration::ZERO).unwrap();
    assert!(r.full);
    assert_eq!(r.document.lines().filter(|l| l.starts_with(":KUBE-SVC-")).count(), 4);
}

#[test]
fn nftables_partial_sync_touches_only_changed_objects() {
    let fx = many(5);
    let mut p = proxier(cfg(), Mode::Nftables, &fx);
    let first = p.sync(Duration::ZERO).unwrap();
    let mut state = NftState::parse(first.document).unwrap();

    let idle = p.sync(Duration::from_millis(10)).unwrap();
    assert_eq!(
        idle.document,
        "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\nadd set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\nadd set ip kube-proxy nodeport-ips { type ipv4_addr ; comment \"IPs that accept NodePort traffic\" ; }\nadd map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }\nadd map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }\nadd map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }\nadd map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\nadd map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }\nadd chain ip kube-proxy cluster-ips-check\nadd chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }\nadd chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }\nadd chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }\nadd chain ip kube-proxy filter-input { type filter hook input priority 0 ; }\nadd chain ip kube-proxy filter-output { type filter hook output priority 0 ; }\nadd chain ip kube-proxy firewall-check\nadd chain ip kube-proxy mark-for-masquerade\nadd chain ip kube-proxy masquerading\nadd chain ip kube-proxy nat-output { type nat hook output priority -100 ; }\nadd chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }\nadd chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }\nadd chain ip kube-proxy nodeport-endpoints-check\nadd chain ip kube-proxy reject-chain { comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\" ; }\nadd chain ip kube-proxy services\nadd chain ip kube-proxy service-endpoints-check\n"
    );
    state.apply(idle.document).unwrap();

    // Endpoint replaced and a NodePort removed on svc2.
    let mut info = fx[2].ports[0].0.clone();
    info.node_port = None;
    p.set_service(svc_name(2), vec![info.clone()]).unwrap();
    set_endpoints(&mut p, &svc_name(2), "svc2-0", &info, &[ep("10.1.2.1", 8080), ep("10.1.2.9", 8080)]);
    let r = p.sync(Duration::from_millis(20)).unwrap();
    let doc = r.document.to_string();
    assert!(!doc.contains("svc1/") && !doc.contains("svc3/"), "unchanged services untouched:\n{doc}");
    assert!(doc.contains("delete element ip kube-proxy service-nodeports { tcp . 30002 }\n"), "{doc}");
    assert!(doc.contains("flush chain ip kube-proxy endpoint-"), "stale endpoint chain flushed");
    assert!(doc.contains("flush chain ip kube-proxy external-"), "stale external chain flushed");
    assert!(!doc.contains("delete chain"), "deletion waits a second");
    assert!(!doc.contains("add element ip kube-proxy service-ips { 172.30.1.2 "), "unchanged element not re-added");
    state.apply(&doc).unwrap();
    state.check_jumps().unwrap();
    assert_eq!(p.pending_chain_deletions(), 2);

    // Not yet a second later: still pending. Then deleted.
    let r = p.sync(Duration::from_millis(500)).unwrap();
    assert!(!r.document.contains("delete chain"));
    let r = p.sync(Duration::from_millis(1100)).unwrap();
    let doc = r.document.to_string();
    assert_eq!(doc.matches("delete chain").count(), 2, "{doc}");
    state.apply(&doc).unwrap();
    state.check_jumps().unwrap();

    let mut fresh = proxier(cfg(), Mode::Nftables, &fx);
    fresh.set_service(svc_name(2), vec![info.clone()]).unwrap();
    set_endpoints(&mut fresh, &svc_name(2), "svc2-0", &info, &[ep("10.1.2.1", 8080), ep("10.1.2.9", 8080)]);
    let fresh_state = NftState::parse(fresh.sync(Duration::ZERO).unwrap().document).unwrap();
    assert_eq!(state, fresh_state);

    // Service removal: elements deleted at once, chains flushed then deleted.
    p.delete_service(&svc_name(0));
    let r = p.sync(Duration::from_secs(5)).unwrap();
    state.apply(r.document).unwrap();
    let r = p.sync(Duration::from_secs(7)).unwrap();
    state.apply(r.document).unwrap();
    fresh.delete_service(&svc_name(0));
    let r = fresh.sync(Duration::from_secs(5)).unwrap();
    let mut fresh_state2 = fresh_state.clone();
    fresh_state2.apply(r.document).unwrap();
    let r = fresh.sync(Duration::from_secs(7)).unwrap();
    fresh_state2.apply(r.document).unwrap();
    assert_eq!(state, fresh_state2);
    assert!(state.chain_names().iter().all(|c| !c.contains("/svc0/")));
}

#[test]
fn affinity_sets_are_deleted_with_their_chains() {
    let mut info = port("ns", "svc", "172.30.1.1", 80);
    info.session_affinity = kproxy::model::SessionAffinity::ClientIp { timeout_seconds: 60 };
    let fx = [Fixture { ports: vec![(info.clone(), vec![ep("10.1.0.1", 80), ep("10.1.0.2", 80)])] }];
    let mut p = proxier(cfg(), Mode::Nftables, &fx);
    let mut state = NftState::parse(p.sync(Duration::ZERO).unwrap().document).unwrap();
    set_endpoints(&mut p, &NamespacedName::new("ns", "svc"), "svc-0", &info, &[ep("10.1.0.1", 80)]);
    state.apply(p.sync(Duration::ZERO).unwrap().document).unwrap();
    let r = p.sync(Duration::from_secs(2)).unwrap();
    assert!(r.document.contains("delete set ip kube-proxy affinity-"), "{}", r.document);
    state.apply(r.document).unwrap();
    state.check_jumps().unwrap();
}

#[test]
fn udp_conntrack_cleanup_is_reported() {
    let info =
        ServicePortInfo::new(ServicePortName::new("kube-system", "dns", "dns"), Protocol::Udp, ip("172.30.0.10"), 53);
    let name = info.name.service.clone();
    let mut p = kproxy::tracker::Proxier::new(cfg(), Mode::Iptables).unwrap();
    p.set_service(name.clone(), vec![info.clone()]).unwrap();
    let r = p.sync(Duration::ZERO).unwrap();
    assert!(r.conntrack.newly_reachable.is_empty());
    set_endpoints(&mut p, &name, "dns-a", &info, &[ep("10.1.0.1", 53), ep("10.1.0.2", 53)]);
    let r = p.sync(Duration::ZERO).unwrap();
    assert_eq!(r.conntrack.newly_reachable.len(), 1, "service went from REJECT to endpoints");
    assert_eq!(r.conntrack.newly_reachable[0].ips, vec![ip("172.30.0.10")]);
    set_endpoints(&mut p, &name, "dns-a", &info, &[ep("10.1.0.2", 53)]);
    let r = p.sync(Duration::ZERO).unwrap();
    assert_eq!(r.conntrack.stale_endpoints.len(), 1);
    assert_eq!(r.conntrack.stale_endpoints[0].endpoint_ip, ip("10.1.0.1"));
    assert_eq!(r.conntrack.stale_endpoints[0].target.port, 53);
    assert!(r.conntrack.newly_reachable.is_empty());
    // TCP services never produce conntrack work.
    let mut p = proxier(cfg(), Mode::Iptables, &many(1));
    p.sync(Duration::ZERO).unwrap();
    p.delete_service(&svc_name(0));
    assert!(p.sync(Duration::ZERO).unwrap().conntrack.stale_endpoints.is_empty());
}

#[test]
fn kubernetes_objects_drive_the_tracker() {
    use kapi::k8s::api::core::v1::{Service, ServicePort, ServiceSpec};
    use kapi::k8s::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    let svc = Service {
        metadata: ObjectMeta { namespace: Some("ns1".into()), name: Some("svc1".into()), ..Default::default() },
        spec: Some(ServiceSpec {
            cluster_ip: Some("172.30.0.41".into()),
            ports: Some(vec![ServicePort { name: Some("p80".into()), port: 80, ..Default::default() }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let slice = EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("ns1".into()),
            name: Some("svc1-abcde".into()),
            labels: Some([("kubernetes.io/service-name".to_string(), "svc1".to_string())].into()),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints: vec![Endpoint { addresses: vec!["10.180.0.1".into()], ..Default::default() }],
        ports: Some(vec![EndpointPort { name: Some("p80".into()), port: Some(80), ..Default::default() }]),
    };
    let mut p = kproxy::tracker::Proxier::new(cfg(), Mode::Iptables).unwrap();
    assert!(p.update_service(&svc).unwrap().is_empty());
    p.update_endpoint_slice(&slice).unwrap();
    let doc = p.sync(Duration::ZERO).unwrap().document.to_string();
    assert!(doc.contains("-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -j KUBE-SEP-SXIVWICOYRO3J4NJ\n"));
    p.delete_endpoint_slice(&slice);
    let doc = p.sync(Duration::ZERO).unwrap().document.to_string();
    assert!(doc.contains("\"ns1/svc1:p80 has no endpoints\""));
    assert!(doc.contains("-X KUBE-SEP-SXIVWICOYRO3J4NJ\n"));
}
