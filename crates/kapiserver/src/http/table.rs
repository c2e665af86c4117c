//! `meta.k8s.io/v1` Table and PartialObjectMetadata representations.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::crd::schema::PrinterColumns;
use crate::kinds;
use crate::resources::ResourceInfo;

/// PartialObjectMetadata of an object.
pub(super) fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `objects`. `columns` adds the column definitions (watch events after the
/// first omit them, as upstream).
pub(super) fn table(
    res: &ResourceInfo,
    objects: &[Value],
    include_object: bool,
    columns: bool,
    list_meta: Option<Value>,
    printer: Option<&PrinterColumns>,
) -> Value {
    let now = SystemTime::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells = match printer {
                Some(p) => p.cells(o, now),
                None => kinds::table::row_cells(&res.group, &res.kind, o, now),
            };
            let mut row = json!({"cells": cells});
            if include_object {
                row["object"] = partial_metadata(o);
            }
            row
        })
        .collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta.unwrap_or_else(|| json!({})),
        "rows": rows,
    });
    if columns {
        t["columnDefinitions"] = match printer {
            Some(p) => json!(p.definitions()),
            None => json!(kinds::table::column_definitions(&res.group, &res.kind)),
        };
    } else {
        t["columnDefinitions"] = json!(null);
    }
    t
}
