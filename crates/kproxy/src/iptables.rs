//! Rendering of an `iptables-restore` document (`*filter … COMMIT` then `*nat … COMMIT`) in
//! kube-proxy's chain structure.
//!
//! The document is meant for `iptables-restore --noflush --counters`: every chain it names is
//! flushed (`:CHAIN - [0:0]`) and refilled, chains it does not name are left alone. The jumps
//! from the built-in chains (`PREROUTING`, `OUTPUT`, `POSTROUTING`, `INPUT`, `FORWARD`) into
//! `KUBE-*` chains are not part of the document; [`jump_rules`] lists them for the agent to
//! ensure separately, as upstream does with `iptables -C/-I`.

use std::collections::HashSet;

use crate::model::{NamespacedName, ProxyConfig, SessionAffinity};
use crate::prep::{CachedRules, PreparedServicePort, push_u32};

/// nat/filter chain: service dispatch.
pub const KUBE_SERVICES: &str = "KUBE-SERVICES";
/// filter chain: external traffic without (local) endpoints.
pub const KUBE_EXTERNAL_SERVICES: &str = "KUBE-EXTERNAL-SERVICES";
/// filter chain: forwarding accept rules.
pub const KUBE_FORWARD: &str = "KUBE-FORWARD";
/// nat/filter chain: NodePorts and health-check NodePorts.
pub const KUBE_NODEPORTS: &str = "KUBE-NODEPORTS";
/// nat chain: masquerade marked traffic.
pub const KUBE_POSTROUTING: &str = "KUBE-POSTROUTING";
/// nat chain: set the masquerade mark.
pub const KUBE_MARK_MASQ: &str = "KUBE-MARK-MASQ";
/// filter chain: drop load-balancer traffic not accepted by `KUBE-FW-*`.
pub const KUBE_PROXY_FIREWALL: &str = "KUBE-PROXY-FIREWALL";
/// Canary chain (mangle, nat, filter): if it disappears the agent must force a full sync.
pub const KUBE_PROXY_CANARY: &str = "KUBE-PROXY-CANARY";

/// Above this many endpoints, per-endpoint comments are dropped (upstream's large-cluster mode).
pub const LARGE_CLUSTER_ENDPOINTS: usize = 1000;

const NODEPORTS_COMMENT: &str = "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\"";

/// Errors of this module (rendering itself cannot fail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IptablesError {
    /// A chain name longer than iptables' 28-character limit.
    #[error("chain name {0:?} exceeds 28 characters")]
    ChainNameTooLong(String),
}

/// A jump from a built-in chain that the agent must ensure outside the restore document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JumpRule {
    /// `filter` or `nat`.
    pub table: &'static str,
    /// Built-in source chain.
    pub from: &'static str,
    /// Arguments before `-j` (match and comment).
    pub args: &'static str,
    /// Target chain.
    pub to: &'static str,
}

/// The jumps kube-proxy inserts at the top of the built-in chains.
pub fn jump_rules() -> &'static [JumpRule] {
    const NEW: &str = "-m conntrack --ctstate NEW";
    &[
        JumpRule { table: "filter", from: "INPUT", args: NEW, to: KUBE_EXTERNAL_SERVICES },
        JumpRule { table: "filter", from: "FORWARD", args: NEW, to: KUBE_EXTERNAL_SERVICES },
        JumpRule { table: "filter", from: "INPUT", args: "", to: KUBE_NODEPORTS },
        JumpRule { table: "filter", from: "FORWARD", args: NEW, to: KUBE_SERVICES },
        JumpRule { table: "filter", from: "OUTPUT", args: NEW, to: KUBE_SERVICES },
        JumpRule { table: "filter", from: "FORWARD", args: "", to: KUBE_FORWARD },
        JumpRule { table: "filter", from: "INPUT", args: NEW, to: KUBE_PROXY_FIREWALL },
        JumpRule { table: "filter", from: "OUTPUT", args: NEW, to: KUBE_PROXY_FIREWALL },
        JumpRule { table: "filter", from: "FORWARD", args: NEW, to: KUBE_PROXY_FIREWALL },
        JumpRule { table: "nat", from: "OUTPUT", args: "", to: KUBE_SERVICES },
        JumpRule { table: "nat", from: "PREROUTING", args: "", to: KUBE_SERVICES },
        JumpRule { table: "nat", from: "POSTROUTING", args: "", to: KUBE_POSTROUTING },
    ]
}

