use super::fixtures::*;
use super::revision::*;
use super::status::*;
use super::*;
use kapi::k8s::api::apps::v1::{DeploymentCondition, ReplicaSetCondition};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;

fn run(d: &Deployment, rss: &[ReplicaSet], now: Timestamp) -> DeploymentPlan {
    plan(DeploymentInput { deployment: d, replica_sets: rss, pods: &[], now }).unwrap()
}

fn cond<'a>(p: &'a DeploymentPlan, type_: &str) -> &'a DeploymentCondition {
    condition(&p.status, type_).unwrap_or_else(|| panic!("no {type_} condition in {:?}", p.status))
}

fn updates(p: &DeploymentPlan) -> Vec<(String, i32)> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            DeploymentAction::UpdateReplicaSet { name, replicas, .. } => Some((name.clone(), *replicas)),
            _ => None,
        })
        .collect()
}

fn created(p: &DeploymentPlan) -> Vec<&ReplicaSet> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            DeploymentAction::CreateReplicaSet(rs) => Some(&**rs),
            _ => None,
        })
        .collect()
}

#[test]
fn first_sync_creates_the_new_replica_set() {
    let d = deployment(10, pct("25%"), pct("25%"));
    let p = run(&d, &[], t(0));
    let hash = compute_hash(&template("v1"), None);
    let [DeploymentAction::CreateReplicaSet(rs), DeploymentAction::SetDeploymentRevision { revision }] =
        p.actions.as_slice()
    else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(rs.metadata.name, Some(format!("web-{hash}")));
    assert_eq!(revision, "1");
    assert_eq!(rs.metadata.labels.as_ref().unwrap().get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.selector.match_labels.as_ref().unwrap().get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    assert_eq!(spec.selector.match_labels.as_ref().unwrap().get("app").map(String::as_str), Some("web"));
    let tlabels = spec.template.as_ref().unwrap().metadata.as_ref().unwrap().labels.as_ref().unwrap();
    assert_eq!(tlabels.get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
    assert_eq!(spec.replicas, Some(10));
    assert_eq!(rs.metadata.creation_timestamp, None, "the server sets it");
    assert_eq!(annotation(rs, REVISION_ANNOTATION).as_deref(), Some("1"));
    assert_eq!(annotation(rs, DESIRED_REPLICAS_ANNOTATION).as_deref(), Some("10"));
    assert_eq!(annotation(rs, MAX_REPLICAS_ANNOTATION).as_deref(), Some("13"));
    let oref = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((oref.kind.as_str(), oref.uid.as_str(), oref.controller), ("Deployment", "uid-d", Some(true)));

    let progressing = cond(&p, PROGRESSING);
    assert_eq!((progressing.status.as_str(), progressing.reason.as_deref()), ("True", Some(NEW_RS_REASON)));
    assert_eq!(progressing.message, Some(format!("Created new replica set \"web-{hash}\"")));
    let available = cond(&p, AVAILABLE);
    assert_eq!((available.status.as_str(), available.reason.as_deref()), ("False", Some(MINIMUM_REPLICAS_UNAVAILABLE)));
    assert_eq!(available.message.as_deref(), Some("Deployment does not have minimum availability."));
    assert_eq!(p.status.observed_generation, Some(1));
    assert!(p.status_changed);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(601)));
    assert_eq!(p.events[0].message, format!("Scaled up replica set web-{hash} to 10"));
}

#[test]
fn template_change_creates_new_rs_within_surge_and_scales_old_down() {
    let mut d = deployment(10, pct("25%"), pct("25%"));
    set_image(&mut d, "v2");
    let old = with_annotations(rs("web-old", "v1", 10, 0, Some(1)), 10, 13);
    let p = run(&d, &[old], t(100));
    let new = created(&p);
    assert_eq!(new.len(), 1);
    assert_eq!(spec_replicas(new[0]), 3, "13 allowed, 10 running");
    assert_eq!(annotation(new[0], REVISION_ANNOTATION).as_deref(), Some("2"));
    assert_eq!(updates(&p), vec![("web-old".to_string(), 8)], "2 may become unavailable");
    assert!(p.actions.contains(&DeploymentAction::SetDeploymentRevision { revision: "2".into() }));
    assert_eq!(p.events.len(), 2);
    assert_eq!(p.events[1].message, "Scaled down replica set web-old to 8 from 10");
}

