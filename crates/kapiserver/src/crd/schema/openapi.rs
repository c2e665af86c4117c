//! The OpenAPI value validator (kube-openapi `pkg/validation/validate`, as apiextensions uses it).
//!
//! Validators run per node in upstream's order (type, allOf/anyOf/oneOf/not, string, format,
//! number, array, enum, object); errors are deduplicated by message, and `anyOf`/`oneOf` report the
//! failures of the branch that matched most (`MatchCount`). Object keys and properties are visited
//! in sorted order where upstream's order is Go's random map order.

use serde_json::{Map, Value};

use super::field::{Bad, FieldError, FieldPath};
use super::formats;
use super::structural::Structural;
use crate::gofmt::{self, Num, go_f64_to_i64};

const IN: &str = "body";

/// kube-openapi error codes that apiextensions maps to specific field errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    Other,
}

/// A kube-openapi error: a `*errors.Validation` or a plain error.
#[derive(Clone, Debug)]
enum OErr {
    Validation { code: Code, name: String, value: Option<Bad>, valid: Option<i64>, values: Vec<Value>, message: String },
    Plain(String),
}

impl OErr {
    fn message(&self) -> &str {
        match self {
            OErr::Validation { message, .. } | OErr::Plain(message) => message,
        }
    }

    fn new(code: Code, name: &str, value: Option<Bad>, message: String) -> Self {
        OErr::Validation { code, name: name.to_owned(), value, valid: None, values: Vec::new(), message }
    }

    fn with_valid(mut self, v: i64) -> Self {
        if let OErr::Validation { valid, .. } = &mut self {
            *valid = Some(v);
        }
        self
    }
}

/// A validation result: errors (unique by message) and how much of the schema matched.
#[derive(Clone, Debug, Default)]
struct Res {
    errors: Vec<OErr>,
    match_count: usize,
}

impl Res {
    fn err(e: OErr) -> Self {
        Res { errors: vec![e], match_count: 0 }
    }

    fn add(&mut self, e: OErr) {
        if !self.errors.iter().any(|x| x.message() == e.message()) {
            self.errors.push(e);
        }
    }

    fn merge(&mut self, other: Res) {
        for e in other.errors {
            self.add(e);
        }
        self.match_count += other.match_count;
    }

    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn inc(&mut self) {
        self.match_count += 1;
    }
}

/// Validates `data` against `s` and converts the result like apiextensions'
/// `kubeOpenAPIResultToFieldErrors`, relative to `base`.
pub(crate) fn validate(base: &FieldPath, data: &Value, s: &Structural) -> Vec<FieldError> {
    node(s, data, "").errors.into_iter().map(|e| to_field_error(base, e)).collect()
}

fn to_field_error(base: &FieldPath, e: OErr) -> FieldError {
    match e {
        OErr::Plain(message) => FieldError::invalid(base, &Bad::str(""), &message),
        OErr::Validation { code, name, value, valid, values, message } => {
            let path = if name.is_empty() || name == "." {
                base.clone()
            } else {
                base.child(name.strip_prefix('.').unwrap_or(&name))
            };
            let value = value.unwrap_or_else(|| Bad::str(""));
            let int_of = |b: &Bad| match b {
                Bad::Num(Num::Int(i)) => *i,
                _ => -1,
            };
            match code {
                Code::Required => FieldError::required(&path, ""),
                Code::Enum => {
                    let supported: Vec<String> = values
                        .iter()
                        .map(|v| match v {
                            Value::String(s) => s.clone(),
                            other => gofmt::json(other),
                        })
                        .collect();
                    FieldError::not_supported(&path, &value, &supported)
                }
                Code::TooLong => FieldError::too_long(&path, valid.unwrap_or(-1)),
                Code::MaxItems | Code::TooManyProperties => {
                    FieldError::too_many(&path, int_of(&value), valid.unwrap_or(-1))
                }
                Code::InvalidType => FieldError::type_invalid(&path, &value, &message),
                Code::Other => FieldError::invalid(&path, &value, &message),
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Str,
    Int,
    Float,
    Array,
    Object,
}

fn kind(v: &Value) -> Option<Kind> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(_) => Kind::Bool,
        Value::String(_) => Kind::Str,
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(_)) => Kind::Int,
            _ => Kind::Float,
        },
        Value::Array(_) => Kind::Array,
        Value::Object(_) => Kind::Object,
    })
}