/// Checks that every chain a service port would create fits iptables' name limit.
pub fn check_chain_names(svc: &PreparedServicePort) -> Result<(), IptablesError> {
    for c in svc.iptables_chains() {
        if c.len() > 28 {
            return Err(IptablesError::ChainNameTooLong(c.to_string()));
        }
    }
    Ok(())
}

/// Rule and chain counts of one render, as upstream counts them (`-A` lines per table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuleCounts {
    /// `-A` lines in `*filter`.
    pub filter_rules: usize,
    /// `-A` lines in `*nat`.
    pub nat_rules: usize,
    /// Chain lines in `*filter`.
    pub filter_chains: usize,
    /// Chain lines in `*nat` (including flushed stale chains).
    pub nat_chains: usize,
    /// `-X` lines (stale chains deleted).
    pub deleted_chains: usize,
    /// Service ports whose own chains were skipped (partial sync).
    pub skipped_services: usize,
}

/// Which services get their per-service chains rewritten.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every service (full sync).
    Full,
    /// Only services in the set; the others' `KUBE-SVC/SVL/EXT/FW/SEP` chains are left as they are.
    Partial(&'a HashSet<NamespacedName>),
    /// Like `Partial`, given as one flag per entry of the `services` slice.
    Mask(&'a [bool]),
}

impl Scope<'_> {
    fn includes(&self, index: usize, name: &NamespacedName) -> bool {
        match self {
            Scope::Full => true,
            Scope::Partial(set) => set.contains(name),
            Scope::Mask(m) => m.get(index).copied().unwrap_or(true),
        }
    }
}

struct Buf {
    s: String,
    lines: usize,
}

impl Buf {
    fn new() -> Self {
        Buf { s: String::new(), lines: 0 }
    }
    fn reset(&mut self) {
        self.s.clear();
        self.lines = 0;
    }
}

macro_rules! put {
    ($buf:expr, $($part:expr),+ $(,)?) => {{
        $( $buf.push_str($part); )+
    }};
}

/// Appends a rule (`-A …\n`) to `$buf` and counts it.
macro_rules! rule {
    ($buf:expr, $($part:expr),+ $(,)?) => {{
        let b: &mut Buf = &mut *$buf;
        b.s.push_str("-A ");
        $( b.s.push_str($part); )+
        b.s.push('\n');
        b.lines += 1;
    }};
}

/// Appends a chain line (`:NAME - [0:0]\n`), which creates or flushes the chain.
fn chain_line(buf: &mut Buf, name: &str) {
    put!(buf.s, ":", name, " - [0:0]\n");
    buf.lines += 1;
}

/// Renders iptables documents, reusing its buffers and probability strings across calls.
#[derive(Default)]
pub struct IptablesRenderer {
    probabilities: Vec<String>,
    filter_chains: Option<Buf>,
    filter_rules: Option<Buf>,
    nat_chains: Option<Buf>,
    nat_rules: Option<Buf>,
}

impl std::fmt::Debug for IptablesRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IptablesRenderer").field("cached_probabilities", &self.probabilities.len()).finish()
    }
}

/// `1/n` formatted like Go's `%0.10f`.
pub fn probability(n: usize) -> String {
    format!("{:.10}", 1.0 / n as f64)
}

impl IptablesRenderer {
    /// A renderer with empty caches.
    pub fn new() -> Self {
        Self::default()
    }

    fn probability(&mut self, n: usize) -> &str {
        while self.probabilities.len() <= n {
            let k = self.probabilities.len();
            self.probabilities.push(if k == 0 { String::new() } else { probability(k) });
        }
        &self.probabilities[n]
    }

