//! CRD-level rules on the raw `openAPIV3Schema` (upstream's
//! `ValidateCustomResourceDefinitionOpenAPISchema` and `specStandardValidatorV3`) and the
//! validation of `default` values (upstream's `defaulting/validation.go`), with the options a
//! new `apiextensions.k8s.io/v1` CRD gets.

use serde_json::{Map, Value};

use super::embedded;
use super::field::{Bad, FieldError, FieldPath};
use super::openapi;
use super::prune::prune_value;
use super::structural::Structural;

const META_FIELDS: [&str; 3] = ["metadata", "kind", "apiVersion"];
const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The per-subtree options of upstream's `specStandardValidator`.
#[derive(Clone, Default)]
struct Ssv {
    forbid_defaults: Option<String>,
    inside_meta: bool,
}

/// The OpenAPI keyword rules, walking the raw schema.
pub(crate) fn openapi_rules(path: &FieldPath, schema: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Value::Object(m) = schema {
        node(m, path, &Ssv::default(), true, &mut errs);
    }
    errs
}

fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    get(m, k).and_then(Value::as_str).unwrap_or("")
}

fn non_empty(m: &Map<String, Value>, k: &str) -> bool {
    match get(m, k) {
        None => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    }
}

fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn standard(m: &Map<String, Value>, path: &FieldPath, ssv: &Ssv, errs: &mut Vec<FieldError>) {
    let ty = str_of(m, "type");
    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(&path.child("type"), &Bad::str(ty), &strings(&OPENAPI_TYPES)));
    }
    if let (true, Some(reason)) = (m.contains_key("default"), &ssv.forbid_defaults) {
        let detail = if reason.is_empty() { "must not be set".to_owned() } else { format!("must not be set {reason}") };
        errs.push(FieldError::forbidden(&path.child("default"), &detail));
    }
    let unsupported: [(&str, bool, &str); 6] = [
        ("id", non_empty(m, "id"), "id is not supported"),
        ("additionalItems", get(m, "additionalItems").is_some(), "additionalItems is not supported"),
        ("patternProperties", non_empty(m, "patternProperties"), "patternProperties is not supported"),
        ("definitions", non_empty(m, "definitions"), "definitions is not supported"),
        ("dependencies", get(m, "dependencies").is_some(), "dependencies is not supported"),
        ("$ref", get(m, "$ref").is_some(), "$ref is not supported"),
    ];
    for (field, present, msg) in unsupported {
        if present {
            errs.push(FieldError::forbidden(&path.child(field), msg));
        }
    }
    if ty == "null" {
        errs.push(FieldError::forbidden(
            &path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if get(m, "items").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        errs.push(FieldError::forbidden(&path.child("items"), "items must be a schema object and not an array"));
    }
    if ssv.inside_meta && get(m, "x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
        let msg = "must not be used inside of resource meta";
        errs.push(FieldError::forbidden(&path.child("x-kubernetes-embedded-resource"), msg));
    }
}

fn recurse(v: Option<&Value>, path: &FieldPath, ssv: &Ssv, errs: &mut Vec<FieldError>) {
    if let Some(Value::Object(m)) = v {
        node(m, path, ssv, false, errs);
    }
}

fn node(m: &Map<String, Value>, path: &FieldPath, ssv: &Ssv, is_root: bool, errs: &mut Vec<FieldError>) {
    standard(m, path, ssv, errs);
    if get(m, "uniqueItems") == Some(&Value::Bool(true)) {
        let msg = "uniqueItems cannot be set to true since the runtime complexity becomes quadratic";
        errs.push(FieldError::forbidden(&path.child("uniqueItems"), msg));
    }
    let props = get(m, "properties").and_then(Value::as_object);
    let embedded = get(m, "x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    if let Some(additional) = get(m, "additionalProperties") {
        if props.is_some_and(|p| !p.is_empty()) && additional != &Value::Bool(true) {
            let msg = "additionalProperties and properties are mutual exclusive";
            errs.push(FieldError::forbidden(&path.child("additionalProperties"), msg));
        }
        let mut sub = ssv.clone();
        if ssv.inside_meta {
            sub.forbid_defaults = Some("inside additionalProperties applying to object metadata".to_owned());
        }
        recurse(Some(additional), &path.child("additionalProperties"), &sub, errs);
    }
    for (k, v) in props.map(sorted).unwrap_or_default() {
        let mut sub = ssv.clone();
        if (is_root || embedded) && META_FIELDS.contains(&k.as_str()) {
            sub.inside_meta = true;
            if is_root {
                sub.forbid_defaults = Some(format!("in top-level {k}"));
            }
        }
        recurse(Some(v), &path.child("properties").key(k), &sub, errs);
    }
    recurse(get(m, "not"), &path.child("not"), ssv, errs);
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, v) in get(m, key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            recurse(Some(v), &path.child(key).index(i), ssv, errs);
        }
    }
    for (k, v) in get(m, "definitions").and_then(Value::as_object).map(sorted).unwrap_or_default() {
        recurse(Some(v), &path.child("definitions").key(k), ssv, errs);
    }
    match get(m, "items") {
        Some(Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                recurse(Some(v), &path.child("items").index(i), ssv, errs);
            }
        }
        items => recurse(items, &path.child("items"), ssv, errs),
    }
    for (k, v) in get(m, "dependencies").and_then(Value::as_object).map(sorted).unwrap_or_default() {
        recurse(Some(v), &path.child("dependencies").key(k), ssv, errs);
    }
    extensions(m, path, errs);
}

