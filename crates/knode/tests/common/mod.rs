//! A live kapiserver (embedded kstore) with an HTTP client, and polling helpers.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kapiserver::ApiServer;
use kwatch::http::Client;
use tokio_util::sync::CancellationToken;

pub struct Live {
    pub server: ApiServer,
    pub kubeconfig: PathBuf,
    pub client: Client,
    pub cancel: CancellationToken,
    pub dir: tempfile::TempDir,
}

impl Live {
    pub async fn start() -> Live {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let (server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
        let config = kwatch::http::Config::from_kubeconfig(&kubeconfig, None).unwrap();
        let client = Client::new(&config).unwrap();
        Live { server, kubeconfig, client, cancel, dir }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The real kubectl this machine has (1.33).
pub const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Runs the real kubectl against `live`; returns (success, stdout, stderr).
pub async fn kubectl(live: &Live, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&live.kubeconfig)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("kubectl finishes in time")
        .expect("kubectl runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
