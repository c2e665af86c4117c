//! Merge and list markers of the built-in types, as OpenAPI extensions.
//!
//! Upstream's openapi-gen turns the Go markers `+patchStrategy`, `+patchMergeKey`,
//! `+listType`, `+listMapKey`, `+mapType` and `+structType` into
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type`,
//! `x-kubernetes-list-map-keys` and `x-kubernetes-map-type`. kubectl's client-side apply
//! needs the first two (without them a list such as `spec.containers` is replaced whole
//! instead of merged by `name`); server-side apply clients read the others.
//! The table in `markers_table.rs` is extracted from the Go types by `tools/gen_markers.py`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::markers_table::{FIELDS, TYPES};

/// Markers on one field of one definition.
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldMarkers {
    /// Definition name (`io.k8s.api.core.v1.PodSpec`).
    pub(super) def: &'static str,
    /// JSON field name (`containers`).
    pub(super) field: &'static str,
    /// `merge`, `retainKeys` or `merge,retainKeys`.
    pub(super) strategy: Option<&'static str>,
    /// Merge key of a merged list.
    pub(super) merge_key: Option<&'static str>,
    /// `atomic`, `set` or `map`.
    pub(super) list_type: Option<&'static str>,
    /// Keys of a `map` list.
    pub(super) list_map_keys: &'static [&'static str],
    /// `atomic` or `granular` for a map field.
    pub(super) map_type: Option<&'static str>,
}

/// A map type declared on a Go struct (`+structType=atomic`).
#[derive(Debug, Clone, Copy)]
pub(super) struct TypeMarker {
    /// Definition name.
    pub(super) def: &'static str,
    /// `atomic` or `granular`.
    pub(super) map_type: &'static str,
}

/// Adds the extensions of the table to the definitions that have the field.
pub(super) fn apply(defs: &mut BTreeMap<String, Value>) {
    for marker in FIELDS {
        let Some(property) = defs
            .get_mut(marker.def)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(marker.field))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if let Some(strategy) = marker.strategy {
            property.insert("x-kubernetes-patch-strategy".into(), strategy.into());
        }
        if let Some(key) = marker.merge_key {
            property.insert("x-kubernetes-patch-merge-key".into(), key.into());
        }
        if let Some(list_type) = marker.list_type {
            property.insert("x-kubernetes-list-type".into(), list_type.into());
        }
        if !marker.list_map_keys.is_empty() {
            property.insert("x-kubernetes-list-map-keys".into(), json!(marker.list_map_keys));
        }
        if let Some(map_type) = marker.map_type {
            property.insert("x-kubernetes-map-type".into(), map_type.into());
        }
    }
    for marker in TYPES {
        if let Some(Value::Object(schema)) = defs.get_mut(marker.def) {
            schema.insert("x-kubernetes-map-type".into(), marker.map_type.into());
        }
    }
}
