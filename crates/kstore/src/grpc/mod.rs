//! The etcd v3 gRPC API on top of [`Store`]: KV, Watch, Lease, Cluster and Maintenance, as
//! etcd 3.4 serves them, so that `etcdctl` and etcd client libraries work unchanged.
//!
//! ```
//! use std::sync::Arc;
//! use kstore::{Store, StoreConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(Store::open(StoreConfig::single(1, None)).await?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let shutdown = CancellationToken::new();
//! let server = tokio::spawn(kstore::grpc::serve(store, listener, shutdown.clone()));
//! // … clients connect to the listener's address …
//! shutdown.cancel();
//! server.await??;
//! # Ok(())
//! # }
//! ```
//!
//! Differences from etcd 3.4, all deliberate:
//!
//! - No Auth service (the store has no users or roles).
//! - A lease keep-alive sent to a follower is refused with `Unavailable`
//!   "etcdserver: not leader" instead of being forwarded to the leader; clients retry on
//!   another endpoint.
//! - `MemberAdd` and `MemberUpdate` answer `Unimplemented`: the peer transport's address
//!   book is fixed when the store starts. `MemberRemove` and `MemberPromote` work.
//! - Watch responses are never fragmented (`fragment` is ignored); they are not limited
//!   in size on the way out, so there is no need.
//! - `Defragment` does nothing (there is no backend file to compact); `Alarm` keeps no
//!   alarms; `Hash` is the `HashKV` hash at the current revision.

mod cluster;
mod convert;
mod errors;
mod kv;
mod lease;
mod maintenance;
mod watch;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::transport::server::TcpIncoming;

use crate::proto::etcdserverpb as pb;
use crate::store::{Store, StoreError};

pub use errors::status_from_store_error;

/// The version reported by `Maintenance.Status`: the etcd API version served, tagged.
pub const SERVER_VERSION: &str = "3.4.23-kstore";

/// Largest request accepted, in bytes (etcd's `--max-request-bytes` default, 1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// Room for gRPC framing on top of the request limit (etcd's `grpcOverheadBytes`).
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// How long a request may wait for Raft (etcd's request timeout with the default 1 s
/// election timeout: 5 s + 2 elections).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(7);

/// How often the Raft term shown in response headers is refreshed.
const TERM_REFRESH: Duration = Duration::from_millis(100);

/// Errors of [`serve`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcError {
    /// The listener could not be used.
    #[error("grpc listener: {0}")]
    Listener(#[from] std::io::Error),
    /// The HTTP/2 server failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The members `MemberList` reports: names and URLs, which the store itself does not know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The members.
    pub members: Vec<MemberInfo>,
}

/// One member as etcd describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberInfo {
    /// Member (Raft node) id.
    pub id: u64,
    /// Human-readable name (etcd's `--name`); empty means "not started" to etcdctl.
    pub name: String,
    /// URLs peers use to reach it.
    pub peer_urls: Vec<String>,
    /// URLs clients use to reach it.
    pub client_urls: Vec<String>,
    /// Whether it is a learner. The Raft membership overrides this when it is known.
    pub is_learner: bool,
}

/// A gRPC server for a store, with its options. [`serve`] is the short form.
#[derive(Debug)]
pub struct Server {
    store: Arc<Store>,
    cluster: Option<ClusterInfo>,
    max_request_bytes: usize,
}

