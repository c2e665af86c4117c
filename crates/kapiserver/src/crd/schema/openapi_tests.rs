//! Cases mirror upstream's `pkg/apiserver/validation/validation_test.go` and kube-openapi's
//! messages; expectations are upstream's rendered `field.Error`s.

use serde_json::{Value, json};

use super::super::field::FieldPath;
use super::super::structural::Structural;
use super::validate;

fn errs(schema: Value, obj: Value) -> Vec<String> {
    let s = Structural::from_json(&schema).unwrap();
    let mut out: Vec<String> = validate(&FieldPath::none(), &obj, &s).iter().map(ToString::to_string).collect();
    out.sort();
    out
}

fn field(schema: Value) -> Value {
    json!({"type": "object", "properties": {"field": schema}})
}

#[test]
fn type_mismatches_name_the_found_type() {
    let s = field(json!({"type": "object"}));
    for (v, t) in [
        (json!("foo"), "string"),
        (json!(42), "integer"),
        (json!(true), "boolean"),
        (json!(1.2), "number"),
        (json!([]), "array"),
        (Value::Null, "null"),
    ] {
        assert_eq!(
            errs(s.clone(), json!({"field": v})),
            [format!(r#"field: Invalid value: "{t}": field in body must be of type object: "{t}""#)]
        );
    }
    let s = field(json!({"type": "object", "nullable": true}));
    assert!(errs(s, json!({"field": null})).is_empty());
}

#[test]
fn reasons_are_upstream_cause_types() {
    let s = Structural::from_json(&json!({"type": "object", "required": ["r"], "properties": {
        "t": {"type": "integer"}, "e": {"type": "string", "enum": ["a"]}, "l": {"type": "string", "maxLength": 1},
        "m": {"type": "array", "maxItems": 1}, "x": {"type": "integer", "maximum": 1}
    }}))
    .unwrap();
    let obj = json!({"t": "s", "e": "b", "l": "long", "m": [1, 2], "x": 2});
    let mut reasons: Vec<(String, &str)> =
        validate(&FieldPath::none(), &obj, &s).into_iter().map(|e| (e.field, e.reason)).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("e".to_owned(), "FieldValueNotSupported"),
            ("l".to_owned(), "FieldValueTooLong"),
            ("m".to_owned(), "FieldValueTooMany"),
            ("r".to_owned(), "FieldValueRequired"),
            ("t".to_owned(), "FieldValueTypeInvalid"),
            ("x".to_owned(), "FieldValueInvalid"),
        ]
    );
}

