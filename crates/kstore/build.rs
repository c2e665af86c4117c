//! Compiles the etcd v3 API protos into `OUT_DIR`.
//!
//! protox parses the `.proto` files in Rust and hands a descriptor set to
//! tonic-prost-build, so no system `protoc` is involved.

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const PROTOS: &[&str] = &["proto/mvccpb/kv.proto", "proto/etcdserverpb/rpc.proto"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    let fds = protox::compile(PROTOS, [PROTO_ROOT])?;
    // Byte fields as `bytes::Bytes`: keys and values pass between the store and the wire
    // without copies (a watch event fans out to every watcher by reference count).
    tonic_prost_build::configure()
        .bytes(".")
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        .compile_fds(fds)?;
    Ok(())
}
