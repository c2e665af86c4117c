//! [`KubeletConfig`]: the node's identity, resources and the kubelet's intervals, with
//! upstream defaults.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use kapi::k8s::api::core::v1::Taint;

use crate::host;
use crate::pods::backoff::BackoffConfig;

/// Errors of [`KubeletConfig::validate`] and of reading the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is invalid.
    #[error("invalid kubelet configuration: {0}")]
    Invalid(String),
    /// The host's resources could not be read.
    #[error("reading the host: {0}")]
    Host(String),
}

/// The node's resources (capacity or allocatable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeResources {
    /// CPU in millicores.
    pub cpu_millis: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Maximum number of pods.
    pub pods: i64,
    /// Ephemeral storage in bytes, if known.
    pub ephemeral_storage_bytes: Option<i64>,
}

impl NodeResources {
    /// Resources given explicitly (a fake node).
    pub fn new(cpu_millis: i64, memory_bytes: i64, pods: i64) -> Self {
        Self { cpu_millis, memory_bytes, pods, ephemeral_storage_bytes: None }
    }

    /// The host's CPUs (`/proc/cpuinfo`, else the available parallelism) and memory
    /// (`MemTotal` of `/proc/meminfo`), with `max_pods` pods.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Host`] if `/proc/meminfo` cannot be read.
    pub fn from_host(max_pods: i64) -> Result<Self, ConfigError> {
        let cpus = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .map(|t| host::count_cpus(&t))
            .filter(|n| *n > 0)
            .or_else(|| std::thread::available_parallelism().ok().and_then(|n| i64::try_from(n.get()).ok()))
            .unwrap_or(1);
        let meminfo =
            std::fs::read_to_string("/proc/meminfo").map_err(|e| ConfigError::Host(format!("/proc/meminfo: {e}")))?;
        let memory =
            host::mem_total(&meminfo).ok_or_else(|| ConfigError::Host("no MemTotal in /proc/meminfo".into()))?;
        Ok(Self { cpu_millis: cpus * 1000, memory_bytes: memory, pods: max_pods, ephemeral_storage_bytes: None })
    }
}

/// The kubelet's configuration. Make one with [`KubeletConfig::new`] and adjust fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KubeletConfig {
    /// The Node's name (`--hostname-override`).
    pub node_name: String,
    /// Labels besides the defaults (`kubernetes.io/hostname`, `kubernetes.io/os`,
    /// `kubernetes.io/arch` and their `beta.` forms).
    pub labels: BTreeMap<String, String>,
    /// Taints the node registers with (`--register-with-taints`).
    pub taints: Vec<Taint>,
    /// `spec.podCIDR` to register with.
    pub pod_cidr: Option<String>,
    /// The node's IP (`--node-ip`); the first non-loopback address found when unset.
    pub node_ip: Option<IpAddr>,
    /// Capacity.
    pub capacity: NodeResources,
    /// Allocatable; capacity when unset.
    pub allocatable: Option<NodeResources>,
    /// Root of pod directories (`--root-dir`, default `/var/lib/kubelet`): volumes go to
    /// `<root>/pods/<uid>/volumes/<plugin>/<name>`.
    pub root_dir: PathBuf,
    /// Root of pod logs (default `/var/log/pods`): `<dir>/<ns>_<name>_<uid>/<container>/<n>.log`.
    pub pod_log_dir: PathBuf,
    /// Parent cgroup of pods with the cgroupfs driver (default `/kubepods`).
    pub cgroup_root: String,
    /// Whether to register the Node object (default true).
    pub register_node: bool,
    /// The version reported in `nodeInfo.kubeletVersion`.
    pub kubelet_version: String,
    /// How often node status is computed and written if changed (upstream 10 s).
    pub node_status_update_frequency: Duration,
    /// Node status is written at least this often even if unchanged (upstream 5 min).
    pub node_status_report_frequency: Duration,
    /// The Lease's duration (upstream 40 s).
    pub node_lease_duration: Duration,
    /// How often the Lease is renewed (upstream 10 s).
    pub node_lease_renew_interval: Duration,
    /// How often the runtime is relisted to notice container changes (upstream 1 s).
    pub pleg_relist_period: Duration,
    /// Periodic resync of every pod worker (upstream `syncFrequency`, 1 min).
    pub sync_frequency: Duration,
    /// Container restart back-off (upstream 10 s doubling to 300 s).
    pub restart_backoff: BackoffConfig,
    /// Grace period when a pod sets none (upstream 30 s).
    pub default_termination_grace: Duration,
    /// Directory of static pod manifests (`--pod-manifest-path`).
    pub static_pod_path: Option<PathBuf>,
    /// How often the static pod directory is rescanned (upstream 20 s).
    pub file_check_frequency: Duration,
    /// `--address`: where the kubelet API listens (upstream 0.0.0.0).
    pub address: IpAddr,
    /// `--port`: the kubelet API's port (upstream 10250). 0 picks a free port; the port
    /// in use is what the Node's `daemonEndpoints` report.
    pub port: u16,
    /// `--tls-cert-file` (with `tls_private_key_file`) for the kubelet API; a self-signed
    /// certificate under `<root_dir>/pki` when unset, as upstream.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--cluster-dns`: name servers of `ClusterFirst` pods (none: they use the host's).
    pub cluster_dns: Vec<IpAddr>,
    /// `--cluster-domain` (e.g. `cluster.local`; upstream's default is empty).
    pub cluster_domain: String,
    /// `--resolv-conf`: the host resolver file for `Default` pods (default `/etc/resolv.conf`;
    /// an empty path means none).
    pub resolv_conf: PathBuf,
}

