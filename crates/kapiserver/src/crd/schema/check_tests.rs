use serde_json::{Value, json};

use super::super::check_structural;

fn check(v: Value) -> Vec<String> {
    check_structural(&v)
}

const P: &str = "openAPIV3Schema";

#[test]
fn valid_schema_has_no_errors() {
    assert!(check(json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}},
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "default": 1, "minimum": 0},
                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
                "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                "mode": {"type": "string", "anyOf": [{"enum": ["a"]}, {"pattern": "^b"}]}
            }}
        }
    }))
    .is_empty());
}

#[test]
fn missing_types() {
    assert_eq!(
        check(
            json!({"properties": {"spec": {"properties": {"a": {"type": "string"}}}, "list": {"type": "array", "items": {}}}})
        ),
        [
            format!("{P}.properties[list].items.type: Required value: must not be empty for specified array items"),
            format!("{P}.properties[spec].type: Required value: must not be empty for specified object fields"),
            format!("{P}.type: Required value: must not be empty at the root"),
        ]
    );
    assert_eq!(
        check(json!({"type": "object", "properties": {"a": {"type": "array"}}})),
        [format!("{P}.properties[a].items: Required value: must be specified")]
    );
    assert_eq!(
        check(json!({"type": "string"})),
        [format!(r#"{P}.type: Invalid value: "string": must be object at the root"#)]
    );
}

#[test]
fn root_additional_properties() {
    let errs = check(json!({"type": "object", "additionalProperties": {"type": "string"}}));
    assert_eq!(errs, [format!("{P}.additionalProperties: Forbidden: must not be used at the root")]);
}

#[test]
fn metadata_restrictions() {
    assert!(
        check(json!({"type": "object", "properties": {"metadata": {"type": "object",
        "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}}}}}))
        .is_empty()
    );
    let msg = "must not specify anything other than name and generateName, but metadata is implicitly specified";
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}})
        ),
        [format!("{P}.properties[metadata]: Forbidden: {msg}")]
    );
    assert_eq!(
        check(json!({"type": "object", "properties": {"metadata": {"type": "object", "description": "d"}}})),
        [format!("{P}.properties[metadata]: Forbidden: {msg}")]
    );
    assert_eq!(
        check(json!({"type": "object", "properties": {"metadata": {"type": "string"}}})),
        [format!(r#"{P}.properties[metadata].type: Invalid value: "string": must be object"#)]
    );
    assert_eq!(
        check(json!({"type": "object", "properties": {"kind": {"type": "integer"}, "apiVersion": {"type": "string"}}})),
        [format!(r#"{P}.properties[kind].type: Invalid value: "integer": must be string"#)]
    );
    // Nested fields may be called metadata freely.
    assert!(check(json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"metadata": {"type": "object", "properties": {"x": {"type": "string"}}}}}}})).is_empty());
}

#[test]
fn embedded_resources() {
    assert_eq!(
        check(json!({"type": "object", "properties": {"t": {"x-kubernetes-embedded-resource": true}}})),
        [
            format!(
                "{P}.properties[t].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
            ),
            format!("{P}.properties[t].type: Required value: must be object if x-kubernetes-embedded-resource is true"),
        ]
    );
    assert_eq!(
        check(json!({"type": "object", "properties": {"t": {"type": "object", "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true, "properties": {"metadata": {"type": "string"}}}}})),
        [format!(r#"{P}.properties[t].properties[metadata].type: Invalid value: "string": must be object"#)]
    );
}

#[test]
fn int_or_string_extensions() {
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true, "x-kubernetes-preserve-unknown-fields": true}}})
        ),
        [format!(
            "{P}.properties[p].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true"
        )]
    );
    // Only the exact anyOf pattern may carry types.
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "boolean"}]}}})
        ),
        [
            format!("{P}.properties[p].anyOf[0].type: Forbidden: must be empty to be structural"),
            format!("{P}.properties[p].anyOf[1].type: Forbidden: must be empty to be structural"),
        ]
    );
    assert!(
        check(json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true,
        "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^x"}]}}}))
        .is_empty()
    );
}

