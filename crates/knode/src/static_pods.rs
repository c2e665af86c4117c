//! Static pods: manifests (YAML or JSON, one Pod per file) in a directory, run by the
//! kubelet without the API server, and shown in it as mirror pods.
//!
//! As upstream: the pod is named `<name>-<node>`, bound to the node, gets a UID derived from
//! its content and the node, and the annotations `kubernetes.io/config.source: file`,
//! `kubernetes.io/config.hash: <uid>`; the mirror pod carries
//! `kubernetes.io/config.mirror: <uid>`. The directory is rescanned every 20 s
//! (upstream `fileCheckFrequency`).
//!
//! ```
//! use knode::static_pods::parse_manifest;
//!
//! let pod = parse_manifest("apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\nspec: {containers: [{name: c, image: etcd}]}\n", "node-1")?;
//! assert_eq!(pod.metadata.name.as_deref(), Some("etcd-node-1"));
//! assert_eq!(pod.spec.and_then(|s| s.node_name).as_deref(), Some("node-1"));
//! # Ok::<(), knode::static_pods::StaticPodError>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::core::v1::Pod;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Annotation: where a pod comes from (`file` for static pods, `api` otherwise).
pub const CONFIG_SOURCE_ANNOTATION: &str = "kubernetes.io/config.source";
/// Annotation: the static pod's hash (its UID).
pub const CONFIG_HASH_ANNOTATION: &str = "kubernetes.io/config.hash";
/// Annotation: marks a mirror pod, with the static pod's hash.
pub const CONFIG_MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Errors reading manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StaticPodError {
    /// The manifest is not a valid Pod.
    #[error("invalid pod manifest: {0}")]
    Parse(String),
    /// The manifest lacks a name or containers.
    #[error("invalid pod manifest: {0}")]
    Invalid(&'static str),
}

/// Whether `pod` is a mirror pod (the API's view of a static pod).
pub fn is_mirror(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(CONFIG_MIRROR_ANNOTATION))
}

/// Whether `pod` is a static pod (read from a file).
pub fn is_static(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_SOURCE_ANNOTATION)).is_some_and(|s| s == "file")
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The static pod of manifest `text` on node `node`.
///
/// # Errors
///
/// Text that is not a Pod with a name and containers.
pub fn parse_manifest(text: &str, node: &str) -> Result<Pod, StaticPodError> {
    let mut pod: Pod = serde_yaml::from_str(text).map_err(|e| StaticPodError::Parse(e.to_string()))?;
    let name =
        pod.metadata.name.clone().filter(|n| !n.is_empty()).ok_or(StaticPodError::Invalid("no metadata.name"))?;
    let spec = pod.spec.as_mut().ok_or(StaticPodError::Invalid("no spec"))?;
    if spec.containers.is_empty() {
        return Err(StaticPodError::Invalid("no containers"));
    }
    spec.node_name = Some(node.to_owned());
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.termination_grace_period_seconds.get_or_insert(30);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        c.termination_message_path.get_or_insert_with(|| "/dev/termination-log".into());
        c.termination_message_policy.get_or_insert_with(|| "File".into());
    }
    pod.metadata.namespace.get_or_insert_with(|| "default".into());
    pod.metadata.name = Some(format!("{name}-{node}"));
    // The UID hashes the content and the node, so an edited manifest is a new pod.
    let content = serde_json::to_vec(&pod).unwrap_or_default();
    let h = fnv(&content) ^ fnv(node.as_bytes()).rotate_left(17);
    let uid = format!("{:016x}{:016x}", h, fnv(&h.to_le_bytes()));
    pod.metadata.uid = Some(uid.clone());
    let annotations = pod.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(CONFIG_SOURCE_ANNOTATION.into(), "file".into());
    annotations.insert(CONFIG_HASH_ANNOTATION.into(), uid);
    pod.status = None;
    Ok(pod)
}

/// The mirror pod of static pod `pod`: the same pod without UID, marked as a mirror.
pub fn mirror_of(pod: &Pod) -> Pod {
    let mut m = pod.clone();
    let uid = m.metadata.uid.take().unwrap_or_default();
    m.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(CONFIG_MIRROR_ANNOTATION.into(), uid);
    m.metadata.resource_version = None;
    m.status = None;
    m
}

/// Every valid manifest of `dir` (`.yaml`, `.yml`, `.json`; hidden files skipped). Invalid
/// ones are logged and skipped, as upstream.
pub(crate) fn load(dir: &Path, node: &str) -> Vec<Pod> {
    let mut files: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    files.sort();
    let mut pods = Vec::new();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let wanted = [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext));
        if name.starts_with('.') || !wanted {
            continue;
        }
        match std::fs::read_to_string(&path)
            .map_err(|e| StaticPodError::Parse(e.to_string()))
            .and_then(|t| parse_manifest(&t, node))
        {
            Ok(p) => pods.push(p),
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "skipping static pod manifest"),
        }
    }
    pods
}

/// Sends the full set of static pods every `period` until `cancel` fires.
pub(crate) async fn run(
    dir: std::path::PathBuf,
    node: String,
    period: Duration,
    tx: mpsc::Sender<Vec<Arc<Pod>>>,
    cancel: CancellationToken,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let pods = load(&dir, &node).into_iter().map(Arc::new).collect();
        if tx.send(pods).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str =
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: nginx\n";

    #[test]
    fn parse_and_mirror() {
        let p = parse_manifest(MANIFEST, "n1").expect("pod");
        assert!(is_static(&p) && !is_mirror(&p));
        assert_eq!(p.metadata.namespace.as_deref(), Some("default"));
        let uid = p.metadata.uid.clone().expect("uid");
        assert_eq!(parse_manifest(MANIFEST, "n1").expect("pod").metadata.uid, Some(uid.clone()), "stable");
        assert_ne!(parse_manifest(MANIFEST, "n2").expect("pod").metadata.uid, Some(uid.clone()), "per node");
        let edited = MANIFEST.replace("nginx", "nginx:2");
        assert_ne!(parse_manifest(&edited, "n1").expect("pod").metadata.uid, Some(uid.clone()), "per content");
        let m = mirror_of(&p);
        assert!(is_mirror(&m) && m.metadata.uid.is_none());
        assert_eq!(m.metadata.annotations.as_ref().map(|a| a[CONFIG_MIRROR_ANNOTATION].clone()), Some(uid));
        assert!(parse_manifest("kind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n", "n1").is_err());
        assert!(parse_manifest("not: [valid", "n1").is_err());
    }

    #[test]
    fn load_skips_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.yaml"), MANIFEST).expect("write");
        std::fs::write(dir.path().join("b.yaml"), "garbage: [").expect("write");
        std::fs::write(dir.path().join("c.txt"), MANIFEST).expect("write");
        std::fs::write(dir.path().join(".d.yaml"), MANIFEST).expect("write");
        assert_eq!(load(dir.path(), "n1").len(), 1);
    }
}
