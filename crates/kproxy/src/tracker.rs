//! Change tracking (KEP-3453 style): a pure `Proxier` that accumulates Service and
//! EndpointSlice updates, remembers which services changed since the last sync and renders
//! either a full document or a partial one that only rewrites what changed.
//!
//! * iptables: the top-level chains (`KUBE-SERVICES`, `KUBE-EXTERNAL-SERVICES`,
//!   `KUBE-NODEPORTS`, …) are always rewritten; per-service chains only for changed services;
//!   chains no longer used are flushed and deleted (`-X`) in the same document.
//! * nftables: only changed services' chains and the map/set elements that differ; chains no
//!   longer used are flushed at once and deleted by a later sync at least one second later
//!   (kernels before 6.2 may still reference a chain right after it was unlinked).
//!
//! * IPVS: every sync renders the whole virtual server table, ipsets and iptables rules; the
//!   agent diffs the table against the kernel's.
//!
//! The proxier assumes every document it hands out is applied. If applying fails, call
//! [`Proxier::force_full_sync`]; the next sync is then a full one, as upstream does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;

use crate::convert::{self, ConvertError, SliceEndpoints};
use crate::iptables::{self, IptablesRenderer, RuleCounts};
use crate::ipvs::{self, IpvsDocuments, Scheduler};
use crate::model::{ModelError, NamespacedName, Protocol, ProxyConfig, ServicePortInfo, ServicePortName};
use crate::nftables::{self, NftElement};
use crate::prep::{PrepError, PreparedServicePort};

/// How long a flushed nftables chain waits before it is deleted.
pub const NFT_STALE_CHAIN_DELAY: Duration = Duration::from_secs(1);

/// Errors of the tracker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// Invalid proxy configuration.
    #[error(transparent)]
    Config(#[from] ModelError),
    /// A Kubernetes object could not be converted.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// A service port could not be prepared.
    #[error(transparent)]
    Prepare(#[from] PrepError),
    /// Service ports given for one service belong to another.
    #[error("service port {port} does not belong to service {service}")]
    ForeignPort {
        /// The service being updated.
        service: String,
        /// The offending port.
        port: String,
    },
}

/// Which backend documents are rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `iptables-restore` documents.
    Iptables,
    /// `nft -f` transactions.
    Nftables,
    /// IPVS: every sync renders the whole [`IpvsDocuments`] (the agent diffs them against the
    /// kernel, so only changes are written).
    Ipvs {
        /// Scheduler of every virtual server.
        scheduler: Scheduler,
    },
}

/// Addresses a UDP service port is reachable on, for conntrack cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpServiceTarget {
    /// The service port.
    pub service: ServicePortName,
    /// Cluster IP, external IPs and load-balancer IPs.
    pub ips: Vec<Ipv4Addr>,
    /// Service port.
    pub port: u16,
    /// NodePort, if any.
    pub node_port: Option<u16>,
}

/// A UDP endpoint that stopped receiving traffic: conntrack entries DNATed to it must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleUdpEndpoint {
    /// Where clients addressed the service.
    pub target: UdpServiceTarget,
    /// The removed endpoint IP.
    pub endpoint_ip: Ipv4Addr,
    /// The removed endpoint port.
    pub endpoint_port: u16,
}

/// Conntrack work for the agent after applying a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConntrackCleanup {
    /// UDP endpoints no longer used.
    pub stale_endpoints: Vec<StaleUdpEndpoint>,
    /// UDP services that went from no endpoints to some: entries caching the old REJECT
    /// verdict for their addresses must go.
    pub newly_reachable: Vec<UdpServiceTarget>,
}

/// The outcome of [`Proxier::sync`].
#[derive(Debug)]
pub struct SyncResult<'a> {
    /// The document to apply.
    pub document: &'a str,
    /// Whether this was a full sync.
    pub full: bool,
    /// Rule counts (iptables mode only).
    pub counts: Option<RuleCounts>,
    /// Services whose per-service objects were rewritten.
    pub changed_services: usize,
    /// Conntrack cleanup to perform after the document applied.
    pub conntrack: ConntrackCleanup,
    /// IPVS mode: every document of the sync (`document` is their iptables part).
    pub ipvs: Option<&'a IpvsDocuments>,
}

type PortKey = (NamespacedName, String, Protocol);

fn key_of(info: &ServicePortInfo) -> PortKey {
    (info.name.service.clone(), info.name.port.clone(), info.protocol)
}

