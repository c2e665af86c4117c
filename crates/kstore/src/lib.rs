//! kstore: an etcd-compatible MVCC key-value store, replicated by kraft.
//!
//! ```
//! use kstore::{Mvcc, PutRequest, RangeRequest};
//!
//! let mut store = Mvcc::new();
//! let no_leases = |_lease: i64| false;
//! let put = PutRequest { key: "/registry/pods/a".into(), value: "v1".into(), ..Default::default() };
//! let (resp, events) = store.put(&put, &no_leases)?;
//! assert_eq!((resp.revision, events.len()), (2, 1)); // etcd starts at revision 1
//!
//! let read = store.range(&RangeRequest::prefix("/registry/pods/"))?;
//! assert_eq!(read.kvs[0].value, "v1");
//! assert_eq!(read.kvs[0].create_revision, 2);
//! # Ok::<(), kstore::MvccError>(())
//! ```
//!
//! # Status
//!
//! This crate is being built up in layers. Available now:
//!
//! - [`mvcc`] — the versioned store with etcd's semantics: one revision per write
//!   transaction, per-key create/mod revisions and versions, historical reads, ranges with
//!   limit/count/sort/revision filters, put options, delete-range, nested transactions with
//!   compares, compaction, history replay for watchers, `HashKV`.
//! - [`lease`] — the replicated lease table and the leader's expiry clock.
//! - [`watch`] — synced and unsynced watchers: live delivery, catch-up from history in
//!   bounded batches, compaction cancels, progress notifications.
//! - [`state`] — the replicated state machine (MVCC + leases) and its command and snapshot
//!   encodings.
//! - [`store`] — the kraft-replicated [`Store`] with its in-process API.
//! - [`grpc`] — the etcd v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance) on top of a
//!   `Store`, for `etcdctl` and etcd client libraries.
//! - [`backend`] — the Kubernetes API server's storage interface, on an in-process
//!   [`Store`] or on any etcd v3 endpoint (etcd itself or kstore's gRPC server).
//! - A private `proto` module with the etcd v3 protobuf types (compiled from `.proto`
//!   files in the crate by a pure-Rust compiler); they never appear in the public API.
//!
//! # Place in the architecture
//!
//! kstore depends only on kraft: it knows nothing about Kubernetes. The API server is its
//! only writer in a cluster; any etcd v3 client can use it.

pub mod backend;
pub mod client;
pub mod codec;
pub mod grpc;
pub mod lease;
pub mod mvcc;
mod proto;
pub mod state;
pub mod store;
pub mod types;
pub mod watch;

pub use mvcc::{KeyRange, Mvcc, MvccError};

/// A member's id, derived from its peer address (64-bit FNV-1a of `http://ADDR`, positive
/// and non-zero), so that a cluster adding a member and the member itself agree on it.
pub fn member_id_for_peer(addr: std::net::SocketAddr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("http://{addr}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & (u64::MAX >> 1)).max(1)
}
pub use store::{Store, StoreConfig, StoreError, StoreStatus, WatchStream};
pub use types::*;
