#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kapi::k8s::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use super::*;

fn pv(name: &str, size: &str, extra: Value) -> Arc<PersistentVolume> {
    let mut v = json!({"metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"}}});
    merge(&mut v, extra);
    Arc::new(serde_json::from_value(v).unwrap())
}

fn pvc(name: &str, size: &str, extra: Value) -> PersistentVolumeClaim {
    let mut v = json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "storageClassName": ""}});
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

fn bind(v: &str) -> ClaimPlan {
    ClaimPlan::Bind { volume: v.into() }
}

#[test]
fn the_smallest_fitting_volume_wins_and_ties_go_by_name() {
    let volumes = [pv("big", "100Gi", json!({})), pv("b-small", "10Gi", json!({})), pv("a-small", "10Gi", json!({}))];
    assert_eq!(plan_claim(&pvc("c", "5Gi", json!({})), &volumes, None), bind("a-small"));
    assert_eq!(plan_claim(&pvc("c", "50Gi", json!({})), &volumes, None), bind("big"));
    assert!(matches!(plan_claim(&pvc("c", "200Gi", json!({})), &volumes, None), ClaimPlan::Pending(_)));
}

#[test]
fn class_modes_volume_mode_selector_and_state_must_match() {
    let claim = pvc("c", "1Gi", json!({"spec": {"accessModes": ["ReadWriteMany"]}}));
    let rwo = [pv("rwo", "1Gi", json!({}))];
    assert!(matches!(plan_claim(&claim, &rwo, None), ClaimPlan::Pending(_)), "access modes are a superset");
    let rwx = [pv("rwx", "1Gi", json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadWriteMany"]}}))];
    assert_eq!(plan_claim(&claim, &rwx, None), bind("rwx"));

    let fast = pvc("c", "1Gi", json!({"spec": {"storageClassName": "fast"}}));
    let plain = [pv("plain", "1Gi", json!({}))];
    assert!(matches!(plan_claim(&fast, &plain, None), ClaimPlan::Pending(_)), "classes differ");
    let beta =
        [pv("beta", "1Gi", json!({"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "fast"}}}))];
    assert_eq!(plan_claim(&fast, &beta, None), bind("beta"), "the beta annotation names the class");

    let block = pvc("c", "1Gi", json!({"spec": {"volumeMode": "Block"}}));
    assert!(matches!(plan_claim(&block, &plain, None), ClaimPlan::Pending(_)), "volume modes differ");

    let picky = pvc("c", "1Gi", json!({"spec": {"selector": {"matchLabels": {"disk": "ssd"}}}}));
    let labelled = [
        pv("hdd", "1Gi", json!({"metadata": {"labels": {"disk": "hdd"}}})),
        pv("ssd", "2Gi", json!({"metadata": {"labels": {"disk": "ssd"}}})),
    ];
    assert_eq!(plan_claim(&picky, &labelled, None), bind("ssd"));

    let taken = [
        pv("taken", "1Gi", json!({"spec": {"claimRef": {"namespace": "ns", "name": "other"}}})),
        pv("released", "1Gi", json!({"status": {"phase": "Released"}})),
        pv("going", "1Gi", json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})),
    ];
    assert!(matches!(plan_claim(&pvc("c", "1Gi", json!({})), &taken, None), ClaimPlan::Pending(_)));
}

#[test]
fn a_pre_bound_volume_wins_even_when_the_class_waits_for_a_consumer() {
    let wffc: StorageClass = serde_json::from_value(json!({"metadata": {"name": "local"},
        "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer"}))
    .unwrap();
    let claim = pvc("c", "1Gi", json!({"spec": {"storageClassName": "local"}}));
    let free = [pv("free", "1Gi", json!({"spec": {"storageClassName": "local"}}))];
    assert!(
        matches!(plan_claim(&claim, &free, Some(&wffc)), ClaimPlan::Pending(r) if r.contains("first consumer")),
        "the scheduler picks the volume"
    );
    let chosen = [
        free[0].clone(),
        pv(
            "chosen",
            "5Gi",
            json!({"spec": {"storageClassName": "local",
        "claimRef": {"namespace": "ns", "name": "c", "uid": "uid-c"}}}),
        ),
    ];
    assert_eq!(plan_claim(&claim, &chosen, Some(&wffc)), bind("chosen"));
    let stale = [pv("stale", "1Gi", json!({"spec": {"claimRef": {"namespace": "ns", "name": "c", "uid": "old"}}}))];
    assert!(matches!(plan_claim(&pvc("c", "1Gi", json!({})), &stale, None), ClaimPlan::Pending(_)), "another UID");
}

#[test]
fn a_named_volume_is_bound_finished_lost_or_refused() {
    let claim = pvc("c", "1Gi", json!({"spec": {"volumeName": "v"}}));
    assert_eq!(plan_claim(&claim, &[pv("v", "1Gi", json!({}))], None), bind("v"), "claimRef not yet set");
    let mine = pv(
        "v",
        "1Gi",
        json!({"spec": {"claimRef": {"namespace": "ns", "name": "c", "uid": "uid-c"}},
        "status": {"phase": "Bound"}}),
    );
    assert_eq!(plan_claim(&claim, std::slice::from_ref(&mine), None), bind("v"), "the claim side is not done");
    let done = pvc(
        "c",
        "1Gi",
        json!({"metadata": {"annotations": {ANN_BIND_COMPLETED: "yes"}},
        "spec": {"volumeName": "v"}, "status": {"phase": "Bound"}}),
    );
    assert_eq!(plan_claim(&done, std::slice::from_ref(&mine), None), ClaimPlan::Nothing);
    assert_eq!(plan_claim(&done, &[], None), ClaimPlan::Lost, "the volume is gone");
    assert!(matches!(plan_claim(&claim, &[], None), ClaimPlan::Pending(_)), "not bound yet: wait for it");
    let theirs = pv("v", "1Gi", json!({"spec": {"claimRef": {"namespace": "ns", "name": "x", "uid": "uid-x"}}}));
    assert!(matches!(plan_claim(&claim, std::slice::from_ref(&theirs), None), ClaimPlan::Pending(_)));
    assert_eq!(plan_claim(&done, &[theirs], None), ClaimPlan::Lost);
}

#[test]
fn volume_phases_follow_their_claims() {
    let free = pv("v", "1Gi", json!({}));
    assert_eq!(plan_volume(&free, None), VolumePlan::Phase("Available"));
    let available = pv("v", "1Gi", json!({"status": {"phase": "Available"}}));
    assert_eq!(plan_volume(&available, None), VolumePlan::Nothing);

    let held = pv(
        "v",
        "1Gi",
        json!({"spec": {"claimRef": {"namespace": "ns", "name": "c", "uid": "uid-c"}},
        "status": {"phase": "Bound"}}),
    );
    let bound = pvc("c", "1Gi", json!({"spec": {"volumeName": "v"}}));
    assert_eq!(plan_volume(&held, Some(&bound)), VolumePlan::Nothing);
    assert_eq!(plan_volume(&held, None), VolumePlan::Phase("Released"), "the claim is gone");
    let recreated = pvc("c", "1Gi", json!({"metadata": {"uid": "new"}, "spec": {"volumeName": "v"}}));
    assert_eq!(plan_volume(&held, Some(&recreated)), VolumePlan::Phase("Released"));

    let prebound = pv("v", "1Gi", json!({"spec": {"claimRef": {"namespace": "ns", "name": "c"}}}));
    assert_eq!(plan_volume(&prebound, None), VolumePlan::Phase("Available"), "waiting for its claim");

    let elsewhere = pvc("c", "1Gi", json!({"spec": {"volumeName": "other"}}));
    let by_us = pv(
        "v",
        "1Gi",
        json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}},
        "spec": {"claimRef": {"namespace": "ns", "name": "c", "uid": "uid-c"}}}),
    );
    assert_eq!(plan_volume(&by_us, Some(&elsewhere)), VolumePlan::Unbind);
    assert_eq!(plan_volume(&held, Some(&elsewhere)), VolumePlan::Nothing, "a user's binding stays");
    let failed = pv("v", "1Gi", json!({"status": {"phase": "Failed"}}));
    assert_eq!(plan_volume(&failed, None), VolumePlan::Nothing);
}
