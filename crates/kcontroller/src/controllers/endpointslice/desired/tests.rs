use super::*;
use kapi::k8s::api::core::v1::{Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec};

fn svc(ports: Vec<ServicePort>) -> Service {
    let mut s = Service::default();
    s.metadata.name = Some("web".into());
    s.metadata.namespace = Some("default".into());
    s.spec = Some(ServiceSpec { ports: Some(ports), ..Default::default() });
    s
}

fn port(name: &str, port: i32, target: Option<IntOrString>) -> ServicePort {
    ServicePort { name: Some(name.into()), port, target_port: target, ..Default::default() }
}

fn pod(name: &str, ip: &str, ready: bool, node: &str, http_port: i32) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = Some(name.into());
    p.metadata.namespace = Some("default".into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.spec = Some(PodSpec {
        node_name: Some(node.into()),
        containers: vec![Container {
            name: "c".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: http_port,
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    });
    p.status = Some(PodStatus {
        pod_ip: Some(ip.into()),
        phase: Some("Running".into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

#[test]
fn conditions_follow_readiness_and_termination() {
    let s = svc(vec![port("http", 80, Some(IntOrString::String("http".into())))]);
    let a = pod("a", "10.0.0.1", true, "n1", 8080);
    let b = pod("b", "10.0.0.2", false, "n2", 8080);
    let mut c = pod("c", "10.0.0.3", true, "n1", 8080);
    c.metadata.deletion_timestamp =
        Some(kapi::k8s::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
    let zones = HashMap::from([("n1".to_owned(), "z1".to_owned())]);
    let d = desired(&s, &[&a, &b, &c], &zones, 100);
    assert_eq!(d.len(), 1);
    let eps = &d[0].endpoints;
    let cond = |i: usize| eps[i].conditions.clone().unwrap();
    assert_eq!((cond(0).ready, cond(0).serving, cond(0).terminating), (Some(true), Some(true), Some(false)));
    assert_eq!((cond(1).ready, cond(1).serving), (Some(false), Some(false)));
    assert_eq!((cond(2).ready, cond(2).serving, cond(2).terminating), (Some(false), Some(true), Some(true)));
    assert_eq!(eps[0].zone.as_deref(), Some("z1"));
    assert_eq!(eps[1].zone, None);
    assert_eq!(eps[0].node_name.as_deref(), Some("n1"));
    assert_eq!(d[0].ports[0].port, Some(8080), "the named port resolved on the pod");
}

#[test]
fn pods_with_different_ports_get_different_slices_and_chunks_of_max() {
    let s = svc(vec![port("http", 80, Some(IntOrString::String("http".into())))]);
    let mut pods: Vec<Pod> = (0..5).map(|i| pod(&format!("p{i}"), &format!("10.0.0.{i}"), true, "n", 8080)).collect();
    pods.push(pod("q", "10.0.1.1", true, "n", 9090));
    let refs: Vec<&Pod> = pods.iter().collect();
    let d = desired(&s, &refs, &HashMap::new(), 2);
    // 5 pods on 8080 in chunks of 2 → 3 slices; 1 pod on 9090 → 1 slice.
    assert_eq!(d.len(), 4);
    assert_eq!(d.iter().map(|s| s.endpoints.len()).sum::<usize>(), 6);
    assert!(d.iter().all(|s| s.endpoints.len() <= 2));
}

#[test]
fn pods_without_ip_or_finished_are_left_out_and_empty_services_get_a_placeholder() {
    let s = svc(vec![port("http", 80, None)]);
    let mut no_ip = pod("a", "", true, "n", 80);
    no_ip.status.as_mut().unwrap().pod_ip = None;
    let mut done = pod("b", "10.0.0.2", false, "n", 80);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let d = desired(&s, &[&no_ip, &done], &HashMap::new(), 100);
    assert_eq!(d, vec![SliceContent { address_type: "IPv4".into(), ports: vec![], endpoints: vec![] }]);
}

#[test]
fn publish_not_ready_addresses_marks_all_ready() {
    let mut s = svc(vec![port("http", 80, None)]);
    s.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let d = desired(&s, &[&pod("a", "10.0.0.1", false, "n", 80)], &HashMap::new(), 100);
    assert_eq!(d[0].endpoints[0].conditions.as_ref().unwrap().ready, Some(true));
}

fn slice(name: &str, content: &SliceContent) -> EndpointSlice {
    let mut s = EndpointSlice {
        address_type: content.address_type.clone(),
        endpoints: content.endpoints.clone(),
        ports: Some(content.ports.clone()),
        ..Default::default()
    };
    s.metadata.name = Some(name.into());
    s
}

#[test]
fn plan_keeps_equal_slices_reuses_and_deletes_the_rest() {
    let s = svc(vec![port("http", 80, None)]);
    let pods: Vec<Pod> = (0..4).map(|i| pod(&format!("p{i}"), &format!("10.0.0.{i}"), true, "n", 80)).collect();
    let refs: Vec<&Pod> = pods.iter().collect();
    let want = desired(&s, &refs, &HashMap::new(), 2);
    assert_eq!(want.len(), 2);
    let same = slice("web-a", &want[0]);
    let stale = slice("web-b", &SliceContent { endpoints: vec![], ..want[1].clone() });
    let extra = slice("web-c", &SliceContent { endpoints: vec![], ..want[1].clone() });
    let p = plan(want.clone(), &[&same, &stale, &extra]);
    assert!(p.create.is_empty());
    assert_eq!(p.update, vec![("web-b".to_owned(), want[1].clone())]);
    assert_eq!(p.delete, vec!["web-c".to_owned()]);
    let p = plan(want.clone(), &[]);
    assert_eq!(p.create.len(), 2);
}