#[test]
fn unhealthy_old_replicas_are_cleaned_up_first() {
    let mut d = deployment(10, pct("25%"), pct("25%"));
    set_image(&mut d, "v2");
    let old = with_status(with_annotations(rs("web-old", "v1", 10, 0, Some(1)), 10, 13), 10, 4);
    let new = with_status(with_annotations(rs("web-new", "v2", 3, 50, Some(2)), 10, 13), 3, 0);
    let p = run(&d, &[old, new], t(100));
    // allPods 13 - minAvailable 8 - newUnavailable 3 = 2 unhealthy old pods removed; the
    // 4 available old pods stay because availability (4) is already below 8.
    assert_eq!(updates(&p), vec![("web-old".to_string(), 8)]);
}

#[test]
fn crash_looping_new_rs_blocks_scale_down() {
    // Upstream's example: 10 replicas, maxUnavailable 2, maxSurge 3, new pods never ready.
    let mut d = deployment(10, int(3), int(2));
    set_image(&mut d, "v2");
    let old = with_annotations(rs("web-old", "v1", 8, 0, Some(1)), 10, 13);
    let new = with_status(with_annotations(rs("web-new", "v2", 5, 50, Some(2)), 10, 13), 5, 0);
    let p = run(&d, &[old, new], t(100));
    assert!(updates(&p).is_empty(), "13 - 8 - 5 = 0: nothing may go");
}

#[test]
fn new_rs_above_desired_is_scaled_down() {
    let d = deployment(5, pct("25%"), pct("25%"));
    let new = with_annotations(rs("web-new", "v1", 7, 0, Some(1)), 5, 7);
    let mut d2 = d.clone();
    d2.status = Some(DeploymentStatus { replicas: Some(7), ..Default::default() });
    let p = run(&d2, &[new], t(0));
    assert_eq!(updates(&p), vec![("web-new".to_string(), 5)]);
}

#[test]
fn progressing_condition_lifecycle() {
    let d0 = deployment(10, pct("25%"), pct("25%"));
    let new = with_status(with_annotations(rs("web-new", "v1", 10, 0, Some(1)), 10, 13), 10, 3);
    let mut d = d0.clone();
    d.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "1".to_string())].into());
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(10),
        updated_replicas: Some(10),
        available_replicas: Some(1),
        conditions: Some(vec![new_condition(PROGRESSING, "True", NEW_RS_REASON, "Created".into(), t(0))]),
        ..Default::default()
    });

    // More pods available than before: progressing, transition time kept.
    let p = run(&d, std::slice::from_ref(&new), t(100));
    let c = cond(&p, PROGRESSING);
    assert_eq!(c.reason.as_deref(), Some(REPLICA_SET_UPDATED_REASON));
    assert_eq!(c.message.as_deref(), Some("ReplicaSet \"web-new\" is progressing."));
    assert_eq!(c.last_transition_time, Some(Time(t(0))));
    assert_eq!(c.last_update_time, Some(Time(t(100))));
    assert_eq!(p.requeue_after, Some(Duration::from_secs(601)));

    // No progress for longer than the deadline: timed out.
    d.status = Some(p.status.clone());
    let p = run(&d, std::slice::from_ref(&new), t(100 + 601));
    let c = cond(&p, PROGRESSING);
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(TIMED_OUT_REASON)));
    assert_eq!(c.message.as_deref(), Some("ReplicaSet \"web-new\" has timed out progressing."));
    assert_eq!(p.requeue_after, None);

    // Before the deadline: no change, requeue for the check.
    let p_early = run(&d, std::slice::from_ref(&new), t(200));
    assert!(!p_early.status_changed);
    assert_eq!(p_early.requeue_after, Some(Duration::from_secs(501)));

    // All available: complete.
    let done = with_status(new.clone(), 10, 10);
    let p = run(&d, &[done], t(1000));
    let c = cond(&p, PROGRESSING);
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("True", Some(NEW_RS_AVAILABLE_REASON)));
    assert_eq!(c.message.as_deref(), Some("ReplicaSet \"web-new\" has successfully progressed."));
    let a = cond(&p, AVAILABLE);
    assert_eq!((a.status.as_str(), a.reason.as_deref()), ("True", Some(MINIMUM_REPLICAS_AVAILABLE)));
    assert_eq!(a.message.as_deref(), Some("Deployment has minimum availability."));
    assert_eq!(p.requeue_after, None);
    assert_eq!(p.status.unavailable_replicas, None);
}

