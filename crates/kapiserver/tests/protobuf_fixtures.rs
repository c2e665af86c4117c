//! The protobuf bodies real kubectl 1.33 sent (tests/fixtures/protobuf/*.pb, recorded by
//! `cargo run -p kapiserver --example protobuf_capture`) decode to the JSON the same command prints with
//! `--dry-run=client -o json` (tests/fixtures/protobuf/*.json); `create token` has no dry run, and its
//! expected JSON is written out from the Go types in `support::kubectl::TOKEN_JSON`.

#[allow(dead_code, unreachable_pub)]
#[path = "protobuf_support/mod.rs"]
mod support;

use std::path::Path;

use serde_json::Value;
use support::kubectl::{CASES, TOKEN_JSON};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_captured_body_decodes_to_kubectls_own_json() {
    let mut failures = Vec::new();
    for case in CASES {
        let decoded = kapiserver::protobuf::decode_body(&fixture(&format!("{}.pb", case.name)));
        let expected: Value = if case.dry_run {
            serde_json::from_slice(&fixture(&format!("{}.json", case.name))).unwrap()
        } else {
            serde_json::from_str(TOKEN_JSON).unwrap()
        };
        match decoded {
            Ok(decoded) if decoded == expected => {}
            Ok(decoded) => failures.push(format!(
                "{}:\n decoded  {}\n expected {}",
                case.name,
                serde_json::to_string(&decoded).unwrap(),
                serde_json::to_string(&expected).unwrap()
            )),
            Err(error) => failures.push(format!("{}: {error}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_are_exactly_the_captured_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    let mut found: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    found.sort();
    let mut wanted: Vec<String> = CASES
        .iter()
        .flat_map(|c| [format!("{}.pb", c.name)].into_iter().chain(c.dry_run.then(|| format!("{}.json", c.name))))
        .collect();
    wanted.sort();
    assert_eq!(found, wanted);
}