/// `SchemaValidator.Validate`.
fn node(s: &Structural, data: &Value, path: &str) -> Res {
    let mut result = Res::default();
    let Some(k) = kind(data) else {
        result.merge(type_check(s, data, path));
        result.merge(enum_check(s, data, path));
        return result;
    };
    let format = s.effective_format();
    if !s.type_list().is_empty() || !format.is_empty() {
        result.merge(type_check(s, data, path));
        result.inc();
    }
    result.merge(combinators(s, data, path));
    result.inc();
    if let Value::String(text) = data {
        result.merge(string_check(s, text, path));
        result.inc();
        if !format.is_empty() && formats::is_supported(format) {
            if !formats::validates(format, text) {
                result.add(invalid_type(path, format, text));
            }
            result.inc();
        }
    }
    if let Some(n) = Num::of(data) {
        result.merge(number_check(s, n, path));
        result.inc();
    }
    if let Value::Array(items) = data {
        result.merge(array_check(s, items, path));
        result.inc();
    }
    result.merge(enum_check(s, data, path));
    result.inc();
    if let (Kind::Object, Value::Object(m)) = (k, data) {
        result.merge(object_check(s, m, path));
        result.inc();
    }
    result.inc();
    result
}

fn invalid_type(path: &str, type_name: &str, value: &str) -> OErr {
    let message = format!("{path} in {IN} must be of type {type_name}: {}", gofmt::quote(value));
    OErr::new(Code::InvalidType, path, Some(Bad::str(value)), message)
}

/// `typeValidator.Validate`.
fn type_check(s: &Structural, data: &Value, path: &str) -> Res {
    let types = s.type_list();
    let Some(k) = kind(data) else {
        if !types.is_empty() && !types.contains(&"null") && !s.nullable {
            return Res::err(invalid_type(path, &types.join(","), "null"));
        }
        return Res { errors: Vec::new(), match_count: 1 };
    };
    let (sch_type, sch_format) = match k {
        Kind::Bool => ("boolean", ""),
        Kind::Str => ("string", ""),
        Kind::Int => ("integer", "int64"),
        Kind::Float => ("number", "float64"),
        Kind::Array => ("array", ""),
        Kind::Object => ("object", ""),
    };
    let format = s.effective_format();
    let has = |t: &str| types.contains(&t);
    let is_float_int = k == Kind::Float && Num::of(data).is_some_and(|n| is_json_integer(n.as_f64())) && has("integer");
    let is_int_float = k == Kind::Int && has("number");
    if k != Kind::Str
        && k != Kind::Array
        && !format.is_empty()
        && !(has(sch_type) || sch_format == format || is_float_int || is_int_float)
    {
        return Res::err(invalid_type(path, format, sch_format));
    }
    let numeric = has("number") || has("integer");
    if !numeric && !format.is_empty() && (k == Kind::Str || k == Kind::Array) {
        return Res { errors: Vec::new(), match_count: 1 };
    }
    if !(has(sch_type) || is_float_int || is_int_float) {
        return Res::err(invalid_type(path, &types.join(","), sch_type));
    }
    Res { errors: Vec::new(), match_count: 1 }
}

/// swag's `IsFloat64AJSONInteger`.
fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let rounded = f.round();
    if f == rounded {
        return true;
    }
    if rounded == 0.0 {
        return false;
    }
    (f - rounded).abs() < 1e-9 * rounded.abs()
}

fn plain(message: String) -> OErr {
    OErr::Plain(message)
}

