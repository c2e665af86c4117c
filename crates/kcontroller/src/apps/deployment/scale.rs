//! Scaling events and paused Deployments (upstream `sync`, `scale`, `isScalingEvent`,
//! `FindActiveOrLatest`, `IsSaturated`, `GetProportion`, `getReplicaSetFraction`).
//!
//! When `replicas` changes while several ReplicaSets have pods, each active ReplicaSet gets a
//! share proportional to its size: its new size is
//! `round(replicas_rs * (replicas + maxSurge) / max-replicas-annotation)`, bounded so the
//! total never passes what may be added (or removed), and whatever rounding leaves over goes
//! to the largest ReplicaSet (ties: the newest when scaling up, the oldest when scaling down).

use std::cmp::Ordering;

use kapi::k8s::api::apps::v1::ReplicaSet;

use super::history;
use super::revision::{DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION};
use super::status;
use super::work::{self, Flow, Work, by_creation};

/// Upstream `sync`: scaling (and history cleanup when paused), status without progress.
pub(super) fn sync(w: &mut Work<'_>, rollback_pending: bool) -> Flow<()> {
    let (new, old) = w.get_all(false)?;
    let all_idx: Vec<usize> = old.iter().copied().chain(new).collect();
    let all = w.snapshot(&all_idx);
    let new_snapshot = new.map(|n| w.rss[n].clone());
    let old_snapshot = w.snapshot(&old);
    scale(w, new, old);
    if w.spec.paused && !rollback_pending {
        history::cleanup(w, &old_snapshot);
    }
    status::sync_deployment_status(w, &all, new_snapshot.as_ref());
    Ok(())
}

/// Upstream `isScalingEvent`: an active ReplicaSet's desired-replicas annotation differs
/// from `replicas`.
pub(super) fn is_scaling_event(w: &mut Work<'_>) -> Flow<bool> {
    let (new, old) = w.get_all(false)?;
    let all: Vec<usize> = old.into_iter().chain(new).collect();
    Ok(w.active(&all)
        .into_iter()
        .any(|i| work::int_annotation(&w.rss[i], DESIRED_REPLICAS_ANNOTATION).is_some_and(|d| d != w.spec.replicas)))
}

/// Upstream `ReplicaSetsBySizeNewer`: larger first, then newer.
fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    work::replicas(b).cmp(&work::replicas(a)).then_with(|| by_creation(b, a))
}

/// Upstream `ReplicaSetsBySizeOlder`: larger first, then older.
fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    work::replicas(b).cmp(&work::replicas(a)).then_with(|| by_creation(a, b))
}

/// Upstream `FindActiveOrLatest`; also leaves `old` sorted newest first, as upstream does.
fn find_active_or_latest(w: &Work<'_>, new: Option<usize>, old: &mut [usize]) -> Option<usize> {
    if new.is_none() && old.is_empty() {
        return None;
    }
    w.sort(old, |a, b| by_creation(b, a));
    let all: Vec<usize> = old.iter().copied().chain(new).collect();
    let active = w.active(&all);
    match active.len() {
        0 => new.or_else(|| old.first().copied()),
        1 => active.first().copied(),
        _ => None,
    }
}

/// Upstream `IsSaturated`: the new ReplicaSet has all replicas, its desired-replicas
/// annotation agrees, and all of them are available.
fn is_saturated(w: &Work<'_>, new: Option<usize>) -> bool {
    let Some(n) = new else { return false };
    let rs = &w.rss[n];
    let r = w.spec.replicas;
    work::int_annotation(rs, DESIRED_REPLICAS_ANNOTATION) == Some(r)
        && work::replicas(rs) == r
        && work::available(rs) == r
}

/// Upstream `scale`.
pub(super) fn scale(w: &mut Work<'_>, new: Option<usize>, mut old: Vec<usize>) {
    if let Some(rs) = find_active_or_latest(w, new, &mut old) {
        if w.replicas(rs) != w.spec.replicas {
            w.scale_and_record(rs, w.spec.replicas);
        }
        return;
    }
    if is_saturated(w, new) {
        for i in w.active(&old) {
            w.scale_and_record(i, 0);
        }
        return;
    }
    if !w.spec.is_rolling() {
        return;
    }
    let all_idx: Vec<usize> = old.iter().copied().chain(new).collect();
    let mut all = w.active(&all_idx);
    let allowed = if w.spec.replicas > 0 { w.spec.replicas + w.spec.max_surge() } else { 0 };
    let to_add = allowed - w.total_replicas(&all);
    let operation = match to_add.cmp(&0) {
        Ordering::Greater => {
            w.sort(&mut all, by_size_newer);
            "up"
        }
        Ordering::Less => {
            w.sort(&mut all, by_size_older);
            "down"
        }
        Ordering::Equal => "",
    };
    let mut added = 0;
    let mut sizes = Vec::with_capacity(all.len());
    for &i in &all {
        let current = w.replicas(i);
        if to_add != 0 {
            let p = proportion(w, &w.rss[i], to_add, added);
            sizes.push(current + p);
            added += p;
        } else {
            sizes.push(current);
        }
    }
    for (k, &i) in all.iter().enumerate() {
        if k == 0 && to_add != 0 {
            sizes[0] = (sizes[0] + to_add - added).max(0);
        }
        w.scale_replica_set(i, sizes[k], operation);
    }
}

/// Upstream `GetProportion`: this ReplicaSet's share of `to_add`, bounded by what is left.
fn proportion(w: &Work<'_>, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if work::replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(w, rs);
    let allowed = to_add - added;
    if to_add > 0 { fraction.min(allowed) } else { fraction.max(allowed) }
}

/// Upstream `getReplicaSetFraction`: `round(rs * (replicas + maxSurge) / annotated) - rs`,
/// where `annotated` is the max-replicas annotation (or the Deployment's current
/// `status.replicas`). A zero `annotated` (upstream would divide by zero) yields 0, leaving the
/// change to the leftover step.
fn replica_set_fraction(w: &Work<'_>, rs: &ReplicaSet) -> i32 {
    let current = work::replicas(rs);
    if w.spec.replicas == 0 {
        return -current;
    }
    let deployment_replicas = i64::from(w.spec.replicas + w.spec.max_surge());
    let annotated =
        work::int_annotation(rs, MAX_REPLICAS_ANNOTATION).unwrap_or_else(|| w.status().replicas.unwrap_or(0));
    if annotated <= 0 {
        return 0;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let new_size = ((i64::from(current) * deployment_replicas) as f64 / f64::from(annotated)).round() as i64;
    i32::try_from(new_size - i64::from(current)).unwrap_or(if new_size > 0 { i32::MAX } else { i32::MIN })
}
