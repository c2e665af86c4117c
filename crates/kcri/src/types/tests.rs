//! Round trips between domain and wire types.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::proto::v1 as pb;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn sandbox_config() -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: PodSandboxMetadata { name: "p".into(), uid: "u".into(), namespace: "ns".into(), attempt: 2 },
        hostname: "p".into(),
        log_directory: "/var/log/pods/ns_p_u".into(),
        dns_config: Some(DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec![],
            options: vec!["ndots:5".into()],
        }),
        port_mappings: vec![PortMapping {
            protocol: Protocol::Udp,
            container_port: 53,
            host_port: 5353,
            host_ip: String::new(),
        }],
        labels: labels(&[("io.kubernetes.pod.name", "p")]),
        annotations: labels(&[("a", "b")]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: "kubepods.slice".into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOptions { network: NamespaceMode::Node, ..Default::default() }),
                run_as_user: Some(1000),
                seccomp: Some(SecurityProfile {
                    profile_type: SecurityProfileType::RuntimeDefault,
                    localhost_ref: String::new(),
                }),
                ..Default::default()
            }),
            sysctls: labels(&[("net.ipv4.ip_forward", "1")]),
            overhead: None,
            resources: Some(LinuxContainerResources { cpu_shares: 2, ..Default::default() }),
        }),
    }
}

#[test]
fn sandbox_config_round_trips() {
    let config = sandbox_config();
    let wire = pb::PodSandboxConfig::from(config.clone());
    assert_eq!(wire.port_mappings[0].protocol, 1);
    assert_eq!(
        wire.linux.as_ref().and_then(|l| l.security_context.as_ref()).and_then(|s| s.run_as_user).map(|v| v.value),
        Some(1000)
    );
    assert_eq!(PodSandboxConfig::from(wire), config);
    assert_eq!(config.linux.as_ref().map(LinuxPodSandboxConfig::network_mode), Some(NamespaceMode::Node));
}

