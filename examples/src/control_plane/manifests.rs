//! The static pod manifests of the control plane, rendered from a [`ControlPlaneConfig`]
//! without touching the file system.

use serde_json::{Value, json};

use super::ControlPlaneConfig;

/// Where the component binaries are mounted inside the containers.
pub const BIN_MOUNT: &str = "/kcluster/bin";

/// kstore-server's client port on the node (etcd's 2379).
pub const STORE_CLIENT_PORT: u16 = 2379;
/// kstore-server's peer port on the node (etcd's 2380).
pub const STORE_PEER_PORT: u16 = 2380;

/// The store's client URLs the API server uses.
pub fn store_endpoints(config: &ControlPlaneConfig) -> Vec<String> {
    if config.store_endpoints.is_empty() {
        vec![format!("http://127.0.0.1:{STORE_CLIENT_PORT}")]
    } else {
        config.store_endpoints.clone()
    }
}

/// `(file name, pod)` for each component, in start order: kstore (unless the store is
/// external), kube-apiserver, kube-scheduler, kube-controller-manager.
pub fn render(config: &ControlPlaneConfig) -> Vec<(String, Value)> {
    let data = config.data_dir.display().to_string();
    let mut pods = Vec::new();
    if config.store_endpoints.is_empty() {
        let peer = format!("http://127.0.0.1:{STORE_PEER_PORT}");
        let client = format!("http://127.0.0.1:{STORE_CLIENT_PORT}");
        pods.push(pod(
            config,
            "kstore",
            vec![
                format!("--name={}", config.node_name),
                format!("--data-dir={data}/kstore"),
                format!("--listen-client-urls={client}"),
                format!("--advertise-client-urls={client}"),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster={}={peer}", config.node_name),
            ],
            "kstore-server",
            None,
        ));
    }
    let advertise = config.advertise_address();
    let bind = if config.node_ip.is_some() { "0.0.0.0".to_owned() } else { advertise.to_string() };
    let livez = json!({
        "httpGet": {"host": advertise.to_string(), "path": "/livez", "port": config.port, "scheme": "HTTPS"},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 15,
        "failureThreshold": 8,
    });
    pods.push(pod(
        config,
        "kube-apiserver",
        vec![
            format!("--data-dir={data}"),
            format!("--etcd-servers={}", store_endpoints(config).join(",")),
            format!("--secure-port={}", config.port),
            format!("--bind-address={bind}"),
            format!("--advertise-address={advertise}"),
        ],
        "kube-apiserver",
        Some(livez),
    ));
    for (name, conf) in [("kube-scheduler", "scheduler.conf"), ("kube-controller-manager", "controller-manager.conf")] {
        pods.push(pod(config, name, vec![format!("--kubeconfig={data}/{conf}")], name, None));
    }
    pods
}

/// One host-network pod in kube-system running `binary args…` from the mounted binaries,
/// with the data directory mounted at its host path (so paths in flags and kubeconfigs
/// mean the same inside and outside).
fn pod(
    config: &ControlPlaneConfig,
    name: &str,
    args: Vec<String>,
    binary: &str,
    liveness: Option<Value>,
) -> (String, Value) {
    let data = config.data_dir.display().to_string();
    let mut command = vec![format!("{BIN_MOUNT}/{binary}")];
    command.extend(args);
    let mut container = json!({
        "name": name,
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": "RUST_LOG", "value": "info"}],
        "volumeMounts": [
            {"name": "bin", "mountPath": BIN_MOUNT, "readOnly": true},
            {"name": "data", "mountPath": data},
        ],
    });
    if let Some(probe) = liveness {
        container["livenessProbe"] = probe;
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"component": name, "tier": "control-plane"},
        },
        "spec": {
            "hostNetwork": true,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 10,
            "containers": [container],
            "volumes": [
                {"name": "bin", "hostPath": {"path": config.bin_dir.display().to_string(), "type": "Directory"}},
                {"name": "data", "hostPath": {"path": data, "type": "DirectoryOrCreate"}},
            ],
        },
    });
    (format!("{name}.yaml"), pod)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    use super::*;

    fn config() -> ControlPlaneConfig {
        ControlPlaneConfig {
            data_dir: PathBuf::from("/var/lib/kcluster"),
            manifest_dir: PathBuf::from("/etc/kubernetes/manifests"),
            node_name: "cp-1".into(),
            node_ip: None,
            port: 6443,
            image: "kcluster.local/runtime:1".into(),
            bin_dir: PathBuf::from("/opt/kcluster/bin"),
            store_endpoints: Vec::new(),
        }
    }

    fn command(pod: &Value) -> Vec<String> {
        serde_json::from_value(pod["spec"]["containers"][0]["command"].clone()).expect("command")
    }

    #[test]
    fn four_host_network_pods_the_kubelet_accepts() {
        let pods = render(&config());
        let names: Vec<&str> = pods.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            ["kstore.yaml", "kube-apiserver.yaml", "kube-scheduler.yaml", "kube-controller-manager.yaml"]
        );
        for (file, pod) in &pods {
            let yaml = serde_yaml::to_string(pod).expect("yaml");
            let parsed = knode::static_pods::parse_manifest(&yaml, "cp-1").expect(file);
            let spec = parsed.spec.expect("spec");
            assert_eq!(spec.host_network, Some(true), "{file}");
            assert_eq!(spec.node_name.as_deref(), Some("cp-1"));
            let c = &spec.containers[0];
            assert!(c.command.as_ref().expect("command")[0].starts_with("/kcluster/bin/"), "{file}");
            let mounts = c.volume_mounts.as_ref().expect("mounts");
            assert!(mounts.iter().any(|m| m.mount_path == "/var/lib/kcluster"), "{file}: data dir at its host path");
        }
    }

    #[test]
    fn the_api_server_uses_the_local_store_and_binds_loopback_without_a_node_ip() {
        let pods = render(&config());
        let api = command(&pods[1].1);
        assert!(api.contains(&"--etcd-servers=http://127.0.0.1:2379".to_owned()), "{api:?}");
        assert!(api.contains(&"--bind-address=127.0.0.1".to_owned()), "{api:?}");
        assert_eq!(pods[1].1["spec"]["containers"][0]["livenessProbe"]["httpGet"]["host"], "127.0.0.1");
        let store = command(&pods[0].1);
        assert!(store.contains(&"--initial-cluster=cp-1=http://127.0.0.1:2380".to_owned()), "{store:?}");
        assert!(store.contains(&"--data-dir=/var/lib/kcluster/kstore".to_owned()), "{store:?}");
        assert_eq!(command(&pods[2].1)[1], "--kubeconfig=/var/lib/kcluster/scheduler.conf");
    }

    #[test]
    fn an_external_store_drops_the_kstore_pod_and_a_node_ip_is_advertised() {
        let mut c = config();
        c.store_endpoints = vec!["http://10.0.0.5:2379".into(), "http://10.0.0.6:2379".into()];
        c.node_ip = Some(Ipv4Addr::new(10, 0, 0, 9));
        let pods = render(&c);
        assert_eq!(pods.len(), 3);
        let api = command(&pods[0].1);
        assert!(api.contains(&"--etcd-servers=http://10.0.0.5:2379,http://10.0.0.6:2379".to_owned()), "{api:?}");
        assert!(api.contains(&"--bind-address=0.0.0.0".to_owned()), "{api:?}");
        assert!(api.contains(&"--advertise-address=10.0.0.9".to_owned()), "{api:?}");
    }
}