/// `schemaPropsValidator.Validate` (`anyOf`, `oneOf`, `allOf`, `not`).
fn combinators(s: &Structural, data: &Value, path: &str) -> Res {
    let mut main = Res::default();
    let qpath = gofmt::quote(path);
    if !s.vv.any_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut first_success: Option<Res> = None;
        for branch in &s.vv.any_of {
            let r = node(branch, data, path);
            if r.is_valid() {
                best = None;
                first_success = Some(r);
                break;
            }
            if best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
                best = Some(r);
            }
        }
        if first_success.is_none() {
            main.add(plain(format!("{qpath} must validate at least one schema (anyOf)")));
        }
        if let Some(b) = best {
            main.merge(b);
        } else if let Some(f) = first_success {
            main.merge(f);
        }
    }
    if !s.vv.one_of.is_empty() {
        let mut best: Option<Res> = None;
        let mut first_success: Option<Res> = None;
        let mut validated = 0;
        for branch in &s.vv.one_of {
            let r = node(branch, data, path);
            if r.is_valid() {
                validated += 1;
                best = None;
                if first_success.is_none() {
                    first_success = Some(r);
                }
                continue;
            }
            if validated == 0 && best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
                best = Some(r);
            }
        }
        if validated != 1 {
            let extra = if validated == 0 {
                "Found none valid".to_owned()
            } else {
                format!("Found {validated} valid alternatives")
            };
            main.add(plain(format!("{qpath} must validate one and only one schema (oneOf). {extra}")));
            if let Some(b) = best {
                main.merge(b);
            }
        } else if let Some(f) = first_success {
            main.merge(f);
        }
    }
    if !s.vv.all_of.is_empty() {
        let mut validated = 0;
        for branch in &s.vv.all_of {
            let r = node(branch, data, path);
            if r.is_valid() {
                validated += 1;
            }
            main.merge(r);
        }
        if validated != s.vv.all_of.len() {
            let extra = if validated == 0 { ". None validated" } else { "" };
            main.add(plain(format!("{qpath} must validate all the schemas (allOf){extra}")));
        }
    }
    if let Some(not) = &s.vv.not {
        if node(not, data, path).is_valid() {
            main.add(plain(format!("{qpath} must not validate the schema (not)")));
        }
    }
    main.inc();
    main
}

/// `stringValidator.Validate`: stops at the first failure.
fn string_check(s: &Structural, text: &str, path: &str) -> Res {
    let len = text.chars().count() as i64;
    let mk = |msg: String| OErr::new(Code::Other, path, Some(Bad::str(text)), msg);
    if let Some(max) = s.vv.max_length.filter(|m| len > *m) {
        let e = OErr::new(
            Code::TooLong,
            path,
            Some(Bad::str(text)),
            format!("{path} in {IN} should be at most {max} chars long"),
        );
        return Res::err(e.with_valid(max));
    }
    if let Some(min) = s.vv.min_length.filter(|m| len < *m) {
        return Res::err(mk(format!("{path} in {IN} should be at least {min} chars long")).with_valid(min));
    }
    if let Some(p) = &s.vv.pattern {
        match &p.compiled {
            Err(e) => {
                return Res::err(mk(format!(
                    "{path} in {IN} should match '{}, but pattern is invalid: {e}'",
                    p.source
                )));
            }
            Ok(re) if !re.is_match(text) => {
                return Res::err(mk(format!("{path} in {IN} should match '{}'", p.source)));
            }
            Ok(_) => {}
        }
    }
    Res::default()
}

/// `IsValueValidAgainstRange`: whether a number fits the schema's type and format.
fn range_error(n: Num, type_name: &str, format: &str, prefix: &str, path: &str) -> Option<OErr> {
    let rep = match n {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => gofmt::float_f(f),
    };
    let ok = match (type_name, format) {
        ("integer", "int32") => rep.parse::<i32>().is_ok(),
        ("integer", _) => rep.parse::<i64>().is_ok(),
        (_, "float" | "float32") => rep.parse::<f64>().is_ok_and(|f| (f as f32).is_finite()),
        _ => true,
    };
    if ok {
        return None;
    }
    Some(plain(if format.is_empty() {
        format!("{prefix} value must be of type {type_name} (default format) in {path}")
    } else {
        format!("{prefix} value must be of type {type_name} with format {format} in {path}")
    }))
}

fn bound_message(path: &str, bound: &str, is_max: bool, exclusive: bool) -> String {
    let rel = match (is_max, exclusive) {
        (true, false) => "less than or equal to",
        (true, true) => "less than",
        (false, false) => "greater than or equal to",
        (false, true) => "greater than",
    };
    format!("{path} in {IN} should be {rel} {bound}")
}

