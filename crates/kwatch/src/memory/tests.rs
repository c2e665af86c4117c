use std::time::Duration;

use futures_util::StreamExt;
use kapi::ObjectKey;
use kapi::k8s::api::core::v1::ConfigMap;

use super::*;
use crate::lister::{WatchEvent, WatchStream};

fn cm(name: &str, app: &str) -> ConfigMap {
    let mut c = ConfigMap::default();
    c.metadata.namespace = Some("ns".into());
    c.metadata.name = Some(name.into());
    c.metadata.labels = Some([("app".to_owned(), app.to_owned())].into());
    c
}

fn names(items: &[ConfigMap]) -> Vec<&str> {
    items.iter().map(|c| c.metadata.name.as_deref().unwrap_or("")).collect()
}

async fn next(s: &mut WatchStream<ConfigMap>) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(5), s.next()).await.unwrap().unwrap().unwrap()
}

fn describe(ev: &WatchEvent<ConfigMap>) -> String {
    match ev {
        WatchEvent::Added(o) => format!("ADDED {}@{}", o.name(), o.resource_version().unwrap_or("")),
        WatchEvent::Modified(o) => format!("MODIFIED {}@{}", o.name(), o.resource_version().unwrap_or("")),
        WatchEvent::Deleted(o) => format!("DELETED {}@{}", o.name(), o.resource_version().unwrap_or("")),
        WatchEvent::Bookmark { resource_version, initial_events_end } => {
            format!("BOOKMARK {resource_version} {initial_events_end}")
        }
        WatchEvent::Error(e) => format!("ERROR {}", e.code()),
    }
}

#[test]
fn writes_assign_revisions() {
    let src = MemoryListerWatcher::new();
    let a = src.create(cm("a", "x")).unwrap();
    assert_eq!(a.metadata.resource_version.as_deref(), Some("2"));
    assert_eq!(src.create(cm("a", "x")), Err(MemoryError::AlreadyExists(a.key())));
    assert_eq!(src.update(cm("b", "x")), Err(MemoryError::NotFound("ns/b".parse().unwrap())));
    assert_eq!(src.apply(cm("a", "y")).unwrap().metadata.resource_version.as_deref(), Some("3"));
    let gone = src.delete(&a.key()).unwrap();
    assert_eq!(gone.metadata.resource_version.as_deref(), Some("4"));
    assert!(src.is_empty());
    assert!(matches!(src.create(ConfigMap::default()), Err(MemoryError::Object(_))));
}

#[tokio::test]
async fn paginated_list_is_consistent_at_its_revision() {
    let src = MemoryListerWatcher::new();
    for i in 0..5 {
        src.create(cm(&format!("c{i}"), "x")).unwrap();
    }
    let mut params = ListParams { limit: Some(2), ..ListParams::default() };
    let page1 = src.list(&params).await.unwrap();
    assert_eq!(names(&page1.items), ["c0", "c1"]);
    assert_eq!(page1.resource_version, "6");
    // Changes after the first page do not show in the next ones.
    src.delete(&"ns/c2".parse::<ObjectKey>().unwrap()).unwrap();
    src.create(cm("c9", "x")).unwrap();
    params.continue_token = page1.continue_token.clone();
    let page2 = src.list(&params).await.unwrap();
    assert_eq!(names(&page2.items), ["c2", "c3"]);
    params.continue_token = page2.continue_token.clone();
    let page3 = src.list(&params).await.unwrap();
    assert_eq!(names(&page3.items), ["c4"]);
    assert_eq!(page3.continue_token, None);
    // After compaction the old token is expired.
    src.compact();
    params.continue_token = page1.continue_token;
    assert!(src.list(&params).await.unwrap_err().is_expired());
}

#[tokio::test]
async fn list_versions_and_selectors() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a", "web")).unwrap();
    src.create(cm("b", "db")).unwrap();
    let by_label = ListParams { label_selector: Some("app=web".into()), ..ListParams::default() };
    assert_eq!(names(&src.list(&by_label).await.unwrap().items), ["a"]);
    let by_name = ListParams { field_selector: Some("metadata.name=b".into()), ..ListParams::default() };
    assert_eq!(names(&src.list(&by_name).await.unwrap().items), ["b"]);
    let bad = ListParams { field_selector: Some("spec.x=1".into()), ..ListParams::default() };
    assert!(src.list(&bad).await.unwrap_err().to_string().contains("field label not supported: spec.x"));
    let future = ListParams { resource_version: "99".into(), ..ListParams::default() };
    assert!(matches!(src.list(&future).await, Err(WatchError::TooLargeResourceVersion(_))));
    let exact = ListParams {
        resource_version: "2".into(),
        resource_version_match: Some(ResourceVersionMatch::Exact),
        ..ListParams::default()
    };
    assert_eq!(names(&src.list(&exact).await.unwrap().items), ["a"]);
    src.compact();
    assert!(src.list(&exact).await.unwrap_err().is_expired());
    src.fail_next_list(WatchError::transport("boom"));
    assert_eq!(src.list(&ListParams::default()).await.unwrap_err(), WatchError::transport("boom"));
    assert_eq!(src.list_calls().len(), 7);
}

