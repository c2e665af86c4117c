//! [`PodInfo`]: a pod parsed once, when it enters the scheduler, into what plugins read on
//! the hot path (requests, affinity terms with parsed selectors, tolerations, ports …).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use kapi::k8s::api::core::v1::{
    NodeSelector, Pod, PodAffinityTerm, PreferredSchedulingTerm, Toleration, TopologySpreadConstraint,
};
use kapi::labels::Selector;

use super::resource::{DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST, Resource};

/// A host port a container asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The host IP (`0.0.0.0` when unset: every address).
    pub ip: String,
    /// The port.
    pub port: i32,
}

/// A pod (anti-)affinity term with its selectors parsed.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    /// Namespaces the term applies to (the pod's own when neither namespaces nor a
    /// namespace selector is given).
    pub namespaces: BTreeSet<String>,
    /// Selector over namespace labels (`Some(everything)` for `{}`: all namespaces).
    pub namespace_selector: Option<Selector>,
    /// Selector over pod labels (`matchLabelKeys`/`mismatchLabelKeys` already merged in).
    pub selector: Selector,
    /// Topology key (`kubernetes.io/hostname`, `topology.kubernetes.io/zone`).
    pub topology_key: String,
}

impl AffinityTerm {
    fn parse(term: &PodAffinityTerm, pod_namespace: &str, pod_labels: &BTreeMap<String, String>) -> Option<Self> {
        let mut selector = Selector::from_label_selector(term.label_selector.as_ref()).ok()?;
        // matchLabelKeys / mismatchLabelKeys add requirements from the incoming pod's labels.
        for key in term.match_label_keys.iter().flatten() {
            if let Some(v) = pod_labels.get(key) {
                let r: Selector = format!("{key}={v}").parse().ok()?;
                for req in r.requirements() {
                    selector = selector.and(req.clone());
                }
            }
        }
        for key in term.mismatch_label_keys.iter().flatten() {
            if let Some(v) = pod_labels.get(key) {
                let r: Selector = format!("{key}!={v}").parse().ok()?;
                for req in r.requirements() {
                    selector = selector.and(req.clone());
                }
            }
        }
        let namespace_selector = match &term.namespace_selector {
            Some(ns) => Some(Selector::from_label_selector(Some(ns)).ok()?),
            None => None,
        };
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && namespace_selector.is_none() {
            namespaces.insert(pod_namespace.to_owned());
        }
        Some(Self { namespaces, namespace_selector, selector, topology_key: term.topology_key.clone() })
    }

    /// Whether `pod` (in a namespace with `ns_labels`) matches the term.
    pub fn matches(&self, pod: &PodInfo, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
        let ns_ok = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| s.matches(&ns_labels));
        ns_ok && self.selector.matches(&pod.labels)
    }
}

/// A preferred (weighted) pod (anti-)affinity term.
#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    /// Weight 1–100.
    pub weight: i32,
    /// The term.
    pub term: AffinityTerm,
}

/// Everything the scheduler reads about a pod, computed once.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod as received.
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// `spec.schedulerName` (`default-scheduler` when unset).
    pub scheduler_name: String,
    /// `spec.nodeName` when already bound.
    pub node_name: Option<String>,
    /// Effective requests: max(Σ containers, max init containers) + overhead.
    pub requests: Resource,
    /// CPU for scoring: requests with 100m for containers that ask for none.
    pub non_zero_milli_cpu: i64,
    /// Memory for scoring: requests with 200 MiB for containers that ask for none.
    pub non_zero_memory: i64,
    /// No container has any request or limit.
    pub best_effort: bool,
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// Required node affinity.
    pub required_node_affinity: Option<NodeSelector>,
    /// Preferred node affinity terms.
    pub preferred_node_affinity: Vec<PreferredSchedulingTerm>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Host ports of all containers.
    pub host_ports: Vec<HostPort>,
    /// Required pod affinity terms.
    pub required_affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub required_anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod affinity terms.
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    /// Preferred pod anti-affinity terms.
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    /// Topology spread constraints.
    pub spread_constraints: Vec<TopologySpreadConstraint>,
    /// Names of `spec.schedulingGates`.
    pub scheduling_gates: Vec<String>,
    /// Container images.
    pub images: Vec<String>,
    /// Names of the PersistentVolumeClaims the pod mounts.
    pub pvcs: Vec<String>,
}

fn container_requests(c: &kapi::k8s::api::core::v1::Container) -> (Resource, bool) {
    let res = c.resources.as_ref();
    let requests = res.and_then(|r| r.requests.as_ref());
    let limits = res.and_then(|r| r.limits.as_ref());
    // Upstream defaults requests to limits when only limits are set (API defaulting).
    let mut merged = limits.cloned().unwrap_or_default();
    if let Some(r) = requests {
        merged.extend(r.clone());
    }
    let any = !merged.is_empty();
    (Resource::from_list(&merged), any)
}