/// `Maximum*`/`Minimum*`: native integer comparison (bound truncated) or float comparison.
fn bound_check(path: &str, n: Num, bound: f64, exclusive: bool, is_max: bool, native: bool) -> Option<OErr> {
    let (fails, shown) = match n {
        Num::Int(i) if native => {
            let b = go_f64_to_i64(bound);
            let fails = if is_max { i > b || (exclusive && i == b) } else { i < b || (exclusive && i == b) };
            (fails, b.to_string())
        }
        _ => {
            let d = n.as_f64();
            let fails =
                if is_max { d > bound || (exclusive && d == bound) } else { d < bound || (exclusive && d == bound) };
            (fails, gofmt::float_v(bound))
        }
    };
    let value = if native { Bad::Num(n) } else { Bad::Num(Num::Float(n.as_f64())) };
    fails.then(|| OErr::new(Code::Other, path, Some(value), bound_message(path, &shown, is_max, exclusive)))
}

fn multiple_of_check(path: &str, n: Num, factor: f64, native: bool) -> Option<OErr> {
    let positive = |f: Bad| {
        let message = format!("factor MultipleOf declared for {path} must be positive: {}", bad_v(&f));
        OErr::new(Code::Other, path, Some(f), message)
    };
    let not_multiple = |f: String, data: Bad| {
        OErr::new(Code::Other, path, Some(data), format!("{path} in {IN} should be a multiple of {f}"))
    };
    match n {
        Num::Int(i) if native => {
            let f = go_f64_to_i64(factor);
            if f <= 0 {
                return Some(positive(Bad::Num(Num::Int(f))));
            }
            (i.wrapping_rem(f) != 0).then(|| not_multiple(f.to_string(), Bad::Num(n)))
        }
        _ => {
            let data = n.as_f64();
            if factor <= 0.0 {
                return Some(positive(Bad::Num(Num::Float(factor))));
            }
            let mult = if factor < 1.0 { 1.0 / factor * data } else { data / factor };
            (!is_json_integer(mult)).then(|| not_multiple(gofmt::float_v(factor), Bad::Num(Num::Float(data))))
        }
    }
}

fn bad_v(b: &Bad) -> String {
    match b {
        Bad::Num(n) => gofmt::num_v(*n),
        _ => String::new(),
    }
}

/// `numberValidator.Validate`.
fn number_check(s: &Structural, n: Num, path: &str) -> Res {
    let types = s.type_list();
    let format = s.effective_format();
    let (type_name, fmt) = match types.as_slice() {
        ["integer"] => ("integer", if matches!(format, "int32" | "int64") { format } else { "" }),
        ["number"] => ("number", if matches!(format, "float" | "double") { format } else { "" }),
        _ => ("", ""),
    };
    let mut res = Res::default();
    if let Some(e) = range_error(n, type_name, fmt, "Checked", path) {
        res.add(e);
    }
    let mut parts = Vec::new();
    let checks: [(Option<f64>, &str); 3] =
        [(s.vv.multiple_of, "MultipleOf"), (s.vv.minimum, "Minimum boundary"), (s.vv.maximum, "Maximum boundary")];
    for (bound, prefix) in checks {
        let Some(bound) = bound else { continue };
        let mut r = Res::default();
        let range = range_error(Num::Float(bound), type_name, fmt, prefix, path);
        let native = range.is_none();
        if let Some(e) = range {
            r.add(e);
        }
        let err = match prefix {
            "MultipleOf" => multiple_of_check(path, n, bound, native),
            "Minimum boundary" => bound_check(path, n, bound, s.vv.exclusive_minimum, false, native),
            _ => bound_check(path, n, bound, s.vv.exclusive_maximum, true, native),
        };
        if let Some(e) = err {
            r.add(e);
        }
        parts.push(r);
    }
    for r in parts {
        res.merge(r);
    }
    res.inc();
    res
}

