//! Property tests: label and field selectors survive format → parse unchanged, and the
//! parsed selector matches exactly the label sets the original matches.

use std::collections::BTreeMap;

use kapi::fields::{FieldOp, FieldSelector, FieldTerm};
use kapi::labels::{Operator, Requirement, Selector};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    let name = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,10}[A-Za-z0-9])?";
    prop_oneof![
        3 => name.prop_map(String::from),
        1 => ("[a-z0-9]{1,5}(\\.[a-z0-9]{1,5}){0,2}", name).prop_map(|(p, n)| format!("{p}/{n}")),
        1 => Just("in".to_string()),
        1 => Just("notin".to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?".prop_map(String::from),
        Just("in".to_string()),
        (0i64..100).prop_map(|n| n.to_string()),
    ]
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let ops = prop_oneof![
        Just(Operator::Equals),
        Just(Operator::DoubleEquals),
        Just(Operator::NotEquals),
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
        Just(Operator::GreaterThan),
        Just(Operator::LessThan),
    ];
    (key(), ops, prop::collection::vec(value(), 1..4), 0i64..100).prop_map(|(k, op, vals, n)| {
        let vals: Vec<String> = match op {
            Operator::In | Operator::NotIn => vals,
            Operator::Exists | Operator::DoesNotExist => vec![],
            Operator::GreaterThan | Operator::LessThan => vec![n.to_string()],
            _ => vec![vals[0].clone()],
        };
        Requirement::new(k, op, vals).expect("generated requirements are valid")
    })
}

fn selector() -> impl Strategy<Value = Selector> {
    prop::collection::vec(requirement(), 0..5).prop_map(Selector::from_requirements)
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), value(), 0..6)
}

proptest! {
    #[test]
    fn label_selector_format_parse_round_trip(sel in selector()) {
        let text = sel.to_string();
        let parsed: Selector = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&parsed, &sel, "text {:?}", text);
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn parsed_selector_matches_like_the_original(sel in selector(), ls in labels()) {
        let parsed: Selector = sel.to_string().parse().expect("round trip");
        prop_assert_eq!(parsed.matches(&ls), sel.matches(&ls));
    }

    #[test]
    fn label_selector_object_round_trip_keeps_meaning(sel in selector(), ls in labels()) {
        // `>`/`<` have no LabelSelector form; everything else converts and keeps its meaning.
        match sel.to_label_selector() {
            Ok(obj) => {
                let back = Selector::from_label_selector(Some(&obj)).expect("valid");
                prop_assert_eq!(back.matches(&ls), sel.matches(&ls));
            }
            Err(_) => prop_assert!(sel.requirements().iter().any(|r| matches!(r.operator(), Operator::GreaterThan | Operator::LessThan))),
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,40}") {
        let _ = s.parse::<Selector>();
        let _ = s.parse::<FieldSelector>();
    }

    #[test]
    fn field_selector_round_trip(terms in prop::collection::vec(
        ("[a-z]{1,6}(\\.[a-zA-Z]{1,6}){0,2}", any::<bool>(), "[ -~]{0,10}"), 0..5)
    ) {
        let sel = FieldSelector::from_terms(terms.into_iter().map(|(f, eq, v)| {
            FieldTerm::new(f, if eq { FieldOp::Equals } else { FieldOp::NotEquals }, v)
        }).collect());
        let text = sel.to_string();
        let parsed: FieldSelector = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, sel);
    }
}
