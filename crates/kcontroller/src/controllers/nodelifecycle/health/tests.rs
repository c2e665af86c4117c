use super::*;
use kapi::k8s::api::core::v1::{NodeSpec, NodeStatus};

fn node(ready: &str, heartbeat: i64, taints: Vec<Taint>) -> Node {
    let mut n = Node::default();
    n.metadata.name = Some("n1".into());
    n.spec = Some(NodeSpec { taints: Some(taints), ..Default::default() });
    n.status = Some(NodeStatus {
        conditions: Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: ready.into(),
            last_heartbeat_time: Some(Time(Timestamp::from_second(heartbeat).unwrap())),
            ..Default::default()
        }]),
        ..Default::default()
    });
    n
}

#[test]
fn stale_heartbeat_makes_conditions_unknown_and_taints_unreachable() {
    let mut h = Health::new();
    let t0 = Instant::now();
    let wall = Timestamp::from_second(1000).unwrap();
    let grace = Duration::from_secs(40);
    let n = node("True", 1, vec![]);
    assert_eq!(h.check(&n, None, t0, wall, grace), NodeUpdate::default());
    assert_eq!(h.check(&n, None, t0 + Duration::from_secs(40), wall, grace), NodeUpdate::default());
    let u = h.check(&n, None, t0 + Duration::from_secs(41), wall, grace);
    let conds = u.conditions.unwrap();
    let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
    assert_eq!(conds.len(), 4, "the pressure conditions are added as never updated");
    let taints = u.taints.unwrap();
    assert_eq!(taints.len(), 2);
    assert!(taints.iter().all(|t| t.key == UNREACHABLE_TAINT));
    assert!(taints.iter().any(|t| t.effect == "NoExecute" && t.time_added.is_some()));
}

#[test]
fn a_lease_renewal_counts_as_a_heartbeat() {
    let mut h = Health::new();
    let t0 = Instant::now();
    let wall = Timestamp::from_second(1000).unwrap();
    let grace = Duration::from_secs(40);
    let n = node("True", 1, vec![]);
    h.check(&n, Some(Timestamp::from_second(5).unwrap()), t0, wall, grace);
    let later = t0 + Duration::from_secs(30);
    h.check(&n, Some(Timestamp::from_second(35).unwrap()), later, wall, grace);
    assert_eq!(
        h.check(&n, Some(Timestamp::from_second(35).unwrap()), later + Duration::from_secs(30), wall, grace),
        NodeUpdate::default()
    );
}

#[test]
fn not_ready_taints_and_recovery() {
    let wall = Timestamp::from_second(1000).unwrap();
    let t = desired_taints(&[], "False", wall);
    assert!(t.iter().all(|t| t.key == NOT_READY_TAINT));
    // Unknown replaces not-ready; True removes both; other taints stay.
    let other =
        Taint { key: "dedicated".into(), effect: "NoSchedule".into(), value: Some("db".into()), time_added: None };
    let mut with_other = t.clone();
    with_other.push(other.clone());
    let u = desired_taints(&with_other, "Unknown", wall);
    assert!(u.iter().filter(|t| t.key != "dedicated").all(|t| t.key == UNREACHABLE_TAINT));
    assert_eq!(desired_taints(&u, "True", wall), vec![other]);
    // Already right: unchanged, timeAdded kept.
    assert_eq!(desired_taints(&t, "False", Timestamp::from_second(2000).unwrap()), t);
}

fn toleration(key: &str, secs: Option<i64>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some("NoExecute".into()),
        toleration_seconds: secs,
        value: None,
    }
}

#[test]
fn eviction_times() {
    let added = Timestamp::from_second(100).unwrap();
    let now = Timestamp::from_second(150).unwrap();
    let taints = vec![Taint {
        key: UNREACHABLE_TAINT.into(),
        effect: "NoExecute".into(),
        value: None,
        time_added: Some(Time(added)),
    }];
    assert_eq!(eviction_time(&[], &taints, now), Some(now), "not tolerated: at once");
    assert_eq!(
        eviction_time(&[toleration(UNREACHABLE_TAINT, Some(300))], &taints, now),
        Some(Timestamp::from_second(400).unwrap())
    );
    assert_eq!(eviction_time(&[toleration(UNREACHABLE_TAINT, None)], &taints, now), None, "forever");
    assert_eq!(eviction_time(&[toleration("", None)], &taints, now), None, "an empty key with Exists tolerates all");
    assert_eq!(eviction_time(&[toleration(NOT_READY_TAINT, Some(300))], &taints, now), Some(now));
    let ns = vec![Taint { effect: "NoSchedule".into(), ..taints[0].clone() }];
    assert_eq!(eviction_time(&[], &ns, now), None, "only NoExecute evicts");
}
