//! Rendering of `nft -f` transactions for table `ip kube-proxy`, following upstream's nftables
//! mode layout: base chains hooked at fixed priorities, dispatch through verdict maps
//! (`service-ips`, `service-nodeports`, `no-endpoint-services`, `no-endpoint-nodeports`,
//! `firewall-ips`), sets `cluster-ips` and `nodeport-ips`, and per-service chains
//! `service-`, `local-`, `external-`, `firewall-`, `endpoint-` named from hashed bases.
//!
//! The functions here render pieces; [`crate::tracker::Proxier`] composes them into full or
//! partial transactions, and [`render_full`] renders a complete one.

use crate::model::{ProxyConfig, SessionAffinity};
use crate::prep::{PreparedServicePort, push_u32};

/// The table name.
pub const TABLE: &str = "kube-proxy";
/// Family and table, as written after a verb (`add rule ip kube-proxy …`).
pub const FAMILY_TABLE: &str = "ip kube-proxy";

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NftError {
    /// A name that nftables would reject (too long).
    #[error("nftables name {0:?} is longer than 256 bytes")]
    NameTooLong(String),
}

/// Checks that every object name of a service port fits nftables' limit.
pub fn check_names(svc: &PreparedServicePort) -> Result<(), NftError> {
    for c in service_chains(svc) {
        if c.len() > 256 {
            return Err(NftError::NameTooLong(c));
        }
    }
    Ok(())
}

/// Base chains (name, definition suffix) in the order they are declared.
pub const BASE_CHAINS: &[(&str, &str)] = &[
    ("cluster-ips-check", ""),
    ("filter-prerouting-pre-dnat", " { type filter hook prerouting priority -110 ; }"),
    ("filter-output-pre-dnat", " { type filter hook output priority -110 ; }"),
    ("filter-forward", " { type filter hook forward priority 0 ; }"),
    ("filter-input", " { type filter hook input priority 0 ; }"),
    ("filter-output", " { type filter hook output priority 0 ; }"),
    ("firewall-check", ""),
    ("mark-for-masquerade", ""),
    ("masquerading", ""),
    ("nat-output", " { type nat hook output priority -100 ; }"),
    ("nat-postrouting", " { type nat hook postrouting priority 100 ; }"),
    ("nat-prerouting", " { type nat hook prerouting priority -100 ; }"),
    ("nodeport-endpoints-check", ""),
    ("reject-chain", " { comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\" ; }"),
    ("services", ""),
    ("service-endpoints-check", ""),
];

/// Sets and verdict maps (kind, name, definition).
pub const BASE_SETS: &[(&str, &str, &str)] = &[
    ("set", "cluster-ips", "{ type ipv4_addr ; comment \"Active ClusterIPs\" ; }"),
    ("set", "nodeport-ips", "{ type ipv4_addr ; comment \"IPs that accept NodePort traffic\" ; }"),
    (
        "map",
        "firewall-ips",
        "{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"destinations that are subject to LoadBalancerSourceRanges\" ; }",
    ),
    (
        "map",
        "no-endpoint-nodeports",
        "{ type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }",
    ),
    (
        "map",
        "no-endpoint-services",
        "{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }",
    ),
    (
        "map",
        "service-ips",
        "{ type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }",
    ),
    ("map", "service-nodeports", "{ type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }"),
];

macro_rules! put {
    ($buf:expr, $($part:expr),+ $(,)?) => {{
        $( $buf.push_str($part); )+
    }};
}

