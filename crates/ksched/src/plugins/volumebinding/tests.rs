#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kapi::k8s::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use super::*;
use crate::framework::{ClusterState, Code, CycleState, Snapshot, Status};
use crate::plugins::testing::{node, pod, snapshot_with};

fn pvc(v: Value) -> (String, Arc<PersistentVolumeClaim>) {
    let c: PersistentVolumeClaim = serde_json::from_value(v).unwrap();
    let ns = c.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    (format!("{ns}/{}", c.metadata.name.clone().unwrap()), Arc::new(c))
}

fn pv(v: Value) -> (String, Arc<PersistentVolume>) {
    let p: PersistentVolume = serde_json::from_value(v).unwrap();
    (p.metadata.name.clone().unwrap(), Arc::new(p))
}

fn class(v: Value) -> (String, Arc<StorageClass>) {
    let c: StorageClass = serde_json::from_value(v).unwrap();
    (c.metadata.name.clone().unwrap(), Arc::new(c))
}

/// A claim `name` of `class` asking for `size`; bound when `volume` is given.
fn claim(name: &str, class: &str, size: &str, volume: Option<&str>) -> (String, Arc<PersistentVolumeClaim>) {
    pvc(json!({"metadata": {"name": name, "namespace": "default"}, "spec": {
        "storageClassName": class, "accessModes": ["ReadWriteOnce"], "volumeName": volume,
        "resources": {"requests": {"storage": size}}}}))
}

/// A PV `name` of `class` with `size`, only reachable from nodes with `key` = `value`.
fn local_pv(name: &str, class: &str, size: &str, key: &str, value: &str) -> (String, Arc<PersistentVolume>) {
    pv(json!({"metadata": {"name": name}, "spec": {
        "storageClassName": class, "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size},
        "local": {"path": "/mnt/disk"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": key, "operator": "In", "values": [value]}]}]}}}}))
}

fn wffc(name: &str, provisioner: &str, topologies: Value) -> (String, Arc<StorageClass>) {
    class(json!({"metadata": {"name": name}, "provisioner": provisioner,
        "volumeBindingMode": "WaitForFirstConsumer", "allowedTopologies": topologies}))
}

fn using(name: &str, claims: &[&str]) -> Arc<PodInfo> {
    let volumes: Vec<Value> =
        claims.iter().map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}})).collect();
    pod(json!({"metadata": {"name": name, "uid": name},
        "spec": {"containers": [{"name": "c"}], "volumes": volumes}}))
}

fn zoned(name: &str, zone: &str) -> NodeInfo {
    node(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
        "topology.kubernetes.io/zone": zone}}, "status": {"allocatable": {"cpu": "4", "pods": "10"}}}))
}

type Objects =
    (Vec<(String, Arc<PersistentVolumeClaim>)>, Vec<(String, Arc<PersistentVolume>)>, Vec<(String, Arc<StorageClass>)>);

fn cluster((pvcs, pvs, classes): Objects) -> Snapshot {
    let state = ClusterState {
        pvcs: pvcs.into_iter().collect(),
        pvs: pvs.into_iter().collect(),
        storage_classes: classes.into_iter().collect(),
        ..ClusterState::default()
    };
    snapshot_with(vec![zoned("n1", "a"), zoned("n2", "b")], vec![], state)
}

fn plugin() -> PluginHandle {
    factory(None).unwrap()
}

/// PreFilter, then Filter on every node: the PreFilter status, or each node's status.
fn run(h: &PluginHandle, p: &PodInfo, snap: &Snapshot) -> (CycleState, Result<Vec<Status>, Status>) {
    let mut state = CycleState::new();
    let (_, s) = h.pre_filter.as_ref().unwrap().pre_filter(&mut state, p, snap);
    if !s.is_success() {
        return (state, Err(s));
    }
    let f = h.filter.as_ref().unwrap();
    let statuses = snap.nodes().iter().map(|n| f.filter(&state, p, n)).collect();
    (state, Ok(statuses))
}

