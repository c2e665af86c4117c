//! The API server's client of kubelets, for `pods/log`: HTTPS to the node's address
//! (`InternalIP`, else `Hostname`, else `ExternalIP`) on the port the node reports in
//! `status.daemonEndpoints.kubeletEndpoint` (10250 when unset).
//!
//! Like kube-apiserver, the kubelet's serving certificate is verified only when a CA is
//! given (`--kubelet-certificate-authority`); otherwise only the handshake's signatures
//! are checked, as kubelets serve self-signed certificates by default. With
//! `--kubelet-client-certificate` and `--kubelet-client-key` the API server presents a
//! client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use kapi::StatusError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use crate::tls::TlsError;

/// How long connecting to a kubelet may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the kubelet client (kube-apiserver's flag names).
#[derive(Debug, Clone, Default)]
pub struct KubeletClientConfig {
    /// `--kubelet-certificate-authority`: verify kubelets' serving certificates with it.
    pub certificate_authority: Option<PathBuf>,
    /// `--kubelet-client-certificate` (with `client_key`).
    pub client_certificate: Option<PathBuf>,
    /// `--kubelet-client-key`.
    pub client_key: Option<PathBuf>,
}

/// A client of kubelet APIs.
#[derive(Debug, Clone)]
pub struct KubeletClient {
    tls: Arc<rustls::ClientConfig>,
}

fn pem_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem { path: path.to_owned(), message: e.to_string() }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io { path: path.to_owned(), source })
}

impl KubeletClient {
    /// A client with these settings.
    ///
    /// # Errors
    ///
    /// Unreadable or invalid certificate files.
    pub fn new(config: &KubeletClientConfig) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &config.certificate_authority {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                    roots.add(cert.map_err(|e| pem_err(ca, e))?).map_err(|e| pem_err(ca, e))?;
                }
                builder.with_root_certificates(roots)
            }
            None => builder.dangerous().with_custom_certificate_verifier(Arc::new(SignaturesOnly(provider))),
        };
        let tls = match (&config.client_certificate, &config.client_key) {
            (Some(cert), Some(key)) => {
                let chain: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&read(cert)?).collect();
                let chain = chain.map_err(|e| pem_err(cert, e))?;
                let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| pem_err(key, e))?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| TlsError::Config(e.to_string()))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsError::Config(
                    "--kubelet-client-certificate and --kubelet-client-key go together".into(),
                ));
            }
        };
        Ok(Self { tls: Arc::new(tls) })
    }

    /// GETs `path_and_query` from the kubelet of `node` (a Node object).
    pub(crate) async fn get(&self, node: &Value, path_and_query: &str) -> Result<Response<Incoming>, StatusError> {
        let name = node.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let (host, port) = endpoint(node)
            .ok_or_else(|| StatusError::service_unavailable(format!("node {name:?} reports no address")))?;
        let unreachable = |e: &dyn std::fmt::Display| {
            StatusError::service_unavailable(format!(
                "the kubelet of node {name:?} at {host}:{port} is unreachable: {e}"
            ))
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|e| unreachable(&e))?
            .map_err(|e| unreachable(&e))?;
        // Request frames are small separate writes: no Nagle delay behind delayed ACKs.
        let _ = tcp.set_nodelay(true);
        let server_name = ServerName::try_from(host.clone()).map_err(|e| unreachable(&e))?;
        let stream = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|e| unreachable(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::get(path_and_query)
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(StatusError::internal)?;
        sender.send_request(request).await.map_err(|e| unreachable(&e))
    }
}

/// The node's kubelet address and port.
fn endpoint(node: &Value) -> Option<(String, u16)> {
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array)?;
    let of = |kind: &str| {
        addresses
            .iter()
            .find(|a| a.get("type").and_then(Value::as_str) == Some(kind))
            .and_then(|a| a.get("address").and_then(Value::as_str))
            .filter(|a| !a.is_empty())
    };
    let host = ["InternalIP", "Hostname", "ExternalIP"].into_iter().find_map(of)?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|&p| p != 0)
        .unwrap_or(10250);
    Some((host.to_owned(), port))
}

/// Accepts any certificate but still checks the handshake's signatures (kube-apiserver's
/// behaviour without `--kubelet-certificate-authority`).
#[derive(Debug)]
struct SignaturesOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SignaturesOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn endpoints_prefer_internal_ip_and_the_reported_port() {
        let node = json!({"metadata": {"name": "n"}, "status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 41000}}}});
        assert_eq!(endpoint(&node), Some(("10.0.0.5".into(), 41000)));
        let bare = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(endpoint(&bare), Some(("n1".into(), 10250)));
        assert_eq!(endpoint(&json!({"status": {}})), None);
    }

    #[test]
    fn client_certificate_needs_its_key() {
        let config = KubeletClientConfig { client_certificate: Some("/x.crt".into()), ..Default::default() };
        assert!(matches!(KubeletClient::new(&config), Err(TlsError::Config(_))));
        assert!(KubeletClient::new(&KubeletClientConfig::default()).is_ok());
    }
}
