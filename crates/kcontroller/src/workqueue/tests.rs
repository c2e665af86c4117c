//! Unit tests of the pure queue, the async wrapper and the metrics.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use super::*;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn queue() -> Queue<&'static str> {
    Queue::new(Box::new(ExponentialBackoff::default()))
}

fn drain(q: &mut Queue<&'static str>, now: Instant) -> Vec<&'static str> {
    let mut out = Vec::new();
    while let Some(k) = q.get(now) {
        out.push(k);
        q.done(&k, now);
    }
    out
}

#[test]
fn adds_of_a_waiting_key_are_merged() {
    let t = Instant::now();
    let mut q = queue();
    assert_eq!(q.add("a", t), AddOutcome::Queued);
    assert_eq!(q.add("b", t), AddOutcome::Queued);
    assert_eq!(q.add("a", t), AddOutcome::Merged);
    assert_eq!((q.len(), q.depth()), (2, 2));
    // First come, first served: the second add of `a` does not move it back.
    assert_eq!(drain(&mut q, t), ["a", "b"]);
    assert!(q.is_empty() && q.is_drained());
}

#[test]
fn a_key_in_progress_is_not_handed_out_again_until_done() {
    let t = Instant::now();
    let mut q = queue();
    q.add("a", t);
    assert_eq!(q.get(t), Some("a"));
    assert!(q.is_processing(&"a"));
    assert_eq!(q.add("a", t + MS), AddOutcome::Requeued);
    assert_eq!(q.add("a", t + MS), AddOutcome::Merged);
    assert_eq!((q.len(), q.depth(), q.ready_len()), (1, 1, 0));
    assert_eq!(q.get(t + MS), None, "never to two workers at once");
    assert_eq!(q.done(&"a", t + 2 * MS), DoneOutcome::Requeued);
    assert_eq!(q.get_with_wait(t + 5 * MS), Some(("a", 4 * MS)), "waited since the re-add");
    assert_eq!(q.done(&"a", t + 5 * MS), DoneOutcome::Finished);
    assert_eq!(q.done(&"a", t + 5 * MS), DoneOutcome::NotProcessing);
    assert_eq!(q.done(&"zz", t), DoneOutcome::NotProcessing);
    assert!(q.is_empty());
}

#[test]
fn higher_priorities_first_fifo_within_one() {
    let t = Instant::now();
    let mut q = queue();
    q.add_with_priority("low", Priority::LOW, t);
    q.add("a", t + MS);
    q.add_with_priority("high", Priority::HIGH, t + 2 * MS);
    q.add("b", t + 3 * MS);
    q.add_with_priority("low2", Priority::LOW, t + 4 * MS);
    // Raised: `low2` overtakes `low` only by priority, `low` keeps its place in time.
    q.add_with_priority("low2", Priority::NORMAL, t + 5 * MS);
    // Never lowered.
    q.add_with_priority("high", Priority::LOW, t + 5 * MS);
    assert_eq!(drain(&mut q, t + 6 * MS), ["high", "a", "b", "low2", "low"]);
}

#[test]
fn a_parked_key_keeps_the_highest_priority() {
    let t = Instant::now();
    let mut q = queue();
    q.add("a", t);
    q.get(t);
    q.add_with_priority("a", Priority::LOW, t);
    q.add_with_priority("a", Priority::HIGH, t);
    q.add("b", t);
    q.done(&"a", t);
    assert_eq!(drain(&mut q, t), ["a", "b"]);
}

#[test]
fn delayed_adds_keep_the_earliest_time() {
    let t = Instant::now();
    let mut q = queue();
    assert_eq!(q.add_after("a", 10 * SEC, t), AddOutcome::Delayed);
    assert_eq!(q.add_after("a", 5 * SEC, t), AddOutcome::Merged);
    assert_eq!(q.add_after("a", 20 * SEC, t), AddOutcome::Merged);
    assert_eq!(q.next_ready_at(), Some(t + 5 * SEC));
    assert_eq!((q.len(), q.depth()), (1, 0));
    assert_eq!(q.get(t + 4 * SEC), None);
    assert_eq!(q.get_with_wait(t + 6 * SEC), Some(("a", SEC)), "ready since its time, not since the get");
    assert_eq!(q.next_ready_at(), None);
}

#[test]
fn a_ready_key_is_not_delayed() {
    let t = Instant::now();
    let mut q = queue();
    q.add("a", t);
    assert_eq!(q.add_after("a", SEC, t), AddOutcome::Merged);
    assert_eq!(q.next_ready_at(), None);
    assert_eq!(q.get(t), Some("a"));
    // A delayed key that is added without delay becomes ready now.
    q.add_after("b", SEC, t);
    assert_eq!(q.add("b", t + MS), AddOutcome::Queued);
    assert_eq!(q.next_ready_at(), None);
    assert_eq!(q.get(t + MS), Some("b"));
}

#[test]
fn delayed_keys_become_ready_in_time_order() {
    let t = Instant::now();
    let mut q = queue();
    q.add_after("late", 3 * SEC, t);
    q.add_after("early", SEC, t);
    q.add("now", t + 2 * SEC);
    q.add_after("zero", Duration::ZERO, t + 2 * SEC);
    // Noticed only at 5 s, yet `early` became ready at 1 s, before `now` and `zero`.
    assert_eq!(drain(&mut q, t + 5 * SEC), ["early", "now", "zero", "late"]);
}

#[test]
fn a_delayed_re_add_of_a_key_in_progress_waits_for_done() {
    let t = Instant::now();
    let mut q = queue();
    q.add("a", t);
    q.get(t);
    assert_eq!(q.add_after("a", SEC, t), AddOutcome::Delayed);
    assert_eq!(q.get(t + 2 * SEC), None);
    assert_eq!(q.depth(), 1, "parked behind its run");
    assert_eq!(q.done(&"a", t + 2 * SEC), DoneOutcome::Requeued);
    assert_eq!(q.get(t + 2 * SEC), Some("a"));
}

#[test]
fn rate_limited_adds_back_off_until_forgotten() {
    let t = Instant::now();
    let mut q = queue();
    assert_eq!(q.add_rate_limited("a", t), AddOutcome::Delayed);
    assert_eq!(q.next_ready_at(), Some(t + 5 * MS));
    assert_eq!(q.num_requeues(&"a"), 1);
    q.add_rate_limited("a", t);
    assert_eq!(q.next_ready_at(), Some(t + 5 * MS), "the earlier time is kept");
    assert_eq!(q.num_requeues(&"a"), 2);
    assert_eq!(q.get(t + 5 * MS), Some("a"));
    q.forget(&"a");
    assert_eq!(q.num_requeues(&"a"), 0);
    // With a delay too, the shorter wins.
    q.add_with("b", AddOpts::rate_limited().with_after(SEC), t);
    assert_eq!(q.next_ready_at(), Some(t + 5 * MS));
    q.add_with("c", AddOpts::rate_limited().with_after(MS), t);
    assert_eq!(q.next_ready_at(), Some(t + MS));
}

#[test]
fn shutdown_drains_ready_keys_and_refuses_adds() {
    let t = Instant::now();
    let mut q = queue();
    q.add("a", t);
    q.add("b", t);
    q.add_after("later", SEC, t);
    assert_eq!(q.get(t), Some("a"));
    q.add("a", t);
    q.shut_down(t);
    assert!(q.is_shut_down());
    assert_eq!(q.add("c", t), AddOutcome::ShutDown);
    assert_eq!(q.add_after("c", SEC, t), AddOutcome::ShutDown);
    assert_eq!(q.next_ready_at(), None, "delayed keys are dropped");
    assert!(!q.is_drained());
    assert_eq!(q.get(t), Some("b"));
    assert_eq!(q.get(t + 2 * SEC), None);
    q.done(&"b", t);
    // `a` was added again before the shutdown: it is still handed out.
    assert_eq!(q.done(&"a", t), DoneOutcome::Requeued);
    assert_eq!(q.get(t), Some("a"));
    q.done(&"a", t);
    assert!(q.is_drained() && q.is_empty());
    assert_eq!(q.get(t), None);
}

#[test]
fn in_flight_sums_running_times() {
    let t = Instant::now();
    let mut q = queue();
    assert_eq!(q.in_flight(t), InFlight::default());
    q.add("a", t);
    q.add("b", t);
    q.get(t);
    q.get(t + SEC);
    let f = q.in_flight(t + 3 * SEC);
    assert_eq!(f, InFlight { count: 2, unfinished: 5 * SEC, longest: 3 * SEC });
    q.done(&"a", t + 3 * SEC);
    assert_eq!(q.in_flight(t + 4 * SEC), InFlight { count: 1, unfinished: 3 * SEC, longest: 3 * SEC });
}

#[test]
fn core_counts_metrics() {
    let t = Instant::now();
    let m = QueueMetrics::default();
    let mut q = queue().with_metrics(m.clone());
    q.add("a", t);
    q.add("a", t);
    q.add_after("b", SEC, t);
    q.add_rate_limited("c", t);
    assert_eq!((m.adds(), m.depth(), m.retries()), (1, 1, 2));
    q.get(t);
    q.add("a", t);
    assert_eq!((m.adds(), m.depth()), (2, 1), "a re-add during processing counts");
    assert_eq!(q.get(t + 2 * SEC), Some("c"));
    assert_eq!((m.adds(), m.depth()), (4, 2), "b and c became ready; c was handed out, b and a wait");
}

#[test]
fn far_delays_saturate() {
    let t = Instant::now();
    let mut q = queue();
    q.add_after("a", Duration::MAX, t);
    assert!(q.next_ready_at().unwrap() > t + Duration::from_secs(3600 * 24 * 365));
}

fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

#[tokio::test(start_paused = true)]
async fn metrics_exposition() {
    let mut registry = Registry::default();
    let metrics = WorkQueueMetrics::register(&mut registry);
    let q = WorkQueue::<u32>::builder("pods").metrics(&metrics).build();
    q.add(1);
    q.add(2);
    q.add(2);
    q.add_after(3, SEC);
    let lease = q.next().await.unwrap();
    tokio::time::advance(3 * SEC).await;
    let text = exposition(&registry);
    for line in [
        "# TYPE workqueue_depth gauge",
        "workqueue_depth{name=\"pods\",controller=\"pods\"} 1",
        "# TYPE workqueue_adds counter",
        "workqueue_adds_total{name=\"pods\",controller=\"pods\"} 2",
        "workqueue_retries_total{name=\"pods\",controller=\"pods\"} 1",
        "# TYPE workqueue_queue_duration_seconds histogram",
        "workqueue_queue_duration_seconds_count{name=\"pods\",controller=\"pods\"} 1",
        "workqueue_queue_duration_seconds_bucket{le=\"1e-8\",name=\"pods\",controller=\"pods\"} 1",
        "workqueue_queue_duration_seconds_bucket{le=\"10.0\",name=\"pods\",controller=\"pods\"} 1",
        "workqueue_work_duration_seconds_count{name=\"pods\",controller=\"pods\"} 0",
        "# TYPE workqueue_unfinished_work_seconds gauge",
        "workqueue_unfinished_work_seconds{name=\"pods\",controller=\"pods\"} 3.0",
        "workqueue_longest_running_processor_seconds{name=\"pods\",controller=\"pods\"} 3.0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert_eq!(text.matches("workqueue_queue_duration_seconds_bucket{").count(), 11, "10 buckets and +Inf");
    drop(lease);
    let text = exposition(&registry);
    assert!(text.contains("workqueue_work_duration_seconds_count{name=\"pods\",controller=\"pods\"} 1"), "{text}");
    assert!(text.contains("workqueue_unfinished_work_seconds{name=\"pods\",controller=\"pods\"} 0.0"), "{text}");
    // A dropped queue leaves the in-progress gauges.
    drop(q);
    assert!(!exposition(&registry).contains("workqueue_unfinished_work_seconds{"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_never_share_a_key_and_lose_none() {
    const KEYS: u32 = 50;
    let q = WorkQueue::<u32>::new("test");
    let in_progress = Arc::new(Mutex::new(HashSet::new()));
    let processed = Arc::new(Mutex::new(Vec::new()));
    let requeued = Arc::new(Mutex::new(HashSet::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (q, in_progress, processed) = (q.clone(), in_progress.clone(), processed.clone());
            let requeued = requeued.clone();
            tokio::spawn(async move {
                while let Some(lease) = q.next().await {
                    let key = *lease.key();
                    assert!(in_progress.lock().unwrap().insert(key), "{key} handed to two workers");
                    tokio::task::yield_now().await;
                    assert!(in_progress.lock().unwrap().remove(&key));
                    processed.lock().unwrap().push(key);
                    if key % 7 == 0 && requeued.lock().unwrap().insert(key) {
                        // Some keys are added again from inside their run.
                        q.add(key);
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2u32)
        .map(|p| {
            let q = q.clone();
            tokio::spawn(async move {
                for i in 0..2_000u32 {
                    q.add_with_priority((i * 13 + p) % KEYS, (i % 3) as i32 - 1);
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    // Everything added before the shutdown is handed out; the drain waits for the leases.
    tokio::time::timeout(Duration::from_secs(30), async {
        while q.depth() > 0 {
            tokio::task::yield_now().await;
        }
        q.shutdown_and_drain().await;
    })
    .await
    .unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let seen: HashSet<u32> = processed.lock().unwrap().iter().copied().collect();
    assert_eq!(seen.len(), KEYS as usize);
    assert!(q.is_empty() && q.processing() == 0);
}

#[tokio::test(start_paused = true)]
async fn cancelled_next_passes_its_wake_up_on() {
    let q = WorkQueue::<u32>::new("test");
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn({
        let q = q.clone();
        async move {
            tokio::select! {
                biased;
                _ = cancelled => None,
                lease = q.next() => lease.map(|l| *l.key()),
            }
        }
    });
    let b = tokio::spawn({
        let q = q.clone();
        async move { q.next().await.map(|l| *l.key()) }
    });
    tokio::task::yield_now().await;
    // `a` waits longest, so the add wakes it; it is cancelled before it looks.
    q.add(1);
    cancel.send(()).unwrap();
    assert_eq!(a.await.unwrap(), None);
    let got = tokio::time::timeout(SEC, b).await.expect("the wake-up was lost").unwrap();
    assert_eq!(got, Some(1));
    // A `next` that times out takes nothing either.
    assert!(tokio::time::timeout(SEC, q.next()).await.is_err());
    q.add(2);
    assert_eq!(*q.next().await.unwrap().key(), 2);
}

#[tokio::test(start_paused = true)]
async fn delayed_keys_wake_sleeping_workers() {
    let q = WorkQueue::<u32>::new("test");
    let start = tokio::time::Instant::now();
    q.add_after(1, 60 * SEC);
    let worker = tokio::spawn({
        let q = q.clone();
        async move {
            let mut got = Vec::new();
            for _ in 0..2 {
                let lease = q.next().await.unwrap();
                got.push((*lease.key(), start.elapsed().as_secs()));
            }
            got
        }
    });
    tokio::time::sleep(SEC).await;
    // The worker sleeps until 60 s; an earlier deadline must wake it.
    q.add_after(2, 9 * SEC);
    assert_eq!(worker.await.unwrap(), [(2, 10), (1, 60)]);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_retries_back_off() {
    let q = WorkQueue::<u32>::new("test");
    let start = tokio::time::Instant::now();
    q.add(1);
    let mut at = Vec::new();
    for _ in 0..4 {
        let lease = q.next().await.unwrap();
        at.push(start.elapsed());
        lease.retry();
    }
    assert_eq!(at, [Duration::ZERO, 5 * MS, 15 * MS, 35 * MS]);
    assert_eq!(q.num_requeues(&1), 4);
    q.next().await.unwrap().finish();
    assert_eq!(q.num_requeues(&1), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_and_drain_waits_for_leases() {
    let q = WorkQueue::<u32>::new("test");
    q.add(1);
    q.add(2);
    q.add_after(3, SEC);
    let lease = q.next().await.unwrap();
    let drained = tokio::spawn({
        let q = q.clone();
        async move { q.shutdown_and_drain().await }
    });
    tokio::time::sleep(10 * SEC).await;
    assert!(!drained.is_finished(), "a lease is alive");
    assert_eq!(q.add(4), AddOutcome::ShutDown);
    // Ready keys are still handed out, the delayed one is gone.
    let second = q.next().await.unwrap();
    assert_eq!(*second.key(), 2);
    drop(lease);
    drop(second);
    drained.await.unwrap();
    assert!(q.next().await.is_none());
    assert!(q.is_shut_down());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_worker_releases_its_key() {
    let q = WorkQueue::<u32>::new("test");
    q.add(1);
    let worker = tokio::spawn({
        let q = q.clone();
        async move {
            let _lease = q.next().await.unwrap();
            q.add(1);
            panic!("reconciler bug");
        }
    });
    assert!(worker.await.is_err());
    assert_eq!(q.processing(), 0);
    assert_eq!(*q.next().await.unwrap().key(), 1, "requeued by the add during the run");
}
