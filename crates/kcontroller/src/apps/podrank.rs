//! Which pods a ReplicaSet deletes first when it has too many (upstream
//! `ActivePodsWithRanks` with the `PodDeletionCost` and `LogarithmicScaleDown` behaviour
//! that upstream enables by default).
//!
//! The order, first rule that tells two pods apart wins; "before" means "deleted first":
//!
//! 1. unassigned (no `spec.nodeName`) before assigned;
//! 2. phase `Pending` before `Unknown` before `Running` (any other phase counts as `Pending`);
//! 3. not ready before ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` before higher (absent or invalid is 0);
//! 5. higher co-location rank before lower: the rank is the number of active *related* pods
//!    (pods of every ReplicaSet with the same controller) on the pod's node;
//! 6. both ready: ready for a shorter time before longer, compared on a base-2 logarithmic
//!    scale of the time since `now` (an unknown ready time counts as the newest); two pods in
//!    the same logarithmic bucket are ordered by UID;
//! 7. more container restarts before fewer;
//! 8. newer creation before older, with the same logarithmic scale and UID tie-break
//!    (an unknown creation time counts as the newest).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::jiff::Timestamp;

use super::pod;

/// The annotation holding a pod's deletion cost.
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A pod with its co-location rank (rule 5).
#[derive(Debug, Clone, Copy)]
pub struct RankedPod<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Number of active related pods on the same node (including itself when related).
    pub rank: usize,
}

/// Upstream `GetDeletionCostFromPodAnnotations`: the annotation's int32 value; 0 when absent
/// or invalid (a leading `+`, leading zeros, not a number, out of int32 range).
pub fn deletion_cost(pod: &Pod) -> i32 {
    let Some(value) = pod.metadata.annotations.as_ref().and_then(|a| a.get(POD_DELETION_COST_ANNOTATION)) else {
        return 0;
    };
    let valid_first = match value.as_bytes().first() {
        Some(b'-') => true,
        Some(b'0') => value == "0",
        Some(b'1'..=b'9') => true,
        _ => false,
    };
    if !valid_first {
        return 0;
    }
    value.parse::<i32>().unwrap_or(0)
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod::phase(pod) {
        pod::PHASE_UNKNOWN => 1,
        pod::PHASE_RUNNING => 2,
        _ => 0,
    }
}

/// Upstream `afterOrZero`: whether `a` should come first when times differ, the unknown time
/// being the newest.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (None, _) => true,
        (_, None) => false,
        (Some(a), Some(b)) => a > b,
    }
}

/// floor(log2(nanoseconds since `t`)), or -1 when `t` is not before `now`.
fn log_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 {
        return -1;
    }
    // floor(log2(n)) for a positive integer is its bit length minus one.
    i64::from(127 - nanos.leading_zeros())
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// Rules 6 and 8: `Some(ordering)` when the two times tell the pods apart.
fn compare_times(a: Option<Timestamp>, b: Option<Timestamp>, pa: &Pod, pb: &Pod, now: Timestamp) -> Option<Ordering> {
    if a == b {
        return None;
    }
    let (Some(ta), Some(tb)) = (a, b) else {
        return Some(if after_or_zero(a, b) { Ordering::Less } else { Ordering::Greater });
    };
    let diff = log_bucket(ta, now) - log_bucket(tb, now);
    Some(match diff.cmp(&0) {
        Ordering::Equal => uid(pa).cmp(uid(pb)),
        other => other,
    })
}

/// Compares two pods for deletion: `Less` means `a` should be deleted before `b`. See the
/// module documentation for the rules. Like upstream's `Less`, this is not guaranteed to be a
/// total order in corner cases (rules 6 and 8 use UIDs only inside a bucket); [`sort_for_deletion`]
/// copes with that.
pub fn compare_for_deletion(a: RankedPod<'_>, b: RankedPod<'_>, now: Timestamp) -> Ordering {
    let (pa, pb) = (a.pod, b.pod);
    // 1. Unassigned < assigned.
    let (na, nb) = (pod::node_name(pa), pod::node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() { Ordering::Less } else { Ordering::Greater };
    }
    // 2. Pending < Unknown < Running.
    let (oa, ob) = (phase_ordinal(pa), phase_ordinal(pb));
    if oa != ob {
        return oa.cmp(&ob);
    }
    // 3. Not ready < ready.
    let (ra, rb) = (pod::is_ready(pa), pod::is_ready(pb));
    if ra != rb {
        return if ra { Ordering::Greater } else { Ordering::Less };
    }
    // 4. Lower deletion cost < higher.
    let (ca, cb) = (deletion_cost(pa), deletion_cost(pb));
    if ca != cb {
        return ca.cmp(&cb);
    }
    // 5. Doubled up < not doubled up.
    if a.rank != b.rank {
        return b.rank.cmp(&a.rank);
    }
    // 6. Been ready for a shorter time < longer.
    if ra && rb {
        if let Some(o) = compare_times(pod::ready_since(pa), pod::ready_since(pb), pa, pb, now) {
            return o;
        }
    }
    // 7. More restarts < fewer.
    let (sa, sb) = (pod::max_container_restarts(pa), pod::max_container_restarts(pb));
    if sa != sb {
        return sb.cmp(&sa);
    }
    // 8. Newer < older.
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    compare_times(created(pa), created(pb), pa, pb, now).unwrap_or(Ordering::Equal)
}

