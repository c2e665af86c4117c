use super::*;
use crate::apps::claim::{adopt_patch, release_patch};
use crate::apps::pod::testutil::*;
use crate::apps::pod::{PHASE_FAILED, PHASE_RUNNING};
use kapi::k8s::api::apps::v1::ReplicaSetSpec;
use kapi::k8s::api::core::v1::{Container, PodSpec, ReplicationControllerSpec};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

fn template(labels: &[(&str, &str)]) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
            annotations: Some([("a".to_string(), "b".to_string())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some("img".into()), ..Default::default() }],
            ..Default::default()
        }),
    }
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(2),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            template: Some(template(&[("app", "web"), ("tier", "fe")])),
            ..Default::default()
        }),
        status: None,
    }
}

fn view(replicas: i32) -> ReplicaSetView {
    ReplicaSetView::from_replica_set(&replica_set("web", replicas)).unwrap()
}

fn owned(name: &str, rs: &ReplicaSetView) -> Pod {
    let mut p = pod(name, &[("app", "web"), ("tier", "fe")]);
    p.metadata.owner_references = Some(vec![rs.owner_reference()]);
    p
}

fn input<'a>(rs: &'a ReplicaSetView, pods: &'a [Pod], now: Timestamp) -> ReplicaSetInput<'a> {
    // The controller passes the cache's shared pods; tests own theirs (leaked: tests only).
    let shared: Vec<std::sync::Arc<Pod>> = pods.iter().cloned().map(std::sync::Arc::new).collect();
    ReplicaSetInput { controller: rs, pods: Vec::leak(shared), siblings: &[], expectations_satisfied: true, now }
}

#[test]
fn creates_missing_pods_from_template() {
    let rs = view(3);
    let pods = [owned("p1", &rs)];
    let plan = plan(input(&rs, &pods, t(0)));
    assert_eq!(plan.create, 2);
    assert!(plan.delete.is_empty());
    assert_eq!(plan.pod.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(plan.pod.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(plan.pod.metadata.labels, rs.template.metadata.as_ref().unwrap().labels);
    assert_eq!(plan.pod.metadata.annotations, rs.template.metadata.as_ref().unwrap().annotations);
    assert_eq!(plan.pod.metadata.finalizers, None);
    assert_eq!(plan.pod.spec, rs.template.spec);
    let oref = &plan.pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (oref.kind.as_str(), oref.api_version.as_str(), oref.uid.as_str()),
        ("ReplicaSet", "apps/v1", "uid-web")
    );
    assert_eq!((oref.controller, oref.block_owner_deletion), (Some(true), Some(true)));
}

#[test]
fn creation_is_capped_by_burst() {
    let rs = view(2000);
    assert_eq!(plan(input(&rs, &[], t(0))).create, BURST_REPLICAS);
    let many: Vec<Pod> = (0..1200).map(|i| owned(&format!("p{i}"), &rs)).collect();
    let small = view(1);
    let small_pods: Vec<Pod> = many
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.metadata.owner_references = Some(vec![small.owner_reference()]);
            p
        })
        .collect();
    assert_eq!(plan(input(&small, &small_pods, t(0))).delete.len(), BURST_REPLICAS);
}

#[test]
fn slow_start_batch_sizes() {
    assert_eq!(slow_start_batches(0), Vec::<usize>::new());
    assert_eq!(slow_start_batches(1), vec![1]);
    assert_eq!(slow_start_batches(10), vec![1, 2, 4, 3]);
    assert_eq!(slow_start_batches(15), vec![1, 2, 4, 8]);
    assert_eq!(slow_start_batches(500).iter().sum::<usize>(), 500);
}

