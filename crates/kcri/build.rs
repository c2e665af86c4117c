//! Compiles the CRI v1 protos into `OUT_DIR`.
//!
//! protox parses the `.proto` file in Rust and hands a descriptor set to
//! tonic-prost-build, so no system `protoc` is involved.

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const PROTOS: &[&str] = &["proto/runtime/v1/api.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    let fds = protox::compile(PROTOS, [PROTO_ROOT])?;
    // BTreeMap for label and annotation maps: the domain types use it too, so conversions
    // move maps without rehashing and listings print in a stable order.
    tonic_prost_build::configure()
        .btree_map(".")
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        .compile_fds(fds)?;
    Ok(())
}