/// Ranks `pods` by co-location with `related` pods (upstream
/// `getPodsRankedByRelatedPodsOnSameNode`): each pod's rank is the number of active pods in
/// `related` on the same node name (unassigned pods share the empty node name). Related pods
/// are de-duplicated by UID.
pub fn rank_by_colocation<'a>(pods: &[&'a Pod], related: &[&Pod]) -> Vec<RankedPod<'a>> {
    let mut seen = BTreeSet::new();
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for p in related {
        if let Some(u) = p.metadata.uid.as_deref() {
            if !seen.insert(u) {
                continue;
            }
        }
        if pod::is_active(p) {
            *on_node.entry(pod::node_name(p)).or_default() += 1;
        }
    }
    pods.iter().map(|&p| RankedPod { pod: p, rank: on_node.get(pod::node_name(p)).copied().unwrap_or(0) }).collect()
}

/// Sorts with [`compare_for_deletion`], first to delete first. A stable merge sort that never
/// panics, whatever the comparator's consistency.
pub fn sort_for_deletion(pods: &mut Vec<RankedPod<'_>>, now: Timestamp) {
    merge_sort(pods, &mut |a, b| compare_for_deletion(*a, *b, now));
}

/// Upstream `getPodsToDelete`: the `count` pods to delete among `pods` (all of them, unsorted,
/// when `count` covers them all).
pub fn pods_to_delete<'a>(pods: &[&'a Pod], related: &[&Pod], count: usize, now: Timestamp) -> Vec<&'a Pod> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut ranked = rank_by_colocation(pods, related);
    sort_for_deletion(&mut ranked, now);
    ranked.into_iter().take(count).map(|r| r.pod).collect()
}

