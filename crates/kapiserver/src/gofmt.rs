//! Go-compatible rendering of JSON values, so that messages match upstream byte for byte.
//!
//! Upstream builds its messages with `fmt` verbs (`%v`, `%q`, `%T`) and `encoding/json`; each of
//! them formats numbers and strings slightly differently from `serde_json`.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// A JSON number as Go's unstructured decoding sees it: `int64` when it fits, otherwise `float64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    /// Classifies a JSON number; `None` for anything else.
    pub(crate) fn of(v: &Value) -> Option<Num> {
        let Value::Number(n) = v else { return None };
        if let Some(i) = n.as_i64() {
            return Some(Num::Int(i));
        }
        // u64 beyond i64 and every non-integer literal decode to float64 in Go.
        n.as_f64().map(Num::Float)
    }

    /// The value as `float64`.
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// Go's conversion of a `float64` to `int64` on amd64: out-of-range values and NaN become `MinInt64`.
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&f) { f as i64 } else { i64::MIN }
}

/// Shortest decimal digits of `f` (without sign) and the decimal point position, like Go's `strconv`.
fn shortest_digits(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    if digits.chars().all(|c| c == '0') {
        return ("0".to_owned(), 1);
    }
    (digits, exp + 1)
}

fn sign(f: f64) -> &'static str {
    if f.is_sign_negative() { "-" } else { "" }
}

fn fixed(digits: &str, dp: i32) -> String {
    let len = digits.len() as i32;
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp >= len {
        format!("{digits}{}", "0".repeat((dp - len) as usize))
    } else {
        let (a, b) = digits.split_at(dp as usize);
        format!("{a}.{b}")
    }
}

fn exponent(digits: &str, dp: i32, min_exp_digits: usize) -> String {
    let (first, rest) = digits.split_at(1);
    let exp = dp - 1;
    let mut out = first.to_owned();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:0width$}", exp.abs(), width = min_exp_digits);
    out
}

fn non_finite(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_owned())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned())
    } else {
        None
    }
}

/// `fmt.Sprint(float64)` (`%v`): shortest digits, exponent form when the exponent is < -4 or >= 6.
pub(crate) fn float_v(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    let body = if (-4..6).contains(&exp) { fixed(&digits, dp) } else { exponent(&digits, dp, 2) };
    format!("{}{body}", sign(f))
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn float_f(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let (digits, dp) = shortest_digits(f);
    format!("{}{}", sign(f), fixed(&digits, dp))
}

/// `encoding/json` float encoding: plain decimal unless < 1e-6 or >= 1e21.
pub(crate) fn float_json(f: f64) -> String {
    if let Some(s) = non_finite(f) {
        return s;
    }
    let abs = f.abs();
    let (digits, dp) = shortest_digits(f);
    let body = if abs != 0.0 && !(1e-6..1e21).contains(&abs) { exponent(&digits, dp, 1) } else { fixed(&digits, dp) };
    format!("{}{body}", sign(f))
}

/// `%v` of a number.
pub(crate) fn num_v(n: Num) -> String {
    match n {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => float_v(f),
    }
}

static PRINTABLE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$").ok());

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
pub(crate) fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        // The common case, without the regex: ASCII graphic characters and space.
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    match PRINTABLE.as_ref() {
        Some(re) => re.is_match(c.encode_utf8(&mut buf)),
        None => !c.is_control(),
    }
}

/// `strconv.Quote`: a double-quoted Go string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // encoding/json escapes HTML-significant characters and the JS line separators.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            Some(Num::Float(f)) => out.push_str(&float_json(f)),
            None => out.push_str("null"),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_into(&m[k], out);
            }
            out.push('}');
        }
    }
}

/// `json.Marshal` of an unstructured value (sorted keys, HTML escaping).
pub(crate) fn json(v: &Value) -> String {
    let mut out = String::new();
    json_into(v, &mut out);
    out
}

/// `fmt.Sprint` (`%v`) of an unstructured value.
pub(crate) fn v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => Num::of(v).map(num_v).unwrap_or_default(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(self::v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys.into_iter().map(|k| format!("{k}:{}", self::v(&m[k]))).collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// `%T` of an unstructured value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(_)) => "int64",
            _ => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_follow_go_verbs() {
        assert_eq!(float_v(0.9), "0.9");
        assert_eq!(float_v(20.0), "20");
        assert_eq!(float_v(1e6), "1e+06");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1234567.5), "1.2345675e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_v(-2.5), "-2.5");
        assert_eq!(float_v(0.0), "0");
        assert_eq!(float_f(1e21), "1000000000000000000000");
        assert_eq!(float_f(5.0), "5");
        assert_eq!(float_f(0.000125), "0.000125");
        assert_eq!(float_json(1.0), "1");
        assert_eq!(float_json(1e21), "1e+21");
        assert_eq!(float_json(1e-7), "1e-7");
        assert_eq!(float_json(1.5e-7), "1.5e-7");
        assert_eq!(float_json(0.000001), "0.000001");
    }

    #[test]
    fn quote_matches_strconv() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny\t"), r#""x\ny\t""#);
        assert_eq!(quote("\u{0}\u{7f}"), r#""\x00\x7f""#);
        assert_eq!(quote("héllo ✓"), "\"héllo ✓\"");
        assert_eq!(quote("\u{ad}"), r#""\u00ad""#);
    }

    #[test]
    fn json_matches_encoding_json() {
        assert_eq!(
            json(&json!({"b": 1, "a": [true, null, 2.5, "<&>"]})),
            r#"{"a":[true,null,2.5,"\u003c\u0026\u003e"],"b":1}"#
        );
        assert_eq!(json(&json!(u64::MAX)), "18446744073709552000");
    }

    #[test]
    fn v_and_type_names() {
        assert_eq!(v(&json!({"b": [1, "x"], "a": null})), "map[a:<nil> b:[1 x]]");
        assert_eq!(type_name(&json!("s")), "string");
        assert_eq!(type_name(&json!(1.5)), "float64");
        assert_eq!(type_name(&json!({})), "map[string]interface {}");
        assert_eq!(go_f64_to_i64(1e30), i64::MIN);
        assert_eq!(go_f64_to_i64(-2.7), -2);
    }
}
