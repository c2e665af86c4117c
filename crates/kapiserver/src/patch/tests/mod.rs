//! Tests of the patch module through [`apply_patch`], grouped by patch type.

mod json;
mod props;
mod strategic;
mod upstream;

use serde_json::Value;

use super::{FieldMeta, PatchError, PatchSchema, PatchType, apply_patch, builtin_schema};

/// The field tags of upstream's own strategic-patch test type, so that its cases can be
/// replayed: `mergingList` merges by `name` and `mergingIntList` as a set wherever they
/// appear; `retainKeysMergingList` is `merge,retainKeys` by `name`.
struct TestSchema;

impl PatchSchema for TestSchema {
    fn lookup(&self, path: &[&str]) -> Option<FieldMeta<'_>> {
        match *path.last()? {
            "mergingList" => Some(FieldMeta::merge_by("name")),
            "mergingIntList" => Some(FieldMeta::MERGE_PRIMITIVES),
            "retainKeysMergingList" => Some(FieldMeta { retain_keys: true, ..FieldMeta::merge_by("name") }),
            _ => None,
        }
    }
}

fn patch_with(kind: PatchType, schema: &dyn PatchSchema, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    apply_patch(kind, original, patch.to_string().as_bytes(), schema)
}

/// A strategic merge patch against the test schema.
fn smp(original: Value, patch: Value) -> Result<Value, PatchError> {
    patch_with(PatchType::StrategicMerge, &TestSchema, &original, &patch)
}

/// A strategic merge patch of a built-in kind.
fn smp_kind(group: &str, kind: &str, original: Value, patch: Value) -> Result<Value, PatchError> {
    patch_with(PatchType::StrategicMerge, builtin_schema(group, kind), &original, &patch)
}
