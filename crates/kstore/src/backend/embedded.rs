//! [`EmbeddedBackend`]: the API server's storage on an in-process [`Store`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::ops::{self, Kv};
use super::stream::{self, EVENT_QUEUE, Source};
use super::{
    BackendError, BackendWatch, BoxFuture, DeleteResponse, GetResponse, ListOptions, ListResponse, WatchOptions,
};
use crate::store::{Store, WatchStream};
use crate::types::*;
use crate::watch::WatchMessage;

/// How long a call may wait for the store by default: etcd's request timeout with a 1 s
/// election timeout, as the gRPC server uses.
pub(super) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(7);

/// Watch messages the store may queue for one watch before it catches up from history.
const STORE_QUEUE: usize = 256;

/// A [`Backend`](super::Backend) on an in-process [`Store`]: calls go straight to the store (Raft
/// proposals for writes, a ReadIndex barrier for reads), with no gRPC or protobuf in the
/// path. Cheap to clone.
///
/// Errors are what etcd would answer over gRPC for the same store error, so code written
/// against it behaves the same on a [`RemoteBackend`](super::RemoteBackend).
#[derive(Debug, Clone)]
pub struct EmbeddedBackend {
    store: Arc<Store>,
    timeout: Duration,
}

impl EmbeddedBackend {
    /// A backend on `store`, with a 7 s request timeout.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, timeout: DEFAULT_REQUEST_TIMEOUT }
    }

    /// Sets how long a call may wait for the store (for a quorum, typically) before it
    /// fails with [`BackendError::Unavailable`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn timed<T, E: Into<BackendError>>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(BackendError::timed_out(self.timeout)),
        }
    }
}

impl Kv for EmbeddedBackend {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, BackendError> {
        self.timed(self.store.range(&req)).await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, BackendError> {
        self.timed(self.store.txn(req)).await
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse, BackendError> {
        self.timed(self.store.delete_range(req)).await
    }

    async fn compact(&self, revision: i64) -> Result<(), BackendError> {
        self.timed(self.store.compact(revision)).await.map(drop)
    }

    async fn lease_grant(&self, ttl: i64) -> Result<i64, BackendError> {
        self.timed(self.store.lease_grant(0, ttl)).await.map(|(id, _ttl)| id)
    }
}

/// A watch on the store's watch hub; closes its stream when dropped.
struct StoreWatch {
    store: Arc<Store>,
    stream: WatchStream,
}

impl Source for StoreWatch {
    async fn next(&mut self) -> Result<Option<WatchMessage>, BackendError> {
        Ok(self.stream.next().await)
    }

    async fn request_progress(&mut self) -> Result<(), BackendError> {
        self.store.request_progress(&self.stream);
        Ok(())
    }
}

impl Drop for StoreWatch {
    fn drop(&mut self) {
        self.store.close_watch_stream(&self.stream);
    }
}

impl EmbeddedBackend {
    async fn open_watch(&self, key: Bytes, opts: WatchOptions) -> Result<BackendWatch, BackendError> {
        let req = ops::watch_request(key, &opts)?;
        let source = StoreWatch { store: self.store.clone(), stream: self.store.watch_stream(STORE_QUEUE) };
        // The watch is registered (and catching up) once this returns.
        self.store.watch(&source.stream, &req)?;
        let (sender, watch) = BackendWatch::channel(EVENT_QUEUE);
        tokio::spawn(stream::pump(source, sender));
        Ok(watch)
    }
}

forward_backend!(EmbeddedBackend);