impl PodInfo {
    /// Parses `pod`.
    pub fn new(pod: Arc<Pod>) -> Self {
        let meta = &pod.metadata;
        let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();

        let mut requests = Resource::default();
        let (mut nz_cpu, mut nz_mem) = (0i64, 0i64);
        let mut best_effort = true;
        let mut host_ports = Vec::new();
        let mut images = Vec::new();
        for c in &spec.containers {
            let (r, any) = container_requests(c);
            best_effort &= !any;
            nz_cpu += if r.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { r.milli_cpu };
            nz_mem += if r.memory == 0 { DEFAULT_MEMORY_REQUEST } else { r.memory };
            requests.add(&r);
            images.extend(c.image.clone());
            for p in c.ports.iter().flatten() {
                if let Some(hp) = p.host_port.filter(|p| *p > 0) {
                    host_ports.push(HostPort {
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| "0.0.0.0".into()),
                        port: hp,
                    });
                }
            }
        }
        for c in spec.init_containers.iter().flatten() {
            let (r, any) = container_requests(c);
            best_effort &= !any;
            // Sidecars (restartPolicy Always) run alongside: they add up like containers.
            if c.restart_policy.as_deref() == Some("Always") {
                requests.add(&r);
                nz_cpu += if r.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { r.milli_cpu };
                nz_mem += if r.memory == 0 { DEFAULT_MEMORY_REQUEST } else { r.memory };
            } else {
                requests.max_with(&r);
                nz_cpu = nz_cpu.max(r.milli_cpu);
                nz_mem = nz_mem.max(r.memory);
            }
        }
        if let Some(overhead) = &spec.overhead {
            let o = Resource::from_list(overhead);
            requests.add(&o);
            nz_cpu += o.milli_cpu;
            nz_mem += o.memory;
        }

        let affinity = spec.affinity.clone().unwrap_or_default();
        let node_aff = affinity.node_affinity.unwrap_or_default();
        let parse_terms = |terms: Option<Vec<PodAffinityTerm>>| -> Vec<AffinityTerm> {
            terms.into_iter().flatten().filter_map(|t| AffinityTerm::parse(&t, &namespace, &labels)).collect()
        };
        let parse_weighted = |terms: Option<Vec<kapi::k8s::api::core::v1::WeightedPodAffinityTerm>>| {
            terms
                .into_iter()
                .flatten()
                .filter_map(|w| {
                    Some(WeightedAffinityTerm {
                        weight: w.weight,
                        term: AffinityTerm::parse(&w.pod_affinity_term, &namespace, &labels)?,
                    })
                })
                .collect::<Vec<_>>()
        };
        let pa = affinity.pod_affinity.unwrap_or_default();
        let paa = affinity.pod_anti_affinity.unwrap_or_default();
        let required_affinity = parse_terms(pa.required_during_scheduling_ignored_during_execution);
        let preferred_affinity = parse_weighted(pa.preferred_during_scheduling_ignored_during_execution);
        let required_anti_affinity = parse_terms(paa.required_during_scheduling_ignored_during_execution);
        let preferred_anti_affinity = parse_weighted(paa.preferred_during_scheduling_ignored_during_execution);

        Self {
            key: format!("{namespace}/{name}"),
            uid: meta.uid.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            scheduler_name: spec.scheduler_name.clone().unwrap_or_else(|| "default-scheduler".into()),
            node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
            requests,
            non_zero_milli_cpu: nz_cpu,
            non_zero_memory: nz_mem,
            best_effort,
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            required_node_affinity: node_aff.required_during_scheduling_ignored_during_execution,
            preferred_node_affinity: node_aff.preferred_during_scheduling_ignored_during_execution.unwrap_or_default(),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            host_ports,
            required_affinity,
            required_anti_affinity,
            preferred_affinity,
            preferred_anti_affinity,
            spread_constraints: spec.topology_spread_constraints.clone().unwrap_or_default(),
            scheduling_gates: spec.scheduling_gates.iter().flatten().map(|g| g.name.clone()).collect(),
            images,
            pvcs: spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone()))
                .collect(),
            namespace,
            name,
            labels,
            pod,
        }
    }

    /// Whether the pod has any pod affinity or anti-affinity (required or preferred).
    pub fn has_affinity(&self) -> bool {
        !self.required_affinity.is_empty()
            || !self.preferred_affinity.is_empty()
            || !self.required_anti_affinity.is_empty()
            || !self.preferred_anti_affinity.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> PodInfo {
        PodInfo::new(Arc::new(serde_json::from_value(v).unwrap()))
    }

    #[test]
    fn requests_follow_upstream_rules() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "1"}}},
                {"name": "c"}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
            "overhead": {"cpu": "10m"}}}));
        // max(200m + 1000m + 0, 2000m) + 10m
        assert_eq!(p.requests.milli_cpu, 2010);
        assert_eq!(p.requests.memory, 1 << 30);
        assert!(!p.best_effort);
        // Non-zero: 200m + 1000m + 100m (c), then max with init 2000m, + overhead.
        assert_eq!(p.non_zero_milli_cpu, 2010);
        assert_eq!(p.non_zero_memory, (1 << 30) + 2 * DEFAULT_MEMORY_REQUEST);
        let be = pod(json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "a"}]}}));
        assert!(be.best_effort);
        assert_eq!((be.non_zero_milli_cpu, be.non_zero_memory), (100, DEFAULT_MEMORY_REQUEST));
        assert_eq!(be.namespace, "default");
    }

    #[test]
    fn affinity_terms_default_to_own_namespace() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}}, "spec": {
            "containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080}]}],
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "kubernetes.io/hostname",
                 "matchLabelKeys": ["app"]}]}}}}));
        let t = &p.required_anti_affinity[0];
        assert!(t.namespaces.contains("ns"));
        assert!(t.matches(&p, None));
        assert_eq!(p.host_ports, vec![HostPort { protocol: "TCP".into(), ip: "0.0.0.0".into(), port: 8080 }]);
    }
}
