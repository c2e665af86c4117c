//! Uniqueness of `x-kubernetes-list-type: set` items and `map` keys (upstream's
//! `listtype/validation.go`).

use serde_json::{Map, Value};

use super::field::{Bad, FieldError, FieldPath};
use super::structural::Structural;
use crate::gofmt::{self, Num};

/// Checks every set and map list below the object `obj`.
pub(crate) fn validate(path: &FieldPath, s: &Structural, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(m) = obj {
        object(path, s, m, &mut errs);
    }
    errs
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn object(path: &FieldPath, s: &Structural, m: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    if let Some(a) = s.additional.as_ref().and_then(|a| a.schema()) {
        for (k, v) in sorted(m) {
            any(&path.key(k), a, v, errs);
        }
    }
    for (k, v) in sorted(m) {
        if let Some(p) = s.properties.get(k) {
            any(&path.child(k), p, v, errs);
        }
    }
}

fn any(path: &FieldPath, s: &Structural, v: &Value, errs: &mut Vec<FieldError>) {
    match v {
        Value::Array(items) => array(path, s, items, errs),
        Value::Object(m) => object(path, s, m, errs),
        _ => {}
    }
}

fn array(path: &FieldPath, s: &Structural, items: &[Value], errs: &mut Vec<FieldError>) {
    match s.list_type.as_deref() {
        Some("set") => {
            let keys: Vec<String> = items.iter().map(identity).collect();
            for i in non_unique(&keys) {
                errs.push(FieldError::duplicate(&path.index(i), &Bad::of(&items[i])));
            }
        }
        Some("map") => errs.extend(list_map(path, s, items)),
        _ => {}
    }
    if let Some(item_schema) = &s.items {
        for (i, v) in items.iter().enumerate() {
            any(&path.index(i), item_schema, v, errs);
        }
    }
}

/// How Go compares values in `validateListSet`: scalars by type and value, compounds by JSON.
fn identity(v: &Value) -> String {
    match v {
        Value::Null => "n".to_owned(),
        Value::Bool(b) => format!("b{b}"),
        Value::String(s) => format!("s{s}"),
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(i)) => format!("i{i}"),
            Some(Num::Float(f)) => format!("f{}", if f == 0.0 { 0 } else { f.to_bits() }),
            None => "n".to_owned(),
        },
        compound => format!("c{}", gofmt::json(compound)),
    }
}

/// Indices of the second occurrence of every repeated key.
fn non_unique(keys: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].iter().filter(|p| *p == k).count() == 1 {
            out.push(i);
        }
    }
    out
}

const UNSPECIFIED: &str = "u";

fn list_map(path: &FieldPath, s: &Structural, items: &[Value]) -> Vec<FieldError> {
    for (i, x) in items.iter().enumerate() {
        if !x.is_null() && !x.is_object() {
            return vec![FieldError::invalid(
                &path.index(i),
                &Bad::of(x),
                "must be an object for an array of list-type map",
            )];
        }
    }
    if items.len() <= 1 {
        return Vec::new();
    }
    if let [key_field] = s.list_map_keys.as_slice() {
        let keys: Vec<Option<&Value>> = items.iter().map(|x| x.as_object().and_then(|m| m.get(key_field))).collect();
        let ids: Vec<String> = keys.iter().map(|k| k.map_or(UNSPECIFIED.to_owned(), identity)).collect();
        return non_unique(&ids)
            .into_iter()
            .map(|i| {
                let mut dup = Map::new();
                if let Some(k) = keys[i] {
                    dup.insert(key_field.clone(), k.clone());
                }
                FieldError::duplicate(&path.index(i), &Bad::Json(Value::Object(dup)))
            })
            .collect();
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let mut key = Map::new();
            if let Some(m) = x.as_object() {
                for f in &s.list_map_keys {
                    if let Some(v) = m.get(f) {
                        key.insert(f.clone(), v.clone());
                    }
                }
            }
            Value::Object(key)
        })
        .collect();
    let ids: Vec<String> = keys.iter().map(identity).collect();
    non_unique(&ids).into_iter().map(|i| FieldError::duplicate(&path.index(i), &Bad::of(&keys[i]))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(schema: Value, obj: Value) -> Vec<String> {
        let s = Structural::from_json(&schema).unwrap();
        validate(&FieldPath::none(), &s, &obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn sets_reject_repeated_items_once_per_value() {
        let schema = json!({"type": "object", "properties": {"s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}});
        assert_eq!(
            errs(schema.clone(), json!({"s": ["a", "b", "a", "a", "b"]})),
            [r#"s[2]: Duplicate value: "a""#, r#"s[4]: Duplicate value: "b""#]
        );
        assert!(errs(schema, json!({"s": ["a", "b"]})).is_empty());
        let schema = json!({"type": "object", "properties": {"s": {"type": "array", "x-kubernetes-list-type": "set", "items": {}}}});
        assert_eq!(errs(schema.clone(), json!({"s": [{"a": 1}, {"a": 1}]})), [r#"s[1]: Duplicate value: {"a":1}"#]);
        // Go compares int64 and float64 as different values.
        assert!(errs(schema, json!({"s": [1, 1.0]})).is_empty());
    }

    #[test]
    fn maps_reject_repeated_keys() {
        let one = json!({"type": "object", "properties": {"m": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}});
        assert_eq!(
            errs(one.clone(), json!({"m": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]})),
            [r#"m[1]: Duplicate value: {"name":"a"}"#]
        );
        assert_eq!(errs(one.clone(), json!({"m": [{}, null]})), ["m[1]: Duplicate value: {}"]);
        assert_eq!(
            errs(one, json!({"m": [{"name": "a"}, "x"]})),
            [r#"m[1]: Invalid value: "x": must be an object for an array of list-type map"#]
        );
        let two = json!({"type": "object", "properties": {"m": {"type": "array", "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["a", "b"], "items": {"type": "object"}}}});
        assert_eq!(
            errs(two.clone(), json!({"m": [{"a": 1, "b": "x"}, {"b": "x", "a": 1, "c": 3}]})),
            [r#"m[1]: Duplicate value: {"a":1,"b":"x"}"#]
        );
        assert!(errs(two, json!({"m": [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}]})).is_empty());
    }

    #[test]
    fn nested_lists_use_key_paths_for_map_values() {
        let schema = json!({"type": "object", "properties": {"o": {"type": "object", "additionalProperties": {
            "type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}}}}});
        assert_eq!(errs(schema, json!({"o": {"k": [1, 1]}})), ["o[k][1]: Duplicate value: 1"]);
    }
}
