//! A client for any etcd v3 endpoint (kstore-server or etcd) over gRPC, speaking kstore's
//! domain types. The API server's remote-etcd backend and the tests use it.

mod convert;

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_client::KvClient;
use crate::proto::etcdserverpb::lease_client::LeaseClient;
use crate::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::proto::etcdserverpb::watch_client::WatchClient;
use crate::types::*;
use crate::watch::{WatchMessage, WatchRequest};

/// gRPC status codes a server can answer with (the subset etcd uses, plus `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// Bad request (e.g. "etcdserver: key not found").
    InvalidArgument,
    /// Missing lease.
    NotFound,
    /// Precondition failed (e.g. lease exists, not leader).
    FailedPrecondition,
    /// Revision compacted or in the future, TTL too large.
    OutOfRange,
    /// No leader, stopped, timed out: retry, possibly elsewhere.
    Unavailable,
    /// Deadline exceeded.
    DeadlineExceeded,
    /// Not implemented by the server.
    Unimplemented,
    /// Anything else.
    Other,
}

/// Errors of remote calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{message}")]
    Status {
        /// The gRPC code.
        code: Code,
        /// The server's message (etcd's text, e.g. "etcdserver: key not found").
        message: String,
    },
    /// No connection could be made.
    #[error("connection: {0}")]
    Connect(String),
    /// The server closed a stream.
    #[error("stream closed")]
    Closed,
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        let code = match s.code() {
            tonic::Code::InvalidArgument => Code::InvalidArgument,
            tonic::Code::NotFound => Code::NotFound,
            tonic::Code::FailedPrecondition => Code::FailedPrecondition,
            tonic::Code::OutOfRange => Code::OutOfRange,
            tonic::Code::Unavailable => Code::Unavailable,
            tonic::Code::DeadlineExceeded => Code::DeadlineExceeded,
            tonic::Code::Unimplemented => Code::Unimplemented,
            _ => Code::Other,
        };
        ClientError::Status { code, message: s.message().to_owned() }
    }
}

/// A connection to an etcd v3 endpoint. Cheap to clone (shares the HTTP/2 connection).
#[derive(Debug, Clone)]
pub struct Client {
    kv: KvClient<Channel>,
    watch: WatchClient<Channel>,
    lease: LeaseClient<Channel>,
    maintenance: MaintenanceClient<Channel>,
}

impl Client {
    /// Connects to `endpoint` (`http://host:port` or `host:port`).
    pub async fn connect(endpoint: &str) -> Result<Client, ClientError> {
        let url = if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") };
        let channel = Endpoint::from_shared(url)
            .map_err(|e| ClientError::Connect(e.to_string()))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        Ok(Client {
            kv: KvClient::new(channel.clone()),
            watch: WatchClient::new(channel.clone()),
            lease: LeaseClient::new(channel.clone()),
            maintenance: MaintenanceClient::new(channel),
        })
    }

