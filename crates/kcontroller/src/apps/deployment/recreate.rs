//! The Recreate strategy (upstream `recreate.go`): scale every old ReplicaSet to zero, wait
//! until none of their pods runs, then create or scale up the new ReplicaSet.

use std::collections::BTreeSet;

use kapi::k8s::api::apps::v1::ReplicaSet;
use kapi::labels::Selector;

use super::history;
use super::status;
use super::work::{self, Flow, Work};
use crate::apps::pod;

/// Upstream `rolloutRecreate`.
pub(super) fn rollout(w: &mut Work<'_>, selector: &Selector) -> Flow<()> {
    // Do not create the new ReplicaSet yet: scale down first.
    let (mut new, mut old) = w.get_all(false)?;
    let mut all_idx: Vec<usize> = old.iter().copied().chain(new).collect();
    let mut all = w.snapshot(&all_idx);
    let mut new_snapshot = new.map(|n| w.rss[n].clone());

    let mut scaled_down = false;
    for i in w.active(&old) {
        if w.scale_and_record(i, 0) {
            scaled_down = true;
        }
    }
    if scaled_down {
        status::sync_rollout_status(w, &all, new_snapshot.as_ref());
        return Ok(());
    }

    let old_snapshot = w.snapshot(&old);
    if old_pods_running(w, new_snapshot.as_ref(), &old_snapshot, selector) {
        status::sync_rollout_status(w, &all, new_snapshot.as_ref());
        return Ok(());
    }

    if new.is_none() {
        (new, old) = w.get_all(true)?;
        all_idx = old.iter().copied().chain(new).collect();
        all = w.snapshot(&all_idx);
        new_snapshot = new.map(|n| w.rss[n].clone());
    }
    if let Some(n) = new {
        w.scale_and_record(n, w.spec.replicas);
    }
    if status::deployment_complete(&w.spec, w.d.metadata.generation.unwrap_or(0), &w.status()) {
        let old_snapshot = w.snapshot(&old);
        history::cleanup(w, &old_snapshot);
    }
    status::sync_rollout_status(w, &all, new_snapshot.as_ref());
    Ok(())
}

/// Upstream `oldPodsRunning`: an old ReplicaSet reports pods, or a non-terminal pod (even
/// one being deleted, or in phase Unknown) is controlled by a ReplicaSet of the Deployment
/// other than the new one.
fn old_pods_running(w: &Work<'_>, new: Option<&ReplicaSet>, old: &[ReplicaSet], selector: &Selector) -> bool {
    if old.iter().map(work::actual).sum::<i32>() > 0 {
        return true;
    }
    let new_uid = new.and_then(|rs| rs.metadata.uid.as_deref());
    let uids: BTreeSet<&str> = w.rss.iter().filter_map(|rs| rs.metadata.uid.as_deref()).collect();
    w.pods.iter().any(|p| {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        let Some(owner) = kapi::owner::controller_of(&p.metadata) else { return false };
        selector.matches(&labels)
            && uids.contains(owner.uid.as_str())
            && Some(owner.uid.as_str()) != new_uid
            && !pod::is_terminal(p)
    })
}
