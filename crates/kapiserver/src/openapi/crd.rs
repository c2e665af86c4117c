//! Definitions of custom resources, the way apiextensions-apiserver publishes them.
//!
//! The definition is named after the reversed group (`com.example.stable.v1.CronTab` for
//! `stable.example.com/v1`), `apiVersion`, `kind` and `metadata` (a reference to
//! ObjectMeta) replace whatever the CRD declared for them, and the kind's
//! `x-kubernetes-group-version-kind` is added. The rest of the structural schema is kept
//! as given; [`super::schema_forms::to_v2`] strips what v2 cannot express.

use serde_json::{Map, Value, json};

use super::definitions::{Gvk, OBJECT_META, REF_PREFIX, add_gvk};

/// Definition name of a custom kind: the group reversed, then version and kind.
pub(super) fn definition_name(gvk: &Gvk) -> String {
    let mut parts: Vec<&str> = gvk.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), gvk.version, gvk.kind)
}

/// The published schema of a custom kind; `None` when `schema` is not a JSON object.
pub(super) fn definition(gvk: &Gvk, schema: &Value) -> Option<Value> {
    let mut out = schema.as_object()?.clone();
    let properties = out.entry("properties").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(properties) = properties {
        properties.insert(
            "apiVersion".into(),
            json!({
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            }),
        );
        properties.insert(
            "kind".into(),
            json!({
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            }),
        );
        properties.insert(
            "metadata".into(),
            json!({ "$ref": format!("{REF_PREFIX}{OBJECT_META}"), "description": "Standard object's metadata." }),
        );
    }
    out.entry("type").or_insert_with(|| "object".into());
    add_gvk(&mut out, gvk);
    Some(Value::Object(out))
}

/// The schema for a custom kind without a published schema: any object.
pub(super) fn open_definition(gvk: &Gvk) -> Value {
    let schema = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    });
    definition(gvk, &schema).unwrap_or(schema)
}
