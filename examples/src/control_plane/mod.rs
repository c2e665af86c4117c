//! The control plane as static pods of a kubelet, laid out as kubeadm does: certificates
//! and one kubeconfig per component in the data directory, one manifest per component in
//! the kubelet's `--pod-manifest-path`. The kubelet starts them before any API server
//! answers, then shows them as mirror pods in `kube-system`.
//!
//! ```no_run
//! use std::path::PathBuf;
//! use kcluster::control_plane::{ControlPlaneConfig, write};
//!
//! let config = ControlPlaneConfig {
//!     data_dir: PathBuf::from("/var/lib/kcluster"),
//!     manifest_dir: PathBuf::from("/etc/kubernetes/manifests"),
//!     node_name: "cp-1".into(),
//!     node_ip: None,
//!     port: 6443,
//!     image: kcluster::control_plane::default_image(),
//!     bin_dir: PathBuf::from("/usr/local/bin"),
//!     store_endpoints: Vec::new(),
//! };
//! let written = write(&config)?;
//! println!("kubelet --pod-manifest-path {} --kubeconfig {}", config.manifest_dir.display(),
//!     written.kubelet_kubeconfig.display());
//! # Ok::<(), kcluster::control_plane::ControlPlaneError>(())
//! ```
//!
//! The containers run the node's own binaries (mounted read-only from `bin_dir`) on the
//! small runtime image of [`image`], with host networking.

pub mod image;
pub mod manifests;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use base64::Engine;
use kapiserver::ServerError;
use kapiserver::tls::{self, TlsError};

/// What [`write()`] lays out.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Certificates, kubeconfigs and the store's data (absolute; mounted at the same path).
    pub data_dir: PathBuf,
    /// The kubelet's `--pod-manifest-path`.
    pub manifest_dir: PathBuf,
    /// The node the kubelet registers (names the mirror pods and the kubelet's identity).
    pub node_name: String,
    /// The node's address: the API server listens on all addresses and advertises this
    /// one. `None`: loopback only.
    pub node_ip: Option<Ipv4Addr>,
    /// The API server's HTTPS port.
    pub port: u16,
    /// The containers' image (see [`image`]).
    pub image: String,
    /// Directory holding `kstore-server`, `kube-apiserver`, `kube-scheduler` and
    /// `kube-controller-manager` (absolute).
    pub bin_dir: PathBuf,
    /// External etcd or kstore-server client URLs; empty: a kstore static pod.
    pub store_endpoints: Vec<String>,
}

impl ControlPlaneConfig {
    /// The address clients reach the API server at.
    pub fn advertise_address(&self) -> Ipv4Addr {
        self.node_ip.unwrap_or(Ipv4Addr::LOCALHOST)
    }

    /// `https://<advertise>:<port>`.
    pub fn server_url(&self) -> String {
        format!("https://{}:{}", self.advertise_address(), self.port)
    }

    /// The binaries the manifests run.
    pub fn binaries(&self) -> Vec<&'static str> {
        let mut b = vec!["kube-apiserver", "kube-scheduler", "kube-controller-manager"];
        if self.store_endpoints.is_empty() {
            b.insert(0, "kstore-server");
        }
        b
    }
}

/// The image reference the manifests use unless told otherwise.
pub fn default_image() -> String {
    format!("kcluster.local/runtime:{}", env!("CARGO_PKG_VERSION"))
}

/// Why the control plane could not be laid out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlPlaneError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A path that must be absolute (it is mounted into containers) is not.
    #[error("{what} must be an absolute path: {path}")]
    NotAbsolute {
        /// Which setting.
        what: &'static str,
        /// The path given.
        path: PathBuf,
    },
    /// A component binary is missing from the binaries directory.
    #[error("{0} not found (build the kcluster binaries, or point --bin-dir at them)")]
    MissingBinary(PathBuf),
    /// Certificates could not be issued.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The CA and serving certificate could not be made.
    #[error(transparent)]
    Pki(#[from] ServerError),
    /// A manifest could not be serialized.
    #[error("manifest {file}: {message}")]
    Manifest {
        /// File name.
        file: String,
        /// Cause.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ControlPlaneError + '_ {
    move |source| ControlPlaneError::Io { path: path.to_owned(), source }
}

/// What [`write()`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The manifests, in start order.
    pub manifests: Vec<PathBuf>,
    /// The cluster administrator's kubeconfig (`system:masters`).
    pub admin_kubeconfig: PathBuf,
    /// The kubelet's kubeconfig (`system:node:<node>`).
    pub kubelet_kubeconfig: PathBuf,
}

/// A kubeconfig for `server` authenticating with a client certificate.
fn kubeconfig(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str, user: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kcluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: {user}@kcluster\n  context:\n    cluster: kcluster\n    user: {user}\ncurrent-context: {user}@kcluster\n",
        ca = b64(ca_pem),
        cert = b64(cert_pem),
        key = b64(key_pem),
    )
}

