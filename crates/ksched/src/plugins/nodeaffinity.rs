//! NodeAffinity: `spec.nodeSelector` and required node affinity as a filter (with
//! `metadata.name` fast paths in PreFilter), preferred node affinity as a score; plus an
//! optional scheduler-enforced `addedAffinity` from the plugin arguments.

use std::collections::BTreeSet;
use std::sync::Arc;

use kapi::k8s::api::core::v1::NodeAffinity as ApiNodeAffinity;
use serde::Deserialize;

use super::helper::{NodeSelectorMatcher, PreferredTerms, RequiredNodeAffinity, default_normalize_score};
use crate::framework::status::fixed;
use crate::framework::{
    ActionType, ClusterEventWithHint, ClusterObject, CycleState, EventResource, FilterPlugin, MAX_NODE_SCORE,
    NodeScore, Plugin, PluginError, PluginHandle, PreFilterPlugin, PreFilterResult, PreScorePlugin, QueueingHint,
    ScorePlugin, Snapshot, Status,
};
use crate::plugins::memo::{MemoCache, NodeMemo, Tally};
use crate::types::{NodeInfo, PodInfo};

/// The plugin's name.
pub const NAME: &str = "NodeAffinity";

/// Filter reason when the pod's selector or affinity does not match.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// Filter reason when `addedAffinity` does not match.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// PreFilter reason when every term names a disjoint set of nodes.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// `NodeAffinityArgs`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    added_affinity: Option<ApiNodeAffinity>,
    #[serde(default, rename = "apiVersion")]
    _api_version: Option<String>,
    #[serde(default, rename = "kind")]
    _kind: Option<String>,
}

/// Matches nodes against the pod's node selector and node affinity.
#[derive(Debug, Default, Clone)]
pub struct NodeAffinity {
    added_selector: Option<Arc<NodeSelectorMatcher>>,
    added_preferred: Option<Arc<PreferredTerms>>,
    memo: Memos,
}

/// Memoized matches kept at most (one per distinct selector and affinity seen recently:
/// the pods of one workload share one).
const MEMO_ENTRIES: usize = 16;

/// Per snapshot slot (see `NodeInfo::slot`): whether the node matches ([`MATCHES`],
/// [`NO_MATCH`]) or has not been seen ([`UNKNOWN`]).
type SlotMatches = Arc<Vec<u8>>;
const NO_MATCH: u8 = 0;
const MATCHES: u8 = 1;
const UNKNOWN: u8 = 2;

/// Each node's match against one selector and affinity, kept across cycles: Filter reads a
/// byte by the node's slot instead of walking the node's labels, and PreFilter recomputes
/// only the nodes that changed since the previous pod with the same key.
#[derive(Debug, Default)]
struct AffinityMemo {
    nodes: NodeMemo<()>,
    matches: SlotMatches,
}

#[derive(Debug, Clone)]
struct Memos(Arc<MemoCache<AffinityMemo>>);

impl Default for Memos {
    fn default() -> Self {
        Self(Arc::new(MemoCache::new(MEMO_ENTRIES)))
    }
}

struct MatchTally<'a> {
    affinity: &'a RequiredNodeAffinity,
    matches: &'a mut SlotMatches,
}

impl Tally for MatchTally<'_> {
    type Value = ();

    fn compute(&mut self, node: &NodeInfo) {
        let slot = node.slot as usize;
        if slot < self.matches.len() {
            Arc::make_mut(self.matches)[slot] = if self.affinity.matches(node) { MATCHES } else { NO_MATCH };
        }
    }

    fn apply(&mut self, _value: &(), _sign: i64) {}
}

#[derive(Debug, Clone)]
struct PreFilterState {
    affinity: Arc<RequiredNodeAffinity>,
    /// The snapshot's nodes matched against `affinity`, by slot.
    matches: SlotMatches,
}

impl PreFilterState {
    fn matches(&self, node: &NodeInfo) -> bool {
        match self.matches.get(node.slot as usize) {
            Some(&MATCHES) => true,
            Some(&NO_MATCH) => false,
            _ => self.affinity.matches(node),
        }
    }
}

#[derive(Debug, Clone)]
struct PreScoreState(Arc<PreferredTerms>);