#[test]
fn found_new_replica_set_condition() {
    let d = deployment(2, pct("25%"), pct("25%"));
    let rs = with_annotations(rs("web-abc", "v1", 2, 0, Some(1)), 2, 3);
    let p = run(&d, &[rs], t(0));
    let c = cond(&p, PROGRESSING);
    // FoundNewReplicaSet is set first, then the complete rollout replaces it.
    assert_eq!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE_REASON));
    assert!(p.actions.contains(&DeploymentAction::SetDeploymentRevision { revision: "1".into() }));
    // Nothing moved since the last status: the found condition stays.
    let incomplete = with_status(with_annotations(rs_one(), 2, 3), 2, 0);
    let mut d2 = d.clone();
    d2.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(2),
        ..Default::default()
    });
    let p = run(&d2, &[incomplete], t(0));
    let c = cond(&p, PROGRESSING);
    assert_eq!(c.reason.as_deref(), Some(FOUND_NEW_RS_REASON));
    assert_eq!(c.message.as_deref(), Some("Found new replica set \"web-abc\""));
}

fn rs_one() -> ReplicaSet {
    rs("web-abc", "v1", 2, 0, Some(1))
}

#[test]
fn no_progress_deadline_means_no_progressing_condition() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(i32::MAX);
    let p = run(&d, &[], t(0));
    assert!(condition(&p.status, PROGRESSING).is_none());
    assert_eq!(p.requeue_after, None);
}

#[test]
fn replica_failure_is_promoted() {
    let d = deployment(2, pct("25%"), pct("25%"));
    let mut rs = with_status(with_annotations(rs_one(), 2, 3), 0, 0);
    rs.status.as_mut().unwrap().conditions = Some(vec![ReplicaSetCondition {
        type_: REPLICA_FAILURE.into(),
        status: "True".into(),
        reason: Some("FailedCreate".into()),
        message: Some("quota".into()),
        last_transition_time: Some(Time(t(5))),
    }]);
    let p = run(&d, &[rs], t(10));
    let c = cond(&p, REPLICA_FAILURE);
    assert_eq!((c.reason.as_deref(), c.message.as_deref()), (Some("FailedCreate"), Some("quota")));
    assert_eq!(c.last_update_time, Some(Time(t(5))));
}

#[test]
fn paused_and_resumed() {
    let mut d = deployment(10, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().paused = Some(true);
    set_image(&mut d, "v2");
    let old = with_annotations(rs("web-old", "v1", 10, 0, Some(1)), 10, 13);
    let p = run(&d, std::slice::from_ref(&old), t(0));
    assert!(p.actions.is_empty(), "no rollout while paused: {:?}", p.actions);
    let c = cond(&p, PROGRESSING);
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        ("Unknown", Some(PAUSED_REASON), Some("Deployment is paused"))
    );

    d.status = Some(p.status.clone());
    d.spec.as_mut().unwrap().paused = Some(false);
    let p = run(&d, &[old], t(700));
    assert_eq!(created(&p).len(), 1, "the rollout starts on resume");
    let c = cond(&p, PROGRESSING);
    // Resumed first, then the creation overrides it; neither timed out despite 700s paused.
    assert_eq!(c.reason.as_deref(), Some(NEW_RS_REASON));
    assert_eq!(c.last_update_time, Some(Time(t(700))));
}

#[test]
fn resume_condition_without_rollout_work() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    let rs = with_status(with_annotations(rs_one(), 2, 3), 2, 1);
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(2),
        ready_replicas: Some(1),
        available_replicas: Some(1),
        conditions: Some(vec![new_condition(
            PROGRESSING,
            "Unknown",
            PAUSED_REASON,
            "Deployment is paused".into(),
            t(0),
        )]),
        ..Default::default()
    });
    let p = run(&d, &[rs], t(10));
    let c = cond(&p, PROGRESSING);
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("Unknown", Some(RESUMED_REASON)));
    assert_eq!(c.message.as_deref(), Some("Deployment is resumed"));
    // A timed-out condition is never replaced by the paused one.
    let mut timed_out = d.clone();
    timed_out.spec.as_mut().unwrap().paused = Some(true);
    timed_out.status = Some(DeploymentStatus {
        conditions: Some(vec![new_condition(PROGRESSING, "False", TIMED_OUT_REASON, "x".into(), t(0))]),
        ..Default::default()
    });
    let p = run(&timed_out, &[], t(10));
    assert_eq!(cond(&p, PROGRESSING).reason.as_deref(), Some(TIMED_OUT_REASON));
}

