//! Prints how long building the OpenAPI documents for the served built-in resources takes
//! and how large they are (one line of `name=value` pairs).
//!
//! ```text
//! cargo run --release -p kapiserver --example openapi_build
//! ```

use std::time::Instant;

use kapiserver::openapi::OpenApi;
use kapiserver::resources::builtin;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let resources = builtin();
    let first = Instant::now();
    let api = OpenApi::new(&resources, &[])?;
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    let again = Instant::now();
    let _ = OpenApi::new(&resources, &[])?;
    let again_ms = again.elapsed().as_secs_f64() * 1e3;
    let v3_bytes: usize = api.v3_paths().filter_map(|p| api.v3_group_version(p)).map(|d| d.body().len()).sum();
    println!(
        "bench=openapi_build resources={} first_ms={first_ms:.1} rebuild_ms={again_ms:.1} v2_json_bytes={} v2_protobuf_bytes={} v3_documents={} v3_bytes={v3_bytes}",
        resources.len(),
        api.v2_json().len(),
        api.v2_protobuf().len(),
        api.v3_paths().count(),
    );
    Ok(())
}
