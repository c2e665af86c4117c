//! Test support: an API server on an embedded store or a real etcd 3.4, and the real
//! kubectl binaries.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kapiserver::{ApiServer, Config};
use kstore::backend::{Backend, DynBackend, EmbeddedBackend, RemoteBackend};
use kstore::{Store, StoreConfig};
use tokio_util::sync::CancellationToken;

/// Where Debian's etcd and the kubectl builds live on the test machines.
pub const ETCD: &str = "/usr/bin/etcd";
/// kubectl binaries by minor version.
pub fn kubectl_path(minor: u32) -> PathBuf {
    let p = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"));
    assert!(p.exists(), "{} is missing: these tests drive the real kubectl 1.27 and 1.33", p.display());
    p
}

/// Which store the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// kstore in process.
    Embedded,
    /// Debian's etcd 3.4 through the remote backend.
    Etcd,
}

/// A running API server and what clients need to reach it.
pub struct TestServer {
    pub server: ApiServer,
    pub kubeconfig: PathBuf,
    pub dir: tempfile::TempDir,
    cancel: CancellationToken,
    _etcd: Option<Etcd>,
}

impl TestServer {
    pub async fn start(kind: StoreKind) -> TestServer {
        Self::start_with(kind, |_, c| c).await
    }

    /// Starts with a configuration adjusted by `configure` (given the test directory).
    pub async fn start_with(kind: StoreKind, configure: impl FnOnce(&Path, Config) -> Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (backend, etcd): (DynBackend, Option<Etcd>) = match kind {
            StoreKind::Embedded => {
                let store = Store::open(StoreConfig::single(1, None)).await.unwrap();
                (Arc::new(EmbeddedBackend::new(Arc::new(store))), None)
            }
            StoreKind::Etcd => {
                let mut etcd = Etcd::start();
                (Arc::new(etcd.backend().await), Some(etcd))
            }
        };
        let cancel = CancellationToken::new();
        let config =
            configure(dir.path(), Config { data_dir: dir.path().join("data"), secure_port: 0, ..Config::default() });
        let server = ApiServer::start(config, backend, cancel.clone()).await.unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        TestServer { server, kubeconfig, dir, cancel, _etcd: etcd }
    }

    /// A kubectl of `minor` version with a fresh discovery cache.
    pub fn kubectl(&self, minor: u32) -> Kubectl {
        let cache = self.dir.path().join(format!("cache-{minor}"));
        Kubectl {
            bin: kubectl_path(minor),
            kubeconfig: self.kubeconfig.clone(),
            cache,
            workdir: self.dir.path().to_owned(),
        }
    }
}

impl TestServer {
    /// A kube-rs client with the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        client_from(&self.kubeconfig).await
    }
}

/// A kube-rs client from a kubeconfig file.
pub async fn client_from(path: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Sends a raw request; returns the status and the whole body.
pub async fn send(
    client: &kube::Client,
    method: http::Method,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let req = http::Request::builder().method(method).uri(uri).header("content-type", content_type).body(body).unwrap();
    let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes().to_vec();
    (status, bytes)
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// One kubectl binary bound to a server.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
    pub workdir: PathBuf,
}

/// A finished kubectl run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Kubectl {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).args(args);
        c.current_dir(&self.workdir);
        c.env_remove("KUBECONFIG");
        c
    }

    /// Runs kubectl (blocking; call from `spawn_blocking` or a plain test thread).
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).stdin(Stdio::null()).output().unwrap())
    }

    /// Runs kubectl with `stdin` as input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// Runs kubectl and asserts success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            self.bin.display(),
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    /// Applies/creates from a manifest string via a file.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.workdir.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

/// A real etcd on loopback ports, killed when dropped.
pub struct Etcd {
    child: Child,
    pub endpoint: String,
    dir: tempfile::TempDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: install Debian's etcd-server (bash scripts/install-deps.sh installs what the tests need)"
        );
        let free_port = || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let client_url = format!("http://127.0.0.1:{}", free_port());
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new(ETCD)
            .args(["--name", "e1", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("e1={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Etcd { child, endpoint: client_url, dir }
    }

    pub async fn backend(&mut self) -> RemoteBackend {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(b) = RemoteBackend::connect(&self.endpoint).await {
                if b.current_revision().await.is_ok() {
                    return b;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "etcd exited with {status}: {}",
                    std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "etcd did not start at {}", self.endpoint);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
