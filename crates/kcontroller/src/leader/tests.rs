use super::*;

fn cfg(id: &str) -> LeaderElectionConfig {
    LeaderElectionConfig::new("kube-system", "kcm", id)
}

#[test]
fn validation_follows_client_go() {
    assert!(cfg("a").validate().is_ok());
    let s = Duration::from_secs;
    assert!(cfg("a").durations(s(10), s(10), s(2)).validate().is_err());
    // 1.2 × 2 s = 2.4 s ≥ 2 s renew deadline.
    assert!(cfg("a").durations(s(15), s(2), s(2)).validate().is_err());
    assert!(cfg("").validate().is_err());
}

#[test]
fn no_lease_creates_it() {
    let mut e = Elector::new(cfg("a"));
    let wall = Timestamp::UNIX_EPOCH;
    match e.try_acquire_or_renew(None, Instant::now(), wall) {
        Decision::Create(r) => {
            assert_eq!(r.holder, "a");
            assert_eq!(r.lease_duration_seconds, 15);
            assert_eq!(r.transitions, 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn held_lease_waits_a_full_duration_from_our_observation() {
    let t0 = Instant::now();
    let wall = Timestamp::UNIX_EPOCH;
    let mut b = Elector::new(cfg("b"));
    let held = LeaseRecord { holder: "a".into(), lease_duration_seconds: 15, transitions: 3, ..Default::default() };
    assert_eq!(b.try_acquire_or_renew(Some(&held), t0, wall), Decision::HeldBy("a".into()));
    assert_eq!(b.try_acquire_or_renew(Some(&held), t0 + Duration::from_secs(14), wall), Decision::HeldBy("a".into()));
    // A renewal (the record changed) restarts the wait.
    let renewed = LeaseRecord { renew_time: Some(wall), ..held.clone() };
    let t1 = t0 + Duration::from_secs(14);
    assert_eq!(b.try_acquire_or_renew(Some(&renewed), t1, wall), Decision::HeldBy("a".into()));
    assert!(matches!(b.try_acquire_or_renew(Some(&renewed), t1 + Duration::from_secs(14), wall), Decision::HeldBy(_)));
    match b.try_acquire_or_renew(Some(&renewed), t1 + Duration::from_secs(15), wall) {
        Decision::Update(r) => {
            assert_eq!(r.holder, "b");
            assert_eq!(r.transitions, 4, "a takeover counts a transition");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn renewal_keeps_acquire_time_and_transitions() {
    let t0 = Instant::now();
    let acquired = Timestamp::from_second(100).unwrap();
    let mut a = Elector::new(cfg("a"));
    let mine = LeaseRecord { holder: "a".into(), acquire_time: Some(acquired), transitions: 2, ..Default::default() };
    match a.try_acquire_or_renew(Some(&mine), t0, Timestamp::from_second(200).unwrap()) {
        Decision::Update(r) => {
            assert_eq!(r.acquire_time, Some(acquired));
            assert_eq!(r.renew_time, Some(Timestamp::from_second(200).unwrap()));
            assert_eq!(r.transitions, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn released_lease_is_taken_at_once() {
    let mut b = Elector::new(cfg("b"));
    let released =
        LeaseRecord { holder: String::new(), lease_duration_seconds: 1, transitions: 5, ..Default::default() };
    assert!(matches!(
        b.try_acquire_or_renew(Some(&released), Instant::now(), Timestamp::UNIX_EPOCH),
        Decision::Update(LeaseRecord { transitions: 6, .. })
    ));
}

#[test]
fn release_only_by_the_holder() {
    let now = Instant::now();
    let mut a = Elector::new(cfg("a"));
    assert!(a.release_record(Timestamp::UNIX_EPOCH).is_none());
    let mine = LeaseRecord { holder: "a".into(), transitions: 7, ..Default::default() };
    a.wrote(mine, now);
    let r = a.release_record(Timestamp::UNIX_EPOCH).unwrap();
    assert_eq!((r.holder.as_str(), r.lease_duration_seconds, r.transitions), ("", 1, 7));
}

#[test]
fn lease_round_trip() {
    let r = LeaseRecord {
        holder: "a".into(),
        lease_duration_seconds: 15,
        acquire_time: Some(Timestamp::from_second(5).unwrap()),
        renew_time: Some(Timestamp::from_second(6).unwrap()),
        transitions: 1,
    };
    let mut lease = Lease::default();
    r.apply_to(&mut lease);
    assert_eq!(LeaseRecord::from_lease(&lease), r);
}
