//! A real containerd for tests (feature `testing`): started with its own root, state,
//! config and socket, with busybox and pause images built offline from `/bin/busybox` and
//! imported with `ctr`. Needs root, `containerd`, `ctr`, `runc` and `busybox-static`.
//!
//! [`Containerd::start`] leaves the CNI configuration empty: sandboxes use the host network
//! namespace. [`Containerd::start_isolated`] runs containerd in a network namespace of its
//! own (the test's "node") with a bridge CNI network, so pods get their own namespaces and
//! addresses while nothing changes in the host's namespace. `restrict_oom_score_adj` keeps runc working where lowering `oom_score_adj` is
//! not allowed (CI machines that are containers themselves).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

static NEXT_NETNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The busybox image (runs `/bin/sh`).
pub const BUSYBOX: &str = "kcri.test/busybox:1";
/// The sandbox (pause) image.
pub const PAUSE: &str = "kcri.test/pause:1";

/// Builds the OCI layout tarball holding both images.
const MK_OCI_IMAGES: &str = include_str!("testing/mk-oci-images.sh");

/// A containerd child process with its own root, state, config and socket.
#[derive(Debug)]
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    netns: Option<String>,
}

/// The pod network of [`Containerd::start_isolated`].
pub const POD_SUBNET: &str = "10.244.0.0/24";

fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} (is iproute2 installed?): {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Containerd {
    /// Starts containerd with a fresh root, state, config and socket under `/tmp`
    /// (`KCRI_KEEP=1` keeps them for debugging).
    ///
    /// # Panics
    /// When containerd cannot start or does not open its socket within 30 s.
    pub async fn start() -> Self {
        Self::launch(None).await
    }

    /// Starts containerd in a new network namespace (named after its directory, see
    /// [`netns`](Self::netns)) with a bridge CNI network on [`POD_SUBNET`]: the namespace
    /// plays the node, reaching its pods through the bridge. Removed again on [`stop`](Self::stop)
    /// or drop.
    ///
    /// # Panics
    /// As [`start`](Self::start); also when the namespace cannot be created (needs root and
    /// `ip`).
    pub async fn start_isolated() -> Self {
        let name =
            format!("kcri-{}-{}", std::process::id(), NEXT_NETNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        run("ip", &["netns", "add", &name]);
        run("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Self::launch(Some(name)).await
    }

    /// The network namespace containerd runs in ([`start_isolated`](Self::start_isolated)).
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    async fn launch(netns: Option<String>) -> Self {
        // Unix socket paths are limited to 108 bytes: keep the directory short.
        let mut dir = tempfile::Builder::new().prefix("kcri-cd").tempdir_in("/tmp").expect("tempdir");
        // KCRI_KEEP=1 leaves root, state and logs behind for debugging.
        dir.disable_cleanup(std::env::var_os("KCRI_KEEP").is_some());
        let d = dir.path();
        let socket = d.join("c.sock");
        std::fs::create_dir_all(d.join("cni")).expect("cni dir");
        if netns.is_some() {
            // The IPAM state stays in this directory, not in the host's /var/lib/cni.
            let conflist = format!(
                r#"{{"cniVersion": "0.4.0", "name": "kcri-test", "plugins": [{{"type": "bridge", "bridge": "kcri0",
"isGateway": true, "ipMasq": false, "hairpinMode": true, "ipam": {{"type": "host-local",
"ranges": [[{{"subnet": "{POD_SUBNET}"}}]], "routes": [{{"dst": "0.0.0.0/0"}}], "dataDir": "{ipam}"}}}}]}}"#,
                ipam = d.join("ipam").display(),
            );
            std::fs::write(d.join("cni").join("10-kcri-test.conflist"), conflist).expect("write CNI config");
        }
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{socket}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  # Sandboxes ask for oom_score_adj -998; CI machines that are containers themselves may
  # forbid lowering it, which runc reports only as "can't get final child's PID".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"#,
            root = d.join("root").display(),
            state = d.join("state").display(),
            socket = socket.display(),
            cni = d.join("cni").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("write config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("log file");
        let mut command = match &netns {
            // `nsenter` switches only the network namespace; `ip netns exec` would also
            // remount /sys, hiding the cgroup mounts runc needs.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/var/run/netns/{ns}")).arg("containerd");
                c
            }
            None => Command::new("containerd"),
        };
        let child = command
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::from(log.try_clone().expect("log fd")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start containerd (is the containerd package installed?): {e}"));
        let mut cd = Containerd { child, dir, socket, netns };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !cd.socket.exists() {
            if let Ok(Some(status)) = cd.child.try_wait() {
                panic!("containerd exited with {status} during start-up; log:\n{}", cd.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "containerd did not open its socket; log:\n{}",
                cd.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cd
    }

    /// The directory holding containerd's files (tests may put their own there).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The last 40 lines of containerd's log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path().join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Builds the busybox and pause images and imports them into the CRI namespace.
    ///
    /// # Panics
    /// When the images cannot be built or imported.
    pub async fn import_images(&self) {
        let tar = self.path().join("images.tar");
        let script = self.path().join("mk-oci-images.sh");
        std::fs::write(&script, MK_OCI_IMAGES).expect("write mk-oci-images.sh");
        let out = Command::new("bash").arg(&script).arg(&tar).output().await.expect("run mk-oci-images.sh");
        assert!(out.status.success(), "mk-oci-images.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(&tar)
            .output()
            .await
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr images import failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
    }

    /// containerd's CRI socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops and removes every pod sandbox (their containers, and the network namespaces
    /// CNI made for them), stops containerd and waits for it to exit; then kills whatever
    /// is left of its shims and containers (they outlive containerd by design).
    pub async fn stop(mut self) {
        let teardown = async {
            use crate::RuntimeService;
            let client = crate::Client::connect(format!("unix://{}", self.socket.display())).await.ok()?;
            for sandbox in client.list_pod_sandbox(Default::default()).await.ok()? {
                let _ = client.stop_pod_sandbox(sandbox.id.clone()).await;
                let _ = client.remove_pod_sandbox(sandbox.id).await;
            }
            Some(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), teardown).await;
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.cleanup();
    }

    fn cleanup(&mut self) {
        // A container's first process outlives its killed shim; killing it ends the
        // container's PID namespace, so the shim's children go first.
        let shims = std::process::Command::new("pgrep")
            .args(["-f", &format!("containerd-shim-runc-v2 .*-address {}", self.socket.display())])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for shim in shims.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let children = std::fs::read_to_string(format!("/proc/{shim}/task/{shim}/children")).unwrap_or_default();
            for pid in children.split_whitespace().chain([shim]) {
                let _ = std::process::Command::new("kill").args(["-9", pid]).output();
            }
        }
        if let Some(ns) = self.netns.take() {
            let _ = std::process::Command::new("ip").args(["netns", "delete", &ns]).output();
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.cleanup();
    }
}