/// Pure proxier state: inputs, prepared service ports and what the kernel holds since the last
/// sync.
#[derive(Debug)]
pub struct Proxier {
    cfg: ProxyConfig,
    mode: Mode,
    services: BTreeMap<NamespacedName, Vec<ServicePortInfo>>,
    slices: HashMap<NamespacedName, BTreeMap<String, SliceEndpoints>>,
    slice_owner: HashMap<(String, String), NamespacedName>,
    prepared: BTreeMap<PortKey, PreparedServicePort>,
    changed: HashSet<NamespacedName>,
    need_full_sync: bool,
    ipt: IptablesRenderer,
    /// Chains (iptables) or chains+sets (nftables) written per service port.
    written_chains: HashMap<PortKey, Vec<String>>,
    written_sets: HashMap<PortKey, Vec<String>>,
    written_elements: HashMap<PortKey, Vec<NftElement>>,
    nft_pending_chains: Vec<(String, Duration)>,
    nft_pending_sets: Vec<(String, Duration)>,
    out: String,
    ipvs_out: Option<IpvsDocuments>,
}

impl Proxier {
    /// A proxier for `cfg` rendering `mode` documents; the first sync is a full one.
    pub fn new(cfg: ProxyConfig, mode: Mode) -> Result<Self, TrackerError> {
        cfg.validate()?;
        Ok(Proxier {
            cfg,
            mode,
            services: BTreeMap::new(),
            slices: HashMap::new(),
            slice_owner: HashMap::new(),
            prepared: BTreeMap::new(),
            changed: HashSet::new(),
            need_full_sync: true,
            ipt: IptablesRenderer::new(),
            written_chains: HashMap::new(),
            written_sets: HashMap::new(),
            written_elements: HashMap::new(),
            nft_pending_chains: Vec::new(),
            nft_pending_sets: Vec::new(),
            out: String::new(),
            ipvs_out: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.cfg
    }

    /// Replaces the configuration (e.g. node IPs changed); forces a full sync.
    pub fn set_config(&mut self, cfg: ProxyConfig) -> Result<(), TrackerError> {
        cfg.validate()?;
        self.cfg = cfg;
        self.changed.extend(self.services.keys().cloned());
        self.need_full_sync = true;
        Ok(())
    }

    /// Requests a full sync next time (start-up, canary chain lost, failed apply, periodic).
    pub fn force_full_sync(&mut self) {
        self.need_full_sync = true;
    }

    /// Services changed since the last sync.
    pub fn pending_changes(&self) -> usize {
        self.changed.len()
    }

    /// The prepared service ports, in render order.
    pub fn service_ports(&self) -> impl Iterator<Item = &PreparedServicePort> {
        self.prepared.values()
    }

    /// Sets the ports of a service (an empty list removes it). Unchanged input is ignored.
    pub fn set_service(&mut self, name: NamespacedName, ports: Vec<ServicePortInfo>) -> Result<(), TrackerError> {
        if let Some(p) = ports.iter().find(|p| p.name.service != name) {
            return Err(TrackerError::ForeignPort { service: name.to_string(), port: p.name.to_string() });
        }
        if ports.is_empty() {
            if self.services.remove(&name).is_some() {
                self.changed.insert(name);
            }
            return Ok(());
        }
        if self.services.get(&name) != Some(&ports) {
            self.services.insert(name.clone(), ports);
            self.changed.insert(name);
        }
        Ok(())
    }

    /// Removes a service.
    pub fn delete_service(&mut self, name: &NamespacedName) {
        if self.services.remove(name).is_some() {
            self.changed.insert(name.clone());
        }
    }

    /// Applies a Service add/update; skipped services (ExternalName, headless) are removed.
    /// Returns conversion warnings.
    pub fn update_service(&mut self, svc: &Service) -> Result<Vec<ConvertError>, TrackerError> {
        let c = convert::service_from_k8s(svc)?;
        let ports = if c.skipped.is_some() { Vec::new() } else { c.ports };
        self.set_service(c.name, ports)?;
        Ok(c.warnings)
    }

    /// Sets (adds or replaces) one EndpointSlice's content.
    pub fn set_slice(&mut self, slice: SliceEndpoints) {
        let owner_key = (slice.service.namespace.clone(), slice.slice_name.clone());
        // A slice whose service label changed moves between services.
        if let Some(prev) = self.slice_owner.get(&owner_key).cloned() {
            if prev != slice.service {
                self.remove_slice(&owner_key.0, &owner_key.1);
            }
        }
        let svc = slice.service.clone();
        let entry = self.slices.entry(svc.clone()).or_default();
        if entry.get(&slice.slice_name) == Some(&slice) {
            return;
        }
        entry.insert(slice.slice_name.clone(), slice);
        self.slice_owner.insert(owner_key, svc.clone());
        self.changed.insert(svc);
    }

    /// Removes an EndpointSlice by namespace and name.
    pub fn remove_slice(&mut self, namespace: &str, slice_name: &str) {
        let Some(svc) = self.slice_owner.remove(&(namespace.to_string(), slice_name.to_string())) else { return };
        if let Some(m) = self.slices.get_mut(&svc) {
            m.remove(slice_name);
            if m.is_empty() {
                self.slices.remove(&svc);
            }
        }
        self.changed.insert(svc);
    }

    /// Applies an EndpointSlice add/update (non-IPv4 slices are ignored).
    pub fn update_endpoint_slice(&mut self, slice: &EndpointSlice) -> Result<(), TrackerError> {
        if let Some(s) = convert::endpoint_slice_from_k8s(slice)? {
            self.set_slice(s);
        }
        Ok(())
    }

    /// Applies an EndpointSlice deletion.
    pub fn delete_endpoint_slice(&mut self, slice: &EndpointSlice) {
        if let (Some(ns), Some(name)) = (slice.metadata.namespace.as_deref(), slice.metadata.name.as_deref()) {
            self.remove_slice(ns, name);
        }
    }

    /// Re-prepares changed services; returns the changed keys and conntrack work.
    fn apply_changes(&mut self) -> Result<(BTreeSet<PortKey>, ConntrackCleanup), TrackerError> {
        let mut changed_keys = BTreeSet::new();
        let mut cleanup = ConntrackCleanup::default();
        let mut names: Vec<NamespacedName> = self.changed.iter().cloned().collect();
        names.sort();
        for name in names {
            let old_keys: Vec<PortKey> = self
                .prepared
                .range((name.clone(), String::new(), Protocol::Tcp)..)
                .take_while(|(k, _)| k.0 == name)
                .map(|(k, _)| k.clone())
                .collect();
            let mut old: HashMap<PortKey, PreparedServicePort> = HashMap::new();
            for k in old_keys {
                if let Some(v) = self.prepared.remove(&k) {
                    changed_keys.insert(k.clone());
                    old.insert(k, v);
                }
            }
            let ports = self.services.get(&name).cloned().unwrap_or_default();
            let slices = self.slices.get(&name);
            for info in ports {
                let key = key_of(&info);
                let eps = convert::endpoints_for_port(slices.into_iter().flat_map(|m| m.values()), &info);
                let prev = old.get(&key);
                let p = PreparedServicePort::new(info, eps, &self.cfg, prev)?;
                changed_keys.insert(key.clone());
                self.prepared.insert(key, p);
            }
            // Conntrack bookkeeping for UDP ports.
            for (key, prev) in &old {
                if prev.info.protocol != Protocol::Udp {
                    continue;
                }
                let now = self.prepared.get(key);
                let target = |p: &PreparedServicePort| UdpServiceTarget {
                    service: p.info.name.clone(),
                    ips: std::iter::once(p.info.cluster_ip)
                        .chain(p.info.external_ips.iter().copied())
                        .chain(p.info.load_balancer_ips.iter().copied())
                        .collect(),
                    port: p.info.port,
                    node_port: p.info.node_port,
                };
                let still: HashSet<(Ipv4Addr, u16)> = now
                    .map(|n| {
                        n.selection
                            .reachable
                            .iter()
                            .map(|&i| (n.endpoints[i].endpoint.ip, n.endpoints[i].endpoint.port))
                            .collect()
                    })
                    .unwrap_or_default();
                for &i in &prev.selection.reachable {
                    let e = &prev.endpoints[i].endpoint;
                    if !still.contains(&(e.ip, e.port)) {
                        cleanup.stale_endpoints.push(StaleUdpEndpoint {
                            target: target(prev),
                            endpoint_ip: e.ip,
                            endpoint_port: e.port,
                        });
                    }
                }
            }
            for (key, now) in
                self.prepared.range((name.clone(), String::new(), Protocol::Tcp)..).take_while(|(k, _)| k.0 == name)
            {
                if now.info.protocol == Protocol::Udp
                    && now.plan.has_endpoints
                    && !old.get(key).is_some_and(|p| p.plan.has_endpoints)
                {
                    cleanup.newly_reachable.push(UdpServiceTarget {
                        service: now.info.name.clone(),
                        ips: std::iter::once(now.info.cluster_ip)
                            .chain(now.info.external_ips.iter().copied())
                            .chain(now.info.load_balancer_ips.iter().copied())
                            .collect(),
                        port: now.info.port,
                        node_port: now.info.node_port,
                    });
                }
            }
        }
        Ok((changed_keys, cleanup))
    }

    /// Renders the next document. `now` is a monotonic timestamp used to delay nftables chain
    /// deletions; any clock works as long as it never goes backwards.
    pub fn sync(&mut self, now: Duration) -> Result<SyncResult<'_>, TrackerError> {
        let (changed_keys, conntrack) = self.apply_changes()?;
        let full = self.need_full_sync;
        let changed_services: HashSet<NamespacedName> = std::mem::take(&mut self.changed);
        let counts = match self.mode {
            Mode::Iptables => Some(self.sync_iptables(full, &changed_keys, &changed_services)),
            Mode::Nftables => {
                self.sync_nftables(full, &changed_keys, now);
                None
            }
            Mode::Ipvs { scheduler } => {
                let services: Vec<&PreparedServicePort> = self.prepared.values().collect();
                let docs = ipvs::render(&self.cfg, &services, scheduler);
                self.out.clear();
                self.out.push_str(&docs.iptables);
                self.ipvs_out = Some(docs);
                None
            }
        };
        self.need_full_sync = false;
        Ok(SyncResult {
            ipvs: self.ipvs_out.as_ref().filter(|_| matches!(self.mode, Mode::Ipvs { .. })),
            document: &self.out,
            full,
            counts,
            changed_services: if full { self.services.len() } else { changed_services.len() },
            conntrack,
        })
    }

    fn sync_iptables(
        &mut self,
        full: bool,
        changed_keys: &BTreeSet<PortKey>,
        changed_services: &HashSet<NamespacedName>,
    ) -> RuleCounts {
        let mut stale: Vec<String> = Vec::new();
        // Chains only change with their service, so bookkeeping is limited to changed keys even
        // on full syncs (a full sync still rewrites every chain).
        for key in changed_keys.iter().cloned() {
            let new_chains: Vec<String> = self
                .prepared
                .get(&key)
                .map(|p| p.iptables_chains().into_iter().map(String::from).collect())
                .unwrap_or_default();
            if let Some(old) = self.written_chains.remove(&key) {
                let keep: HashSet<&String> = new_chains.iter().collect();
                stale.extend(old.into_iter().filter(|c| !keep.contains(c)));
            }
            if !new_chains.is_empty() {
                self.written_chains.insert(key, new_chains);
            }
        }
        stale.sort();
        stale.dedup();
        let services: Vec<&PreparedServicePort> = self.prepared.values().collect();
        let mask: Vec<bool>;
        let scope = if full {
            iptables::Scope::Full
        } else {
            // Both sequences are sorted by service name: a merge walk avoids hashing every name.
            let mut changed: Vec<&NamespacedName> = changed_services.iter().collect();
            changed.sort();
            let mut k = 0;
            mask = services
                .iter()
                .map(|s| {
                    let n = &s.info.name.service;
                    while k < changed.len() && changed[k] < n {
                        k += 1;
                    }
                    k < changed.len() && changed[k] == n
                })
                .collect();
            iptables::Scope::Mask(&mask)
        };
        self.ipt.render(&self.cfg, &services, scope, &stale, &mut self.out)
    }

    fn sync_nftables(&mut self, full: bool, changed_keys: &BTreeSet<PortKey>, now: Duration) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        nftables::render_base(&self.cfg, full, &mut out);
        let keys: Vec<PortKey> = changed_keys.iter().cloned().collect();
        let cidr = self.cfg.cluster_cidr.map(|c| c.to_string());
        let mut deletes = String::new();
        let mut adds = String::new();
        let mut bodies = String::new();
        let mut stale_chains = Vec::new();
        let mut stale_sets = Vec::new();
        for key in &keys {
            let prepared = self.prepared.get(key);
            let old_chains = self.written_chains.remove(key).unwrap_or_default();
            let old_sets = self.written_sets.remove(key).unwrap_or_default();
            let old_elements = self.written_elements.remove(key).unwrap_or_default();
            let new_chains = prepared.map(nftables::service_chains).unwrap_or_default();
            let new_sets = prepared.map(nftables::service_sets).unwrap_or_default();
            let new_elements = prepared.map(nftables::service_elements).unwrap_or_default();
            if full {
                // Rendered below for every service.
            } else {
                if let Some(p) = prepared {
                    let existed = |c: &str| old_chains.iter().any(|o| o == c);
                    nftables::render_service(&self.cfg, p, cidr.as_deref(), Some(&existed), &mut bodies);
                }
                let old_set: HashSet<&NftElement> = old_elements.iter().collect();
                let new_set: HashSet<&NftElement> = new_elements.iter().collect();
                for e in &old_elements {
                    if !new_set.contains(e) {
                        nftables::push_delete_element(&mut deletes, e);
                    }
                }
                for e in &new_elements {
                    if !old_set.contains(e) {
                        nftables::push_add_element(&mut adds, e);
                    }
                }
            }
            stale_chains.extend(old_chains.into_iter().filter(|c| !new_chains.contains(c)));
            stale_sets.extend(old_sets.into_iter().filter(|s| !new_sets.contains(s)));
            if !new_chains.is_empty() {
                self.written_chains.insert(key.clone(), new_chains);
            }
            if !new_sets.is_empty() {
                self.written_sets.insert(key.clone(), new_sets);
            }
            if !new_elements.is_empty() {
                self.written_elements.insert(key.clone(), new_elements);
            }
        }
        if full {
            // Every chain is declared and flushed, maps and sets were flushed: re-add everything.
            for p in self.prepared.values() {
                nftables::render_service(&self.cfg, p, cidr.as_deref(), None, &mut out);
            }
            for p in self.prepared.values() {
                for e in nftables::service_elements(p) {
                    nftables::push_add_element(&mut out, &e);
                }
            }
        } else {
            out.push_str(&deletes);
            out.push_str(&bodies);
            out.push_str(&adds);
        }
        // Chains that came back to life are no longer pending deletion.
        let live_chain = |c: &str, w: &HashMap<PortKey, Vec<String>>| w.values().any(|v| v.iter().any(|x| x == c));
        let written_chains = &self.written_chains;
        let written_sets = &self.written_sets;
        self.nft_pending_chains.retain(|(c, _)| !live_chain(c, written_chains));
        self.nft_pending_sets.retain(|(s, _)| !live_chain(s, written_sets));
        // Delete chains flushed long enough ago, then sets they referenced.
        let mut still_pending = Vec::new();
        for (c, since) in std::mem::take(&mut self.nft_pending_chains) {
            if now.saturating_sub(since) >= NFT_STALE_CHAIN_DELAY {
                out.push_str("delete chain ");
                out.push_str(nftables::FAMILY_TABLE);
                out.push(' ');
                out.push_str(&c);
                out.push('\n');
            } else {
                still_pending.push((c, since));
            }
        }
        self.nft_pending_chains = still_pending;
        let mut still_pending = Vec::new();
        for (s, since) in std::mem::take(&mut self.nft_pending_sets) {
            if now.saturating_sub(since) >= NFT_STALE_CHAIN_DELAY {
                out.push_str("delete set ");
                out.push_str(nftables::FAMILY_TABLE);
                out.push(' ');
                out.push_str(&s);
                out.push('\n');
            } else {
                still_pending.push((s, since));
            }
        }
        self.nft_pending_sets = still_pending;
        for c in stale_chains {
            out.push_str("flush chain ");
            out.push_str(nftables::FAMILY_TABLE);
            out.push(' ');
            out.push_str(&c);
            out.push('\n');
            self.nft_pending_chains.push((c, now));
        }
        for s in stale_sets {
            self.nft_pending_sets.push((s, now));
        }
        self.out = out;
    }

    /// nftables chains flushed but not yet deleted.
    pub fn pending_chain_deletions(&self) -> usize {
        self.nft_pending_chains.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ProxyConfig {
        let mut c = ProxyConfig::new("node");
        c.node_ips = vec![[192, 168, 0, 2].into()];
        c
    }

    #[test]
    fn rejects_foreign_ports() {
        let mut p = Proxier::new(cfg(), Mode::Iptables).unwrap();
        let info = ServicePortInfo::new(ServicePortName::new("a", "b", ""), Protocol::Tcp, [1, 1, 1, 1].into(), 80);
        assert!(matches!(
            p.set_service(NamespacedName::new("x", "y"), vec![info]),
            Err(TrackerError::ForeignPort { .. })
        ));
    }

    #[test]
    fn invalid_config_is_rejected() {
        let mut c = cfg();
        c.masquerade_bit = 32;
        assert!(Proxier::new(c, Mode::Iptables).is_err());
    }
}
