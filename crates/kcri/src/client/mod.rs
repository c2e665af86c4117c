//! [`Client`]: the CRI v1 client over a unix socket.

mod image;
mod retry;
mod runtime;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub use retry::RetryPolicy;

use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::types::{KUBELET_API_VERSION, VersionInfo};

/// containerd's default CRI socket.
pub const CONTAINERD_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";

/// Messages up to this size are accepted, as kubelet does (listings of large nodes exceed
/// tonic's 4 MiB default).
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// A CRI v1 client speaking gRPC over a unix socket.
///
/// Cheap to clone: clones share one HTTP/2 connection, which reconnects by itself when the
/// runtime restarts. Implements [`RuntimeService`](crate::RuntimeService) and
/// [`ImageService`](crate::ImageService), so it can stand wherever a
/// [`FakeRuntime`](crate::fake::FakeRuntime) does.
///
/// Every call has a deadline ([`ClientBuilder::timeout`], or
/// [`ClientBuilder::pull_timeout`] for `PullImage`; calls carrying their own timeout such
/// as `ExecSync` add it), sent to the runtime as `grpc-timeout` and enforced locally.
/// Idempotent calls are retried per [`RetryPolicy`].
#[derive(Debug, Clone)]
pub struct Client {
    channel: Channel,
    config: ClientBuilder,
    version: VersionInfo,
}

/// Settings of a [`Client`]; [`ClientBuilder::connect`] opens it.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    endpoint: String,
    timeout: Duration,
    pull_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// Deadline of ordinary calls (default 2 minutes, kubelet's).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Deadline of `PullImage` (default 15 minutes: large images over slow links).
    pub fn pull_timeout(mut self, timeout: Duration) -> Self {
        self.pull_timeout = timeout;
        self
    }

    /// Deadline for opening the connection and the `Version` handshake (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retry policy of idempotent calls (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Connects and negotiates the API version.
    ///
    /// Calls `Version` with [`KUBELET_API_VERSION`]; a runtime that does not serve
    /// `runtime.v1` answers `UNIMPLEMENTED`, returned as [`Error::Unimplemented`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an endpoint that is not `unix://` or a path,
    /// [`Error::Transport`] if the socket cannot be reached, and any error of `Version`.
    pub async fn connect(self) -> Result<Client> {
        let path = socket_path(&self.endpoint)?;
        // The URI is required by tonic but unused: the connector ignores it and dials the
        // socket, so no TCP address is ever contacted.
        let endpoint = Endpoint::from_static("http://cri.invalid").connect_timeout(self.connect_timeout);
        let dial_path = path.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let path = dial_path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        });
        let channel = tokio::time::timeout(self.connect_timeout, endpoint.connect_with_connector(connector))
            .await
            .map_err(|_| Error::Transport(format!("connecting to {} timed out", path.display())))?
            .map_err(|e| Error::Transport(format!("connecting to {}: {}", path.display(), source_chain(&e))))?;

        let mut client = Client { channel, config: self, version: VersionInfo::default() };
        let timeout = client.config.connect_timeout;
        let version = client
            .call(
                "Version",
                Call::Idempotent(timeout),
                pb::VersionRequest { version: KUBELET_API_VERSION.into() },
                |c, r| async move { runtime::rt(c).version(r).await },
            )
            .await?;
        client.version = version.into();
        if client.version.runtime_api_version != "v1" {
            // containerd and CRI-O both say "v1"; anything else is worth a note, not a failure,
            // since the RPC itself was answered on the v1 service.
            tracing::warn!(api = %client.version.runtime_api_version, "runtime reports an unexpected CRI API version");
        }
        tracing::debug!(
            runtime = %client.version.runtime_name,
            version = %client.version.runtime_version,
            "connected to CRI runtime"
        );
        Ok(client)
    }
}

/// Renders an error with its sources, since tonic's transport errors say little at the top.
fn source_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The socket path of a `unix://` endpoint or a bare path.
fn socket_path(endpoint: &str) -> Result<PathBuf> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.is_empty() || path.contains("://") {
        return Err(Error::InvalidArgument(format!("CRI endpoint must be unix:///path or a path, got {endpoint:?}")));
    }
    Ok(PathBuf::from(path))
}

/// How one call is retried and how long it may take.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// Safe to repeat: retried on `UNAVAILABLE`.
    Idempotent(Duration),
    /// Must not be repeated blindly.
    Once(Duration),
}

impl Client {
    /// Connects to `endpoint` (`unix:///run/containerd/containerd.sock` or a bare path) with
    /// default settings. See [`ClientBuilder::connect`].
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::connect`].
    pub async fn connect(endpoint: impl Into<String>) -> Result<Self> {
        Self::builder(endpoint).connect().await
    }

    /// Settings for a client of `endpoint`, to adjust before connecting.
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            timeout: Duration::from_secs(120),
            pull_timeout: Duration::from_secs(15 * 60),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }

    /// What the runtime answered to `Version` when connecting.
    pub fn runtime_version(&self) -> &VersionInfo {
        &self.version
    }

    /// An idempotent call with the default deadline.
    fn idempotent(&self) -> Call {
        Call::Idempotent(self.config.timeout)
    }

    /// A non-repeatable call with the default deadline.
    fn once(&self) -> Call {
        Call::Once(self.config.timeout)
    }

    /// The default deadline plus `extra` (calls with their own timeout).
    fn timeout_plus(&self, extra: Duration) -> Duration {
        self.config.timeout.saturating_add(extra)
    }

    /// Runs one unary RPC with deadline and retries.
    async fn call<Req, Resp, F, Fut>(&self, rpc: &'static str, call: Call, req: Req, f: F) -> Result<Resp>
    where
        Req: Clone,
        F: Fn(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let (timeout, attempts) = match call {
            Call::Idempotent(t) => (t, self.config.retry.max_attempts.max(1)),
            Call::Once(t) => (t, 1),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = tonic::Request::new(req.clone());
            request.set_timeout(timeout);
            let err = match tokio::time::timeout(timeout, f(self.channel.clone(), request)).await {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => Error::from(status),
                Err(_) => Error::DeadlineExceeded(format!("{rpc} did not finish within {timeout:?}")),
            };
            if err.is_retryable() && attempt < attempts {
                let delay = self.config.retry.backoff(attempt);
                tracing::debug!(rpc, attempt, ?delay, error = %err, "retrying CRI call");
                tokio::time::sleep(delay).await;
                continue;
            }
            tracing::debug!(rpc, error = %err, "CRI call failed");
            return Err(err);
        }
    }
}

/// A required response field, or [`Error::InvalidResponse`].
fn required<T>(value: Option<T>, what: &str) -> Result<T> {
    value.ok_or_else(|| Error::InvalidResponse(format!("response lacks {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(socket_path(CONTAINERD_ENDPOINT).ok(), Some(PathBuf::from("/run/containerd/containerd.sock")));
        assert_eq!(socket_path("/tmp/x.sock").ok(), Some(PathBuf::from("/tmp/x.sock")));
        assert!(matches!(socket_path("tcp://1.2.3.4:5"), Err(Error::InvalidArgument(_))));
        assert!(socket_path("unix://").is_err());
    }
}