    /// Renders the document for `services` into `out` (cleared first).
    ///
    /// `services` should be sorted for deterministic output. `stale_chains` are NAT chains to
    /// flush and delete (`-X`), e.g. chains of removed services. Under [`Scope::Partial`] the
    /// top-level chains are still fully rewritten but per-service chains only for the listed
    /// services.
    pub fn render(
        &mut self,
        cfg: &ProxyConfig,
        services: &[&PreparedServicePort],
        scope: Scope<'_>,
        stale_chains: &[String],
        out: &mut String,
    ) -> RuleCounts {
        let mut fc_o = self.filter_chains.take().unwrap_or_else(Buf::new);
        let mut fr_o = self.filter_rules.take().unwrap_or_else(Buf::new);
        let mut nc_o = self.nat_chains.take().unwrap_or_else(Buf::new);
        let mut nr_o = self.nat_rules.take().unwrap_or_else(Buf::new);
        let (fc, fr, nc, nr) = (&mut fc_o, &mut fr_o, &mut nc_o, &mut nr_o);
        for b in [&mut *fc, &mut *fr, &mut *nc, &mut *nr] {
            b.reset();
        }
        let mark = cfg.masquerade_mark_hex();
        let mut mark_mask = String::with_capacity(16);
        put!(mark_mask, &mark, "/", &mark);

        for c in [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL] {
            chain_line(fc, c);
        }
        for c in [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ] {
            chain_line(nc, c);
        }
        rule!(nr, KUBE_POSTROUTING, " -m mark ! --mark ", &mark_mask, " -j RETURN");
        rule!(nr, KUBE_POSTROUTING, " -j MARK --xor-mark ", &mark);
        rule!(
            nr,
            KUBE_POSTROUTING,
            " -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE",
            if cfg.random_fully { " --random-fully" } else { "" }
        );
        rule!(nr, KUBE_MARK_MASQ, " -j MARK --or-mark ", &mark);

        let total_endpoints: usize = services.iter().map(|s| s.endpoints.len()).sum();
        let large = total_endpoints > LARGE_CLUSTER_ENDPOINTS;
        let cluster_cidr = cfg.cluster_cidr.map(|c| c.to_string());
        let mut skipped_services = 0;

        for (index, svc) in services.iter().enumerate() {
            let in_scope = scope.includes(index, &svc.info.name.service);
            if !in_scope {
                skipped_services += 1;
            }
            self.write_top_level(svc, fr, nr);
            if in_scope {
                self.write_service_chains(cfg, svc, cluster_cidr.as_deref(), large, nc, nr);
            }
        }

        let mut deleted = 0;
        for c in stale_chains {
            chain_line(nc, c);
            put!(nr.s, "-X ", c, "\n");
            deleted += 1;
        }

        rule!(
            nr,
            KUBE_SERVICES,
            " -m comment --comment ",
            NODEPORTS_COMMENT,
            " -m addrtype --dst-type LOCAL",
            if cfg.localhost_nodeports { "" } else { " ! -d 127.0.0.0/8" },
            " -j ",
            KUBE_NODEPORTS
        );
        rule!(fr, KUBE_FORWARD, " -m conntrack --ctstate INVALID -j DROP");
        rule!(
            fr,
            KUBE_FORWARD,
            " -m comment --comment \"kubernetes forwarding rules\" -m mark --mark ",
            &mark_mask,
            " -j ACCEPT"
        );
        rule!(
            fr,
            KUBE_FORWARD,
            " -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        );

        out.clear();
        out.reserve(fc.s.len() + fr.s.len() + nc.s.len() + nr.s.len() + 32);
        put!(out, "*filter\n", &fc.s, &fr.s, "COMMIT\n*nat\n", &nc.s, &nr.s, "COMMIT\n");
        let counts = RuleCounts {
            filter_rules: fr.lines,
            nat_rules: nr.lines,
            filter_chains: fc.lines,
            nat_chains: nc.lines,
            deleted_chains: deleted,
            skipped_services,
        };
        self.filter_chains = Some(fc_o);
        self.filter_rules = Some(fr_o);
        self.nat_chains = Some(nc_o);
        self.nat_rules = Some(nr_o);
        counts
    }

    /// Rules in `KUBE-SERVICES`, `KUBE-NODEPORTS`, `KUBE-EXTERNAL-SERVICES` and
    /// `KUBE-PROXY-FIREWALL`, which are rewritten on every sync: rendered once per
    /// preparation of the service port and then copied from its cache.
    fn write_top_level(&self, svc: &PreparedServicePort, fr: &mut Buf, nr: &mut Buf) {
        let cached = svc.cache.iptables_top_level(|| {
            let (mut f, mut n) = (Buf::new(), Buf::new());
            render_top_level(svc, &mut f, &mut n);
            CachedRules { filter: f.s, filter_lines: f.lines, nat: n.s, nat_lines: n.lines }
        });
        fr.s.push_str(&cached.filter);
        fr.lines += cached.filter_lines;
        nr.s.push_str(&cached.nat);
        nr.lines += cached.nat_lines;
    }
}

/// The top-level rules of one service port (see [`IptablesRenderer::write_top_level`]).
fn render_top_level(svc: &PreparedServicePort, fr: &mut Buf, nr: &mut Buf) {
    {
        let plan = svc.plan;
        let p = svc.info.protocol.as_lower();
        let name = svc.name_string.as_str();
        let (int_target, int_comment, ext_target, ext_comment) = if !plan.has_endpoints {
            ("REJECT", " has no endpoints\"", "REJECT", " has no endpoints\"")
        } else {
            ("DROP", " has no local endpoints\"", "DROP", " has no local endpoints\"")
        };

        if plan.has_internal_endpoints {
            rule!(
                nr,
                KUBE_SERVICES,
                " -m comment --comment \"",
                name,
                " cluster IP\" -m ",
                p,
                " -p ",
                p,
                " -d ",
                &svc.cluster_ip,
                " --dport ",
                &svc.port,
                " -j ",
                svc.internal_chain()
            );
        } else {
            rule!(
                fr,
                KUBE_SERVICES,
                " -m comment --comment \"",
                name,
                int_comment,
                " -m ",
                p,
                " -p ",
                p,
                " -d ",
                &svc.cluster_ip,
                " --dport ",
                &svc.port,
                " -j ",
                int_target
            );
        }
        let mut ip = String::with_capacity(16);
        for eip in &svc.info.external_ips {
            ip.clear();
            ip.push_str(&eip.to_string());
            if plan.has_endpoints {
                rule!(
                    nr,
                    KUBE_SERVICES,
                    " -m comment --comment \"",
                    name,
                    " external IP\" -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &ip,
                    " --dport ",
                    &svc.port,
                    " -j ",
                    &svc.ext_chain
                );
            }
            if !plan.has_external_endpoints {
                rule!(
                    fr,
                    KUBE_EXTERNAL_SERVICES,
                    " -m comment --comment \"",
                    name,
                    ext_comment,
                    " -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &ip,
                    " --dport ",
                    &svc.port,
                    " -j ",
                    ext_target
                );
            }
        }
        for lbip in &svc.info.load_balancer_ips {
            ip.clear();
            ip.push_str(&lbip.to_string());
            if plan.has_endpoints {
                rule!(
                    nr,
                    KUBE_SERVICES,
                    " -m comment --comment \"",
                    name,
                    " loadbalancer IP\" -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &ip,
                    " --dport ",
                    &svc.port,
                    " -j ",
                    svc.load_balancer_chain()
                );
            }
            if plan.uses_firewall_chain {
                rule!(
                    fr,
                    KUBE_PROXY_FIREWALL,
                    " -m comment --comment \"",
                    name,
                    " traffic not accepted by ",
                    &svc.fw_chain,
                    "\" -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &ip,
                    " --dport ",
                    &svc.port,
                    " -j DROP"
                );
            }
        }
        if !plan.has_external_endpoints {
            for lbip in &svc.info.load_balancer_ips {
                ip.clear();
                ip.push_str(&lbip.to_string());
                rule!(
                    fr,
                    KUBE_EXTERNAL_SERVICES,
                    " -m comment --comment \"",
                    name,
                    ext_comment,
                    " -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &ip,
                    " --dport ",
                    &svc.port,
                    " -j ",
                    ext_target
                );
            }
        }
        if svc.info.node_port.is_some() {
            if plan.has_endpoints {
                rule!(
                    nr,
                    KUBE_NODEPORTS,
                    " -m comment --comment ",
                    name,
                    " -m ",
                    p,
                    " -p ",
                    p,
                    " --dport ",
                    &svc.node_port,
                    " -j ",
                    &svc.ext_chain
                );
            }
            if !plan.has_external_endpoints {
                rule!(
                    fr,
                    KUBE_EXTERNAL_SERVICES,
                    " -m comment --comment \"",
                    name,
                    ext_comment,
                    " -m addrtype --dst-type LOCAL -m ",
                    p,
                    " -p ",
                    p,
                    " --dport ",
                    &svc.node_port,
                    " -j ",
                    ext_target
                );
            }
        }
        if let Some(hc) = svc.info.health_check_node_port {
            let mut port = String::with_capacity(5);
            push_u32(&mut port, u32::from(hc));
            rule!(
                fr,
                KUBE_NODEPORTS,
                " -m comment --comment \"",
                name,
                " health check node port\" -m tcp -p tcp --dport ",
                &port,
                " -j ACCEPT"
            );
        }
    }
}

impl IptablesRenderer {
    /// The service's own chains (`KUBE-SVC/SVL/EXT/FW/SEP`).
    fn write_service_chains(
        &mut self,
        cfg: &ProxyConfig,
        svc: &PreparedServicePort,
        cluster_cidr: Option<&str>,
        large: bool,
        nc: &mut Buf,
        nr: &mut Buf,
    ) {
        let plan = svc.plan;
        let p = svc.info.protocol.as_lower();
        let name = svc.name_string.as_str();

        if plan.has_internal_endpoints {
            if cfg.masquerade_all {
                rule!(
                    nr,
                    svc.internal_chain(),
                    " -m comment --comment \"",
                    name,
                    " cluster IP\" -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &svc.cluster_ip,
                    " --dport ",
                    &svc.port,
                    " -j ",
                    KUBE_MARK_MASQ
                );
            } else if let Some(cidr) = cluster_cidr {
                rule!(
                    nr,
                    svc.internal_chain(),
                    " -m comment --comment \"",
                    name,
                    " cluster IP\" -m ",
                    p,
                    " -p ",
                    p,
                    " -d ",
                    &svc.cluster_ip,
                    " --dport ",
                    &svc.port,
                    " ! -s ",
                    cidr,
                    " -j ",
                    KUBE_MARK_MASQ
                );
            }
        }

        if plan.uses_external_chain {
            chain_line(nc, &svc.ext_chain);
            if !svc.info.external_policy_local() {
                rule!(
                    nr,
                    &svc.ext_chain,
                    " -m comment --comment \"masquerade traffic for ",
                    name,
                    " external destinations\" -j ",
                    KUBE_MARK_MASQ
                );
            } else {
                if let (Some(cidr), true) = (cluster_cidr, plan.uses_cluster_chain) {
                    rule!(
                        nr,
                        &svc.ext_chain,
                        " -m comment --comment \"pod traffic for ",
                        name,
                        " external destinations\" -s ",
                        cidr,
                        " -j ",
                        &svc.svc_chain
                    );
                }
                rule!(
                    nr,
                    &svc.ext_chain,
                    " -m comment --comment \"masquerade LOCAL traffic for ",
                    name,
                    " external destinations\" -m addrtype --src-type LOCAL -j ",
                    KUBE_MARK_MASQ
                );
                if plan.uses_cluster_chain {
                    rule!(
                        nr,
                        &svc.ext_chain,
                        " -m comment --comment \"route LOCAL traffic for ",
                        name,
                        " external destinations\" -m addrtype --src-type LOCAL -j ",
                        &svc.svc_chain
                    );
                }
            }
            if plan.has_external_endpoints {
                rule!(nr, &svc.ext_chain, " -j ", svc.external_policy_chain());
            }
        }

        if plan.uses_firewall_chain {
            chain_line(nc, &svc.fw_chain);
            let mut allow_from_node = false;
            for cidr in svc.info.load_balancer_source_ranges.iter().flatten() {
                rule!(
                    nr,
                    &svc.fw_chain,
                    " -m comment --comment \"",
                    name,
                    " loadbalancer IP\" -s ",
                    &cidr.to_string(),
                    " -j ",
                    &svc.ext_chain
                );
                allow_from_node |= cfg.node_ips.iter().any(|ip| cidr.contains(*ip));
            }
            if allow_from_node {
                for lbip in &svc.info.load_balancer_ips {
                    rule!(
                        nr,
                        &svc.fw_chain,
                        " -m comment --comment \"",
                        name,
                        " loadbalancer IP\" -s ",
                        &lbip.to_string(),
                        " -j ",
                        &svc.ext_chain
                    );
                }
            }
            rule!(
                nr,
                &svc.fw_chain,
                " -m comment --comment \"other traffic to ",
                name,
                " will be dropped by KUBE-PROXY-FIREWALL\""
            );
        }

        if plan.uses_cluster_chain {
            chain_line(nc, &svc.svc_chain);
            self.write_endpoint_jumps(svc, &svc.svc_chain, &svc.selection.cluster, large, nr);
        }
        if plan.uses_local_chain {
            chain_line(nc, &svc.svl_chain);
            self.write_endpoint_jumps(svc, &svc.svl_chain, &svc.selection.local, large, nr);
        }

        let affinity = matches!(svc.info.session_affinity, SessionAffinity::ClientIp { .. });
        for &i in &svc.selection.reachable {
            let ep = &svc.endpoints[i];
            chain_line(nc, &ep.sep_chain);
            let comment = if large { "" } else { " -m comment --comment " };
            let cname = if large { "" } else { name };
            rule!(nr, &ep.sep_chain, comment, cname, " -s ", &ep.ip, " -j ", KUBE_MARK_MASQ);
            if affinity {
                rule!(
                    nr,
                    &ep.sep_chain,
                    comment,
                    cname,
                    " -m recent --name ",
                    &ep.sep_chain,
                    " --set -m ",
                    p,
                    " -p ",
                    p,
                    " -j DNAT --to-destination ",
                    &ep.ip_port
                );
            } else {
                rule!(
                    nr,
                    &ep.sep_chain,
                    comment,
                    cname,
                    " -m ",
                    p,
                    " -p ",
                    p,
                    " -j DNAT --to-destination ",
                    &ep.ip_port
                );
            }
        }
    }

