//! PodDisruptionBudgets as preemption reads them: which victims would violate a budget
//! (upstream `filterPodsWithPDBViolation`).

use std::collections::BTreeSet;
use std::sync::Arc;

use kapi::k8s::api::policy::v1::PodDisruptionBudget;
use kapi::labels::Selector;

use crate::types::PodInfo;

/// One budget, parsed once per preemption attempt.
#[derive(Debug, Clone)]
pub(super) struct Budget {
    namespace: String,
    /// `None`: the selector is absent, empty or invalid, so the budget matches no pod.
    selector: Option<Selector>,
    /// `status.disruptionsAllowed`.
    allowed: i32,
    /// `status.disruptedPods`: pods the API server already counted against the budget.
    disrupted: BTreeSet<String>,
}

impl Budget {
    /// Parses `pdb`.
    pub(super) fn new(pdb: &PodDisruptionBudget) -> Self {
        let selector = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| Selector::from_label_selector(Some(s)).ok())
            // A nil or empty selector matches nothing (unlike elsewhere, where `{}` is all).
            .filter(|s| !s.requirements().is_empty());
        let status = pdb.status.as_ref();
        Self {
            namespace: pdb.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            selector,
            allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the budget covers `pod` and has not already counted its disruption.
    fn counts(&self, pod: &PodInfo) -> bool {
        pod.namespace == self.namespace
            && self.selector.as_ref().is_some_and(|s| s.matches(&pod.labels))
            && !self.disrupted.contains(&pod.name)
    }
}

/// Parses every budget of the cluster.
pub(super) fn budgets(pdbs: &[Arc<PodDisruptionBudget>]) -> Vec<Budget> {
    pdbs.iter().map(|p| Budget::new(p)).collect()
}

/// Splits `pods` (in order) into those whose eviction would violate a budget and the others.
/// Each matching budget's allowance is decremented as pods are counted, so with
/// `disruptionsAllowed: 1` the first matching pod does not violate and the second does.
/// The order within each group is kept.
pub(super) fn split_by_violation(
    pods: Vec<Arc<PodInfo>>,
    budgets: &[Budget],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    if budgets.is_empty() {
        return (Vec::new(), pods);
    }
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.allowed).collect();
    let mut violating = Vec::new();
    let mut others = Vec::new();
    for pod in pods {
        let mut violates = false;
        // A pod without labels matches no budget.
        if !pod.labels.is_empty() {
            for (i, b) in budgets.iter().enumerate() {
                if b.counts(&pod) {
                    allowed[i] -= 1;
                    violates |= allowed[i] < 0;
                }
            }
        }
        if violates {
            violating.push(pod);
        } else {
            others.push(pod);
        }
    }
    (violating, others)
}
