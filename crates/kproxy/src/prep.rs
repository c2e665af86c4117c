//! Per-service-port derived data, computed once when a service or its endpoints change:
//! chain names (hashes), formatted addresses and the routing plan. Renderers only read it,
//! which keeps full renders free of hashing and most formatting.

use crate::model::{Endpoint, EndpointSelection, ProxyConfig, ServicePortInfo, categorize_endpoints};
use crate::names;

/// Errors preparing a service port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// Two endpoints of one service port share `ip:port`.
    #[error("service port {service} lists endpoint {endpoint} twice")]
    DuplicateEndpoint {
        /// `ns/svc:port`.
        service: String,
        /// `ip:port`.
        endpoint: String,
    },
}

/// An endpoint with its derived names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEndpoint {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// `a.b.c.d`.
    pub ip: String,
    /// `a.b.c.d:port`.
    pub ip_port: String,
    /// `KUBE-SEP-…`.
    pub sep_chain: String,
    /// nftables base `H8-ns/svc/proto/port__ip/port`.
    pub nft_base: String,
}

/// Which chains and map entries a service port needs (upstream's `syncProxyRules` locals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServicePlan {
    /// Some usable endpoint exists anywhere.
    pub has_endpoints: bool,
    /// Cluster-IP traffic has endpoints (false with internal Local policy and no local ones).
    pub has_internal_endpoints: bool,
    /// External traffic has endpoints (false with external Local policy and no local ones).
    pub has_external_endpoints: bool,
    /// The cluster-policy chain (`KUBE-SVC` / `service-`) is written.
    pub uses_cluster_chain: bool,
    /// The local-policy chain (`KUBE-SVL` / `local-`) is written.
    pub uses_local_chain: bool,
    /// The external chain (`KUBE-EXT` / `external-`) is written.
    pub uses_external_chain: bool,
    /// The firewall chain (`KUBE-FW` / `firewall-`) is written.
    pub uses_firewall_chain: bool,
}

/// Text a renderer derived from one prepared service port and keeps with it, so that syncs
/// which rewrite every service's top-level rules (iptables partial syncs) copy it instead of
/// formatting it again. It is filled on first use and never part of comparisons: two
/// preparations are equal whatever their caches hold, and a clone starts empty.
#[derive(Default)]
pub struct RenderCache {
    iptables_top_level: std::sync::OnceLock<CachedRules>,
}

/// Rendered rules and their count, for one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CachedRules {
    /// `filter` table lines.
    pub(crate) filter: String,
    /// `-A` lines in `filter`.
    pub(crate) filter_lines: usize,
    /// `nat` table lines.
    pub(crate) nat: String,
    /// `-A` lines in `nat`.
    pub(crate) nat_lines: usize,
}

impl RenderCache {
    /// The iptables top-level rules, rendered by `f` on first use.
    pub(crate) fn iptables_top_level(&self, f: impl FnOnce() -> CachedRules) -> &CachedRules {
        self.iptables_top_level.get_or_init(f)
    }
}

impl Clone for RenderCache {
    fn clone(&self) -> Self {
        RenderCache::default()
    }
}

impl PartialEq for RenderCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RenderCache {}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache").field("iptables_top_level", &self.iptables_top_level.get().is_some()).finish()
    }
}

/// A service port with its endpoints and every derived value renderers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedServicePort {
    /// The service port.
    pub info: ServicePortInfo,
    /// `ns/svc:port`.
    pub name_string: String,
    /// `KUBE-SVC-…`.
    pub svc_chain: String,
    /// `KUBE-SVL-…`.
    pub svl_chain: String,
    /// `KUBE-EXT-…`.
    pub ext_chain: String,
    /// `KUBE-FW-…`.
    pub fw_chain: String,
    /// nftables base `H8-ns/svc/proto/port`.
    pub nft_base: String,
    /// Cluster IP text.
    pub cluster_ip: String,
    /// Port text.
    pub port: String,
    /// NodePort text (empty when none).
    pub node_port: String,
    /// Endpoints (sorted by `ip:port` text by the caller or [`PreparedServicePort::new`]).
    pub endpoints: Vec<PreparedEndpoint>,
    /// Policy split of `endpoints`.
    pub selection: EndpointSelection,
    /// Routing plan.
    pub plan: ServicePlan,
    /// Renderers' per-service text caches (see [`RenderCache`]). Whoever changes the fields
    /// above after preparation must reset it (`RenderCache::default()`).
    pub cache: RenderCache,
}

