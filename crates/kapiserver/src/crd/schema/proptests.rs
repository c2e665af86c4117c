//! Property tests: nothing panics on arbitrary objects and schemas, and pruning is idempotent.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{
    JsonPath, PrinterColumns, Structural, apply_defaults, check_structural, drop_non_nullable_nulls, prune, validate,
    validate_at, validate_scale,
};

const KEYS: [&str; 6] = ["a", "b", "c", "metadata", "apiVersion", "kind"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-20i64..20).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(&["", "a", "x", "2024-01-01T00:00:00Z", "True", "é", "a.b"][..]).prop_map(Value::from),
        "[a-z0-9.:-]{0,8}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn leaf_schema() -> impl Strategy<Value = Value> {
    let ty =
        prop::sample::select(&["", "object", "array", "string", "integer", "number", "boolean", "null", "weird"][..]);
    let format = prop::sample::select(
        &["", "int32", "int64", "float", "double", "date-time", "uuid", "byte", "k8s-short-name"][..],
    );
    let pattern = prop::sample::select(&["", "^a", "(", "+", "\\d{2}", "a{1001}", "[[:alpha:]]"][..]);
    (
        ty,
        format,
        pattern,
        prop::option::of(json_value()),
        prop::option::of(-5i64..20),
        prop::option::of(-5.5f64..20.0),
        prop::option::of(prop::collection::vec(scalar(), 0..4)),
        any::<[bool; 8]>(),
        prop::collection::vec(key(), 0..3),
    )
        .prop_map(|(ty, format, pattern, default, len, bound, enumeration, flags, names)| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Value| {
                m.insert(k.to_owned(), v);
            };
            if !ty.is_empty() {
                put("type", json!(ty));
            }
            if !format.is_empty() {
                put("format", json!(format));
            }
            if !pattern.is_empty() {
                put("pattern", json!(pattern));
            }
            if let Some(d) = default {
                put("default", d);
            }
            if let Some(l) = len {
                put(["maxLength", "minLength", "maxItems", "minProperties"][(l.unsigned_abs() % 4) as usize], json!(l));
            }
            if let Some(b) = bound {
                put(if flags[0] { "maximum" } else { "minimum" }, json!(b));
                put("multipleOf", json!(b));
                put("exclusiveMaximum", json!(flags[1]));
            }
            if let Some(e) = enumeration {
                put("enum", Value::Array(e));
            }
            put("nullable", json!(flags[2]));
            if flags[3] {
                put("x-kubernetes-preserve-unknown-fields", json!(true));
            }
            if flags[4] {
                put("x-kubernetes-int-or-string", json!(true));
            }
            if flags[5] {
                put("x-kubernetes-embedded-resource", json!(true));
            }
            if flags[6] {
                put("x-kubernetes-list-type", json!(if flags[7] { "set" } else { "map" }));
                put("x-kubernetes-list-map-keys", json!(names.clone()));
            }
            put("required", json!(names));
            put("uniqueItems", json!(flags[7] && flags[0]));
            Value::Object(m)
        })
}

fn schema() -> impl Strategy<Value = Value> {
    leaf_schema().prop_recursive(4, 40, 5, |inner| {
        (
            leaf_schema(),
            prop::collection::btree_map(key(), inner.clone(), 0..4),
            prop::option::of(inner.clone()),
            prop::option::of(prop_oneof![any::<bool>().prop_map(Value::Bool), inner.clone()]),
            prop::collection::vec(inner.clone(), 0..3),
            0usize..4,
        )
            .prop_map(|(base, props, items, additional, branches, which)| {
                let mut m = base.as_object().cloned().unwrap_or_default();
                if !props.is_empty() {
                    m.insert("properties".into(), Value::Object(props.into_iter().collect()));
                }
                if let Some(i) = items {
                    m.insert("items".into(), i);
                }
                if let Some(a) = additional {
                    m.insert("additionalProperties".into(), a);
                }
                if !branches.is_empty() {
                    let k = ["allOf", "anyOf", "oneOf", "not"][which];
                    let v = if k == "not" { branches[0].clone() } else { Value::Array(branches) };
                    m.insert(k.into(), v);
                }
                Value::Object(m)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn nothing_panics_and_prune_is_idempotent(schema_json in schema(), obj in json_value()) {
        let _ = check_structural(&schema_json);
        let Ok(mut s) = Structural::from_json(&schema_json) else { return Ok(()) };
        s.prune_defaults();
        let _ = validate(&obj, &s);
        let _ = validate_at("status", &obj, &s);

        let mut pruned = obj.clone();
        let paths = prune(&mut pruned, &s);
        let mut again = pruned.clone();
        prop_assert!(prune(&mut again, &s).is_empty(), "second prune removed more; first removed {:?}", paths);
        prop_assert_eq!(&again, &pruned);
        if paths.is_empty() {
            prop_assert_eq!(&pruned, &obj);
        }

        let mut defaulted = pruned.clone();
        apply_defaults(&mut defaulted, &s);
        drop_non_nullable_nulls(&mut defaulted, &s);
        let _ = validate(&defaulted, &s);
    }

    #[test]
    fn jsonpath_and_printer_never_panic(path in "[.a-z0-9\\[\\]*?@=<>!'\"(),:{}-]{0,16}", obj in json_value()) {
        if let Ok(p) = JsonPath::parse(&path) {
            if let Ok(found) = p.find(&obj) {
                for v in found {
                    let _ = JsonPath::print(&v);
                }
            }
        }
        let version = json!({
            "additionalPrinterColumns": [
                {"name": "X", "type": "string", "jsonPath": path},
                {"name": "D", "type": "date", "jsonPath": ".a"},
                {"name": "I", "type": "integer", "jsonPath": ".b"},
            ],
            "subresources": {"scale": {"specReplicasPath": ".a.b", "statusReplicasPath": ".c", "labelSelectorPath": ".kind"}}
        });
        let cols = PrinterColumns::from_version(&version);
        let _ = cols.cells(&obj, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        if let Some(paths) = super::scale_paths(&version) {
            let _ = validate_scale(&obj, &paths, true);
            let _ = super::read_scale(&obj, &paths);
            let mut w = obj.clone();
            let _ = super::write_path(&mut w, &paths.spec_replicas, json!(1));
        }
    }

    #[test]
    fn go_patterns_never_panic(pattern in "[a-z\\\\{}\\[\\]()*+?:^$|.0-9&~<>dDwWsSbQE-]{0,12}", text in "[a-z0-9 ]{0,8}") {
        if let Ok(re) = super::goregex::compile(&pattern) {
            let _ = re.is_match(&text);
        }
    }
}