#[test]
fn proportional_scaling_mid_rollout_10_to_20() {
    let mut d = deployment(10, pct("25%"), pct("25%"));
    set_image(&mut d, "v2");
    set_replicas(&mut d, 20);
    let old = with_annotations(rs("web-old", "v1", 8, 0, Some(1)), 10, 13);
    let new = with_status(with_annotations(rs("web-new", "v2", 5, 50, Some(2)), 10, 13), 5, 2);
    let p = run(&d, &[old, new], t(100));
    // 25 allowed, 13 present: old gets round(8*25/13)-8 = 7, new round(5*25/13)-5 = 5.
    let mut u = updates(&p);
    u.sort();
    assert_eq!(u, vec![("web-new".to_string(), 10), ("web-old".to_string(), 15)]);
    for a in &p.actions {
        if let DeploymentAction::UpdateReplicaSet { annotations, .. } = a {
            assert_eq!(annotations.get(DESIRED_REPLICAS_ANNOTATION).map(String::as_str), Some("20"));
            assert_eq!(annotations.get(MAX_REPLICAS_ANNOTATION).map(String::as_str), Some("25"));
        }
    }
    assert!(created(&p).is_empty());
}

/// Upstream's `TestScale` table, run against `scale::scale` directly. Every case uses a
/// rolling Deployment with maxSurge/maxUnavailable 0 unless given; the ReplicaSets carry the
/// annotations of the Deployment before the change.
#[test]
fn upstream_scale_table() {
    struct Case {
        name: &'static str,
        new_replicas: i32,
        old_replicas: i32,
        surge: i32,
        old_surge: i32,
        new: Option<(i32, i64)>,
        old: Vec<(i32, i64)>,
        want_new: Option<i32>,
        want_old: Vec<i32>,
    }
    let case = |name, new_replicas, old_replicas, new, old: Vec<(i32, i64)>, want_new, want_old: Vec<i32>| Case {
        name,
        new_replicas,
        old_replicas,
        surge: 0,
        old_surge: 0,
        new,
        old,
        want_new,
        want_old,
    };
    let (newer, older, oldest) = (200, 100, 0);
    let cases = vec![
        case("normal scaling event: 10 -> 12", 12, 10, Some((10, newer)), vec![], Some(12), vec![]),
        case("normal scaling event: 10 -> 5", 5, 10, Some((10, newer)), vec![], Some(5), vec![]),
        case("proportional scaling: 5 -> 10", 10, 5, Some((2, newer)), vec![(3, older)], Some(4), vec![6]),
        case("proportional scaling: 5 -> 3", 3, 5, Some((2, newer)), vec![(3, older)], Some(1), vec![2]),
        case("proportional scaling: 9 -> 4", 4, 9, Some((8, newer)), vec![(1, older)], Some(4), vec![0]),
        case(
            "proportional scaling: 7 -> 10",
            10,
            7,
            Some((2, newer)),
            vec![(3, older), (2, oldest)],
            Some(3),
            vec![4, 3],
        ),
        case(
            "proportional scaling: 13 -> 8",
            8,
            13,
            Some((2, newer)),
            vec![(8, older), (3, oldest)],
            Some(1),
            vec![5, 2],
        ),
        case(
            "leftover distribution: 3 -> 4",
            4,
            3,
            Some((1, newer)),
            vec![(1, older), (1, oldest)],
            Some(2),
            vec![1, 1],
        ),
        case(
            "leftover distribution: 3 -> 2",
            2,
            3,
            Some((1, newer)),
            vec![(1, older), (1, oldest)],
            Some(1),
            vec![1, 0],
        ),
        case("proportional scaling (no new rs): 4 -> 5", 5, 4, None, vec![(2, older), (2, oldest)], None, vec![3, 2]),
        case(
            "proportional scaling: 6 -> 0",
            0,
            6,
            Some((3, newer)),
            vec![(2, older), (1, oldest)],
            Some(0),
            vec![0, 0],
        ),
        case(
            "proportional scaling: 0 -> 6",
            6,
            6,
            Some((0, newer)),
            vec![(0, older), (0, oldest)],
            Some(6),
            vec![0, 0],
        ),
        Case {
            surge: 2,
            old_surge: 2,
            ..case("deployment with surge pods", 20, 10, Some((6, newer)), vec![(6, older)], Some(11), vec![11])
        },
        Case {
            surge: 6,
            old_surge: 3,
            ..case("change both surge and size", 50, 10, Some((5, newer)), vec![(8, older)], Some(22), vec![34])
        },
        case("change both size and template", 14, 10, None, vec![(7, newer), (3, older)], None, vec![10, 4]),
    ];
    for c in cases {
        let mut d = deployment(c.new_replicas, int(c.surge), int(0));
        let mut rss = Vec::new();
        let old_max = c.old_replicas + c.old_surge;
        if let Some((r, at)) = c.new {
            rss.push(with_annotations(rs("new", "v1", r, at, None), c.old_replicas, old_max));
        } else {
            set_image(&mut d, "v9");
        }
        for (k, (r, at)) in c.old.iter().enumerate() {
            rss.push(with_annotations(
                rs(&format!("old{k}"), &format!("v0{k}"), *r, *at, None),
                c.old_replicas,
                old_max,
            ));
        }
        let spec = ResolvedSpec::resolve(&d).unwrap();
        let mut w = Work::new(&d, spec, &rss, &[], t(1000));
        let new_idx = c.new.map(|_| 0);
        let first_old = usize::from(c.new.is_some());
        scale::scale(&mut w, new_idx, (first_old..rss.len()).collect());
        if let Some(want) = c.want_new {
            assert_eq!(spec_replicas(&w.rss[0]), want, "{}: new", c.name);
        }
        let got_old: Vec<i32> = w.rss[first_old..].iter().map(spec_replicas).collect();
        assert_eq!(got_old, c.want_old, "{}: old", c.name);
    }
}