#[test]
fn int_or_string() {
    let s = field(json!({"x-kubernetes-int-or-string": true}));
    assert!(errs(s.clone(), json!({"field": 42})).is_empty());
    assert!(errs(s.clone(), json!({"field": "42"})).is_empty());
    for (v, t) in [
        (Value::Null, "null"),
        (json!(true), "boolean"),
        (json!(1.2), "number"),
        (json!({}), "object"),
        (json!([]), "array"),
    ] {
        assert_eq!(
            errs(s.clone(), json!({"field": v})),
            [format!(r#"field: Invalid value: "{t}": field in body must be of type integer,string: "{t}""#)]
        );
    }
}

#[test]
fn int_or_string_with_any_of_reports_best_branch() {
    let s = field(json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}));
    assert_eq!(
        errs(s.clone(), json!({"field": true})),
        [
            r#"<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)"#,
            r#"field: Invalid value: "boolean": field in body must be of type integer,string: "boolean""#,
            r#"field: Invalid value: "boolean": field in body must be of type integer: "boolean""#,
        ]
    );
    assert_eq!(
        errs(s.clone(), json!({"field": 1.2})),
        [
            r#"<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)"#,
            r#"<nil>: Invalid value: "": Checked value must be of type integer (default format) in field"#,
            r#"field: Invalid value: "number": field in body must be of type integer,string: "number""#,
            r#"field: Invalid value: "number": field in body must be of type integer: "number""#,
        ]
    );
    let s = field(
        json!({"x-kubernetes-int-or-string": true, "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}]}),
    );
    assert_eq!(
        errs(s, json!({"field": 1.2})),
        [
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated"#,
            r#"<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)"#,
            r#"<nil>: Invalid value: "": Checked value must be of type integer (default format) in field"#,
            r#"field: Invalid value: "number": field in body must be of type integer,string: "number""#,
            r#"field: Invalid value: "number": field in body must be of type integer: "number""#,
        ]
    );
}

#[test]
fn one_of_and_not() {
    let s = field(json!({"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}));
    assert!(errs(s.clone(), json!({"field": 20})).is_empty());
    assert_eq!(
        errs(s.clone(), json!({"field": 5})),
        [
            r#"<nil>: Invalid value: "": "field" must validate one and only one schema (oneOf). Found 2 valid alternatives"#
        ]
    );
    let s2 = field(json!({"type": "integer", "oneOf": [{"minimum": 5}, {"minimum": 7}]}));
    assert_eq!(
        errs(s2, json!({"field": 1})),
        [
            r#"<nil>: Invalid value: "": "field" must validate one and only one schema (oneOf). Found none valid"#,
            "field: Invalid value: 1: field in body should be greater than or equal to 5",
        ]
    );
    let s3 = field(json!({"type": "string", "not": {"enum": ["x"]}}));
    assert_eq!(
        errs(s3.clone(), json!({"field": "x"})),
        [r#"<nil>: Invalid value: "": "field" must not validate the schema (not)"#]
    );
    assert!(errs(s3, json!({"field": "y"})).is_empty());
    let s4 = field(json!({"type": "integer", "allOf": [{"minimum": 5}, {"maximum": 7}]}));
    assert_eq!(
        errs(s4, json!({"field": 9})),
        [
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf)"#,
            "field: Invalid value: 9: field in body should be less than or equal to 7",
        ]
    );
}

#[test]
fn invalid_pattern() {
    let s = field(json!({"type": "string", "pattern": "+"}));
    let e = errs(s, json!({"field": "foo"}));
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with(r#"field: Invalid value: "foo": field in body should match '+, but pattern is invalid: error parsing regexp: "#), "{e:?}");
}

#[test]
fn pattern_mismatch() {
    let s = field(json!({"type": "string", "pattern": "^[a-z]+$"}));
    assert_eq!(
        errs(s.clone(), json!({"field": "A1"})),
        [r#"field: Invalid value: "A1": field in body should match '^[a-z]+$'"#]
    );
    assert!(errs(s, json!({"field": "abc"})).is_empty());
}

#[test]
fn required_fields() {
    let s = json!({"type": "object", "required": ["field"], "properties": {
        "field": {"type": "object", "required": ["nested"], "properties": {"nested": {}}}
    }});
    assert_eq!(errs(s.clone(), json!({"test": "a"})), ["field: Required value"]);
    assert_eq!(errs(s, json!({"field": {}})), ["field.nested: Required value"]);
}

#[test]
fn enums() {
    let s = field(json!({"type": "object", "required": ["nestedint", "nestedstring"], "properties": {
        "nestedint": {"type": "integer", "enum": [1, 2]},
        "nestedstring": {"type": "string", "enum": ["a", "b"]}
    }}));
    assert_eq!(
        errs(s.clone(), json!({"field": {}})),
        ["field.nestedint: Required value", "field.nestedstring: Required value"]
    );
    assert_eq!(
        errs(s, json!({"field": {"nestedint": "x", "nestedstring": true}})),
        [
            r#"field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string""#,
            r#"field.nestedint: Unsupported value: "x": supported values: "1", "2""#,
            r#"field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean""#,
            r#"field.nestedstring: Unsupported value: true: supported values: "a", "b""#,
        ]
    );
}

#[test]
fn enum_uses_go_conversions() {
    // float64 data is converted to the enum's int64 (truncating), int64 to string is a rune.
    let s = field(json!({"enum": [5, "a"]}));
    assert!(errs(s.clone(), json!({"field": 5.0})).is_empty());
    assert!(errs(s.clone(), json!({"field": 5.7})).is_empty());
    assert!(errs(s.clone(), json!({"field": 97})).is_empty());
    assert_eq!(
        errs(s.clone(), json!({"field": null})),
        [r#"field: Unsupported value: null: supported values: "5", "a""#]
    );
    assert_eq!(
        errs(s, json!({"field": {"k": 1}})),
        [r#"field: Unsupported value: {"k":1}: supported values: "5", "a""#]
    );
    let objs = field(json!({"enum": [{"a": 1}, [1, 2]]}));
    assert!(errs(objs.clone(), json!({"field": {"a": 1}})).is_empty());
    assert_eq!(
        errs(objs, json!({"field": [2]})),
        [r#"field: Unsupported value: [2]: supported values: "{\"a\":1}", "[1,2]""#]
    );
}

#[test]
fn size_limits() {
    assert_eq!(
        errs(field(json!({"type": "object", "maxProperties": 2})), json!({"field": {"a": true, "b": true, "c": true}})),
        ["field: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        errs(field(json!({"type": "array", "maxItems": 2})), json!({"field": ["a", "b", "c"]})),
        ["field: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        errs(field(json!({"type": "string", "maxLength": 2})), json!({"field": "abc"})),
        ["field: Too long: may not be more than 2 bytes"]
    );
    // maxLength counts runes, like upstream.
    assert!(errs(field(json!({"type": "string", "maxLength": 2})), json!({"field": "éé"})).is_empty());
    assert_eq!(
        errs(field(json!({"type": "string", "minLength": 2})), json!({"field": "a"})),
        [r#"field: Invalid value: "a": field in body should be at least 2 chars long"#]
    );
    assert_eq!(
        errs(field(json!({"type": "array", "minItems": 2})), json!({"field": [1]})),
        ["field: Invalid value: 1: field in body should have at least 2 items"]
    );
    assert_eq!(
        errs(field(json!({"type": "object", "minProperties": 1})), json!({"field": {}})),
        ["field: Invalid value: 0: field in body should have at least 1 properties"]
    );
    assert_eq!(
        errs(field(json!({"type": "array", "uniqueItems": true})), json!({"field": [1, 1]})),
        [r#"field: Invalid value: "": field in body shouldn't contain duplicates"#]
    );
}

#[test]
fn string_checks_stop_at_the_first_failure() {
    let s = field(json!({"type": "string", "maxLength": 1, "pattern": "^x$"}));
    assert_eq!(errs(s, json!({"field": "abc"})), ["field: Too long: may not be more than 1 byte"]);
}

#[test]
fn numeric_bounds() {
    let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"type": "integer", "maximum": 10, "minimum": 1},
        "ex": {"type": "number", "maximum": 1.5, "exclusiveMaximum": true, "minimum": 0.5, "exclusiveMinimum": true},
        "m": {"type": "integer", "multipleOf": 3},
        "f": {"type": "number", "multipleOf": 0.5}
    }}}});
    assert_eq!(
        errs(s.clone(), json!({"spec": {"size": 20}})),
        ["spec.size: Invalid value: 20: spec.size in body should be less than or equal to 10"]
    );
    assert_eq!(
        errs(s.clone(), json!({"spec": {"size": 0}})),
        ["spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"]
    );
    assert_eq!(
        errs(s.clone(), json!({"spec": {"ex": 1.5}})),
        ["spec.ex: Invalid value: 1.5: spec.ex in body should be less than 1.5"]
    );
    assert_eq!(
        errs(s.clone(), json!({"spec": {"ex": 0.5}})),
        ["spec.ex: Invalid value: 0.5: spec.ex in body should be greater than 0.5"]
    );
    assert_eq!(
        errs(s.clone(), json!({"spec": {"m": 4}})),
        ["spec.m: Invalid value: 4: spec.m in body should be a multiple of 3"]
    );
    assert!(errs(s.clone(), json!({"spec": {"m": 9, "f": 2.5, "ex": 1.0, "size": 10}})).is_empty());
    // Integers are compared with the bound truncated to int64: 1 is not < int64(1.5).
    assert_eq!(
        errs(s.clone(), json!({"spec": {"ex": 1}})),
        ["spec.ex: Invalid value: 1: spec.ex in body should be less than 1"]
    );
    assert_eq!(
        errs(s, json!({"spec": {"f": 0.3}})),
        ["spec.f: Invalid value: 0.3: spec.f in body should be a multiple of 0.5"]
    );
}

#[test]
fn integer_bounds_truncate_like_go() {
    // MaximumNativeType compares int64 values with int64(max).
    let s = field(json!({"type": "number", "maximum": 10.5}));
    assert_eq!(
        errs(s, json!({"field": 11})),
        ["field: Invalid value: 11: field in body should be less than or equal to 10"]
    );
    // An integer schema with a fractional bound reports the bound itself.
    let s = field(json!({"type": "integer", "maximum": 10.5}));
    assert_eq!(
        errs(s, json!({"field": 11})),
        [
            r#"<nil>: Invalid value: "": Maximum boundary value must be of type integer (default format) in field"#,
            "field: Invalid value: 11: field in body should be less than or equal to 10.5",
        ]
    );
    // multipleOf below 1 truncates to 0 for integers of a number schema.
    let s = field(json!({"type": "number", "multipleOf": 0.5}));
    assert_eq!(
        errs(s, json!({"field": 3})),
        ["field: Invalid value: 0: factor MultipleOf declared for field must be positive: 0"]
    );
}

#[test]
fn numeric_formats() {
    let s = json!({"type": "object", "properties": {
        "intThirtyTwo": {"type": "integer", "format": "int32"},
        "intSixtyFour": {"type": "integer", "format": "int64"},
        "floatThreeTwo": {"type": "number", "format": "float"},
        "floatSixFour": {"type": "number", "format": "double"}
    }});
    assert!(errs(s.clone(), json!({"intThirtyTwo": i32::MIN, "intSixtyFour": i64::MIN, "floatThreeTwo": -f64::from(f32::MAX), "floatSixFour": -f64::MAX})).is_empty());
    assert!(errs(s.clone(), json!({"intThirtyTwo": i32::MAX, "intSixtyFour": i64::MAX, "floatThreeTwo": f64::from(f32::MAX), "floatSixFour": f64::MAX})).is_empty());
    assert_eq!(
        errs(s.clone(), json!({"intThirtyTwo": i64::from(i32::MAX) + 1})),
        [r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in intThirtyTwo"#]
    );
    assert_eq!(
        errs(s.clone(), json!({"intThirtyTwo": i64::from(i32::MIN) - 1})),
        [r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in intThirtyTwo"#]
    );
    assert_eq!(
        errs(s.clone(), json!({"intSixtyFour": i64::MAX as f64 * 1.1})),
        [
            r#"<nil>: Invalid value: "": Checked value must be of type integer with format int64 in intSixtyFour"#,
            r#"intSixtyFour: Invalid value: "float64": intSixtyFour in body must be of type int64: "float64""#,
        ]
    );
    assert_eq!(
        errs(s.clone(), json!({"floatThreeTwo": f64::from(f32::MAX) * 1.1})),
        [r#"<nil>: Invalid value: "": Checked value must be of type number with format float in floatThreeTwo"#]
    );
    assert_eq!(
        errs(s, json!({"intThirtyTwo": 1.5})),
        [
            r#"<nil>: Invalid value: "": Checked value must be of type integer with format int32 in intThirtyTwo"#,
            r#"intThirtyTwo: Invalid value: "float64": intThirtyTwo in body must be of type int32: "float64""#,
        ]
    );
}

#[test]
fn integral_floats_are_integers() {
    let s = field(json!({"type": "integer"}));
    assert!(errs(s.clone(), json!({"field": 5.0})).is_empty());
    assert_eq!(
        errs(s, json!({"field": 5.5})),
        [
            r#"<nil>: Invalid value: "": Checked value must be of type integer (default format) in field"#,
            r#"field: Invalid value: "number": field in body must be of type integer: "number""#,
        ]
    );
    assert!(errs(field(json!({"type": "number"})), json!({"field": 5})).is_empty());
}

#[test]
fn string_formats() {
    assert_eq!(
        errs(field(json!({"type": "string", "format": "k8s-long-name"})), json!({"field": "a.-"})),
        [r#"field: Invalid value: "a.-": field in body must be of type k8s-long-name: "a.-""#]
    );
    assert_eq!(
        errs(field(json!({"type": "string", "format": "k8s-short-name"})), json!({"field": "a-"})),
        [r#"field: Invalid value: "a-": field in body must be of type k8s-short-name: "a-""#]
    );
    assert_eq!(
        errs(field(json!({"type": "string", "format": "date-time"})), json!({"field": "yesterday"})),
        [r#"field: Invalid value: "yesterday": field in body must be of type date-time: "yesterday""#]
    );
    // Unknown formats are stripped and never validated.
    assert!(errs(field(json!({"type": "string", "format": "uri-reference"})), json!({"field": "::"})).is_empty());
    // A format that does not fit the data's type reports the Go type of the data.
    assert_eq!(
        errs(field(json!({"type": "string", "format": "date-time"})), json!({"field": 5})),
        [r#"field: Invalid value: "int64": field in body must be of type date-time: "int64""#]
    );
}

#[test]
fn additional_properties() {
    let s = field(json!({"type": "object", "additionalProperties": {"type": "string"}}));
    assert_eq!(
        errs(s, json!({"field": {"a": "x", "b": 1}})),
        [r#"field.b: Invalid value: "integer": field.b in body must be of type string: "integer""#]
    );
    let s = field(json!({"type": "object", "additionalProperties": false}));
    assert_eq!(
        errs(s, json!({"field": {"x": 1}})),
        [r#"field: Invalid value: "x": field.x in body is a forbidden property"#]
    );
    // At the root upstream names the value ".key" and trims the dot only for the field.
    let s = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    assert_eq!(
        errs(s, json!({"k": "v"})),
        [r#"k: Invalid value: "string": .k in body must be of type integer: "string""#]
    );
}

#[test]
fn arrays_and_nested_paths() {
    let s = field(json!({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}));
    assert_eq!(
        errs(s, json!({"field": [{"x": 1}, {"x": "no"}]})),
        [r#"field[1].x: Invalid value: "string": field[1].x in body must be of type integer: "string""#]
    );
}

#[test]
fn duplicate_messages_are_reported_once() {
    let s = field(json!({"type": "integer", "allOf": [{"maximum": 1}, {"maximum": 1}]}));
    assert_eq!(
        errs(s, json!({"field": 3})),
        [
            r#"<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated"#,
            "field: Invalid value: 3: field in body should be less than or equal to 1",
        ]
    );
}

#[test]
fn root_metadata_schema_applies() {
    let s = json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}}});
    assert_eq!(
        errs(s, json!({"metadata": {"name": "toolong"}})),
        ["metadata.name: Too long: may not be more than 3 bytes"]
    );
}