impl KubeletConfig {
    /// Upstream defaults for node `node_name` with the given capacity.
    pub fn new(node_name: impl Into<String>, capacity: NodeResources) -> Self {
        Self {
            node_name: node_name.into(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            pod_cidr: None,
            node_ip: None,
            capacity,
            allocatable: None,
            root_dir: PathBuf::from("/var/lib/kubelet"),
            pod_log_dir: PathBuf::from("/var/log/pods"),
            cgroup_root: "/kubepods".into(),
            register_node: true,
            kubelet_version: "v1.33.0".into(),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            node_lease_duration: Duration::from_secs(40),
            node_lease_renew_interval: Duration::from_secs(10),
            pleg_relist_period: Duration::from_secs(1),
            sync_frequency: Duration::from_secs(60),
            restart_backoff: BackoffConfig::default(),
            default_termination_grace: Duration::from_secs(30),
            static_pod_path: None,
            file_check_frequency: Duration::from_secs(20),
            address: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: 10250,
            tls_cert_file: None,
            tls_private_key_file: None,
            cluster_dns: Vec::new(),
            cluster_domain: String::new(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
        }
    }

    /// Allocatable resources (capacity when not set).
    pub fn allocatable(&self) -> NodeResources {
        self.allocatable.unwrap_or(self.capacity)
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for an empty or invalid node name, zero intervals or
    /// negative resources.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.node_name.is_empty()
            && self.node_name.len() <= 253
            && self.node_name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !name_ok {
            return Err(ConfigError::Invalid(format!("node name {:?} is not a DNS subdomain", self.node_name)));
        }
        let intervals = [
            ("nodeStatusUpdateFrequency", self.node_status_update_frequency),
            ("nodeStatusReportFrequency", self.node_status_report_frequency),
            ("nodeLeaseRenewInterval", self.node_lease_renew_interval),
            ("nodeLeaseDuration", self.node_lease_duration),
            ("plegRelistPeriod", self.pleg_relist_period),
            ("syncFrequency", self.sync_frequency),
            ("fileCheckFrequency", self.file_check_frequency),
        ];
        if let Some((name, _)) = intervals.iter().find(|(_, d)| d.is_zero()) {
            return Err(ConfigError::Invalid(format!("{name} must be positive")));
        }
        for r in [self.capacity, self.allocatable()] {
            if r.cpu_millis < 0 || r.memory_bytes < 0 || r.pods < 0 {
                return Err(ConfigError::Invalid("resources must not be negative".into()));
            }
        }
        if !self.root_dir.is_absolute() || !self.pod_log_dir.is_absolute() {
            return Err(ConfigError::Invalid("root and log directories must be absolute".into()));
        }
        if self.tls_cert_file.is_some() != self.tls_private_key_file.is_some() {
            return Err(ConfigError::Invalid("--tls-cert-file and --tls-private-key-file go together".into()));
        }
        Ok(())
    }

    /// The labels the Node registers with: defaults, then [`labels`](Self::labels).
    pub fn node_labels(&self) -> BTreeMap<String, String> {
        let arch = host::go_arch();
        let mut labels: BTreeMap<String, String> = [
            ("kubernetes.io/hostname", self.node_name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", arch),
            ("beta.kubernetes.io/os", "linux"),
            ("beta.kubernetes.io/arch", arch),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        labels.extend(self.labels.clone());
        labels
    }
}

/// Parses `--node-labels`: `key=value,…`.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for an entry without `=`.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| ConfigError::Invalid(format!("bad label {p:?}: want key=value")))
        })
        .collect()
}

/// Parses `--register-with-taints`: `key=value:Effect,…` or `key:Effect`.
///
/// # Errors
///
/// [`ConfigError::Invalid`] for an entry without an effect or with an unknown one.
pub fn parse_taints(s: &str) -> Result<Vec<Taint>, ConfigError> {
    let mut taints = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let bad = || ConfigError::Invalid(format!("bad taint {t:?}: want key=value:Effect"));
        let (kv, effect) = t.rsplit_once(':').ok_or_else(bad)?;
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            return Err(bad());
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (kv.to_owned(), None),
        };
        taints.push(Taint { key, value, effect: effect.to_owned(), time_added: None });
    }
    Ok(taints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let c = KubeletConfig::new("node-1", NodeResources::new(2000, 4 << 30, 110));
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.node_labels()["kubernetes.io/hostname"], "node-1");
        assert_eq!(c.node_labels()["kubernetes.io/os"], "linux");
        let mut bad = c.clone();
        bad.node_name = "Node_1".into();
        assert!(bad.validate().is_err());
        let mut bad = c;
        bad.pleg_relist_period = Duration::ZERO;
        assert!(bad.validate().is_err());
    }

    #[test]
    fn flag_parsers() {
        let l = parse_labels("a=1, b=2,").expect("labels");
        assert_eq!(l.get("b").map(String::as_str), Some("2"));
        assert!(parse_labels("nope").is_err());
        let t = parse_taints("dedicated=gpu:NoSchedule,spot:PreferNoSchedule").expect("taints");
        assert_eq!(
            (t[0].key.as_str(), t[0].value.as_deref(), t[0].effect.as_str()),
            ("dedicated", Some("gpu"), "NoSchedule")
        );
        assert_eq!((t[1].key.as_str(), t[1].value.as_deref()), ("spot", None));
        assert!(parse_taints("x=y").is_err() && parse_taints("x:Sometimes").is_err());
    }

    #[test]
    fn host_resources() {
        let r = NodeResources::from_host(110).expect("/proc is readable");
        assert!(r.cpu_millis >= 1000 && r.memory_bytes > 0 && r.pods == 110);
    }
}
