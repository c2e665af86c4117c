//! NodeResourcesFit: Filter checks the node has room for the pod's requests (and one more
//! pod); Score ranks nodes with the configured strategy (LeastAllocated by default).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;

use super::scorer::{
    MAX_CUSTOM_PRIORITY_SCORE, ResourceSpec, Scorer, Strategy, default_and_validate_weights, default_resources,
    is_extended_resource_name, is_scalar_resource_name,
};
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, Code, CycleState, EventResource, FilterPlugin, FixedStatus,
    Plugin, PluginError, PluginHandle, PreFilterPlugin, PreFilterResult, PreScorePlugin, QueueingHint, Reason,
    ScorePlugin, Snapshot, Status,
};
use crate::types::{NodeInfo, PodInfo, Resource};

/// The plugin's name.
pub const NAME: &str = "NodeResourcesFit";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ShapePoint {
    utilization: i64,
    score: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RatioParams {
    shape: Vec<ShapePoint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScoringStrategy {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    resources: Vec<ResourceSpec>,
    #[serde(default)]
    requested_to_capacity_ratio: Option<RatioParams>,
}

/// `NodeResourcesFitArgs` in the v1 JSON shape.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    ignored_resources: Vec<String>,
    #[serde(default)]
    ignored_resource_groups: Vec<String>,
    #[serde(default)]
    scoring_strategy: Option<ScoringStrategy>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// Checks and scores node resources.
#[derive(Debug, Clone)]
pub struct Fit {
    ignored_resources: BTreeSet<String>,
    ignored_groups: BTreeSet<String>,
    scorer: Scorer,
}

/// The pod's requests, computed in PreFilter.
#[derive(Debug, Clone)]
struct PreFilterState(Arc<Resource>);

/// The pod's requests per scored resource, computed in PreScore.
#[derive(Debug, Clone)]
struct PreScoreState(Arc<Vec<i64>>);

fn shape_from(params: Option<RatioParams>) -> Result<Vec<(i64, i64)>, PluginError> {
    let err = |m: &str| PluginError::args(NAME, format!("scoringStrategy.requestedToCapacityRatio.shape: {m}"));
    let shape = params.ok_or_else(|| err("required for RequestedToCapacityRatio"))?.shape;
    if shape.is_empty() {
        return Err(err("at least one point must be specified"));
    }
    for (i, p) in shape.iter().enumerate() {
        if !(0..=100).contains(&p.utilization) {
            return Err(err("utilization values must be in 0..=100"));
        }
        if i > 0 && shape[i - 1].utilization >= p.utilization {
            return Err(err("utilization values must be sorted in increasing order"));
        }
        if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&p.score) {
            return Err(err("score values must be in 0..=10"));
        }
    }
    // Points are given on 0..=10; the scheduler's scores are 0..=100.
    let factor = crate::framework::MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE;
    Ok(shape.iter().map(|p| (p.utilization, p.score * factor)).collect())
}

impl Fit {
    fn new(args: Args) -> Result<Self, PluginError> {
        for g in &args.ignored_resource_groups {
            if g.contains('/') {
                return Err(PluginError::args(NAME, format!("ignoredResourceGroups: {g:?} can't contain '/'")));
            }
        }
        let (strategy, mut resources) = match args.scoring_strategy {
            None => (Strategy::LeastAllocated, default_resources()),
            Some(s) => {
                let strategy = match s.kind.as_str() {
                    "LeastAllocated" => Strategy::LeastAllocated,
                    "MostAllocated" => Strategy::MostAllocated,
                    "RequestedToCapacityRatio" => {
                        Strategy::RequestedToCapacityRatio(shape_from(s.requested_to_capacity_ratio)?)
                    }
                    other => {
                        return Err(PluginError::args(NAME, format!("scoring strategy {other:?} is not supported")));
                    }
                };
                (strategy, if s.resources.is_empty() { default_resources() } else { s.resources })
            }
        };
        default_and_validate_weights(NAME, &mut resources)?;
        Ok(Self {
            ignored_resources: args.ignored_resources.into_iter().collect(),
            ignored_groups: args.ignored_resource_groups.into_iter().collect(),
            scorer: Scorer::new(resources, strategy, false),
        })
    }
}

/// Why the pod does not fit: the standard resources short (bits of [`Shortfall::standard`])
/// and the extended ones.
#[derive(Debug, Default)]
struct Shortfall {
    /// `TOO_MANY_PODS | CPU | MEMORY | EPHEMERAL` as set.
    standard: usize,
    /// `Insufficient <name>` for extended and hugepage resources.
    extended: Vec<Reason>,
}

const TOO_MANY_PODS: usize = 1;
const CPU: usize = 2;
const MEMORY: usize = 4;
const EPHEMERAL: usize = 8;

const R_PODS: Reason = Reason::Borrowed("Too many pods");
const R_CPU: Reason = Reason::Borrowed("Insufficient cpu");
const R_MEMORY: Reason = Reason::Borrowed("Insufficient memory");
const R_EPHEMERAL: Reason = Reason::Borrowed("Insufficient ephemeral-storage");

const fn rejection(reasons: &'static [Reason]) -> FixedStatus {
    FixedStatus::new(Code::Unschedulable, reasons, NAME)
}

/// The statuses for each set of standard resources short, by [`Shortfall::standard`]
/// (reasons in upstream's order): a node that is full is rejected without allocating.
static STANDARD_REJECTIONS: [FixedStatus; 16] = [
    rejection(&[]),
    rejection(&[R_PODS]),
    rejection(&[R_CPU]),
    rejection(&[R_PODS, R_CPU]),
    rejection(&[R_MEMORY]),
    rejection(&[R_PODS, R_MEMORY]),
    rejection(&[R_CPU, R_MEMORY]),
    rejection(&[R_PODS, R_CPU, R_MEMORY]),
    rejection(&[R_EPHEMERAL]),
    rejection(&[R_PODS, R_EPHEMERAL]),
    rejection(&[R_CPU, R_EPHEMERAL]),
    rejection(&[R_PODS, R_CPU, R_EPHEMERAL]),
    rejection(&[R_MEMORY, R_EPHEMERAL]),
    rejection(&[R_PODS, R_MEMORY, R_EPHEMERAL]),
    rejection(&[R_CPU, R_MEMORY, R_EPHEMERAL]),
    rejection(&[R_PODS, R_CPU, R_MEMORY, R_EPHEMERAL]),
];

impl Shortfall {
    fn is_empty(&self) -> bool {
        self.standard == 0 && self.extended.is_empty()
    }

    /// The Filter status: success, a fixed rejection, or one with the extended reasons.
    fn into_status(self) -> Status {
        if self.is_empty() {
            return Status::success();
        }
        let fixed = &STANDARD_REJECTIONS[self.standard & 15];
        if self.extended.is_empty() {
            return Status::fixed(fixed);
        }
        let mut reasons = Status::fixed(fixed).reasons().to_vec();
        reasons.extend(self.extended);
        Status::from_reasons(Code::Unschedulable, reasons)
    }
}

/// Why the pod does not fit, per insufficient resource (upstream `fitsRequest`).
/// `requested`/`pod_count` describe what the node already runs.
fn insufficient_resources(
    pod: &Resource,
    allocatable: &Resource,
    requested: &Resource,
    pod_count: usize,
    ignored: &BTreeSet<String>,
    ignored_groups: &BTreeSet<String>,
) -> Shortfall {
    let mut short = Shortfall::default();
    if i64::try_from(pod_count).unwrap_or(i64::MAX).saturating_add(1) > allocatable.allowed_pods {
        short.standard |= TOO_MANY_PODS;
    }
    let scalars = || pod.scalar.iter().filter(|(n, q)| **q > 0 && is_scalar_resource_name(n));
    if pod.milli_cpu == 0 && pod.memory == 0 && pod.ephemeral_storage == 0 && scalars().next().is_none() {
        return short;
    }
    let lacks = |want: i64, alloc: i64, used: i64| want > 0 && want > alloc.saturating_sub(used);
    if lacks(pod.milli_cpu, allocatable.milli_cpu, requested.milli_cpu) {
        short.standard |= CPU;
    }
    if lacks(pod.memory, allocatable.memory, requested.memory) {
        short.standard |= MEMORY;
    }
    if lacks(pod.ephemeral_storage, allocatable.ephemeral_storage, requested.ephemeral_storage) {
        short.standard |= EPHEMERAL;
    }
    for (name, want) in scalars() {
        // Only extended resources can be ignored; the group is the part before the '/'.
        if is_extended_resource_name(name) {
            let group = name.split('/').next().unwrap_or("");
            if ignored.contains(name) || ignored_groups.contains(group) {
                continue;
            }
        }
        if lacks(*want, allocatable.get(name), requested.get(name)) {
            short.extended.push(Reason::Owned(format!("Insufficient {name}")));
        }
    }
    short
}

/// Whether any resource the pod asks for (or the pod count) grew between two versions of a
/// node.
fn requested_resources_increased(pod: &Resource, old: &Resource, new: &Resource) -> bool {
    if new.allowed_pods > old.allowed_pods {
        return true;
    }
    (pod.milli_cpu > 0 && new.milli_cpu > old.milli_cpu)
        || (pod.memory > 0 && new.memory > old.memory)
        || (pod.ephemeral_storage > 0 && new.ephemeral_storage > old.ephemeral_storage)
        || pod.scalar.iter().any(|(n, q)| *q > 0 && new.get(n) > old.get(n))
}

/// Node added or its allocatable changed: queue if the pod fits the (empty) node and, for
/// updates, something it needs grew.
fn node_change_hint(pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    let Some(ClusterObject::Node(new)) = new else { return QueueingHint::Queue };
    let none = BTreeSet::new();
    let fits_empty =
        insufficient_resources(&pod.requests, &new.allocatable, &Resource::default(), 0, &none, &none).is_empty();
    if !fits_empty {
        return QueueingHint::Skip;
    }
    match old {
        Some(ClusterObject::Node(old))
            if !requested_resources_increased(&pod.requests, &old.allocatable, &new.allocatable) =>
        {
            QueueingHint::Skip
        }
        _ => QueueingHint::Queue,
    }
}

/// Pod deleted or scaled down: queue when it may have freed room for `pod`.
fn pod_change_hint(pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>) -> QueueingHint {
    match (old, new) {
        (Some(ClusterObject::Pod(deleted)), None) => {
            let nominated = deleted
                .pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.as_deref())
                .is_some_and(|n| !n.is_empty());
            if deleted.node_name.is_some() || nominated { QueueingHint::Queue } else { QueueingHint::Skip }
        }
        (Some(ClusterObject::Pod(before)), Some(ClusterObject::Pod(after))) => {
            if after.uid == pod.uid {
                return QueueingHint::Queue;
            }
            if after.node_name.is_none() {
                return QueueingHint::Skip;
            }
            let (b, a, want) = (&before.requests, &after.requests, &pod.requests);
            let freed = (want.milli_cpu > 0 && b.milli_cpu > a.milli_cpu)
                || (want.memory > 0 && b.memory > a.memory)
                || (want.ephemeral_storage > 0 && b.ephemeral_storage > a.ephemeral_storage)
                || want.scalar.iter().any(|(n, q)| *q > 0 && is_scalar_resource_name(n) && b.get(n) > a.get(n));
            if freed { QueueingHint::Queue } else { QueueingHint::Skip }
        }
        _ => QueueingHint::Queue,
    }
}

