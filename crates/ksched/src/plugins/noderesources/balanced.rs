//! NodeResourcesBalancedAllocation: prefers nodes whose requested fractions of the
//! configured resources are close to each other (score = (1 − std) × 100). Uses plain
//! requests (no non-zero defaults) and skips pods that request none of the resources.

use std::sync::Arc;

use serde::Deserialize;

use super::scorer::{ResourceSpec, Scorer, Strategy, default_resources};
use crate::framework::{
    ClusterEventWithHint, CycleState, Plugin, PluginError, PluginHandle, PreScorePlugin, ScorePlugin, Snapshot, Status,
};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

/// `NodeResourcesBalancedAllocationArgs`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    #[serde(default)]
    resources: Vec<ResourceSpec>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// Scores resource balance.
#[derive(Debug, Clone)]
pub struct BalancedAllocation {
    scorer: Scorer,
}

/// The pod's requests per configured resource.
#[derive(Debug, Clone)]
struct PreScoreState(Arc<Vec<i64>>);

impl BalancedAllocation {
    fn new(args: Args) -> Result<Self, PluginError> {
        let mut resources = args.resources;
        if resources.is_empty() {
            resources = default_resources();
        }
        let mut seen = std::collections::BTreeSet::new();
        for r in &mut resources {
            if r.weight == 0 {
                r.weight = 1;
            }
            // Weights play no part in the standard deviation: upstream only accepts 1.
            if r.weight != 1 {
                return Err(PluginError::args(NAME, format!("resources[{}].weight: must be 1", r.name)));
            }
            if !seen.insert(r.name.clone()) {
                return Err(PluginError::args(NAME, format!("resources: duplicate name {:?}", r.name)));
            }
        }
        Ok(Self { scorer: Scorer::new(resources, Strategy::Balanced, true) })
    }
}

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        // Score only: never rejects a pod.
        Some(Vec::new())
    }
}

impl PreScorePlugin for BalancedAllocation {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        let requests = self.scorer.pod_requests(pod);
        // Best-effort pods would all pile onto the same "balanced" node (kubernetes#129138).
        if requests.iter().all(|r| *r == 0) {
            return Status::skip();
        }
        state.insert(PreScoreState(Arc::new(requests)));
        Status::success()
    }
}

impl ScorePlugin for BalancedAllocation {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let score = match state.get::<PreScoreState>() {
            Some(s) => self.scorer.score(node, &s.0),
            None => {
                let requests = self.scorer.pod_requests(pod);
                if requests.iter().all(|r| *r == 0) { 0 } else { self.scorer.score(node, &requests) }
            }
        };
        (score, Status::success())
    }
}