impl PreparedServicePort {
    /// Prepares `info` with `endpoints` for the node in `cfg`, reusing hashes from `previous`
    /// (the same service port's earlier preparation) where endpoints did not change.
    pub fn new(
        info: ServicePortInfo,
        mut endpoints: Vec<Endpoint>,
        cfg: &ProxyConfig,
        previous: Option<&PreparedServicePort>,
    ) -> Result<Self, PrepError> {
        let name_string = info.name.to_string();
        let proto = info.protocol.as_lower();
        let (svc_chain, svl_chain, ext_chain, fw_chain, nft_base) = match previous {
            Some(p) if p.info.name == info.name && p.info.protocol == info.protocol => {
                (p.svc_chain.clone(), p.svl_chain.clone(), p.ext_chain.clone(), p.fw_chain.clone(), p.nft_base.clone())
            }
            _ => {
                let h = names::service_port_hash(&name_string, proto);
                (
                    names::prefixed(names::SVC_PREFIX, &h),
                    names::prefixed(names::SVL_PREFIX, &h),
                    names::prefixed(names::EXT_PREFIX, &h),
                    names::prefixed(names::FW_PREFIX, &h),
                    names::nft_service_base(
                        &info.name.service.namespace,
                        &info.name.service.name,
                        proto,
                        &info.name.port,
                    ),
                )
            }
        };
        let mut prepared_eps: Vec<PreparedEndpoint> = Vec::with_capacity(endpoints.len());
        let mut keyed: Vec<(String, Endpoint)> =
            endpoints.drain(..).map(|e| (format!("{}:{}", e.ip, e.port), e)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for w in keyed.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(PrepError::DuplicateEndpoint { service: name_string, endpoint: w[0].0.clone() });
            }
        }
        let same_identity = previous.is_some_and(|p| p.info.name == info.name && p.info.protocol == info.protocol);
        for (ip_port, endpoint) in keyed {
            let reuse = if same_identity {
                previous.and_then(|p| {
                    p.endpoints.binary_search_by(|e| e.ip_port.as_str().cmp(&ip_port)).ok().map(|i| &p.endpoints[i])
                })
            } else {
                None
            };
            let ip = endpoint.ip.to_string();
            let (sep_chain, nft_base) = match reuse {
                Some(r) => (r.sep_chain.clone(), r.nft_base.clone()),
                None => (
                    names::endpoint_chain(&name_string, proto, &ip_port),
                    names::nft_endpoint_base(
                        &info.name.service.namespace,
                        &info.name.service.name,
                        proto,
                        &info.name.port,
                        &ip,
                        endpoint.port,
                    ),
                ),
            };
            prepared_eps.push(PreparedEndpoint { endpoint, ip, ip_port, sep_chain, nft_base });
        }
        let plain: Vec<Endpoint> = prepared_eps.iter().map(|e| e.endpoint.clone()).collect();
        let selection = categorize_endpoints(&plain, &info, &cfg.node_name);
        let plan = plan_for(&info, &selection);
        Ok(PreparedServicePort {
            cluster_ip: info.cluster_ip.to_string(),
            port: info.port.to_string(),
            node_port: info.node_port.map(|p| p.to_string()).unwrap_or_default(),
            info,
            name_string,
            svc_chain,
            svl_chain,
            ext_chain,
            fw_chain,
            nft_base,
            endpoints: prepared_eps,
            selection,
            plan,
            cache: RenderCache::default(),
        })
    }

    /// The chain internal (cluster IP) traffic goes to.
    pub fn internal_chain(&self) -> &str {
        if self.info.internal_policy_local() { &self.svl_chain } else { &self.svc_chain }
    }

    /// The chain the external chain falls through to.
    pub fn external_policy_chain(&self) -> &str {
        if self.info.external_policy_local() { &self.svl_chain } else { &self.svc_chain }
    }

    /// The chain load-balancer traffic goes to (`KUBE-FW` when filtering sources).
    pub fn load_balancer_chain(&self) -> &str {
        if self.plan.uses_firewall_chain { &self.fw_chain } else { &self.ext_chain }
    }

    /// The iptables NAT chains this service port owns in the current plan.
    pub fn iptables_chains(&self) -> Vec<&str> {
        let mut v = Vec::with_capacity(4 + self.selection.reachable.len());
        if self.plan.uses_external_chain {
            v.push(self.ext_chain.as_str());
        }
        if self.plan.uses_firewall_chain {
            v.push(self.fw_chain.as_str());
        }
        if self.plan.uses_cluster_chain {
            v.push(self.svc_chain.as_str());
        }
        if self.plan.uses_local_chain {
            v.push(self.svl_chain.as_str());
        }
        for &i in &self.selection.reachable {
            v.push(self.endpoints[i].sep_chain.as_str());
        }
        v
    }
}

fn plan_for(info: &ServicePortInfo, sel: &EndpointSelection) -> ServicePlan {
    let has_endpoints = sel.has_any;
    let has_internal_endpoints = has_endpoints && (!info.internal_policy_local() || !sel.local.is_empty());
    let has_external_endpoints = has_endpoints && (!info.external_policy_local() || !sel.local.is_empty());
    ServicePlan {
        has_endpoints,
        has_internal_endpoints,
        has_external_endpoints,
        uses_cluster_chain: !sel.cluster.is_empty() && info.uses_cluster_endpoints(),
        uses_local_chain: !sel.local.is_empty() && info.uses_local_endpoints(),
        uses_external_chain: has_endpoints && info.externally_accessible(),
        uses_firewall_chain: has_endpoints && info.has_firewall(),
    }
}

/// Appends the decimal form of `n` to `out` without going through `fmt`.
pub(crate) fn push_u32(out: &mut String, mut n: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, ServicePortName};

    #[test]
    fn prepares_names_and_reuses_hashes() {
        let cfg = ProxyConfig::new("node");
        let info = ServicePortInfo::new(
            ServicePortName::new("ns1", "svc1", "p80"),
            Protocol::Tcp,
            [172, 30, 0, 41].into(),
            80,
        );
        let eps = vec![Endpoint::ready([10, 180, 0, 1].into(), 80)];
        let p = PreparedServicePort::new(info.clone(), eps.clone(), &cfg, None).unwrap();
        assert_eq!(p.svc_chain, "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(p.endpoints[0].sep_chain, "KUBE-SEP-SXIVWICOYRO3J4NJ");
        assert_eq!(p.nft_base, "ULMVA6XW-ns1/svc1/tcp/p80");
        let q = PreparedServicePort::new(info.clone(), eps, &cfg, Some(&p)).unwrap();
        assert_eq!(p, q);
        let dup = vec![Endpoint::ready([10, 180, 0, 1].into(), 80), Endpoint::ready([10, 180, 0, 1].into(), 80)];
        assert!(PreparedServicePort::new(info, dup, &cfg, None).is_err());
    }

    #[test]
    fn push_u32_formats() {
        for n in [0u32, 7, 10, 65535, u32::MAX] {
            let mut s = String::new();
            push_u32(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
