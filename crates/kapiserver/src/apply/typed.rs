//! Walks over JSON objects guided by a [`ListSchema`]: field sets, validation, comparison,
//! merging and removal, following structured-merge-diff's `typed` package.
//!
//! Every map key is treated as a named (struct) field; list semantics come from the schema.
//! Values that are not lists are walked by their JSON shape whatever the schema says.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::element::{PathElement, path_string, values_equal};
use super::fieldset::FieldSet;
use super::{ListKind, ListSchema};

static NULL: Value = Value::Null;

/// The fields that differ between two objects.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    /// Fields only in the old object.
    pub(crate) removed: FieldSet,
    /// Fields in both, with different values.
    pub(crate) modified: FieldSet,
    /// Fields only in the new object.
    pub(crate) added: FieldSet,
}

impl Comparison {
    /// Drops `ignored` paths and everything below them from each set.
    pub(crate) fn exclude(self, ignored: &FieldSet) -> Self {
        if ignored.is_empty() {
            return self;
        }
        Self {
            removed: self.removed.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            added: self.added.recursive_difference(ignored),
        }
    }
}

/// How a pair of values is walked.
enum Shape<'a> {
    Leaf,
    Map(Option<&'a Map<String, Value>>, Option<&'a Map<String, Value>>),
    List(&'a [Value], &'a [Value]),
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn as_list(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

fn is_empty_map(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty())
}

/// Schema-guided operations on JSON values.
pub(crate) struct Typed<'s> {
    schema: &'s dyn ListSchema,
}

impl<'s> Typed<'s> {
    pub(crate) fn new(schema: &'s dyn ListSchema) -> Self {
        Self { schema }
    }

    fn list_kind(&self, names: &[&str]) -> ListKind {
        match self.schema.list_kind(names) {
            ListKind::Map(keys) if keys.is_empty() => ListKind::Set,
            kind => kind,
        }
    }

    fn atomic_map(&self, names: &[&str]) -> bool {
        !names.is_empty() && self.schema.is_atomic_map(names)
    }

