//! Behaviours pinned by upstream's strategic-patch tests (patch_test.go in
//! k8s.io/apimachinery/pkg/util/strategicpatch), replayed on the same field tags.

use serde_json::json;

use super::smp;

#[test]
fn element_order_may_name_missing_elements() {
    let original = json!({"mergingList": [{"name": 1}, {"name": 3}]});
    let patch = json!({
        "$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
        "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
    });
    let expected = json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]});
    assert_eq!(smp(original, patch).unwrap(), expected);

    let original = json!({"mergingIntList": [1, 3]});
    let patch = json!({"$setElementOrder/mergingIntList": [3, 2, 1]});
    assert_eq!(smp(original, patch).unwrap(), json!({"mergingIntList": [3, 1]}));
}

#[test]
fn element_order_must_agree_with_the_patch_list() {
    let original = json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]});
    let patch = json!({
        "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
        "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
    });
    let err = smp(original, patch).unwrap_err();
    assert!(err.to_string().contains("doesn't match"), "{err}");

    let original = json!({"mergingIntList": [1, 3, 2]});
    let patch = json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]});
    assert!(smp(original, patch).unwrap_err().to_string().contains("doesn't match"));
}

#[test]
fn missing_merge_key_fails() {
    let original = json!({"mergingList": [{"name": 1, "value": "a"}]});
    let err = smp(original, json!({"mergingList": [{"value": "b"}]})).unwrap_err();
    assert!(err.to_string().contains("does not contain declared merge key"), "{err}");
}

#[test]
fn delete_from_primitive_list() {
    let cases = [
        // An absent item is not added.
        (
            json!({"mergingIntList": [1, 2]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": [1, 2]}),
        ),
        // An empty list stays empty.
        (
            json!({"mergingIntList": []}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            json!({"mergingIntList": []}),
        ),
        // An absent list is not created.
        (json!({"foo": ["bar"]}), json!({"$deleteFromPrimitiveList/mergingIntList": [3]}), json!({"foo": ["bar"]})),
        (
            json!({"mergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
            json!({"mergingIntList": [1, 3]}),
        ),
        // Lists without the merge strategy delete too.
        (
            json!({"nonMergingIntList": [1, 2, 3]}),
            json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
            json!({"nonMergingIntList": [1, 3]}),
        ),
    ];
    for (original, patch, expected) in cases {
        assert_eq!(smp(original, patch.clone()).unwrap(), expected, "{patch}");
    }
}

#[test]
fn delete_all_duplicates_then_order() {
    let original = json!({"mergingIntList": [1, 2, 3, 3, 4]});
    let patch = json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]});
    assert_eq!(smp(original, patch).unwrap(), json!({"mergingIntList": [1, 2, 4]}));
}

#[test]
fn server_only_elements_keep_their_place() {
    let original = json!({"mergingList": [
        {"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9}, {"name": 8},
        {"name": 3, "value": 3}, {"name": 4, "value": 4},
    ]});
    let patch = json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]});
    let expected = json!({"mergingList": [
        {"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9}, {"name": 8},
        {"name": 4, "value": 4}, {"name": 3, "value": 3},
    ]});
    assert_eq!(smp(original, patch).unwrap(), expected);

    let original = json!({"mergingList": [
        {"name": 1, "other": "a"}, {"name": 3, "value": 3}, {"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 9},
    ]});
    let patch = json!({"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]});
    let expected = json!({"mergingList": [
        {"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 3, "value": 3}, {"name": 1, "other": "a"}, {"name": 9},
    ]});
    assert_eq!(smp(original, patch).unwrap(), expected);
}

#[test]
fn new_elements_follow_the_element_order() {
    let original = json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]});
    let patch = json!({
        "$setElementOrder/mergingList": [{"name": 1}, {"name": 4}, {"name": 2}, {"name": 3}],
        "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
    });
    let expected = json!({"mergingList": [
        {"name": 1, "other": "a"}, {"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3},
    ]});
    assert_eq!(smp(original, patch).unwrap(), expected);
}

#[test]
fn duplicates_in_element_order() {
    let original = json!({"mergingList": [
        {"name": 1}, {"name": 2, "value": "dup1"}, {"name": 3}, {"name": 2, "value": "dup2"}, {"name": 4},
    ]});
    let patch =
        json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}, {"name": 2}]});
    let expected = json!({"mergingList": [
        {"name": 2, "value": "dup1"}, {"name": 2, "value": "dup2"}, {"name": 1}, {"name": 4}, {"name": 3},
    ]});
    assert_eq!(smp(original, patch).unwrap(), expected);

    let original = json!({"mergingIntList": [1, 2, 3, 2, 4]});
    let patch = json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3, 2]});
    assert_eq!(smp(original, patch).unwrap(), json!({"mergingIntList": [2, 2, 1, 4, 3]}));
}

#[test]
fn retain_keys_clears_unlisted_fields() {
    let original = json!({"retainKeysMap": {"name": "type1", "value": "foo"}});
    let patch = json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "name": "type2", "other": "bar"}});
    assert_eq!(smp(original, patch).unwrap(), json!({"retainKeysMap": {"name": "type2", "other": "bar"}}));
}

#[test]
fn retain_keys_in_merged_list_elements() {
    let original = json!({"retainKeysMergingList": [{"name": "a", "value": 1, "other": 2}, {"name": "b", "value": 3}]});
    let patch = json!({"retainKeysMergingList": [{"name": "a", "$retainKeys": ["name", "value"], "value": 5}]});
    let expected = json!({"retainKeysMergingList": [{"name": "a", "value": 5}, {"name": "b", "value": 3}]});
    assert_eq!(smp(original, patch).unwrap(), expected);
}

#[test]
fn delete_removes_every_match_and_replace_keeps_plain_elements() {
    let original = json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 1, "dup": true}]});
    let patch = json!({"mergingList": [{"name": 1, "$patch": "delete"}]});
    assert_eq!(smp(original.clone(), patch).unwrap(), json!({"mergingList": [{"name": 2}]}));
    let patch = json!({"mergingList": [{"$patch": "replace"}, {"name": 5}, {"name": 6, "$patch": "delete"}]});
    assert_eq!(smp(original, patch).unwrap(), json!({"mergingList": [{"name": 5}]}));
}

#[test]
fn merged_primitive_lists_deduplicate() {
    let original = json!({"mergingIntList": [1, 2, 2]});
    assert_eq!(smp(original, json!({"mergingIntList": [2, 3, 3]})).unwrap(), json!({"mergingIntList": [1, 2, 3]}));
}

#[test]
fn nested_merging_lists() {
    let original = json!({"mergingList": [{"name": 1, "mergingList": [{"name": "x", "v": 1}]}]});
    let patch = json!({"mergingList": [{"name": 1, "mergingList": [{"name": "x", "v": null, "w": 2}]}]});
    let expected = json!({"mergingList": [{"name": 1, "mergingList": [{"name": "x", "w": 2}]}]});
    assert_eq!(smp(original, patch).unwrap(), expected);
}

#[test]
fn type_changes_take_the_patch_value() {
    let original = json!({"a": {"b": 1}, "c": [1], "d": "x"});
    let patch = json!({"a": [{"x": null}], "c": {"k": null, "v": 2}, "d": 5});
    assert_eq!(smp(original, patch).unwrap(), json!({"a": [{}], "c": {"v": 2}, "d": 5}));
}
