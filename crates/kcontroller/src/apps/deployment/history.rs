//! Revision history cleanup (upstream `cleanupDeployment`): keep at most
//! `revisionHistoryLimit` old ReplicaSets, deleting the lowest revisions first, and only
//! ReplicaSets that are scaled to zero, have no pods, have their spec observed and are not
//! already being deleted.

use kapi::k8s::api::apps::v1::ReplicaSet;

use super::revision;
use super::work::{self, Work, by_creation};

/// Upstream `ReplicaSetsByRevision`: lower revision first; creation order when a revision is
/// unparsable or equal.
fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    match (revision::revision(a), revision::revision(b)) {
        (Ok(ra), Ok(rb)) if ra != rb => ra.cmp(&rb),
        _ => by_creation(a, b),
    }
}

/// Plans deletions among `old` (as observed at the start of the step).
pub(super) fn cleanup(w: &mut Work<'_>, old: &[ReplicaSet]) {
    let Some(limit) = w.spec.revision_history_limit else { return };
    let mut alive: Vec<&ReplicaSet> = old.iter().filter(|rs| rs.metadata.deletion_timestamp.is_none()).collect();
    let diff = i64::try_from(alive.len()).unwrap_or(i64::MAX) - i64::from(limit);
    if diff <= 0 {
        return;
    }
    alive.sort_by(|a, b| by_revision(a, b));
    for rs in alive.into_iter().take(usize::try_from(diff).unwrap_or(0)) {
        let observed = rs.status.as_ref().and_then(|s| s.observed_generation).unwrap_or(0);
        if work::actual(rs) != 0 || work::replicas(rs) != 0 || rs.metadata.generation.unwrap_or(0) > observed {
            continue;
        }
        let name = rs.metadata.name.clone().unwrap_or_default();
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        if !w.deletes.iter().any(|(n, _)| *n == name) {
            w.deletes.push((name, uid));
        }
    }
}
