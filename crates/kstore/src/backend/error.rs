//! [`BackendError`], and the classification of etcd's errors shared by both backends: the
//! embedded store's errors are first turned into the gRPC status etcd would send, so that
//! the same condition gives the same error on either backend.

use std::time::Duration;

use bytes::Bytes;

use crate::client::{ClientError, Code};
use crate::store::StoreError;
use crate::types::KeyValue;

/// Errors of [`Backend`](super::Backend) operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The key does not exist (delete).
    #[error("key {} not found", show(key))]
    NotFound {
        /// The key.
        key: Bytes,
    },
    /// The key already exists (create).
    #[error("key {} already exists", show(key))]
    AlreadyExists {
        /// The key.
        key: Bytes,
    },
    /// The key's `mod_revision` is not the expected one (update, delete).
    #[error("key {} was modified: {}", show(key), describe(current.as_deref()))]
    Conflict {
        /// The key.
        key: Bytes,
        /// Its current key-value; `None` if it does not exist (boxed to keep results
        /// small).
        current: Option<Box<KeyValue>>,
    },
    /// The requested revision was compacted away.
    #[error("required revision has been compacted{}", compacted_at(*compact_revision))]
    Compacted {
        /// The compaction's revision when the store reports it (watches); 0 when it does
        /// not (etcd's read error does not carry it).
        compact_revision: i64,
    },
    /// The requested revision is ahead of the store.
    #[error("required revision is a future revision")]
    FutureRevision,
    /// A write named a lease that does not exist (expired or revoked).
    #[error("lease {lease} not found")]
    LeaseNotFound {
        /// The lease.
        lease: i64,
    },
    /// The request is malformed (empty key, continue key outside the prefix, …).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The store cannot answer now (no leader, stopped, connection lost, timed out).
    /// Retryable; the outcome of a write that got this is unknown.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else, with the store's message.
    #[error("storage: {0}")]
    Other(String),
}

impl BackendError {
    /// Whether retrying the same call may succeed (the store may be back).
    pub fn is_retryable(&self) -> bool {
        matches!(self, BackendError::Unavailable(_))
    }

    /// A request that took longer than `after`.
    pub(super) fn timed_out(after: Duration) -> Self {
        BackendError::Unavailable(format!("request timed out after {after:?}"))
    }

    /// The error for a write that named `lease`: fills in which lease was missing.
    pub(super) fn for_lease(self, lease: i64) -> Self {
        match self {
            BackendError::LeaseNotFound { .. } => BackendError::LeaseNotFound { lease },
            other => other,
        }
    }
}

fn show(key: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(key))
}

fn describe(current: Option<&KeyValue>) -> String {
    match current {
        Some(kv) => format!("its mod revision is now {}", kv.mod_revision),
        None => "it no longer exists".into(),
    }
}

fn compacted_at(revision: i64) -> String {
    if revision > 0 { format!(" (compacted at {revision})") } else { String::new() }
}

/// etcd's messages (rpctypes), which clients match on as etcd's own client does.
const COMPACTED: &str = "required revision has been compacted";
const FUTURE: &str = "required revision is a future revision";
const LEASE_NOT_FOUND: &str = "requested lease not found";

impl From<ClientError> for BackendError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Status { code, message } => classify(code, message),
            ClientError::Connect(message) => BackendError::Unavailable(message),
            ClientError::Closed => BackendError::Unavailable("stream closed".into()),
            // `ClientError` is non-exhaustive within the crate's future versions.
            #[allow(unreachable_patterns)]
            other => BackendError::Other(other.to_string()),
        }
    }
}

impl From<StoreError> for BackendError {
    fn from(e: StoreError) -> Self {
        ClientError::from(crate::grpc::status_from_store_error(&e)).into()
    }
}

fn classify(code: Code, message: String) -> BackendError {
    match code {
        Code::OutOfRange if message.contains(COMPACTED) => BackendError::Compacted { compact_revision: 0 },
        Code::OutOfRange if message.contains(FUTURE) => BackendError::FutureRevision,
        Code::NotFound if message.contains(LEASE_NOT_FOUND) => BackendError::LeaseNotFound { lease: 0 },
        Code::InvalidArgument => BackendError::InvalidArgument(message),
        Code::Unavailable | Code::DeadlineExceeded => BackendError::Unavailable(message),
        _ => BackendError::Other(message),
    }
}