/// Writes `contents` to `path` through a temporary file and a rename, so a reader (the
/// kubelet rescanning its manifests) never sees half a file.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), ControlPlaneError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A leading dot: the kubelet skips hidden files.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).map_err(io(&tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Lays out the control plane: the CA and serving certificate (kept when present), a
/// client certificate and kubeconfig for the administrator, the scheduler, the controller
/// manager and the kubelet, and the static pod manifests (replaced).
///
/// # Errors
/// Relative paths, a missing binary, or a file that cannot be written. Nothing is written
/// when the configuration is refused.
pub fn write(config: &ControlPlaneConfig) -> Result<Written, ControlPlaneError> {
    for (what, path) in [("the data directory", &config.data_dir), ("the binaries directory", &config.bin_dir)] {
        if !path.is_absolute() {
            return Err(ControlPlaneError::NotAbsolute { what, path: path.clone() });
        }
    }
    for b in config.binaries() {
        let path = config.bin_dir.join(b);
        if !path.is_file() {
            return Err(ControlPlaneError::MissingBinary(path));
        }
    }
    // The certificates the API server would make itself, made now so that every
    // component's kubeconfig can carry the CA.
    let api = kapiserver::Config {
        data_dir: config.data_dir.clone(),
        advertise_address: Some(IpAddr::V4(config.advertise_address())),
        ..kapiserver::Config::default()
    };
    let pki = api.ensure_pki()?;
    let ca_pem = std::fs::read_to_string(&pki.ca_cert).map_err(io(&pki.ca_cert))?;

    let node_user = format!("system:node:{}", config.node_name);
    let identities: [(&str, &str, &[&str]); 4] = [
        ("admin.conf", "kubernetes-admin", &["system:masters"]),
        ("scheduler.conf", "system:kube-scheduler", &[]),
        ("controller-manager.conf", "system:kube-controller-manager", &[]),
        ("kubelet.conf", &node_user, &["system:nodes"]),
    ];
    for (file, user, groups) in identities {
        let (cert, key) = tls::issue_client_cert(&pki, user, groups)?;
        let text = kubeconfig(&config.server_url(), &ca_pem, &cert, &key, user);
        write_atomic(&config.data_dir.join(file), text.as_bytes(), 0o600)?;
    }

    let mut written = Vec::new();
    for (file, pod) in manifests::render(config) {
        let yaml = serde_yaml::to_string(&pod)
            .map_err(|e| ControlPlaneError::Manifest { file: file.clone(), message: e.to_string() })?;
        let path = config.manifest_dir.join(&file);
        write_atomic(&path, yaml.as_bytes(), 0o644)?;
        written.push(path);
    }
    Ok(Written {
        manifests: written,
        admin_kubeconfig: config.data_dir.join("admin.conf"),
        kubelet_kubeconfig: config.data_dir.join("kubelet.conf"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(root: &Path) -> ControlPlaneConfig {
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        for b in ["kstore-server", "kube-apiserver", "kube-scheduler", "kube-controller-manager"] {
            std::fs::write(bin.join(b), b"").expect("binary");
        }
        ControlPlaneConfig {
            data_dir: root.join("data"),
            manifest_dir: root.join("manifests"),
            node_name: "cp-1".into(),
            node_ip: None,
            port: 6443,
            image: default_image(),
            bin_dir: bin,
            store_endpoints: Vec::new(),
        }
    }

    #[test]
    fn writes_pki_kubeconfigs_and_manifests_and_keeps_the_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = config(dir.path());
        let w = write(&c).expect("write");
        assert_eq!(w.manifests.len(), 4);
        let ca = std::fs::read(c.data_dir.join("pki/ca.crt")).expect("ca");
        for conf in ["admin.conf", "scheduler.conf", "controller-manager.conf", "kubelet.conf"] {
            let path = c.data_dir.join(conf);
            let kube = kwatch::http::Config::from_kubeconfig(&path, None).expect(conf);
            assert_eq!(kube.server, "https://127.0.0.1:6443", "{conf}");
        }
        write(&c).expect("again");
        assert_eq!(std::fs::read(c.data_dir.join("pki/ca.crt")).expect("ca"), ca, "the CA is kept");
        let leftovers: Vec<_> = std::fs::read_dir(&c.manifest_dir)
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn refuses_relative_paths_and_missing_binaries_before_writing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(dir.path());
        c.data_dir = PathBuf::from("relative");
        assert!(matches!(write(&c), Err(ControlPlaneError::NotAbsolute { .. })));
        let mut c = config(dir.path());
        std::fs::remove_file(c.bin_dir.join("kube-scheduler")).expect("rm");
        let err = write(&c).expect_err("missing");
        assert!(err.to_string().contains("kube-scheduler"), "{err}");
        assert!(!c.data_dir.exists() && !c.manifest_dir.exists(), "nothing written");
        // An external store needs no kstore-server.
        std::fs::remove_file(c.bin_dir.join("kstore-server")).expect("rm");
        std::fs::write(c.bin_dir.join("kube-scheduler"), b"").expect("binary");
        c.store_endpoints = vec!["http://10.0.0.5:2379".into()];
        assert_eq!(write(&c).expect("external store").manifests.len(), 3);
    }
}
