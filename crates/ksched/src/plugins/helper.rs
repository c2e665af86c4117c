//! Helpers shared by the default plugins: score normalization, taint/toleration matching
//! and node selector matching (upstream `plugins/helper` and
//! `component-helpers/scheduling/corev1`).

use std::collections::BTreeMap;

use kapi::k8s::api::core::v1::{NodeSelector, NodeSelectorTerm, PreferredSchedulingTerm, Taint, Toleration};
use kapi::labels::{Operator, Requirement};

use crate::framework::NodeScore;
use crate::types::{NodeInfo, PodInfo};

/// Scales `scores` from `[0, max(scores)]` to `[0, max_priority]`, reversed when asked
/// (upstream `DefaultNormalizeScore`). All-zero scores stay 0, or become `max_priority` when
/// reversed.
pub(crate) fn default_normalize_score(max_priority: i64, reverse: bool, scores: &mut [NodeScore<'_>]) {
    let max_count = scores.iter().map(|s| s.score).max().unwrap_or(0).max(0);
    if max_count == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max_priority;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = max_priority * s.score / max_count;
        s.score = if reverse { max_priority - scaled } else { scaled };
    }
}

/// The taint effects that keep pods off a node.
pub(crate) const EFFECT_NO_SCHEDULE: &str = "NoSchedule";
/// Evicts running pods too.
pub(crate) const EFFECT_NO_EXECUTE: &str = "NoExecute";
/// Only a scoring preference.
pub(crate) const EFFECT_PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`): an empty
/// effect matches every effect, an empty key matches every key, `Exists` ignores the value and
/// an empty operator means `Equal`.
pub(crate) fn toleration_tolerates_taint(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        // Gt/Lt on tolerations are behind an alpha gate upstream; anything else is invalid.
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub(crate) fn tolerations_tolerate_taint(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| toleration_tolerates_taint(t, taint))
}

/// The first taint selected by `filter` that no toleration tolerates
/// (upstream `FindMatchingUntoleratedTaint`).
pub(crate) fn find_untolerated_taint<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    filter: impl Fn(&Taint) -> bool,
) -> Option<&'a Taint> {
    taints.iter().filter(|t| filter(t)).find(|t| !tolerations_tolerate_taint(tolerations, t))
}

/// NoSchedule and NoExecute taints: the ones Filter enforces.
pub(crate) fn is_do_not_schedule_taint(taint: &Taint) -> bool {
    taint.effect == EFFECT_NO_SCHEDULE || taint.effect == EFFECT_NO_EXECUTE
}

/// One `matchFields` requirement: only `In`/`NotIn` with a single value are valid.
#[derive(Debug, Clone)]
struct FieldRequirement {
    key: String,
    equal: bool,
    value: String,
}

impl FieldRequirement {
    fn matches(&self, node_name: &str) -> bool {
        // Nodes expose only `metadata.name`; other keys read as empty (fields.Set.Get).
        let got = if self.key == "metadata.name" { node_name } else { "" };
        (got == self.value) == self.equal
    }
}

/// A parsed node selector term. A term with parse errors matches nothing.
#[derive(Debug, Clone)]
struct Term {
    labels: Option<Vec<Requirement>>,
    fields: Option<Vec<FieldRequirement>>,
    error: Option<String>,
}

fn label_operator(op: &str) -> Option<Operator> {
    Some(match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::GreaterThan,
        "Lt" => Operator::LessThan,
        _ => return None,
    })
}

fn is_empty_term(term: &NodeSelectorTerm) -> bool {
    term.match_expressions.as_ref().is_none_or(Vec::is_empty) && term.match_fields.as_ref().is_none_or(Vec::is_empty)
}

impl Term {
    fn parse(term: &NodeSelectorTerm) -> Self {
        let mut errors = Vec::new();
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let labels = (!exprs.is_empty()).then(|| {
            let mut reqs = Vec::with_capacity(exprs.len());
            for e in exprs {
                let Some(op) = label_operator(&e.operator) else {
                    errors.push(format!("unsupported node selector operator {:?}", e.operator));
                    continue;
                };
                match Requirement::new(e.key.clone(), op, e.values.iter().flatten().cloned()) {
                    Ok(r) => reqs.push(r),
                    Err(err) => errors.push(err.to_string()),
                }
            }
            reqs
        });
        let field_exprs = term.match_fields.as_deref().unwrap_or_default();
        let fields = (!field_exprs.is_empty()).then(|| {
            let mut reqs = Vec::with_capacity(field_exprs.len());
            for e in field_exprs {
                let equal = match e.operator.as_str() {
                    "In" => true,
                    "NotIn" => false,
                    other => {
                        errors.push(format!("unsupported field selector operator {other:?}"));
                        continue;
                    }
                };
                match e.values.as_deref() {
                    Some([v]) => reqs.push(FieldRequirement { key: e.key.clone(), equal, value: v.clone() }),
                    _ => errors.push(format!("field selector {:?}: values must have one element", e.key)),
                }
            }
            reqs
        });
        Self { labels, fields, error: (!errors.is_empty()).then(|| errors.join("; ")) }
    }

    fn matches(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        if self.error.is_some() {
            return false;
        }
        if let Some(reqs) = &self.labels
            && !reqs.iter().all(|r| r.matches(labels))
        {
            return false;
        }
        // A node without a name has no fields: field requirements are then not checked.
        if let Some(reqs) = &self.fields
            && !node_name.is_empty()
            && !reqs.iter().all(|r| r.matches(node_name))
        {
            return false;
        }
        true
    }
}

/// A `v1.NodeSelector`: terms ORed; empty terms are dropped (they match nothing). Terms
/// that fail to parse match nothing (upstream `LazyErrorNodeSelector`).
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeSelectorMatcher {
    terms: Vec<Term>,
}

impl NodeSelectorMatcher {
    /// Parses leniently: bad terms just never match.
    pub(crate) fn lazy(selector: &NodeSelector) -> Self {
        Self { terms: selector.node_selector_terms.iter().filter(|t| !is_empty_term(t)).map(Term::parse).collect() }
    }

    /// Parses strictly (upstream `NewNodeSelector`): any parse error is returned.
    pub(crate) fn strict(selector: &NodeSelector) -> Result<Self, String> {
        let parsed = Self::lazy(selector);
        let errors: Vec<&str> = parsed.terms.iter().filter_map(|t| t.error.as_deref()).collect();
        if errors.is_empty() { Ok(parsed) } else { Err(errors.join("; ")) }
    }

    /// Whether any term matches a node with `labels` and `node_name`.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.terms.iter().any(|t| t.matches(labels, node_name))
    }
}

/// Weighted preferred node selector terms (upstream `PreferredSchedulingTerms`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PreferredTerms {
    terms: Vec<(Term, i64)>,
}

impl PreferredTerms {
    /// Parses `terms`, skipping zero weights and empty terms; any parse error is returned.
    pub(crate) fn new(terms: &[PreferredSchedulingTerm]) -> Result<Self, String> {
        let mut parsed = Vec::with_capacity(terms.len());
        let mut errors = Vec::new();
        for t in terms {
            if t.weight == 0 || is_empty_term(&t.preference) {
                continue;
            }
            let term = Term::parse(&t.preference);
            match &term.error {
                Some(e) => errors.push(e.clone()),
                None => parsed.push((term, i64::from(t.weight))),
            }
        }
        if errors.is_empty() { Ok(Self { terms: parsed }) } else { Err(errors.join("; ")) }
    }

    /// The sum of the weights of the terms matching the node.
    pub(crate) fn score(&self, labels: &BTreeMap<String, String>, node_name: &str) -> i64 {
        self.terms.iter().filter(|(t, _)| t.matches(labels, node_name)).map(|(_, w)| w).sum()
    }
}

/// A pod's `nodeSelector` and required node affinity together (upstream
/// `RequiredNodeAffinity`): both must match.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequiredNodeAffinity {
    node_selector: BTreeMap<String, String>,
    affinity: Option<NodeSelectorMatcher>,
}

impl RequiredNodeAffinity {
    /// From the pod's pre-parsed spec.
    pub(crate) fn from_pod(pod: &PodInfo) -> Self {
        Self {
            node_selector: pod.node_selector.clone(),
            affinity: pod.required_node_affinity.as_ref().map(NodeSelectorMatcher::lazy),
        }
    }

    /// Whether there is nothing to check (no node selector, no required affinity).
    pub(crate) fn is_empty(&self) -> bool {
        self.node_selector.is_empty() && self.affinity.is_none()
    }

    /// Whether a node with `labels` and `node_name` satisfies both.
    pub(crate) fn matches_labels(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.node_selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.affinity.as_ref().is_none_or(|a| a.matches(labels, node_name))
    }

    /// Whether `node` satisfies both.
    pub(crate) fn matches(&self, node: &NodeInfo) -> bool {
        self.matches_labels(&node.labels, &node.name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scores(v: &[i64]) -> Vec<NodeScore<'static>> {
        v.iter().map(|s| NodeScore { name: "n", score: *s }).collect()
    }

    fn values(s: &[NodeScore<'_>]) -> Vec<i64> {
        s.iter().map(|n| n.score).collect()
    }

    #[test]
    fn normalize_scales_to_max() {
        let mut s = scores(&[1, 2, 3, 4, 5]);
        default_normalize_score(100, false, &mut s);
        // 100*1/5 = 20, 100*2/5 = 40, …
        assert_eq!(values(&s), vec![20, 40, 60, 80, 100]);
        let mut s = scores(&[1, 2, 3, 4, 5]);
        default_normalize_score(100, true, &mut s);
        // 100 - 20, 100 - 40, …
        assert_eq!(values(&s), vec![80, 60, 40, 20, 0]);
        let mut s = scores(&[1000, 10, 20, 30]);
        default_normalize_score(100, false, &mut s);
        // 100*10/1000 = 1, 100*20/1000 = 2, 100*30/1000 = 3
        assert_eq!(values(&s), vec![100, 1, 2, 3]);
        let mut s = scores(&[2, 3, 7]);
        default_normalize_score(10, false, &mut s);
        // 10*2/7 = 2, 10*3/7 = 4
        assert_eq!(values(&s), vec![2, 4, 10]);
    }

    #[test]
    fn normalize_all_zero() {
        let mut s = scores(&[0, 0, 0]);
        default_normalize_score(100, false, &mut s);
        assert_eq!(values(&s), vec![0, 0, 0]);
        let mut s = scores(&[0, 0, 0]);
        default_normalize_score(100, true, &mut s);
        // max 0 and reversed: everyone gets the max.
        assert_eq!(values(&s), vec![100, 100, 100]);
        let mut s: Vec<NodeScore<'_>> = Vec::new();
        default_normalize_score(100, true, &mut s);
        assert!(s.is_empty());
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()).filter(|v: &String| !v.is_empty()),
            effect: effect.into(),
            ..Default::default()
        }
    }

    fn tol(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn toleration_matching() {
        let t = taint("foo", "bar", "NoSchedule");
        let cases = [
            (json!({"key": "foo", "operator": "Equal", "value": "bar", "effect": "NoSchedule"}), true),
            (json!({"key": "foo", "value": "bar", "effect": "NoSchedule"}), true), // empty operator = Equal
            (json!({"key": "foo", "operator": "Equal", "value": "baz", "effect": "NoSchedule"}), false),
            (json!({"key": "foo", "operator": "Exists", "effect": "NoSchedule"}), true),
            (json!({"key": "foo", "operator": "Exists"}), true), // empty effect matches all effects
            (json!({"key": "foo", "operator": "Exists", "effect": "NoExecute"}), false),
            (json!({"operator": "Exists"}), true), // empty key + Exists tolerates everything
            (json!({"operator": "Exists", "effect": "PreferNoSchedule"}), false),
            (json!({"key": "other", "operator": "Exists"}), false),
            (json!({"key": "foo", "operator": "Gt", "value": "1"}), false),
            (json!({"key": "foo", "operator": "Bogus", "value": "bar"}), false),
            // An empty key with Equal compares values only (API validation forbids it).
            (json!({"operator": "Equal", "value": "bar"}), true),
        ];
        for (v, want) in cases {
            assert_eq!(toleration_tolerates_taint(&tol(v.clone()), &t), want, "{v}");
        }
        // A taint without a value is tolerated by Equal with no value.
        assert!(toleration_tolerates_taint(
            &tol(json!({"key": "k", "effect": "NoSchedule"})),
            &taint("k", "", "NoSchedule")
        ));
    }

    #[test]
    fn first_untolerated_taint() {
        let taints =
            vec![taint("a", "1", "PreferNoSchedule"), taint("b", "2", "NoSchedule"), taint("c", "3", "NoExecute")];
        let tols = vec![tol(json!({"key": "b", "operator": "Exists"}))];
        let t = find_untolerated_taint(&taints, &tols, is_do_not_schedule_taint).unwrap();
        assert_eq!(t.key, "c");
        assert!(
            find_untolerated_taint(&taints, &[tol(json!({"operator": "Exists"}))], is_do_not_schedule_taint).is_none()
        );
    }

    fn selector(v: serde_json::Value) -> NodeSelector {
        serde_json::from_value(json!({"nodeSelectorTerms": v})).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> serde_json::Value {
        json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]})
    }

    #[test]
    fn node_selector_operators() {
        let l = labels(&[("zone", "a"), ("gen", "5"), ("bad", "x1")]);
        let cases = [
            (expr("zone", "In", &["a", "b"]), true),
            (expr("zone", "In", &["b"]), false),
            (expr("zone", "NotIn", &["b"]), true),
            (expr("zone", "NotIn", &["a"]), false),
            (expr("missing", "NotIn", &["a"]), true), // NotIn matches an absent key
            (expr("zone", "Exists", &[]), true),
            (expr("missing", "Exists", &[]), false),
            (expr("missing", "DoesNotExist", &[]), true),
            (expr("zone", "DoesNotExist", &[]), false),
            (expr("gen", "Gt", &["4"]), true),
            (expr("gen", "Gt", &["5"]), false),
            (expr("gen", "Lt", &["6"]), true),
            (expr("gen", "Lt", &["5"]), false),
            (expr("bad", "Gt", &["0"]), false),      // non-integer label value
            (expr("gen", "Gt", &["four"]), false),   // non-integer bound: parse error
            (expr("gen", "Gt", &["1", "2"]), false), // Gt needs exactly one value
            (expr("missing", "Lt", &["9"]), false),
            (expr("zone", "In", &[]), false), // In needs values
            (expr("zone", "Bogus", &["a"]), false),
        ];
        for (term, want) in cases {
            let m = NodeSelectorMatcher::lazy(&selector(json!([term.clone()])));
            assert_eq!(m.matches(&l, "n1"), want, "{term}");
        }
    }

    #[test]
    fn node_selector_terms_and_fields() {
        let l = labels(&[("zone", "a")]);
        // Terms are ORed; requirements in a term ANDed; a bad term does not spoil a good one.
        let m = NodeSelectorMatcher::lazy(&selector(json!([expr("zone", "In", &["b"]), expr("x", "Gt", &["y"]), {
            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}])));
        assert!(m.matches(&l, "n1"));
        assert!(!m.matches(&l, "n2"));
        assert!(NodeSelectorMatcher::strict(&selector(json!([expr("x", "Gt", &["y"])]))).is_err());
        // Empty terms match nothing; so does a selector without terms.
        assert!(!NodeSelectorMatcher::lazy(&selector(json!([{}]))).matches(&l, "n1"));
        assert!(!NodeSelectorMatcher::lazy(&selector(json!([]))).matches(&l, "n1"));
        let fields = |op: &str, values: &[&str]| {
            NodeSelectorMatcher::lazy(&selector(
                json!([{"matchFields": [{"key": "metadata.name", "operator": op, "values": values}]}]),
            ))
        };
        assert!(fields("NotIn", &["n2"]).matches(&l, "n1"));
        assert!(!fields("NotIn", &["n1"]).matches(&l, "n1"));
        assert!(!fields("In", &["n1", "n2"]).matches(&l, "n1")); // exactly one value allowed
        assert!(!fields("Exists", &[]).matches(&l, "n1"));
    }

    #[test]
    fn preferred_terms_sum_weights() {
        let terms: Vec<PreferredSchedulingTerm> = serde_json::from_value(json!([
            {"weight": 2, "preference": expr("zone", "In", &["a"])},
            {"weight": 5, "preference": expr("disk", "Exists", &[])},
            {"weight": 0, "preference": expr("zone", "In", &["a"])},
            {"weight": 3, "preference": {}}]))
        .unwrap();
        let p = PreferredTerms::new(&terms).unwrap();
        assert_eq!(p.score(&labels(&[("zone", "a"), ("disk", "ssd")]), "n"), 7);
        assert_eq!(p.score(&labels(&[("zone", "a")]), "n"), 2);
        assert_eq!(p.score(&labels(&[]), "n"), 0);
        let bad: Vec<PreferredSchedulingTerm> =
            serde_json::from_value(json!([{"weight": 1, "preference": expr("gen", "Lt", &["x"])}])).unwrap();
        assert!(PreferredTerms::new(&bad).is_err());
    }
}
