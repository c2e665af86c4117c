//! Property tests: no input panics, and strategic merge of plain maps is JSON merge.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{PatchType, TestSchema, apply_patch, builtin_schema};

/// Keys that exercise every directive and the test schema's merged lists.
const KEYS: &[&str] = &[
    "a",
    "b",
    "name",
    "mergingList",
    "mergingIntList",
    "retainKeysMergingList",
    "$patch",
    "$retainKeys",
    "$setElementOrder/mergingList",
    "$setElementOrder/mergingIntList",
    "$deleteFromPrimitiveList/mergingIntList",
    "$deleteFromPrimitiveList/a",
];

const WORDS: &[&str] = &["delete", "replace", "merge", "name", "a", "x", ""];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(Value::from),
        Just(Value::from(1.5)),
        prop::sample::select(WORDS).prop_map(Value::from),
    ]
}

/// Any JSON value built from the keys and words above.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..5).prop_map(object),
        ]
    })
}

fn object(entries: Vec<(&'static str, Value)>) -> Value {
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
}

/// A merge patch without directives, lists of maps or nulls in lists: the patches for which
/// strategic merge and JSON merge agree.
fn plain_patch() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(&["a", "b", "c", "d"][..]);
    let list = prop::collection::vec((-3i64..4).prop_map(Value::from), 0..4).prop_map(Value::Array);
    let leaf = prop_oneof![scalar(), list];
    leaf.prop_recursive(4, 32, 4, move |inner| prop::collection::vec((key.clone(), inner), 0..4).prop_map(object))
        .prop_map(|v| if v.is_object() { v } else { object(vec![("a", v)]) })
}

fn plain_original() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(&["a", "b", "c", "d"][..]);
    prop::collection::vec((key, value()), 0..5).prop_map(object)
}

proptest! {
    #[test]
    fn no_patch_panics(original in value(), patch in value()) {
        let body = patch.to_string();
        for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply] {
            let _ = apply_patch(kind, &original, body.as_bytes(), &TestSchema);
            let _ = apply_patch(kind, &original, body.as_bytes(), builtin_schema("", "Pod"));
        }
    }

    #[test]
    fn no_body_panics(original in value(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
            let _ = apply_patch(kind, &original, &body, &TestSchema);
        }
    }

    #[test]
    fn random_json_patches_do_not_panic(original in value(), paths in prop::collection::vec(
        (prop::sample::select(&["add", "remove", "replace", "move", "copy", "test"][..]),
         prop::sample::select(&["", "/a", "/a/0", "/a/-", "/b/a", "/name/1", "/a/b/c"][..]),
         prop::sample::select(&["", "/a", "/b", "/a/0"][..]),
         value()), 0..8)) {
        let ops: Vec<Value> = paths
            .into_iter()
            .map(|(op, path, from, value)| serde_json::json!({"op": op, "path": path, "from": from, "value": value}))
            .collect();
        let _ = apply_patch(PatchType::Json, &original, Value::Array(ops).to_string().as_bytes(), &TestSchema);
    }

    #[test]
    fn strategic_merge_of_plain_maps_is_json_merge(original in plain_original(), patch in plain_patch()) {
        let body = patch.to_string();
        let schema = builtin_schema("example.com", "Widget");
        let strategic = apply_patch(PatchType::StrategicMerge, &original, body.as_bytes(), schema);
        let merge = apply_patch(PatchType::Merge, &original, body.as_bytes(), schema);
        prop_assert_eq!(strategic.ok(), merge.ok());
    }
}
