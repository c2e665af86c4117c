//! The Kubernetes HTTP API as a source: kubeconfig and in-cluster configuration, an HTTPS
//! client (rustls; CA, bearer token or client certificate), [`HttpListerWatcher`], and
//! [`Api`] for typed reads and writes.

mod api;
mod client;
mod kubeconfig;
mod source;

pub use api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
pub use client::{Client, ClientError};
pub use kubeconfig::{Config, ConfigError};
pub use source::HttpListerWatcher;
