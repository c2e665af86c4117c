//! A live kapiserver (embedded kstore) for integration tests, with an HTTP client, plus a
//! simulated kubelet that marks scheduled pods Running and Ready.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kapi::k8s::api::core::v1::{Pod, PodCondition, PodStatus};
use kapiserver::ApiServer;
use kwatch::http::{Api, Client, PostParams};
use kwatch::lister::ListParams;
use tokio_util::sync::CancellationToken;

pub struct Live {
    pub server: ApiServer,
    pub kubeconfig: PathBuf,
    pub client: Client,
    pub cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Live {
    pub async fn start() -> Live {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let (server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
        let config = kwatch::http::Config::from_kubeconfig(&kubeconfig, None).unwrap();
        let client = Client::new(&config).unwrap();
        Live { server, kubeconfig, client, cancel, _dir: dir }
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

/// A kubelet stand-in: every pod without a node is bound to `node`, gets an IP and, unless
/// `ready` says otherwise for it, becomes Running and Ready; pods being deleted are removed
/// at once (as a kubelet does after their containers stop).
pub async fn fake_kubelet(client: Client, node: &'static str, cancel: CancellationToken, ready: fn(&Pod) -> bool) {
    let pods: Api<Pod> = Api::all(client.clone());
    let mut ip = 1u32;
    while !cancel.is_cancelled() {
        if let Ok(list) = pods.list(&ListParams::default()).await {
            for pod in list.items {
                let ns = pod.metadata.namespace.clone().unwrap();
                let name = pod.metadata.name.clone().unwrap();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                if pod.metadata.deletion_timestamp.is_some() {
                    let _ = api.delete(&name, &kwatch::http::DeleteParams::default().grace_period(0)).await;
                    continue;
                }
                let status = pod.status.clone().unwrap_or_default();
                let want_ready = ready(&pod);
                let is_ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
                if status.pod_ip.is_some() && is_ready == want_ready {
                    continue;
                }
                let mut p = pod.clone();
                if p.spec.as_ref().and_then(|s| s.node_name.clone()).is_none() {
                    let binding = serde_json::json!({"apiVersion": "v1", "kind": "Binding",
                        "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
                    if api.create_subresource("binding", &name, &binding).await.is_err() {
                        continue;
                    }
                    p = match api.get(&name).await {
                        Ok(p) => p,
                        Err(_) => continue,
                    };
                }
                let now = kapi::k8s::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
                let pod_ip = status.pod_ip.clone().unwrap_or_else(|| {
                    ip += 1;
                    format!("10.244.{}.{}", ip / 250, ip % 250 + 1)
                });
                p.status = Some(PodStatus {
                    phase: Some("Running".into()),
                    pod_ip: Some(pod_ip.clone()),
                    pod_ips: Some(vec![kapi::k8s::api::core::v1::PodIP { ip: pod_ip }]),
                    host_ip: Some("192.168.0.10".into()),
                    start_time: Some(now.clone()),
                    conditions: Some(vec![PodCondition {
                        type_: "Ready".into(),
                        status: if want_ready { "True" } else { "False" }.into(),
                        last_transition_time: Some(now),
                        ..Default::default()
                    }]),
                    ..Default::default()
                });
                let _ = api.replace_status(&name, &p, &PostParams::default()).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn always_ready(_: &Pod) -> bool {
    true
}

/// Runs the real kubectl 1.`minor` against `live` (blocking); returns (exit code, stdout,
/// stderr).
pub fn kubectl(kubeconfig: &std::path::Path, minor: u32, args: &[&str]) -> (i32, String, String) {
    let bin = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"));
    assert!(bin.exists(), "{} is missing: these tests drive the real kubectl", bin.display());
    let out = std::process::Command::new(&bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(kubeconfig.with_file_name("kubectl-cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`kubectl`] that must succeed; returns stdout.
#[track_caller]
pub fn kubectl_ok(kubeconfig: &std::path::Path, minor: u32, args: &[&str]) -> String {
    let (code, out, err) = kubectl(kubeconfig, minor, args);
    assert_eq!(code, 0, "kubectl {} failed:\nstdout: {out}\nstderr: {err}", args.join(" "));
    out
}
