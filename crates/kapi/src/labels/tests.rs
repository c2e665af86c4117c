use super::*;

fn sel(s: &str) -> Selector {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn set<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
    pairs.iter().copied().collect()
}

#[test]
fn valid_syntax() {
    for s in [
        "",
        "x=a,y=b,z=c",
        "x!=a,y=b",
        "x=,z= ",
        "x= ,z= ",
        "!x",
        "x>1",
        "x>1,z<5",
        "x in (a,b)",
        "x notin (a)",
        "x in ()",
        "x in (,a)",
        "x in (a,)",
        "x in (a,,b)",
        "x==a",
        "in in (in)",
        "notin=in",
        "example.com/app in (a)",
        " \t x = a \n",
        "x=a,b",
        "a.b_c-d=E.f_g-h",
    ] {
        assert!(s.parse::<Selector>().is_ok(), "{s:?} should parse");
    }
}

#[test]
fn invalid_syntax() {
    for s in [
        "x=a||y=b",
        "x==a==b",
        "!x=a",
        "x<a",
        "x>",
        "x>1.5",
        "x in (a,b",
        "x in a",
        "x notin",
        "x=a,",
        ",x=a",
        "x=a,,y=b",
        "=a",
        "x in (a b)",
        "x=a b",
        "x=(a)",
        "x=-a",
        "-x=a",
        "x/y/z=a",
        "/x=a",
        "x=a=b",
        "!",
        "!!x",
        "x!",
        "x in ((a))",
    ] {
        assert!(s.parse::<Selector>().is_err(), "{s:?} should not parse");
    }
}

#[test]
fn error_messages_name_the_problem() {
    let err = "x in (a".parse::<Selector>().unwrap_err().to_string();
    assert_eq!(err, "unable to parse requirement: found '', expected: ',' or ')'");
    let err = "x>a".parse::<Selector>().unwrap_err().to_string();
    assert!(err.contains("must be an integer"), "{err}");
    let err = "x=a,".parse::<Selector>().unwrap_err().to_string();
    assert!(err.contains("identifier after ','"), "{err}");
    let long = format!("x={}", "v".repeat(64));
    let err = long.parse::<Selector>().unwrap_err();
    assert!(matches!(err, SelectorError::Value { .. }), "{err}");
}

#[test]
fn matching() {
    let yes = [
        ("", set(&[("x", "y")])),
        ("x=y", set(&[("x", "y")])),
        ("x==y", set(&[("x", "y")])),
        ("x=y,z=w", set(&[("x", "y"), ("z", "w")])),
        ("x!=y,z!=w", set(&[("x", "z"), ("z", "a")])),
        ("notin=in", set(&[("notin", "in")])),
        ("x", set(&[("x", "z")])),
        ("!x", set(&[("y", "z")])),
        ("x>1", set(&[("x", "2")])),
        ("x<1", set(&[("x", "0")])),
        ("x<1", set(&[("x", "-5")])),
        ("x notin (a)", set(&[])),
        ("x!=a", set(&[])),
        ("x in (a,b)", set(&[("x", "b")])),
        ("x in ()", set(&[("x", "")])),
        ("x=", set(&[("x", "")])),
    ];
    for (s, labels) in yes {
        assert!(sel(s).matches(&labels), "{s:?} should match {labels:?}");
    }
    let no = [
        ("x=z", set(&[])),
        ("x=y", set(&[("x", "z")])),
        ("x=y,z=w", set(&[("x", "w"), ("z", "w")])),
        ("x!=y,z!=w", set(&[("x", "z"), ("z", "w")])),
        ("x", set(&[("y", "z")])),
        ("!x", set(&[("x", "z")])),
        ("x>1", set(&[("x", "0")])),
        ("x>1", set(&[("x", "1")])),
        ("x<1", set(&[("x", "2")])),
        ("x>1", set(&[("x", "abc")])),
        ("x>1", set(&[])),
        ("x in (a,b)", set(&[])),
        ("x in (a,b)", set(&[("x", "c")])),
        ("x notin (a)", set(&[("x", "a")])),
        ("x=", set(&[])),
    ];
    for (s, labels) in no {
        assert!(!sel(s).matches(&labels), "{s:?} should not match {labels:?}");
    }
}

#[test]
fn canonical_string() {
    for (input, want) in [
        ("z=a,x=b", "x=b,z=a"),
        ("x in (b,a,a)", "x in (a,b)"),
        ("  x   notin (b , a)", "x notin (a,b)"),
        ("x==a", "x==a"),
        ("!x , y", "!x,y"),
        ("x in ()", "x in ()"),
        ("x in (,a)", "x in (,a)"),
        ("x=", "x="),
        ("b>3,a<2", "a<2,b>3"),
        ("", ""),
    ] {
        assert_eq!(sel(input).to_string(), want, "{input:?}");
        assert_eq!(sel(want), sel(input), "{input:?} round trip");
    }
}

