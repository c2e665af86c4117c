//! A Kubernetes API server as a library.
//!
//! kapiserver serves the Kubernetes REST and watch API over any [`kstore::backend::Backend`]:
//! the embedded kstore, a kstore cluster, or a real etcd. It is the only writer of the
//! store; the scheduler, controllers and kubelets see the cluster through it. The real
//! `kubectl` and client libraries such as kube-rs talk to it unchanged.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kapiserver::{ApiServer, Config};
//! use kstore::backend::EmbeddedBackend;
//! use kstore::store::{Store, StoreConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::open(StoreConfig::single(1, Some("./data/store".into()))).await?;
//! let backend = Arc::new(EmbeddedBackend::new(Arc::new(store)));
//! let cancel = CancellationToken::new();
//! let config = Config { data_dir: "./data".into(), secure_port: 6443, ..Config::default() };
//! let server = ApiServer::start(config, backend, cancel.clone()).await?;
//! server.write_kubeconfig("./data/kubeconfig".as_ref())?;
//! // kubectl --kubeconfig ./data/kubeconfig get namespaces
//! server.wait().await;
//! # Ok(())
//! # }
//! ```
//!
//! Layers, inside out: [`storage`] (objects under kapi's key layout, resourceVersion =
//! store revision), [`cache`] (one store watch per resource fans out to every API watch),
//! [`rest`] (upstream's create/update/patch/delete semantics, independent of HTTP) and
//! [`http`] (TLS, authentication, discovery, OpenAPI, content negotiation).

pub mod alloc;
pub mod apply;
pub mod auth;
mod bootstrap;
pub mod cache;
pub mod convert;
pub mod crd;
pub mod filter;
mod gofmt;
mod gotime;
pub mod http;
pub mod kinds;
pub mod kubelet;
pub mod meta;
pub mod metrics;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod rest;
mod server;
pub mod storage;
pub mod tls;

pub use server::{ApiServer, Config, ServerError};

/// `/version`: the Kubernetes version whose API this server implements.
pub fn version_info() -> serde_json::Value {
    serde_json::json!({
        "major": "1",
        "minor": "33",
        "gitVersion": concat!("v1.33.0-kcluster.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    })
}
