//! Malformed input over HTTP: random and hostile bodies (JSON, YAML, protobuf), bad
//! selectors and query values, huge and deeply nested documents. Every answer is a 4xx
//! `Status` (never a 5xx or a dropped connection), and the store does not change.

#![allow(clippy::unwrap_used)]

mod common;

use common::{StoreKind, TestServer, send};
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use serde_json::Value;

async fn revision(server: &TestServer) -> i64 {
    server.server.api().storage().current_revision().await.unwrap()
}

#[track_caller]
fn assert_status_4xx(status: u16, body: &[u8], what: &str) {
    assert!((400..500).contains(&status), "{what}: got {status}: {}", String::from_utf8_lossy(body));
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{what}: body is not JSON ({e})"));
    assert_eq!(v["kind"], "Status", "{what}: {v}");
    assert_eq!(v["code"], status, "{what}: {v}");
}

const CM: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_documents_are_rejected_without_changes() {
    let server = TestServer::start(StoreKind::Embedded).await;
    let c = server.client().await;
    let before = revision(&server).await;
    let deep_json = format!("{}{}", "{\"a\":".repeat(5000), "}".repeat(5000)).into_bytes();
    let deep_yaml = format!("{}x", "- ".repeat(3000)).into_bytes();
    let huge = vec![b' '; 4 * 1024 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("application/json", b"{".to_vec(), "truncated JSON"),
        ("application/json", b"[]".to_vec(), "array body"),
        ("application/json", b"null".to_vec(), "null body"),
        ("application/json", deep_json, "deeply nested JSON"),
        ("application/yaml", deep_yaml, "deeply nested YAML"),
        ("application/yaml", b"a: [".to_vec(), "broken YAML"),
        ("application/json", huge, "body over the 3 MiB limit"),
        ("application/vnd.kubernetes.protobuf", b"k8s\0\xff\xff".to_vec(), "garbage protobuf"),
        ("application/vnd.kubernetes.protobuf", b"nope".to_vec(), "protobuf without magic"),
        ("text/plain", b"hello".to_vec(), "unknown media type"),
        ("application/json", br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}"#.to_vec(), "wrong kind"),
        (
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"UPPER"}}"#.to_vec(),
            "invalid name",
        ),
        (
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}"#.to_vec(),
            "namespace mismatch",
        ),
        (
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":"str"}"#.to_vec(),
            "wrong type",
        ),
        (
            "application/json",
            br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"bad key!":"v"}}"#.to_vec(),
            "invalid data key",
        ),
    ];
    for (ct, body, what) in cases {
        let (status, resp) = send(&c, Method::POST, CM, ct, body).await;
        assert_status_4xx(status, &resp, what);
    }
    for q in [
        "labelSelector=a%20in%20(b",
        "labelSelector=!!",
        "fieldSelector=spec.bogus%3D1",
        "limit=-x",
        "resourceVersion=abc",
        "continue=%%%",
        "resourceVersionMatch=Sometimes&resourceVersion=1",
        "watch=maybe",
        "timeoutSeconds=abc",
    ] {
        let (status, resp) = send(&c, Method::GET, &format!("{CM}?{q}"), "application/json", Vec::new()).await;
        assert_status_4xx(status, &resp, q);
    }
    let (status, resp) =
        send(&c, Method::PATCH, &format!("{CM}/missing"), "application/x-unknown", b"{}".to_vec()).await;
    assert_status_4xx(status, &resp, "unknown patch type");
    assert_eq!(revision(&server).await, before, "the store changed");
}

#[test]
fn random_bodies_never_break_the_server() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(TestServer::start(StoreKind::Embedded));
    let c = rt.block_on(server.client());
    let before = rt.block_on(revision(&server));
    let mut runner = TestRunner::new(PropConfig { cases: 300, ..PropConfig::default() });
    let content_types = prop::sample::select(vec![
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ]);
    // Bytes that are mostly JSON-ish punctuation, so parsers get past the first byte.
    let body = prop::collection::vec(prop::sample::select(b"{}[]\":,0123456789abcnulltrue k8s\0-\n".to_vec()), 0..400);
    runner
        .run(&(content_types, body, any::<bool>()), |(ct, body, patch)| {
            let (method, uri) = if patch || ct.contains("patch") {
                (Method::PATCH, "/api/v1/namespaces/default/configmaps/kube-root".to_owned())
            } else {
                (Method::POST, CM.to_owned())
            };
            let (status, resp) = rt.block_on(send(&c, method, &uri, ct, body));
            prop_assert!(status < 500, "status {status}: {}", String::from_utf8_lossy(&resp));
            if status >= 400 {
                let v: Value = serde_json::from_slice(&resp).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&v["kind"], "Status");
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(rt.block_on(revision(&server)), before, "random bodies changed the store");
}
