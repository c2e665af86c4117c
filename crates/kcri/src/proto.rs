//! Generated CRI v1 types and gRPC service glue (crate-private).
//!
//! Compiled by `build.rs` from `proto/` with protox. These types stay inside the crate:
//! the public API speaks kcri's own types from [`crate::types`].

/// `runtime.v1`: the RuntimeService and ImageService and their messages.
#[allow(missing_docs, unreachable_pub, dead_code, clippy::all, clippy::pedantic, clippy::nursery)]
pub(crate) mod v1 {
    tonic::include_proto!("runtime.v1");
}
