//! Structural defaulting (upstream's `defaulting/algorithm.go`).
//!
//! Rules:
//! - a property's default is set when the property is absent from an object that exists, or when
//!   it is `null` and the property is not `nullable`;
//! - objects created by a default are defaulted further (defaults nest);
//! - `null` items of arrays and values of `additionalProperties` maps get the item/value default
//!   when not nullable;
//! - nodes under `allOf`/`anyOf`/`oneOf`/`not` never default anything.
//!
//! Upstream first prunes, then drops non-nullable nulls without default, then defaults; the
//! defaults themselves were pruned when the CRD was loaded ([`Structural::prune_defaults`]).

use serde_json::Value;

use super::prune::drop_non_nullable_nulls;
use super::structural::Structural;

/// Drops non-nullable `null`s that have no default, then applies defaults (the order the server
/// uses after [`prune`](super::prune)).
pub fn apply_defaults(obj: &mut Value, s: &Structural) {
    drop_non_nullable_nulls(obj, s);
    default(obj, s);
}

fn non_nullable_null(x: &Value, s: Option<&Structural>) -> bool {
    x.is_null() && s.is_some_and(|s| !s.nullable)
}

/// Upstream's `Default`: applies defaults below `x`, without dropping nulls first.
pub(crate) fn default(x: &mut Value, s: &Structural) {
    match x {
        Value::Object(m) => {
            for (k, prop) in &s.properties {
                let Some(d) = &prop.default else { continue };
                let missing = m.get(k).is_none_or(|v| non_nullable_null(v, Some(prop)));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            let additional = s.additional.as_ref().and_then(|a| a.schema());
            let has_additional = s.additional.is_some();
            for (k, v) in m.iter_mut() {
                if let Some(prop) = s.properties.get(k) {
                    default(v, prop);
                } else if has_additional {
                    if let Some(a) = additional {
                        if non_nullable_null(v, Some(a)) {
                            // Without a default upstream copies nil back, so the null stays.
                            if let Some(d) = &a.default {
                                *v = d.clone();
                            }
                        }
                        default(v, a);
                    }
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = s.items.as_deref() else { return };
            for v in items.iter_mut() {
                if non_nullable_null(v, Some(item_schema)) {
                    if let Some(d) = &item_schema.default {
                        *v = d.clone();
                    }
                }
                default(v, item_schema);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Structural {
        Structural::from_json(&v).unwrap()
    }

    #[test]
    fn fills_absent_fields_of_existing_objects_only() {
        let s = schema(json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "default": 1},
                "sub": {"type": "object", "properties": {"x": {"type": "string", "default": "d"}}}
            }}
        }}));
        let mut obj = json!({});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({}));
        let mut obj = json!({"spec": {}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"spec": {"replicas": 1}}));
        let mut obj = json!({"spec": {"replicas": 5, "sub": {}}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"spec": {"replicas": 5, "sub": {"x": "d"}}}));
    }

    #[test]
    fn defaults_nest() {
        let s = schema(json!({"type": "object", "properties": {
            "spec": {"type": "object", "default": {}, "properties": {
                "a": {"type": "object", "default": {}, "properties": {"b": {"type": "integer", "default": 7}}}
            }}
        }}));
        let mut obj = json!({});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"spec": {"a": {"b": 7}}}));
    }

    #[test]
    fn nulls_follow_nullable_and_default() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string", "default": "y", "nullable": true},
            "c": {"type": "string"},
            "d": {"type": "string", "nullable": true}
        }}));
        let mut obj = json!({"a": null, "b": null, "c": null, "d": null});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"a": "x", "b": null, "d": null}));
    }

    #[test]
    fn items_and_map_values_are_defaulted() {
        let s = schema(json!({"type": "object", "properties": {
            "l": {"type": "array", "items": {"type": "object", "default": {"k": "v"},
                "properties": {"k": {"type": "string"}, "n": {"type": "integer", "default": 0}}}},
            "m": {"type": "object", "additionalProperties": {"type": "string", "default": "dv"}}
        }}));
        let mut obj = json!({"l": [null, {"k": "a"}], "m": {"x": null, "y": "set"}});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"l": [{"k": "v", "n": 0}, {"k": "a", "n": 0}], "m": {"x": "dv", "y": "set"}}));
    }

    #[test]
    fn value_validations_never_default() {
        let s = schema(json!({"type": "object", "properties": {"a": {"type": "string"}},
            "allOf": [{"properties": {"a": {"default": "no"}}}]}));
        let mut obj = json!({});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({}));
    }

    #[test]
    fn scalars_and_mismatched_types_are_left_alone() {
        let s = schema(
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string", "default": "x"}}}}}),
        );
        let mut obj = json!({"a": "not-an-object"});
        apply_defaults(&mut obj, &s);
        assert_eq!(obj, json!({"a": "not-an-object"}));
    }
}
