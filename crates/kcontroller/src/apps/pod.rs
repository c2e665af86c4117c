//! Pod predicates shared by the controllers (upstream `podutil` and `controller_utils`).

use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;
use kapi::k8s::jiff::{SignedDuration, Timestamp};

/// Pod phase `Pending`.
pub const PHASE_PENDING: &str = "Pending";
/// Pod phase `Running`.
pub const PHASE_RUNNING: &str = "Running";
/// Pod phase `Succeeded` (terminal).
pub const PHASE_SUCCEEDED: &str = "Succeeded";
/// Pod phase `Failed` (terminal).
pub const PHASE_FAILED: &str = "Failed";
/// Pod phase `Unknown`.
pub const PHASE_UNKNOWN: &str = "Unknown";

/// The pod's phase, `""` when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// The node the pod is bound to, `""` when unassigned.
pub fn node_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

/// Whether the pod is in a terminal phase (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), PHASE_SUCCEEDED | PHASE_FAILED)
}

/// Upstream `IsPodActive`: not terminal and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// The `Ready` condition's `lastTransitionTime` when the pod is ready (`None` when the pod is
/// not ready, or ready without a transition time).
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    ready_condition(pod).filter(|_| is_ready(pod)).and_then(|c| c.last_transition_time.as_ref()).map(|t| t.0)
}

fn ready_condition(pod: &Pod) -> Option<&kapi::k8s::api::core::v1::PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// Upstream `IsPodReady`: the `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Upstream `IsPodAvailable`: ready, and either `min_ready_seconds` is 0 or the pod has been
/// ready (by the `Ready` condition's `lastTransitionTime`) for strictly longer than
/// `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|since| add_secs(since, i64::from(min_ready_seconds)) < now)
}

/// When a ready pod that is not yet available becomes available (`None` when it is not
/// ready, already available, or has no ready transition time).
pub fn available_at(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<Timestamp> {
    if min_ready_seconds <= 0 || !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    ready_since(pod).map(|since| add_secs(since, i64::from(min_ready_seconds)))
}

/// The highest restart count among the pod's containers.
pub fn max_container_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

/// `ts + secs` seconds, saturating at the ends of the representable range.
pub(crate) fn add_secs(ts: Timestamp, secs: i64) -> Timestamp {
    ts.checked_add(SignedDuration::from_secs(secs)).unwrap_or(if secs >= 0 { Timestamp::MAX } else { Timestamp::MIN })
}

/// `now` truncated to whole seconds, as the API server stores `metav1.Time`, so a condition
/// written by a plan compares equal to the one read back.
pub(crate) fn api_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// A `std::time::Duration` from `from` until `to` (zero when `to` is not after `from`).
pub(crate) fn duration_until(from: Timestamp, to: Timestamp) -> std::time::Duration {
    std::time::Duration::try_from(to.duration_since(from)).unwrap_or(std::time::Duration::ZERO)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for pods used by the tests of several modules.
    use super::*;
    use kapi::k8s::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use std::collections::BTreeMap;

    /// A timestamp `secs` seconds after 2024-01-01T00:00:00Z.
    pub(crate) fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_704_067_200 + secs).unwrap()
    }

    /// A pending, unassigned pod with labels.
    pub(crate) fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.labels = Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect::<BTreeMap<_, _>>());
        p.spec = Some(PodSpec::default());
        p.status = Some(PodStatus { phase: Some(PHASE_PENDING.into()), ..Default::default() });
        p
    }

    /// Sets the phase.
    pub(crate) fn with_phase(mut p: Pod, phase: &str) -> Pod {
        p.status.get_or_insert_with(Default::default).phase = Some(phase.into());
        p
    }

    /// Binds to a node.
    pub(crate) fn on_node(mut p: Pod, node: &str) -> Pod {
        p.spec.get_or_insert_with(Default::default).node_name = Some(node.into());
        p
    }

    /// Running and Ready since `since`.
    pub(crate) fn ready(mut p: Pod, since: Timestamp) -> Pod {
        let status = p.status.get_or_insert_with(Default::default);
        status.phase = Some(PHASE_RUNNING.into());
        status.conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(since)),
            ..Default::default()
        }]);
        p
    }

    /// Sets the restart count of a single container.
    pub(crate) fn restarts(mut p: Pod, n: i32) -> Pod {
        p.status.get_or_insert_with(Default::default).container_statuses =
            Some(vec![ContainerStatus { name: "c".into(), restart_count: n, ..Default::default() }]);
        p
    }

    /// Sets the creation timestamp.
    pub(crate) fn created(mut p: Pod, at: Timestamp) -> Pod {
        p.metadata.creation_timestamp = Some(Time(at));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn activity_and_readiness() {
        let p = pod("a", &[]);
        assert!(is_active(&p));
        assert!(!is_ready(&p));
        assert!(!is_active(&with_phase(p.clone(), PHASE_SUCCEEDED)));
        assert!(!is_active(&with_phase(p.clone(), PHASE_FAILED)));
        let mut deleting = p.clone();
        deleting.metadata.deletion_timestamp = Some(Time(t(0)));
        assert!(!is_active(&deleting));
        let r = ready(p, t(100));
        assert!(is_ready(&r));
        assert_eq!(ready_since(&r), Some(t(100)));
    }

    #[test]
    fn availability_needs_strictly_more_than_min_ready_seconds() {
        let r = ready(pod("a", &[]), t(100));
        assert!(is_available(&r, 0, t(100)));
        assert!(!is_available(&r, 10, t(110)), "exactly minReadySeconds is not enough");
        assert!(is_available(&r, 10, t(111)));
        assert_eq!(available_at(&r, 10, t(105)), Some(t(110)));
        assert_eq!(available_at(&r, 10, t(111)), None);
        assert!(!is_available(&pod("b", &[]), 0, t(0)));
    }

    #[test]
    fn restarts_and_time_helpers() {
        assert_eq!(max_container_restarts(&restarts(pod("a", &[]), 3)), 3);
        assert_eq!(max_container_restarts(&pod("a", &[])), 0);
        let sub = Timestamp::new(t(5).as_second(), 500).unwrap();
        assert_eq!(api_time(sub), Time(t(5)));
        assert_eq!(duration_until(t(5), t(3)), std::time::Duration::ZERO);
        assert_eq!(duration_until(t(3), t(5)), std::time::Duration::from_secs(2));
        assert_eq!(add_secs(Timestamp::MAX, 10), Timestamp::MAX);
    }
}