#[test]
fn saturated_but_broken_new_rs_leaves_old_pods() {
    let d = deployment(2, int(1), int(1));
    let new = with_status(with_annotations(rs("web-new", "v1", 2, 200, None), 2, 3), 2, 0);
    let old = with_annotations(rs("web-old", "v0", 1, 100, None), 2, 3);
    let spec = ResolvedSpec::resolve(&d).unwrap();
    let mut w = Work::new(&d, spec, &[new, old], &[], t(1000));
    scale::scale(&mut w, Some(0), vec![1]);
    assert_eq!((spec_replicas(&w.rss[0]), spec_replicas(&w.rss[1])), (2, 1));
}

#[test]
fn saturated_new_rs_scales_old_to_zero() {
    let mut d = deployment(2, int(1), int(1));
    d.spec.as_mut().unwrap().paused = Some(true);
    let new = with_annotations(rs("web-new", "v1", 2, 200, Some(2)), 2, 3);
    let old = with_annotations(rs("web-old", "v0", 1, 100, Some(1)), 2, 3);
    let p = run(&d, &[new, old], t(1000));
    assert_eq!(updates(&p), vec![("web-old".to_string(), 0)]);
}

#[test]
fn recreate_scales_old_down_then_creates_new() {
    let mut d = recreate(3);
    set_image(&mut d, "v2");
    let old = with_annotations(rs("web-old", "v1", 3, 0, Some(1)), 3, 3);
    let p = run(&d, std::slice::from_ref(&old), t(0));
    assert_eq!(updates(&p), vec![("web-old".to_string(), 0)]);
    assert!(created(&p).is_empty());

    // Scaled down, but pods still terminating: wait.
    let mut scaled = old.clone();
    scaled.spec.as_mut().unwrap().replicas = Some(0);
    let scaled = with_status(scaled, 0, 0);
    let mut pod = crate::apps::pod::testutil::pod("old-pod", &[("app", "web")]);
    pod.metadata.owner_references = Some(vec![kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web-old".into(),
        uid: "uid-web-old".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    pod.metadata.deletion_timestamp = Some(Time(t(0)));
    let pods = [pod.clone()];
    let input = DeploymentInput { deployment: &d, replica_sets: std::slice::from_ref(&scaled), pods: &pods, now: t(1) };
    assert!(plan(input).unwrap().actions.is_empty(), "old pod still terminating");

    // A terminal old pod does not count.
    let pods = [crate::apps::pod::testutil::with_phase(pod, crate::apps::pod::PHASE_SUCCEEDED)];
    let input = DeploymentInput { deployment: &d, replica_sets: std::slice::from_ref(&scaled), pods: &pods, now: t(2) };
    let p = plan(input).unwrap();
    let new = created(&p);
    assert_eq!(new.len(), 1);
    assert_eq!(spec_replicas(new[0]), 3);
    assert_eq!(annotation(new[0], MAX_REPLICAS_ANNOTATION).as_deref(), Some("3"), "no surge for Recreate");
}

#[test]
fn deprecated_rollback_annotation() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    set_image(&mut d, "v2");
    d.metadata.annotations = Some(
        [
            (DEPRECATED_ROLLBACK_TO_ANNOTATION.to_string(), "0".to_string()),
            ("team".to_string(), "x".to_string()),
            (REVISION_ANNOTATION.to_string(), "2".to_string()),
        ]
        .into(),
    );
    let v1 = with_annotations(rs("web-v1", "v1", 0, 0, Some(1)), 2, 3);
    let mut v1 = with_status(v1, 0, 0);
    v1.metadata.annotations.as_mut().unwrap().insert("change-cause".into(), "create".into());
    let v2 = with_annotations(rs("web-v2", "v2", 2, 100, Some(2)), 2, 3);
    let p = run(&d, &[v1, v2.clone()], t(200));
    let Some(DeploymentAction::UpdateDeployment(updated)) = p.actions.last() else { panic!("{:?}", p.actions) };
    assert!(equal_ignore_hash(&updated.spec.as_ref().unwrap().template, &template("v1")));
    let a = updated.metadata.annotations.clone().unwrap();
    assert_eq!(a.get(DEPRECATED_ROLLBACK_TO_ANNOTATION), None);
    assert_eq!(a.get("change-cause").map(String::as_str), Some("create"), "annotations of the target RS");
    assert_eq!(a.get("team"), None, "the deployment's own annotations are replaced");
    assert_eq!(a.get(REVISION_ANNOTATION).map(String::as_str), Some("2"));
    assert!(!p.actions.iter().any(|a| matches!(a, DeploymentAction::SetDeploymentRevision { .. })));
    assert_eq!(p.events.last().unwrap().message, "Rolled back deployment \"web\" to revision 1");

    // Unknown revision: gives up and clears the annotation.
    d.metadata.annotations = Some([(DEPRECATED_ROLLBACK_TO_ANNOTATION.to_string(), "7".to_string())].into());
    let p = run(&d, std::slice::from_ref(&v2), t(200));
    assert_eq!(p.events.last().unwrap().reason, rollback::ROLLBACK_REVISION_NOT_FOUND);
    let Some(DeploymentAction::UpdateDeployment(updated)) = p.actions.last() else { panic!() };
    assert_eq!(updated.metadata.annotations.as_ref().unwrap().get(DEPRECATED_ROLLBACK_TO_ANNOTATION), None);

    // Same template: warning, cleared.
    d.metadata.annotations = Some([(DEPRECATED_ROLLBACK_TO_ANNOTATION.to_string(), "2".to_string())].into());
    let p = run(&d, &[v2], t(200));
    assert_eq!(p.events.last().unwrap().reason, rollback::ROLLBACK_TEMPLATE_UNCHANGED);
}

#[test]
fn template_reverted_by_kubectl_reuses_old_rs_and_bumps_revision() {
    // kubectl rollout undo patches the template back to v1.
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "2".to_string())].into());
    let v1 = with_status(with_annotations(rs("web-v1", "v1", 0, 0, Some(1)), 2, 3), 0, 0);
    let v2 = with_annotations(rs("web-v2", "v2", 2, 100, Some(2)), 2, 3);
    let p = run(&d, &[v1, v2], t(200));
    assert!(created(&p).is_empty(), "the old ReplicaSet is reused");
    let update = p
        .actions
        .iter()
        .find_map(|a| match a {
            DeploymentAction::UpdateReplicaSet { name, annotations, replicas, .. } if name == "web-v1" => {
                Some((annotations.clone(), *replicas))
            }
            _ => None,
        })
        .expect("web-v1 updated");
    assert_eq!(update.0.get(REVISION_ANNOTATION).map(String::as_str), Some("3"));
    assert_eq!(update.0.get(REVISION_HISTORY_ANNOTATION).map(String::as_str), Some("1"));
    assert_eq!(update.1, 1, "scaled up within the surge (2 + 1 allowed)");
    assert!(p.actions.contains(&DeploymentAction::SetDeploymentRevision { revision: "3".into() }));
}

