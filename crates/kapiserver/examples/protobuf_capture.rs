//! Records the protobuf bodies real kubectl sends for the commands in
//! `tests/protobuf_support/kubectl.rs` into `tests/fixtures/protobuf/NAME.pb`, with the JSON the same command
//! prints under `--dry-run=client -o json` as `tests/fixtures/protobuf/NAME.json`.
//!
//! Run with `cargo run -p kapiserver --example protobuf_capture` from the crate directory. It also answers one
//! protobuf POST with 415 and reports how kubectl reacts (it does not retry in JSON).

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/protobuf_support/mod.rs"]
mod support;

use support::{kubectl, server};

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf");
    std::fs::create_dir_all(&fixtures)?;
    let scratch = kubectl::Scratch::new(&std::env::temp_dir().join("scratch-proto-capture"))?;
    let server = server::CaptureServer::start()?;
    for case in kubectl::CASES {
        let output = scratch.kubectl(&server.url(), case.args, &[])?;
        let posts = server.take();
        println!("{}: exit {} {}", case.name, output.status, String::from_utf8_lossy(&output.stdout).trim());
        let [post] = posts.as_slice() else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("{}: expected one POST, got {}: {stderr}", case.name, posts.len()).into());
        };
        println!("  POST {} {} ({} bytes) -> {}", post.target, post.content_type, post.body.len(), post.status);
        std::fs::write(fixtures.join(format!("{}.pb", case.name)), &post.body)?;
        if case.dry_run {
            let dry = scratch.kubectl(&server.url(), case.args, &["--dry-run=client", "-o", "json"])?;
            if !dry.status.success() {
                return Err(format!("{}: dry run failed: {}", case.name, String::from_utf8_lossy(&dry.stderr)).into());
            }
            std::fs::write(fixtures.join(format!("{}.json", case.name)), &dry.stdout)?;
        }
    }
    server.reject_protobuf(true);
    let rejected = scratch.kubectl(&server.url(), kubectl::CASES[0].args, &[])?;
    println!(
        "rejected configmap: exit {} stderr {}",
        rejected.status,
        String::from_utf8_lossy(&rejected.stderr).trim()
    );
    for post in server.take() {
        println!("  POST {} {} -> {}", post.target, post.content_type, post.status);
    }
    Ok(())
}
