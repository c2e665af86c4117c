//! Serving any [`RuntimeService`] + [`ImageService`] as a CRI v1 gRPC server on a unix
//! socket.
//!
//! This is how [`FakeRuntime`](crate::fake::FakeRuntime) is exercised through the real
//! [`Client`](crate::Client) code path, and how a runtime written in Rust can be offered
//! to kubelet or `crictl`. Fields of the wire messages that the domain types do not carry
//! (see [`crate::types`]) are dropped in both directions.

mod image;
mod runtime;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;

use crate::error::{Error, Result};
use crate::proto::v1::image_service_server::ImageServiceServer;
use crate::proto::v1::runtime_service_server::RuntimeServiceServer;
use crate::service::{ImageService, RuntimeService};

/// A running CRI server; see [`serve_unix`].
///
/// Dropping the handle aborts the server task; [`ServerHandle::shutdown`] stops it
/// gracefully (in-flight calls finish, streams end).
#[derive(Debug)]
#[must_use = "dropping the handle stops the server"]
pub struct ServerHandle {
    path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl ServerHandle {
    /// The socket path the server listens on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `unix://` endpoint to hand to [`Client::connect`](crate::Client::connect).
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Stops accepting calls, lets in-flight calls finish, and removes the socket file.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`] if the server failed while running.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            // The server may already have stopped on its own; then there is no receiver.
            let _ = tx.send(());
        }
        let result = match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::Transport(format!("server task failed: {e}")))?,
            None => Ok(()),
        };
        let _ = std::fs::remove_file(&self.path);
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `path` (removing a stale socket file first) and serves `runtime` and `images` on
/// it as the CRI `RuntimeService` and `ImageService`.
///
/// The socket accepts connections when this returns. Must be called within a tokio runtime.
///
/// # Errors
///
/// [`Error::Transport`] if the socket cannot be bound.
pub fn serve_unix(
    path: impl AsRef<Path>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<ServerHandle> {
    let path = path.as_ref().to_path_buf();
    // A socket file left by a crashed server would make bind fail with EADDRINUSE.
    if path.exists() {
        std::fs::remove_file(&path).map_err(|e| Error::Transport(format!("removing stale {}: {e}", path.display())))?;
    }
    let listener =
        UnixListener::bind(&path).map_err(|e| Error::Transport(format!("binding {}: {e}", path.display())))?;
    let (tx, rx) = oneshot::channel::<()>();
    let router = tonic::transport::Server::builder()
        .add_service(RuntimeServiceServer::new(runtime::RuntimeAdaptor(runtime)))
        .add_service(ImageServiceServer::new(image::ImageAdaptor(images)));
    let socket = path.display().to_string();
    let task = tokio::spawn(async move {
        tracing::debug!(socket = %socket, "CRI server listening");
        router
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                let _ = rx.await;
            })
            .await
            .map_err(|e| Error::Transport(format!("serving {socket}: {e}")))
    });
    Ok(ServerHandle { path, shutdown: Some(tx), task: Some(task) })
}
