//! The kubelet API over HTTPS (upstream port 10250): `/healthz`, `/metrics` and
//! `/containerLogs/{namespace}/{pod}/{container}`, which the API server proxies for
//! `kubectl logs` (query `follow`, `tailLines`, `timestamps`, `previous`).
//!
//! Like upstream's flag defaults (`--anonymous-auth=true`, `--authorization-mode=AlwaysAllow`)
//! the API does not authenticate its callers; bind it to an address only the control plane
//! reaches. The serving certificate is the configured one, or a self-signed one created
//! under `<root_dir>/pki` on first start, as upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use kapi::ObjectKey;
use kapi::k8s::api::core::v1::Pod;
use kcri::RuntimeService;
use kcri::types::{ContainerFilter, ContainerState, PodSandboxFilter, PodSandboxState};
use kwatch::store::Store;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::KubeletConfig;
use crate::logs::{self, LogOptions};

/// Errors starting the kubelet API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The certificate or key is unusable, or could not be generated.
    #[error("kubelet API TLS: {0}")]
    Tls(String),
    /// The listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

type Body = BoxBody<Bytes, Infallible>;

/// What the handlers read: the node's pods (from the kubelet's informer), the runtime
/// and the log directory.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) pods: Store<Pod>,
    pub(crate) runtime: Arc<dyn RuntimeService>,
    pub(crate) pod_log_dir: PathBuf,
}

/// Binds the kubelet API's listener (before the Node is registered, so that the port in
/// use is the one it reports).
pub(crate) async fn bind(config: &KubeletConfig) -> Result<TcpListener, ServerError> {
    let addr = SocketAddr::new(config.address, config.port);
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

/// The serving TLS configuration: the configured certificate, or a self-signed one under
/// `<root_dir>/pki` (created once, kept across restarts).
pub(crate) fn tls_config(config: &KubeletConfig, host_ip: &str) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let (cert, key) = match (&config.tls_cert_file, &config.tls_private_key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => {
            let dir = config.root_dir.join("pki");
            let (cert, key) = (dir.join("kubelet.crt"), dir.join("kubelet.key"));
            if !cert.exists() || !key.exists() {
                self_signed(&cert, &key, &[config.node_name.clone(), host_ip.to_owned()])?;
            }
            (cert, key)
        }
    };
    let read = |p: &Path| std::fs::read(p).map_err(|source| ServerError::Io { path: p.to_owned(), source });
    let cert_pem = read(&cert)?;
    let key_pem = read(&key)?;
    use rustls::pki_types::pem::PemObject;
    let chain: Result<Vec<_>, _> = rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem).collect();
    let chain = chain.map_err(|e| ServerError::Tls(format!("{}: {e}", cert.display())))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| ServerError::Tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

fn self_signed(cert: &Path, key: &Path, hosts: &[String]) -> Result<(), ServerError> {
    let tls = |e: rcgen::Error| ServerError::Tls(e.to_string());
    let pair = rcgen::KeyPair::generate().map_err(tls)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    let name = hosts.first().cloned().unwrap_or_default();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name}@kubelet"));
    params.subject_alt_names = hosts
        .iter()
        .filter(|h| !h.is_empty())
        .filter_map(|h| match h.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(rcgen::SanType::IpAddress(ip)),
            Err(_) => h.clone().try_into().ok().map(rcgen::SanType::DnsName),
        })
        .collect();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let signed = params.self_signed(&pair).map_err(tls)?;
    write_private(key, &pair.serialize_pem())?;
    write_private(cert, &signed.pem())
}

fn write_private(path: &Path, contents: &str) -> Result<(), ServerError> {
    let io = |source| ServerError::Io { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)
}