    /// A client spreading requests over several members of one cluster (`--etcd-servers`
    /// with more than one URL): members that cannot be reached are skipped until they can,
    /// so the client survives the loss of any minority. Connections are made lazily.
    pub fn connect_cluster(endpoints: &[String]) -> Result<Client, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::Connect("no endpoints given".into()));
        }
        let mut list = Vec::with_capacity(endpoints.len());
        for e in endpoints {
            let url = if e.contains("://") { e.clone() } else { format!("http://{e}") };
            let ep = Endpoint::from_shared(url)
                .map_err(|err| ClientError::Connect(format!("{e}: {err}")))?
                .connect_timeout(Duration::from_secs(3))
                .tcp_nodelay(true);
            list.push(ep);
        }
        let channel = Channel::balance_list(list.into_iter());
        Ok(Client {
            kv: KvClient::new(channel.clone()),
            watch: WatchClient::new(channel.clone()),
            lease: LeaseClient::new(channel.clone()),
            maintenance: MaintenanceClient::new(channel),
        })
    }

    /// Reads a key or range.
    pub async fn range(&self, req: &RangeRequest) -> Result<RangeResponse, ClientError> {
        let resp = self.kv.clone().range(convert::range_request(req)).await?;
        Ok(convert::range_response(resp.into_inner()))
    }

    /// Writes a key.
    pub async fn put(&self, req: &PutRequest) -> Result<PutResponse, ClientError> {
        let resp = self.kv.clone().put(convert::put_request(req)).await?;
        Ok(convert::put_response(resp.into_inner()))
    }

    /// Deletes a key or range.
    pub async fn delete_range(&self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse, ClientError> {
        let resp = self.kv.clone().delete_range(convert::delete_request(req)).await?;
        Ok(convert::delete_response(resp.into_inner()))
    }

    /// Runs a transaction.
    pub async fn txn(&self, req: &TxnRequest) -> Result<TxnResponse, ClientError> {
        let resp = self.kv.clone().txn(convert::txn_request(req)).await?;
        Ok(convert::txn_response(resp.into_inner()))
    }

    /// Compacts history up to `revision`; returns the server's revision.
    pub async fn compact(&self, revision: i64) -> Result<i64, ClientError> {
        let resp = self.kv.clone().compact(pb::CompactionRequest { revision, physical: false }).await?;
        Ok(resp.into_inner().header.map_or(0, |h| h.revision))
    }

    /// Grants a lease (`id` 0 = the server picks); returns (id, ttl).
    pub async fn lease_grant(&self, id: i64, ttl: i64) -> Result<(i64, i64), ClientError> {
        let resp = self.lease.clone().lease_grant(pb::LeaseGrantRequest { ttl, id }).await?.into_inner();
        if !resp.error.is_empty() {
            return Err(ClientError::Status { code: Code::Other, message: resp.error });
        }
        Ok((resp.id, resp.ttl))
    }

    /// Revokes a lease.
    pub async fn lease_revoke(&self, id: i64) -> Result<(), ClientError> {
        self.lease.clone().lease_revoke(pb::LeaseRevokeRequest { id }).await?;
        Ok(())
    }

    /// Renews a lease once; returns its TTL (0 if it no longer exists).
    pub async fn lease_keep_alive(&self, id: i64) -> Result<i64, ClientError> {
        let (tx, rx) = mpsc::channel(1);
        tx.send(pb::LeaseKeepAliveRequest { id }).await.map_err(|_| ClientError::Closed)?;
        let mut stream = self.lease.clone().lease_keep_alive(ReceiverStream::new(rx)).await?.into_inner();
        let resp = stream.message().await?.ok_or(ClientError::Closed)?;
        Ok(resp.ttl)
    }

    /// Opens a watch; the first message is `Created` (or `Canceled` if refused).
    pub async fn watch(&self, req: &WatchRequest) -> Result<RemoteWatch, ClientError> {
        let (tx, rx) = mpsc::channel(8);
        tx.send(convert::watch_create(req)).await.map_err(|_| ClientError::Closed)?;
        let stream = self.watch.clone().watch(ReceiverStream::new(rx)).await?.into_inner();
        Ok(RemoteWatch { requests: tx, responses: stream })
    }

    /// The server's store revision and raft term (etcd `Status`).
    pub async fn status(&self) -> Result<(i64, u64), ClientError> {
        let resp = self.maintenance.clone().status(pb::StatusRequest {}).await?.into_inner();
        Ok((resp.header.as_ref().map_or(0, |h| h.revision), resp.raft_term))
    }
}

/// An open watch stream.
#[derive(Debug)]
pub struct RemoteWatch {
    requests: mpsc::Sender<pb::WatchRequest>,
    responses: tonic::Streaming<pb::WatchResponse>,
}

impl RemoteWatch {
    /// The next message; `None` when the server closed the stream.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is never half-consumed.
    pub async fn next(&mut self) -> Result<Option<WatchMessage>, ClientError> {
        Ok(self.responses.message().await?.map(convert::watch_response))
    }

    /// Adds another watch to the same stream.
    pub async fn create(&self, req: &WatchRequest) -> Result<(), ClientError> {
        self.requests.send(convert::watch_create(req)).await.map_err(|_| ClientError::Closed)
    }

    /// Asks for a progress notification on this stream (etcd `WatchProgressRequest`,
    /// etcd 3.4 and later): the answer is a `Progress` message with watch id -1.
    pub async fn request_progress(&self) -> Result<(), ClientError> {
        let req = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(pb::WatchProgressRequest {})),
        };
        self.requests.send(req).await.map_err(|_| ClientError::Closed)
    }

    /// Cancels a watch on this stream.
    pub async fn cancel(&self, watch_id: i64) -> Result<(), ClientError> {
        let req = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CancelRequest(pb::WatchCancelRequest { watch_id })),
        };
        self.requests.send(req).await.map_err(|_| ClientError::Closed)
    }
}
