//! Content types, JSON patch, JSON merge patch and the body limits.

use serde_json::{Value, json};

use super::{PatchError, PatchType, TestSchema, apply_patch, patch_with};

fn json_patch(original: &Value, ops: Value) -> Result<Value, PatchError> {
    patch_with(PatchType::Json, &TestSchema, original, &ops)
}

fn merge_patch(original: &Value, patch: Value) -> Result<Value, PatchError> {
    patch_with(PatchType::Merge, &TestSchema, original, &patch)
}

#[test]
fn content_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        ("application/merge-patch+json; charset=utf-8", Some(PatchType::Merge)),
        (" Application/Strategic-Merge-Patch+JSON ", Some(PatchType::StrategicMerge)),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("application/json", None),
        ("", None),
    ];
    for (header, expected) in cases {
        assert_eq!(PatchType::from_content_type(header), expected, "{header:?}");
    }
    for kind in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply] {
        assert_eq!(PatchType::from_content_type(kind.content_type()), Some(kind));
    }
}

#[test]
fn json_patch_operations() {
    let original = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"list": [1, 2, 3]}});
    let ops = json!([
        {"op": "test", "path": "/metadata/labels/a", "value": "1"},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "replace", "path": "/metadata/labels/a", "value": "9"},
        {"op": "remove", "path": "/spec/list/0"},
        {"op": "add", "path": "/spec/list/-", "value": 4},
        {"op": "copy", "from": "/spec/list", "path": "/spec/copy"},
        {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
    ]);
    let expected = json!({
        "metadata": {"labels": {"a": "9", "b": "2"}},
        "spec": {"list": [2, 3, 4], "moved": [2, 3, 4]},
    });
    assert_eq!(json_patch(&original, ops).unwrap(), expected);
}

#[test]
fn json_patch_failures() {
    let original = json!({"metadata": {"name": "x"}});
    let err = json_patch(&original, json!([{"op": "test", "path": "/metadata/name", "value": "y"}])).unwrap_err();
    assert_eq!(err, PatchError::TestFailed { path: "/metadata/name".to_owned() });
    assert_eq!(
        (err.to_string().as_str(), err.http_status()),
        ("testing value /metadata/name failed: test failed", 422)
    );

    let cases = [
        (
            json!([{"op": "remove", "path": "/spec"}]),
            "remove operation does not apply: doc is missing path: \"/spec\"",
            422,
        ),
        (json!([{"op": "replace", "path": "/a/b", "value": 1}]), "replace operation does not apply", 422),
        (json!([{"op": "add", "path": "/a/b", "value": 1}]), "add operation does not apply", 422),
        (json!([{"op": "copy", "from": "/nope", "path": "/a"}]), "doc is missing from path: \"/nope\"", 422),
        (json!([{"op": "move", "from": "/metadata", "path": "/metadata/x"}]), "into its own child", 422),
        (json!([{"op": "frobnicate", "path": "/a"}]), "error decoding patch: operation 0", 400),
        (json!([{"op": "add", "path": "/a"}]), "error decoding patch: operation 0", 400),
        (json!({"op": "add", "path": "/a", "value": 1}), "must be an array", 400),
    ];
    for (ops, message, status) in cases {
        let err = json_patch(&original, ops.clone()).unwrap_err();
        assert!(err.to_string().contains(message), "{ops}: {err}");
        assert_eq!(err.http_status(), status, "{ops}");
    }
    let err = apply_patch(PatchType::Json, &original, b"[{", &TestSchema).unwrap_err();
    assert_eq!(err.http_status(), 400);
}

#[test]
fn json_patch_operation_limit() {
    let original = json!({});
    let op = json!({"op": "test", "path": "", "value": {}});
    let ok = Value::Array(vec![op.clone(); 10_000]);
    assert_eq!(json_patch(&original, ok).unwrap(), original);
    let err = json_patch(&original, Value::Array(vec![op; 10_001])).unwrap_err();
    assert_eq!(err, PatchError::TooManyOperations { limit: 10_000, count: 10_001 });
    assert_eq!(err.to_string(), "The allowed maximum operations in a JSON patch is 10000, got 10001");
    assert_eq!(err.http_status(), 413);
}

