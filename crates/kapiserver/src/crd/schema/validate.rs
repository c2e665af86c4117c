//! Validation of a custom resource against its structural schema, as the custom resource
//! strategy does on create and update: OpenAPI value validation, embedded resources' type and
//! object metadata, and `x-kubernetes-list-type` set/map uniqueness. CEL rules
//! (`x-kubernetes-validations`) and the root's TypeMeta/ObjectMeta are left to the caller.

use serde_json::Value;

use super::field::{FieldError, FieldPath};
use super::structural::Structural;
use super::{embedded, listtype, openapi};

/// Validates a whole custom resource; errors carry upstream's paths and messages, e.g.
/// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
pub fn validate(obj: &Value, s: &Structural) -> Vec<FieldError> {
    validate_at("", obj, s)
}

/// Validates `value` against `s` with every error path prefixed by `path` (empty for the
/// resource root). The status subresource uses `validate_at("status", &obj["status"], status_schema)`.
pub fn validate_at(path: &str, value: &Value, s: &Structural) -> Vec<FieldError> {
    let base = if path.is_empty() { FieldPath::none() } else { FieldPath::new(path) };
    let mut errs = openapi::validate(&base, value, s);
    errs.extend(embedded::validate(&base, value, s, false));
    errs.extend(listtype::validate(&base, s, value));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Structural {
        Structural::from_json(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "replicas": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "ports": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                }},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 0}}}
            }
        }))
        .unwrap()
    }

    fn rendered(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn combines_schema_embedded_and_list_checks() {
        let obj = json!({"apiVersion": "x.io/v1", "kind": "X", "metadata": {"name": "n"},
            "spec": {"replicas": "string", "mode": "x", "ports": [1, 1], "template": {"kind": "Pod"}}});
        assert_eq!(
            rendered(validate(&obj, &schema())),
            [
                r#"spec.mode: Unsupported value: "x": supported values: "a", "b""#,
                r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#,
                "spec.name: Required value",
                "spec.template.apiVersion: Required value",
                "spec.ports[1]: Duplicate value: 1",
            ]
        );
        let ok = json!({"spec": {"name": "n", "replicas": 1, "mode": "a", "ports": [1, 2]}});
        assert!(validate(&ok, &schema()).is_empty());
    }

    #[test]
    fn status_validation_is_rooted_at_status() {
        let s = schema();
        let status_schema = s.property("status").unwrap();
        let errs = validate_at("status", &json!({"replicas": -1}), status_schema);
        assert_eq!(
            rendered(errs),
            ["status.replicas: Invalid value: -1: replicas in body should be greater than or equal to 0"]
        );
    }
}