fn type_must_be(path: &FieldPath, ty: &str, msg: &str) -> FieldError {
    if ty.is_empty() {
        FieldError::required(&path.child("type"), msg)
    } else {
        FieldError::invalid(&path.child("type"), &Bad::str(ty), msg)
    }
}

fn extensions(m: &Map<String, Value>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let ty = str_of(m, "type");
    if get(m, "x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        let at = path.child("x-kubernetes-preserve-unknown-fields");
        errs.push(FieldError::invalid(&at, &Bad::Bool(false), "must be true or undefined"));
    }
    if let Some(map_type) = get(m, "x-kubernetes-map-type").and_then(Value::as_str) {
        if ty != "object" {
            errs.push(type_must_be(path, ty, "must be object if x-kubernetes-map-type is specified"));
        }
        if map_type != "atomic" && map_type != "granular" {
            let at = path.child("x-kubernetes-map-type");
            errs.push(FieldError::not_supported(&at, &Bad::str(map_type), &strings(&["atomic", "granular"])));
        }
    }
    let list_type = get(m, "x-kubernetes-list-type").and_then(Value::as_str);
    let items = get(m, "items");
    let item_schema = items.and_then(Value::as_object);
    if let Some(lt) = list_type {
        if ty != "array" {
            errs.push(type_must_be(path, ty, "must be array if x-kubernetes-list-type is specified"));
        } else if let (Some("set"), Some(is)) = (list_type, item_schema) {
            let msg = "must be atomic as item of a list with x-kubernetes-list-type=set";
            let item_list_type = get(is, "x-kubernetes-list-type");
            match str_of(is, "type") {
                "array" if item_list_type.is_some_and(|t| t != "atomic") => {
                    let at = path.child("items").child("x-kubernetes-list-type");
                    errs.push(FieldError::invalid(&at, &Bad::Json(item_list_type.cloned().unwrap_or_default()), msg));
                }
                "object" if get(is, "x-kubernetes-map-type").is_none_or(|t| t != "atomic") => {
                    // Upstream reports the item's list type here.
                    let at = path.child("items").child("x-kubernetes-map-type");
                    errs.push(FieldError::invalid(&at, &Bad::Json(item_list_type.cloned().unwrap_or_default()), msg));
                }
                _ => {}
            }
        }
        if !["atomic", "set", "map"].contains(&lt) {
            let at = path.child("x-kubernetes-list-type");
            errs.push(FieldError::not_supported(&at, &Bad::str(lt), &strings(&["atomic", "set", "map"])));
        }
    }
    let keys: Vec<&str> = get(m, "x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let keys_value = || Bad::Json(Value::Array(keys.iter().map(|k| Value::String((*k).to_owned())).collect()));
    if !keys.is_empty() {
        let msg = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(FieldError::required(&path.child("x-kubernetes-list-type"), msg)),
            Some(lt) if lt != "map" => {
                errs.push(FieldError::invalid(&path.child("x-kubernetes-list-type"), &Bad::str(lt), msg))
            }
            Some(_) => {}
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            let msg = "must not be empty if x-kubernetes-list-type is map";
            errs.push(FieldError::required(&path.child("x-kubernetes-list-map-keys"), msg));
        }
        match items {
            None => errs.push(FieldError::required(
                &path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(Value::Array(a)) => {
                let msg = "must only have a single schema if x-kubernetes-list-type is map";
                errs.push(FieldError::invalid(&path.child("items"), &Bad::Json(Value::Array(a.clone())), msg));
            }
            Some(_) => {}
        }
        if let Some(is) = item_schema {
            let item_type = str_of(is, "type");
            if item_type != "object" {
                let msg = "must be object if parent array's x-kubernetes-list-type is map";
                errs.push(FieldError::invalid(&path.child("items").child("type"), &Bad::str(item_type), msg));
            } else {
                let props = get(is, "properties").and_then(Value::as_object);
                for (i, k) in keys.iter().enumerate() {
                    match props.and_then(|p| get(p, k)).and_then(Value::as_object) {
                        Some(p) if matches!(str_of(p, "type"), "array" | "object") => {
                            let at = path.child("items").child("properties").key(k).child("type");
                            let msg = "must be a scalar type if parent array's x-kubernetes-list-type is map";
                            errs.push(FieldError::invalid(&at, &Bad::str(item_type), msg));
                        }
                        Some(_) => {}
                        None => {
                            let msg = "entries must all be names of item properties";
                            errs.push(FieldError::invalid(
                                &path.child("x-kubernetes-list-map-keys"),
                                &keys_value(),
                                msg,
                            ));
                        }
                    }
                    if keys[..i].contains(k) {
                        let msg = "must not contain duplicate entries";
                        errs.push(FieldError::invalid(&path.child("x-kubernetes-list-map-keys"), &keys_value(), msg));
                    }
                }
            }
        }
    }
    map_list_keys_map_set(m, list_type, &keys, path, errs);
}

/// `validateMapListKeysMapSet`: set/map items and map keys cannot be nullable; keys need a
/// default or must be required.
fn map_list_keys_map_set(
    m: &Map<String, Value>,
    list_type: Option<&str>,
    keys: &[&str],
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let (Some(is), Some(lt)) = (get(m, "items").and_then(Value::as_object), list_type) else { return };
    if lt != "set" && lt != "map" {
        return;
    }
    if get(is, "nullable") == Some(&Value::Bool(true)) {
        let msg = format!("cannot be nullable when x-kubernetes-list-type is {lt}");
        errs.push(FieldError::forbidden(&path.child("items").child("nullable"), &msg));
    }
    if lt != "map" {
        return;
    }
    let required: Vec<&str> =
        get(is, "required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let props = get(is, "properties").and_then(Value::as_object);
    for k in keys {
        let Some(p) = props.and_then(|p| get(p, k)).and_then(Value::as_object) else { continue };
        let at = path.child("items").child("properties").key(k);
        if !required.contains(k) && !p.contains_key("default") {
            let msg =
                "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property";
            errs.push(FieldError::required(&at.child("default"), msg));
        }
        if get(p, "nullable") == Some(&Value::Bool(true)) {
            let msg = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable";
            errs.push(FieldError::forbidden(&at.child("nullable"), msg));
        }
    }
}

/// `ValidateDefaults`: every default must be pruned, and valid against its own schema.
pub(crate) fn defaults(path: &FieldPath, s: &Structural) -> Vec<FieldError> {
    let mut errs = Vec::new();
    default_node(path, s, true, false, &mut errs);
    errs
}

fn default_node(path: &FieldPath, s: &Structural, root: bool, inside_meta: bool, errs: &mut Vec<FieldError>) {
    let embedded = s.embedded || root;
    let inside_meta = inside_meta && !embedded;
    if let Some(d) = &s.default {
        let at = path.child("default");
        if inside_meta {
            errs.extend(openapi::validate(&at, d, s));
        } else {
            let mut pruned = d.clone();
            prune_value(&mut pruned, s, embedded);
            if !openapi::deep_equal(&pruned, d) {
                errs.push(FieldError::invalid(&at, &Bad::of(d), "must not have unknown fields"));
            }
            if let Some(e) = embedded::coerce_error(&at, d, s, embedded) {
                errs.push(e);
            } else {
                let meta = embedded::validate(&at, d, s, embedded);
                if meta.is_empty() {
                    errs.extend(openapi::validate(&at, d, s));
                } else {
                    errs.extend(meta);
                }
            }
        }
    }
    if let Some(items) = &s.items {
        default_node(&path.child("items"), items, false, inside_meta, errs);
    }
    for (k, p) in &s.properties {
        let sub_meta = inside_meta || (embedded && META_FIELDS.contains(&k.as_str()));
        default_node(&path.child("properties").key(k), p, false, sub_meta, errs);
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_structural;
    use serde_json::json;

    #[test]
    fn keyword_rules() {
        let errs = check_structural(&json!({
            "type": "object",
            "properties": {
                "a": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
                "b": {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": {"type": "string"}},
                "c": {"type": "foo"},
                "d": {"type": "object", "x-kubernetes-map-type": "weird"},
                "e": {"type": "string", "x-kubernetes-list-type": "set"},
                "f": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {"k": {"type": "object"}}},
                      "x-kubernetes-list-map-keys": ["k", "missing"]}
            }
        }));
        let p = "openAPIV3Schema.properties";
        for want in [
            format!(
                "{p}[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ),
            format!("{p}[b].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"),
            format!(
                r#"{p}[c].type: Unsupported value: "foo": supported values: "array", "boolean", "integer", "number", "object", "string""#
            ),
            format!(
                r#"{p}[d].x-kubernetes-map-type: Unsupported value: "weird": supported values: "atomic", "granular""#
            ),
            format!(r#"{p}[e].type: Invalid value: "string": must be array if x-kubernetes-list-type is specified"#),
            format!(
                r#"{p}[f].items.properties[k].type: Invalid value: "object": must be a scalar type if parent array's x-kubernetes-list-type is map"#
            ),
            format!(
                r#"{p}[f].x-kubernetes-list-map-keys: Invalid value: ["k","missing"]: entries must all be names of item properties"#
            ),
            format!(
                "{p}[f].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
            ),
        ] {
            assert!(errs.contains(&want), "missing {want}\nin {errs:#?}");
        }
    }

    #[test]
    fn defaults_forbidden_in_top_level_metadata() {
        let errs = check_structural(&json!({"type": "object", "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}}
        }}));
        assert_eq!(
            errs,
            [
                "openAPIV3Schema.properties[metadata].properties[name].default: Forbidden: must not be set in top-level metadata"
            ]
        );
    }

    #[test]
    fn unsupported_keywords() {
        let errs = check_structural(&json!({"type": "object", "properties": {"a": {"type": "string", "$ref": "#/x"}}}));
        assert_eq!(errs, ["openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported"]);
        let errs = check_structural(&json!({"type": "object", "properties": {"a": {"type": "null"}}}));
        assert!(errs.contains(&"openAPIV3Schema.properties[a].type: Forbidden: type cannot be set to null, use nullable as an alternative".to_owned()), "{errs:?}");
    }

    #[test]
    fn set_items_must_be_atomic() {
        let errs = check_structural(
            &json!({"type": "object", "properties": {"s": {"type": "array", "x-kubernetes-list-type": "set",
            "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
        );
        assert_eq!(
            errs,
            [
                "openAPIV3Schema.properties[s].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set"
            ]
        );
    }

    #[test]
    fn defaults_are_validated_and_must_be_pruned() {
        let errs =
            check_structural(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "n": {"type": "integer", "maximum": 5, "default": 7},
                "o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}},
                "s": {"type": "string", "default": 3}
            }}}}));
        let p = "openAPIV3Schema.properties[spec].properties";
        assert_eq!(
            errs,
            [
                format!("{p}[n].default: Invalid value: 7:  in body should be less than or equal to 5"),
                format!(r#"{p}[o].default: Invalid value: {{"a":"x","b":1}}: must not have unknown fields"#),
                format!(r#"{p}[s].default: Invalid value: "integer":  in body must be of type string: "integer""#),
            ]
        );
    }
}