#[test]
fn everything_and_nothing() {
    assert!(sel("").is_everything());
    assert!(Selector::everything().matches(&set(&[])));
    assert!(!Selector::nothing().matches(&set(&[])));
    assert!(Selector::nothing().matches_nothing());
    assert_eq!(Selector::nothing().to_string(), "");
}

#[test]
fn label_selector_conversion() {
    assert!(Selector::from_label_selector(None).unwrap().matches_nothing());
    let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
    assert!(empty.is_everything());

    let ls = LabelSelector {
        match_labels: Some([("app".to_string(), "web".to_string())].into()),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["fe".into(), "be".into()]),
            },
            LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            LabelSelectorRequirement { key: "env".into(), operator: "Exists".into(), values: Some(vec![]) },
        ]),
    };
    let s = Selector::from_label_selector(Some(&ls)).unwrap();
    assert_eq!(s.to_string(), "app=web,!canary,env,tier in (be,fe)");
    assert!(s.matches(&set(&[("app", "web"), ("tier", "fe"), ("env", "")])));
    assert!(!s.matches(&set(&[("app", "web"), ("tier", "fe"), ("env", ""), ("canary", "1")])));
    assert_eq!(Selector::from_label_selector(Some(&s.to_label_selector().unwrap())).unwrap(), s);

    let bad_op = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "a".into(),
            operator: "Gt".into(),
            values: Some(vec!["1".into()]),
        }]),
        ..LabelSelector::default()
    };
    assert_eq!(Selector::from_label_selector(Some(&bad_op)), Err(SelectorError::Operator("Gt".into())));
    let empty_in = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "a".into(),
            operator: "In".into(),
            values: None,
        }]),
        ..LabelSelector::default()
    };
    assert!(matches!(Selector::from_label_selector(Some(&empty_in)), Err(SelectorError::Values { .. })));
    let exists_with_values = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "a".into(),
            operator: "Exists".into(),
            values: Some(vec!["x".into()]),
        }]),
        ..LabelSelector::default()
    };
    assert!(Selector::from_label_selector(Some(&exists_with_values)).is_err());
    let bad_key =
        LabelSelector { match_labels: Some([("a b".to_string(), "c".to_string())].into()), ..LabelSelector::default() };
    assert!(matches!(Selector::from_label_selector(Some(&bad_key)), Err(SelectorError::Key { .. })));
}

#[test]
fn to_label_selector_maps_not_equals_and_rejects_numeric() {
    let ls = sel("a!=b,c==d").to_label_selector().unwrap();
    assert_eq!(ls.match_labels, Some([("c".to_string(), "d".to_string())].into()));
    let exprs = ls.match_expressions.unwrap();
    assert_eq!((exprs[0].operator.as_str(), exprs[0].values.as_deref()), ("NotIn", Some(&["b".to_string()][..])));
    assert!(sel("a>1").to_label_selector().is_err());
    // Two equalities on one key: the second becomes an In expression, so nothing matches.
    let twice = sel("in=,in=in").to_label_selector().unwrap();
    let back = Selector::from_label_selector(Some(&twice)).unwrap();
    assert!(!back.matches(&[("in", "in")]) && !back.matches(&[("in", "")]));
    assert!(Selector::nothing().to_label_selector().is_err());
}

#[test]
fn exact_match_and_builders() {
    let s = sel("app=web,tier in (fe)");
    assert_eq!(s.requires_exact_match("app"), Some("web"));
    assert_eq!(s.requires_exact_match("tier"), Some("fe"));
    assert_eq!(s.requires_exact_match("x"), None);
    let s = Selector::from_set([("b", "2"), ("a", "1")]).unwrap();
    assert_eq!(s.to_string(), "a=1,b=2");
    let s = s.and(Requirement::new("aa", Operator::Exists, Vec::<String>::new()).unwrap());
    assert_eq!(s.to_string(), "a=1,aa,b=2");
    assert!(Selector::from_set([("a", "bad value")]).is_err());
}

#[test]
fn label_sources() {
    let s = sel("a=1");
    assert!(s.matches(&[("a", "1")]));
    assert!(s.matches(&[("a".to_string(), "1".to_string())][..]));
    let hm: HashMap<String, String> = [("a".to_string(), "1".to_string())].into();
    assert!(s.matches(&hm));
    let none: Option<BTreeMap<String, String>> = None;
    assert!(!s.matches(&none));
    assert!(sel("!a").matches(&none));
}
