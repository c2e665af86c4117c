//! Compiles `proto/openapiv2.proto` (the subset of gnostic's OpenAPI v2 model that
//! `/openapi/v2` serves as protobuf) into `OUT_DIR`. protox parses it in Rust, so no
//! system `protoc` is needed.

use std::error::Error;

const OPENAPI_PROTO: &str = "proto/openapiv2.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={OPENAPI_PROTO}");
    let fds = protox::compile([OPENAPI_PROTO], ["proto"])?;
    tonic_prost_build::configure().build_server(false).build_client(false).compile_fds(fds)?;
    Ok(())
}
