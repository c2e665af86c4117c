//! Type and object metadata of embedded resources (upstream's `objectmeta/validation.go`).
//!
//! Below `x-kubernetes-embedded-resource: true`, `apiVersion` and `kind` are required and must be
//! well-formed, and `metadata` must decode as ObjectMeta. The ObjectMeta field rules themselves
//! (name format, labels, …) are not checked here.

use serde_json::{Map, Value};

use super::field::{Bad, FieldError, FieldPath};
use super::structural::Structural;

/// Validates every embedded resource below `obj`; `resource_root` treats `obj` itself as one.
pub(crate) fn validate(path: &FieldPath, obj: &Value, s: &Structural, resource_root: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(path, obj, s, resource_root, &mut errs);
    errs
}

fn walk(path: &FieldPath, x: &Value, s: &Structural, embedded_override: bool, errs: &mut Vec<FieldError>) {
    match x {
        Value::Object(m) => {
            if s.embedded || embedded_override {
                resource(path, m, errs);
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if let Some(p) = s.properties.get(k) {
                    walk(&path.child(k), &m[k], p, false, errs);
                } else if let Some(a) = s.additional.as_ref().and_then(|a| a.schema()) {
                    walk(&path.key(k), &m[k], a, false, errs);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for (i, v) in items.iter().enumerate() {
                    walk(&path.index(i), v, item_schema, false, errs);
                }
            }
        }
        _ => {}
    }
}

fn resource(path: &FieldPath, m: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    for f in ["apiVersion", "kind"] {
        if !m.contains_key(f) {
            errs.push(FieldError::required(&path.child(f), ""));
        }
    }
    if let Some(v) = m.get("apiVersion") {
        let p = path.child("apiVersion");
        match v.as_str() {
            None => errs.push(FieldError::invalid(&p, &Bad::of(v), "must be a string")),
            Some("") => errs.push(FieldError::invalid(&p, &Bad::str(""), "must not be empty")),
            Some(gv) if gv != "/" && gv.matches('/').count() > 1 => {
                errs.push(FieldError::invalid(&p, &Bad::str(gv), &format!("unexpected GroupVersion string: {gv}")));
            }
            Some(_) => {}
        }
    }
    if let Some(v) = m.get("kind") {
        let p = path.child("kind");
        match v.as_str() {
            None => errs.push(FieldError::invalid(&p, &Bad::of(v), "must be a string")),
            Some("") => errs.push(FieldError::invalid(&p, &Bad::str(""), "must not be empty")),
            Some(kind) => {
                let problems = dns1035_label(&kind.to_lowercase());
                if !problems.is_empty() {
                    let detail = format!("may have mixed case, but should otherwise match: {}", problems.join(","));
                    errs.push(FieldError::invalid(&p, &Bad::str(kind), &detail));
                }
            }
        }
    }
    if let Some(v) = m.get("metadata") {
        if let Err(e) = object_meta_decodes(v) {
            errs.push(FieldError::invalid(&path.child("metadata"), &Bad::of(v), &e));
        }
    }
}

/// Upstream's `objectmeta.Coerce` check (without its pruning): the first embedded `apiVersion` or
/// `kind` that is not a string, or `metadata` that does not decode.
pub(crate) fn coerce_error(path: &FieldPath, x: &Value, s: &Structural, resource_root: bool) -> Option<FieldError> {
    match x {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let v = &m[k];
                if s.embedded || resource_root {
                    match k.as_str() {
                        "apiVersion" | "kind" if !v.is_string() => {
                            return Some(FieldError::invalid(&path.child(k), &Bad::of(v), "must be a string"));
                        }
                        "metadata" => {
                            if let Err(e) = object_meta_decodes(v) {
                                return Some(FieldError::invalid(&path.child("metadata"), &Bad::of(v), &e));
                            }
                        }
                        _ => {}
                    }
                }
                let found = if let Some(p) = s.properties.get(k) {
                    coerce_error(&path.child(k), v, p, false)
                } else if let Some(a) = s.additional.as_ref().and_then(|a| a.schema()) {
                    coerce_error(&path.key(k), v, a, false)
                } else {
                    None
                };
                if found.is_some() {
                    return found;
                }
            }
            None
        }
        Value::Array(items) => {
            let item_schema = s.items.as_deref()?;
            items.iter().enumerate().find_map(|(i, v)| coerce_error(&path.index(i), v, item_schema, false))
        }
        _ => None,
    }
}

/// `validation.IsDNS1035Label`.
pub(crate) fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_owned());
    }
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if !ok {
        errs.push(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an \
             alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', \
             regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                .to_owned(),
        );
    }
    errs
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `metadata` decodes into ObjectMeta; the error mimics `encoding/json`.
fn object_meta_decodes(v: &Value) -> Result<(), String> {
    let m = match v {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        other => {
            return Err(format!("json: cannot unmarshal {} into Go value of type v1.ObjectMeta", json_kind(other)));
        }
    };
    let field_err = |field: &str, got: &Value, ty: &str| {
        format!("json: cannot unmarshal {} into Go struct field ObjectMeta.{field} of type {ty}", json_kind(got))
    };
    for f in ["name", "generateName", "namespace", "uid", "resourceVersion", "selfLink"] {
        if let Some(x) = m.get(f).filter(|x| !x.is_null() && !x.is_string()) {
            return Err(field_err(f, x, "string"));
        }
    }
    for f in ["labels", "annotations"] {
        match m.get(f) {
            None | Some(Value::Null) => {}
            Some(Value::Object(kv)) => {
                if let Some(x) = kv.values().find(|x| !x.is_null() && !x.is_string()) {
                    return Err(field_err(f, x, "string"));
                }
            }
            Some(x) => return Err(field_err(f, x, "map[string]string")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(obj: Value) -> Vec<String> {
        let s = Structural::from_json(&json!({"type": "object", "properties": {
            "t": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
            "l": {"type": "array", "items": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}
        }}))
        .unwrap();
        validate(&FieldPath::none(), &obj, &s, false).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn type_meta_is_required_and_well_formed() {
        assert_eq!(errs(json!({"t": {}})), ["t.apiVersion: Required value", "t.kind: Required value"]);
        assert!(errs(json!({"t": {"apiVersion": "apps/v1", "kind": "Deployment"}})).is_empty());
        assert_eq!(
            errs(json!({"l": [{"apiVersion": 1, "kind": ""}]})),
            [
                "l[0].apiVersion: Invalid value: 1: must be a string",
                r#"l[0].kind: Invalid value: "": must not be empty"#
            ]
        );
        assert_eq!(
            errs(json!({"t": {"apiVersion": "a/b/c", "kind": "My_Kind"}})),
            [
                r#"t.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c"#,
                r#"t.kind: Invalid value: "My_Kind": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#
            ]
        );
    }

    #[test]
    fn metadata_must_decode() {
        assert_eq!(
            errs(json!({"t": {"apiVersion": "v1", "kind": "Pod", "metadata": "x"}})),
            [r#"t.metadata: Invalid value: "x": json: cannot unmarshal string into Go value of type v1.ObjectMeta"#]
        );
        assert_eq!(
            errs(json!({"t": {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": 1}}}})),
            [
                r#"t.metadata: Invalid value: {"labels":{"a":1}}: json: cannot unmarshal number into Go struct field ObjectMeta.labels of type string"#
            ]
        );
    }
}