impl NodeAffinity {
    /// The plugin with a parsed `addedAffinity`.
    ///
    /// # Errors
    /// The added affinity does not parse.
    fn new(args: Args) -> Result<Self, PluginError> {
        let mut pl = NodeAffinity::default();
        if let Some(added) = args.added_affinity {
            if let Some(ns) = &added.required_during_scheduling_ignored_during_execution {
                let m = NodeSelectorMatcher::strict(ns).map_err(|e| {
                    PluginError::args(
                        NAME,
                        format!("addedAffinity.requiredDuringSchedulingIgnoredDuringExecution: {e}"),
                    )
                })?;
                pl.added_selector = Some(Arc::new(m));
            }
            if let Some(terms) = added.preferred_during_scheduling_ignored_during_execution.filter(|t| !t.is_empty()) {
                let p = PreferredTerms::new(&terms).map_err(|e| {
                    PluginError::args(
                        NAME,
                        format!("addedAffinity.preferredDuringSchedulingIgnoredDuringExecution: {e}"),
                    )
                })?;
                pl.added_preferred = Some(Arc::new(p));
            }
        }
        Ok(pl)
    }

    /// `metadata.name` In sets of the required terms (terms ORed, requirements ANDed):
    /// `None` when some term does not restrict names.
    fn required_node_names(pod: &PodInfo) -> Option<BTreeSet<String>> {
        let terms = &pod.required_node_affinity.as_ref()?.node_selector_terms;
        if terms.is_empty() {
            return None;
        }
        let mut names = BTreeSet::new();
        for term in terms {
            let mut term_names: Option<BTreeSet<String>> = None;
            for r in term.match_fields.iter().flatten() {
                if r.key == "metadata.name" && r.operator == "In" {
                    let s: BTreeSet<String> = r.values.iter().flatten().cloned().collect();
                    term_names = Some(match term_names {
                        None => s,
                        Some(prev) => prev.intersection(&s).cloned().collect(),
                    });
                }
            }
            names.extend(term_names?);
        }
        Some(names)
    }
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<ClusterEventWithHint>> {
        let added = self.added_selector.clone();
        let hint = move |pod: &PodInfo, old: Option<&ClusterObject>, new: Option<&ClusterObject>| {
            let Some(ClusterObject::Node(new)) = new else { return QueueingHint::Queue };
            if added.as_ref().is_some_and(|a| !a.matches(&new.labels, &new.name)) {
                return QueueingHint::Skip;
            }
            let required = RequiredNodeAffinity::from_pod(pod);
            if !required.matches(new) {
                return QueueingHint::Skip;
            }
            // Only a change from not matching to matching helps.
            match old {
                Some(ClusterObject::Node(old)) if required.matches(old) => QueueingHint::Skip,
                _ => QueueingHint::Queue,
            }
        };
        Some(vec![ClusterEventWithHint::with_hint(
            EventResource::Node,
            ActionType::ADD.or(ActionType::UPDATE_NODE_LABEL),
            hint,
        )])
    }
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (PreFilterResult, Status) {
        if pod.required_node_affinity.is_none() && self.added_selector.is_none() && pod.node_selector.is_empty() {
            return (PreFilterResult::default(), Status::skip());
        }
        let affinity = RequiredNodeAffinity::from_pod(pod);
        let key = format!("{affinity:?}");
        let matches = self.memo.0.with(&key, |m| {
            if m.matches.len() != snapshot.len() {
                Arc::make_mut(&mut m.matches).resize(snapshot.len(), UNKNOWN);
            }
            m.nodes.refresh(snapshot.nodes(), &mut MatchTally { affinity: &affinity, matches: &mut m.matches });
            Arc::clone(&m.matches)
        });
        state.insert(PreFilterState { affinity: Arc::new(affinity), matches });
        match Self::required_node_names(pod) {
            None => (PreFilterResult::default(), Status::success()),
            Some(names) if names.is_empty() => (PreFilterResult::default(), Status::unresolvable(ERR_REASON_CONFLICT)),
            Some(names) => (PreFilterResult { node_names: Some(names) }, Status::success()),
        }
    }
}

