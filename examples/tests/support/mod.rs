//! Helpers for tests that run the real binaries and the real `etcdctl`.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The real etcdctl from Debian's etcd-client package; tests fail (never skip) without it.
pub fn etcdctl_path() -> PathBuf {
    let p = PathBuf::from("/usr/bin/etcdctl");
    assert!(p.exists(), "/usr/bin/etcdctl is missing: run scripts/install-deps.sh (package etcd-client)");
    p
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs etcdctl (API v3) against `endpoints`.
pub fn etcdctl(endpoints: &str, args: &[&str]) -> Output {
    Command::new(etcdctl_path())
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--command-timeout=3s")
        .args(args)
        .output()
        .unwrap()
}

/// etcdctl's stdout, asserting success.
pub fn etcdctl_ok(endpoints: &str, args: &[&str]) -> String {
    let out = etcdctl(endpoints, args);
    assert!(out.status.success(), "etcdctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Retries `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "condition not met within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One kstore-server process.
pub struct Member {
    pub name: String,
    pub client: u16,
    pub peer: u16,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }

    pub fn start(&mut self, initial_cluster: &str, state: &str) {
        let log = std::fs::File::create(self.dir.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kstore-server"))
            .args(["--name", &self.name])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--listen-client-urls", &format!("http://127.0.0.1:{}", self.client)])
            .args(["--advertise-client-urls", &format!("http://127.0.0.1:{}", self.client)])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{}", self.peer)])
            .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{}", self.peer)])
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--heartbeat-interval", "20", "--election-timeout", "200"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` members with fresh ports under `root`.
pub fn members(root: &Path, n: usize) -> (Vec<Member>, String) {
    let members: Vec<Member> = (1..=n)
        .map(|i| Member {
            name: format!("m{i}"),
            client: free_port(),
            peer: free_port(),
            dir: root.join(format!("m{i}")),
            child: None,
        })
        .collect();
    let cluster =
        members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer)).collect::<Vec<_>>().join(",");
    (members, cluster)
}
