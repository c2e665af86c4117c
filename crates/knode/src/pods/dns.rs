//! A pod's resolver configuration from its `dnsPolicy` and `dnsConfig` (pure), as upstream's
//! kubelet builds it:
//!
//! * `ClusterFirst` (the default): the cluster DNS servers, the search list
//!   `<ns>.svc.<domain> svc.<domain> <domain>` followed by the host's, and `ndots:5`. A
//!   host-network pod, or a kubelet without `--cluster-dns`, gets `Default` instead.
//! * `ClusterFirstWithHostNet`: `ClusterFirst` for host-network pods too.
//! * `Default`: the host's resolver (`--resolv-conf`).
//! * `None`: only the pod's `dnsConfig`.
//!
//! The pod's `dnsConfig` is then merged in: its servers and searches are appended (duplicates
//! dropped), its options replace same-named ones. The search list is cut at 32 domains and
//! 2,048 characters.

use std::net::IpAddr;

use kapi::k8s::api::core::v1::Pod;
use kcri::types::DnsConfig;

/// Upstream's limits on the search list (`MaxDNSSearchPaths`, `MaxDNSSearchListChars`).
const MAX_SEARCHES: usize = 32;
const MAX_SEARCH_CHARS: usize = 2048;

/// The kubelet's DNS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DnsSettings {
    /// `--cluster-dns`.
    pub(crate) cluster_dns: Vec<IpAddr>,
    /// `--cluster-domain`.
    pub(crate) cluster_domain: String,
    /// The host's resolver (`--resolv-conf`, parsed).
    pub(crate) host: DnsConfig,
}

/// Parses a `resolv.conf`: `nameserver`, `search` (the last one wins, as in glibc) and
/// `options` lines.
pub(crate) fn parse_resolv_conf(text: &str) -> DnsConfig {
    let mut c = DnsConfig::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => c.servers.extend(words.next().map(str::to_string)),
            Some("search") | Some("domain") => c.searches = words.map(str::to_string).collect(),
            Some("options") => c.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    c
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// Merges options: a later `name` or `name:value` replaces an earlier one of the same name.
fn merge_options(base: &mut Vec<String>, extra: impl IntoIterator<Item = String>) {
    for o in extra {
        let name = o.split(':').next().unwrap_or("").to_string();
        base.retain(|b| b.split(':').next() != Some(name.as_str()));
        base.push(o);
    }
}

fn trim_searches(searches: &mut Vec<String>) {
    searches.truncate(MAX_SEARCHES);
    let mut chars = 0;
    let keep = searches
        .iter()
        .take_while(|s| {
            chars += s.len() + usize::from(chars > 0);
            chars <= MAX_SEARCH_CHARS
        })
        .count();
    searches.truncate(keep);
}

/// The resolver configuration for `pod`; `None` leaves it to the runtime (the host's).
pub(crate) fn pod_dns_config(pod: &Pod, settings: &DnsSettings) -> Option<DnsConfig> {
    let spec = pod.spec.as_ref()?;
    let host_network = spec.host_network.unwrap_or(false);
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    } && !settings.cluster_dns.is_empty();
    let mut c = if policy == "None" {
        DnsConfig::default()
    } else if cluster {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut searches = Vec::new();
        if !settings.cluster_domain.is_empty() {
            let d = &settings.cluster_domain;
            searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
        }
        push_unique(&mut searches, settings.host.searches.iter().cloned());
        DnsConfig {
            servers: settings.cluster_dns.iter().map(IpAddr::to_string).collect(),
            searches,
            options: vec!["ndots:5".into()],
        }
    } else {
        settings.host.clone()
    };
    if let Some(pod_cfg) = &spec.dns_config {
        push_unique(&mut c.servers, pod_cfg.nameservers.iter().flatten().cloned());
        push_unique(&mut c.searches, pod_cfg.searches.iter().flatten().cloned());
        let opts = pod_cfg.options.iter().flatten().filter_map(|o| {
            let name = o.name.as_deref()?;
            Some(match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name.to_string(),
            })
        });
        merge_options(&mut c.options, opts);
    }
    trim_searches(&mut c.searches);
    if c == DnsConfig::default() && policy != "None" {
        return None;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c", "image": "i"}]);
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "team"}, "spec": spec})).unwrap()
    }

    fn settings() -> DnsSettings {
        DnsSettings {
            cluster_dns: vec!["10.96.0.10".parse().unwrap()],
            cluster_domain: "cluster.local".into(),
            host: parse_resolv_conf("# host\nnameserver 192.168.1.1\nsearch corp.example\noptions edns0\n"),
        }
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns() {
        let c = pod_dns_config(&pod(json!({})), &settings()).unwrap();
        assert_eq!(c.servers, vec!["10.96.0.10"]);
        assert_eq!(c.searches, vec!["team.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"]);
        assert_eq!(c.options, vec!["ndots:5"]);
    }

    #[test]
    fn host_network_and_default_use_the_host_resolver() {
        let host = settings().host;
        assert_eq!(pod_dns_config(&pod(json!({"hostNetwork": true})), &settings()), Some(host.clone()));
        assert_eq!(pod_dns_config(&pod(json!({"dnsPolicy": "Default"})), &settings()), Some(host.clone()));
        let c = pod_dns_config(&pod(json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"})), &settings());
        assert_eq!(c.unwrap().servers, vec!["10.96.0.10"]);
        // Without --cluster-dns, ClusterFirst falls back to the host's resolver.
        let no_cluster = DnsSettings { cluster_dns: vec![], ..settings() };
        assert_eq!(pod_dns_config(&pod(json!({})), &no_cluster), Some(host));
        // Nothing known at all: the runtime decides.
        assert_eq!(pod_dns_config(&pod(json!({})), &DnsSettings::default()), None);
    }

    #[test]
    fn pod_dns_config_is_merged() {
        let p = pod(json!({"dnsConfig": {"nameservers": ["1.1.1.1", "10.96.0.10"], "searches": ["extra.local"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "single-request"}]}}));
        let c = pod_dns_config(&p, &settings()).unwrap();
        assert_eq!(c.servers, vec!["10.96.0.10", "1.1.1.1"]);
        assert_eq!(c.searches.last().map(String::as_str), Some("extra.local"));
        assert_eq!(c.options, vec!["ndots:2", "single-request"]);
        let none = pod(json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["9.9.9.9"]}}));
        let c = pod_dns_config(&none, &settings()).unwrap();
        assert_eq!((c.servers, c.searches, c.options), (vec!["9.9.9.9".to_string()], vec![], vec![]));
    }

    #[test]
    fn search_list_is_limited() {
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let p = pod(json!({"dnsConfig": {"searches": many}}));
        assert_eq!(pod_dns_config(&p, &settings()).unwrap().searches.len(), 32);
        let long: Vec<String> = (0..20).map(|i| format!("{i}{}", "x".repeat(200))).collect();
        let p = pod(json!({"dnsConfig": {"searches": long}}));
        let s = pod_dns_config(&p, &settings()).unwrap().searches;
        assert!(s.join(" ").len() <= 2048 && s.len() < 14, "{}", s.len());
    }

    #[test]
    fn parses_resolv_conf() {
        let c = parse_resolv_conf(
            "nameserver 1.1.1.1 ; comment\nnameserver 8.8.8.8\nsearch a b\nsearch c\noptions ndots:1 rotate\n",
        );
        assert_eq!(c.servers, vec!["1.1.1.1", "8.8.8.8"]);
        assert_eq!(c.searches, vec!["c"]);
        assert_eq!(c.options, vec!["ndots:1", "rotate"]);
    }
}