impl Plugin for Fit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        let pod_actions = ActionType::DELETE.or(ActionType::UPDATE_POD_SCALE_DOWN);
        Some(vec![
            ClusterEventWithHint::with_hint(EventResource::AssignedPod, pod_actions, pod_change_hint),
            // A deleted nominated pod releases its reservation; the pod's own resize too.
            ClusterEventWithHint::with_hint(EventResource::UnscheduledPod, pod_actions, pod_change_hint),
            ClusterEventWithHint::with_hint(
                EventResource::Node,
                ActionType::ADD.or(ActionType::UPDATE_NODE_ALLOCATABLE),
                node_change_hint,
            ),
        ])
    }
}

impl PreFilterPlugin for Fit {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, _snapshot: &Snapshot) -> (PreFilterResult, Status) {
        state.insert(PreFilterState(Arc::new(pod.requests.clone())));
        (PreFilterResult::default(), Status::success())
    }
}

impl FilterPlugin for Fit {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let requests = state.get::<PreFilterState>().map_or(&pod.requests, |s| &*s.0);
        insufficient_resources(
            requests,
            &node.allocatable,
            &node.requested,
            node.pods.len(),
            &self.ignored_resources,
            &self.ignored_groups,
        )
        .into_status()
    }
}

impl PreScorePlugin for Fit {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        state.insert(PreScoreState(Arc::new(self.scorer.pod_requests(pod))));
        Status::success()
    }
}