fn unresolvable(reason: &str) -> Status {
    Status::unresolvable(reason.to_owned())
}

fn chosen(state: &CycleState, node: &str) -> PodVolumes {
    state.get::<State>().unwrap().by_node.lock().unwrap()[node].clone()
}

#[test]
fn pods_without_claims_skip() {
    let h = plugin();
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}));
    let mut state = CycleState::new();
    let (_, s) = h.pre_filter.unwrap().pre_filter(&mut state, &p, &cluster((vec![], vec![], vec![])));
    assert_eq!(s.code(), Code::Skip);
    assert!(h.reserve.unwrap().reserve(&mut state, &p, "n1").is_success());
}

#[test]
fn missing_deleted_or_lost_claims_are_unresolvable() {
    let h = plugin();
    let snap = cluster((vec![], vec![], vec![]));
    let (_, r) = run(&h, &using("p", &["data"]), &snap);
    assert_eq!(r.unwrap_err(), unresolvable(r#"persistentvolumeclaim "data" not found"#));

    let deleting = pvc(json!({"metadata": {"name": "data", "deletionTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"volumeName": "pv1"}}));
    let (_, r) = run(&h, &using("p", &["data"]), &cluster((vec![deleting], vec![], vec![])));
    assert_eq!(r.unwrap_err(), unresolvable(r#"persistentvolumeclaim "data" is being deleted"#));

    let lost = pvc(json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1"}, "status": {"phase": "Lost"}}));
    let (_, r) = run(&h, &using("p", &["data"]), &cluster((vec![lost], vec![], vec![])));
    let msg = r#"persistentvolumeclaim "data" bound to non-existent persistentvolume "pv1""#;
    assert_eq!(r.unwrap_err(), unresolvable(msg));
}

#[test]
fn bound_volume_node_affinity_conflict() {
    let h = plugin();
    let objects = (
        vec![claim("data", "local", "1Gi", Some("pv1")), claim("gone", "local", "1Gi", Some("nope"))],
        vec![local_pv("pv1", "local", "1Gi", "topology.kubernetes.io/zone", "a")],
        vec![],
    );
    let snap = cluster(objects);
    let (_, r) = run(&h, &using("p", &["data"]), &snap);
    assert_eq!(r.unwrap(), vec![Status::success(), unresolvable(ERR_REASON_NODE_CONFLICT)]);
    // Bound to a PV the cluster does not have: every node.
    let (_, r) = run(&h, &using("q", &["gone"]), &snap);
    assert_eq!(r.unwrap(), vec![unresolvable(ERR_REASON_PV_NOT_EXIST); 2]);
}

#[test]
fn unbound_immediate_claims_are_unresolvable() {
    let h = plugin();
    let immediate = class(json!({"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com",
        "volumeBindingMode": "Immediate"}));
    let unset = class(json!({"metadata": {"name": "default-mode"}, "provisioner": "ebs.csi.aws.com"}));
    let objects = (
        vec![
            claim("a", "fast", "1Gi", None),
            claim("b", "default-mode", "1Gi", None),
            claim("c", "no-such-class", "1Gi", None),
            pvc(json!({"metadata": {"name": "d"}, "spec": {}})),
        ],
        vec![],
        vec![immediate, unset],
    );
    let snap = cluster(objects);
    for c in ["a", "b", "c", "d"] {
        let (_, r) = run(&h, &using("p", &[c]), &snap);
        assert_eq!(r.unwrap_err(), unresolvable(ERR_REASON_UNBOUND_IMMEDIATE), "claim {c}");
    }
}

#[test]
fn wait_for_first_consumer_finds_the_local_pv_of_one_node() {
    let h = plugin();
    let host = "kubernetes.io/hostname";
    let rwx = pv(json!({"metadata": {"name": "pv-rwx"}, "spec": {"storageClassName": "local",
        "accessModes": ["ReadWriteMany"], "capacity": {"storage": "2Gi"}}}));
    let objects = (
        vec![claim("data", "local", "3Gi", None)],
        vec![
            local_pv("pv-small", "local", "1Gi", host, "n1"),
            local_pv("pv-10g", "local", "10Gi", host, "n1"),
            local_pv("pv-5g", "local", "5Gi", host, "n1"),
            local_pv("pv-other-class", "slow", "5Gi", host, "n2"),
            rwx,
        ],
        vec![wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null))],
    );
    let snap = cluster(objects);
    let (state, r) = run(&h, &using("p", &["data"]), &snap);
    assert_eq!(r.unwrap(), vec![Status::success(), unresolvable(ERR_REASON_BIND_CONFLICT)]);
    // The smallest PV that fits, not the too small one, nor one of another class.
    let want = PodVolumes { static_bindings: vec![("default/data".into(), "pv-5g".into())], provisions: vec![] };
    assert_eq!(chosen(&state, "n1"), want);
}

#[test]
fn pv_pre_bound_to_the_claim_wins_and_others_are_skipped() {
    let h = plugin();
    let host = "kubernetes.io/hostname";
    let mut mine = local_pv("pv-mine", "local", "20Gi", host, "n1");
    let mut theirs = local_pv("pv-theirs", "local", "1Gi", host, "n1");
    let bind = |pv: &mut (String, Arc<PersistentVolume>), claim: &str| {
        let p = Arc::make_mut(&mut pv.1);
        p.spec.as_mut().unwrap().claim_ref =
            Some(serde_json::from_value(json!({"namespace": "default", "name": claim})).unwrap());
    };
    bind(&mut mine, "data");
    bind(&mut theirs, "other");
    let objects = (
        vec![claim("data", "local", "1Gi", None)],
        vec![mine, theirs, local_pv("pv-free", "local", "1Gi", host, "n1")],
        vec![wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null))],
    );
    let (state, r) = run(&h, &using("p", &["data"]), &cluster(objects));
    assert!(r.unwrap()[0].is_success());
    assert_eq!(chosen(&state, "n1").static_bindings, vec![("default/data".to_owned(), "pv-mine".to_owned())]);
}

#[test]
fn dynamic_provisioning_respects_allowed_topologies() {
    let h = plugin();
    let zone_a = json!([{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone", "values": ["a"]}]}]);
    let objects = (
        vec![claim("data", "ebs", "50Gi", None), claim("anywhere", "ebs-any", "1Gi", None)],
        vec![],
        vec![wffc("ebs", "ebs.csi.aws.com", zone_a), wffc("ebs-any", "ebs.csi.aws.com", json!(null))],
    );
    let snap = cluster(objects);
    let (state, r) = run(&h, &using("p", &["data"]), &snap);
    assert_eq!(r.unwrap(), vec![Status::success(), unresolvable(ERR_REASON_BIND_CONFLICT)]);
    assert_eq!(chosen(&state, "n1"), PodVolumes { static_bindings: vec![], provisions: vec!["default/data".into()] });
    let (_, r) = run(&h, &using("q", &["anywhere"]), &snap);
    assert_eq!(r.unwrap(), vec![Status::success(); 2]);
}

#[test]
fn selected_node_annotation_pins_provisioning() {
    let h = plugin();
    let (key, mut c) = claim("data", "ebs", "1Gi", None);
    Arc::make_mut(&mut c).metadata.annotations = Some([(ANN_SELECTED_NODE.to_owned(), "n2".to_owned())].into());
    let objects = (vec![(key, c)], vec![], vec![wffc("ebs", "ebs.csi.aws.com", json!(null))]);
    let (_, r) = run(&h, &using("p", &["data"]), &cluster(objects));
    assert_eq!(r.unwrap(), vec![unresolvable(ERR_REASON_BIND_CONFLICT), Status::success()]);
}

#[test]
fn reserve_keeps_a_pv_from_the_next_pod_until_unreserve() {
    let h = plugin();
    let objects = (
        vec![claim("a", "local", "1Gi", None), claim("b", "local", "1Gi", None)],
        vec![local_pv("pv1", "local", "1Gi", "kubernetes.io/hostname", "n1")],
        vec![wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null))],
    );
    let snap = cluster(objects);
    let (pa, pb) = (using("pa", &["a"]), using("pb", &["b"]));
    let reserve = h.reserve.as_ref().unwrap();

    let (mut sa, r) = run(&h, &pa, &snap);
    assert!(r.unwrap()[0].is_success());
    assert!(reserve.reserve(&mut sa, &pa, "n1").is_success());

    // The next cycle (same cluster state: the binding is not visible yet) finds no PV.
    let (_, r) = run(&h, &pb, &snap);
    assert_eq!(r.unwrap(), vec![unresolvable(ERR_REASON_BIND_CONFLICT); 2]);
    // Pod a mounting its claim again (another pod sharing it) still gets the assumed PV.
    let (_, r) = run(&h, &using("pa2", &["a"]), &snap);
    assert!(r.unwrap()[0].is_success());

    reserve.unreserve(&mut sa, &pa, "n1");
    reserve.unreserve(&mut sa, &pa, "n1"); // idempotent
    let (mut sb, r) = run(&h, &pb, &snap);
    assert!(r.unwrap()[0].is_success());
    assert!(reserve.reserve(&mut sb, &pb, "n1").is_success());
}

#[test]
fn assumptions_end_when_the_cluster_catches_up() {
    let h = plugin();
    let class = wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null));
    let (pv_key, pv1) = local_pv("pv1", "local", "1Gi", "kubernetes.io/hostname", "n1");
    let objects =
        (vec![claim("a", "local", "1Gi", None)], vec![(pv_key.clone(), Arc::clone(&pv1))], vec![class.clone()]);
    let snap = cluster(objects);
    let pa = using("pa", &["a"]);
    let (mut sa, _) = run(&h, &pa, &snap);
    assert!(h.reserve.as_ref().unwrap().reserve(&mut sa, &pa, "n1").is_success());
    // The PV controller bound pv1 to claim a; the PV was then released and made available
    // again: the old assumption must not hide it.
    let (_, r) =
        run(&h, &using("pb", &["b"]), &cluster((vec![claim("b", "local", "1Gi", None)], vec![], vec![class.clone()])));
    assert_eq!(r.unwrap(), vec![unresolvable(ERR_REASON_BIND_CONFLICT); 2]);
    let objects = (vec![claim("b", "local", "1Gi", None)], vec![(pv_key, pv1)], vec![class]);
    let (_, r) = run(&h, &using("pb", &["b"]), &cluster(objects));
    assert!(r.unwrap()[0].is_success());
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl VolumeBinder for Recorder {
    fn bind<'a>(&'a self, pvc_key: &'a str, pv_name: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        self.0.lock().unwrap().push(format!("bind {pvc_key} {pv_name}"));
        Box::pin(async { Ok(()) })
    }
    fn provision<'a>(&'a self, pvc_key: &'a str, node: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        self.0.lock().unwrap().push(format!("provision {pvc_key} {node}"));
        Box::pin(async { Err(VolumeBindError("quota exceeded".into())) })
    }
}

#[tokio::test]
async fn pre_bind_hands_decisions_to_the_binder() {
    let rec = Arc::new(Recorder::default());
    let h = factory_with_binder(Some(&json!({"bindTimeoutSeconds": 5})), rec.clone()).unwrap();
    let objects = (
        vec![claim("a", "local", "1Gi", None), claim("b", "ebs", "1Gi", None)],
        vec![local_pv("pv1", "local", "1Gi", "kubernetes.io/hostname", "n1")],
        vec![wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null)), wffc("ebs", "ebs.csi.aws.com", json!(null))],
    );
    let snap = cluster(objects);
    let p = using("p", &["a"]);
    let (mut state, _) = run(&h, &p, &snap);
    assert!(h.reserve.as_ref().unwrap().reserve(&mut state, &p, "n1").is_success());
    assert!(h.pre_bind.as_ref().unwrap().pre_bind(&state, &p, "n1").await.is_success());

    let q = using("q", &["b"]);
    let (mut state, _) = run(&h, &q, &snap);
    assert!(h.reserve.as_ref().unwrap().reserve(&mut state, &q, "n2").is_success());
    let s = h.pre_bind.as_ref().unwrap().pre_bind(&state, &q, "n2").await;
    assert_eq!(s, Status::error("binding volumes: quota exceeded"));
    assert_eq!(*rec.0.lock().unwrap(), vec!["bind default/a pv1", "provision default/b n2"]);
    // The no-op binder accepts everything.
    assert!(NoopVolumeBinder.bind("default/a", "pv1").await.is_ok());
}

#[test]
fn args_and_events() {
    assert!(factory(Some(&json!({"bindTimeoutSeconds": 30, "shape": []}))).is_ok());
    assert!(factory(Some(&json!({"bindTimeout": 30}))).is_err());
    let h = plugin();
    let events = h.plugin.unwrap().events_to_register().unwrap();
    let has =
        |r: EventResource, a: ActionType| events.iter().any(|e| e.event.resource == r && e.event.action.intersects(a));
    assert!(has(EventResource::PersistentVolumeClaim, ActionType::ADD));
    assert!(has(EventResource::PersistentVolumeClaim, ActionType::UPDATE));
    assert!(has(EventResource::PersistentVolume, ActionType::UPDATE));
    assert!(has(EventResource::StorageClass, ActionType::ADD));
    assert!(has(EventResource::Node, ActionType::UPDATE_NODE_LABEL));
    assert!(!has(EventResource::Node, ActionType::UPDATE_NODE_ALLOCATABLE));
    let pv_event = events.iter().find(|e| e.event.resource == EventResource::PersistentVolume).unwrap();
    let hint = pv_event.hint.as_ref().unwrap();
    assert_eq!(hint(&using("p", &["a"]), None, None), QueueingHint::Queue);
    assert_eq!(hint(&using("p", &[]), None, None), QueueingHint::Skip);
}

/// Through the in-memory scheduler: two pods want the only local PV; the second is
/// unschedulable even though the first one's binding never shows in the cluster state.
#[tokio::test]
async fn scheduler_gives_one_pv_to_one_pod() {
    use crate::framework::SchedulerConfig;
    use crate::scheduler::{Outcome, Scheduler};

    let config = SchedulerConfig::default();
    let profiles = config.build_profiles(&crate::memory::registry()).unwrap();
    let (mut sched, handle, mut rx) = Scheduler::new(profiles, &config, true);
    for n in [zoned("n1", "a"), zoned("n2", "b")] {
        handle.add_node(Arc::clone(&n.node));
    }
    handle.update_cluster(None, |c| {
        c.pvcs.extend([claim("a", "local", "1Gi", None), claim("b", "local", "1Gi", None)]);
        c.pvs.extend([local_pv("pv1", "local", "1Gi", "kubernetes.io/hostname", "n2")]);
        c.storage_classes.extend([wffc("local", NOT_SUPPORTED_PROVISIONER, json!(null))]);
    });
    for p in [using("pa", &["a"]), using("pb", &["b"])] {
        handle.add_pod(Arc::clone(&p.pod));
    }
    sched.drain().await;
    let outcomes: Vec<Outcome> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0], Outcome::Bound { pod: "default/pa".into(), node: "n2".into() });
    let Outcome::Unschedulable { pod, message, .. } = &outcomes[1] else { panic!("{outcomes:?}") };
    assert_eq!(pod, "default/pb");
    assert_eq!(
        message,
        &format!(
            "0/2 nodes are available: 2 {ERR_REASON_BIND_CONFLICT}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        )
    );
}
