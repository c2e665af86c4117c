//! Strategic merge patch (`application/strategic-merge-patch+json`) over JSON values.
//!
//! Follows `k8s.io/apimachinery/pkg/util/strategicpatch` as the API server runs it: deletion
//! lists are merged and nulls that match nothing are dropped. Where upstream leaves patch
//! content in the result unchanged (the body of a `$patch: replace` map, new elements of a
//! merged list, lists replaced whole), this does too; decoding the result into a typed
//! object drops or rejects any directive left there, as upstream's decode does.
//!
//! Deliberate differences, all in corners upstream mishandles: list elements whose order
//! key is missing sort last instead of by Go's inconsistent comparator, and null list
//! elements or map-valued merge keys are compared instead of panicking.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::{FieldMeta, PatchSchema, Strategy};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVES: &str = "$deleteFromPrimitiveList";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";

type Object = Map<String, Value>;

/// Applies `patch` to `original`, looking up list strategies in `schema`.
pub(super) fn apply(original: &Value, patch: Value, schema: &dyn PatchSchema) -> Result<Value, PatchError> {
    let Value::Object(original) = original else {
        return Err(PatchError::Invalid("invalid JSON document".to_owned()));
    };
    let patch = match patch {
        Value::Object(patch) => patch,
        // Go decodes `null` into a nil map, which patches nothing.
        Value::Null => return Ok(Value::Object(original.clone())),
        other => {
            return Err(PatchError::Invalid(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_kind_name(&other)
            )));
        }
    };
    let mut merger = Merger { schema, path: Vec::new() };
    merger.merge_map(original.clone(), patch).map(Value::Object)
}

/// The JSON type of a value, as a kind of element and as Go's decoder tells them apart
/// (integers and floats decode to different Go types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    Array,
    Object,
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    }
}

struct Merger<'s> {
    schema: &'s dyn PatchSchema,
    /// Map keys from the object's root to the map being merged.
    path: Vec<String>,
}

