//! Field sets: the trees of path elements behind `managedFields[].fieldsV1`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use super::element::{PathElement, path_string, write_json_string};

/// Errors reading a fieldsV1 document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldsError {
    /// The document is not a tree of objects keyed by path elements.
    #[error("invalid fieldsV1: {0}")]
    Parse(String),
}

/// A set of field paths, stored as a tree like upstream's `fieldpath.Set`.
///
/// A node's *members* are the paths that end there (written with `{}` or a `"."` entry in
/// fieldsV1); its *children* lead to longer paths. A path can be both, as a list element
/// owned as a whole and field by field. Children are never empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding each of `paths`.
    #[must_use]
    pub fn from_paths<P: AsRef<[PathElement]>>(paths: &[P]) -> Self {
        let mut set = Self::new();
        for path in paths {
            set.insert(path.as_ref());
        }
        set
    }

    /// Adds `path` (not its parents). The empty path, the whole object, is never tracked.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, parents)) = path.split_last() else { return };
        let mut node = self;
        for element in parents {
            node = node.children.entry(element.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    /// Whether `path` is a member.
    #[must_use]
    pub fn has(&self, path: &[PathElement]) -> bool {
        let Some((last, parents)) = path.split_last() else { return false };
        let mut node = self;
        for element in parents {
            match node.children.get(element) {
                Some(child) => node = child,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// Whether the set has no member.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(Self::is_empty)
    }

    /// The number of member paths.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(Self::len).sum::<usize>()
    }

    /// Paths in either set.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (element, child) in &other.children {
            let merged = match out.children.get(element) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(element.clone(), merged);
        }
        out
    }

    /// Paths in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| {
                let common = child.intersection(other.children.get(element)?);
                (!common.is_empty()).then(|| (element.clone(), common))
            })
            .collect();
        Self { members, children }
    }

    /// Paths of `self` that are not members of `other`. Like upstream, removing a parent
    /// path leaves the paths below it in place.
    #[must_use]
    pub fn difference(&self, other: &Self) -> Self {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(element, child)| match other.children.get(element) {
                Some(theirs) => {
                    let rest = child.difference(theirs);
                    (!rest.is_empty()).then(|| (element.clone(), rest))
                }
                None => Some((element.clone(), child.clone())),
            })
            .collect();
        Self { members, children }
    }

    /// Paths of `self` that are neither members of `other` nor below one of its members.
    #[must_use]
    pub fn recursive_difference(&self, other: &Self) -> Self {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter(|(element, _)| !other.members.contains(element))
            .filter_map(|(element, child)| match other.children.get(element) {
                Some(theirs) => {
                    let rest = child.recursive_difference(theirs);
                    (!rest.is_empty()).then(|| (element.clone(), rest))
                }
                None => Some((element.clone(), child.clone())),
            })
            .collect();
        Self { members, children }
    }

    /// The paths below `element`, without it.
    #[must_use]
    pub fn with_prefix(&self, element: &PathElement) -> Self {
        self.children.get(element).cloned().unwrap_or_default()
    }

    /// The members that are leaves: paths with no longer path in the set.
    #[must_use]
    pub fn leaves(&self) -> Self {
        let members = self.members.iter().filter(|m| !self.children.contains_key(m)).cloned().collect();
        let children = self.children.iter().map(|(element, child)| (element.clone(), child.leaves())).collect();
        Self { members, children }
    }

    /// Every member path, in upstream's order (a node's members, then its children, each
    /// sorted).
    #[must_use]
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for member in &self.members {
            let mut path = prefix.clone();
            path.push(member.clone());
            out.push(path);
        }
        for (element, child) in &self.children {
            prefix.push(element.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// Every member path as upstream prints it (`.spec.replicas`).
    #[must_use]
    pub fn path_strings(&self) -> Vec<String> {
        self.paths().iter().map(|p| path_string(p)).collect()
    }

    /// Upstream's `EnsureNamedFieldsAreMembers`, for schemas where every map key is a named
    /// field: parents reached through a field name become members too.
    pub(crate) fn with_named_fields_as_members(&self) -> Self {
        let mut members = self.members.clone();
        members.extend(self.children.keys().filter(|e| matches!(e, PathElement::Field(_))).cloned());
        let children = self
            .children
            .iter()
            .map(|(element, child)| (element.clone(), child.with_named_fields_as_members()))
            .collect();
        Self { members, children }
    }

    /// Reads a fieldsV1 document (`{"f:spec":{"f:replicas":{}}}`). Elements of unknown types
    /// are dropped, like upstream does.
    ///
    /// # Errors
    ///
    /// [`FieldsError::Parse`] when the document is not an object tree or a key is not a path
    /// element.
    pub fn from_value(fields: &Value) -> Result<Self, FieldsError> {
        match read_node(fields).map_err(FieldsError::Parse)? {
            (Some(set), _) => Ok(set),
            (None, _) => Ok(Self::new()),
        }
    }

    /// Reads fieldsV1 from JSON text.
    ///
    /// # Errors
    ///
    /// [`FieldsError::Parse`] for invalid JSON or an invalid document.
    pub fn from_json_str(text: &str) -> Result<Self, FieldsError> {
        let value: Value = serde_json::from_str(text).map_err(|e| FieldsError::Parse(e.to_string()))?;
        Self::from_value(&value)
    }

    /// The fieldsV1 document, byte for byte as upstream writes it (keys in path-element
    /// order, `"."` first).
    #[must_use]
    pub fn to_json_string(&self) -> String {
        let mut out = String::from("{");
        self.write_contents(false, &mut out);
        out.push('}');
        out
    }

    /// The fieldsV1 document as a JSON value (key order is then the map's).
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::Object(self.contents(false))
    }

    fn write_contents(&self, include_self: bool, out: &mut String) {
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
        };
        if include_self && !self.is_empty() {
            sep(out);
            out.push_str("\".\":{}");
        }
        for (element, member, child) in self.entries() {
            sep(out);
            write_json_string(out, &element.to_fields_key(), false);
            out.push_str(":{");
            if let Some(child) = child {
                child.write_contents(member, out);
            }
            out.push('}');
        }
    }

    fn contents(&self, include_self: bool) -> Map<String, Value> {
        let mut map = Map::new();
        if include_self && !self.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (element, member, child) in self.entries() {
            let inner = child.map(|c| c.contents(member)).unwrap_or_default();
            map.insert(element.to_fields_key(), Value::Object(inner));
        }
        map
    }

    /// Members and children merged in element order: (element, is member, subtree).
    fn entries(&self) -> Vec<(&PathElement, bool, Option<&Self>)> {
        let mut out: Vec<_> = self
            .members
            .iter()
            .map(|m| (m, true, self.children.get(m)))
            .chain(self.children.iter().filter(|(e, _)| !self.members.contains(*e)).map(|(e, c)| (e, false, Some(c))))
            .collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }
}

