//! End to end on a real node: the `kcluster` binary runs (`up --runtime containerd
//! --proxy-mode nftables`) inside the network namespace of a containerd started for the
//! test, and the real kubectl drives it. A Deployment of busybox httpd behind a ClusterIP
//! Service is reached from the node through kube-proxy's nftables rules and from a Job's pod
//! through cluster DNS; a static pod shows as a mirror pod; a pod writes into a local
//! PersistentVolume bound for it; then scaling, a rollout and its undo, garbage collection,
//! and a killed container's restart.
//!
//! Needs root, containerd, runc, ctr, the CNI plugins, nft, curl, busybox-static and the real
//! kubectl; nothing outside the test's network namespace changes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use kcri::testing::{BUSYBOX, Containerd};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const NODE_IP: &str = "10.203.0.1";

/// Commands run inside the node's network namespace.
struct Node {
    netns: String,
    kubeconfig: PathBuf,
}

impl Node {
    fn command(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new("nsenter");
        c.arg(format!("--net=/var/run/netns/{}", self.netns)).arg(program);
        c
    }

    fn output(&self, program: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut c = self.command(program);
        c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("{program}: {e}"));
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn kubectl_output(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = vec!["--kubeconfig", self.kubeconfig.to_str().unwrap()];
        all.extend_from_slice(args);
        self.output(KUBECTL, &all, stdin)
    }

    #[track_caller]
    fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_stdin(args, None)
    }

    #[track_caller]
    fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl_output(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn curl(&self, url: &str) -> Option<String> {
        let out = self.output("curl", &["-sf", "-m", "2", url], None);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

async fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[track_caller]
fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn deployment(image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: {image}
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -vv -p 8080 -h /www']
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
    )
}

const CLIENT_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata: {name: client}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: client
        image: kcri.test/busybox:1
        command: [sh, -c, 'cat /etc/resolv.conf && nslookup web.default.svc.cluster.local && ip=$(nslookup web.default.svc.cluster.local | awk "/^Address/ {a=\$2} END {print a}") && echo "service at $ip" && wget -qO- "http://$ip/"']
"#;

fn local_volume(path: &str) -> String {
    format!(
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: local}}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata: {{name: local-disk}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {{path: {path}}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [node-1]}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: writer}}
spec:
  restartPolicy: Never
  containers:
  - name: w
    image: kcri.test/busybox:1
    command: [sh, -c, 'echo written by $(hostname) > /data/hello']
    volumeMounts: [{{name: d, mountPath: /data}}]
  volumes:
  - name: d
    persistentVolumeClaim: {{claimName: data}}
"#
    )
}

const LIVENESS_POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: kcri.test/busybox:1
    command: [sh, -c, 'touch /tmp/healthy; sleep 3; rm /tmp/healthy; exec sleep 3600']
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 1}
"#;

/// Pods of the Deployment as (name, phase, podIP, image) lines.
fn web_pods(node: &Node) -> Vec<(String, String, String, String)> {
    let text = node.kubectl(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.podIP} {.spec.containers[0].image} {.metadata.deletionTimestamp}{"\n"}{end}"#,
    ]);
    text.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|w| w.len() == 4) // pods being deleted have a fifth field
        .map(|w| (w[0].clone(), w[1].clone(), w[2].clone(), w[3].clone()))
        .collect()
}

/// Starts `kcluster up` in the node's namespace on `dir/data` (logging to `dir/kcluster.log`)
/// and waits for its `ready` line.
async fn start_kcluster(netns: &str, socket: &str, dir: &std::path::Path) -> tokio::process::Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("kcluster.log")).unwrap();
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/var/run/netns/{netns}"))
        .arg(env!("CARGO_BIN_EXE_kcluster"))
        .args(["up", "--data-dir"])
        .arg(dir.join("data"))
        .args(["--runtime", "containerd", "--container-runtime-endpoint", &format!("unix://{socket}")])
        .arg("--pod-manifest-path")
        .arg(dir.join("manifests"))
        .args(["--node-ip", NODE_IP, "--proxy-mode", "nftables", "--cluster-cidr", kcri::testing::POD_SUBNET])
        .env("RUST_LOG", std::env::var("KCLUSTER_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "ready" {
                return true;
            }
        }
        false
    })
    .await;
    let log = std::fs::read_to_string(dir.join("kcluster.log")).unwrap_or_default();
    assert_eq!(ready.ok(), Some(true), "kcluster did not become ready:\n{log}");
    child
}

/// SIGTERM (as Ctrl-C) and a clean exit.
async fn stop_kcluster(mut child: tokio::process::Child, log: impl Fn() -> String) {
    let pid = child.id().unwrap();
    run("kill", &["-TERM", &pid.to_string()]);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    assert!(matches!(status, Ok(Ok(s)) if s.success()), "kcluster did not stop cleanly: {status:?}\n{}", log());
}