impl<'s> Merger<'s> {
    fn meta(&self, field: &str) -> FieldMeta<'s> {
        let mut path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        path.push(field);
        self.schema.lookup(&path).unwrap_or_default()
    }

    fn within<T>(&mut self, field: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(field.to_owned());
        let result = f(self);
        self.path.pop();
        result
    }

    fn describe(&self, field: &str) -> String {
        let mut path = self.path.join(".");
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(field);
        path
    }

    fn merge_map(&mut self, mut original: Object, mut patch: Object) -> Result<Object, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some(REPLACE) => {
                    patch.remove(DIRECTIVE);
                    Ok(patch)
                }
                Some(DELETE) => Ok(Object::new()),
                _ => Err(bad_patch_type(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_ordered_lists(&mut original, &mut patch)?;
        // Deletion lists go first so that the result does not depend on the key order of the
        // patch object (upstream iterates a Go map, in random order).
        let (deletions, rest): (Vec<_>, Vec<_>) =
            patch.into_iter().partition(|(key, _)| key.starts_with(DELETE_FROM_PRIMITIVES));
        for (key, value) in deletions.into_iter().chain(rest) {
            if key.starts_with(DELETE_FROM_PRIMITIVES) {
                let field = extract_key(&key, DELETE_FROM_PRIMITIVES)?.to_owned();
                self.merge_field(&mut original, field, value, true)?;
            } else {
                self.merge_field(&mut original, key, value, false)?;
            }
        }
        Ok(original)
    }

    /// Merges one patch entry into `original`; `is_delete_list` marks the value of a
    /// `$deleteFromPrimitiveList/<field>` key.
    fn merge_field(
        &mut self,
        original: &mut Object,
        field: String,
        patch: Value,
        is_delete_list: bool,
    ) -> Result<(), PatchError> {
        if patch.is_null() {
            original.remove(&field);
            return Ok(());
        }
        let Some(current) = original.get_mut(&field).map(std::mem::take) else {
            if !is_delete_list {
                if let Some(value) = new_value(patch) {
                    original.insert(field, value);
                }
            }
            return Ok(());
        };
        let merged = match (current, patch) {
            (Value::Object(current), Value::Object(patch)) => {
                if self.meta(&field).strategy == Strategy::Replace {
                    Some(Value::Object(patch))
                } else {
                    Some(Value::Object(self.within(&field, |m| m.merge_map(current, patch))?))
                }
            }
            (Value::Array(current), Value::Array(patch)) => {
                let meta = self.meta(&field);
                Some(Value::Array(self.merge_list_field(&field, current, patch, meta, is_delete_list)?))
            }
            // Scalars of one type: the patch wins, even under a deletion-list key.
            (current, patch) if kind_of(&current) == kind_of(&patch) => Some(patch),
            (current, _) if is_delete_list => Some(current),
            (_, patch) => new_value(patch),
        };
        match merged {
            Some(value) => original.insert(field, value),
            None => original.remove(&field),
        };
        Ok(())
    }

    fn merge_list_field(
        &mut self,
        field: &str,
        current: Vec<Value>,
        patch: Vec<Value>,
        meta: FieldMeta<'_>,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if meta.strategy == Strategy::Merge || is_delete_list {
            self.merge_list(field, current, patch, meta.merge_key, is_delete_list)
        } else {
            Ok(patch)
        }
    }

    fn merge_list(
        &mut self,
        field: &str,
        original: Vec<Value>,
        patch: Vec<Value>,
        merge_key: Option<&str>,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        if element_kind(&original, &patch)? != Kind::Object {
            if is_delete_list {
                let doomed: HashSet<&Value> = patch.iter().collect();
                return Ok(original.into_iter().filter(|v| !doomed.contains(v)).collect());
            }
            let mut seen = HashSet::new();
            let merged: Vec<Value> = original.iter().chain(&patch).filter(|v| seen.insert(*v)).cloned().collect();
            let in_patch: HashSet<&Value> = patch.iter().collect();
            let (patch_items, server_only) = partition(merged, &in_patch, None)?;
            return normalize_order(patch_items, server_only, &patch, &original, None);
        }
        let Some(key) = merge_key else {
            return Err(PatchError::Merge(format!(
                "cannot merge lists without merge key for {}",
                self.describe(field)
            )));
        };
        let (original, patch) = apply_special_elements(original, patch, key)?;
        let server_ids = identities(&original, Some(key))?;
        let patch_ids = identities(&patch, Some(key))?;
        let merged = self.within(field, |m| m.merge_by_key(original, patch, key))?;
        let in_patch: HashSet<&Value> = patch_ids.iter().collect();
        let (patch_items, server_only) = partition(merged, &in_patch, Some(key))?;
        normalize_order(patch_items, server_only, &patch_ids, &server_ids, Some(key))
    }

    /// Merges each patch element into the first original element with the same merge key,
    /// or appends it.
    fn merge_by_key(&mut self, original: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<Vec<Value>, PatchError> {
        let mut merged = original;
        let mut index: HashMap<Value, usize> = HashMap::new();
        for (i, item) in merged.iter().enumerate() {
            if let Some(id) = item.get(key) {
                index.entry(id.clone()).or_insert(i);
            }
        }
        for item in patch {
            let Value::Object(item) = item else {
                return Err(bad_arg_type("map[string]interface {}", &item));
            };
            let Some(id) = item.get(key).cloned() else {
                return Err(no_merge_key(&Value::Object(item), key));
            };
            match index.get(&id) {
                Some(&i) => {
                    let current = match std::mem::take(&mut merged[i]) {
                        Value::Object(current) => current,
                        other => return Err(bad_arg_type("map[string]interface {}", &other)),
                    };
                    merged[i] = Value::Object(self.merge_map(current, item)?);
                }
                None => {
                    index.insert(id, merged.len());
                    merged.push(Value::Object(item));
                }
            }
        }
        Ok(merged)
    }

    /// Handles every `$setElementOrder/<field>` directive of `patch`, merging `<field>` and
    /// ordering it as the directive lists; both keys leave `patch`.
    fn merge_ordered_lists(&mut self, original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
        let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER)).cloned().collect();
        for key in keys {
            let order = match patch.remove(&key) {
                Some(Value::Array(order)) => order,
                Some(other) => return Err(bad_arg_type("[]interface {}", &other)),
                None => continue,
            };
            let field = extract_key(&key, SET_ORDER)?.to_owned();
            let current = match original.get(&field) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(bad_arg_type("[]interface {}", other)),
            };
            let patch_list = match patch.remove(&field) {
                None => None,
                Some(Value::Array(items)) => Some(items),
                Some(other) => return Err(bad_arg_type("[]interface {}", &other)),
            };
            let meta = self.meta(&field);
            validate_order(patch_list.as_deref().unwrap_or_default(), &order, meta.merge_key)?;
            if current.is_none() && patch_list.is_none() {
                continue;
            }
            let current_items = current.as_deref().unwrap_or_default();
            let kind = element_kind(current_items, patch_list.as_deref().unwrap_or_default())?;
            let map_key = (kind == Kind::Object).then(|| meta.merge_key.unwrap_or_default());
            let server_ids = identities(current_items, map_key)?;
            let order_ids = identities(&order, map_key)?;
            let merged = match (current, patch_list) {
                (Some(current), Some(patch_list)) => self.merge_list_field(&field, current, patch_list, meta, false)?,
                (Some(current), None) => current,
                (None, patch_list) => {
                    patch_list.unwrap_or_default().into_iter().filter_map(remove_directives).collect()
                }
            };
            let in_order = order_set(&order, meta.merge_key)?;
            let (listed, unlisted) = partition(merged, &in_order, meta.merge_key)?;
            let ordered = normalize_order(listed, unlisted, &order_ids, &server_ids, map_key)?;
            original.insert(field, Value::Array(ordered));
        }
        Ok(())
    }
}