#[test]
fn container_config_round_trips() {
    let config = ContainerConfig {
        metadata: ContainerMetadata { name: "c".into(), attempt: 1 },
        image: ImageSpec::new("kcri.test/busybox:1"),
        command: vec!["sh".into(), "-c".into()],
        args: vec!["echo hello".into()],
        working_dir: "/".into(),
        envs: vec![KeyValue::new("A", "1")],
        mounts: vec![Mount {
            container_path: "/data".into(),
            host_path: "/tmp/data".into(),
            readonly: true,
            propagation: MountPropagation::HostToContainer,
            ..Default::default()
        }],
        labels: labels(&[("io.kubernetes.container.name", "c")]),
        annotations: labels(&[(RESTART_COUNT_ANNOTATION, "3")]),
        log_path: "c/1.log".into(),
        tty: true,
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources { memory_limit_in_bytes: 64 << 20, ..Default::default() }),
            security_context: Some(LinuxContainerSecurityContext {
                capabilities: Some(Capabilities { add: vec!["CAP_NET_ADMIN".into()], ..Default::default() }),
                run_as_group: Some(7),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let wire = pb::ContainerConfig::from(config.clone());
    assert_eq!(wire.mounts[0].propagation, 1);
    assert_eq!(ContainerConfig::from(wire), config);
}

#[test]
fn container_status_times_and_unknown_enums() {
    let wire = pb::ContainerStatus {
        id: "abc".into(),
        state: 42, // a state from a future CRI version
        created_at: 1_000_000_000,
        started_at: 0,
        finished_at: 2_000_000_001,
        annotations: labels(&[(RESTART_COUNT_ANNOTATION, "4")]),
        ..Default::default()
    };
    let status = ContainerStatus::from(wire);
    assert_eq!(status.state, ContainerState::Unknown);
    assert_eq!(status.created_at, UNIX_EPOCH + Duration::from_secs(1));
    assert_eq!(status.started_at, None);
    assert_eq!(status.finished_at, Some(UNIX_EPOCH + Duration::new(2, 1)));
    assert_eq!(status.restart_count(), Some(4));
    let back = pb::ContainerStatus::from(status);
    assert_eq!((back.created_at, back.started_at, back.finished_at), (1_000_000_000, 0, 2_000_000_001));
    assert_eq!(back.state, ContainerState::Unknown.to_i32());
}

#[test]
fn sandbox_status_network_and_namespaces() {
    let wire = pb::PodSandboxStatus {
        id: "s".into(),
        state: 0,
        network: Some(pb::PodSandboxNetworkStatus {
            ip: "10.88.0.2".into(),
            additional_ips: vec![pb::PodIp { ip: "fd00::2".into() }],
        }),
        linux: Some(pb::LinuxPodSandboxStatus {
            namespaces: Some(pb::Namespace { options: Some(pb::NamespaceOption { network: 2, ..Default::default() }) }),
        }),
        ..Default::default()
    };
    let status = PodSandboxStatus::from(wire.clone());
    assert_eq!(status.state, PodSandboxState::Ready);
    assert_eq!(status.ip(), Some("10.88.0.2"));
    assert_eq!(status.network.as_ref().map(|n| n.additional_ips.clone()), Some(vec!["fd00::2".to_owned()]));
    assert_eq!(status.namespace_options.as_ref().map(|n| n.network), Some(NamespaceMode::Node));
    assert_eq!(pb::PodSandboxStatus::from(status), pb::PodSandboxStatus { metadata: Some(Default::default()), ..wire });
}

#[test]
fn filters_match_and_convert() {
    let sandbox = PodSandbox {
        id: "abcdef".into(),
        metadata: PodSandboxMetadata::default(),
        state: PodSandboxState::Ready,
        created_at: UNIX_EPOCH,
        labels: labels(&[("app", "web"), ("tier", "front")]),
        annotations: Labels::new(),
        runtime_handler: String::new(),
    };
    let filter = PodSandboxFilter {
        id: Some("abc".into()),
        state: Some(PodSandboxState::Ready),
        label_selector: labels(&[("app", "web")]),
    };
    assert!(filter.matches(&sandbox));
    assert!(!PodSandboxFilter { label_selector: labels(&[("app", "db")]), ..Default::default() }.matches(&sandbox));
    assert!(!PodSandboxFilter { state: Some(PodSandboxState::NotReady), ..Default::default() }.matches(&sandbox));
    let wire = pb::PodSandboxFilter::from(filter.clone());
    assert_eq!(wire.state.map(|s| s.state), Some(0));
    assert_eq!(PodSandboxFilter::from(wire), filter);
    // An empty filter on the wire means "no constraint", not "id must be empty".
    assert_eq!(ContainerFilter::from(pb::ContainerFilter::default()), ContainerFilter::default());
}

#[test]
fn runtime_status_and_version() {
    let wire = pb::StatusResponse {
        status: Some(pb::RuntimeStatus {
            conditions: vec![
                pb::RuntimeCondition { r#type: RUNTIME_READY.into(), status: true, ..Default::default() },
                pb::RuntimeCondition {
                    r#type: NETWORK_READY.into(),
                    status: false,
                    reason: "NoCNI".into(),
                    message: String::new(),
                },
            ],
        }),
        ..Default::default()
    };
    let status = RuntimeStatus::from(wire);
    assert!(!status.is_ready());
    assert_eq!(status.condition(NETWORK_READY).map(|c| c.reason.as_str()), Some("NoCNI"));
    let v = VersionInfo::from(pb::VersionResponse { runtime_api_version: "v1".into(), ..Default::default() });
    assert_eq!(v.runtime_api_version, "v1");
    assert_eq!(
        RuntimeConfig::from(pb::RuntimeConfigResponse {
            linux: Some(pb::LinuxRuntimeConfiguration { cgroup_driver: 1 })
        })
        .cgroup_driver,
        Some(CgroupDriver::Cgroupfs)
    );
}

#[test]
fn stats_and_images() {
    let stats = PodSandboxStats {
        id: "s".into(),
        network: vec![NetworkInterfaceUsage { name: "eth0".into(), rx_bytes: Some(1), ..Default::default() }],
        process_count: Some(3),
        containers: vec![ContainerStats {
            id: "c".into(),
            cpu: Some(CpuUsage { usage_nano_cores: Some(5), ..Default::default() }),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(PodSandboxStats::from(pb::PodSandboxStats::from(stats.clone())), stats);
    let image = Image {
        id: "sha256:x".into(),
        repo_tags: vec!["a:1".into()],
        uid: Some(0),
        spec: Some(ImageSpec::new("a:1")),
        ..Default::default()
    };
    assert_eq!(Image::from(pb::Image::from(image.clone())), image);
    let auth = AuthConfig { username: "u".into(), password: "secret".into(), ..Default::default() };
    assert!(!format!("{auth:?}").contains("secret"));
}

#[test]
fn timeouts_round_up_to_seconds() {
    assert_eq!(secs_ceil(Duration::from_millis(1)), 1);
    assert_eq!(secs_ceil(Duration::from_secs(30)), 30);
    assert_eq!(duration_from_secs(0), None);
    assert_eq!(duration_from_secs(-5), None);
    assert_eq!(nanos_from_time(None), 0);
}
