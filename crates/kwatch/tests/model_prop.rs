//! Property: any sequence of writes, dropped watches, compactions, bookmarks and injected
//! failures leaves the store equal to the source, and every handler (fast, slow, or
//! subscribed late) with a consistent event history that ends in the same state.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use kapi::StatusError;
use kapi::k8s::api::core::v1::ConfigMap;
use kwatch::informer::SharedInformer;
use kwatch::lister::WatchError;
use kwatch::memory::MemoryListerWatcher;
use kwatch::reflector::ReflectorConfig;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Apply(u8),
    Delete(u8),
    DropWatches(bool),
    Compact,
    Bookmark,
    FailWatch(u8),
    FailList(u8),
    Pause(u16),
    Subscribe(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..12).prop_map(Op::Apply),
        3 => (0u8..12).prop_map(Op::Delete),
        1 => any::<bool>().prop_map(Op::DropWatches),
        1 => Just(Op::Compact),
        1 => Just(Op::Bookmark),
        1 => (0u8..3).prop_map(Op::FailWatch),
        1 => (0u8..3).prop_map(Op::FailList),
        2 => (0u16..3000).prop_map(Op::Pause),
        1 => (1u8..6).prop_map(Op::Subscribe),
    ]
}

fn failure(kind: u8) -> WatchError {
    match kind {
        0 => WatchError::transport("connection refused"),
        1 => WatchError::from_status(StatusError::too_many_requests("slow down", 1)),
        _ => WatchError::from_status(StatusError::expired("too old resource version")),
    }
}

fn check(ops: Vec<Op>, initial: u8, page_size: u32, streaming: bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async move {
        let src = MemoryListerWatcher::<ConfigMap>::new();
        for i in 0..initial {
            src.create(cm(&format!("c{i}"))).unwrap();
        }
        let config = ReflectorConfig::new("configmaps").page_size(page_size).streaming_list(streaming);
        let inf = SharedInformer::builder(src.clone()).config(config).build().unwrap();
        let mut handlers = vec![
            consume(inf.subscribe(10_000, None), None),
            consume(inf.subscribe(2, Some(Duration::from_secs(7))), Some(Duration::from_millis(5))),
        ];
        let stop = run(&inf);
        for op in ops {
            match op {
                Op::Apply(n) => {
                    src.apply(cm(&format!("c{n}"))).unwrap();
                }
                Op::Delete(n) => {
                    let _ = src.delete(&key(&format!("c{n}")));
                }
                Op::DropWatches(with_error) => {
                    src.drop_watches(with_error.then(|| WatchError::transport("connection reset")));
                }
                Op::Compact => src.compact(),
                Op::Bookmark => src.send_bookmark(),
                Op::FailWatch(k) => src.fail_next_watch(failure(k)),
                Op::FailList(k) => src.fail_next_list(failure(k)),
                Op::Pause(ms) => tokio::time::sleep(Duration::from_millis(u64::from(ms))).await,
                Op::Subscribe(buffer) => handlers.push(consume(inf.subscribe(usize::from(buffer), None), None)),
            }
        }
        converge(&inf.store(), &src).await;
        for h in &handlers {
            model_matches(h, &inf.store()).await;
        }
        stop.cancel();
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_and_handlers_follow_the_source(
        ops in proptest::collection::vec(op(), 0..80),
        initial in 0u8..8,
        page_size in 0u32..4,
        streaming in any::<bool>(),
    ) {
        check(ops, initial, page_size, streaming);
    }
}