/// Serves connections until `cancel` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: ApiState,
    cancel: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let state = Arc::new(state);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "kubelet API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Responses go out as several small writes: no Nagle delay behind delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let (acceptor, state, cancel) = (acceptor.clone(), state.clone(), cancel.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                tracing::debug!(%peer, "kubelet API TLS handshake failed");
                return;
            };
            let stop = cancel.clone();
            let service = hyper::service::service_fn(move |req| {
                let (state, stop) = (state.clone(), stop.clone());
                async move { Ok::<_, Infallible>(handle(state, req, stop).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

fn text(code: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = code;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

async fn handle<B>(state: Arc<ApiState>, req: Request<B>, cancel: CancellationToken) -> Response<Body> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    match path.as_str() {
        "/healthz" => text(StatusCode::OK, "ok"),
        "/metrics" => metrics(&state).await,
        p => {
            let parts: Vec<String> = p
                .strip_prefix("/containerLogs/")
                .map(|rest| rest.split('/').map(str::to_owned).collect())
                .unwrap_or_default();
            match <[String; 3]>::try_from(parts) {
                Ok([ns, pod, container]) if !ns.is_empty() && !pod.is_empty() && !container.is_empty() => {
                    container_logs(&state, &ns, &pod, &container, &query, cancel).await
                }
                _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
            }
        }
    }
}

/// `kubelet_running_pods` and `kubelet_running_containers`, as upstream names them, read
/// from the runtime.
async fn metrics(state: &ApiState) -> Response<Body> {
    use prometheus_client::metrics::gauge::Gauge;
    let ready = PodSandboxFilter { state: Some(PodSandboxState::Ready), ..Default::default() };
    let running = ContainerFilter { state: Some(ContainerState::Running), ..Default::default() };
    let (pods, containers) =
        match (state.runtime.list_pod_sandbox(ready).await, state.runtime.list_containers(running).await) {
            (Ok(p), Ok(c)) => (p.len(), c.len()),
            (Err(e), _) | (_, Err(e)) => {
                return text(StatusCode::INTERNAL_SERVER_ERROR, format!("runtime: {e}\n"));
            }
        };
    let mut registry = prometheus_client::registry::Registry::default();
    let gauge = |v: usize| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    registry.register("kubelet_running_pods", "Number of pods that have a running pod sandbox", gauge(pods));
    registry.register("kubelet_running_containers", "Number of containers currently running", gauge(containers));
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed\n");
    }
    let mut r = text(StatusCode::OK, out);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// The query of a log request.
#[derive(Debug, Default, PartialEq, Eq)]
struct LogQuery {
    options: LogOptions,
    follow: bool,
}

fn parse_log_query(query: &str) -> Result<LogQuery, String> {
    let mut q = LogQuery::default();
    let flag = |k: &str, v: &str| match v {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("{k}: invalid boolean {other:?}")),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "follow" => q.follow = flag(k, v)?,
            "previous" => q.options.previous = flag(k, v)?,
            "timestamps" => q.options.timestamps = flag(k, v)?,
            "tailLines" => {
                let n: i64 = v.parse().map_err(|_| format!("tailLines: invalid number {v:?}"))?;
                q.options.tail_lines = Some(usize::try_from(n.max(0)).unwrap_or(0));
            }
            // Accepted and not applied: sinceSeconds, sinceTime, limitBytes.
            _ => {}
        }
    }
    Ok(q)
}

async fn container_logs(
    state: &ApiState,
    namespace: &str,
    name: &str,
    container: &str,
    query: &str,
    cancel: CancellationToken,
) -> Response<Body> {
    let q = match parse_log_query(query) {
        Ok(q) => q,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let key = ObjectKey::namespaced(namespace, name);
    let Some(pod) = state.pods.get(&key) else {
        return text(StatusCode::NOT_FOUND, format!("pod \"{namespace}/{name}\" not found\n"));
    };
    // A mirror pod's containers are the static pod's, whose uid the mirror carries.
    let mirrored = pod.metadata.annotations.as_ref().and_then(|a| a.get(crate::static_pods::CONFIG_MIRROR_ANNOTATION));
    let uid = mirrored.cloned().or_else(|| pod.metadata.uid.clone()).unwrap_or_default();
    let known = pod.spec.as_ref().is_some_and(|s| {
        s.containers.iter().any(|c| c.name == container)
            || s.init_containers.iter().flatten().any(|c| c.name == container)
    });
    if !known {
        return text(
            StatusCode::NOT_FOUND,
            format!("container \"{container}\" not found in pod \"{namespace}/{name}\"\n"),
        );
    }
    let dir = logs::pod_log_dir(&state.pod_log_dir, namespace, name, &uid);
    let path = match logs::container_log_file(&dir, container, q.options.previous) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let read = async {
        let mut file = tokio::fs::File::open(&path).await?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>((file, raw))
    };
    let (file, raw) = match read.await {
        Ok(r) => r,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{}: {e}\n", path.display())),
    };
    if !q.follow || q.options.previous {
        return text(StatusCode::OK, logs::parse_cri_log(&String::from_utf8_lossy(&raw), &q.options));
    }
    // Only whole lines now; a line still being written is sent once complete.
    let complete = raw.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let head = logs::parse_cri_log(&String::from_utf8_lossy(&raw[..complete]), &q.options);
    let follow = Follow {
        pods: state.pods.clone(),
        key,
        container: container.to_owned(),
        path,
        file,
        partial: raw[complete..].to_vec(),
        options: LogOptions { tail_lines: None, ..q.options },
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(follow.run(Bytes::from(head), tx, cancel));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

/// A followed log: new whole lines are sent as they appear, until the container stops
/// running (its status in the pod object), the client goes away or the kubelet stops.
struct Follow {
    pods: Store<Pod>,
    key: ObjectKey,
    container: String,
    path: PathBuf,
    /// The log, open at the end of what was read so far.
    file: tokio::fs::File,
    /// Bytes read after the last whole line.
    partial: Vec<u8>,
    options: LogOptions,
}

impl Follow {
    fn running(&self) -> bool {
        let Some(pod) = self.pods.get(&self.key) else { return false };
        let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
        statuses
            .into_iter()
            .flatten()
            .any(|s| s.name == self.container && s.state.as_ref().is_some_and(|st| st.running.is_some()))
    }

    async fn run(mut self, first: Bytes, tx: tokio::sync::mpsc::Sender<Bytes>, cancel: CancellationToken) {
        if !first.is_empty() && tx.send(first).await.is_err() {
            return;
        }
        loop {
            let was_running = self.running();
            match self.read_new().await {
                Ok(Some(chunk)) => {
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(path = %self.path.display(), error = %e, "following a log ended");
                    return;
                }
            }
            // Nothing new: the log is complete once the container no longer runs.
            if !was_running {
                return;
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
            }
        }
    }

    /// Whole lines appended since the last read, formatted.
    async fn read_new(&mut self) -> std::io::Result<Option<Bytes>> {
        // The file stays open: each read continues where the last one ended.
        self.file.read_to_end(&mut self.partial).await?;
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else { return Ok(None) };
        let out = logs::parse_cri_log(&String::from_utf8_lossy(&self.partial[..end]), &self.options);
        self.partial.drain(..end);
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_queries() {
        let q = parse_log_query("follow=true&tailLines=5&timestamps=true&container=x").unwrap_or_default();
        assert!(q.follow && q.options.timestamps && !q.options.previous);
        assert_eq!(q.options.tail_lines, Some(5));
        assert_eq!(parse_log_query("tailLines=-3").map(|q| q.options.tail_lines), Ok(Some(0)));
        assert!(parse_log_query("previous=maybe").is_err());
        assert!(parse_log_query("tailLines=x").is_err());
        assert_eq!(parse_log_query(""), Ok(LogQuery::default()));
    }
}
