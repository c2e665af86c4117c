//! An in-process store served over gRPC on a loopback port, for the gRPC and etcdctl tests.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kstore::grpc::{GrpcError, Server};
use kstore::{Store, StoreConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running store and its gRPC server.
pub struct Served {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The store behind the server.
    pub store: Arc<Store>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), GrpcError>>,
}

/// Opens a single-member in-memory store and serves it on 127.0.0.1 (any free port);
/// `configure` may change the server's options (it gets the address it will serve on).
pub async fn serve_with(configure: impl FnOnce(Server, SocketAddr) -> Server) -> Served {
    let mut cfg = StoreConfig::single(1, None);
    cfg.min_lease_ttl = 1;
    let store = Arc::new(Store::open(cfg).await.expect("open store"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let shutdown = CancellationToken::new();
    let server = configure(Server::new(store.clone()), addr);
    let task = tokio::spawn(server.serve(listener, shutdown.clone()));
    Served { addr, store, shutdown, task }
}

/// [`serve_with`] with the default options.
pub async fn serve() -> Served {
    serve_with(|server, _| server).await
}

impl Served {
    /// `http://ADDR`, for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (it must stop promptly, even with streams open) and checks that it
    /// stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10 s of shutdown")
            .expect("server task");
        result.expect("server result");
    }
}
