//! Path elements of field sets, their total order, and the Go-compatible text forms that
//! upstream's managed fields and conflict messages use.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use serde_json::{Number, Value};

use crate::gofmt;

/// One step of a field path, as structured-merge-diff defines it.
///
/// Elements are totally ordered like upstream (`Field` < `Key` < `Value` < `Index`, then by
/// content); the order decides how field sets serialize.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// `f:<name>`: a field of a map.
    Field(String),
    /// `k:<json>`: the element of an associative list whose key fields have these values.
    /// Fields are sorted by name (build it with [`PathElement::key`]).
    Key(Vec<(String, Value)>),
    /// `v:<json>`: the element of a set of primitives with this value.
    Value(Value),
    /// `i:<index>`: an element of an atomic list by position.
    Index(i64),
}

impl PathElement {
    /// A field element.
    #[must_use]
    pub fn field(name: &str) -> Self {
        Self::Field(name.to_owned())
    }

    /// A key element; the fields are sorted by name, as upstream keeps them.
    #[must_use]
    pub fn key(mut fields: Vec<(String, Value)>) -> Self {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        Self::Key(fields)
    }

    /// The element in the fieldsV1 form: `f:name`, `k:{"name":"c"}`, `v:"x"` or `i:0`.
    #[must_use]
    pub fn to_fields_key(&self) -> String {
        let mut out = String::new();
        match self {
            Self::Field(name) => {
                out.push_str("f:");
                out.push_str(name);
            }
            Self::Key(fields) => {
                out.push_str("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(&mut out, name, false);
                    out.push(':');
                    write_go_json(&mut out, value);
                }
                out.push('}');
            }
            Self::Value(value) => {
                out.push_str("v:");
                write_go_json(&mut out, value);
            }
            Self::Index(index) => {
                out.push_str("i:");
                out.push_str(&index.to_string());
            }
        }
        out
    }

    /// Parses the fieldsV1 form. `Ok(None)` is an element of a type this version does not
    /// know: upstream drops those silently.
    ///
    /// # Errors
    ///
    /// Malformed elements, with upstream's message where it has one.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let bytes = text.as_bytes();
        if bytes.len() < 2 {
            return Err("key must be 2 characters long:".to_owned());
        }
        if bytes[1] != b':' {
            return Err(format!("missing colon: {text}"));
        }
        // bytes[1] is ':', so bytes[0] is ASCII and index 2 is a char boundary.
        let rest = &text[2..];
        let element = match bytes[0] {
            b'f' => Self::Field(rest.to_owned()),
            b'v' => Self::Value(serde_json::from_str(rest).map_err(|e| e.to_string())?),
            b'k' => match serde_json::from_str::<Value>(rest).map_err(|e| e.to_string())? {
                Value::Object(map) => Self::key(map.into_iter().collect()),
                other => return Err(format!("expected a JSON object in key element, got {other}")),
            },
            b'i' => Self::Index(
                rest.parse().map_err(|_| format!("strconv.Atoi: parsing {}: invalid syntax", gofmt::quote(rest)))?,
            ),
            _ => return Ok(None),
        };
        Ok(Some(element))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        use PathElement::{Field, Index, Key, Value};
        match (self, other) {
            (Field(a), Field(b)) => a.cmp(b),
            (Field(_), _) => Ordering::Less,
            (_, Field(_)) => Ordering::Greater,
            (Key(a), Key(b)) => compare_field_lists(a, b),
            (Key(_), _) => Ordering::Less,
            (_, Key(_)) => Ordering::Greater,
            (Value(a), Value(b)) => compare_values(a, b),
            (Value(_), _) => Ordering::Less,
            (_, Value(_)) => Ordering::Greater,
            (Index(a), Index(b)) => a.cmp(b),
        }
    }
}

/// Upstream's path text: `.name`, `[name="c",port=80]`, `[="x"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Field(name) => write!(f, ".{name}"),
            Self::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", go_value_string(value))?;
                }
                f.write_str("]")
            }
            Self::Value(value) => write!(f, "[={}]", go_value_string(value)),
            Self::Index(index) => write!(f, "[{index}]"),
        }
    }
}

/// Upstream's text of a whole path, e.g. `.spec.template.spec.containers[name="c"].image`.
#[must_use]
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

fn compare_field_lists(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = x.0.cmp(&y.0).then_with(|| compare_values(&x.1, &y.1));
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

enum Num {
    Int(i64),
    Float(f64),
}

/// Go decodes JSON integers that fit an int64 as int64 and everything else as float64.
fn num(n: &Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(0.0)),
    }
}

fn as_f64(n: &Num) -> f64 {
    match n {
        // Same conversion Go makes when it compares an int with a float.
        #[allow(clippy::cast_precision_loss)]
        Num::Int(i) => *i as f64,
        Num::Float(f) => *f,
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// Upstream's total order of values: numbers (compared numerically across ints and floats),
/// strings, bools, lists, maps, then null.
#[must_use]
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (num(x), num(y)) {
            (Num::Int(i), Num::Int(j)) => i.cmp(&j),
            (x, y) => as_f64(&x).partial_cmp(&as_f64(&y)).unwrap_or(Ordering::Equal),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let order = compare_values(l, r);
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.is_empty() && y.is_empty() {
                return Ordering::Equal;
            }
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            // Mirrors upstream's zip over the union of keys in lexical order.
            for (i, key) in keys.into_iter().enumerate() {
                let order = if i == x.len() {
                    Ordering::Less
                } else if i == y.len() {
                    Ordering::Greater
                } else {
                    match (x.get(key), y.get(key)) {
                        (None, _) => Ordering::Greater,
                        (_, None) => Ordering::Less,
                        (Some(l), Some(r)) => compare_values(l, r),
                    }
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

/// Upstream's value equality: numbers compare numerically across ints and floats.
#[must_use]
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (num(x), num(y)) {
            (Num::Int(i), Num::Int(j)) => i == j,
            (x, y) => as_f64(&x) == as_f64(&y),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_equal(l, r)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, l)| y.get(k).is_some_and(|r| values_equal(l, r)))
        }
        _ => a == b,
    }
}

/// Go's `value.ToString`: strings quoted, numbers and bools as `%v`.
fn go_value_string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => gofmt::float_v(f),
        },
        Value::String(s) => gofmt::quote(s),
        Value::Array(items) => format!("[{}]", items.iter().map(go_value_string).collect::<Vec<_>>().join(",")),
        Value::Object(map) => map.iter().map(|(k, v)| format!("{k}={}", go_value_string(v))).collect(),
    }
}