#[test]
fn claims_adopt_release_and_ignore() {
    let rs = view(10);
    let orphan = pod("orphan", &[("app", "web")]);
    let mut mismatched = owned("mismatched", &rs);
    mismatched.metadata.labels = Some([("app".to_string(), "other".to_string())].into());
    let mut foreign = pod("foreign", &[("app", "web")]);
    foreign.metadata.owner_references =
        Some(vec![OwnerReference { uid: "someone-else".into(), controller: Some(true), ..rs.owner_reference() }]);
    let unrelated = pod("unrelated", &[("app", "db")]);
    let dead_orphan = with_phase(pod("dead", &[("app", "web")]), PHASE_FAILED);
    let mine = owned("mine", &rs);
    let pods = [orphan, mismatched, foreign, unrelated, dead_orphan, mine];
    let plan = plan(input(&rs, &pods, t(0)));
    assert_eq!(plan.adopt.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["orphan"]);
    assert_eq!(plan.release.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["mismatched"]);
    assert_eq!(plan.status.replicas, 2, "mine + adopted orphan");
    assert_eq!(plan.create, 8);
    // The patches the I/O layer sends.
    let p = adopt_patch(&plan.owner_reference, &plan.adopt[0].uid);
    assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "uid-web");
    assert_eq!(release_patch(&rs.uid, &plan.release[0].uid)["metadata"]["uid"], "uid-mismatched");
}

#[test]
fn deleting_controller_does_not_manage_or_adopt() {
    let mut rs = view(3);
    rs.deleting = true;
    let pods = [pod("orphan", &[("app", "web")]), owned("mine", &rs)];
    let plan = plan(input(&rs, &pods, t(0)));
    assert!(plan.adopt.is_empty());
    assert_eq!(plan.create, 0);
    assert_eq!(plan.status.replicas, 1);
}

#[test]
fn unsatisfied_expectations_block_creates_and_deletes() {
    let rs = view(3);
    let plan = plan(ReplicaSetInput { expectations_satisfied: false, ..input(&rs, &[], t(0)) });
    assert_eq!(plan.create, 0);
    assert_eq!(plan.status.replicas, 0);
}

#[test]
fn terminating_pods_are_not_counted() {
    let rs = view(2);
    let mut terminating = owned("t", &rs);
    terminating.metadata.deletion_timestamp = Some(Time(t(0)));
    let pods = [terminating, owned("a", &rs)];
    assert_eq!(plan(input(&rs, &pods, t(1))).create, 1);
}

#[test]
fn deletes_by_rank() {
    let rs = view(2);
    let pods = [
        ready(on_node(owned("old-ready", &rs), "n1"), t(0)),
        owned("unscheduled", &rs),
        ready(on_node(owned("new-ready", &rs), "n1"), t(990)),
        with_phase(on_node(owned("running-not-ready", &rs), "n1"), PHASE_RUNNING),
    ];
    let plan = plan(input(&rs, &pods, t(1000)));
    assert_eq!(
        plan.delete.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        vec!["unscheduled", "running-not-ready"]
    );
    assert_eq!(plan.delete_keys(), vec!["ns/unscheduled", "ns/running-not-ready"]);
    assert_eq!(plan.create, 0);
}

#[test]
fn colocation_with_sibling_pods_is_deleted_first() {
    let mut rs = view(1);
    rs.controller_uid = Some("deploy".into());
    let mut sibling = ReplicaSetView::from_replica_set(&replica_set("web-old", 1)).unwrap();
    sibling.controller_uid = Some("deploy".into());
    sibling.selector = "app=web-old".parse().unwrap();
    let a = ready(on_node(owned("a", &rs), "crowded"), t(0));
    let b = ready(on_node(owned("b", &rs), "quiet"), t(1));
    let mut old = ready(on_node(pod("old", &[("app", "web-old")]), "crowded"), t(0));
    old.metadata.owner_references = Some(vec![sibling.owner_reference()]);
    let pods = [b, a, old];
    let siblings = [sibling.clone()];
    let p = plan(ReplicaSetInput { siblings: &siblings, ..input(&rs, &pods, t(10)) });
    assert_eq!(p.delete[0].name, "a", "the pod sharing its node with a sibling's pod goes first");
    // Without a common controller there is no co-location rank: the UID tie-break decides.
    let mut lone = rs.clone();
    lone.controller_uid = None;
    let p = plan(ReplicaSetInput { siblings: &siblings, ..input(&lone, &pods, t(10)) });
    assert_eq!(p.delete[0].name, "a", "uid-a < uid-b within the same log bucket");
}

#[test]
fn status_counts_and_availability() {
    let mut rs = view(4);
    rs.min_ready_seconds = 30;
    let mut partly = owned("partly-labeled", &rs);
    partly.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    let pods = [ready(owned("avail", &rs), t(0)), ready(owned("warming", &rs), t(90)), owned("pending", &rs), partly];
    let plan = plan(input(&rs, &pods, t(100)));
    assert_eq!(plan.status.replicas, 4);
    assert_eq!(plan.status.fully_labeled_replicas, Some(3));
    assert_eq!(plan.status.ready_replicas, Some(2));
    assert_eq!(plan.status.available_replicas, Some(1));
    assert_eq!(plan.status.observed_generation, Some(2));
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(20)));
}