#[test]
fn min_ready_seconds_is_synced_to_the_new_rs() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().min_ready_seconds = Some(7);
    let rs = with_annotations(rs_one(), 2, 3);
    let p = run(&d, &[rs], t(0));
    assert!(p.actions.iter().any(|a| matches!(a, DeploymentAction::UpdateReplicaSet { min_ready_seconds: 7, .. })));
}

#[test]
fn hash_collision_bumps_collision_count() {
    let d = deployment(2, pct("25%"), pct("25%"));
    let name = format!("web-{}", compute_hash(&template("v1"), None));
    let mut squatter = rs(&name, "v0", 0, 0, Some(1));
    squatter.metadata.name = Some(name.clone());
    let p = run(&d, std::slice::from_ref(&squatter), t(0));
    assert!(created(&p).is_empty());
    assert_eq!(p.status.collision_count, Some(1));
    assert!(p.status_changed);
    assert_eq!(p.requeue_after, Some(Duration::ZERO));

    let mut d2 = d.clone();
    d2.status = Some(p.status);
    let p = run(&d2, &[squatter], t(1));
    let new = created(&p);
    assert_eq!(new[0].metadata.name, Some(format!("web-{}", compute_hash(&template("v1"), Some(1)))));
}

#[test]
fn create_conflict_and_failure_helpers() {
    let d = deployment(2, pct("25%"), pct("25%"));
    let ours = rs("web-x", "v1", 2, 0, None);
    assert_eq!(resolve_create_conflict(&d, &ours), None);
    let other = rs("web-x", "v0", 2, 0, None);
    assert_eq!(resolve_create_conflict(&d, &other).unwrap().collision_count, Some(1));

    let (status, event) = create_failed_status(&d, "web-x", "forbidden", t(3)).unwrap();
    let c = condition(status.as_ref().unwrap(), PROGRESSING).unwrap().clone();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(FAILED_RS_CREATE_REASON)));
    assert_eq!(c.message.as_deref(), Some("Failed to create new replica set \"web-x\": forbidden"));
    assert_eq!(event.type_, EventType::Warning);
}

