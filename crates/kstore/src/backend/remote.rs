//! [`RemoteBackend`]: the API server's storage on an etcd v3 endpoint (an etcd cluster, or
//! `kstore-server`), through [`Client`].

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::embedded::DEFAULT_REQUEST_TIMEOUT;
use super::ops::{self, Kv};
use super::stream::{self, EVENT_QUEUE, Source};
use super::{
    BackendError, BackendWatch, BoxFuture, DeleteResponse, GetResponse, ListOptions, ListResponse, WatchOptions,
};
use crate::client::{Client, ClientError, RemoteWatch};
use crate::types::*;
use crate::watch::WatchMessage;

/// A [`Backend`](super::Backend) on an etcd v3 endpoint. Each call is one etcd request (the transactions
/// kube-apiserver sends); each watch is one etcd watch on its own gRPC stream. Cheap to
/// clone (clones share the connection).
///
/// A call that gets no answer within the request timeout fails with
/// [`BackendError::Unavailable`]; a watch whose stream breaks ends with it. Neither is
/// retried here: the caller retries, as the API server's storage layer does.
#[derive(Debug, Clone)]
pub struct RemoteBackend {
    client: Client,
    timeout: Duration,
}

impl RemoteBackend {
    /// A backend over an existing client, with a 7 s request timeout.
    pub fn new(client: Client) -> Self {
        Self { client, timeout: DEFAULT_REQUEST_TIMEOUT }
    }

    /// Connects to `endpoint` (`http://host:port` or `host:port`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is kept from an abandoned attempt.
    pub async fn connect(endpoint: &str) -> Result<Self, BackendError> {
        Ok(Self::new(Client::connect(endpoint).await?))
    }

    /// A backend over several members of one cluster (see [`Client::connect_cluster`]);
    /// returns once one of them answers a read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is kept from an abandoned attempt.
    pub async fn connect_cluster(endpoints: &[String]) -> Result<Self, BackendError> {
        let backend = Self::new(Client::connect_cluster(endpoints)?);
        backend.timed(backend.client.status()).await?;
        Ok(backend)
    }

    /// Sets how long a call may wait for an answer before it fails with
    /// [`BackendError::Unavailable`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn timed<T>(&self, fut: impl Future<Output = Result<T, ClientError>>) -> Result<T, BackendError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(BackendError::timed_out(self.timeout)),
        }
    }

    async fn open_watch(&self, key: Bytes, opts: WatchOptions) -> Result<BackendWatch, BackendError> {
        let req = ops::watch_request(key, &opts)?;
        let mut watch = self.timed(self.client.watch(&req)).await?;
        // The watch is in place once the server confirms it.
        match self.timed(watch.next()).await? {
            Some(WatchMessage::Created { .. }) => {}
            Some(WatchMessage::Canceled { reason, .. }) => {
                return Err(BackendError::InvalidArgument(format!("watch refused: {reason}")));
            }
            Some(other) => return Err(BackendError::Other(format!("watch: expected a creation, got {other:?}"))),
            None => return Err(BackendError::Unavailable("the server closed the watch".into())),
        }
        let (sender, backend_watch) = BackendWatch::channel(EVENT_QUEUE);
        tokio::spawn(stream::pump(EtcdWatch(watch), sender));
        Ok(backend_watch)
    }
}

impl Kv for RemoteBackend {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse, BackendError> {
        self.timed(self.client.range(&req)).await
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, BackendError> {
        self.timed(self.client.txn(&req)).await
    }

    async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse, BackendError> {
        self.timed(self.client.delete_range(&req)).await
    }

    async fn compact(&self, revision: i64) -> Result<(), BackendError> {
        self.timed(self.client.compact(revision)).await.map(drop)
    }

    async fn lease_grant(&self, ttl: i64) -> Result<i64, BackendError> {
        self.timed(self.client.lease_grant(0, ttl)).await.map(|(id, _ttl)| id)
    }
}

/// One etcd watch on its own stream.
struct EtcdWatch(RemoteWatch);

impl Source for EtcdWatch {
    async fn next(&mut self) -> Result<Option<WatchMessage>, BackendError> {
        Ok(self.0.next().await?)
    }

    async fn request_progress(&mut self) -> Result<(), BackendError> {
        Ok(self.0.request_progress().await?)
    }
}

forward_backend!(RemoteBackend);
