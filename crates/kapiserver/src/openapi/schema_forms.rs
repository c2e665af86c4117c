//! Turns the internal schema form into the v2 and v3 forms.
//!
//! v2: kubectl parses the v2 protobuf with kube-openapi's `pkg/util/proto`, which fails the
//! whole document on a `$ref` next to `type` or `properties`, on an array without exactly
//! one `items` schema, on more than one type and on types other than the four primitives,
//! `object` and `array`. The v2 form therefore drops what OpenAPI v2 cannot say, the way
//! apiextensions-apiserver's `ToStructuralOpenAPIV2` does for CRDs: junctors (`allOf`,
//! `oneOf`, `anyOf`, `not`) go; a `nullable` schema loses its type, items and properties
//! (and its name leaves the parent's `required`); `x-kubernetes-preserve-unknown-fields`
//! drops items and properties (and an `object` type); an array left without items loses
//! its type.
//!
//! v3: `$ref`s point at `#/components/schemas/`, and a `$ref` with siblings is wrapped in
//! `allOf` as upstream does (OpenAPI 3.0 ignores siblings of `$ref`). IntOrString and
//! Quantity take their upstream v3 `oneOf` forms.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::definitions::{INT_OR_STRING, QUANTITY, REF_PREFIX};

/// Where `$ref`s of v3 documents point.
pub(super) const V3_REF_PREFIX: &str = "#/components/schemas/";

/// Keywords of a Swagger 2.0 schema object (vendor extensions are kept separately).
const V2_KEYWORDS: &[&str] = &[
    "$ref",
    "format",
    "title",
    "description",
    "default",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "additionalProperties",
    "type",
    "items",
    "properties",
    "discriminator",
    "readOnly",
    "example",
];

const V2_TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array"];

fn is_true(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The v2 form of one schema (see the module docs for what changes).
pub(super) fn to_v2(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        // A boolean schema (`true`) allows anything: an empty schema says the same in v2.
        return Value::Object(Map::new());
    };
    let mut out: Map<String, Value> =
        map.iter().filter(|(k, _)| k.starts_with("x-") || V2_KEYWORDS.contains(&k.as_str())).map(clone_entry).collect();

    if let Some(Value::Array(types)) = out.get("type") {
        let concrete: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
        match <[Value; 1]>::try_from(concrete) {
            Ok([single]) => out.insert("type".into(), single),
            Err(_) => out.remove("type"),
        };
    }
    if out.get("type").and_then(Value::as_str).is_some_and(|t| !V2_TYPES.contains(&t)) {
        out.remove("type");
    }
    if is_true(map, "nullable") {
        for key in ["type", "items", "properties"] {
            out.remove(key);
        }
    }
    if is_true(map, "x-kubernetes-preserve-unknown-fields") {
        out.remove("items");
        out.remove("properties");
        if out.get("type").and_then(Value::as_str) == Some("object") {
            out.remove("type");
        }
    }

    if let Some(Value::Object(properties)) = out.get_mut("properties") {
        let nullable: Vec<String> = properties
            .iter()
            .filter(|(_, v)| v.as_object().is_some_and(|p| is_true(p, "nullable")))
            .map(|(k, _)| k.clone())
            .collect();
        for value in properties.values_mut() {
            *value = to_v2(value);
        }
        if let Some(Value::Array(required)) = out.get_mut("required") {
            required.retain(|r| r.as_str().is_none_or(|r| !nullable.iter().any(|n| n == r)));
        }
    }
    match out.remove("items") {
        Some(Value::Array(items)) => {
            // A tuple of schemas has no v2 form unless it is a single one.
            if let [single] = items.as_slice() {
                out.insert("items".into(), to_v2(single));
            }
        }
        Some(items @ (Value::Object(_) | Value::Bool(true))) => {
            out.insert("items".into(), to_v2(&items));
        }
        _ => {}
    }
    match out.remove("additionalProperties") {
        Some(inner @ Value::Object(_)) => {
            if inner.as_object().is_some_and(|i| is_true(i, "nullable")) {
                out.remove("required");
            }
            out.insert("additionalProperties".into(), to_v2(&inner));
        }
        Some(flag @ Value::Bool(_)) => {
            out.insert("additionalProperties".into(), flag);
        }
        _ => {}
    }
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.remove("type");
    }
    if out.get("required").and_then(Value::as_array).is_some_and(Vec::is_empty) {
        out.remove("required");
    }
    if out.contains_key("$ref") {
        for key in ["type", "properties", "items", "additionalProperties"] {
            out.remove(key);
        }
    }
    Value::Object(out)
}

fn clone_entry((k, v): (&String, &Value)) -> (String, Value) {
    (k.clone(), v.clone())
}

/// The v3 form of the definition `name`.
pub(super) fn v3_definition(name: &str, schema: &Value) -> Value {
    let description = schema.get("description").cloned();
    let special = match name {
        INT_OR_STRING => Some(json!({
            "format": "int-or-string",
            "oneOf": [{ "type": "integer" }, { "type": "string" }],
        })),
        QUANTITY => Some(json!({ "oneOf": [{ "type": "string" }, { "type": "number" }] })),
        _ => None,
    };
    match (special, description) {
        (Some(mut special), Some(description)) => {
            if let Value::Object(map) = &mut special {
                map.insert("description".into(), description);
            }
            special
        }
        (Some(special), None) => special,
        (None, _) => to_v3(schema),
    }
}

/// Rewrites `$ref`s for v3 and wraps a `$ref` that has siblings in `allOf`.
pub(super) fn to_v3(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        let value = match key.as_str() {
            "$ref" => match value.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                Some(name) => Value::String(format!("{V3_REF_PREFIX}{name}")),
                None => value.clone(),
            },
            "properties" | "patternProperties" | "definitions" => match value {
                Value::Object(props) => Value::Object(props.iter().map(|(k, v)| (k.clone(), to_v3(v))).collect()),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => to_v3(value),
            "allOf" | "oneOf" | "anyOf" => match value {
                Value::Array(list) => Value::Array(list.iter().map(to_v3).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if out.len() > 1 {
        if let Some(reference) = out.remove("$ref") {
            out.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    }
    Value::Object(out)
}

/// Adds the definition names that `schema` refers to (internal form) to `out`. Only schema
/// positions are followed: a property may well be named `default` or `enum`.
pub(super) fn collect_refs(schema: &Value, out: &mut BTreeSet<String>) {
    let Value::Object(map) = schema else {
        return;
    };
    for (key, value) in map {
        match (key.as_str(), value) {
            ("$ref", Value::String(r)) => {
                if let Some(name) = r.strip_prefix(REF_PREFIX) {
                    out.insert(name.to_owned());
                }
            }
            ("properties" | "patternProperties" | "definitions", Value::Object(named)) => {
                named.values().for_each(|v| collect_refs(v, out));
            }
            ("items" | "allOf" | "oneOf" | "anyOf", Value::Array(list)) => {
                list.iter().for_each(|v| collect_refs(v, out))
            }
            ("items" | "additionalProperties" | "not", Value::Object(_)) => collect_refs(value, out),
            _ => {}
        }
    }
}
