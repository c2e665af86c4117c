//! ImageLocality (Score): prefers nodes that already have the pod's images, weighting each
//! image by its size and by how widely it has spread (to avoid piling pods onto the few
//! nodes that have a large image).

use std::sync::Arc;

use crate::framework::{
    ClusterEventWithHint, CycleState, MAX_NODE_SCORE, Plugin, PluginError, PluginHandle, PreScorePlugin, ScorePlugin,
    Snapshot, Status,
};
use crate::types::{ImageState, NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this sum the score is 0.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container: at or above this sum the score is 100.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Scores image presence.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImageLocality;

/// The pod's normalized image names with how many nodes have each, and the cluster size,
/// computed in PreScore.
#[derive(Debug, Clone)]
struct PreScoreState(Arc<(Vec<(String, usize)>, usize)>);

/// Adds `:latest` when the name has no tag (the last `:` is not after the last `/`), as
/// node status reports tagged names.
pub(crate) fn normalized_image_name(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    let tagged = match (colon, slash) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if tagged { name.to_owned() } else { format!("{name}:latest") }
}

/// The pod's images: init containers, containers and image volumes, normalized.
fn pod_images(pod: &PodInfo) -> Vec<String> {
    let Some(spec) = pod.pod.spec.as_ref() else { return Vec::new() };
    let containers = spec.init_containers.iter().flatten().chain(&spec.containers);
    let volumes = spec.volumes.iter().flatten().filter_map(|v| v.image.as_ref()?.reference.as_deref());
    containers.map(|c| c.image.as_deref().unwrap_or("")).chain(volumes).map(normalized_image_name).collect()
}

/// The image size scaled by the fraction of nodes that have it.
fn scaled_image_score(state: &ImageState, num_nodes: usize, total_nodes: usize) -> i64 {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let scaled = (state.size as f64 * (num_nodes as f64 / total_nodes.max(1) as f64)) as i64;
    scaled
}

/// The sum clamped to [23 MiB, 1000 MiB × images] and scaled to 0..=100.
fn calculate_priority(sum: i64, num_images: usize) -> i64 {
    let max_threshold = MAX_CONTAINER_THRESHOLD.saturating_mul(i64::try_from(num_images).unwrap_or(i64::MAX));
    if max_threshold <= MIN_THRESHOLD {
        // No images: nothing can be local.
        return 0;
    }
    let sum = sum.clamp(MIN_THRESHOLD, max_threshold);
    let scaled =
        i128::from(MAX_NODE_SCORE) * i128::from(sum - MIN_THRESHOLD) / i128::from(max_threshold - MIN_THRESHOLD);
    i64::try_from(scaled).unwrap_or(MAX_NODE_SCORE)
}

fn score_node(node: &NodeInfo, images: &[(String, usize)], total_nodes: usize) -> i64 {
    if node.images.is_empty() {
        // Most nodes of a fresh or fake cluster report no images: no lookups.
        return calculate_priority(0, images.len());
    }
    let sum: i64 = images
        .iter()
        .filter_map(|(name, spread)| node.images.get(name).map(|s| scaled_image_score(s, *spread, total_nodes)))
        .sum();
    calculate_priority(sum, images.len())
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        // Score only: never rejects a pod.
        Some(Vec::new())
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], snapshot: &Snapshot) -> Status {
        let images: Vec<(String, usize)> = pod_images(pod)
            .into_iter()
            .map(|i| {
                let spread = snapshot.nodes_with_image(&i);
                (i, spread)
            })
            .collect();
        // No node has any of the images: every node would score 0, as without this plugin.
        if images.iter().all(|(_, spread)| *spread == 0) {
            return Status::skip();
        }
        // The spread counts every node in the cluster, not just the feasible ones.
        state.insert(PreScoreState(Arc::new((images, snapshot.len()))));
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        match state.get::<PreScoreState>() {
            Some(s) => (score_node(node, &s.0.0, s.0.1), Status::success()),
            None => (
                0,
                Status::error(format!(
                    "{NAME}: PreScore state missing (PreScore must run before Score) for {}",
                    pod.key
                )),
            ),
        }
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(ImageLocality).pre_score().score().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn image_node(name: &str, images: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "status": {"images": images}}))
    }

    /// Upstream's fixtures: node1 has 40, 300 and 2000 MB images, node2 250 and 10 MB.
    fn nodes() -> Vec<NodeInfo> {
        vec![
            image_node(
                "m1",
                json!([
                {"names": ["gcr.io/40:latest", "gcr.io/40:v1"], "sizeBytes": 40 * MB},
                {"names": ["gcr.io/300:latest", "gcr.io/300:v1"], "sizeBytes": 300 * MB},
                {"names": ["gcr.io/2000:latest"], "sizeBytes": 2000 * MB}]),
            ),
            image_node(
                "m2",
                json!([
                {"names": ["gcr.io/250:latest"], "sizeBytes": 250 * MB},
                {"names": ["gcr.io/10:latest", "gcr.io/10:v1"], "sizeBytes": 10 * MB}]),
            ),
        ]
    }

    fn with_images(images: &[&str]) -> Arc<PodInfo> {
        let c: Vec<Value> =
            images.iter().enumerate().map(|(i, im)| json!({"name": format!("c{i}"), "image": im})).collect();
        pod(json!({"metadata": {"name": "p"}, "spec": {"containers": c}}))
    }

    fn scores(p: &Arc<PodInfo>, nodes: Vec<NodeInfo>) -> Vec<i64> {
        let snap = snapshot(nodes, vec![]);
        let mut state = CycleState::new();
        let pre = ImageLocality.pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap);
        if pre.is_skip() {
            // The framework leaves the plugin out: every node gets 0 from it.
            return vec![0; snap.len()];
        }
        assert!(pre.is_success());
        snap.nodes().iter().map(|n| ImageLocality.score(&state, p, n).0).collect()
    }

    #[test]
    fn upstream_table() {
        // Each image is on 1 of 2 nodes: spread 1/2. Two containers: max 2000 MB.
        // m1: 40M/2 = 20M < 23M → 0. m2: 250M/2 = 125M → 100*(125-23)/(2000-23) = 5.
        assert_eq!(scores(&with_images(&["gcr.io/40", "gcr.io/250"]), nodes()), vec![0, 5]);
        // m1: (40M + 300M)/2 = 170M → 100*(170-23)/1977 = 7. m2: nothing → 0.
        assert_eq!(scores(&with_images(&["gcr.io/40", "gcr.io/300"]), nodes()), vec![7, 0]);
        // m1: 2000M/2 = 1000M → 100*977/1977 = 49. m2: 10M/2 → 0.
        assert_eq!(scores(&with_images(&["gcr.io/2000", "gcr.io/10"]), nodes()), vec![49, 0]);
        // A third node without images: spread 1/3. m1: 2000M/3 = 666.67M → 100*(666.67-23)/1977 = 32.
        let mut three = nodes();
        three.push(image_node("m3", json!([])));
        assert_eq!(scores(&with_images(&["gcr.io/2000", "gcr.io/10"]), three), vec![32, 0, 0]);
    }

    #[test]
    fn clamped_to_max_and_spread() {
        // One container, 2000M on every node (2 of 2 nodes have it): 2000M ≥ 1000M → 100.
        let mut ns = nodes();
        for n in &mut ns {
            Arc::make_mut(&mut n.images).insert("big:latest".into(), ImageState { size: 2000 * MB });
        }
        assert_eq!(scores(&with_images(&["big"]), ns), vec![100, 100]);
    }

    #[test]
    fn init_containers_and_tags() {
        // The init container's image counts, and so does the container count (2 → max 2000M).
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i", "image": "gcr.io/300:v1"}],
            "containers": [{"name": "c", "image": "gcr.io/2000"}]}}));
        // m1: (300M + 2000M)/2 = 1150M → 100*(1150-23)/1977 = 57.
        assert_eq!(scores(&p, nodes()), vec![57, 0]);
        // A tag that is not on the node does not match.
        assert_eq!(scores(&with_images(&["gcr.io/300:v2"]), nodes()), vec![0, 0]);
        // No node has the image: PreScore skips the plugin (every score would be 0).
        let snap = snapshot(nodes(), vec![]);
        let p = with_images(&["gcr.io/300:v2", "other"]);
        assert!(
            ImageLocality
                .pre_score(&mut CycleState::new(), &p, &crate::plugins::testing::refs(snap.nodes()), &snap)
                .is_skip()
        );
        // No containers at all (max threshold ≤ min): 0.
        assert_eq!(calculate_priority(0, 0), 0);
    }

    #[test]
    fn image_names() {
        assert_eq!(normalized_image_name("root"), "root:latest");
        assert_eq!(normalized_image_name("gcr.io:5000/root"), "gcr.io:5000/root:latest");
        assert_eq!(normalized_image_name("root:tag"), "root:tag");
        assert_eq!(normalized_image_name("gcr.io:5000/root:tag"), "gcr.io:5000/root:tag");
        let digest = "root@sha256:0123456789abcdef";
        assert_eq!(normalized_image_name(digest), digest);
    }
}