impl FilterPlugin for NodeAffinity {
    /// Reads the node's own fields only.
    fn reads_node_pods(&self) -> bool {
        false
    }

    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if self.added_selector.as_ref().is_some_and(|a| !a.matches(&node.labels, &node.name)) {
            return fixed!(NAME, UnschedulableAndUnresolvable, ERR_REASON_ENFORCED);
        }
        let matched = match state.get::<PreFilterState>() {
            Some(s) => s.matches(node),
            // PreFilter disabled: parse here.
            None => RequiredNodeAffinity::from_pod(pod).matches(node),
        };
        if matched { Status::success() } else { fixed!(NAME, UnschedulableAndUnresolvable, ERR_REASON_POD) }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _nodes: &[&NodeInfo], _snapshot: &Snapshot) -> Status {
        if pod.preferred_node_affinity.is_empty() && self.added_preferred.is_none() {
            return Status::skip();
        }
        match PreferredTerms::new(&pod.preferred_node_affinity) {
            Ok(p) => {
                state.insert(PreScoreState(Arc::new(p)));
                Status::success()
            }
            Err(e) => Status::error(e),
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let mut count = self.added_preferred.as_ref().map_or(0, |p| p.score(&node.labels, &node.name));
        match state.get::<PreScoreState>() {
            Some(s) => count += s.0.score(&node.labels, &node.name),
            // PreScore disabled: parse here.
            None => match PreferredTerms::new(&pod.preferred_node_affinity) {
                Ok(p) => count += p.score(&node.labels, &node.name),
                Err(e) => return (0, Status::error(e)),
            },
        }
        (count, Status::success())
    }

    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, scores: &mut [NodeScore<'_>]) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
        Status::success()
    }
}