/// `schemaSliceValidator.Validate`.
fn array_check(s: &Structural, items: &[Value], path: &str) -> Res {
    let mut res = Res::default();
    if let Some(item_schema) = &s.items {
        for (i, v) in items.iter().enumerate() {
            res.merge(node(item_schema, v, &format!("{path}[{i}]")));
        }
    }
    let size = items.len() as i64;
    if let Some(min) = s.vv.min_items.filter(|m| size < *m) {
        let message = format!("{path} in {IN} should have at least {min} items");
        res.add(OErr::new(Code::Other, path, Some(Bad::Num(Num::Int(size))), message).with_valid(min));
    }
    if let Some(max) = s.vv.max_items.filter(|m| size > *m) {
        let message = format!("{path} in {IN} should have at most {max} items");
        res.add(OErr::new(Code::MaxItems, path, Some(Bad::Num(Num::Int(size))), message).with_valid(max));
    }
    if s.vv.unique_items {
        let dup = items.iter().enumerate().any(|(i, a)| items[..i].iter().any(|b| deep_equal(a, b)));
        if dup {
            res.add(OErr::new(Code::Other, path, None, format!("{path} in {IN} shouldn't contain duplicates")));
        }
    }
    res.inc();
    res
}

/// `reflect.DeepEqual` on unstructured values: `int64` and `float64` never equal.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => match (Num::of(a), Num::of(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x == y,
            (Some(Num::Float(x)), Some(Num::Float(y))) => x == y,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Go's "convert `data` to the enum value's type, then DeepEqual".
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (Num::of(data), e) {
        (Some(Num::Int(i)), Value::String(s)) => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            s.chars().eq(std::iter::once(c))
        }
        (Some(Num::Int(i)), Value::Number(_)) => match Num::of(e) {
            Some(Num::Float(f)) => i as f64 == f,
            Some(Num::Int(j)) => i == j,
            None => false,
        },
        (Some(Num::Float(f)), Value::Number(_)) => match Num::of(e) {
            Some(Num::Int(j)) => go_f64_to_i64(f) == j,
            Some(Num::Float(g)) => f == g,
            None => false,
        },
        _ => !data.is_null() && !e.is_null() && deep_equal(data, e),
    }
}

/// `basicCommonValidator.Validate` (`enum`).
fn enum_check(s: &Structural, data: &Value, path: &str) -> Res {
    let values = &s.vv.enumeration;
    if values.is_empty() || values.iter().any(|e| enum_matches(data, e)) {
        return Res::default();
    }
    let message = format!("{path} in {IN} should be one of {}", gofmt::v(&Value::Array(values.clone())));
    Res::err(OErr::Validation {
        code: Code::Enum,
        name: path.to_owned(),
        value: Some(Bad::of(data)),
        valid: None,
        values: values.clone(),
        message,
    })
}

/// `objectValidator.Validate`.
fn object_check(s: &Structural, m: &Map<String, Value>, path: &str) -> Res {
    let mut res = Res::default();
    let n = m.len() as i64;
    if let Some(min) = s.vv.min_properties.filter(|v| n < *v) {
        let message = format!("{path} in {IN} should have at least {min} properties");
        res.add(OErr::new(Code::Other, path, Some(Bad::Num(Num::Int(n))), message).with_valid(min));
    }
    if let Some(max) = s.vv.max_properties.filter(|v| n > *v) {
        let message = format!("{path} in {IN} should have at most {max} properties");
        res.add(OErr::new(Code::TooManyProperties, path, Some(Bad::Num(Num::Int(n))), message).with_valid(max));
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    match &s.additional {
        Some(a) if !a.allows() => {
            for k in keys.iter().filter(|k| !s.properties.contains_key(k.as_str())) {
                let message = format!("{path}.{k} in {IN} is a forbidden property");
                res.add(OErr::new(Code::Other, path, Some(Bad::str(k)), message));
            }
        }
        additional => {
            if let Some(schema) = additional.as_ref().and_then(|a| a.schema()) {
                for k in keys.iter().filter(|k| !s.properties.contains_key(k.as_str())) {
                    res.merge(node(schema, &m[k.as_str()], &format!("{path}.{k}")));
                }
            }
        }
    }
    for (name, prop) in &s.properties {
        if let Some(v) = m.get(name) {
            let child = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            res.merge(node(prop, v, &child));
        }
    }
    for k in &s.vv.required {
        if !m.contains_key(k) {
            res.add(OErr::new(Code::Required, &format!("{path}.{k}"), None, format!("{path}.{k} in {IN} is required")));
        }
    }
    res
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