#[test]
fn value_validations_must_not_be_structural() {
    let errs = check(
        json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}, "allOf": [{
            "type": "object", "title": "t", "description": "d", "nullable": true, "default": {}, "additionalProperties": true,
            "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-map-type": "atomic",
            "properties": {"b": {"x-kubernetes-list-type": "set", "x-kubernetes-list-map-keys": ["k"]}, "metadata": {}}
        }]}}}),
    );
    let at = format!("{P}.properties[a].allOf[0]");
    for want in [
        format!("{at}.type: Forbidden: must be empty to be structural"),
        format!("{at}.title: Forbidden: must be empty to be structural"),
        format!("{at}.description: Forbidden: must be empty to be structural"),
        format!("{at}.nullable: Forbidden: must be false to be structural"),
        format!("{at}.default: Forbidden: must be undefined to be structural"),
        format!("{at}.additionalProperties: Forbidden: must be undefined to be structural"),
        format!("{at}.x-kubernetes-preserve-unknown-fields: Forbidden: must be false to be structural"),
        format!("{at}.x-kubernetes-map-type: Forbidden: must be undefined to be structural"),
        format!("{at}.properties[b].x-kubernetes-list-type: Forbidden: must be undefined to be structural"),
        format!("{at}.properties[b].x-kubernetes-list-map-keys: Forbidden: must be empty to be structural"),
        format!("{at}.properties[metadata]: Forbidden: must not be specified in a nested context"),
    ] {
        assert!(errs.contains(&want), "missing {want}\nin {errs:#?}");
    }
    // Structural errors come sorted (like upstream), before the keyword rules' errors.
    let structural: Vec<&String> =
        errs.iter().filter(|e| e.contains("to be structural") || e.contains("nested context")).collect();
    let mut sorted = structural.clone();
    sorted.sort();
    assert_eq!(structural, sorted);
    assert!(errs.last().unwrap().ends_with("must be map if x-kubernetes-list-map-keys is non-empty"));
}

#[test]
fn completeness_of_root_value_validations() {
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"a": {"type": "object"}}, "anyOf": [{"properties": {"a": {"properties": {"x": {"minimum": 1}}}}}]})
        ),
        [format!(
            "{P}.properties[a].properties[x]: Required value: because it is defined in {P}.anyOf[0].properties[a].properties[x]"
        )]
    );
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "not": {"properties": {"a": {"items": {"maxLength": 1}}}}})
        ),
        [format!("{P}.properties[a].items: Required value: because it is defined in {P}.not.properties[a].items")]
    );
    assert_eq!(
        check(json!({"type": "object", "allOf": [{"properties": {"foo": {}}}]})),
        [format!("{P}.properties[foo]: Required value: because it is defined in {P}.allOf[0].properties[foo]")]
    );
    // Like upstream, only the root's value validations are checked for completeness.
    assert!(check(json!({"type": "object", "properties": {"a": {"type": "object", "anyOf": [{"properties": {"x": {"minimum": 1}}}]}}})).is_empty());
}

#[test]
fn invalid_patterns() {
    let errs = check(json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}}));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with(&format!(r#"{P}.properties[a].pattern: Invalid value: "(unclosed": must be a valid regular expression, but isn't: error parsing regexp: "#)), "{errs:?}");
}

#[test]
fn nullable_root_and_parse_errors() {
    assert_eq!(
        check(json!({"type": "object", "nullable": true})),
        [format!("{P}.nullable: Forbidden: nullable cannot be true at the root")]
    );
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-preserve-unknown-fields": false}}})
        ),
        [format!(
            "{P}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        )]
    );
    // Parse errors surface only when nothing else is wrong.
    assert_eq!(
        check(json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": "x"}}})),
        [format!(r#"{P}: Invalid value: "": properties[a]: maxLength must be an integer"#)]
    );
}

#[test]
fn map_list_keys() {
    let errs = check(json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["k", "k"], "items": {"type": "object", "nullable": true, "required": ["k"], "properties": {"k": {"type": "string", "nullable": true}}}}}}));
    let at = format!("{P}.properties[l]");
    assert_eq!(
        errs,
        [
            format!(r#"{at}.x-kubernetes-list-map-keys: Invalid value: ["k","k"]: must not contain duplicate entries"#),
            format!("{at}.items.nullable: Forbidden: cannot be nullable when x-kubernetes-list-type is map"),
            format!(
                "{at}.items.properties[k].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
            ),
            format!(
                "{at}.items.properties[k].nullable: Forbidden: this property is in x-kubernetes-list-map-keys, so it cannot be nullable"
            ),
        ]
    );
    assert_eq!(
        check(
            json!({"type": "object", "properties": {"l": {"type": "array", "x-kubernetes-list-map-keys": ["k"], "items": {"type": "string"}}}})
        ),
        [format!(
            "{P}.properties[l].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty"
        )]
    );
}

#[test]
fn embedded_defaults_need_type_meta() {
    let errs =
        check(json!({"type": "object", "properties": {"t": {"type": "object", "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true, "default": {"kind": "Pod"}}}}));
    assert_eq!(errs, [format!("{P}.properties[t].default.apiVersion: Required value")]);
}
