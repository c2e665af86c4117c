//! Field errors shaped like apimachinery's `field.Error`, and the paths they point at.

use std::fmt;

use serde_json::Value;

use crate::gofmt::{self, Num};

/// One validation failure, as it appears in a `Status` cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, e.g. `spec.replicas`; `<nil>` when upstream has no path.
    pub field: String,
    /// The cause type: `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`,
    /// `FieldValueTooLong`, `FieldValueTooMany`, `FieldValueDuplicate`, `FieldValueTypeInvalid`
    /// or `FieldValueForbidden`.
    pub reason: &'static str,
    /// The message without the field prefix, e.g. `Invalid value: 20: spec.size in body should be
    /// less than or equal to 10`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A field path with apimachinery's rendering: `a.b[0][key]`, or `<nil>` for no path at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Option<String>);

impl FieldPath {
    /// No path (`<nil>` when rendered).
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// A path made of one named element, taken verbatim (dots included).
    pub(crate) fn new(name: &str) -> Self {
        Self(Some(name.to_owned()))
    }

    /// `path.Child(name)`.
    pub(crate) fn child(&self, name: &str) -> Self {
        if name.is_empty() {
            // An empty name renders as an empty subscript in apimachinery.
            return self.key("");
        }
        match &self.0 {
            None => Self::new(name),
            Some(p) => Self(Some(format!("{p}.{name}"))),
        }
    }

    /// `path.Index(i)`.
    pub(crate) fn index(&self, i: usize) -> Self {
        self.key(&i.to_string())
    }

    /// `path.Key(k)`.
    pub(crate) fn key(&self, k: &str) -> Self {
        Self(Some(format!("{}[{k}]", self.0.as_deref().unwrap_or(""))))
    }

    /// The rendered path.
    pub(crate) fn render(&self) -> String {
        self.0.clone().unwrap_or_else(|| "<nil>".to_owned())
    }
}

/// A bad value as apimachinery prints it in an error body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Bad {
    /// Printed with `%q`.
    Str(String),
    /// Printed with `%v`.
    Num(Num),
    /// Printed with `%v`.
    Bool(bool),
    /// Printed as JSON (objects, arrays, null, Go ints).
    Json(Value),
}

impl Bad {
    /// The bad value for an unstructured JSON value.
    pub(crate) fn of(v: &Value) -> Self {
        match v {
            Value::String(s) => Bad::Str(s.clone()),
            Value::Bool(b) => Bad::Bool(*b),
            Value::Number(_) => Num::of(v).map(Bad::Num).unwrap_or(Bad::Json(Value::Null)),
            other => Bad::Json(other.clone()),
        }
    }

    /// A string bad value.
    pub(crate) fn str(s: &str) -> Self {
        Bad::Str(s.to_owned())
    }

    fn render(&self) -> String {
        match self {
            Bad::Str(s) => gofmt::quote(s),
            Bad::Num(n) => gofmt::num_v(*n),
            Bad::Bool(b) => b.to_string(),
            Bad::Json(v) => gofmt::json(v),
        }
    }
}

fn with_detail(body: String, detail: &str) -> String {
    if detail.is_empty() { body } else { format!("{body}: {detail}") }
}

impl FieldError {
    fn build(path: &FieldPath, reason: &'static str, message: String) -> Self {
        FieldError { field: path.render(), reason, message }
    }

    /// `field.Invalid`.
    pub(crate) fn invalid(path: &FieldPath, bad: &Bad, detail: &str) -> Self {
        Self::build(path, "FieldValueInvalid", with_detail(format!("Invalid value: {}", bad.render()), detail))
    }

    /// `field.TypeInvalid`.
    pub(crate) fn type_invalid(path: &FieldPath, bad: &Bad, detail: &str) -> Self {
        Self::build(path, "FieldValueTypeInvalid", with_detail(format!("Invalid value: {}", bad.render()), detail))
    }

    /// `field.Required`.
    pub(crate) fn required(path: &FieldPath, detail: &str) -> Self {
        Self::build(path, "FieldValueRequired", with_detail("Required value".to_owned(), detail))
    }

    /// `field.Forbidden`.
    pub(crate) fn forbidden(path: &FieldPath, detail: &str) -> Self {
        Self::build(path, "FieldValueForbidden", with_detail("Forbidden".to_owned(), detail))
    }

    /// `field.Duplicate`.
    pub(crate) fn duplicate(path: &FieldPath, bad: &Bad) -> Self {
        Self::build(path, "FieldValueDuplicate", format!("Duplicate value: {}", bad.render()))
    }

    /// `field.NotSupported`.
    pub(crate) fn not_supported(path: &FieldPath, bad: &Bad, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| gofmt::quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::build(
            path,
            "FieldValueNotSupported",
            with_detail(format!("Unsupported value: {}", bad.render()), &detail),
        )
    }

    /// `field.TooLong` (the value itself is never printed).
    pub(crate) fn too_long(path: &FieldPath, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "value is too long".to_owned(),
            1 => "may not be more than 1 byte".to_owned(),
            m => format!("may not be more than {m} bytes"),
        };
        Self::build(path, "FieldValueTooLong", format!("Too long: {detail}"))
    }

    /// `field.TooMany`.
    pub(crate) fn too_many(path: &FieldPath, actual: i64, max: i64) -> Self {
        let detail = match max {
            m if m < 0 => "has too many items".to_owned(),
            1 => "must have at most 1 item".to_owned(),
            m => format!("must have at most {m} items"),
        };
        let body = if actual >= 0 { format!("Too many: {actual}") } else { "Too many".to_owned() };
        Self::build(path, "FieldValueTooMany", format!("{body}: {detail}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_like_apimachinery() {
        let root = FieldPath::none();
        assert_eq!(root.render(), "<nil>");
        assert_eq!(root.child("spec").child("list").index(0).key("k").render(), "spec.list[0][k]");
        assert_eq!(root.index(3).child("a").render(), "[3].a");
        assert_eq!(FieldPath::new(".spec.replicas").render(), ".spec.replicas");
    }

    #[test]
    fn bodies_render_like_apimachinery() {
        let p = FieldPath::new("f");
        assert_eq!(FieldError::invalid(&p, &Bad::str("x"), "bad").to_string(), r#"f: Invalid value: "x": bad"#);
        assert_eq!(FieldError::invalid(&p, &Bad::of(&json!(0.9)), "").message, "Invalid value: 0.9");
        assert_eq!(FieldError::invalid(&p, &Bad::of(&json!({"a": 1})), "d").message, r#"Invalid value: {"a":1}: d"#);
        assert_eq!(FieldError::required(&p, "").message, "Required value");
        assert_eq!(FieldError::too_long(&p, 2).message, "Too long: may not be more than 2 bytes");
        assert_eq!(FieldError::too_many(&p, 3, 2).message, "Too many: 3: must have at most 2 items");
        assert_eq!(FieldError::too_many(&p, 3, 1).message, "Too many: 3: must have at most 1 item");
        let ns = FieldError::not_supported(&p, &Bad::of(&json!(true)), &["a".into(), "b".into()]);
        assert_eq!(ns.message, r#"Unsupported value: true: supported values: "a", "b""#);
        assert_eq!(ns.reason, "FieldValueNotSupported");
        assert_eq!(FieldError::duplicate(&p, &Bad::of(&json!({"k": "a"}))).message, r#"Duplicate value: {"k":"a"}"#);
    }
}