    /// Decides how to walk `l` and `r` at `names`. `null` stands for an empty container of
    /// the other side's kind, as upstream's typed walkers read it.
    fn shape<'a>(&self, l: Option<&'a Value>, r: Option<&'a Value>, names: &[&str]) -> (Shape<'a>, Option<ListKind>) {
        let scalar = |v: Option<&Value>| matches!(v, Some(Value::String(_) | Value::Number(_) | Value::Bool(_)));
        if scalar(l) || scalar(r) {
            return (Shape::Leaf, None);
        }
        let is_map = |v: Option<&Value>| matches!(v, Some(Value::Object(_)));
        let is_list = |v: Option<&Value>| matches!(v, Some(Value::Array(_)));
        if (is_map(l) && is_list(r)) || (is_list(l) && is_map(r)) {
            return (Shape::Leaf, None);
        }
        if is_map(l) || is_map(r) {
            let (lm, rm) = (as_map(l), as_map(r));
            let empty = lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty);
            if empty || self.atomic_map(names) {
                return (Shape::Leaf, None);
            }
            return (Shape::Map(lm, rm), None);
        }
        if is_list(l) || is_list(r) {
            let kind = self.list_kind(names);
            let (ll, rl) = (as_list(l), as_list(r));
            if kind == ListKind::Atomic || (ll.is_empty() && rl.is_empty()) {
                return (Shape::Leaf, None);
            }
            return (Shape::List(ll, rl), Some(kind));
        }
        (Shape::Leaf, None)
    }

    /// The path element of a list item (upstream's `listItemToPathElement`).
    fn element_of(&self, names: &[&str], kind: &ListKind, item: &Value) -> Result<PathElement, String> {
        match kind {
            ListKind::Map(keys) => {
                let map = match item {
                    Value::Object(map) => map,
                    Value::Null => return Err("associative list with keys may not have a null element".to_owned()),
                    _ => return Err("associative list with keys may not have non-map elements".to_owned()),
                };
                let fields: Vec<(String, Value)> = keys
                    .iter()
                    .filter_map(|key| match map.get(key) {
                        Some(value) => Some((key.clone(), value.clone())),
                        None => self.schema.key_default(names, key).map(|d| (key.clone(), d)),
                    })
                    .collect();
                if fields.is_empty() {
                    let quoted: Vec<String> = keys.iter().map(|k| crate::gofmt::quote(k)).collect();
                    return Err(format!(
                        "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                        quoted.join(" ")
                    ));
                }
                Ok(PathElement::key(fields))
            }
            _ => match item {
                Value::Object(_) => Err("associative list without keys has an element that's a map type".to_owned()),
                Value::Array(_) => Err("not supported: associative list with lists as elements".to_owned()),
                Value::Null => Err("associative list without keys has an element that's an explicit null".to_owned()),
                scalar => Ok(PathElement::Value(scalar.clone())),
            },
        }
    }

    /// The fields `value` sets (upstream's `ToFieldSet`): leaves, empty or null maps, atomic
    /// lists and maps, and list elements with everything in them.
    pub(crate) fn field_set(&self, value: &Value) -> FieldSet {
        let mut out = FieldSet::new();
        self.collect_fields(value, &mut Vec::new(), &mut Vec::new(), &mut out);
        out
    }

    fn collect_fields<'a>(
        &self,
        v: &'a Value,
        names: &mut Vec<&'a str>,
        path: &mut Vec<PathElement>,
        out: &mut FieldSet,
    ) {
        match v {
            Value::Object(map) => {
                if self.atomic_map(names) {
                    out.insert(path);
                    return;
                }
                for (key, child) in map {
                    names.push(key);
                    path.push(PathElement::Field(key.clone()));
                    self.collect_fields(child, names, path, out);
                    if child.is_null() || is_empty_map(child) {
                        out.insert(path);
                    }
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(items) => {
                let kind = self.list_kind(names);
                if kind == ListKind::Atomic {
                    out.insert(path);
                    return;
                }
                let elements: Vec<Option<PathElement>> =
                    items.iter().map(|item| self.element_of(names, &kind, item).ok()).collect();
                let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
                for element in elements.iter().flatten() {
                    *counts.entry(element).or_default() += 1;
                }
                for (item, element) in items.iter().zip(&elements) {
                    let Some(element) = element else { continue };
                    path.push(element.clone());
                    // Duplicated elements are owned whole: upstream does not look inside.
                    if counts.get(element).copied().unwrap_or(0) < 2 {
                        self.collect_fields(item, names, path, out);
                    }
                    out.insert(path);
                    path.pop();
                }
            }
            _ => out.insert(path),
        }
    }

    /// Checks that every list element has a path element and, unless `allow_duplicates`,
    /// that no two elements share one. Messages follow upstream's validation errors.
    pub(crate) fn validate(&self, value: &Value, allow_duplicates: bool) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate_node(value, allow_duplicates, &mut Vec::new(), &mut Vec::new(), &mut errors);
        errors
    }

    fn validate_node<'a>(
        &self,
        v: &'a Value,
        allow_duplicates: bool,
        names: &mut Vec<&'a str>,
        path: &mut Vec<PathElement>,
        errors: &mut Vec<String>,
    ) {
        let at = |path: &[PathElement], message: String| {
            if path.is_empty() { message } else { format!("{}: {message}", path_string(path)) }
        };
        match v {
            Value::Object(map) if !self.atomic_map(names) => {
                for (key, child) in map {
                    names.push(key);
                    path.push(PathElement::Field(key.clone()));
                    self.validate_node(child, allow_duplicates, names, path, errors);
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(items) => {
                let kind = self.list_kind(names);
                if kind == ListKind::Atomic {
                    return;
                }
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let element = match self.element_of(names, &kind, item) {
                        Ok(element) => element,
                        Err(message) => {
                            errors.push(at(path, format!("element {i}: {message}")));
                            continue;
                        }
                    };
                    if seen.contains(&element) && !allow_duplicates {
                        errors.push(at(path, format!("duplicate entries for key {element}")));
                    }
                    seen.insert(element.clone());
                    path.push(element);
                    self.validate_node(item, allow_duplicates, names, path, errors);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// The fields removed, modified and added going from `old` to `new`.
    pub(crate) fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut out = Comparison::default();
        self.compare_node(Some(old), Some(new), &mut Vec::new(), &mut Vec::new(), &mut out);
        out
    }

    fn compare_node<'a>(
        &self,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
        names: &mut Vec<&'a str>,
        path: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) {
        let (shape, kind) = self.shape(l, r, names);
        match (shape, l, r) {
            (Shape::Leaf, None, _) => out.added.insert(path),
            (Shape::Leaf, _, None) => out.removed.insert(path),
            (Shape::Leaf, Some(l), Some(r)) => {
                if !values_equal(l, r) {
                    out.modified.insert(path);
                }
            }
            (Shape::Map(lm, rm), _, _) => {
                let mut keys: BTreeSet<&'a String> = BTreeSet::new();
                keys.extend(lm.into_iter().flat_map(Map::keys));
                keys.extend(rm.into_iter().flat_map(Map::keys));
                for key in keys {
                    names.push(key);
                    path.push(PathElement::Field(key.clone()));
                    self.compare_node(lm.and_then(|m| m.get(key)), rm.and_then(|m| m.get(key)), names, path, out);
                    path.pop();
                    names.pop();
                }
                self.mark_presence(l, r, path, out);
            }
            (Shape::List(ll, rl), _, _) => {
                let kind = kind.unwrap_or(ListKind::Atomic);
                self.compare_items(ll, rl, &kind, names, path, out);
                self.mark_presence(l, r, path, out);
            }
        }
    }

    fn mark_presence(&self, l: Option<&Value>, r: Option<&Value>, path: &[PathElement], out: &mut Comparison) {
        if l.is_none() {
            out.added.insert(path);
        } else if r.is_none() {
            out.removed.insert(path);
        }
    }

    fn compare_items<'a>(
        &self,
        ll: &'a [Value],
        rl: &'a [Value],
        kind: &ListKind,
        names: &mut Vec<&'a str>,
        path: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) {
        let mut order: Vec<PathElement> = Vec::new();
        let mut lhs: BTreeMap<PathElement, Vec<&'a Value>> = BTreeMap::new();
        let mut rhs: BTreeMap<PathElement, Vec<&'a Value>> = BTreeMap::new();
        for item in ll {
            let Ok(element) = self.element_of(names, kind, item) else { continue };
            let entry = lhs.entry(element.clone()).or_default();
            if entry.is_empty() {
                order.push(element);
            }
            entry.push(item);
        }
        for item in rl {
            let Ok(element) = self.element_of(names, kind, item) else { continue };
            let entry = rhs.entry(element.clone()).or_default();
            if entry.is_empty() && !lhs.contains_key(&element) {
                order.push(element.clone());
            }
            entry.push(item);
        }
        for element in order {
            let l_items = lhs.get(&element).map(Vec::as_slice).unwrap_or_default();
            let r_items = rhs.get(&element).map(Vec::as_slice).unwrap_or_default();
            path.push(element);
            match (l_items.len(), r_items.len()) {
                (0..=1, 0..=1) => {
                    self.compare_node(l_items.first().copied(), r_items.first().copied(), names, path, out)
                }
                (2.., 2..) => {
                    let same =
                        l_items.len() == r_items.len() && l_items.iter().zip(r_items).all(|(a, b)| values_equal(a, b));
                    if !same {
                        out.modified.insert(path);
                    }
                }
                (2.., _) => {
                    if let Some(r) = r_items.first() {
                        self.compare_node(None, Some(r), names, path, out);
                    }
                    out.removed.insert(path);
                }
                (_, _) => {
                    if let Some(l) = l_items.first() {
                        self.compare_node(Some(l), None, names, path, out);
                    }
                    out.added.insert(path);
                }
            }
            path.pop();
        }
    }

    /// Merges `config` into `live`: maps key by key, associative lists by element, atomic
    /// values replaced. A `null` from the config removes a map entry instead of storing null
    /// (Go types drop it the same way when they decode the merged object).
    pub(crate) fn merge(&self, live: &Value, config: &Value) -> Result<Value, String> {
        Ok(self.merge_node(Some(live), Some(config), &mut Vec::new())?.unwrap_or(Value::Null))
    }

    fn merge_node<'a>(
        &self,
        l: Option<&'a Value>,
        r: Option<&'a Value>,
        names: &mut Vec<&'a str>,
    ) -> Result<Option<Value>, String> {
        let (l, r) = match (l, r) {
            (None, None) => return Ok(None),
            (Some(l), None) => return Ok(Some(l.clone())),
            (None, Some(r)) => return Ok(Some(r.clone())),
            (Some(l), Some(r)) => (l, r),
        };
        let (shape, kind) = self.shape(Some(l), Some(r), names);
        match shape {
            Shape::Leaf => Ok(Some(r.clone())),
            Shape::Map(lm, rm) => {
                let mut out = lm.cloned().unwrap_or_default();
                for (key, rv) in rm.into_iter().flatten() {
                    names.push(key);
                    let merged = self.merge_node(lm.and_then(|m| m.get(key)), Some(rv), names)?;
                    names.pop();
                    match merged {
                        Some(Value::Null) if rv.is_null() => {
                            out.remove(key);
                        }
                        Some(value) => {
                            out.insert(key.clone(), value);
                        }
                        None => {
                            out.remove(key);
                        }
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Shape::List(ll, rl) => {
                let kind = kind.unwrap_or(ListKind::Atomic);
                let items = self.merge_items(ll, rl, &kind, names)?;
                Ok((!items.is_empty()).then_some(Value::Array(items)))
            }
        }
    }

    /// Upstream's list merge: the config's order wins for shared elements, live-only elements
    /// stay where they were relative to them.
    fn merge_items<'a>(
        &self,
        ll: &'a [Value],
        rl: &'a [Value],
        kind: &ListKind,
        names: &mut Vec<&'a str>,
    ) -> Result<Vec<Value>, String> {
        let mut out = Vec::with_capacity(ll.len().max(rl.len()));
        let rhs_elements = rl.iter().map(|item| self.element_of(names, kind, item)).collect::<Result<Vec<_>, _>>()?;
        let mut observed_rhs: BTreeMap<&PathElement, &'a Value> = BTreeMap::new();
        for (element, item) in rhs_elements.iter().zip(rl) {
            if observed_rhs.insert(element, item).is_some() {
                return Err(format!("duplicate entries for key {element}"));
            }
        }
        let lhs_elements = ll.iter().map(|item| self.element_of(names, kind, item)).collect::<Result<Vec<_>, _>>()?;
        let mut observed_lhs: BTreeMap<&PathElement, &'a Value> = BTreeMap::new();
        for (element, item) in lhs_elements.iter().zip(ll) {
            // Duplicated live elements do not merge with the config's: they act as null.
            let slot = observed_lhs.entry(element).or_insert(item);
            if !std::ptr::eq(*slot, item) {
                *slot = &NULL;
            }
        }
        let mut shared: VecDeque<&PathElement> =
            rhs_elements.iter().filter(|element| observed_lhs.contains_key(element)).collect();
        let mut next_shared = shared.pop_front();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let (mut li, mut ri) = (0, 0);
        while li < ll.len() || ri < rl.len() {
            if li < ll.len() && ri < rl.len() {
                let element = &lhs_elements[li];
                if *element == rhs_elements[ri] {
                    merged_rhs.insert(element);
                    let left = observed_lhs.get(element).copied();
                    let right = observed_rhs.get(element).copied();
                    out.extend(self.merge_node(left, right, names)?);
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if observed_rhs.contains_key(element) && next_shared.is_some_and(|next| next != element) {
                    li += 1;
                    continue;
                }
            }
            if li < ll.len() {
                let element = &lhs_elements[li];
                if !observed_rhs.contains_key(element) {
                    out.extend(self.merge_node(Some(&ll[li]), None, names)?);
                    li += 1;
                    continue;
                } else if merged_rhs.contains(element) {
                    li += 1;
                }
            }
            if ri < rl.len() {
                let element = &rhs_elements[ri];
                merged_rhs.insert(element);
                let left = observed_lhs.get(element).copied();
                out.extend(self.merge_node(left, observed_rhs.get(element).copied(), names)?);
                ri += 1;
                if next_shared == Some(element) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok(out)
    }

    /// `value` without the members of `set` (and what is below them). Maps and lists that
    /// removal empties are dropped rather than left as null.
    pub(crate) fn remove_items(&self, value: &Value, set: &FieldSet) -> Value {
        if set.is_empty() {
            return value.clone();
        }
        self.remove_node(value, set, &mut Vec::new()).unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove_node<'a>(&self, v: &'a Value, set: &FieldSet, names: &mut Vec<&'a str>) -> Option<Value> {
        match v {
            Value::Object(map) if !map.is_empty() && !self.atomic_map(names) => {
                let mut out = Map::new();
                for (key, child) in map {
                    let element = PathElement::Field(key.clone());
                    if set.has(std::slice::from_ref(&element)) {
                        continue;
                    }
                    let below = set.with_prefix(&element);
                    if below.is_empty() {
                        out.insert(key.clone(), child.clone());
                        continue;
                    }
                    names.push(key);
                    if let Some(kept) = self.remove_node(child, &below, names) {
                        out.insert(key.clone(), kept);
                    }
                    names.pop();
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) if !items.is_empty() => {
                let kind = self.list_kind(names);
                if kind == ListKind::Atomic {
                    return Some(v.clone());
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Ok(element) = self.element_of(names, &kind, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.has(std::slice::from_ref(&element)) {
                        continue;
                    }
                    let below = set.with_prefix(&element);
                    if below.is_empty() {
                        out.push(item.clone());
                    } else if let Some(kept) = self.remove_node(item, &below, names) {
                        out.push(kept);
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            _ => Some(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Lists;

    impl ListSchema for Lists {
        fn list_kind(&self, path: &[&str]) -> ListKind {
            match path {
                ["keyed"] => ListKind::Map(vec!["name".into()]),
                ["set"] => ListKind::Set,
                _ => ListKind::Atomic,
            }
        }
    }

    fn items(names: &[&str]) -> Value {
        Value::Array(names.iter().map(|n| json!({"name": n})).collect())
    }

    fn names(v: &Value) -> Vec<String> {
        v.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap_or("?").to_owned()).collect()
    }

    #[test]
    fn list_merge_keeps_upstream_order() {
        let typed = Typed::new(&Lists);
        let merged =
            typed.merge(&json!({"keyed": items(&["a", "b", "c"])}), &json!({"keyed": items(&["c", "a"])})).unwrap();
        assert_eq!(names(&merged["keyed"]), ["b", "c", "a"]);
        let merged =
            typed.merge(&json!({"keyed": items(&["a", "b"])}), &json!({"keyed": items(&["x", "b", "y"])})).unwrap();
        assert_eq!(names(&merged["keyed"]), ["a", "x", "b", "y"]);
        let merged = typed.merge(&json!({"set": [3, 1]}), &json!({"set": [2, 1]})).unwrap();
        assert_eq!(merged["set"], json!([3, 2, 1]));
        let merged = typed.merge(&json!({"atomic": [1, 2]}), &json!({"atomic": [3]})).unwrap();
        assert_eq!(merged["atomic"], json!([3]));
        // Live duplicates are kept when the config does not name them.
        let merged = typed.merge(&json!({"keyed": items(&["a", "a", "b"])}), &json!({"keyed": items(&["b"])})).unwrap();
        assert_eq!(names(&merged["keyed"]), ["a", "a", "b"]);
        assert!(typed.merge(&json!({"keyed": items(&["b"])}), &json!({"keyed": items(&["a", "a"])})).is_err());
    }

    #[test]
    fn compare_reports_nodes_and_duplicates() {
        let typed = Typed::new(&Lists);
        let cmp =
            typed.compare(&json!({"a": 1, "m": {"x": 1}}), &json!({"a": 2, "n": {"y": 1}, "keyed": items(&["k"])}));
        assert_eq!(cmp.modified.path_strings(), [".a"]);
        assert_eq!(cmp.removed.path_strings(), [".m", ".m.x"]);
        assert_eq!(
            cmp.added.path_strings(),
            [".keyed", ".n", r#".keyed[name="k"]"#, r#".keyed[name="k"].name"#, ".n.y"]
        );
        // Duplicated elements compare whole.
        let cmp = typed.compare(&json!({"keyed": items(&["a", "a"])}), &json!({"keyed": items(&["a"])}));
        assert_eq!(cmp.removed.path_strings(), [r#".keyed[name="a"]"#]);
        assert_eq!(cmp.added.path_strings(), [r#".keyed[name="a"]"#, r#".keyed[name="a"].name"#]);
        assert!(typed.compare(&json!({"n": 1}), &json!({"n": 1.0})).modified.is_empty());
    }

    #[test]
    fn removal_drops_emptied_containers() {
        let typed = Typed::new(&Lists);
        let f = PathElement::field;
        let obj = json!({"a": {"b": 1}, "c": 2, "keyed": items(&["x", "y"]), "set": ["p", "q"]});
        let set = FieldSet::from_paths(&[
            vec![f("a"), f("b")],
            vec![f("keyed"), PathElement::key(vec![("name".into(), json!("x"))])],
            vec![f("set"), PathElement::Value(json!("p"))],
            vec![f("set"), PathElement::Value(json!("q"))],
        ]);
        assert_eq!(typed.remove_items(&obj, &set), json!({"c": 2, "keyed": items(&["y"])}));
    }
}