#[test]
fn json_patch_copy_limit() {
    let original = json!({"big": "x".repeat(256 * 1024)});
    let ops: Vec<Value> = (0..13).map(|i| json!({"op": "copy", "from": "/big", "path": format!("/c{i}")})).collect();
    let err = json_patch(&original, Value::Array(ops)).unwrap_err();
    assert!(err.to_string().contains("accumulated size increase of copy"), "{err}");
    assert_eq!(err.http_status(), 422);
    let ops: Vec<Value> = (0..11).map(|i| json!({"op": "copy", "from": "/big", "path": format!("/c{i}")})).collect();
    assert!(json_patch(&original, Value::Array(ops)).is_ok());
}

#[test]
fn json_patch_cannot_build_deep_objects() {
    // Each copy of /a into itself adds a level; the limit stops it long before the stack
    // would notice.
    let original = json!({"a": {}});
    let ops: Vec<Value> = (0..500).map(|_| json!({"op": "copy", "from": "/a", "path": "/a/a"})).collect();
    let err = json_patch(&original, Value::Array(ops)).unwrap_err();
    assert!(err.to_string().contains("nest deeper than 100 levels"), "{err}");
    let deep_path: String = "/a".repeat(100);
    let err = json_patch(&original, json!([{"op": "add", "path": deep_path, "value": 1}])).unwrap_err();
    assert_eq!(err.http_status(), 422);
}

#[test]
fn merge_patch_follows_rfc_7386() {
    let original =
        json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["a", "b"]});
    let patch = json!({"title": "Hello!", "phone": "123", "author": {"familyName": null}, "tags": ["c"], "new": {"x": null, "y": 1}});
    let expected =
        json!({"title": "Hello!", "phone": "123", "author": {"givenName": "John"}, "tags": ["c"], "new": {"y": 1}});
    assert_eq!(merge_patch(&original, patch).unwrap(), expected);
}

#[test]
fn merge_patch_must_be_an_object() {
    let original = json!({"a": 1});
    for patch in [Value::Null, json!(1), json!("x"), json!([1])] {
        let err = merge_patch(&original, patch.clone()).unwrap_err();
        assert_eq!(err, PatchError::Invalid("Invalid JSON Patch".to_owned()), "{patch}");
    }
    let err = apply_patch(PatchType::Merge, &original, b"{\"a\":", &TestSchema).unwrap_err();
    assert_eq!(err, PatchError::Invalid("Invalid JSON Patch".to_owned()));
}

#[test]
fn apply_is_unsupported_here() {
    let err = apply_patch(PatchType::Apply, &json!({}), b"kind: Pod", &TestSchema).unwrap_err();
    assert!(matches!(err, PatchError::Unsupported(_)));
    assert_eq!(err.http_status(), 415);
}

#[test]
fn nesting_limit() {
    let nested = |levels: usize| format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels));
    for kind in [PatchType::Merge, PatchType::StrategicMerge] {
        assert!(apply_patch(kind, &json!({}), nested(100).as_bytes(), &TestSchema).is_ok());
        let err = apply_patch(kind, &json!({}), nested(101).as_bytes(), &TestSchema).unwrap_err();
        assert_eq!(err, PatchError::TooDeep { limit: 100 });
        assert_eq!(err.http_status(), 400);
    }
    // Far past serde_json's own limit, and still only an error.
    let body = "[".repeat(1_000_000);
    let err = apply_patch(PatchType::Json, &json!({}), body.as_bytes(), &TestSchema).unwrap_err();
    assert_eq!(err, PatchError::TooDeep { limit: 100 });
    // Brackets inside strings are not nesting.
    let body = format!("{{\"s\": \"{}\\\"{}\"}}", "[".repeat(500), "{".repeat(500));
    assert!(apply_patch(PatchType::Merge, &json!({}), body.as_bytes(), &TestSchema).is_ok());
}