#[tokio::test]
async fn watch_replays_history_and_follows() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a", "web")).unwrap(); // rev 2
    src.update(cm("a", "web")).unwrap(); // rev 3
    let params = WatchParams { resource_version: "2".into(), bookmarks: true, ..WatchParams::default() };
    let mut w = src.watch(&params).await.unwrap();
    assert_eq!(describe(&next(&mut w).await), "MODIFIED a@3");
    src.delete(&"ns/a".parse().unwrap()).unwrap();
    assert_eq!(describe(&next(&mut w).await), "DELETED a@4");
    src.send_bookmark();
    assert_eq!(describe(&next(&mut w).await), "BOOKMARK 4 false");
    src.drop_watches(Some(WatchError::transport("reset")));
    assert_eq!(w.next().await, Some(Err(WatchError::transport("reset"))));
    assert_eq!(w.next().await, None);
}

#[tokio::test]
async fn watch_from_compacted_revision_is_expired() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a", "web")).unwrap();
    src.compact();
    let mut w = src.watch(&WatchParams { resource_version: "1".into(), ..WatchParams::default() }).await.unwrap();
    assert_eq!(describe(&next(&mut w).await), "ERROR 410");
    assert!(w.next().await.is_none());
    // A watch that is open when compaction passes it fails the same way.
    let mut w = src.watch(&WatchParams { resource_version: "2".into(), ..WatchParams::default() }).await.unwrap();
    src.update(cm("a", "web")).unwrap();
    assert_eq!(describe(&next(&mut w).await), "MODIFIED a@3");
    src.update(cm("a", "web")).unwrap();
    src.compact();
    src.update(cm("a", "web")).unwrap();
    let ev = next(&mut w).await;
    assert!(describe(&ev) == "MODIFIED a@4" || describe(&ev) == "ERROR 410", "{}", describe(&ev));
}

#[tokio::test]
async fn selector_transitions() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a", "db")).unwrap();
    let params = WatchParams {
        resource_version: src.revision().to_string(),
        label_selector: Some("app=web".into()),
        ..WatchParams::default()
    };
    let mut w = src.watch(&params).await.unwrap();
    src.update(cm("a", "web")).unwrap();
    src.update(cm("a", "web")).unwrap();
    src.update(cm("a", "db")).unwrap();
    assert_eq!(describe(&next(&mut w).await), "ADDED a@3");
    assert_eq!(describe(&next(&mut w).await), "MODIFIED a@4");
    assert_eq!(describe(&next(&mut w).await), "DELETED a@5");
}

#[tokio::test]
async fn streaming_list_and_its_validation() {
    let src = MemoryListerWatcher::new();
    src.create(cm("a", "x")).unwrap();
    src.create(cm("b", "x")).unwrap();
    let mut params = WatchParams {
        send_initial_events: true,
        bookmarks: true,
        resource_version_match: Some(ResourceVersionMatch::NotOlderThan),
        ..WatchParams::default()
    };
    let mut w = src.watch(&params).await.unwrap();
    assert_eq!(describe(&next(&mut w).await), "ADDED a@2");
    assert_eq!(describe(&next(&mut w).await), "ADDED b@3");
    assert_eq!(describe(&next(&mut w).await), "BOOKMARK 3 true");
    src.create(cm("c", "x")).unwrap();
    assert_eq!(describe(&next(&mut w).await), "ADDED c@4");

    params.bookmarks = false;
    assert!(matches!(src.watch(&params).await, Err(WatchError::Api(e)) if e.code() == 422));
    params.bookmarks = true;
    src.set_streaming_list(false);
    let err = src.watch(&params).await.err().unwrap();
    assert!(err.to_string().contains("WatchList"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn watch_timeout_ends_the_stream() {
    let src: MemoryListerWatcher<ConfigMap> = MemoryListerWatcher::new();
    let params =
        WatchParams { resource_version: "1".into(), timeout: Some(Duration::from_secs(300)), ..Default::default() };
    let mut w = src.watch(&params).await.unwrap();
    let started = Instant::now();
    assert!(w.next().await.is_none());
    assert!(started.elapsed() >= Duration::from_secs(300));
    src.fail_next_watch(WatchError::transport("refused"));
    assert!(src.watch(&params).await.is_err());
    assert_eq!(src.watch_calls().len(), 2);
}

use tokio::time::Instant;