#[test]
fn history_cleanup_keeps_the_limit() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().revision_history_limit = Some(2);
    d.metadata.annotations = Some([(REVISION_ANNOTATION.to_string(), "6".to_string())].into());
    let mut rss: Vec<ReplicaSet> =
        (1..=5).map(|r| with_status(rs(&format!("web-v{r}"), &format!("v{r}x"), 0, r * 10, Some(r)), 0, 0)).collect();
    rss.push(with_annotations(rs("web-v6", "v1", 2, 100, Some(6)), 2, 3));
    d.status = Some(DeploymentStatus {
        observed_generation: Some(1),
        replicas: Some(2),
        updated_replicas: Some(2),
        available_replicas: Some(2),
        ..Default::default()
    });
    let p = run(&d, &rss, t(1000));
    let deleted: Vec<&str> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            DeploymentAction::DeleteReplicaSet { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, vec!["web-v1", "web-v2", "web-v3"]);
}

/// Upstream `TestDeploymentController_cleanupDeployment` and `…cleanupDeploymentOrder`.
#[test]
fn history_cleanup_rules() {
    let run_cleanup = |limit: i32, old: Vec<ReplicaSet>| -> Vec<String> {
        let mut d = deployment(1, pct("25%"), pct("25%"));
        d.spec.as_mut().unwrap().revision_history_limit = Some(limit);
        let spec = ResolvedSpec::resolve(&d).unwrap();
        let mut w = Work::new(&d, spec, &[], &[], t(0));
        history::cleanup(&mut w, &old);
        let mut names: Vec<String> = w.deletes.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        names
    };
    let plain = |name: &str, spec: i32, status: i32| with_status(rs(name, name, spec, 0, None), status, status);
    assert_eq!(run_cleanup(1, vec![plain("foo-1", 0, 0), plain("foo-2", 0, 0), plain("foo-3", 0, 0)]).len(), 2);
    assert_eq!(
        run_cleanup(0, vec![plain("foo-1", 0, 0), plain("foo-2", 0, 1), plain("foo-3", 1, 0), plain("foo-4", 1, 1)]),
        vec!["foo-1"]
    );
    assert_eq!(run_cleanup(0, vec![plain("foo-1", 1, 1), plain("foo-2", 1, 1)]).len(), 0);
    let mut deleting = plain("foo-1", 0, 0);
    deleting.metadata.deletion_timestamp = Some(Time(t(0)));
    assert!(run_cleanup(0, vec![deleting]).is_empty());
    assert!(run_cleanup(i32::MAX, vec![plain("foo-1", 0, 0), plain("foo-2", 0, 0)]).is_empty());
    let mut unobserved = plain("foo-1", 0, 0);
    unobserved.metadata.generation = Some(2);
    assert!(run_cleanup(0, vec![unobserved]).is_empty(), "spec change not yet observed");

    let rev = |name: &str, spec: i32, at: i64, r: Option<i64>| with_status(rs(name, name, spec, at, r), spec, spec);
    assert_eq!(run_cleanup(1, vec![rev("foo-1", 0, -60, Some(1)), rev("foo-2", 0, 0, Some(2))]), vec!["foo-1"]);
    assert_eq!(run_cleanup(1, vec![rev("foo-1", 0, -60, Some(2)), rev("foo-2", 0, 0, Some(1))]), vec!["foo-2"]);
    assert_eq!(run_cleanup(1, vec![rev("foo-1", 0, -60, Some(1)), rev("foo-2", 0, 0, None)]), vec!["foo-2"]);
    assert_eq!(run_cleanup(1, vec![rev("foo-1", 0, -60, None), rev("foo-2", 0, 0, Some(2))]), vec!["foo-1"]);
    assert_eq!(
        run_cleanup(1, vec![rev("foo-1", 1, -60, Some(1)), rev("foo-2", 0, 0, Some(2)), rev("foo-3", 0, 60, Some(3))]),
        vec!["foo-2"]
    );
    assert!(
        run_cleanup(1, vec![rev("foo-1", 1, -60, Some(1)), rev("foo-2", 1, 0, Some(2)), rev("foo-3", 0, 60, Some(3))])
            .is_empty()
    );
    assert_eq!(
        run_cleanup(
            2,
            vec![
                rev("foo-1", 0, -60, Some(3)),
                rev("foo-2", 0, 0, Some(1)),
                rev("foo-3", 0, 60, Some(4)),
                rev("foo-4", 0, 120, Some(2))
            ]
        ),
        vec!["foo-2", "foo-4"]
    );
}