/// Writes the table, sets, maps, base chains and their rules. With `flush`, every base chain,
/// set and map is flushed first (full sync), so their contents are exactly what follows.
pub fn render_base(cfg: &ProxyConfig, flush: bool, out: &mut String) {
    put!(out, "add table ", FAMILY_TABLE, " { comment \"rules for kube-proxy\" ; }\n");
    for (kind, name, def) in BASE_SETS {
        put!(out, "add ", kind, " ", FAMILY_TABLE, " ", name, " ", def, "\n");
        if flush {
            put!(out, "flush ", kind, " ", FAMILY_TABLE, " ", name, "\n");
        }
    }
    for (name, def) in BASE_CHAINS {
        put!(out, "add chain ", FAMILY_TABLE, " ", name, def, "\n");
        if flush {
            put!(out, "flush chain ", FAMILY_TABLE, " ", name, "\n");
        }
    }
    if !flush {
        // Base rules are only (re)written on full syncs; partial syncs leave them alone.
        return;
    }
    let mark = cfg.masquerade_mark_hex();
    let r =
        |out: &mut String, chain: &str, body: &str| put!(out, "add rule ", FAMILY_TABLE, " ", chain, " ", body, "\n");
    r(
        out,
        "cluster-ips-check",
        "ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"",
    );
    if !cfg.service_cidrs.is_empty() {
        let cidrs: Vec<String> = cfg.service_cidrs.iter().map(|c| c.to_string()).collect();
        let body =
            format!("ip daddr {{ {} }} drop comment \"Drop traffic to unallocated ClusterIPs\"", cidrs.join(" , "));
        r(out, "cluster-ips-check", &body);
    }
    r(out, "filter-prerouting-pre-dnat", "ct state new jump firewall-check");
    r(out, "filter-forward", "ct state new jump service-endpoints-check");
    r(out, "filter-forward", "ct state new jump cluster-ips-check");
    r(out, "filter-input", "ct state new jump nodeport-endpoints-check");
    r(out, "filter-input", "ct state new jump service-endpoints-check");
    r(out, "filter-output", "ct state new jump service-endpoints-check");
    r(out, "filter-output-pre-dnat", "ct state new jump firewall-check");
    r(out, "filter-output", "ct state new jump cluster-ips-check");
    r(out, "firewall-check", "ip daddr . meta l4proto . th dport vmap @firewall-ips");
    r(out, "mark-for-masquerade", &format!("mark set mark or {mark}"));
    r(out, "masquerading", &format!("mark and {mark} == 0 return"));
    r(out, "masquerading", &format!("mark set mark xor {mark}"));
    r(out, "masquerading", if cfg.random_fully { "masquerade fully-random" } else { "masquerade" });
    r(out, "nat-output", "jump services");
    r(out, "nat-postrouting", "jump masquerading");
    r(out, "nat-prerouting", "jump services");
    r(out, "nodeport-endpoints-check", "ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports");
    r(out, "reject-chain", "reject");
    r(out, "services", "ip daddr . meta l4proto . th dport vmap @service-ips");
    r(out, "services", "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports");
    r(out, "service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services");
    for ip in &cfg.node_ips {
        put!(out, "add element ", FAMILY_TABLE, " nodeport-ips { ", &ip.to_string(), " }\n");
    }
}

/// One element of a set or verdict map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NftElement {
    /// Set or map name.
    pub set: &'static str,
    /// Key text, e.g. `172.30.0.41 . tcp . 80`.
    pub key: String,
    /// Text after the key (optional `comment "…"`, then ` : verdict` for maps); empty for sets.
    pub value: String,
}

/// Appends `add element … { key value }`.
pub fn push_add_element(out: &mut String, e: &NftElement) {
    put!(out, "add element ", FAMILY_TABLE, " ", e.set, " { ", &e.key, &e.value, " }\n");
}

/// Appends `delete element … { key }`.
pub fn push_delete_element(out: &mut String, e: &NftElement) {
    put!(out, "delete element ", FAMILY_TABLE, " ", e.set, " { ", &e.key, " }\n");
}

fn chain_of(prefix: &str, base: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + base.len());
    s.push_str(prefix);
    s.push_str(base);
    s
}

/// The set and map elements a service port contributes.
pub fn service_elements(svc: &PreparedServicePort) -> Vec<NftElement> {
    let plan = svc.plan;
    let p = svc.info.protocol.as_lower();
    let mut v = Vec::with_capacity(4);
    let key = |ip: &str, port: &str| {
        let mut k = String::with_capacity(ip.len() + port.len() + 12);
        put!(k, ip, " . ", p, " . ", port);
        k
    };
    let goto = |prefix: &str| {
        let mut s = String::with_capacity(svc.nft_base.len() + 20);
        put!(s, " : goto ", prefix, &svc.nft_base);
        s
    };
    let no_ep = |target_drop: bool| {
        let mut s = String::with_capacity(svc.name_string.len() + 40);
        put!(s, " comment \"", &svc.name_string, "\" : ", if target_drop { "drop" } else { "goto reject-chain" });
        s
    };
    let drop_not_reject = plan.has_endpoints;
    v.push(NftElement { set: "cluster-ips", key: svc.cluster_ip.clone(), value: String::new() });
    let internal_prefix = if svc.info.internal_policy_local() { "local-" } else { "service-" };
    if plan.has_internal_endpoints {
        v.push(NftElement { set: "service-ips", key: key(&svc.cluster_ip, &svc.port), value: goto(internal_prefix) });
    } else {
        v.push(NftElement {
            set: "no-endpoint-services",
            key: key(&svc.cluster_ip, &svc.port),
            value: no_ep(drop_not_reject),
        });
    }
    for ip in svc.info.external_ips.iter().chain(svc.info.load_balancer_ips.iter()) {
        let ip = ip.to_string();
        if plan.has_endpoints {
            v.push(NftElement { set: "service-ips", key: key(&ip, &svc.port), value: goto("external-") });
        }
        if !plan.has_external_endpoints {
            v.push(NftElement { set: "no-endpoint-services", key: key(&ip, &svc.port), value: no_ep(drop_not_reject) });
        }
    }
    if plan.uses_firewall_chain {
        for ip in &svc.info.load_balancer_ips {
            v.push(NftElement { set: "firewall-ips", key: key(&ip.to_string(), &svc.port), value: goto("firewall-") });
        }
    }
    if svc.info.node_port.is_some() {
        let mut k = String::with_capacity(12);
        put!(k, p, " . ", &svc.node_port);
        if plan.has_endpoints {
            v.push(NftElement { set: "service-nodeports", key: k.clone(), value: goto("external-") });
        }
        if !plan.has_external_endpoints {
            v.push(NftElement { set: "no-endpoint-nodeports", key: k, value: no_ep(drop_not_reject) });
        }
    }
    v
}

