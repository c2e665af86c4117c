//! A small HTTPS client for the Kubernetes API (hyper + rustls): JSON requests with
//! `Status` errors, and watch streams split into JSON lines.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kapi::StatusError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use super::kubeconfig::Config;

/// Why a request failed before the server could answer it with a `Status`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The configuration cannot make a TLS client (bad PEM, bad URL).
    #[error("client configuration: {0}")]
    Config(String),
    /// Connecting or talking to the server failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The server answered with an error `Status`.
    #[error(transparent)]
    Api(#[from] StatusError),
    /// The server's answer is not what the API promises.
    #[error("decoding the response: {0}")]
    Decode(String),
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// An authenticated client of one API server.
#[derive(Clone, Debug)]
pub struct Client {
    http: HyperClient<Https, Full<Bytes>>,
    server: String,
    auth: Option<HeaderValue>,
    namespace: String,
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Client {
    /// A client for `config`.
    pub fn new(config: &Config) -> Result<Client, ClientError> {
        let bad = |e: &dyn std::fmt::Display| ClientError::Config(e.to_string());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(&e))?;
        let builder = if config.insecure {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&config.ca_pem) {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            builder.with_root_certificates(roots)
        };
        let tls = match &config.client_cert {
            Some((cert, key)) => {
                let chain: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(cert).collect();
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad(&e))?;
                builder.with_client_auth_cert(chain.map_err(|e| bad(&e))?, key).map_err(|e| bad(&e))?
            }
            None => builder.with_no_client_auth(),
        };
        // No Nagle delay (as Go's net package, hence client-go): a request's HEADERS and
        // DATA frames go out as separate writes, and the second waited for the server's
        // delayed ACK, about 40 ms per request.
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // The connector sets ALPN itself from the enabled HTTP versions.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let http = HyperClient::builder(TokioExecutor::new()).build(https);
        let auth = match &config.token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}")).map_err(|e| bad(&e))?),
            None => None,
        };
        Ok(Client { http, server: config.server.clone(), auth, namespace: config.namespace.clone() })
    }

    /// The context's default namespace.
    pub fn default_namespace(&self) -> &str {
        &self.namespace
    }

    /// Sends a request to `path_and_query`; error statuses become [`ClientError::Api`].
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future abandons the request.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Bytes, &str)>,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let mut req = Request::builder().method(method).uri(format!("{}{path_and_query}", self.server));
        if let Some(a) = &self.auth {
            req = req.header(header::AUTHORIZATION, a.clone());
        }
        req = req
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, concat!("kwatch/", env!("CARGO_PKG_VERSION")));
        let body = match body {
            Some((b, ct)) => {
                req = req.header(header::CONTENT_TYPE, ct);
                Full::new(b)
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|e| ClientError::Config(e.to_string()))?;
        let resp = self.http.request(req).await.map_err(|e| ClientError::Transport(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
        Err(ClientError::Api(status_error(status, &bytes)))
    }

    /// `GET` and decode JSON.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, ClientError> {
        let resp = self.send(Method::GET, path_and_query, None).await?;
        let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Opens a watch and yields one JSON line (one event) at a time.
    ///
    /// # Cancel safety
    /// Cancel safe; dropping the stream closes the watch.
    pub async fn watch_lines(
        &self,
        path_and_query: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, ClientError>> + Send + 'static, ClientError> {
        let resp = self.send(Method::GET, path_and_query, None).await?;
        let body = resp.into_body();
        Ok(futures_util::stream::unfold((body, BytesMut::new(), false), |(mut body, mut buf, done)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(pos + 1).freeze();
                    let line = line.slice(..line.len() - 1);
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some((Ok(line), (body, buf, done)));
                }
                if done {
                    // A final event without a newline still counts.
                    if buf.iter().all(u8::is_ascii_whitespace) {
                        return None;
                    }
                    let rest = buf.split().freeze();
                    return Some((Ok(rest), (body, buf, true)));
                }
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            buf.extend_from_slice(&data);
                        }
                    }
                    Some(Err(e)) => return Some((Err(ClientError::Transport(e.to_string())), (body, buf, true))),
                    None => {
                        if buf.iter().all(u8::is_ascii_whitespace) {
                            return None;
                        }
                        let rest = buf.split().freeze();
                        return Some((Ok(rest), (body, buf, true)));
                    }
                }
            }
        }))
    }
}

/// A `Status` body (or a synthesized one when the body is not a Status).
fn status_error(code: StatusCode, body: &[u8]) -> StatusError {
    match serde_json::from_slice::<kapi::k8s::apimachinery::pkg::apis::meta::v1::Status>(body) {
        Ok(s) if s.code.is_some() || s.reason.is_some() => StatusError::from_status(&s),
        _ => StatusError::from_status(&kapi::k8s::apimachinery::pkg::apis::meta::v1::Status {
            code: Some(i32::from(code.as_u16())),
            message: Some(String::from_utf8_lossy(body).chars().take(512).collect()),
            ..Default::default()
        }),
    }
}
