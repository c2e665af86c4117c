use serde_json::{Value, json};

use super::{JsonPath, JsonPathError};

fn find(path: &str, data: &Value) -> Result<Vec<Value>, JsonPathError> {
    JsonPath::parse(path)?.find(data).map(|r| r.into_iter().map(|c| c.into_owned()).collect())
}

fn data() -> Value {
    json!({
        "kind": "List",
        "items": [
            {"metadata": {"name": "a", "labels": {"app": "web", "tier.k8s.io/x": "1"}}, "spec": {"replicas": 1, "ports": [80, 443]},
             "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}},
            {"metadata": {"name": "b"}, "spec": {"replicas": 3, "ports": []},
             "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        ]
    })
}

#[test]
fn fields_indexes_and_slices() {
    let d = data();
    assert_eq!(find(".kind", &d).unwrap(), [json!("List")]);
    assert_eq!(find("{.kind}", &d).unwrap(), [json!("List")]);
    assert_eq!(find(".items[0].metadata.name", &d).unwrap(), [json!("a")]);
    assert_eq!(find(".items[-1].metadata.name", &d).unwrap(), [json!("b")]);
    assert_eq!(find(".items[*].metadata.name", &d).unwrap(), [json!("a"), json!("b")]);
    assert_eq!(find(".items[0:1].spec.replicas", &d).unwrap(), [json!(1)]);
    assert_eq!(find(".items[0].spec.ports[0:2:2]", &d).unwrap(), [json!(80)]);
    assert_eq!(find(".items[0,1].spec.replicas", &d).unwrap(), [json!(1), json!(3)]);
    assert_eq!(find(".items[0].metadata.labels['app']", &d).unwrap(), [json!("web")]);
    assert_eq!(find(r".items[0].metadata.labels.tier\.k8s\.io/x", &d).unwrap(), [json!("1")]);
    assert!(find(".items[0].nope.deeper", &d).unwrap().is_empty());
}

#[test]
fn filters() {
    let d = data();
    assert_eq!(find(r#".items[0].status.conditions[?(@.type=="Ready")].status"#, &d).unwrap(), [json!("True")]);
    assert_eq!(
        find(r#".items[*].status.conditions[?(@.type=="Ready")].status"#, &d).unwrap(),
        [json!("True"), json!("False")]
    );
    assert_eq!(find(r#".items[?(@.spec.replicas>2)].metadata.name"#, &d).unwrap(), [json!("b")]);
    assert_eq!(find(r#".items[?(@.spec.replicas<=1)].metadata.name"#, &d).unwrap(), [json!("a")]);
    assert_eq!(find(r#".items[?(@.spec.replicas!=1)].metadata.name"#, &d).unwrap(), [json!("b")]);
    assert_eq!(find(r#".items[?(@.metadata.labels)].metadata.name"#, &d).unwrap(), [json!("a")]);
    assert_eq!(
        find(r#".items[?(@.spec.replicas=="1")].metadata.name"#, &d).unwrap_err().to_string(),
        "incompatible types for comparison"
    );
    assert_eq!(
        find(r#".kind[?(@.x==1)]"#, &d).unwrap_err().to_string(),
        "List is not array or slice and cannot be filtered"
    );
}

#[test]
fn recursive_and_wildcards() {
    let d = json!({"a": {"name": "x", "b": {"name": "y"}}, "c": [{"name": "z"}]});
    assert_eq!(find("..name", &d).unwrap(), [json!("x"), json!("y"), json!("z")]);
    assert_eq!(find(".a.*", &d).unwrap(), [json!({"name": "y"}), json!("x")]);
}

#[test]
fn evaluation_errors() {
    let d = data();
    assert_eq!(find(".items[5]", &d).unwrap_err().to_string(), "array index out of bounds: index 5, length 2");
    assert_eq!(
        find(".items[1].spec.ports[0]", &d).unwrap_err().to_string(),
        "array index out of bounds: index 0, length 0"
    );
    assert_eq!(find(".kind[0]", &d).unwrap_err().to_string(), "string is not array or slice");
    assert_eq!(find(".items[0::0]", &d).unwrap_err().to_string(), "step must be > 0");
    let strict = JsonPath::parse(".nope").unwrap().allow_missing_keys(false);
    assert_eq!(strict.find(&d).unwrap_err().to_string(), "nope is not found");
}

#[test]
fn parse_errors() {
    let e = |p: &str| JsonPath::parse(p).unwrap_err().to_string();
    assert_eq!(e(".a["), "unterminated array");
    assert_eq!(e(".a[x]"), "invalid array index x");
    assert_eq!(e(".a[?(@.x==1]"), "unterminated filter");
    assert_eq!(e("#a"), "unrecognized character in action: U+0023 '#'");
    // `#` does not end a field name.
    assert!(JsonPath::parse(".a#").is_ok());
    assert_eq!(e(r#".a["x]"#), r#"invalid array index "x"#);
    assert_eq!(e("....a"), "invalid multiple recursive descent");
}

#[test]
fn printing() {
    assert_eq!(JsonPath::print(&json!("s")), "s");
    assert_eq!(JsonPath::print(&json!(1e6)), "1e+06");
    assert_eq!(JsonPath::print(&json!(3)), "3");
    assert_eq!(JsonPath::print(&Value::Null), "<no value>");
    assert_eq!(JsonPath::print(&json!({"b": 1, "a": "<"})), r#"{"a":"\u003c","b":1}"#);
}

#[test]
fn unquoting() {
    assert_eq!(super::unquote(r#""a\tb""#).unwrap(), "a\tb");
    assert_eq!(super::unquote("'it''").unwrap_err(), "invalid syntax");
    assert_eq!(super::unquote(r#""\u00e9""#).unwrap(), "é");
}