/// Names of the chains a service port owns in its current plan.
pub fn service_chains(svc: &PreparedServicePort) -> Vec<String> {
    let plan = svc.plan;
    let mut v = Vec::with_capacity(4 + svc.selection.reachable.len());
    if plan.uses_cluster_chain {
        v.push(chain_of("service-", &svc.nft_base));
    }
    if plan.uses_local_chain {
        v.push(chain_of("local-", &svc.nft_base));
    }
    if plan.uses_external_chain {
        v.push(chain_of("external-", &svc.nft_base));
    }
    if plan.uses_firewall_chain {
        v.push(chain_of("firewall-", &svc.nft_base));
    }
    for &i in &svc.selection.reachable {
        v.push(chain_of("endpoint-", &svc.endpoints[i].nft_base));
    }
    v
}

/// Names of the affinity sets a service port owns (ClientIP affinity only).
pub fn service_sets(svc: &PreparedServicePort) -> Vec<String> {
    if !matches!(svc.info.session_affinity, SessionAffinity::ClientIp { .. }) {
        return Vec::new();
    }
    svc.selection.reachable.iter().map(|&i| chain_of("affinity-", &svc.endpoints[i].nft_base)).collect()
}

/// Writes a service port's chains and their rules. `existed(name)` tells whether a chain
/// already exists in the kernel; such chains are flushed before being refilled.
///
/// `cluster_cidr` is the configured pod CIDR as text (computed once per sync); `existed`
/// `None` means "flush every chain" (full sync).
pub fn render_service(
    cfg: &ProxyConfig,
    svc: &PreparedServicePort,
    cluster_cidr: Option<&str>,
    existed: Option<&dyn Fn(&str) -> bool>,
    out: &mut String,
) {
    let plan = svc.plan;
    let base = svc.nft_base.as_str();
    let p = svc.info.protocol.as_lower();
    let affinity = match svc.info.session_affinity {
        SessionAffinity::ClientIp { timeout_seconds } => Some(timeout_seconds),
        SessionAffinity::None => None,
    };
    let chain_decl = |out: &mut String, prefix: &str, b: &str| {
        put!(out, "add chain ", FAMILY_TABLE, " ", prefix, b, "\n");
        let flush = match existed {
            None => true,
            Some(f) => {
                let mut name = String::with_capacity(prefix.len() + b.len());
                put!(name, prefix, b);
                f(&name)
            }
        };
        if flush {
            put!(out, "flush chain ", FAMILY_TABLE, " ", prefix, b, "\n");
        }
    };
    let rule = |out: &mut String, prefix: &str, b: &str| put!(out, "add rule ", FAMILY_TABLE, " ", prefix, b, " ");

    // Declarations first: rules may only reference existing chains and sets.
    if let Some(timeout) = affinity {
        let mut t = String::with_capacity(10);
        push_u32(&mut t, timeout);
        for &i in &svc.selection.reachable {
            put!(
                out,
                "add set ",
                FAMILY_TABLE,
                " affinity-",
                &svc.endpoints[i].nft_base,
                " { type ipv4_addr ; flags dynamic,timeout ; timeout ",
                &t,
                "s ; }\n"
            );
        }
    }
    if plan.uses_cluster_chain {
        chain_decl(out, "service-", base);
    }
    if plan.uses_local_chain {
        chain_decl(out, "local-", base);
    }
    if plan.uses_external_chain {
        chain_decl(out, "external-", base);
    }
    if plan.uses_firewall_chain {
        chain_decl(out, "firewall-", base);
    }
    for &i in &svc.selection.reachable {
        chain_decl(out, "endpoint-", &svc.endpoints[i].nft_base);
    }

    let cidr = cluster_cidr;
    let internal_prefix = if svc.info.internal_policy_local() { "local-" } else { "service-" };
    let write_policy_chain = |out: &mut String, prefix: &str, eps: &[usize]| {
        if prefix == internal_prefix && plan.has_internal_endpoints {
            if cfg.masquerade_all {
                rule(out, prefix, base);
                put!(out, "ip daddr ", &svc.cluster_ip, " jump mark-for-masquerade\n");
            } else if let Some(c) = cidr {
                rule(out, prefix, base);
                put!(out, "ip daddr ", &svc.cluster_ip, " ip saddr != ", c, " jump mark-for-masquerade\n");
            }
        }
        if affinity.is_some() {
            for &i in eps {
                let eb = &svc.endpoints[i].nft_base;
                rule(out, prefix, base);
                put!(out, "ip saddr @affinity-", eb, " goto endpoint-", eb, "\n");
            }
        }
        rule(out, prefix, base);
        out.push_str("numgen random mod ");
        push_u32(out, eps.len() as u32);
        out.push_str(" vmap {");
        for (k, &i) in eps.iter().enumerate() {
            if k > 0 {
                out.push_str(" ,");
            }
            out.push(' ');
            push_u32(out, k as u32);
            put!(out, " : goto endpoint-", &svc.endpoints[i].nft_base);
        }
        out.push_str(" }\n");
    };
    if plan.uses_cluster_chain {
        write_policy_chain(out, "service-", &svc.selection.cluster);
    }
    if plan.uses_local_chain {
        write_policy_chain(out, "local-", &svc.selection.local);
    }
    if plan.uses_external_chain {
        if !svc.info.external_policy_local() {
            rule(out, "external-", base);
            out.push_str("jump mark-for-masquerade\n");
        } else {
            if let (Some(c), true) = (cidr, plan.uses_cluster_chain) {
                rule(out, "external-", base);
                put!(out, "ip saddr ", c, " goto service-", base, " comment \"short-circuit pod traffic\"\n");
            }
            rule(out, "external-", base);
            out.push_str("fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"\n");
            if plan.uses_cluster_chain {
                rule(out, "external-", base);
                put!(out, "fib saddr type local goto service-", base, " comment \"short-circuit local traffic\"\n");
            }
        }
        if plan.has_external_endpoints {
            rule(out, "external-", base);
            let target = if svc.info.external_policy_local() { "local-" } else { "service-" };
            put!(out, "goto ", target, base, "\n");
        }
    }
    for &i in &svc.selection.reachable {
        let ep = &svc.endpoints[i];
        rule(out, "endpoint-", &ep.nft_base);
        put!(out, "ip saddr ", &ep.ip, " jump mark-for-masquerade\n");
        if affinity.is_some() {
            rule(out, "endpoint-", &ep.nft_base);
            put!(out, "update @affinity-", &ep.nft_base, " { ip saddr }\n");
        }
        rule(out, "endpoint-", &ep.nft_base);
        put!(out, "meta l4proto ", p, " dnat to ", &ep.ip_port, "\n");
    }
    if plan.uses_firewall_chain {
        rule(out, "firewall-", base);
        let ranges = svc.info.load_balancer_source_ranges.as_deref().unwrap_or(&[]);
        if ranges.is_empty() {
            out.push_str("drop\n");
        } else {
            out.push_str("ip saddr != {");
            let mut first = true;
            let mut sep = |out: &mut String| {
                out.push_str(if first { " " } else { " , " });
                first = false;
            };
            let mut allow_from_node = false;
            for c in ranges {
                sep(out);
                out.push_str(&c.to_string());
                allow_from_node |= cfg.node_ips.iter().any(|ip| c.contains(*ip));
            }
            if allow_from_node {
                for ip in &svc.info.load_balancer_ips {
                    sep(out);
                    out.push_str(&ip.to_string());
                }
            }
            out.push_str(" } drop\n");
        }
    }
}

/// Renders a complete (full-sync) transaction for `services` into `out` (cleared first):
/// base objects flushed and refilled, every service chain declared, flushed and filled, every
/// element re-added. `stale` lists chains to flush (they are deleted by a later transaction).
pub fn render_full(cfg: &ProxyConfig, services: &[&PreparedServicePort], out: &mut String) {
    out.clear();
    render_base(cfg, true, out);
    let cidr = cfg.cluster_cidr.map(|c| c.to_string());
    for svc in services {
        render_service(cfg, svc, cidr.as_deref(), None, out);
    }
    for svc in services {
        for e in service_elements(svc) {
            push_add_element(out, &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_has_dispatch_rules() {
        let mut cfg = ProxyConfig::new("n");
        cfg.node_ips = vec![[192, 168, 0, 2].into()];
        let mut s = String::new();
        render_base(&cfg, true, &mut s);
        assert!(s.contains("add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\n"));
        assert!(s.contains("add element ip kube-proxy nodeport-ips { 192.168.0.2 }\n"));
        assert!(s.contains("flush map ip kube-proxy service-ips\n"));
        let mut p = String::new();
        render_base(&cfg, false, &mut p);
        assert!(!p.contains("add rule"));
    }
}