/// One path per line, as upstream prints a set.
impl fmt::Display for FieldSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path_strings().join("\n"))
    }
}

/// Reads one node: its subtree (if any) and whether the node itself is a member.
fn read_node(value: &Value) -> Result<(Option<FieldSet>, bool), String> {
    let map = match value {
        Value::Null => return Ok((None, true)),
        Value::Object(map) => map,
        other => return Err(format!("expected an object, got {other}")),
    };
    let mut children: Option<FieldSet> = None;
    let mut is_member = false;
    for (key, child) in map {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(element) = PathElement::parse(key).map_err(|e| format!("parsing key as path element: {e}"))? else {
            continue;
        };
        let (grandchildren, child_is_member) = read_node(child)?;
        if child_is_member {
            children.get_or_insert_default().members.insert(element.clone());
        }
        if let Some(grandchildren) = grandchildren {
            children.get_or_insert_default().children.insert(element, grandchildren);
        }
    }
    if children.is_none() {
        is_member = true;
    }
    Ok((children, is_member))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    fn k(name: &str) -> PathElement {
        PathElement::key(vec![("name".into(), json!(name))])
    }

    const SAMPLES: &[&str] = &[
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:image":{},"f:name":{}}}}}"#,
        r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:replicas":{}}}"#,
        r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/a\"":{},"v:\"example.com/b\"":{}}}}"#,
        r#"{"f:spec":{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:targetPort":{}},"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}}}}"#,
        r#"{"f:data":{".":{},"f:a":{},"f:b":{}},"f:spec":{"f:list":{"i:0":{},"i:10":{}}}}"#,
        "{}",
    ];

    #[test]
    fn round_trips_upstream_samples() {
        for sample in SAMPLES {
            let set = FieldSet::from_json_str(sample).unwrap();
            assert_eq!(set.to_json_string(), *sample);
            assert_eq!(FieldSet::from_value(&set.to_value()).unwrap(), set);
        }
    }

    #[test]
    fn numeric_keys_keep_upstream_order() {
        // 80 sorts before 443 numerically, unlike the JSON text; a node's members come
        // before its children.
        let set = FieldSet::from_json_str(SAMPLES[3]).unwrap();
        assert_eq!(
            set.path_strings(),
            [
                ".spec.ports",
                r#".spec.ports[port=80,protocol="TCP"]"#,
                r#".spec.ports[port=443,protocol="TCP"]"#,
                r#".spec.ports[port=80,protocol="TCP"].port"#,
                r#".spec.ports[port=80,protocol="TCP"].targetPort"#,
                r#".spec.ports[port=443,protocol="TCP"].port"#,
            ]
        );
    }

    #[test]
    fn reads_members_and_children() {
        let set = FieldSet::from_json_str(SAMPLES[0]).unwrap();
        let containers = [f("spec"), f("containers")];
        assert!(set.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.has(&[f("metadata"), f("labels")]));
        assert!(set.has(&[containers[0].clone(), containers[1].clone(), k("c")]));
        assert!(set.has(&[f("spec"), f("containers"), k("c"), f("image")]));
        assert_eq!(set.len(), 4);
        assert_eq!(
            set.to_string(),
            ".metadata.labels.app\n.spec.containers[name=\"c\"]\n.spec.containers[name=\"c\"].image\n.spec.containers[name=\"c\"].name"
        );
        // Unknown element types are dropped; null counts as {}.
        let odd = FieldSet::from_json_str(r#"{"f:a":null,"x:y":{},"f:b":{"q:1":{}}}"#).unwrap();
        assert_eq!(odd.to_json_string(), r#"{"f:a":{},"f:b":{}}"#);
    }

    #[test]
    fn rejects_malformed_documents() {
        for bad in [r#"{"f:a":1}"#, r#"{"fa":{}}"#, r#"{"k:notjson":{}}"#, "[]", r#"{"i:x":{}}"#] {
            assert!(FieldSet::from_json_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_algebra_matches_upstream() {
        let a = FieldSet::from_paths(&[vec![f("a"), f("b")], vec![f("a"), f("c")], vec![f("d")]]);
        let b = FieldSet::from_paths(&[vec![f("a"), f("b")], vec![f("a")], vec![f("e")]]);
        assert_eq!(a.union(&b).len(), 5);
        assert_eq!(a.intersection(&b).path_strings(), [".a.b"]);
        // Parent minus child keeps the parent; child minus parent keeps the child.
        assert_eq!(a.difference(&b).path_strings(), [".d", ".a.c"]);
        assert_eq!(a.recursive_difference(&b).path_strings(), [".d"]);
        assert!(a.difference(&a).is_empty());
        assert_eq!(a.difference(&a), FieldSet::new());
        assert_eq!(a.with_prefix(&f("a")).path_strings(), [".b", ".c"]);
        let named = a.with_named_fields_as_members();
        assert!(named.has(&[f("a")]));
        let both = FieldSet::from_paths(&[vec![f("x")], vec![f("x"), f("y")]]);
        assert_eq!(both.leaves().path_strings(), [".x.y"]);
    }
}
