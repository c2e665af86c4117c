//! HTTP serving: TLS, authentication, routing to discovery, OpenAPI, health, metrics and
//! the resource handlers.

mod body;
mod discovery;
mod logs;
mod openapi;
mod resource;
mod respond;
pub mod route;
mod table;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kapi::StatusError;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, User};
use crate::metrics::Metrics;
use crate::rest::Api;
use route::Route;

pub use openapi::OpenApiDocs;
pub use respond::Body;

/// What every request handler shares.
#[derive(Debug)]
pub struct Shared {
    /// REST layer.
    pub api: Api,
    /// Authentication.
    pub auth: Authenticator,
    /// OpenAPI documents.
    pub openapi: openapi::OpenApiDocs,
    /// Request metrics.
    pub metrics: Metrics,
    /// Address advertised in `/api`.
    pub advertise: String,
    /// Request body limit.
    pub max_body: usize,
    /// Non-watch request timeout.
    pub request_timeout: Duration,
    /// Server shutdown.
    pub cancel: CancellationToken,
}

/// Accepts TLS connections on `listener` until `cancel`; each connection serves HTTP/1.1
/// or HTTP/2.
///
/// # Cancel safety
/// Returns when `cancel` fires; open connections are asked to shut down gracefully.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, shared: Arc<Shared>) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            got = listener.accept() => match got {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let cert_user = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| crate::tls::user_from_cert(c.as_ref()));
            let conn_shared = Arc::clone(&shared);
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = Arc::clone(&conn_shared);
                let cert_user = cert_user.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, req, cert_user.as_ref(), peer).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .max_buf_size(1 << 20)
                .header_read_timeout(Duration::from_secs(30));
            builder.http2().timer(hyper_util::rt::TokioTimer::new()).max_header_list_size(1 << 20);
            let conn = builder.serve_connection(TokioIo::new(tls), svc);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = shared.cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                }
            }
        });
    }
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    q.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn is_public(route: &Route) -> bool {
    // Health checks are readable without credentials (upstream's public-info-viewer).
    matches!(route, Route::Health)
}

/// Serves one request.
pub async fn handle(
    shared: &Shared,
    req: Request<Incoming>,
    cert_user: Option<&User>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = route::parse(&path);
    let user = shared.auth.authenticate(req.headers(), cert_user);
    if user.is_none() && !is_public(&route) {
        return respond::error(&StatusError::unauthorized("Unauthorized"));
    }
    let is_watch = matches!(route, Route::Resource(_))
        && req.uri().query().is_some_and(|q| q.contains("watch=true") || q.contains("watch=1"));
    let labels = shared.metrics.labels(&method, &route, is_watch);
    let fut = dispatch(shared, req, route);
    let resp = if is_watch {
        fut.await
    } else {
        match tokio::time::timeout(shared.request_timeout, fut).await {
            Ok(r) => r,
            Err(_) => respond::error(&StatusError::timeout("request did not complete within the allowed duration", 1)),
        }
    };
    shared.metrics.observe(labels, resp.status().as_u16(), started.elapsed());
    tracing::debug!(%peer, %method, %path, code = resp.status().as_u16(), "request");
    resp
}

async fn dispatch(shared: &Shared, req: Request<Incoming>, route: Route) -> Response<Body> {
    let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let registry = shared.api.registry();
    let get_only = |r: Option<serde_json::Value>| match (req.method() == Method::GET, r) {
        (true, Some(v)) => respond::json(StatusCode::OK, &v),
        (false, _) => respond::error(&StatusError::new(
            kapi::Reason::MethodNotAllowed,
            "the server does not allow this method on the requested resource",
        )),
        (true, None) => not_found(),
    };
    match &route {
        Route::LegacyRoot | Route::GroupsRoot => {
            let legacy = route == Route::LegacyRoot;
            if let Some(v) = discovery::wants_aggregated(accept.as_deref()) {
                let body = discovery::aggregated(registry, legacy, v);
                let mut r = respond::json(StatusCode::OK, &body);
                let ct = format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
                if let Ok(h) = http::HeaderValue::from_str(&ct) {
                    r.headers_mut().insert(http::header::CONTENT_TYPE, h);
                }
                return r;
            }
            if legacy {
                get_only(Some(discovery::legacy_root(&shared.advertise)))
            } else {
                get_only(Some(discovery::groups(registry)))
            }
        }
        Route::Group(g) => get_only(discovery::group(registry, g)),
        Route::GroupVersion { group, version } => get_only(discovery::resource_list(registry, group, version)),
        Route::Version => get_only(Some(crate::version_info())),
        Route::Health => {
            let mut r = Response::new(respond::full("ok"));
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
            r
        }
        Route::Metrics => {
            let mut r = Response::new(respond::full(shared.metrics.render()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        Route::OpenApiV2 => shared.openapi.serve_v2(&shared.api, accept.as_deref(), req.headers()),
        Route::OpenApiV3Root => shared.openapi.serve_v3_root(&shared.api),
        Route::OpenApiV3(gv) => {
            shared.openapi.serve_v3(&shared.api, gv, req.uri().query(), accept.as_deref(), req.headers())
        }
        Route::NotFound => not_found(),
        Route::Resource(path) => {
            let path = path.clone();
            let method = req.method().clone();
            let query = query_map(req.uri().query());
            let content_type =
                req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let user_agent =
                req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body = match body::read(req.into_body(), shared.max_body).await {
                Ok(b) => b,
                Err(e) => return respond::error(&e),
            };
            let call = resource::Call {
                method: &method,
                query: &query,
                accept: accept.as_deref(),
                content_type: content_type.as_deref(),
                user_agent: user_agent.as_deref(),
                body,
            };
            match resource::handle(&shared.api, &path, call, shared.cancel.clone()).await {
                Ok(r) => r,
                Err(e) => respond::error(&e),
            }
        }
    }
}

/// The upstream 404 for unknown paths.
pub fn not_found_response() -> Response<Body> {
    not_found()
}

fn not_found() -> Response<Body> {
    respond::error(&StatusError::new(kapi::Reason::NotFound, "the server could not find the requested resource"))
}