impl Server {
    /// A server with etcd's defaults. Without [`cluster`](Self::cluster), `MemberList`
    /// reports this member as `default` (etcd's default name) with the listener's address
    /// as client URL.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store, cluster: None, max_request_bytes: DEFAULT_MAX_REQUEST_BYTES }
    }

    /// Names and URLs of the members, for `MemberList`.
    pub fn cluster(mut self, cluster: ClusterInfo) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Largest request accepted; larger writes get etcd's "request is too large".
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Serves every service on `listener` until `shutdown` is cancelled. Open watch and
    /// keep-alive streams are ended with "etcdserver: server stopped" at shutdown.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future drops the server without a graceful
    /// shutdown. Cancel `shutdown` instead.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> Result<(), GrpcError> {
        use pb::cluster_server::ClusterServer;
        use pb::kv_server::KvServer;
        use pb::lease_server::LeaseServer;
        use pb::maintenance_server::MaintenanceServer;
        use pb::watch_server::WatchServer;

        let local = listener.local_addr()?;
        let cluster = self.cluster.unwrap_or_else(|| ClusterInfo {
            members: vec![MemberInfo {
                id: self.store.member_id(),
                name: "default".into(),
                peer_urls: Vec::new(),
                client_urls: vec![format!("http://{local}")],
                is_learner: false,
            }],
        });
        let ctx = Arc::new(Ctx {
            store: self.store,
            cluster,
            max_request_bytes: self.max_request_bytes,
            stop: shutdown.child_token(),
            term: AtomicU64::new(0),
        });
        ctx.refresh_term().await;
        tokio::spawn(refresh_terms(ctx.clone()));

        let limit = self.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let result = tonic::transport::Server::builder()
            .add_service(KvServer::new(kv::KvService::new(ctx.clone())).max_decoding_message_size(limit))
            .add_service(WatchServer::new(watch::WatchService::new(ctx.clone())).max_decoding_message_size(limit))
            .add_service(LeaseServer::new(lease::LeaseService::new(ctx.clone())).max_decoding_message_size(limit))
            .add_service(ClusterServer::new(cluster::ClusterService::new(ctx.clone())).max_decoding_message_size(limit))
            .add_service(
                MaintenanceServer::new(maintenance::MaintenanceService::new(ctx.clone()))
                    .max_decoding_message_size(limit),
            )
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled())
            .await;
        ctx.stop.cancel();
        Ok(result?)
    }
}

/// Serves the etcd v3 API for `store` on `listener` until `shutdown` is cancelled, with
/// the defaults of [`Server::new`].
///
/// # Cancel safety
///
/// Not cancel safe: see [`Server::serve`].
pub async fn serve(store: Arc<Store>, listener: TcpListener, shutdown: CancellationToken) -> Result<(), GrpcError> {
    Server::new(store).serve(listener, shutdown).await
}

/// What every service shares.
pub(crate) struct Ctx {
    pub(crate) store: Arc<Store>,
    pub(crate) cluster: ClusterInfo,
    pub(crate) max_request_bytes: usize,
    /// Cancelled at shutdown: long-lived streams end.
    pub(crate) stop: CancellationToken,
    /// Latest Raft term seen (headers carry it; asking Raft on every request would put a
    /// round trip through the Raft task on every request's path).
    term: AtomicU64,
}

impl Ctx {
    /// A response header for a response that reflects store revision `revision`.
    pub(crate) fn header(&self, revision: i64) -> Option<pb::ResponseHeader> {
        Some(pb::ResponseHeader {
            cluster_id: self.store.cluster_id(),
            member_id: self.store.member_id(),
            revision,
            raft_term: self.term.load(Ordering::Relaxed),
        })
    }

    /// Records a term seen in a status answer.
    pub(crate) fn note_term(&self, term: u64) {
        self.term.fetch_max(term, Ordering::Relaxed);
    }

    async fn refresh_term(&self) {
        if let Ok(status) = self.store.raft().status().await {
            self.note_term(status.term);
        }
    }

    /// Rejects a write request larger than the request limit, as etcd does.
    pub(crate) fn check_size(&self, request: &impl prost::Message) -> Result<(), Status> {
        if request.encoded_len() > self.max_request_bytes { Err(errors::request_too_large()) } else { Ok(()) }
    }
}

async fn refresh_terms(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(TERM_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => return,
            _ = tick.tick() => ctx.refresh_term().await,
        }
    }
}

/// Runs a store call with etcd's request timeout and maps its error.
pub(crate) async fn call<T>(fut: impl Future<Output = Result<T, StoreError>>) -> Result<T, Status> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| status_from_store_error(&e)),
        Err(_) => Err(errors::timeout()),
    }
}
