//! Watch protocol details over HTTPS: synthetic ADDED events, resuming from a
//! resourceVersion, bookmarks with `sendInitialEvents`, field- and label-filtered watches
//! (objects entering and leaving a selector), and 410 Expired for versions older than the
//! watch cache's window.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{StoreKind, TestServer, send};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";

/// Opens a watch and returns its first `n` events (or fewer after `wait`).
async fn events(client: &kube::Client, query: &str, n: usize, wait: Duration) -> Vec<Value> {
    let req = http::Request::builder().uri(format!("{CM}?watch=true&{query}")).body(Vec::new()).unwrap();
    let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while out.len() < n {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await else { break };
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    out
}

async fn create(client: &kube::Client, name: &str, labels: Value) -> String {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}});
    let (status, resp) = send(client, Method::POST, CM, "application/json", serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&resp));
    let v: Value = serde_json::from_slice(&resp).unwrap();
    v["metadata"]["resourceVersion"].as_str().unwrap().to_owned()
}

async fn label(client: &kube::Client, name: &str, labels: Value) {
    let patch = serde_json::to_vec(&json!({"metadata": {"labels": labels}})).unwrap();
    let (status, _) = send(client, Method::PATCH, &format!("{CM}/{name}"), "application/merge-patch+json", patch).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_semantics() {
    let server = TestServer::start_with(StoreKind::Embedded, |_, mut c| {
        c.watch_cache_size = 16;
        c
    })
    .await;
    let c = server.client().await;
    let first = create(&c, "a", json!({"app": "x"})).await;
    create(&c, "b", json!({"app": "y"})).await;

    // rv=0: the current state as ADDED events.
    let got = events(&c, "resourceVersion=0", 2, Duration::from_secs(5)).await;
    let names: Vec<&str> = got.iter().map(|e| e["object"]["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(got.iter().all(|e| e["type"] == "ADDED"));

    // From a version: only what came after it.
    let got = events(&c, &format!("resourceVersion={first}"), 1, Duration::from_secs(5)).await;
    assert_eq!(got[0]["object"]["metadata"]["name"], "b");

    // sendInitialEvents: state, then the initial-events-end bookmark.
    let got = events(
        &c,
        "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
        3,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2]["type"], "BOOKMARK");
    assert_eq!(got[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    assert_eq!(got[2]["object"]["kind"], "ConfigMap");

    // A label-filtered watch sees an object enter and leave the selector.
    let watcher = {
        let c = c.clone();
        tokio::spawn(
            async move { events(&c, "resourceVersion=0&labelSelector=app%3Dz", 2, Duration::from_secs(10)).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    label(&c, "a", json!({"app": "z"})).await;
    label(&c, "a", json!({"app": "w"})).await;
    let got = watcher.await.unwrap();
    let kinds: Vec<&str> = got.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ADDED", "DELETED"]);

    // A field-selected watch (what `kubectl wait` uses) sees only its object.
    let watcher = {
        let c = c.clone();
        tokio::spawn(async move {
            events(&c, "resourceVersion=0&fieldSelector=metadata.name%3Db", 2, Duration::from_secs(3)).await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    label(&c, "a", json!({"app": "v"})).await;
    label(&c, "b", json!({"app": "v"})).await;
    let got = watcher.await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| e["object"]["metadata"]["name"] == "b"));

    // Older than the window (16 events): one ERROR event with 410 Expired.
    for i in 0..40 {
        create(&c, &format!("n{i}"), json!({})).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = events(&c, &format!("resourceVersion={first}"), 1, Duration::from_secs(5)).await;
    assert_eq!(got[0]["type"], "ERROR", "{got:?}");
    assert_eq!(got[0]["object"]["code"], 410);
    assert_eq!(got[0]["object"]["reason"], "Expired");
}
