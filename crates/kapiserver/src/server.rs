//! Configuration and start-up: TLS material, credentials, bootstrap objects, listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kstore::backend::DynBackend;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alloc::{AllocError, ServiceAllocator};
use crate::auth::{AuthError, Authenticator, User};
use crate::http::{self, Shared};
use crate::kubelet::{KubeletClient, KubeletClientConfig};
use crate::metrics::Metrics;
use crate::resources::{Registry, builtin};
use crate::rest::Api;
use crate::storage::Storage;
use crate::tls::{self, Pki, TlsError};

/// API server settings; flag names follow kube-apiserver's.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--bind-address`.
    pub bind_address: IpAddr,
    /// `--secure-port` (0 = any free port).
    pub secure_port: u16,
    /// Where generated certificates and the admin token live.
    pub data_dir: PathBuf,
    /// `--tls-cert-file` (with `tls_private_key_file`); generated when unset.
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-private-key-file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `--client-ca-file`; the generated CA when unset.
    pub client_ca_file: Option<PathBuf>,
    /// `--token-auth-file`.
    pub token_auth_file: Option<PathBuf>,
    /// `--service-cluster-ip-range`.
    pub service_cluster_ip_range: String,
    /// `--service-node-port-range`.
    pub service_node_port_range: String,
    /// `--advertise-address` (what `/api` and the `kubernetes` endpoints name).
    pub advertise_address: Option<IpAddr>,
    /// `--max-request-bytes`-like body limit (3 MiB, upstream's default).
    pub max_request_body_bytes: usize,
    /// `--request-timeout` for non-watch requests.
    pub request_timeout: Duration,
    /// Events kept per resource for watches resuming from a resourceVersion.
    pub watch_cache_size: usize,
    /// How the API server reaches kubelets (`pods/log`).
    pub kubelet: KubeletClientConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            secure_port: 6443,
            data_dir: PathBuf::from("./kapiserver-data"),
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            token_auth_file: None,
            service_cluster_ip_range: "10.96.0.0/12".into(),
            service_node_port_range: "30000-32767".into(),
            advertise_address: None,
            max_request_body_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            watch_cache_size: 1024,
            kubelet: KubeletClientConfig::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Certificates.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Credentials.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Service ranges.
    #[error(transparent)]
    Alloc(#[from] AllocError),
    /// The port could not be bound.
    #[error("binding {addr}: {source} (is another API server running?)")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing files under the data directory.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Creating the bootstrap objects failed.
    #[error("bootstrap: {0}")]
    Bootstrap(kapi::StatusError),
    /// Opening the in-memory store of [`ApiServer::start_in_memory`].
    #[error(transparent)]
    Store(#[from] kstore::StoreError),
}

impl Config {
    /// Checks the settings without side effects.
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.tls_cert_file.is_some() != self.tls_private_key_file.is_some() {
            return Err(ServerError::Config("--tls-cert-file and --tls-private-key-file go together".into()));
        }
        if self.max_request_body_bytes < 1024 {
            return Err(ServerError::Config("the request body limit must be at least 1 KiB".into()));
        }
        if self.watch_cache_size == 0 {
            return Err(ServerError::Config("--watch-cache-size must be positive".into()));
        }
        ServiceAllocator::new(&self.service_cluster_ip_range, &self.service_node_port_range)?;
        Ok(())
    }

    /// The address advertised to clients: `advertise_address`, else the bind address
    /// (loopback for the wildcard).
    pub fn advertised(&self) -> IpAddr {
        self.advertise_address.unwrap_or(match self.bind_address {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        })
    }

    /// Creates the CA and the serving certificate (for localhost, the `kubernetes` service
    /// names and address, and the advertised address) in the data directory unless they
    /// exist, as [`ApiServer::start`] does first. Installers call it to lay the
    /// certificates out before the server runs.
    ///
    /// # Errors
    /// A bad service range, or files that cannot be written.
    pub fn ensure_pki(&self) -> Result<Pki, ServerError> {
        std::fs::create_dir_all(&self.data_dir).map_err(io_err(&self.data_dir))?;
        let pki = Pki::under(&self.data_dir);
        let services = ServiceAllocator::new(&self.service_cluster_ip_range, &self.service_node_port_range)?;
        let mut hosts: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        hosts.push(self.advertised().to_string());
        hosts.push(services.first_ip().to_string());
        tls::ensure_generated(&pki, &hosts)?;
        Ok(pki)
    }
}

