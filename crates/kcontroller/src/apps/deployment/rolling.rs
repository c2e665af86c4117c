//! The RollingUpdate strategy (upstream `rolling.go`): scale the new ReplicaSet up within
//! `replicas + maxSurge` pods, and old ones down while at least `replicas - maxUnavailable`
//! pods stay available.

use super::history;
use super::status;
use super::work::{self, Flow, Work, by_creation};

/// Upstream `rolloutRolling`.
pub(super) fn rollout(w: &mut Work<'_>) -> Flow<()> {
    let (new, old) = w.get_all(true)?;
    let Some(new) = new else { return Ok(()) };
    let mut all_idx = old.clone();
    all_idx.push(new);
    let all = w.snapshot(&all_idx);
    let new_snapshot = w.rss[new].clone();

    if reconcile_new(w, &all_idx, new) {
        status::sync_rollout_status(w, &all, Some(&new_snapshot));
        return Ok(());
    }
    let active_old = w.active(&old);
    if reconcile_old(w, &all_idx, active_old, new) {
        status::sync_rollout_status(w, &all, Some(&new_snapshot));
        return Ok(());
    }
    if status::deployment_complete(&w.spec, w.d.metadata.generation.unwrap_or(0), &w.status()) {
        let old_snapshot = w.snapshot(&old);
        history::cleanup(w, &old_snapshot);
    }
    status::sync_rollout_status(w, &all, Some(&new_snapshot));
    Ok(())
}

/// Upstream `reconcileNewReplicaSet`: scale the new ReplicaSet down to `replicas`, or up as
/// far as the surge allows.
fn reconcile_new(w: &mut Work<'_>, all: &[usize], new: usize) -> bool {
    let desired = w.spec.replicas;
    let current = w.replicas(new);
    if current == desired {
        return false;
    }
    if current > desired {
        return w.scale_and_record(new, desired);
    }
    let count = w.new_rs_new_replicas(w.total_replicas(all), current);
    w.scale_and_record(new, count)
}

/// Upstream `reconcileOldReplicaSets`.
fn reconcile_old(w: &mut Work<'_>, all: &[usize], mut old: Vec<usize>, new: usize) -> bool {
    if w.total_replicas(&old) == 0 {
        return false;
    }
    let all_pods = w.total_replicas(all);
    let min_available = w.spec.replicas - w.spec.max_unavailable();
    let new_unavailable = w.replicas(new) - work::available(&w.rss[new]);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    // Unhealthy replicas first: they do not reduce availability.
    let Some(cleaned) = cleanup_unhealthy(w, &mut old, max_scaled_down) else { return false };
    let mut with_new = old.clone();
    with_new.push(new);
    let scaled = scale_down_old(w, &with_new, &mut old);
    cleaned + scaled > 0
}

/// Upstream `cleanupUnhealthyReplicas`: scale old ReplicaSets down by their unavailable
/// replicas, oldest first, at most `max_cleanup` in total. `None` reproduces upstream's
/// error when a ReplicaSet reports more available pods than it wants (the scale-downs made
/// before it stay, and no further scaling happens in this sync).
fn cleanup_unhealthy(w: &mut Work<'_>, old: &mut [usize], max_cleanup: i32) -> Option<i32> {
    w.sort(old, by_creation);
    let mut total = 0;
    for &i in old.iter() {
        if total >= max_cleanup {
            break;
        }
        let replicas = w.replicas(i);
        let available = work::available(&w.rss[i]);
        if replicas == 0 || replicas == available {
            continue;
        }
        let count = (max_cleanup - total).min(replicas - available);
        let target = replicas - count;
        if target > replicas {
            return None;
        }
        w.scale_and_record(i, target);
        total += count;
    }
    Some(total)
}

/// Upstream `scaleDownOldReplicaSetsForRollingUpdate`: scale old ReplicaSets down, oldest
/// first, by as many pods as are available beyond `replicas - maxUnavailable` (counting the
/// active old ReplicaSets and the new one).
fn scale_down_old(w: &mut Work<'_>, all: &[usize], old: &mut [usize]) -> i32 {
    let min_available = w.spec.replicas - w.spec.max_unavailable();
    let available: i32 = all.iter().map(|i| work::available(&w.rss[*i])).sum();
    if available <= min_available {
        return 0;
    }
    w.sort(old, by_creation);
    let to_scale_down = available - min_available;
    let mut total = 0;
    for &i in old.iter() {
        if total >= to_scale_down {
            break;
        }
        let replicas = w.replicas(i);
        if replicas == 0 {
            continue;
        }
        let count = replicas.min(to_scale_down - total);
        w.scale_and_record(i, replicas - count);
        total += count;
    }
    total
}
