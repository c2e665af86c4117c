//! The Kubernetes HTTP API as a source: kubeconfig and in-cluster configuration, an HTTPS
//! client (rustls; CA, bearer token or client certificate), and [`HttpListerWatcher`].

mod client;
mod kubeconfig;
mod source;

pub use client::{Client, ClientError};
pub use kubeconfig::{Config, ConfigError};
pub use source::HttpListerWatcher;
