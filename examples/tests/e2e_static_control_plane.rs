//! The control plane as static pods, as kubeadm runs it: `kcluster image` builds the
//! runtime image and `ctr` imports it, `kcluster control-plane` writes certificates,
//! kubeconfigs and manifests, and one `kubelet` on a real containerd (in a network namespace
//! of the test) starts kstore, kube-apiserver, kube-scheduler and kube-controller-manager
//! before any API server answers. The real kubectl then sees them as mirror pods, a
//! Deployment gets scheduled and run, and a killed API server is restarted by its kubelet.
//!
//! Needs root, containerd, runc, ctr, the CNI plugins, ldd, busybox-static and the real
//! kubectl; nothing outside the test's network namespace changes.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use kcri::testing::Containerd;

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const NODE: &str = "cp-1";
const COMPONENTS: [&str; 4] = ["kstore", "kube-apiserver", "kube-scheduler", "kube-controller-manager"];

struct Node {
    netns: String,
    kubeconfig: PathBuf,
}

impl Node {
    fn output(&self, program: &str, args: &[&str]) -> Output {
        std::process::Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn kubectl_output(&self, args: &[&str]) -> Output {
        let mut all = vec!["--kubeconfig", self.kubeconfig.to_str().unwrap(), "--request-timeout=5s"];
        all.extend_from_slice(args);
        self.output(KUBECTL, &all)
    }

    /// kubectl's output, or `None` when it failed (the API server may be restarting).
    fn kubectl(&self, args: &[&str]) -> Option<String> {
        let out = self.kubectl_output(args);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    #[track_caller]
    fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl_output(args);
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

#[track_caller]
fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn eventually<T>(secs: u64, what: &str, log: &Path, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!("timed out after {secs} s waiting for {what}; kubelet log:\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The pids of processes whose command line starts with `program` and mentions `needle`.
fn pids_of(program: &str, needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.first().is_some_and(|a| a == program) && args.iter().any(|a| a.contains(needle)) {
            pids.push(pid);
        }
    }
    pids
}

const SLEEPERS: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleepers"},
 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "sleepers"}},
  "template": {"metadata": {"labels": {"app": "sleepers"}},
   "spec": {"terminationGracePeriodSeconds": 1,
    "containers": [{"name": "sleep", "image": "kcri.test/busybox:1", "command": ["sleep", "3600"]}]}}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_runs_as_static_pods_of_a_kubelet_on_containerd() {
    let containerd = Containerd::start_isolated().await;
    containerd.import_images().await;
    let socket = containerd.socket().to_str().unwrap().to_owned();
    let dir = tempfile::Builder::new().prefix("kcp-").tempdir_in("/tmp").unwrap();
    let root = dir.path();
    let kcluster = env!("CARGO_BIN_EXE_kcluster");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kube-apiserver")).parent().unwrap().to_str().unwrap().to_owned();

    // The runtime image, imported as a user would.
    let image = root.join("runtime.tar");
    let said = run(kcluster, &["image", "--out", image.to_str().unwrap(), "--bin-dir", &bin_dir]);
    assert!(said.contains("kcluster.local/runtime:"), "{said}");
    run("ctr", &["-a", &socket, "-n", "k8s.io", "images", "import", image.to_str().unwrap()]);

    let manifests = root.join("manifests");
    let data = root.join("data");
    let said = run(
        kcluster,
        &[
            "control-plane",
            "--manifest-dir",
            manifests.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--node-name",
            NODE,
            "--bin-dir",
            &bin_dir,
        ],
    );
    assert!(said.contains("kubelet --node-name cp-1"), "{said}");
    for c in COMPONENTS {
        assert!(manifests.join(format!("{c}.yaml")).is_file(), "{c} manifest");
    }

    let netns = containerd.netns().unwrap().to_owned();
    let log = root.join("kubelet.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut kubelet = tokio::process::Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{netns}"))
        .arg(env!("CARGO_BIN_EXE_kubelet"))
        .args(["--node-name", NODE, "--node-ip", "127.0.0.1", "--file-check-frequency", "2s"])
        .arg("--pod-manifest-path")
        .arg(&manifests)
        .arg("--kubeconfig")
        .arg(data.join("kubelet.conf"))
        .arg("--container-runtime-endpoint")
        .arg(format!("unix://{socket}"))
        .arg("--root-dir")
        .arg(root.join("kubelet"))
        .arg("--pod-logs-dir")
        .arg(root.join("pods"))
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let node = Node { netns, kubeconfig: data.join("admin.conf") };
    // The kubelet starts the API server it then registers with.
    eventually(120, "node cp-1 Ready", &log, || {
        let ready =
            node.kubectl(&["get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])?;
        (ready == "True").then_some(())
    })
    .await;
    let mirrors = eventually(60, "four Running mirror pods in kube-system", &log, || {
        let out = node.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "pods",
            "-l",
            "tier=control-plane",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.spec.hostNetwork} {.metadata.annotations.kubernetes\\.io/config\\.mirror}{\"\\n\"}{end}",
        ])?;
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        (lines.len() == 4 && lines.iter().all(|l| l.split(' ').nth(1) == Some("Running"))).then_some(lines)
    })
    .await;
    eprintln!("mirror pods:\n{}", mirrors.join("\n"));
    for c in COMPONENTS {
        let line = mirrors
            .iter()
            .find(|l| l.starts_with(&format!("{c}-{NODE} ")))
            .unwrap_or_else(|| panic!("{c}: {mirrors:?}"));
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[2], "true", "{line}: host network");
        assert!(fields.get(3).is_some_and(|h| !h.is_empty()), "{line}: a mirror pod");
    }

    // The scheduler and the controller manager in their pods do their jobs.
    let path = root.join("sleepers.json");
    std::fs::write(&path, SLEEPERS).unwrap();
    node.kubectl_ok(&["apply", "-f", path.to_str().unwrap()]);
    let available = || {
        let n = node.kubectl(&["get", "deployment", "sleepers", "-o", "jsonpath={.status.availableReplicas}"])?;
        (n == "2").then_some(())
    };
    eventually(90, "2 available sleepers", &log, available).await;
    let on = node.kubectl_ok(&["get", "pods", "-l", "app=sleepers", "-o", "jsonpath={.items[*].spec.nodeName}"]);
    assert_eq!(on, format!("{NODE} {NODE}"));

    // Killing the API server's process: the kubelet restarts the container, and the API
    // answers again with everything kept in kstore.
    let needle = data.to_str().unwrap();
    let pids = pids_of("/kcluster/bin/kube-apiserver", needle);
    assert_eq!(pids.len(), 1, "one kube-apiserver process for this test: {pids:?}");
    eprintln!("killing kube-apiserver, pid {}", pids[0]);
    run("kill", &["-9", &pids[0].to_string()]);
    eventually(90, "kube-apiserver restarted by the kubelet", &log, || {
        let restarts = node.kubectl(&[
            "-n",
            "kube-system",
            "get",
            "pod",
            &format!("kube-apiserver-{NODE}"),
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ])?;
        (restarts.parse::<u32>().ok()? >= 1).then_some(())
    })
    .await;
    eventually(60, "the sleepers still available after the restart", &log, available).await;

    let _ = kubelet.start_kill();
    let _ = kubelet.wait().await;
    containerd.stop().await;
}