/// Clears the keys of `original` that a `$retainKeys` directive does not list, after checking
/// that the patch itself sets only listed keys.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(keys) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad_format = || PatchError::Invalid("invalid patch format of retainKeys".to_owned());
    let Value::Array(keys) = keys else {
        return Err(bad_format());
    };
    let retained: HashSet<&str> = keys.iter().filter_map(Value::as_str).collect();
    let unlisted = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVES)
            && !key.starts_with(SET_ORDER)
            && !retained.contains(key.as_str())
    });
    if unlisted {
        return Err(bad_format());
    }
    original.retain(|key, _| retained.contains(key.as_str()));
    Ok(())
}

/// Checks that the non-deleted patch elements appear in `order` in the same relative order.
fn validate_order(patch: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(patch.len());
    for item in patch {
        if merge_key.is_some() {
            if !item.is_object() {
                return Err(bad_arg_type("map[string]interface {}", item));
            }
            if item.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                continue;
            }
        }
        kept.push(item);
    }
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if same_element(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() {
        return Err(PatchError::Merge(format!(
            "the order in patch list {} doesn't match {SET_ORDER} list {}",
            brief(&Value::Array(patch.to_vec())),
            brief(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

fn same_element(left: &Value, right: &Value, merge_key: Option<&str>) -> Result<bool, PatchError> {
    let Some(key) = merge_key else {
        return Ok(left == right);
    };
    let (left_id, right_id) = (identity(left, Some(key))?, identity(right, Some(key))?);
    Ok(left_id == right_id)
}

/// Splits a list-of-maps patch into the original with `$patch: delete` elements removed and
/// the plain patch elements; `$patch: replace` makes the plain elements the whole list.
fn apply_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let Some(id) = item.get(key) else {
                    return Err(no_merge_key(&item, key));
                };
                original.retain(|o| o.get(key) != Some(id));
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(PatchError::Merge("merging lists cannot yet be specified in the patch".to_owned()));
            }
            _ => {
                let map = item.as_object().cloned().unwrap_or_default();
                return Err(bad_patch_type(directive, &map));
            }
        }
    }
    Ok(if replace { (plain, Vec::new()) } else { (original, plain) })
}

/// What identifies a list element for ordering: its merge-key value when `map_key` is set,
/// the element itself otherwise.
fn identity<'v>(item: &'v Value, map_key: Option<&str>) -> Result<&'v Value, PatchError> {
    let Some(key) = map_key else {
        return Ok(item);
    };
    match item {
        Value::Object(map) => map.get(key).ok_or_else(|| no_merge_key(item, key)),
        other => Err(bad_arg_type("map[string]interface {}", other)),
    }
}

fn identities(items: &[Value], map_key: Option<&str>) -> Result<Vec<Value>, PatchError> {
    items.iter().map(|item| identity(item, map_key).cloned()).collect()
}

/// The identities named by a `$setElementOrder` list; maps without the key name nothing.
fn order_set<'v>(order: &'v [Value], merge_key: Option<&str>) -> Result<HashSet<&'v Value>, PatchError> {
    let Some(key) = merge_key else {
        return Ok(order.iter().collect());
    };
    let mut set = HashSet::with_capacity(order.len());
    for (i, item) in order.iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(PatchError::Merge(format!("value for key {i} is not a map")));
        };
        set.extend(map.get(key));
    }
    Ok(set)
}