fn rollout(node: &Node) {
    node.kubectl(&["rollout", "status", "deployment/web", "--timeout=180s"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_service_dns_and_rollouts_on_containerd_with_nftables() {
    let cd = Containerd::start_isolated().await;
    cd.import_images().await;
    let socket = cd.socket().display().to_string();
    run("ctr", &["-a", &socket, "-n", "k8s.io", "images", "tag", BUSYBOX, "kcri.test/busybox:2"]);
    let netns = cd.netns().unwrap().to_string();
    // The node's own address (pods reach cluster DNS there) and a default route, as a real
    // node has: a veth pair whose both ends stay in the namespace.
    for args in [
        vec!["link", "add", "kc-node", "type", "veth", "peer", "name", "kc-peer"],
        vec!["addr", "add", &format!("{NODE_IP}/24"), "dev", "kc-node"],
        vec!["link", "set", "kc-node", "up"],
        vec!["link", "set", "kc-peer", "up"],
        vec!["route", "add", "default", "dev", "kc-node"],
    ] {
        let mut all = vec!["-n", netns.as_str()];
        all.extend(args);
        run("ip", &all);
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(
        manifests.join("static-web.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: static-web, namespace: default}}\nspec:\n  containers:\n  \
             - name: main\n    image: {BUSYBOX}\n    command: [sh, -c, 'echo static up; exec sleep 3600']\n"
        ),
    )
    .unwrap();
    let log_tail = || std::fs::read_to_string(dir.path().join("kcluster.log")).unwrap_or_default();
    let child = start_kcluster(&netns, &socket, dir.path()).await;
    let node = Node { netns: netns.clone(), kubeconfig: data.join("kubeconfig") };

    // 1. A Deployment and its Service; the rollout completes on containerd.
    node.kubectl_stdin(&["apply", "-f", "-"], Some(&deployment(BUSYBOX, 3)));
    node.kubectl_stdin(&["apply", "-f", "-"], Some(LIVENESS_POD));
    rollout(&node);
    let pods = web_pods(&node);
    assert_eq!(pods.len(), 3, "{pods:?}");
    for (name, phase, ip, _) in &pods {
        assert_eq!(phase, "Running", "{name}");
        assert!(ip.starts_with("10.244.0."), "{name} has pod IP {ip}");
    }
    let names: BTreeSet<String> = pods.iter().map(|p| p.0.clone()).collect();

    // The ClusterIP from the node: kube-proxy's rules spread connections over the pods.
    let cluster_ip = node.kubectl(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let url = format!("http://{cluster_ip}/");
    let mut seen = BTreeSet::new();
    eventually(60, "answers from two pods through the ClusterIP", || {
        if let Some(body) = node.curl(&url) {
            assert!(names.contains(&body), "{body:?} is not one of {names:?}");
            seen.insert(body);
        }
        (seen.len() >= 2).then_some(())
    })
    .await;
    let ruleset = node.output("nft", &["list", "table", "ip", "kube-proxy"], None);
    assert!(String::from_utf8_lossy(&ruleset.stdout).contains(&cluster_ip), "the service is in the nftables map");

    // From inside a pod, by DNS name: a Job's pod resolves the Service through kube-dns
    // (forwarded by kube-proxy to the DNS server of kcluster) and fetches a page.
    node.kubectl_stdin(&["apply", "-f", "-"], Some(CLIENT_JOB));
    let waited = node.kubectl_output(&["wait", "--for=condition=complete", "job/client", "--timeout=120s"], None);
    if !waited.status.success() {
        let pods = node.kubectl(&["get", "pods", "-o", "wide"]);
        let logs = node.kubectl_output(&["logs", "-l", "job-name=client", "--tail=50"], None);
        let ns_rules = node.output("nft", &["list", "ruleset"], None);
        panic!(
            "the client Job did not complete:\n{pods}\n{}{}\n{}\nkcluster log:\n{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr),
            String::from_utf8_lossy(&ns_rules.stdout),
            log_tail()
        );
    }
    let client_log = node.kubectl(&["logs", "job/client"]);
    let succeeded = node.kubectl(&["get", "job", "client", "-o", "jsonpath={.status.succeeded}"]);
    assert_eq!(succeeded, "1");
    assert!(client_log.contains(&format!("service at {cluster_ip}")), "{client_log}");
    assert!(names.iter().any(|n| client_log.contains(n.as_str())), "{client_log}");

    // The httpd output reaches kubectl logs. All pods' logs: `logs deployment/web` shows
    // one pod, which may not be one the requests went to.
    let logs = node.kubectl(&["logs", "-l", "app=web", "--tail=-1"]);
    assert!(logs.contains("response:200") || logs.contains("GET /"), "httpd logged nothing: {logs:?}");

    // 6. The static pod runs and shows as a mirror pod, with its logs.
    eventually(60, "the mirror pod Running", || {
        let phase = node.kubectl_output(&["get", "pod", "static-web-node-1", "-o", "jsonpath={.status.phase}"], None);
        (String::from_utf8_lossy(&phase.stdout) == "Running").then_some(())
    })
    .await;
    let mirror = node.kubectl(&["get", "pod", "static-web-node-1", "-o", "jsonpath={.metadata.annotations}"]);
    assert!(mirror.contains("kubernetes.io/config.mirror"), "{mirror}");
    eventually(30, "the static pod's log", || {
        node.kubectl(&["logs", "static-web-node-1"]).contains("static up").then_some(())
    })
    .await;

    // 2. Scale up and down.
    node.kubectl(&["scale", "deployment/web", "--replicas=5"]);
    rollout(&node);
    eventually(60, "5 running pods", || {
        (web_pods(&node).iter().filter(|p| p.1 == "Running").count() == 5).then_some(())
    })
    .await;
    node.kubectl(&["scale", "deployment/web", "--replicas=2"]);
    eventually(60, "2 pods", || (web_pods(&node).len() == 2).then_some(())).await;

    // A new image tag rolls out; undo brings the first one back.
    node.kubectl(&["set", "image", "deployment/web", "web=kcri.test/busybox:2"]);
    rollout(&node);
    eventually(60, "pods on the new tag", || {
        let p = web_pods(&node);
        (p.len() == 2 && p.iter().all(|p| p.3 == "kcri.test/busybox:2" && p.1 == "Running")).then_some(())
    })
    .await;
    node.kubectl(&["rollout", "undo", "deployment/web"]);
    rollout(&node);
    eventually(60, "pods back on the first tag", || {
        let p = web_pods(&node);
        (p.len() == 2 && p.iter().all(|p| p.3 == BUSYBOX && p.1 == "Running")).then_some(())
    })
    .await;
    let history = node.kubectl(&["rollout", "history", "deployment/web"]);
    assert!(history.contains('3'), "{history}");
    eventually(60, "the Service still answers", || node.curl(&url)).await;

    // 3. A killed container is restarted.
    let victim = web_pods(&node)[0].0.clone();
    let id = node.kubectl(&["get", "pod", &victim, "-o", "jsonpath={.status.containerStatuses[0].containerID}"]);
    let id = id.trim_start_matches("containerd://").to_string();
    run("ctr", &["-a", &socket, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", &id]);
    eventually(60, "a restart", || {
        let n = node.kubectl(&["get", "pod", &victim, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]);
        (n.trim().parse::<u32>().unwrap_or(0) >= 1).then_some(())
    })
    .await;

    // A failing liveness probe restarts its container.
    eventually(60, "a liveness restart", || {
        let n = node.kubectl(&["get", "pod", "liveness", "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]);
        (n.trim().parse::<u32>().unwrap_or(0) >= 1).then_some(())
    })
    .await;
    node.kubectl(&["delete", "pod", "liveness", "--wait=false"]);

    // A local PersistentVolume of a class that waits for its first consumer: the scheduler
    // picks the volume with the pod's node, the PV controller binds the claim, and what
    // the pod writes lands in the volume's directory on the node.
    let disk = dir.path().join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    node.kubectl_stdin(&["apply", "-f", "-"], Some(&local_volume(disk.to_str().unwrap())));
    eventually(60, "the writer pod Succeeded", || {
        let phase = node.kubectl(&["get", "pod", "writer", "-o", "jsonpath={.status.phase}"]);
        (phase == "Succeeded").then_some(())
    })
    .await;
    let claim = node.kubectl(&["get", "pvc", "data", "-o", "jsonpath={.status.phase} {.spec.volumeName}"]);
    assert_eq!(claim, "Bound local-disk");
    let written = std::fs::read_to_string(disk.join("hello")).unwrap();
    assert_eq!(written.trim(), "written by writer", "the pod wrote into the volume");
    node.kubectl(&["delete", "pod", "writer"]);

    // 5. A restart on the same data directory keeps the objects, and the kubelet takes the
    // running containers back instead of starting new ones.
    let before = web_pods(&node);
    let restarts =
        |name: &str| node.kubectl(&["get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"]);
    let counts: Vec<String> = before.iter().map(|p| restarts(&p.0)).collect();
    stop_kcluster(child, log_tail).await;
    let child = start_kcluster(&netns, &socket, dir.path()).await;
    let after = web_pods(&node);
    assert_eq!(
        before.iter().map(|p| (&p.0, &p.2)).collect::<Vec<_>>(),
        after.iter().map(|p| (&p.0, &p.2)).collect::<Vec<_>>(),
        "the same pods with the same IPs"
    );
    assert!(after.iter().all(|p| p.1 == "Running"), "{after:?}");
    assert_eq!(before.iter().map(|p| restarts(&p.0)).collect::<Vec<_>>(), counts, "no container was restarted");
    eventually(60, "the Service answering after the restart", || node.curl(&url)).await;

    // Deleting the Deployment removes its ReplicaSets and pods (garbage collection).
    node.kubectl(&["delete", "deployment", "web"]);
    node.kubectl(&["delete", "job", "client"]);
    eventually(90, "ReplicaSets and pods gone", || {
        let left = node.kubectl(&["get", "replicasets,pods", "-o", "name"]);
        let left: Vec<&str> = left.lines().filter(|l| !l.contains("static-web")).collect();
        left.is_empty().then_some(())
    })
    .await;

    // Ctrl-C equivalent: kcluster stops cleanly.
    stop_kcluster(child, log_tail).await;
    cd.stop().await;
}
