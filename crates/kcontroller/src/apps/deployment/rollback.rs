//! Rollback (upstream `rollback.go`).
//!
//! `spec.rollbackTo` no longer exists in `apps/v1`; upstream still honours it round-tripped
//! as the `deprecated.deployment.rollback.to` annotation, and so does this core. Modern
//! `kubectl rollout undo` instead patches the Deployment's template (and annotations) with
//! those of the ReplicaSet of the chosen revision; the next sync then finds that ReplicaSet as
//! the new one and raises its revision above every other (keeping the old numbers in
//! `deployment.kubernetes.io/revision-history`), which is what `kubectl rollout history`
//! shows.

use super::EventType;
use super::revision::{self, DEPRECATED_ROLLBACK_TO_ANNOTATION};
use super::work::{Flow, Work};

/// Event reason: the revision to roll back to was not found.
pub const ROLLBACK_REVISION_NOT_FOUND: &str = "DeploymentRollbackRevisionNotFound";
/// Event reason: the revision has the current template.
pub const ROLLBACK_TEMPLATE_UNCHANGED: &str = "DeploymentRollbackTemplateUnchanged";
/// Event reason: rolled back.
pub const ROLLBACK_DONE: &str = "DeploymentRollback";

/// Upstream `getRollbackTo`: the requested revision (0 = the previous one), if any.
pub(super) fn rollback_to(w: &Work<'_>) -> Option<i64> {
    w.d.metadata.annotations.as_ref()?.get(DEPRECATED_ROLLBACK_TO_ANNOTATION)?.parse().ok()
}

fn clear_and_update(w: &mut Work<'_>) {
    if let Some(a) = w.d.metadata.annotations.as_mut() {
        a.remove(DEPRECATED_ROLLBACK_TO_ANNOTATION);
    }
    w.update_deployment = true;
}

/// Upstream `rollback`.
pub(super) fn rollback(w: &mut Work<'_>, mut to: i64) -> Flow<()> {
    let (new, old) = w.get_all(true)?;
    let all: Vec<usize> = old.into_iter().chain(new).collect();
    if to == 0 {
        to = revision::last_revision(all.iter().map(|i| &w.rss[*i]));
        if to == 0 {
            w.event(EventType::Warning, ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision.".into());
            clear_and_update(w);
            return Ok(());
        }
    }
    let target = all.iter().copied().find(|i| revision::revision(&w.rss[*i]).ok() == Some(to));
    let Some(i) = target else {
        w.event(EventType::Warning, ROLLBACK_REVISION_NOT_FOUND, "Unable to find the revision to rollback to.".into());
        clear_and_update(w);
        return Ok(());
    };
    let rs = w.rss[i].clone();
    let rs_template = rs.spec.as_ref().and_then(|s| s.template.clone()).unwrap_or_default();
    if revision::equal_ignore_hash(&w.template(), &rs_template) {
        let msg = format!("The rollback revision contains the same template as current deployment {:?}", w.name);
        w.event(EventType::Warning, ROLLBACK_TEMPLATE_UNCHANGED, msg);
        clear_and_update(w);
    } else {
        revision::set_from_replica_set_template(&mut w.d, &rs_template);
        revision::set_deployment_annotations_to(&mut w.d, &rs);
        clear_and_update(w);
        let msg = format!("Rolled back deployment {:?} to revision {to}", w.name);
        w.event(EventType::Normal, ROLLBACK_DONE, msg);
    }
    Ok(())
}