#[test]
fn deleting_deployment_only_syncs_status() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    set_image(&mut d, "v2");
    d.metadata.deletion_timestamp = Some(Time(t(0)));
    let old = with_annotations(rs("web-old", "v1", 2, 0, Some(1)), 2, 3);
    let p = run(&d, &[old], t(10));
    assert!(p.actions.is_empty());
    assert_eq!(p.status.replicas, Some(2));
    assert_eq!(p.status.updated_replicas, None);
    assert!(condition(&p.status, PROGRESSING).is_none());
}

#[test]
fn selecting_everything_only_observes_the_generation() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().selector = Default::default();
    let p = run(&d, &[], t(0));
    assert!(p.actions.is_empty());
    assert_eq!(p.status.observed_generation, Some(1));
    assert_eq!(p.events[0].reason, "SelectingAll");
}

#[test]
fn bad_input() {
    let mut d = deployment(2, pct("25%"), pct("25%"));
    d.metadata.uid = None;
    let input = |d: &Deployment| plan(DeploymentInput { deployment: d, replica_sets: &[], pods: &[], now: t(0) });
    assert_eq!(input(&d), Err(DeploymentError::Incomplete { missing: "uid" }));
    let bad = deployment(2, pct("x%"), pct("25%"));
    assert!(matches!(input(&bad), Err(DeploymentError::InvalidIntOrPercent { field: "maxSurge", .. })));
    let mut bad_sel = deployment(2, pct("25%"), pct("25%"));
    bad_sel.spec.as_mut().unwrap().selector.match_expressions =
        Some(vec![kapi::k8s::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
            key: "app".into(),
            operator: "Near".into(),
            values: None,
        }]);
    assert!(matches!(input(&bad_sel), Err(DeploymentError::InvalidSelector(_))));
}

#[test]
fn claiming_replica_sets() {
    let d = deployment(2, pct("25%"), pct("25%"));
    let owned = rs("web-a", "v1", 1, 0, None);
    let mut orphan = rs("web-b", "v1", 1, 0, None);
    orphan.metadata.owner_references = None;
    let mut mismatched = rs("web-c", "v1", 1, 0, None);
    mismatched.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
    let mut foreign = rs("web-d", "v1", 1, 0, None);
    foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "other".into();
    let all = [owned, orphan, mismatched, foreign];
    let c = claim_replica_sets(&d, &all).unwrap();
    let names = |v: &[&ReplicaSet]| v.iter().map(|r| r.metadata.name.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(names(&c.owned), vec!["web-a", "web-b"]);
    assert_eq!(c.adopt, vec![crate::apps::claim::ObjectRef { name: "web-b".into(), uid: "uid-web-b".into() }]);
    assert_eq!(c.release.len(), 1);
    assert_eq!(c.owner_reference.kind, "Deployment");
}

#[test]
fn status_comparison_ignores_absent_versus_zero() {
    let a = DeploymentStatus { replicas: Some(0), conditions: Some(vec![]), ..Default::default() };
    assert!(!status_differs(&a, &DeploymentStatus::default()));
    assert!(status_differs(&a, &DeploymentStatus { replicas: Some(1), ..Default::default() }));
}
