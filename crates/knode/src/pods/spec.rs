//! CRI configurations of a pod's sandbox and containers (pure).

use std::collections::BTreeMap;
use std::path::Path;

use kapi::k8s::api::core::v1::{Container, Pod};
use kapi::quantity::Quantity;
use kcri::types::{
    ContainerConfig, ContainerMetadata, ImageSpec, KeyValue, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount, NamespaceMode,
    NamespaceOptions, PodSandboxConfig, PodSandboxMetadata, PortMapping, Protocol,
};

use super::actions::container_hash;
use super::runtime::{
    CONTAINER_HASH_ANNOTATION, CONTAINER_NAME_LABEL, CONTAINER_RESTART_COUNT_ANNOTATION, INIT_CONTAINER_LABEL,
    POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL, TERMINATION_GRACE_ANNOTATION,
    TERMINATION_MESSAGE_PATH_ANNOTATION, TERMINATION_MESSAGE_POLICY_ANNOTATION,
};
use crate::logs::{container_log_relative, pod_log_dir};

/// The pod's name, namespace and UID.
pub(crate) fn pod_identity(pod: &Pod) -> (&str, &str, &str) {
    let m = &pod.metadata;
    (m.name.as_deref().unwrap_or(""), m.namespace.as_deref().unwrap_or("default"), m.uid.as_deref().unwrap_or(""))
}

fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    let (name, ns, uid) = pod_identity(pod);
    [(POD_NAME_LABEL, name), (POD_NAMESPACE_LABEL, ns), (POD_UID_LABEL, uid)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The sandbox configuration: metadata, the pod's labels plus the kubelet's, log directory,
/// namespaces (host network/PID/IPC), host ports and the cgroup parent.
pub(crate) fn sandbox_config(pod: &Pod, attempt: u32, log_root: &Path, cgroup_parent: &str) -> PodSandboxConfig {
    let (name, ns, uid) = pod_identity(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let mut labels = pod.metadata.labels.clone().unwrap_or_default();
    labels.extend(pod_labels(pod));
    let mode = |host: Option<bool>| if host.unwrap_or(false) { NamespaceMode::Node } else { NamespaceMode::Pod };
    let port_mappings = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| PortMapping {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                _ => Protocol::Tcp,
            },
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or_default(),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    PodSandboxConfig {
        metadata: PodSandboxMetadata { name: name.into(), uid: uid.into(), namespace: ns.into(), attempt },
        // A host-network sandbox shares the node's UTS namespace: no hostname of its own.
        hostname: if host_network { String::new() } else { spec.hostname.clone().unwrap_or_else(|| name.to_owned()) },
        log_directory: pod_log_dir(log_root, ns, name, uid).display().to_string(),
        dns_config: None,
        port_mappings,
        labels,
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.to_owned(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOptions {
                    network: mode(spec.host_network),
                    pid: mode(spec.host_pid),
                    ipc: mode(spec.host_ipc),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

/// `$(VAR)` references in `s` replaced by `env` values (`$$` escapes a `$`; unknown
/// references stay), as upstream expands command, args and env values.
pub(crate) fn expand(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after.strip_prefix('(').and_then(|a| a.split_once(')')) {
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn linux_config(pod: &Pod, c: &Container) -> LinuxContainerConfig {
    let limit = |name: &str| {
        c.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get(name))
            .and_then(|q| q.0.parse::<Quantity>().ok())
    };
    let request = |name: &str| {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|l| l.get(name))
            .and_then(|q| q.0.parse::<Quantity>().ok())
    };
    let cpu_request = request("cpu").or_else(|| limit("cpu")).and_then(|q| q.milli_value().ok());
    let mut resources = LinuxContainerResources {
        // Upstream's milliCPU → shares: 1024 per CPU, minimum 2.
        cpu_shares: cpu_request.map_or(2, |m| (m * 1024 / 1000).max(2)),
        ..Default::default()
    };
    if let Some(m) = limit("cpu").and_then(|q| q.milli_value().ok()) {
        resources.cpu_period = 100_000;
        resources.cpu_quota = (m * 100_000 / 1000).max(1000);
    }
    if let Some(bytes) = limit("memory").and_then(|q| q.value().ok()) {
        resources.memory_limit_in_bytes = bytes;
    }
    let sc = c.security_context.as_ref();
    let spec = pod.spec.clone().unwrap_or_default();
    let host = |h: Option<bool>, otherwise| if h.unwrap_or(false) { NamespaceMode::Node } else { otherwise };
    let pid_default =
        if spec.share_process_namespace.unwrap_or(false) { NamespaceMode::Pod } else { NamespaceMode::Container };
    let security_context = LinuxContainerSecurityContext {
        namespace_options: Some(NamespaceOptions {
            network: host(spec.host_network, NamespaceMode::Pod),
            pid: host(spec.host_pid, pid_default),
            ipc: host(spec.host_ipc, NamespaceMode::Pod),
            ..Default::default()
        }),
        privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
        run_as_user: sc.and_then(|s| s.run_as_user),
        readonly_rootfs: sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false),
        ..Default::default()
    };
    LinuxContainerConfig { resources: Some(resources), security_context: Some(security_context) }
}

/// The container configuration: metadata, image, expanded command and args, env, mounts,
/// the kubelet's labels and annotations, and the log path `<name>/<attempt>.log`.
pub(crate) fn container_config(
    pod: &Pod,
    c: &Container,
    attempt: u32,
    init: bool,
    envs: Vec<KeyValue>,
    mounts: Vec<Mount>,
) -> ContainerConfig {
    let env_map: BTreeMap<String, String> = envs.iter().map(|kv| (kv.key.clone(), kv.value.clone())).collect();
    let mut labels = pod_labels(pod);
    labels.insert(CONTAINER_NAME_LABEL.into(), c.name.clone());
    if init {
        labels.insert(INIT_CONTAINER_LABEL.into(), "true".into());
    }
    let grace = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
    let annotations: BTreeMap<String, String> = [
        (CONTAINER_HASH_ANNOTATION, container_hash(c)),
        (CONTAINER_RESTART_COUNT_ANNOTATION, attempt.to_string()),
        (
            TERMINATION_MESSAGE_PATH_ANNOTATION,
            c.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into()),
        ),
        (TERMINATION_MESSAGE_POLICY_ANNOTATION, c.termination_message_policy.clone().unwrap_or_else(|| "File".into())),
        (TERMINATION_GRACE_ANNOTATION, grace.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    ContainerConfig {
        metadata: ContainerMetadata { name: c.name.clone(), attempt },
        image: ImageSpec::new(c.image.clone().unwrap_or_default()),
        command: c.command.iter().flatten().map(|s| expand(s, &env_map)).collect(),
        args: c.args.iter().flatten().map(|s| expand(s, &env_map)).collect(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs,
        mounts,
        labels,
        annotations,
        log_path: container_log_relative(&c.name, attempt),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(linux_config(pod, c)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use kapi::k8s::api::core::v1::{ContainerPort, PodSpec};

    use super::*;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = Some("u1".into());
        p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        p.spec = Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("busybox".into()),
                command: Some(vec!["sh".into(), "-c".into(), "echo $(GREETING) $$HOME".into()]),
                ports: Some(vec![ContainerPort { container_port: 80, host_port: Some(8080), ..Default::default() }]),
                ..Default::default()
            }],
            ..Default::default()
        });
        p
    }

    #[test]
    fn expansion() {
        let env: BTreeMap<String, String> = [("A".to_owned(), "x".to_owned())].into();
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &env), "x-$(B)-$(A)-$");
    }

    #[test]
    fn sandbox() {
        let s = sandbox_config(&pod(), 2, Path::new("/var/log/pods"), "/kubepods/podu1");
        assert_eq!(s.metadata.attempt, 2);
        assert_eq!(s.labels[POD_UID_LABEL], "u1");
        assert_eq!(s.labels["app"], "web");
        assert_eq!(s.log_directory, "/var/log/pods/ns_web_u1");
        assert_eq!(s.hostname, "web");
        assert_eq!(s.port_mappings.len(), 1);
        assert_eq!(s.linux.as_ref().map(|l| l.network_mode()), Some(NamespaceMode::Pod));
    }

    #[test]
    fn container() {
        let p = pod();
        let c = &p.spec.as_ref().expect("spec").containers[0];
        let cfg = container_config(&p, c, 3, false, vec![KeyValue::new("GREETING", "hi")], Vec::new());
        assert_eq!(cfg.command[2], "echo hi $HOME");
        assert_eq!(cfg.log_path, "app/3.log");
        assert_eq!(cfg.labels[CONTAINER_NAME_LABEL], "app");
        assert_eq!(cfg.annotations[CONTAINER_RESTART_COUNT_ANNOTATION], "3");
        assert_eq!(cfg.annotations[CONTAINER_HASH_ANNOTATION], container_hash(c));
        assert!(!cfg.labels.contains_key(INIT_CONTAINER_LABEL));
    }
}