    fn write_endpoint_jumps(
        &mut self,
        svc: &PreparedServicePort,
        chain: &str,
        eps: &[usize],
        large: bool,
        nr: &mut Buf,
    ) {
        let name = svc.name_string.as_str();
        if let SessionAffinity::ClientIp { timeout_seconds } = svc.info.session_affinity {
            let mut secs = String::with_capacity(10);
            push_u32(&mut secs, timeout_seconds);
            for &i in eps {
                let ep = &svc.endpoints[i];
                if large {
                    rule!(
                        nr,
                        chain,
                        " -m recent --name ",
                        &ep.sep_chain,
                        " --rcheck --seconds ",
                        &secs,
                        " --reap -j ",
                        &ep.sep_chain
                    );
                } else {
                    rule!(
                        nr,
                        chain,
                        " -m comment --comment \"",
                        name,
                        " -> ",
                        &ep.ip_port,
                        "\" -m recent --name ",
                        &ep.sep_chain,
                        " --rcheck --seconds ",
                        &secs,
                        " --reap -j ",
                        &ep.sep_chain
                    );
                }
            }
        }
        let n = eps.len();
        for (k, &i) in eps.iter().enumerate() {
            let ep = &svc.endpoints[i];
            nr.s.push_str("-A ");
            nr.s.push_str(chain);
            if !large {
                put!(nr.s, " -m comment --comment \"", name, " -> ", &ep.ip_port, "\"");
            }
            if k + 1 < n {
                let prob = self.probability(n - k);
                put!(nr.s, " -m statistic --mode random --probability ", prob);
            }
            put!(nr.s, " -j ", &ep.sep_chain, "\n");
            nr.lines += 1;
        }
    }
}

/// Counts `-A` lines per table in an iptables-restore document: `(filter, nat)`.
pub fn count_rules(doc: &str) -> (usize, usize) {
    let mut table = "";
    let (mut filter, mut nat) = (0, 0);
    for line in doc.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = if t == "filter" {
                "filter"
            } else if t == "nat" {
                "nat"
            } else {
                ""
            };
        } else if line.starts_with("-A ") {
            match table {
                "filter" => filter += 1,
                "nat" => nat += 1,
                _ => {}
            }
        }
    }
    (filter, nat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_match_go_formatting() {
        assert_eq!(probability(2), "0.5000000000");
        assert_eq!(probability(3), "0.3333333333");
        assert_eq!(probability(6), "0.1666666667");
        assert_eq!(probability(7), "0.1428571429");
    }

    #[test]
    fn jump_rules_cover_builtin_hooks() {
        assert!(jump_rules().iter().any(|j| j.table == "nat" && j.from == "PREROUTING" && j.to == KUBE_SERVICES));
        assert_eq!(jump_rules().len(), 12);
    }
}
