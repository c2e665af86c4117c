//! Pod creation shared by the controllers that own pods (ReplicaSet, Job).

use std::sync::Mutex;

use futures_util::future::join_all;
use kapi::k8s::api::core::v1::Pod;
use kapi::k8s::jiff::Timestamp;
use kwatch::http::{Api, ClientError, PostParams};
use kwatch::object::Object;

use crate::apps::expectations::Expectations;
use crate::apps::replicaset::slow_start_batches;
use crate::events::EventSpec;

/// Creates `count` copies of `pod` in slow-start batches, expecting them under `key` first;
/// stops after a batch with a failure. Failed and skipped creates are marked observed (they
/// will never be seen). Returns every attempted create's result, in order.
pub(crate) async fn create_in_batches(
    api: &Api<Pod>,
    pod: &Pod,
    params: &PostParams,
    count: usize,
    expectations: &Mutex<Expectations>,
    key: &str,
    now: Timestamp,
) -> Vec<Result<Pod, ClientError>> {
    let lock = || expectations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    lock().expect_creations(key, count, now);
    let mut out = Vec::with_capacity(count);
    let mut remaining = count;
    for batch in slow_start_batches(count) {
        let results = join_all((0..batch).map(|_| api.create(pod, params))).await;
        remaining -= batch;
        let failed = results.iter().filter(|r| r.is_err()).count();
        out.extend(results);
        if failed > 0 {
            let mut e = lock();
            for _ in 0..failed + remaining {
                e.creation_observed(key);
            }
            break;
        }
    }
    out
}

/// Upstream's events for the creates of [`create_in_batches`] (`SuccessfulCreate`,
/// `FailedCreate`), and the first failure's message.
pub(crate) fn creation_events(results: &[Result<Pod, ClientError>]) -> (Vec<EventSpec>, Option<String>) {
    let mut failure = None;
    let events = results
        .iter()
        .map(|r| match r {
            Ok(p) => EventSpec::normal("SuccessfulCreate", "Create", format!("Created pod: {}", p.name())),
            Err(e) => {
                failure.get_or_insert_with(|| e.to_string());
                EventSpec::warning("FailedCreate", "Create", format!("Error creating: {e}"))
            }
        })
        .collect();
    (events, failure)
}