/// Builds the plugin from `NodeAffinityArgs` (`{"addedAffinity": {…}}`, optional).
///
/// # Errors
/// Unknown fields or an added affinity that does not parse.
pub fn factory(args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    let args: Args = match args {
        Some(v) => Args::deserialize(v).map_err(|e| PluginError::args(NAME, e.to_string()))?,
        None => Args::default(),
    };
    Ok(PluginHandle::of(NodeAffinity::new(args)?).pre_filter().filter().pre_score().score().build())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::plugins::testing::{node, pod, snapshot};
    use serde_json::{Value, json};

    fn labelled(name: &str, labels: Value) -> NodeInfo {
        node(json!({"metadata": {"name": name, "labels": labels}}))
    }

    fn with_spec(spec: Value) -> Arc<PodInfo> {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c"}]);
        pod(json!({"metadata": {"name": "p", "uid": "u1"}, "spec": spec}))
    }

    fn required(terms: Value) -> Value {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
    }

    /// PreFilter then Filter, as the framework runs them.
    fn run_filter(pl: &NodeAffinity, p: &PodInfo, n: NodeInfo) -> (PreFilterResult, Status) {
        let snap = snapshot(vec![n], vec![]);
        let mut state = CycleState::new();
        let (res, s) = pl.pre_filter(&mut state, p, &snap);
        if !s.is_success() {
            return (res, s);
        }
        let status = pl.filter(&state, p, &snap.nodes()[0]);
        // The match kept by slot and the one computed from the labels agree.
        let mut outside = NodeInfo::clone(&snap.nodes()[0]);
        outside.slot = u32::MAX;
        assert_eq!(pl.filter(&state, p, &outside), status);
        (res, status)
    }

    #[test]
    fn filter_table() {
        let pl = NodeAffinity::default();
        let foo = json!({"foo": "bar"});
        let in_expr = |k: &str, v: &[&str]| json!({"matchExpressions": [{"key": k, "operator": "In", "values": v}]});
        let cases: Vec<(&str, Value, Value, Code)> = vec![
            ("no selector", json!({}), foo.clone(), Code::Skip),
            ("missing labels", json!({"nodeSelector": {"foo": "bar"}}), json!({}), Code::UnschedulableAndUnresolvable),
            ("same labels", json!({"nodeSelector": {"foo": "bar"}}), foo.clone(), Code::Success),
            (
                "node has more labels",
                json!({"nodeSelector": {"foo": "bar"}}),
                json!({"foo": "bar", "baz": "blah"}),
                Code::Success,
            ),
            ("In matches", required(json!([in_expr("foo", &["bar", "value2"])])), foo.clone(), Code::Success),
            (
                "In does not match",
                required(json!([in_expr("kernel-version", &["0206"])])),
                foo.clone(),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "Gt matches",
                required(json!([{"matchExpressions": [{"key": "GPU", "operator": "Gt", "values": ["0"]}]}])),
                json!({"GPU": "2"}),
                Code::Success,
            ),
            (
                "Gt non-integer label",
                required(json!([{"matchExpressions": [{"key": "GPU", "operator": "Gt", "values": ["0"]}]}])),
                json!({"GPU": "many"}),
                Code::UnschedulableAndUnresolvable,
            ),
            ("empty term list matches nothing", required(json!([])), foo.clone(), Code::UnschedulableAndUnresolvable),
            ("empty term matches nothing", required(json!([{}])), foo.clone(), Code::UnschedulableAndUnresolvable),
            (
                "terms ORed",
                required(json!([in_expr("foo", &["x"]), in_expr("foo", &["bar"])])),
                foo.clone(),
                Code::Success,
            ),
            (
                "invalid term ignored when another matches",
                required(json!([
                {"matchExpressions": [{"key": "foo", "operator": "Lt", "values": ["bar"]}]}, in_expr("foo", &["bar"])])),
                foo.clone(),
                Code::Success,
            ),
            (
                "selector and affinity both needed",
                {
                    let mut s = required(json!([in_expr("foo", &["bar"])]));
                    s["nodeSelector"] = json!({"zone": "a"});
                    s
                },
                foo.clone(),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, spec, labels, want) in cases {
            let (_, s) = run_filter(&pl, &with_spec(spec), labelled("n1", labels));
            assert_eq!(s.code(), want, "{name}: {s}");
            if want == Code::UnschedulableAndUnresolvable {
                assert_eq!(s.reasons(), [ERR_REASON_POD], "{name}");
            }
        }
    }

    #[test]
    fn prefilter_node_names() {
        let pl = NodeAffinity::default();
        let name_in = |v: &[&str]| json!({"key": "metadata.name", "operator": "In", "values": v});
        // One term naming n1: the result restricts to n1, and Filter accepts n1.
        let p = with_spec(required(json!([{"matchFields": [name_in(&["n1"])]}])));
        let (res, s) = run_filter(&pl, &p, labelled("n1", json!({})));
        assert!(s.is_success());
        assert_eq!(res.node_names, Some(BTreeSet::from(["n1".to_owned()])));
        let (_, s) = run_filter(&pl, &p, labelled("n2", json!({})));
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        // Two terms: union; in one term: intersection.
        let p = with_spec(required(json!([{"matchFields": [name_in(&["n1", "n2"]), name_in(&["n2", "n3"])]},
            {"matchFields": [name_in(&["n4"])]}])));
        let (res, _) = run_filter(&pl, &p, labelled("n2", json!({})));
        assert_eq!(res.node_names, Some(BTreeSet::from(["n2".to_owned(), "n4".to_owned()])));
        // A term without a name requirement lifts the restriction.
        let p = with_spec(required(json!([{"matchFields": [name_in(&["n1"])]},
            {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}])));
        let (res, _) = run_filter(&pl, &p, labelled("n2", json!({"foo": "x"})));
        assert_eq!(res.node_names, None);
        // Disjoint names in every term: conflict.
        let p = with_spec(required(json!([{"matchFields": [name_in(&["n1"]), name_in(&["n2"])]}])));
        let (_, s) = run_filter(&pl, &p, labelled("n1", json!({})));
        assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons(), [ERR_REASON_CONFLICT]);
    }

    #[test]
    fn added_affinity_filters() {
        let args = json!({"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["foo"]}]}]}}});
        let h = factory(Some(&args)).unwrap();
        let f = h.filter.unwrap();
        let pf = h.pre_filter.unwrap();
        let p = with_spec(json!({}));
        let snap =
            snapshot(vec![labelled("n1", json!({"zone": "foo"})), labelled("n2", json!({"zone": "bar"}))], vec![]);
        let mut state = CycleState::new();
        // Not skipped: the added affinity always applies.
        assert!(pf.pre_filter(&mut state, &p, &snap).1.is_success());
        assert!(f.filter(&state, &p, &snap.nodes()[0]).is_success());
        let s = f.filter(&state, &p, &snap.nodes()[1]);
        assert_eq!(s.reasons(), [ERR_REASON_ENFORCED]);
        let bad = json!({"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["x"]}]}]}}});
        assert!(factory(Some(&bad)).is_err());
        assert!(factory(Some(&json!({"unknown": 1}))).is_err());
    }

    fn scores(pl: &NodeAffinity, p: &PodInfo, nodes: Vec<NodeInfo>) -> Option<Vec<i64>> {
        let snap = snapshot(nodes, vec![]);
        let mut state = CycleState::new();
        if pl.pre_score(&mut state, p, &crate::plugins::testing::refs(snap.nodes()), &snap).is_skip() {
            return None;
        }
        let mut list: Vec<NodeScore<'_>> =
            snap.nodes().iter().map(|n| NodeScore { name: &n.key, score: pl.score(&state, p, n).0 }).collect();
        pl.normalize(&state, p, &mut list);
        Some(list.iter().map(|s| s.score).collect())
    }

    fn preferred(terms: Value) -> Arc<PodInfo> {
        with_spec(json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}}))
    }

    fn pref(weight: i32, exprs: &[(&str, &str)]) -> Value {
        let e: Vec<Value> = exprs.iter().map(|(k, v)| json!({"key": k, "operator": "In", "values": [v]})).collect();
        json!({"weight": weight, "preference": {"matchExpressions": e}})
    }

    #[test]
    fn score_table() {
        let pl = NodeAffinity::default();
        let label1 = || labelled("m1", json!({"foo": "bar"}));
        let label2 = || labelled("m2", json!({"key": "value"}));
        let label3 = || labelled("m3", json!({"az": "az1"}));
        let label5 = || labelled("m5", json!({"foo": "bar", "key": "value", "az": "az1"}));
        // No preferred terms: skipped.
        assert_eq!(scores(&pl, &with_spec(json!({})), vec![label1(), label2()]), None);
        let affinity1 = preferred(json!([pref(2, &[("foo", "bar")])]));
        // No node matches: all 0 (not reversed).
        let none = || labelled("m4", json!({"abc": "az11", "def": "az22"}));
        assert_eq!(scores(&pl, &affinity1, vec![none()]), Some(vec![0]));
        // Only m1 matches: raw 2, 0, 0 → 100, 0, 0.
        assert_eq!(scores(&pl, &affinity1, vec![label1(), label2(), label3()]), Some(vec![100, 0, 0]));
        // Raw m1 = 2, m5 = 2+4+5 = 11, m2 = 4 → 100*2/11 = 18, 100, 100*4/11 = 36.
        let affinity2 = preferred(json!([
            pref(2, &[("foo", "bar")]),
            pref(4, &[("key", "value")]),
            pref(5, &[("foo", "bar"), ("key", "value"), ("az", "az1")])
        ]));
        assert_eq!(scores(&pl, &affinity2, vec![label1(), label5(), label2()]), Some(vec![18, 100, 36]));
    }

    #[test]
    fn added_preferred_terms_add_up() {
        let args = json!({"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [pref(3, &[("zone", "foo")])]}});
        let pl = NodeAffinity::new(Args::deserialize(&args).unwrap()).unwrap();
        let a = || labelled("a", json!({"zone": "foo"}));
        let b = || labelled("b", json!({"zone": "foo", "key": "value"}));
        let c = || labelled("c", json!({}));
        // Pod without preferences: only the added term: 3, 3, 0 → 100, 100, 0.
        assert_eq!(scores(&pl, &with_spec(json!({})), vec![a(), b(), c()]), Some(vec![100, 100, 0]));
        // Pod prefers key=value (5): 3, 8, 0 → 100*3/8 = 37, 100, 0.
        let p = preferred(json!([pref(5, &[("key", "value")])]));
        assert_eq!(scores(&pl, &p, vec![a(), b(), c()]), Some(vec![37, 100, 0]));
    }

    #[test]
    fn node_hint() {
        let events = NodeAffinity::default().events_to_register().unwrap();
        let hint = events[0].hint.as_ref().unwrap();
        let p = with_spec(json!({"nodeSelector": {"foo": "bar"}}));
        let n = |l: Value| ClusterObject::Node(Arc::new(labelled("n", l)));
        assert_eq!(hint(&p, None, Some(&n(json!({"foo": "bar"})))), QueueingHint::Queue);
        assert_eq!(hint(&p, None, Some(&n(json!({})))), QueueingHint::Skip);
        assert_eq!(hint(&p, Some(&n(json!({}))), Some(&n(json!({"foo": "bar"})))), QueueingHint::Queue);
        assert_eq!(
            hint(&p, Some(&n(json!({"foo": "bar"}))), Some(&n(json!({"foo": "bar", "x": "y"})))),
            QueueingHint::Skip
        );
    }
}
