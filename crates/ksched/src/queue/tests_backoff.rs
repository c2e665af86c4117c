//! Queue tests of `SchedulerPopFromBackoffQ` (the default): early pops from backoffQ when
//! activeQ is empty, errors waiting out their backoff, whole-second windows.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::tests::{Gates, PROFILE, TestSort, key, pod, pop_and_fail, secs};
use super::{PodLocation, QueueSettings, QueueingHintMap, SchedulingQueue, WILDCARD_EVENT};
use crate::framework::PreEnqueuePlugin;

fn queue() -> SchedulingQueue {
    let gates: Vec<Arc<dyn PreEnqueuePlugin>> = vec![Arc::new(Gates)];
    let pre = HashMap::from([(PROFILE.to_owned(), gates)]);
    SchedulingQueue::new(Arc::new(TestSort), pre, QueueingHintMap::new(), QueueSettings::default())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn an_empty_active_queue_takes_a_rejected_pod_before_its_backoff_ends() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add(pod("p", 0), t0);
    assert_eq!(pop_and_fail(&mut q, "p", &["A"], t0), Some(PodLocation::Unschedulable));
    assert_eq!(q.move_all_to_active_or_backoff(WILDCARD_EVENT, t0 + ms(100)), 1);
    assert_eq!(q.location(&key("p")), Some(PodLocation::Backoff));

    // Another pod in activeQ goes first; then the backing-off one, long before its backoff.
    q.add(pod("fresh", 0), t0 + ms(100));
    assert_eq!(q.pop(t0 + ms(100)).unwrap().pod.name, "fresh");
    let p = q.pop(t0 + ms(100)).unwrap();
    assert_eq!((p.pod.name.as_str(), p.attempts), ("p", 2));
    assert!(q.pop(t0 + ms(100)).is_none());
}

#[test]
fn a_pod_that_failed_with_an_error_waits_out_its_backoff() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add(pod("p", 0), t0);
    assert_eq!(pop_and_fail(&mut q, "p", &[], t0), Some(PodLocation::Backoff));
    assert!(q.pop(t0 + ms(100)).is_none(), "errors are not popped early");
    // 1 s from a whole second ends after the next one (upstream's window arithmetic).
    assert_eq!(q.next_backoff_expiry(), Some(t0 + secs(2)));
    assert_eq!(q.flush(t0 + ms(1999)), 0);
    assert_eq!(q.flush(t0 + secs(2)), 1);
    assert_eq!(q.pop(t0 + secs(2)).unwrap().attempts, 2);
}

#[test]
fn backoff_ends_on_whole_second_windows_in_queue_sort_order() {
    let t0 = Instant::now();
    let mut q = queue();
    q.add(pod("low", 0), t0);
    q.add(pod("high", 5), t0);
    assert_eq!(pop_and_fail(&mut q, "high", &["A"], t0 + ms(600)), Some(PodLocation::Unschedulable));
    assert_eq!(pop_and_fail(&mut q, "low", &["A"], t0 + ms(200)), Some(PodLocation::Unschedulable));
    assert_eq!(q.move_all_to_active_or_backoff(WILDCARD_EVENT, t0 + ms(700)), 2);
    // Raw expiries 1.2 s and 1.6 s: both in the window [1 s, 2 s), so both end at 2 s.
    assert_eq!(q.next_backoff_expiry(), Some(t0 + secs(2)));
    // Within the window, QueueSort decides: the higher priority first, though its backoff
    // started later.
    assert_eq!(q.pop(t0 + ms(700)).unwrap().pod.name, "high");
    assert_eq!(q.pop(t0 + ms(700)).unwrap().pod.name, "low");
}

#[test]
fn pre_enqueue_runs_on_the_way_into_backoff() {
    let t0 = Instant::now();
    let mut q = queue();
    let p = pod("p", 0);
    q.add(Arc::clone(&p), t0);
    assert_eq!(pop_and_fail(&mut q, "p", &["A"], t0), Some(PodLocation::Unschedulable));
    let mut gated = (*p).clone();
    gated.scheduling_gates = vec!["example.com/hold".into()];
    q.update(&p, Arc::new(gated), t0 + ms(50));
    q.move_all_to_active_or_backoff(WILDCARD_EVENT, t0 + ms(100));
    assert_eq!(q.location(&key("p")), Some(PodLocation::Gated), "a gated pod must not be popped early");
    assert!(q.pop(t0 + ms(100)).is_none());
}
