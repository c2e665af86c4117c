//! The generic PLEG (pod lifecycle event generator): relists sandboxes and containers every
//! `plegRelistPeriod` (1 s) and reports the pods whose sandboxes or containers changed
//! state, so their workers sync at once instead of at the next resync.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kcri::RuntimeService;
use kcri::types::{ContainerFilter, PodSandboxFilter, PodSandboxState};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::pods::runtime::POD_UID_LABEL;

/// The result of one relist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Relist {
    /// Pods (UIDs) whose sandboxes or containers changed since the previous relist.
    pub(crate) changed: Vec<String>,
    /// Every pod UID the runtime has a sandbox or container for.
    pub(crate) present: BTreeSet<String>,
}

type Fingerprints = BTreeMap<String, Vec<(String, i32)>>;

/// Each pod's sandboxes and containers with their states (as numbers, for comparison).
async fn snapshot(runtime: &dyn RuntimeService) -> kcri::Result<Fingerprints> {
    let mut out: Fingerprints = BTreeMap::new();
    for s in runtime.list_pod_sandbox(PodSandboxFilter::default()).await? {
        if let Some(uid) = s.labels.get(POD_UID_LABEL) {
            let code = if s.state == PodSandboxState::Ready { 10 } else { 11 };
            out.entry(uid.clone()).or_default().push((s.id, code));
        }
    }
    for c in runtime.list_containers(ContainerFilter::default()).await? {
        if let Some(uid) = c.labels.get(POD_UID_LABEL) {
            out.entry(uid.clone()).or_default().push((c.id, state_code(c.state)));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

fn state_code(s: kcri::types::ContainerState) -> i32 {
    use kcri::types::ContainerState as S;
    match s {
        S::Created => 0,
        S::Running => 1,
        S::Exited => 2,
        _ => 3,
    }
}

/// Pods whose fingerprint differs between `old` and `new` (including appeared and gone).
pub(crate) fn diff(old: &Fingerprints, new: &Fingerprints) -> Vec<String> {
    let uids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    uids.into_iter().filter(|u| old.get(*u) != new.get(*u)).cloned().collect()
}

/// Relists every `period` until `cancel` fires or the receiver is gone.
pub(crate) async fn run(
    runtime: Arc<dyn RuntimeService>,
    period: Duration,
    tx: mpsc::Sender<Relist>,
    cancel: CancellationToken,
) {
    let mut previous = Fingerprints::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match snapshot(runtime.as_ref()).await {
            Ok(now) => {
                let relist = Relist { changed: diff(&previous, &now), present: now.keys().cloned().collect() };
                previous = now;
                if tx.send(relist).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "PLEG relist failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_changed_new_and_gone() {
        let a: Fingerprints =
            [("u1".to_owned(), vec![("c1".to_owned(), 1)]), ("u2".to_owned(), vec![("c2".to_owned(), 1)])].into();
        let b: Fingerprints =
            [("u1".to_owned(), vec![("c1".to_owned(), 2)]), ("u3".to_owned(), vec![("c3".to_owned(), 1)])].into();
        assert_eq!(diff(&a, &b), ["u1", "u2", "u3"]);
        assert!(diff(&a, &a).is_empty());
    }
}
