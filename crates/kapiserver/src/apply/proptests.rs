//! Property tests: idempotent applies, ownership after forced applies, field set round trips,
//! and no panics on arbitrary input.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::tests::schema;
use super::*;

const T1: &str = "2025-01-01T00:00:01Z";
const T2: &str = "2025-01-01T00:00:02Z";

fn labels() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(vec!["app", "tier", "env"]),
        prop::sample::select(vec!["a", "b"]),
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), json!(v))).collect()))
}

fn container(name: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["nginx", "busybox"]),
        prop::sample::subsequence(vec![80, 443, 8080], 0..=3),
        prop::option::of(prop::collection::vec(prop::sample::select(vec!["sh", "-c", "true"]), 0..3)),
        prop::option::of(prop::sample::select(vec!["TCP", "UDP"])),
    )
        .prop_map(move |(image, ports, command, protocol)| {
            let mut c = json!({"name": name, "image": image});
            if !ports.is_empty() {
                let ports: Vec<Value> = ports
                    .into_iter()
                    .map(|p| match protocol {
                        Some(proto) => json!({"containerPort": p, "protocol": proto}),
                        None => json!({"containerPort": p}),
                    })
                    .collect();
                c["ports"] = Value::Array(ports);
            }
            if let Some(command) = command {
                c["command"] = json!(command);
            }
            c
        })
}

fn containers() -> impl Strategy<Value = Value> {
    prop::sample::subsequence(vec!["c1", "c2", "c3"], 0..=3)
        .prop_flat_map(|names| names.into_iter().map(container).collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(Value::Array)
}

/// Deployment-like configurations with maps, associative lists, sets and atomic lists.
fn config() -> impl Strategy<Value = Value> {
    (
        prop::option::of(0..4i64),
        labels(),
        containers(),
        prop::sample::subsequence(vec!["x", "y", "z"], 0..=3).prop_shuffle(),
        prop::option::of(labels()),
    )
        .prop_map(|(replicas, labels, containers, finalizers, selector)| {
            let mut spec = Map::new();
            if let Some(replicas) = replicas {
                spec.insert("replicas".into(), json!(replicas));
            }
            if let Some(selector) = selector {
                spec.insert("selector".into(), json!({"matchLabels": selector}));
            }
            spec.insert("template".into(), json!({"spec": {"containers": containers}}));
            let mut metadata = json!({"name": "d", "namespace": "ns", "labels": labels});
            if !finalizers.is_empty() {
                metadata["finalizers"] = json!(finalizers);
            }
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec})
        })
}

fn stored(mut obj: Value) -> Value {
    obj["metadata"]["uid"] = json!("uid-1");
    obj
}

fn owned_by(obj: &Value, manager: &str) -> FieldSet {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["manager"] == manager))
        .map(|e| FieldSet::from_value(&e["fieldsV1"]).unwrap())
        .unwrap_or_default()
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        prop::sample::select(vec!["a", "c", "name", ""]).prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["name", "containers", "spec", "metadata", "finalizers", "labels", "image"]),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn path_element() -> impl Strategy<Value = PathElement> {
    prop_oneof![
        prop::sample::select(vec!["a", "b", "c.d", "é"]).prop_map(PathElement::field),
        (prop::sample::select(vec!["x", "y"]), 0..3i64)
            .prop_map(|(n, p)| PathElement::key(vec![("name".into(), json!(n)), ("port".into(), json!(p))])),
        prop_oneof![Just(json!("v")), Just(json!(7)), Just(json!(true)), Just(json!("<&>"))]
            .prop_map(PathElement::Value),
        (0..3i64).prop_map(PathElement::Index),
    ]
}

