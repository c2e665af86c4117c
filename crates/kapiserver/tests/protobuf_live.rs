//! System test: real kubectl (1.32 and 1.33) creates objects against a capture server; every
//! protobuf body must decode to the JSON the same command prints with `--dry-run=client -o json`.
//! Fails (never skips) when a kubectl binary is missing.

#[allow(dead_code, unreachable_pub)]
#[path = "protobuf_support/mod.rs"]
mod support;

use serde_json::Value;
use support::kubectl::{CASES, KUBECTLS, Scratch, TOKEN_JSON};
use support::server::CaptureServer;

fn scratch(name: &str) -> Scratch {
    Scratch::new(&std::env::temp_dir().join(format!("scratch-proto-{name}-{}", std::process::id())))
        .expect("scratch directory")
}

#[test]
fn kubectl_protobuf_bodies_decode_to_its_dry_run_json() {
    let scratch = scratch("live");
    let server = CaptureServer::start().unwrap();
    for kubectl in KUBECTLS {
        assert!(std::path::Path::new(kubectl).exists(), "{kubectl} is missing (scripts/install-deps.sh installs it)");
        for case in CASES {
            let output = scratch.run(kubectl, &server.url(), case.args, &[]).unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{kubectl} {}: {stderr}", case.name);
            let posts = server.take();
            assert_eq!(posts.len(), 1, "{kubectl} {}: one POST expected", case.name);
            let post = &posts[0];
            assert_eq!(post.content_type, kapiserver::protobuf::PROTOBUF_CONTENT_TYPE, "{kubectl} {}", case.name);
            assert_eq!(post.status, 201, "{kubectl} {}", case.name);

            let expected: Value = if case.dry_run {
                let dry = scratch.run(kubectl, &server.url(), case.args, &["--dry-run=client", "-o", "json"]).unwrap();
                let stderr = String::from_utf8_lossy(&dry.stderr);
                assert!(dry.status.success(), "{kubectl} {} dry run: {stderr}", case.name);
                serde_json::from_slice(&dry.stdout).unwrap()
            } else {
                serde_json::from_str(TOKEN_JSON).unwrap()
            };
            let decoded = kapiserver::protobuf::decode_body(&post.body).unwrap();
            assert_eq!(decoded, expected, "{kubectl} {}", case.name);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch.dir);
}

/// kubectl does not fall back to JSON when the server answers 415 to a protobuf body, so every
/// kind `kubectl create` sends must be decodable (hence `supported_kinds` covers them all).
#[test]
fn kubectl_does_not_retry_in_json_after_415() {
    let scratch = scratch("reject");
    let server = CaptureServer::start().unwrap();
    server.reject_protobuf(true);
    let output = scratch.kubectl(&server.url(), CASES[0].args, &[]).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("protobuf rejected by this test server"), "{stderr}");
    let posts = server.take();
    assert_eq!(posts.len(), 1, "kubectl retried: {posts:?}");
    assert_eq!(posts[0].status, 415);
    let _ = std::fs::remove_dir_all(&scratch.dir);
}

/// Every kind kubectl sends a protobuf body for is one `decode_body` supports.
#[test]
fn captured_kinds_are_exactly_the_supported_kinds() {
    let mut supported: Vec<_> = kapiserver::protobuf::supported_kinds().collect();
    supported.sort();
    let mut captured: Vec<(String, String)> = Vec::new();
    for case in CASES {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/protobuf/{}.pb", case.name));
        let object = kapiserver::protobuf::decode_body(&std::fs::read(path).unwrap()).unwrap();
        let kind = (object["apiVersion"].as_str().unwrap().to_owned(), object["kind"].as_str().unwrap().to_owned());
        if !captured.contains(&kind) {
            captured.push(kind);
        }
    }
    captured.sort();
    let supported: Vec<(String, String)> = supported.into_iter().map(|(v, k)| (v.to_owned(), k.to_owned())).collect();
    assert_eq!(captured, supported);
}
