//! Rule-count regression tests mirroring upstream's `TestNumberIptablesRules`: services
//! `svc<i>` with cluster IP 10.0.0.1+i, port 80+i, endpoints 172.16.0.1+j:8080; load balancers
//! also get nodePort 30000+i, external IP 1.2.3.4, LB IP 1.2.3.4 and a source range. Upstream
//! counts the `-A` lines of each table (its `natRules.Lines()` / `filterRules.Lines()`).

mod common;

use common::*;
use kproxy::iptables::count_rules;
use kproxy::model::Cidr;

fn generate(services: u32, eps: u32, lb: Option<Option<Vec<Cidr>>>) -> Vec<Fixture> {
    (0..services)
        .map(|i| {
            let mut info = port("namespace", &format!("svc{i}"), &ip_add("10.0.0.1", i), (80 + i) as u16);
            info.name.port = "8080".into();
            if let Some(ranges) = &lb {
                info.node_port = Some((30000 + i) as u16);
                info.external_ips = vec![ip("1.2.3.4")];
                info.load_balancer_ips = vec![ip("1.2.3.4")];
                info.load_balancer_source_ranges = ranges.clone();
            }
            let eps = (0..eps).map(|j| ep(&ip_add("172.16.0.1", j), 8080)).collect();
            Fixture { ports: vec![(info, eps)] }
        })
        .collect()
}

fn ip_add(base: &str, n: u32) -> String {
    std::net::Ipv4Addr::from(u32::from(ip(base)) + n).to_string()
}

fn counts(fixtures: &[Fixture]) -> (usize, usize) {
    let (doc, _) = full_iptables(cfg(), fixtures);
    count_rules(&doc)
}

#[test]
fn cluster_ip_rule_counts_match_upstream() {
    // (services, endpoints per service, filter rules, nat rules) from upstream's fixture.
    let cases = [
        (0, 0, 3, 5),
        (1, 0, 4, 5),
        (1, 1, 3, 10),
        (1, 2, 3, 13),
        (1, 10, 3, 37),
        (10, 0, 13, 5),
        (10, 1, 3, 55),
        (10, 2, 3, 85),
        (10, 10, 3, 325),
    ];
    for (s, e, filter, nat) in cases {
        assert_eq!(counts(&generate(s, e, None)), (filter, nat), "{s} services x {e} endpoints");
    }
}

/// Upstream's LoadBalancer fixture gives `loadBalancerSourceRanges: [" 1.2.3.4/28"]`. The
/// version that recorded the numbers created the `KUBE-FW` chain but wrote no accept rule for
/// the padded range, i.e. a firewall admitting no source. Modelled here as `Some(vec![])`
/// (fail closed), the counts match exactly.
#[test]
fn load_balancer_rule_counts_match_upstream_fixture() {
    let fw = Some(Some(vec![]));
    let cases = [
        (0, 0, 3, 5),
        (1, 0, 7, 5),
        (1, 1, 4, 16),
        (1, 2, 4, 19),
        (1, 10, 4, 43),
        (10, 0, 43, 5),
        (10, 1, 13, 115),
        (10, 2, 13, 145),
        (10, 10, 13, 385),
    ];
    for (s, e, filter, nat) in cases {
        assert_eq!(counts(&generate(s, e, fw.clone())), (filter, nat), "{s} services x {e} endpoints");
    }
}

/// With the range usable (current upstream trims the padding) each service gets one more nat
/// rule, the accept rule in its `KUBE-FW` chain: 10 x 10 gives 395 nat rules.
#[test]
fn load_balancer_rule_counts_with_usable_source_range() {
    let fw = Some(Some(vec![Cidr::parse(" 1.2.3.4/28").unwrap()]));
    assert_eq!(counts(&generate(1, 1, fw.clone())), (4, 17));
    assert_eq!(counts(&generate(10, 10, fw)), (13, 395));
    // Without source ranges there is no KUBE-FW chain and no KUBE-PROXY-FIREWALL rule.
    assert_eq!(counts(&generate(10, 10, Some(None))), (3, 375));
}

#[test]
fn counts_reported_by_renderer_match_document() {
    let fixtures = generate(10, 10, Some(Some(vec![])));
    let mut p = proxier(cfg(), kproxy::tracker::Mode::Iptables, &fixtures);
    let r = p.sync(std::time::Duration::ZERO).unwrap();
    let c = r.counts.unwrap();
    assert_eq!((c.filter_rules, c.nat_rules), count_rules(r.document));
}