fn field_set_strategy() -> impl Strategy<Value = FieldSet> {
    prop::collection::vec(prop::collection::vec(path_element(), 1..4), 0..8)
        .prop_map(|paths| FieldSet::from_paths(&paths))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn applying_twice_changes_nothing(cfg in config()) {
        let created = stored(apply(None, &cfg, "m", "apps/v1", false, &schema(), T1).unwrap());
        let again = apply(Some(&created), &cfg, "m", "apps/v1", false, &schema(), T2).unwrap();
        prop_assert_eq!(&again, &created);
    }

    #[test]
    fn forced_apply_owns_the_config_and_is_then_idempotent(first in config(), second in config(), force_first in any::<bool>()) {
        let live = stored(apply(None, &first, "one", "apps/v1", force_first, &schema(), T1).unwrap());
        let taken = stored(apply(Some(&live), &second, "two", "apps/v1", true, &schema(), T2).unwrap());
        let applied = field_set(&second, &schema());
        let owned = owned_by(&taken, "two");
        prop_assert!(applied.difference(&owned).is_empty(), "not owned: {}", applied.difference(&owned));
        let again = apply(Some(&taken), &second, "two", "apps/v1", false, &schema(), T2).unwrap();
        prop_assert_eq!(&again, &taken);
        // The first applier can take its configuration back by force, and nothing panics.
        let back = apply(Some(&taken), &first, "one", "apps/v1", true, &schema(), T2).unwrap();
        prop_assert!(field_set(&first, &schema()).difference(&owned_by(&back, "one")).is_empty());
    }

    #[test]
    fn updates_then_applies_keep_managed_fields_readable(cfg in config(), replicas in 0..9i64, label in labels()) {
        let live = stored(apply(None, &cfg, "m", "apps/v1", false, &schema(), T1).unwrap());
        let mut next = live.clone();
        next["spec"]["replicas"] = json!(replicas);
        next["metadata"]["labels"] = label;
        record_update(Some(&live), &mut next, "editor", "apps/v1", &schema(), T2);
        for entry in next["metadata"]["managedFields"].as_array().cloned().unwrap_or_default() {
            let set = FieldSet::from_value(&entry["fieldsV1"]).unwrap();
            prop_assert!(!set.is_empty());
        }
        let _ = apply(Some(&stored(next)), &cfg, "m", "apps/v1", false, &schema(), T2);
    }

    #[test]
    fn arbitrary_input_never_panics(live in arbitrary_json(), config in arbitrary_json(), force in any::<bool>()) {
        let mut config = config;
        if let Some(obj) = config.as_object_mut() {
            obj.insert("apiVersion".into(), json!("v1"));
        }
        let _ = apply(Some(&live), &config, "m", "v1", force, &schema(), T1);
        let _ = apply(None, &config, "m", "v1", force, &schema(), T1);
        let mut new = config.clone();
        record_update(Some(&live), &mut new, "m", "v1", &schema(), T1);
        let mut created = live.clone();
        record_update(None, &mut created, "m", "v1", &schema(), T1);
        let _ = FieldSet::from_value(&live);
        let _ = field_set(&config, &schema());
    }

    #[test]
    fn field_sets_round_trip(set in field_set_strategy()) {
        let text = set.to_json_string();
        prop_assert_eq!(&FieldSet::from_json_str(&text).unwrap(), &set);
        prop_assert_eq!(&FieldSet::from_value(&set.to_value()).unwrap(), &set);
        prop_assert_eq!(set.paths().len(), set.len());
    }

    #[test]
    fn field_set_algebra(a in field_set_strategy(), b in field_set_strategy()) {
        prop_assert_eq!(a.difference(&b).union(&a.intersection(&b)), a.clone());
        prop_assert_eq!(a.union(&b), b.union(&a));
        prop_assert_eq!(a.intersection(&b), b.intersection(&a));
        prop_assert!(a.difference(&b).intersection(&b).is_empty());
        prop_assert!(a.recursive_difference(&b).len() <= a.difference(&b).len());
        for path in a.paths() {
            prop_assert!(a.has(&path));
            prop_assert_eq!(b.has(&path), a.intersection(&b).has(&path));
        }
    }
}
