//! The DNS server: UDP (and TCP, length-prefixed) on one address, answering from the
//! Services and EndpointSlices of shared informers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kcontroller::informers::Informers;
use kwatch::informer::SharedInformer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::{Directory, Resolver, ServiceRecord};

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding the address.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Building the informers.
    #[error("informers: {0}")]
    Informer(String),
}

/// Services and their slices, read from the informers' caches.
struct Informed {
    services: SharedInformer<Service>,
    slices: SharedInformer<EndpointSlice>,
}

impl Directory for Informed {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord> {
        let svc = self.services.store().get(&ObjectKey::namespaced(namespace, name))?;
        let spec = svc.spec.clone().unwrap_or_default();
        let headless = spec.cluster_ip.as_deref().is_none_or(|ip| ip == "None" || ip.is_empty());
        let cluster_ip = if headless { None } else { spec.cluster_ip.as_deref().and_then(|ip| ip.parse().ok()) };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let port = u16::try_from(p.port).ok()?;
                let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
                Some((p.name.clone().unwrap_or_default(), proto, port))
            })
            .collect();
        let mut endpoints: Vec<Ipv4Addr> = Vec::new();
        if headless {
            for slice in self.slices.store().namespace(namespace) {
                let owner = slice.metadata.labels.as_ref().and_then(|l| l.get("kubernetes.io/service-name"));
                if owner.map(String::as_str) != Some(name) || slice.address_type != "IPv4" {
                    continue;
                }
                for ep in &slice.endpoints {
                    // Ready unless said otherwise (the EndpointSlice convention).
                    if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                        continue;
                    }
                    endpoints.extend(ep.addresses.iter().filter_map(|a| a.parse::<Ipv4Addr>().ok()));
                }
            }
            endpoints.sort_unstable();
            endpoints.dedup();
        }
        let external_name =
            (spec.type_.as_deref() == Some("ExternalName")).then(|| spec.external_name.clone()).flatten();
        Some(ServiceRecord { cluster_ip, endpoints, ports, external_name })
    }
}

/// A running DNS server.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
}

impl DnsServer {
    /// Binds `addr` (UDP and TCP; port 0 picks one for both) and serves `zone` until
    /// `cancel` fires. The informers must be started by the caller (`informers.start`).
    ///
    /// # Errors
    /// The address cannot be bound, or the informers cannot be built.
    pub async fn start(
        addr: SocketAddr,
        zone: &str,
        informers: &Informers,
        cancel: CancellationToken,
    ) -> Result<Self, ServeError> {
        let services = informers.get::<Service>().map_err(|e| ServeError::Informer(e.to_string()))?;
        let slices = informers.get::<EndpointSlice>().map_err(|e| ServeError::Informer(e.to_string()))?;
        let dir = Arc::new(Informed { services, slices });
        let udp = UdpSocket::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
        let bound = udp.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
        let tcp = TcpListener::bind(bound).await.map_err(|source| ServeError::Bind { addr: bound, source })?;
        let resolver = Arc::new(Resolver::new(zone));
        tokio::spawn(serve_udp(udp, Arc::clone(&resolver), Arc::clone(&dir), cancel.clone()));
        tokio::spawn(serve_tcp(tcp, resolver, dir, cancel));
        Ok(Self { addr: bound })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn serve_udp(socket: UdpSocket, resolver: Arc<Resolver>, dir: Arc<Informed>, cancel: CancellationToken) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "dns: receive failed");
                    continue;
                }
            },
        };
        if let Some(resp) = resolver.answer_bytes(&buf[..n], &*dir) {
            if let Err(e) = socket.send_to(&resp, peer).await {
                tracing::debug!(error = %e, %peer, "dns: send failed");
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, resolver: Arc<Resolver>, dir: Arc<Informed>, cancel: CancellationToken) {
    loop {
        let (mut conn, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        let (resolver, dir, cancel) = (Arc::clone(&resolver), Arc::clone(&dir), cancel.clone());
        tokio::spawn(async move {
            // Each message is preceded by its length (RFC 1035 §4.2.2).
            loop {
                let len = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = conn.read_u16() => match r { Ok(l) => usize::from(l), Err(_) => return },
                };
                let mut msg = vec![0u8; len];
                if conn.read_exact(&mut msg).await.is_err() {
                    return;
                }
                let Some(resp) = resolver.answer_bytes(&msg, &*dir) else { return };
                let Ok(n) = u16::try_from(resp.len()) else { return };
                if conn.write_u16(n).await.is_err() || conn.write_all(&resp).await.is_err() {
                    return;
                }
            }
        });
    }
}