/// Builds the plugin from `NodeResourcesBalancedAllocationArgs` (`{"resources": [{name,
/// weight}]}`, default cpu and memory).
///
/// # Errors
/// Unknown fields, a weight other than 1, duplicate resources.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    Ok(PluginHandle::of(BalancedAllocation::new(args)?).pre_score().score().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn alloc_node(name: &str, allocatable: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "status": {"allocatable": allocatable}}))
    }

    fn requesting(name: &str, node: Option<&str>, reqs: &[Value]) -> Arc<PodInfo> {
        let containers: Vec<Value> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"name": format!("c{i}"), "resources": {"requests": r}}))
            .collect();
        pod(json!({"metadata": {"name": name}, "spec": {"nodeName": node, "containers": containers}}))
    }

    /// `None` when PreScore skips.
    fn scores(args: Value, p: &Arc<PodInfo>, nodes: Vec<NodeInfo>, existing: Vec<Arc<PodInfo>>) -> Option<Vec<i64>> {
        let h = factory(Some(&args)).unwrap();
        let snap = snapshot(nodes, existing);
        let mut state = CycleState::new();
        if h.pre_score.unwrap().pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap).is_skip()
        {
            return None;
        }
        let sc = h.score.unwrap();
        Some(snap.nodes().iter().map(|n| sc.score(&state, p, n).0).collect())
    }

    fn n(name: &str, cpu: &str, mem: &str) -> NodeInfo {
        alloc_node(name, json!({"cpu": cpu, "memory": mem, "example.com/gpu": "4"}))
    }

    #[test]
    fn two_resources() {
        let p = requesting(
            "p",
            None,
            &[json!({"cpu": "1000m", "memory": "2000"}), json!({"cpu": "2000m", "memory": "3000"})],
        );
        let nodes = || vec![n("n1", "4000m", "10000"), n("n2", "6000m", "10000")];
        // n1: 3000/4000 = 0.75, 5000/10000 = 0.5 → std 0.125 → 87.5 → 87.
        // n2: 0.5, 0.5 → std 0 → 100.
        assert_eq!(scores(json!({}), &p, nodes(), vec![]), Some(vec![87, 100]));
        // Existing 1000m / 1000 on n1: 4000/4000 = 1, 6000/10000 = 0.6 → std 0.2 → 80.
        let old = requesting("old", Some("n1"), &[json!({"cpu": "1000m", "memory": "1000"})]);
        assert_eq!(scores(json!({}), &p, nodes(), vec![old]), Some(vec![80, 100]));
        // Requests over capacity are capped at 1: 6000m/4000m → 1, 0.5 → 75; n2: 1, 0.5 → 75.
        let big = requesting("p", None, &[json!({"cpu": "6", "memory": "5000"})]);
        assert_eq!(scores(json!({}), &big, nodes(), vec![]), Some(vec![75, 75]));
    }

    #[test]
    fn plain_requests_and_best_effort() {
        // Best-effort pod: requests nothing of cpu/memory → skipped (no non-zero defaults).
        let be = requesting("p", None, &[json!({})]);
        assert_eq!(scores(json!({}), &be, vec![n("n1", "4", "10000")], vec![]), None);
        // A pod asking only for memory is scored; its cpu counts 0 (not 100m):
        // cpu 0/4000 = 0, memory 5000/10000 = 0.5 → std 0.25 → 75.
        let mem = requesting("p", None, &[json!({"memory": "5000"})]);
        assert_eq!(scores(json!({}), &mem, vec![n("n1", "4", "10000")], vec![]), Some(vec![75]));
        // A pod asking only for a resource outside the configured ones is best-effort here.
        let gpu = requesting("p", None, &[json!({"example.com/gpu": "1"})]);
        assert_eq!(scores(json!({}), &gpu, vec![n("n1", "4", "10000")], vec![]), None);
        // Zero-capacity node: no fractions → std 0 → 100 (upstream behaviour).
        let p = requesting("p", None, &[json!({"cpu": "1"})]);
        assert_eq!(scores(json!({}), &p, vec![alloc_node("z", json!({}))], vec![]), Some(vec![100]));
    }

    #[test]
    fn three_resources() {
        let args = json!({"resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1},
            {"name": "example.com/gpu", "weight": 1}]});
        let p = requesting("p", None, &[json!({"cpu": "3", "memory": "5000", "example.com/gpu": "2"})]);
        // 0.75, 0.5, 0.5: mean 0.5833, population std sqrt(0.041667/3) = 0.1179 → 88.2 → 88.
        assert_eq!(scores(args.clone(), &p, vec![n("n1", "4", "10000")], vec![]), Some(vec![88]));
        // Without a gpu request the gpu is left out: 0.75, 0.5 → 87.
        let p = requesting("p", None, &[json!({"cpu": "3", "memory": "5000"})]);
        assert_eq!(scores(args, &p, vec![n("n1", "4", "10000")], vec![]), Some(vec![87]));
    }

    #[test]
    fn args_validation() {
        assert!(factory(None).is_ok());
        assert!(factory(Some(&json!({"resources": [{"name": "cpu", "weight": 2}]}))).is_err());
        assert!(factory(Some(&json!({"resources": [{"name": "cpu"}, {"name": "cpu"}]}))).is_err());
        assert!(factory(Some(&json!({"resources": [{"name": "cpu"}], "x": 1}))).is_err());
    }
}