/// A stable top-down merge sort; only ever compares and moves elements, so an inconsistent
/// comparator yields some order instead of a panic.
pub(crate) fn merge_sort<T: Clone>(v: &mut Vec<T>, cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    if v.len() <= 1 {
        return;
    }
    let mut right = v.split_off(v.len() / 2);
    merge_sort(v, cmp);
    merge_sort(&mut right, cmp);
    let left = std::mem::take(v);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if cmp(&right[j], &left[i]) == Ordering::Less {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    *v = out;
}

#[cfg(test)]
mod tests {
    use super::super::pod::testutil::*;
    use super::super::pod::{PHASE_RUNNING, PHASE_UNKNOWN};
    use super::*;

    fn cmp(a: &Pod, b: &Pod) -> Ordering {
        compare_for_deletion(RankedPod { pod: a, rank: 0 }, RankedPod { pod: b, rank: 0 }, t(100_000))
    }

    fn running(name: &str) -> Pod {
        with_phase(on_node(pod(name, &[]), "n1"), PHASE_RUNNING)
    }

    #[test]
    fn rule1_unassigned_first() {
        let a = pod("a", &[]);
        let b = on_node(pod("b", &[]), "n1");
        assert_eq!(cmp(&a, &b), Ordering::Less);
        assert_eq!(cmp(&b, &a), Ordering::Greater);
    }

    #[test]
    fn rule2_phase_order() {
        let pending = on_node(pod("a", &[]), "n1");
        let unknown = with_phase(on_node(pod("b", &[]), "n1"), PHASE_UNKNOWN);
        let run = running("c");
        assert_eq!(cmp(&pending, &unknown), Ordering::Less);
        assert_eq!(cmp(&unknown, &run), Ordering::Less);
        assert_eq!(cmp(&run, &pending), Ordering::Greater);
    }

    #[test]
    fn rule3_not_ready_first() {
        let nr = running("a");
        let r = ready(on_node(pod("b", &[]), "n1"), t(0));
        assert_eq!(cmp(&nr, &r), Ordering::Less);
        assert_eq!(cmp(&r, &nr), Ordering::Greater);
    }

    #[test]
    fn rule4_deletion_cost() {
        let mut cheap = running("a");
        let mut dear = running("b");
        cheap.metadata.annotations = Some([(POD_DELETION_COST_ANNOTATION.to_string(), "-5".to_string())].into());
        dear.metadata.annotations = Some([(POD_DELETION_COST_ANNOTATION.to_string(), "10".to_string())].into());
        assert_eq!(cmp(&cheap, &dear), Ordering::Less);
        for (v, want) in [("+10", 0), ("007", 0), ("0", 0), ("abc", 0), ("99999999999", 0), ("42", 42), ("-1", -1)] {
            let mut p = running("x");
            p.metadata.annotations = Some([(POD_DELETION_COST_ANNOTATION.to_string(), v.to_string())].into());
            assert_eq!(deletion_cost(&p), want, "{v}");
        }
    }

    #[test]
    fn rule5_colocated_first() {
        let a = running("a");
        let b = running("b");
        let ord = compare_for_deletion(RankedPod { pod: &a, rank: 3 }, RankedPod { pod: &b, rank: 1 }, t(0));
        assert_eq!(ord, Ordering::Less);
        // Ranks come from active related pods on the same node.
        let c = with_phase(on_node(pod("c", &[]), "n2"), PHASE_RUNNING);
        let mut gone = running("gone");
        gone.metadata.deletion_timestamp = Some(kapi::k8s::apimachinery::pkg::apis::meta::v1::Time(t(0)));
        let ranked = rank_by_colocation(&[&a, &c], &[&a, &b, &c, &gone, &a]);
        assert_eq!(ranked.iter().map(|r| r.rank).collect::<Vec<_>>(), vec![2, 1]);
    }

    #[test]
    fn rule6_ready_for_shorter_time_first() {
        let now = t(100_000);
        let young = ready(on_node(pod("a", &[]), "n1"), t(99_990));
        let old = ready(on_node(pod("b", &[]), "n1"), t(10));
        assert_eq!(cmp(&young, &old), Ordering::Less);
        assert_eq!(cmp(&old, &young), Ordering::Greater);
        // Same logarithmic bucket: UID decides, even against the ready time.
        let x = ready(on_node(pod("x", &[]), "n1"), t(100_000 - 40));
        let y = ready(on_node(pod("y", &[]), "n1"), t(100_000 - 41));
        assert_eq!(log_bucket(t(100_000 - 40), now), log_bucket(t(100_000 - 41), now));
        assert_eq!(cmp(&y, &x), Ordering::Greater, "uid-x < uid-y");
        // Unknown ready time counts as newest.
        let mut unknown = ready(on_node(pod("u", &[]), "n1"), t(0));
        unknown.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time = None;
        assert_eq!(cmp(&unknown, &old), Ordering::Less);
    }

    #[test]
    fn rule7_more_restarts_first() {
        let a = restarts(running("a"), 5);
        let b = restarts(running("b"), 1);
        assert_eq!(cmp(&a, &b), Ordering::Less);
        assert_eq!(cmp(&b, &a), Ordering::Greater);
    }

    #[test]
    fn rule8_newer_first() {
        let newer = created(running("a"), t(99_000));
        let older = created(running("b"), t(0));
        assert_eq!(cmp(&newer, &older), Ordering::Less);
        let none = running("c");
        assert_eq!(cmp(&none, &older), Ordering::Less, "no creation time counts as newest");
        assert_eq!(cmp(&older, &older.clone()), Ordering::Equal);
    }

    #[test]
    fn earlier_rules_win() {
        // Unassigned beats everything, even a ready-for-long pod with many restarts.
        let unassigned = restarts(pod("a", &[]), 0);
        let assigned = restarts(ready(on_node(pod("b", &[]), "n1"), t(0)), 100);
        assert_eq!(cmp(&unassigned, &assigned), Ordering::Less);
        // Not ready beats restarts.
        let nr = running("c");
        let r = restarts(ready(on_node(pod("d", &[]), "n1"), t(0)), 100);
        assert_eq!(cmp(&nr, &r), Ordering::Less);
    }

    #[test]
    fn pods_to_delete_picks_best_candidates() {
        let now = t(100_000);
        let p1 = ready(on_node(pod("p1", &[]), "n1"), t(0));
        let p2 = pod("p2", &[]);
        let p3 = running("p3");
        let p4 = ready(on_node(pod("p4", &[]), "n1"), t(99_999));
        let all = [&p1, &p2, &p3, &p4];
        let names = |v: Vec<&Pod>| v.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(pods_to_delete(&all, &all, 3, now)), vec!["p2", "p3", "p4"]);
        assert_eq!(names(pods_to_delete(&all, &all, 9, now)).len(), 4);
    }

    #[test]
    fn merge_sort_is_stable_and_survives_bad_comparators() {
        let mut v: Vec<(u8, u8)> = vec![(2, 0), (1, 1), (2, 2), (1, 3), (0, 4)];
        merge_sort(&mut v, &mut |a, b| a.0.cmp(&b.0));
        assert_eq!(v, vec![(0, 4), (1, 1), (1, 3), (2, 0), (2, 2)]);
        let mut w: Vec<u32> = (0..50).collect();
        let mut flip = false;
        merge_sort(&mut w, &mut |_, _| {
            flip = !flip;
            if flip { Ordering::Less } else { Ordering::Greater }
        });
        assert_eq!(w.len(), 50);
    }
}
