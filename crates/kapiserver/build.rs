//! Compiles `proto/openapiv2.proto` (the subset of gnostic's OpenAPI v2 model that
//! `/openapi/v2` serves as protobuf) into `OUT_DIR`. protox parses it in Rust, so no
//! system `protoc` is needed.

use std::error::Error;

const OPENAPI_PROTO: &str = "proto/openapiv2.proto";

/// The Kubernetes object schemas for protobuf request bodies; their imports
/// (`kcluster/json.proto`, `google/protobuf/descriptor.proto`) come along.
const K8S_PROTOS: &[&str] = &[
    "k8s/apimachinery/runtime.proto",
    "k8s/apimachinery/meta_v1.proto",
    "k8s/apimachinery/intstr.proto",
    "k8s/apimachinery/resource.proto",
    "k8s/api/core_v1.proto",
    "k8s/api/apps_v1.proto",
    "k8s/api/batch_v1.proto",
    "k8s/api/networking_v1.proto",
    "k8s/api/rbac_v1.proto",
    "k8s/api/policy_v1.proto",
    "k8s/api/scheduling_v1.proto",
    "k8s/api/authentication_v1.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={OPENAPI_PROTO}");
    let fds = protox::compile([OPENAPI_PROTO], ["proto"])?;
    tonic_prost_build::configure().build_server(false).build_client(false).compile_fds(fds)?;

    println!("cargo:rerun-if-changed=proto/k8s");
    println!("cargo:rerun-if-changed=proto/kcluster");
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(K8S_PROTOS)?;
    // The encoded set (unlike `file_descriptor_set`) keeps the `(kcluster.json.go)` field
    // options the decoder reads.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("k8s_descriptors.bin");
    std::fs::write(out, compiler.encode_file_descriptor_set())?;
    Ok(())
}