/// A running API server.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    ca_pem: String,
    admin_token: String,
    api: Api,
    task: JoinHandle<()>,
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::Io { path: path.to_owned(), source }
}

impl ApiServer {
    /// An API server for tests and local experiments: a single-member kstore held in
    /// memory, certificates under `dir/data`, an ephemeral port, and an admin kubeconfig
    /// written to `dir/kubeconfig` (returned with the server). `cancel` stops it.
    ///
    /// # Errors
    /// As [`ApiServer::start`] and [`ApiServer::write_kubeconfig`], or the store failed to open.
    pub async fn start_in_memory(
        dir: &std::path::Path,
        cancel: CancellationToken,
    ) -> Result<(Self, PathBuf), ServerError> {
        let store = kstore::Store::open(kstore::StoreConfig::single(1, None)).await?;
        let config = Config { data_dir: dir.join("data"), secure_port: 0, ..Config::default() };
        let backend = Arc::new(kstore::backend::EmbeddedBackend::new(Arc::new(store)));
        let server = Self::start(config, backend, cancel).await?;
        let kubeconfig = dir.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig)?;
        Ok((server, kubeconfig))
    }

    /// Starts serving `backend` with `config` until `cancel`.
    pub async fn start(config: Config, backend: DynBackend, cancel: CancellationToken) -> Result<Self, ServerError> {
        config.validate()?;
        let pki = config.ensure_pki()?;
        let advertise = config.advertised();
        let services = ServiceAllocator::new(&config.service_cluster_ip_range, &config.service_node_port_range)?;
        let (cert, key) = match (&config.tls_cert_file, &config.tls_private_key_file) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => (pki.cert.clone(), pki.key.clone()),
        };
        let client_ca = config.client_ca_file.clone().unwrap_or_else(|| pki.ca_cert.clone());
        let tls_config = tls::server_config(&cert, &key, Some(&client_ca))?;
        let ca_path = if config.tls_cert_file.is_some() { cert.clone() } else { pki.ca_cert.clone() };
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(io_err(&ca_path))?;

        let mut auth = Authenticator::new();
        if let Some(f) = &config.token_auth_file {
            auth.load_token_file(f)?;
        }
        let admin_token = admin_token(&config.data_dir)?;
        auth.add_token(
            admin_token.clone(),
            User { name: "kubernetes-admin".into(), uid: String::new(), groups: vec!["system:masters".into()] },
        );

        let addr = SocketAddr::new(config.bind_address, config.secure_port);
        let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;

        let registry = Registry::new(builtin());
        let kubelet = KubeletClient::new(&config.kubelet)?;
        let api = Api::new(Storage::new(backend), registry, services, config.watch_cache_size, cancel.child_token())
            .with_kubelet_client(kubelet);
        api.start_caches();
        crate::bootstrap::run(&api, advertise, addr.port()).await.map_err(ServerError::Bootstrap)?;
        let shared = Arc::new(Shared {
            api: api.clone(),
            auth,
            openapi: http::OpenApiDocs::default(),
            metrics: Metrics::new(),
            advertise: SocketAddr::new(advertise, addr.port()).to_string(),
            max_body: config.max_request_body_bytes,
            request_timeout: config.request_timeout,
            cancel: cancel.clone(),
        });
        let warm = Arc::clone(&shared);
        tokio::task::spawn_blocking(move || warm.openapi.warm(&warm.api));
        let task = tokio::spawn(http::serve(listener, tls_config, shared));
        tracing::info!(%addr, "kube-apiserver serving");
        Ok(Self { addr, ca_pem, admin_token, api, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://host:port` for clients.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { self.addr.ip() };
        format!("https://{}", SocketAddr::new(host, self.addr.port()))
    }

    /// The CA that signed the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The generated admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The REST layer, for in-process clients.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// An admin kubeconfig for this server.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kcluster\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    token: {}\ncontexts:\n- name: kcluster\n  context:\n    cluster: kcluster\n    user: admin\n    namespace: default\ncurrent-context: kcluster\n",
            self.url(),
            self.admin_token
        )
    }

    /// Writes the admin kubeconfig to `path` (mode 0600).
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<(), ServerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(io_err(path))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(path))?;
        }
        Ok(())
    }

    /// Waits until the server stops (after `cancel`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// The admin token, generated once per data directory.
fn admin_token(dir: &std::path::Path) -> Result<String, ServerError> {
    let path = dir.join("pki").join("admin.token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_owned();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&path, &token).map_err(io_err(&path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io_err(&path))?;
    }
    Ok(token)
}