/// Writes `v` as compact JSON the way upstream's JSON library does: object keys sorted,
/// `<`, `>`, `&`, U+2028 and U+2029 escaped in strings, Go's float format.
pub(crate) fn write_go_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => out.push_str(&i.to_string()),
            Num::Float(f) => out.push_str(&gofmt::float_json(f)),
        },
        Value::String(s) => write_json_string(out, s, true),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k, true);
                out.push(':');
                write_go_json(out, item);
            }
            out.push('}');
        }
    }
}

/// The JSON text of `v` as Go writes it (see [`write_go_json`]).
#[must_use]
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(&mut out, v);
    out
}

/// Writes a JSON string literal. `html` also escapes `<`, `>`, `&`, U+2028 and U+2029, as Go
/// does for values; keys written as object field names are not HTML-escaped upstream.
pub(crate) fn write_json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_like_upstream() {
        let key = PathElement::key(vec![("protocol".into(), json!("TCP")), ("containerPort".into(), json!(80))]);
        assert_eq!(key.to_fields_key(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(key.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert_eq!(PathElement::field("image").to_fields_key(), "f:image");
        assert_eq!(PathElement::Value(json!("a<b")).to_fields_key(), r#"v:"a\u003cb""#);
        assert_eq!(PathElement::Value(json!("x")).to_string(), r#"[="x"]"#);
        assert_eq!(PathElement::Index(3).to_fields_key(), "i:3");
        assert_eq!(PathElement::Index(3).to_string(), "[3]");
    }

    #[test]
    fn parses_each_kind() {
        assert_eq!(PathElement::parse("f:a.b").unwrap(), Some(PathElement::field("a.b")));
        let key = PathElement::parse(r#"k:{"port":80,"name":"x"}"#).unwrap().unwrap();
        assert_eq!(key.to_fields_key(), r#"k:{"name":"x","port":80}"#);
        assert_eq!(PathElement::parse("v:1.5").unwrap(), Some(PathElement::Value(json!(1.5))));
        assert_eq!(PathElement::parse("i:-1").unwrap(), Some(PathElement::Index(-1)));
        assert_eq!(PathElement::parse("z:whatever").unwrap(), None);
        assert_eq!(PathElement::parse("f").unwrap_err(), "key must be 2 characters long:");
        assert_eq!(PathElement::parse("fx").unwrap_err(), "missing colon: fx");
        assert!(PathElement::parse("k:[1]").is_err());
        assert!(PathElement::parse("v:1 2").is_err());
        assert!(PathElement::parse("i:x").is_err());
        assert!(PathElement::parse("é:x").is_err());
    }

    #[test]
    fn orders_like_upstream() {
        let f = PathElement::field("z");
        let k = PathElement::key(vec![("a".into(), json!(1))]);
        let v = PathElement::Value(json!(0));
        let i = PathElement::Index(0);
        assert!(f < k && k < v && v < i);
        // Numbers compare numerically, across ints and floats.
        let k80 = PathElement::key(vec![("port".into(), json!(80))]);
        let k8080 = PathElement::key(vec![("port".into(), json!(8080))]);
        assert!(k80 < k8080);
        assert_eq!(PathElement::Value(json!(1)), PathElement::Value(json!(1.0)));
        // Numbers < strings < bools < lists < maps < null.
        let order = [json!(1), json!("a"), json!(false), json!([1]), json!({"a": 1}), json!(null)];
        for pair in order.windows(2) {
            assert_eq!(compare_values(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(compare_values(&json!({"a": 1}), &json!({"a": 1, "b": 2})), Ordering::Less);
        assert_eq!(compare_values(&json!({"b": 1}), &json!({"a": 1})), Ordering::Greater);
        assert_eq!(compare_values(&json!([1, 2]), &json!([1])), Ordering::Greater);
    }

    #[test]
    fn go_number_and_string_forms() {
        assert_eq!(gofmt::float_v(1.5), "1.5");
        assert_eq!(gofmt::float_v(1e6), "1e+06");
        assert_eq!(gofmt::float_v(123456.0), "123456");
        assert_eq!(gofmt::float_v(0.0001), "0.0001");
        assert_eq!(gofmt::float_v(0.00001), "1e-05");
        assert_eq!(go_json(&json!(1e21)), "1e+21");
        assert_eq!(go_json(&json!(1.5e-7)), "1.5e-7");
        assert_eq!(go_json(&json!(2.0)), "2");
        assert_eq!(go_json(&json!({"b": [true, null], "a": "<&>"})), r#"{"a":"\u003c\u0026\u003e","b":[true,null]}"#);
        assert_eq!(gofmt::quote("a\"b\\\n\u{1}é\u{200b}"), r#""a\"b\\\n\x01é\u200b""#);
        assert!(gofmt::is_go_printable('é') && !gofmt::is_go_printable('\u{a0}') && !gofmt::is_go_printable('\u{7f}'));
    }
}
