//! Kubeconfig files and in-cluster configuration: where the API server is and how to
//! authenticate (CA, bearer token or token file, client certificate).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML of the expected shape.
    #[error("parsing kubeconfig {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A context, cluster or user named in the file is missing.
    #[error("kubeconfig: {0}")]
    Missing(String),
    /// Embedded data is not base64.
    #[error("kubeconfig: {field} is not valid base64")]
    Base64 {
        /// The field.
        field: &'static str,
    },
    /// Not running in a pod (no service account or service host).
    #[error("not in a cluster: {0}")]
    NotInCluster(String),
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: Option<T>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
}

/// Everything needed to reach and authenticate to an API server.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `https://host:port` (no trailing slash).
    pub server: String,
    /// CA certificates (PEM) to trust; empty = the platform's roots are not used, so a
    /// server certificate can only be trusted through this or `insecure`.
    pub ca_pem: Vec<u8>,
    /// Skip server certificate verification (`insecure-skip-tls-verify`).
    pub insecure: bool,
    /// Name to verify the server certificate against, when not the URL's host.
    pub tls_server_name: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// Client certificate and key (PEM).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// Default namespace of the context.
    pub namespace: String,
}

fn read(path: &Path, base: &Path) -> Result<Vec<u8>, ConfigError> {
    let p = if path.is_absolute() { path.to_owned() } else { base.join(path) };
    std::fs::read(&p).map_err(|source| ConfigError::Read { path: p, source })
}

fn decode(data: &str, field: &'static str) -> Result<Vec<u8>, ConfigError> {
    B64.decode(data.trim()).map_err(|_| ConfigError::Base64 { field })
}

impl Config {
    /// Loads `path` with its current context (or `context` when given). Relative file paths
    /// in the kubeconfig are relative to its directory, as kubectl resolves them.
    pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let file: File = serde_yaml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let ctx_name = context.unwrap_or(&file.current_context);
        let ctx = file
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .and_then(|c| c.value.as_ref())
            .ok_or_else(|| ConfigError::Missing(format!("context {ctx_name:?} not found")))?;
        let cluster = file
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.value.as_ref())
            .ok_or_else(|| ConfigError::Missing(format!("cluster {:?} not found", ctx.cluster)))?;
        let default_user = User::default();
        let user =
            file.users.iter().find(|u| u.name == ctx.user).and_then(|u| u.value.as_ref()).unwrap_or(&default_user);
        let ca_pem = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
            (Some(d), _) => decode(d, "certificate-authority-data")?,
            (None, Some(p)) => read(p, base)?,
            (None, None) => Vec::new(),
        };
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(p)) => Some(String::from_utf8_lossy(&read(p, base)?).trim().to_owned()),
            (None, None) => None,
        };
        let cert = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(d), _) => Some(decode(d, "client-certificate-data")?),
            (None, Some(p)) => Some(read(p, base)?),
            (None, None) => None,
        };
        let key = match (&user.client_key_data, &user.client_key) {
            (Some(d), _) => Some(decode(d, "client-key-data")?),
            (None, Some(p)) => Some(read(p, base)?),
            (None, None) => None,
        };
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(ConfigError::Missing("client certificate and key must be given together".into())),
        };
        Ok(Config {
            server: cluster.server.trim_end_matches('/').to_owned(),
            ca_pem,
            insecure: cluster.insecure_skip_tls_verify,
            tls_server_name: cluster.tls_server_name.clone(),
            token,
            client_cert,
            namespace: ctx.namespace.clone().unwrap_or_else(|| "default".into()),
        })
    }

    /// The configuration of a pod: `KUBERNETES_SERVICE_HOST`/`PORT` and the mounted service
    /// account token, CA and namespace.
    pub fn in_cluster() -> Result<Config, ConfigError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST")
            .map_err(|_| ConfigError::NotInCluster("KUBERNETES_SERVICE_HOST is not set".into()))?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let dir = Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
        let token = std::fs::read_to_string(dir.join("token"))
            .map_err(|e| ConfigError::NotInCluster(format!("service account token: {e}")))?;
        let ca_pem = std::fs::read(dir.join("ca.crt"))
            .map_err(|e| ConfigError::NotInCluster(format!("service account CA: {e}")))?;
        let namespace = std::fs::read_to_string(dir.join("namespace")).unwrap_or_else(|_| "default".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Ok(Config {
            server: format!("https://{host}:{port}"),
            ca_pem,
            token: Some(token.trim().to_owned()),
            namespace: namespace.trim().to_owned(),
            ..Config::default()
        })
    }

    /// `$KUBECONFIG` (first entry), else `~/.kube/config`, else in-cluster.
    pub fn infer() -> Result<Config, ConfigError> {
        if let Some(first) = std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).next()) {
            return Config::from_kubeconfig(&first, None);
        }
        if let Some(home) = std::env::var_os("HOME") {
            let p = Path::new(&home).join(".kube").join("config");
            if p.exists() {
                return Config::from_kubeconfig(&p, None);
            }
        }
        Config::in_cluster()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_contexts_tokens_and_embedded_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "from-file\n").unwrap();
        let kc = dir.path().join("config");
        std::fs::write(
            &kc,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://127.0.0.1:6443/\n    certificate-authority-data: {}\n- name: b\n  cluster:\n    server: https://b:443\n    insecure-skip-tls-verify: true\nusers:\n- name: u1\n  user:\n    token: t1\n- name: u2\n  user:\n    tokenFile: tok\ncontexts:\n- name: one\n  context: {{cluster: a, user: u1, namespace: team}}\n- name: two\n  context: {{cluster: b, user: u2}}\ncurrent-context: one\n",
                B64.encode("PEM")
            ),
        )
        .unwrap();
        let one = Config::from_kubeconfig(&kc, None).unwrap();
        assert_eq!(one.server, "https://127.0.0.1:6443");
        assert_eq!(one.ca_pem, b"PEM");
        assert_eq!(one.token.as_deref(), Some("t1"));
        assert_eq!(one.namespace, "team");
        let two = Config::from_kubeconfig(&kc, Some("two")).unwrap();
        assert!(two.insecure);
        assert_eq!(two.token.as_deref(), Some("from-file"));
        assert_eq!(two.namespace, "default");
        assert!(matches!(Config::from_kubeconfig(&kc, Some("nope")), Err(ConfigError::Missing(_))));
    }
}