/// Splits `items` into those whose identity is in `by` and the rest, keeping their order.
fn partition(
    items: Vec<Value>,
    by: &HashSet<&Value>,
    map_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for item in items {
        if by.contains(identity(&item, map_key)?) {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

fn positions(ids: &[Value]) -> HashMap<&Value, usize> {
    let mut positions = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        positions.entry(id).or_insert(i);
    }
    positions
}

/// Orders `patch_items` as `patch_ids` and `server_only` as `server_ids`, then interleaves
/// them: a server-only element goes before a patch element only when both appear in the
/// server order and it came first there. New elements therefore lead, as upstream.
fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_ids: &[Value],
    server_ids: &[Value],
    map_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let server_positions = positions(server_ids);
    let patch_items = sort_by_positions(patch_items, &positions(patch_ids), map_key)?;
    let server_only = sort_by_positions(server_only, &server_positions, map_key)?;
    let position = |item: &Value| identity(item, map_key).ok().and_then(|id| server_positions.get(id).copied());
    let mut merged = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((position(l), position(r)), (Some(a), Some(b)) if a < b),
        };
        merged.extend(if take_left { left.next() } else { right.next() });
    }
    Ok(merged)
}

/// Stable sort by position; unknown elements go last and `$patch: delete` elements after them.
fn sort_by_positions(
    items: Vec<Value>,
    positions: &HashMap<&Value, usize>,
    map_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let mut keyed = Vec::with_capacity(items.len());
    let mut deleted = Vec::new();
    for item in items {
        let position = positions.get(identity(&item, map_key)?).copied().unwrap_or(usize::MAX);
        if map_key.is_some() && item.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
            deleted.push(item);
        } else {
            keyed.push((position, item));
        }
    }
    keyed.sort_by_key(|(position, _)| *position);
    Ok(keyed.into_iter().map(|(_, item)| item).chain(deleted).collect())
}

/// The common type of the elements of both lists.
fn element_kind(original: &[Value], patch: &[Value]) -> Result<Kind, PatchError> {
    let mut kind = None;
    for item in original.iter().chain(patch) {
        let this = kind_of(item);
        match kind {
            None if this == Kind::Array => {
                return Err(PatchError::Unprocessable("lists of lists are not supported".to_owned()));
            }
            None => kind = Some(this),
            Some(first) if first != this => {
                return Err(PatchError::Merge("list element types are not identical".to_owned()));
            }
            Some(_) => {}
        }
    }
    kind.ok_or_else(|| PatchError::Merge("no elements in any of the given slices".to_owned()))
}

/// `<prefix>/<field>` → `<field>`.
fn extract_key<'k>(key: &'k str, prefix: &str) -> Result<&'k str, PatchError> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field),
        _ if prefix == DELETE_FROM_PRIMITIVES => {
            Err(PatchError::Invalid("invalid patch format of primitive list".to_owned()))
        }
        _ => Err(PatchError::Invalid("invalid patch format of setElementOrder list".to_owned())),
    }
}

/// A patch value for a field the original lacks (or has with another type): nulls inside
/// are dropped and maps carrying `$patch` vanish, as upstream.
fn new_value(mut value: Value) -> Option<Value> {
    discard_nulls(&mut value);
    remove_directives(value)
}

fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every map that carries `$patch` (and the entries holding one); `None` when `value`
/// itself is such a map.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => {
            Some(Value::Object(map.into_iter().filter_map(|(k, v)| remove_directives(v).map(|v| (k, v))).collect()))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(remove_directives).collect())),
        other => Some(other),
    }
}

fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Merge(format!("map: {} does not contain declared merge key: {key}", brief(item)))
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    let actual = match kind_of(actual) {
        Kind::Null => "<nil>",
        Kind::Bool => "bool",
        Kind::Int => "int64",
        Kind::Float => "float64",
        Kind::String => "string",
        Kind::Array => "[]interface {}",
        Kind::Object => "map[string]interface {}",
    };
    PatchError::Merge(format!("expected a {expected}, but received a {actual}"))
}

fn bad_patch_type(directive: &Value, map: &Object) -> PatchError {
    let directive = directive.as_str().map_or_else(|| brief(directive), str::to_owned);
    PatchError::Merge(format!("unknown patch type: {directive} in map: {}", brief(&Value::Object(map.clone()))))
}

fn json_kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as JSON, cut short so that error messages stay small.
fn brief(value: &Value) -> String {
    const LIMIT: usize = 200;
    let mut text = value.to_string();
    if text.len() > LIMIT {
        let mut end = LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
