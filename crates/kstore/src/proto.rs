//! Generated etcd v3 API types and gRPC service glue (crate-private).
//!
//! Compiled by `build.rs` from `proto/` with protox, so no system `protoc` is needed.
//! These types stay inside the crate: public APIs expose kstore's own types instead.

/// Key-value and event messages (`mvccpb`).
#[allow(missing_docs, unreachable_pub, dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
pub(crate) mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// KV, Watch, Lease, Cluster and Maintenance services and their messages (`etcdserverpb`).
#[allow(missing_docs, unreachable_pub, dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
pub(crate) mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

#[cfg(test)]
mod tests;