impl ScorePlugin for Fit {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let score = match state.get::<PreScoreState>() {
            Some(s) => self.scorer.score(node, &s.0),
            None => self.scorer.score(node, &self.scorer.pod_requests(pod)),
        };
        (score, Status::success())
    }
}

/// Builds the plugin from `NodeResourcesFitArgs`: `ignoredResources`,
/// `ignoredResourceGroups`, `scoringStrategy` (`type` LeastAllocated | MostAllocated |
/// RequestedToCapacityRatio, `resources` [{name, weight}], `requestedToCapacityRatio.shape`
/// [{utilization, score}]).
///
/// # Errors
/// Unknown fields, unsupported strategy, invalid weights or shape.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    Ok(PluginHandle::of(Fit::new(args)?).pre_filter().filter().pre_score().score().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn alloc_node(name: &str, allocatable: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name}, "status": {"allocatable": allocatable}}))
    }

    /// A pod whose containers request `reqs` (one container each); `{}` = no requests.
    fn requesting(name: &str, node: Option<&str>, reqs: &[Value]) -> Arc<PodInfo> {
        let containers: Vec<Value> = reqs
            .iter()
            .enumerate()
            .map(|(i, r)| json!({"name": format!("c{i}"), "resources": {"requests": r}}))
            .collect();
        pod(json!({"metadata": {"name": name, "uid": name}, "spec": {"nodeName": node, "containers": containers}}))
    }

    fn filter_with(args: Value, p: &Arc<PodInfo>, n: NodeInfo, existing: Vec<Arc<PodInfo>>) -> Status {
        let h = factory(Some(&args)).unwrap();
        let snap = snapshot(vec![n], existing);
        let mut state = CycleState::new();
        assert!(h.pre_filter.unwrap().pre_filter(&mut state, p, &snap).1.is_success());
        h.filter.unwrap().filter(&state, p, &snap.nodes()[0])
    }

    /// The node of upstream's table: 10m cpu, 20 bytes memory, 32 pods, 5 example.com/foo,
    /// 20 bytes ephemeral storage, 5 hugepages-2Mi.
    fn table_node() -> NodeInfo {
        alloc_node(
            "n1",
            json!({"cpu": "10m", "memory": "20", "pods": "32", "example.com/foo": "5",
            "ephemeral-storage": "20", "hugepages-2Mi": "5"}),
        )
    }

    fn reasons(s: &Status) -> Vec<String> {
        s.reasons().iter().map(|r| r.to_string()).collect()
    }

    /// Name, args, container requests, the pod already on the node, expected reasons.
    type Case = (&'static str, Value, Vec<Value>, Arc<PodInfo>, Vec<&'static str>);

    #[test]
    fn filter_table() {
        let used = |cpu: &str, mem: &str| requesting("old", Some("n1"), &[json!({"cpu": cpu, "memory": mem})]);
        let none = json!({});
        let cases: Vec<Case> = vec![
            ("no resources requested always fits", none.clone(), vec![json!({})], used("10m", "20"), vec![]),
            (
                "too many resources fails",
                none.clone(),
                vec![json!({"cpu": "1m", "memory": "1"})],
                used("10m", "20"),
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                "cpu alone",
                none.clone(),
                vec![json!({"cpu": "3m", "memory": "1"})],
                used("8m", "19"),
                vec!["Insufficient cpu"],
            ),
            (
                "memory alone",
                none.clone(),
                vec![json!({"cpu": "1m", "memory": "2"})],
                used("5m", "19"),
                vec!["Insufficient memory"],
            ),
            (
                "exact fit",
                none.clone(),
                vec![json!({"cpu": "5m", "memory": "1"}), json!({"cpu": "0m"})],
                used("5m", "19"),
                vec![],
            ),
            ("extended resource fits", none.clone(), vec![json!({"example.com/foo": "5"})], used("0", "0"), vec![]),
            (
                "extended resource too much",
                none.clone(),
                vec![json!({"example.com/foo": "6"})],
                used("0", "0"),
                vec!["Insufficient example.com/foo"],
            ),
            (
                "resource missing on node",
                none.clone(),
                vec![json!({"example.com/bar": "1"})],
                used("0", "0"),
                vec!["Insufficient example.com/bar"],
            ),
            (
                "ignored resource",
                json!({"ignoredResources": ["example.com/bar"]}),
                vec![json!({"example.com/bar": "1"})],
                used("0", "0"),
                vec![],
            ),
            (
                "ignored resource group",
                json!({"ignoredResourceGroups": ["example.com"]}),
                vec![json!({"example.com/bar": "1", "cpu": "1m"})],
                used("0", "0"),
                vec![],
            ),
            (
                "hugepages cannot be ignored",
                json!({"ignoredResources": ["hugepages-2Mi"]}),
                vec![json!({"hugepages-2Mi": "6"})],
                used("0", "0"),
                vec!["Insufficient hugepages-2Mi"],
            ),
            (
                "ephemeral storage",
                none.clone(),
                vec![json!({"ephemeral-storage": "25"})],
                used("0", "0"),
                vec!["Insufficient ephemeral-storage"],
            ),
            (
                "every reason listed, scalars sorted",
                none.clone(),
                vec![json!({"cpu": "11m", "memory": "21", "example.com/foo": "6", "example.com/bar": "1"})],
                used("0", "0"),
                vec![
                    "Insufficient cpu",
                    "Insufficient memory",
                    "Insufficient example.com/bar",
                    "Insufficient example.com/foo",
                ],
            ),
        ];
        for (name, args, req, existing, want) in cases {
            let s = filter_with(args, &requesting("p", None, &req), table_node(), vec![existing]);
            assert_eq!(reasons(&s), want, "{name}");
            assert_eq!(s.code(), if want.is_empty() { Code::Success } else { Code::Unschedulable }, "{name}");
        }
    }

    #[test]
    fn filter_pod_count_and_zero_capacity() {
        let one = alloc_node("n1", json!({"cpu": "1", "memory": "1Gi", "pods": "1"}));
        let old = requesting("old", Some("n1"), &[json!({})]);
        // Even a pod without requests needs a pod slot: 1 + 1 > 1.
        let s = filter_with(json!({}), &requesting("p", None, &[json!({})]), one, vec![old.clone()]);
        assert_eq!(reasons(&s), ["Too many pods"]);
        let one = alloc_node("n1", json!({"cpu": "1", "memory": "1Gi", "pods": "1"}));
        let s = filter_with(json!({}), &requesting("p", None, &[json!({"cpu": "2"})]), one, vec![old]);
        assert_eq!(reasons(&s), ["Too many pods", "Insufficient cpu"]);
        // No allocatable at all: no pod slot, no cpu.
        let s = filter_with(
            json!({}),
            &requesting("p", None, &[json!({"cpu": "1m"})]),
            alloc_node("n1", json!({})),
            vec![],
        );
        assert_eq!(reasons(&s), ["Too many pods", "Insufficient cpu"]);
    }

    #[test]
    fn fixed_rejections_list_each_short_resource_in_order() {
        for (bits, fixed) in STANDARD_REJECTIONS.iter().enumerate() {
            let s = Status::fixed(fixed);
            let want: Vec<&str> = [(TOO_MANY_PODS, R_PODS), (CPU, R_CPU), (MEMORY, R_MEMORY), (EPHEMERAL, R_EPHEMERAL)]
                .iter()
                .filter(|(bit, _)| bits & bit != 0)
                .map(|(_, r)| r.as_ref())
                .collect();
            assert_eq!(reasons(&s), want, "bits {bits:#b}");
            assert_eq!((s.code(), s.plugin()), (Code::Unschedulable, Some(NAME)));
        }
        // Extended resources follow the standard ones.
        let short = Shortfall { standard: CPU, extended: vec![Reason::Borrowed("Insufficient example.com/gpu")] };
        assert_eq!(reasons(&short.into_status()), ["Insufficient cpu", "Insufficient example.com/gpu"]);
        assert!(Shortfall::default().into_status().is_success());
    }

    /// PreScore + Score on every node (Fit has no NormalizeScore).
    fn scores(args: Value, p: &Arc<PodInfo>, nodes: Vec<NodeInfo>, existing: Vec<Arc<PodInfo>>) -> Vec<i64> {
        let h = factory(Some(&args)).unwrap();
        let snap = snapshot(nodes, existing);
        let mut state = CycleState::new();
        assert!(
            h.pre_score
                .unwrap()
                .pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap)
                .is_success()
        );
        let sc = h.score.unwrap();
        snap.nodes().iter().map(|n| sc.score(&state, p, n).0).collect()
    }

    fn sized(name: &str, cpu: &str, mem: &str) -> NodeInfo {
        alloc_node(name, json!({"cpu": cpu, "memory": mem, "pods": "110", "example.com/gpu": "4"}))
    }

    fn pod_3000_5000() -> Arc<PodInfo> {
        requesting(
            "p",
            None,
            &[json!({"cpu": "1000m", "memory": "2000Mi"}), json!({"cpu": "2000m", "memory": "3000Mi"})],
        )
    }

    #[test]
    fn least_allocated() {
        let nodes = || vec![sized("n1", "4000m", "10000Mi"), sized("n2", "6000m", "10000Mi")];
        // n1: cpu (4000-3000)*100/4000 = 25, mem (10000-5000)*100/10000 = 50 → (25+50)/2 = 37.
        // n2: cpu (6000-3000)*100/6000 = 50, mem 50 → 50.
        assert_eq!(scores(json!({}), &pod_3000_5000(), nodes(), vec![]), vec![37, 50]);
        // Weights memory 2, cpu 1: n1 (25*1 + 50*2)/3 = 41; n2 (50 + 100)/3 = 50.
        let args = json!({"scoringStrategy": {"type": "LeastAllocated",
            "resources": [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}]}});
        assert_eq!(scores(args, &pod_3000_5000(), nodes(), vec![]), vec![41, 50]);
    }

    #[test]
    fn least_allocated_non_zero_requests() {
        let n = || vec![sized("n1", "1000m", "1000Mi")];
        let best_effort = || requesting("p", None, &[json!({})]);
        // Best-effort pod counts 100m / 200Mi: cpu (1000-100)*100/1000 = 90, mem 80 → 85.
        assert_eq!(scores(json!({}), &best_effort(), n(), vec![]), vec![85]);
        // Two best-effort pods already there: cpu 300m → 70, mem 600Mi → 40 → 55.
        let old = |name: &str| requesting(name, Some("n1"), &[json!({})]);
        assert_eq!(scores(json!({}), &best_effort(), n(), vec![old("a"), old("b")]), vec![55]);
        // Requests above capacity: cpu 2000m > 1000m → 0; mem default 200Mi → 80 → 40.
        let big = requesting("p", None, &[json!({"cpu": "2"})]);
        assert_eq!(scores(json!({}), &big, n(), vec![]), vec![40]);
        // Zero-capacity node: every resource skipped, Σw = 0 → 0.
        assert_eq!(scores(json!({}), &big, vec![alloc_node("z", json!({}))], vec![]), vec![0]);
    }

    #[test]
    fn extended_resources_in_score() {
        let args = json!({"scoringStrategy": {"type": "LeastAllocated",
            "resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "example.com/gpu"}]}});
        let n = || vec![sized("n1", "6000m", "10000Mi"), alloc_node("n2", json!({"cpu": "6", "memory": "10000Mi"}))];
        // Pod without gpu: gpu skipped on both; cpu 50, mem 50 → 50.
        assert_eq!(scores(args.clone(), &pod_3000_5000(), n(), vec![]), vec![50, 50]);
        // Pod with 2 gpus: n1 gpu (4-2)*100/4 = 50 → (50+50+50)/3 = 50; n2 has no gpu → skipped → 50.
        let p = requesting(
            "p",
            None,
            &[json!({"cpu": "3", "memory": "5000Mi", "example.com/gpu": "1"}), json!({"example.com/gpu": "1"})],
        );
        // Second container has no cpu/memory: it counts 100m / 200Mi for scoring:
        // cpu (6000-3100)*100/6000 = 48, mem (10000-5200)*100/10000 = 48, gpu 50 → 146/3 = 48.
        assert_eq!(scores(args, &p, n(), vec![]), vec![48, 48]);
    }

    #[test]
    fn most_allocated() {
        let args = json!({"scoringStrategy": {"type": "MostAllocated"}});
        let nodes = || vec![sized("n1", "4000m", "10000Mi"), sized("n2", "6000m", "10000Mi")];
        // n1: cpu 3000*100/4000 = 75, mem 50 → 62; n2: 50, 50 → 50.
        assert_eq!(scores(args.clone(), &pod_3000_5000(), nodes(), vec![]), vec![62, 50]);
        // Over capacity is clamped: cpu 5000m on 4000m → 100; the existing pod asks no memory,
        // so it counts 200Mi: (5000+200)*100/10000 = 52 → (100+52)/2 = 76.
        let old = requesting("old", Some("n1"), &[json!({"cpu": "2000m"})]);
        assert_eq!(scores(args, &pod_3000_5000(), nodes(), vec![old]), vec![76, 50]);
    }

    fn ratio(shape: Value) -> Value {
        json!({"scoringStrategy": {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": shape}}})
    }

    #[test]
    fn requested_to_capacity_ratio() {
        let n = || vec![sized("n1", "4000m", "10000Mi")];
        let p = pod_3000_5000;
        // Bin packing {0:0, 100:10} → ×10: cpu 75, mem 50 → round(62.5) = 63.
        let pack = ratio(json!([{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]));
        assert_eq!(scores(pack, &p(), n(), vec![]), vec![63]);
        // Spreading {0:10, 100:0}: cpu 25, mem 50 → round(37.5) = 38.
        let spread = ratio(json!([{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]));
        assert_eq!(scores(spread, &p(), n(), vec![]), vec![38]);
        // Peak at 50: f(75) = 100 - 100*25/50 = 50, f(50) = 100 → 75.
        let peak = ratio(
            json!([{"utilization": 0, "score": 0}, {"utilization": 50, "score": 10}, {"utilization": 100, "score": 0}]),
        );
        assert_eq!(scores(peak, &p(), n(), vec![]), vec![75]);
        // {50:0, 100:10}: cpu f(75) = 50; mem f(50) = 0 is left out of the mean → 50.
        let high = ratio(json!([{"utilization": 50, "score": 0}, {"utilization": 100, "score": 10}]));
        assert_eq!(scores(high.clone(), &p(), n(), vec![]), vec![50]);
        // Requests over capacity use utilization 100: f(100) = 100 for cpu; mem 50 → 0 → 100.
        let big = requesting("p", None, &[json!({"cpu": "5", "memory": "5000Mi"})]);
        assert_eq!(scores(high, &big, n(), vec![]), vec![100]);
    }

    #[test]
    fn args_validation() {
        assert!(factory(None).is_ok());
        assert!(factory(Some(&json!({"scoringStrategy": {"type": "Nope"}}))).is_err());
        assert!(factory(Some(&json!({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}))).is_err());
        assert!(factory(Some(&ratio(json!([])))).is_err());
        assert!(
            factory(Some(&ratio(json!([{"utilization": 50, "score": 1}, {"utilization": 10, "score": 2}])))).is_err()
        );
        assert!(factory(Some(&ratio(json!([{"utilization": 10, "score": 11}])))).is_err());
        assert!(factory(Some(&ratio(json!([{"utilization": 101, "score": 1}])))).is_err());
        let w =
            |w: i64| json!({"scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": w}]}});
        assert!(factory(Some(&w(101))).is_err());
        assert!(factory(Some(&w(-1))).is_err());
        assert!(factory(Some(&w(0))).is_ok(), "0 defaults to 1");
        assert!(factory(Some(&json!({"ignoredResourceGroups": ["example.com/x"]}))).is_err());
        assert!(factory(Some(&json!({"bogus": true}))).is_err());
        assert!(
            factory(Some(&json!({"kind": "NodeResourcesFitArgs", "apiVersion": "kubescheduler.config.k8s.io/v1"})))
                .is_ok()
        );
    }

    #[test]
    fn hints() {
        let h = factory(None).unwrap();
        let events = h.plugin.unwrap().events_to_register().unwrap();
        let node_hint = events[2].hint.as_ref().unwrap();
        let p = requesting("p", None, &[json!({"cpu": "2"})]);
        let n =
            |cpu: &str, pods: &str| ClusterObject::Node(Arc::new(alloc_node("n", json!({"cpu": cpu, "pods": pods}))));
        assert_eq!(node_hint(&p, None, Some(&n("4", "10"))), QueueingHint::Queue);
        assert_eq!(node_hint(&p, None, Some(&n("1", "10"))), QueueingHint::Skip);
        assert_eq!(node_hint(&p, Some(&n("2", "10")), Some(&n("4", "10"))), QueueingHint::Queue);
        assert_eq!(node_hint(&p, Some(&n("4", "10")), Some(&n("4", "10"))), QueueingHint::Skip);
        assert_eq!(node_hint(&p, Some(&n("4", "10")), Some(&n("4", "11"))), QueueingHint::Queue);
        let pod_hint = events[0].hint.as_ref().unwrap();
        let assigned = ClusterObject::Pod(requesting("old", Some("n"), &[json!({"cpu": "1"})]));
        assert_eq!(pod_hint(&p, Some(&assigned), None), QueueingHint::Queue);
        let pending = ClusterObject::Pod(requesting("other", None, &[json!({"cpu": "1"})]));
        assert_eq!(pod_hint(&p, Some(&pending), None), QueueingHint::Skip);
        let smaller = ClusterObject::Pod(requesting("old", Some("n"), &[json!({"cpu": "500m"})]));
        assert_eq!(pod_hint(&p, Some(&assigned), Some(&smaller)), QueueingHint::Queue);
        let mem_only = ClusterObject::Pod(requesting("old", Some("n"), &[json!({"cpu": "1", "memory": "1Gi"})]));
        let mem_less = ClusterObject::Pod(requesting("old", Some("n"), &[json!({"cpu": "1"})]));
        assert_eq!(pod_hint(&p, Some(&mem_only), Some(&mem_less)), QueueingHint::Skip);
    }
}
