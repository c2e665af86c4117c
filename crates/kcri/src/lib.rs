//! A typed async client for the Kubernetes Container Runtime Interface (CRI v1,
//! `runtime.v1` as of Kubernetes 1.33), a gRPC server adaptor, and an in-memory fake runtime.
//!
//! The same code drives a fake or a real runtime through the [`RuntimeService`] and
//! [`ImageService`] traits:
//!
//! ```
//! use std::sync::Arc;
//! use kcri::fake::FakeRuntime;
//! use kcri::types::{ContainerConfig, ContainerMetadata, ContainerState, ImageSpec, PodSandboxConfig, PodSandboxMetadata};
//! use kcri::{ImageService, RuntimeService};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> kcri::Result<()> {
//! let fake = FakeRuntime::new();
//! let runtime: Arc<dyn RuntimeService> = Arc::new(fake.clone());
//! let images: Arc<dyn ImageService> = Arc::new(fake);
//!
//! let pod = PodSandboxConfig {
//!     metadata: PodSandboxMetadata { name: "web".into(), uid: "u1".into(), namespace: "default".into(), attempt: 0 },
//!     ..Default::default()
//! };
//! let sandbox = runtime.run_pod_sandbox(pod.clone(), String::new()).await?;
//! images.pull_image(ImageSpec::new("docker.io/library/nginx:1.27"), None, None).await?;
//! let config = ContainerConfig {
//!     metadata: ContainerMetadata { name: "nginx".into(), attempt: 0 },
//!     image: ImageSpec::new("docker.io/library/nginx:1.27"),
//!     ..Default::default()
//! };
//! let id = runtime.create_container(sandbox.clone(), config, pod).await?;
//! runtime.start_container(id.clone()).await?;
//! let status = runtime.container_status(id, false).await?.status;
//! assert_eq!(status.state, ContainerState::Running);
//!
//! let ip = runtime.pod_sandbox_status(sandbox, false).await?.status.ip().map(str::to_owned);
//! assert_eq!(ip.as_deref(), Some("10.88.0.2"));
//! # Ok(())
//! # }
//! ```
//!
//! Against a real runtime, connect a [`Client`] instead:
//! `Client::connect("unix:///run/containerd/containerd.sock").await?` (see
//! [`ClientBuilder`] for timeouts and retries). [`FakeRuntime::serve`](fake::FakeRuntime::serve)
//! puts the fake behind a socket so the client is tested end to end.
//!
//! Modules: [`types`] (domain types), [`fake`] (the fake runtime), [`server`] (serving any
//! implementation over gRPC). Generated protobuf types stay private.

mod client;
mod error;
pub mod fake;
mod proto;
pub mod server;
mod service;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;

pub use client::{CONTAINERD_ENDPOINT, Client, ClientBuilder, RetryPolicy};
pub use error::{Error, Result};
pub use service::{BoxFuture, EventStream, ImageService, RuntimeService};