#[test]
fn replica_failure_condition() {
    let rs = view(3);
    let plan = plan(input(&rs, &[], t(0)));
    let failed = plan.status_after(Some("quota exceeded"), t(5));
    let cond = &failed.conditions.as_ref().unwrap()[0];
    assert_eq!(cond.type_, REPLICA_FAILURE);
    assert_eq!((cond.reason.as_deref(), cond.message.as_deref()), (Some(FAILED_CREATE), Some("quota exceeded")));
    assert_eq!(cond.last_transition_time, Some(Time(t(5))));
    assert_eq!(plan.status_after(None, t(5)).conditions, None);

    // An existing failure condition is kept on failure and removed on success.
    let mut rs2 = rs.clone();
    rs2.status = failed.clone();
    let plan2 = super::plan(input(&rs2, &[], t(10)));
    assert_eq!(plan2.status_after(Some("other error"), t(10)).conditions, failed.conditions);
    assert_eq!(plan2.status.conditions, None);

    // Deletes report FailedDelete.
    let small = view(0);
    let pods = [owned("x", &small)];
    let plan3 = super::plan(input(&small, &pods, t(0)));
    let s = plan3.status_after(Some("boom"), t(0));
    assert_eq!(s.conditions.unwrap()[0].reason.as_deref(), Some(FAILED_DELETE));
}

#[test]
fn steady_state_needs_no_status_write() {
    let mut rs = view(1);
    let pods = [ready(owned("a", &rs), t(0))];
    let first = plan(input(&rs, &pods, t(100))).final_status(None, t(100)).expect("first write");
    rs.status = first;
    assert_eq!(plan(input(&rs, &pods, t(200))).final_status(None, t(200)), None);
    rs.generation = 3;
    assert!(plan(input(&rs, &pods, t(200))).final_status(None, t(200)).is_some(), "new generation observed");
}

#[test]
fn replication_controller_is_normalized() {
    let rc = ReplicationController {
        metadata: ObjectMeta {
            name: Some("legacy".into()),
            namespace: Some("ns".into()),
            uid: Some("uid-legacy".into()),
            ..Default::default()
        },
        spec: Some(ReplicationControllerSpec {
            replicas: Some(2),
            selector: None,
            template: Some(template(&[("app", "legacy")])),
            ..Default::default()
        }),
        status: None,
    };
    let v = ReplicaSetView::from_replication_controller(&rc).unwrap();
    assert_eq!(v.selector.to_string(), "app=legacy", "selector defaults to the template labels");
    let plan = plan(input(&v, &[], t(0)));
    assert_eq!(plan.create, 2);
    let oref = &plan.owner_reference;
    assert_eq!((oref.kind.as_str(), oref.api_version.as_str()), ("ReplicationController", "v1"));
    let rc_status = to_replication_controller_status(&plan.status_after(Some("x"), t(0)));
    assert_eq!(rc_status.conditions.unwrap()[0].type_, REPLICA_FAILURE);
}

#[test]
fn bad_input_is_reported() {
    let mut no_uid = replica_set("web", 1);
    no_uid.metadata.uid = None;
    assert_eq!(
        ReplicaSetView::from_replica_set(&no_uid),
        Err(ReplicaSetError::Incomplete { kind: "ReplicaSet", missing: "uid" })
    );
    let mut no_template = replica_set("web", 1);
    no_template.spec.as_mut().unwrap().template = None;
    assert!(matches!(ReplicaSetView::from_replica_set(&no_template), Err(ReplicaSetError::MissingTemplate { .. })));
    let mut bad_selector = replica_set("web", 1);
    bad_selector.spec.as_mut().unwrap().selector.match_expressions =
        Some(vec![kapi::k8s::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
            key: "a".into(),
            operator: "Bogus".into(),
            values: None,
        }]);
    assert!(matches!(ReplicaSetView::from_replica_set(&bad_selector), Err(ReplicaSetError::InvalidSelector { .. })));
}
