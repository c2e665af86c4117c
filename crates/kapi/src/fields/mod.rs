//! Field selectors (`metadata.name=x,spec.nodeName!=y`) with upstream syntax, escaping and
//! semantics, and the fields each built-in kind supports ([`kind_fields`]).
//!
//! Terms are ANDed. `=` and `==` mean equality, `!=` inequality. A field the object does
//! not have reads as the empty string, so `spec.nodeName=` selects unscheduled pods. In
//! values, `\,`, `\=` and `\\` escape the three special characters; other backslash
//! sequences and unescaped `,`/`=` are errors.

mod kinds;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

pub use kinds::{KindFields, kind_fields};

/// Errors parsing or checking a field selector. Nothing is built when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldSelectorError {
    /// A term has no operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Syntax {
        /// The whole selector.
        selector: String,
        /// The term that has no operator.
        term: String,
    },
    /// A backslash sequence other than `\,`, `\=`, `\\`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A `,` or `=` in a value without a backslash.
    #[error("invalid field selector: unescaped character in value: {0:?}")]
    Unescaped(char),
    /// The kind does not support selecting on this field.
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// A term's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOp {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field op value` condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldTerm {
    field: String,
    op: FieldOp,
    value: String,
}

impl FieldTerm {
    /// A term; the value is the literal (unescaped) value.
    pub fn new(field: impl Into<String>, op: FieldOp, value: impl Into<String>) -> Self {
        Self { field: field.into(), op, value: value.into() }
    }

    /// The field path.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn op(&self) -> FieldOp {
        self.op
    }

    /// The literal value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the object's fields satisfy the term (missing fields read as "").
    pub fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        let got = fields.get_field(&self.field).unwrap_or("");
        (got == self.value) == (self.op == FieldOp::Equals)
    }
}

impl fmt::Display for FieldTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.op == FieldOp::Equals { "=" } else { "!=" };
        write!(f, "{}{op}{}", self.field, escape_value(&self.value))
    }
}

/// Read access to an object's selectable fields.
pub trait Fields {
    /// The value of a field, if the object has it.
    fn get_field(&self, name: &str) -> Option<&str>;
}

impl<K: std::borrow::Borrow<str> + Ord> Fields for BTreeMap<K, String> {
    fn get_field(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Fields for HashMap<String, String, S> {
    fn get_field(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Fields for [(K, V)] {
    fn get_field(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref() == name).map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Fields for [(K, V); N] {
    fn get_field(&self, name: &str) -> Option<&str> {
        self.as_slice().get_field(name)
    }
}

/// A field selector: terms that must all hold. The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector from terms (kept sorted, so equal selectors compare equal).
    pub fn from_terms(mut terms: Vec<FieldTerm>) -> Self {
        terms.sort();
        Self { terms }
    }

    /// The terms, sorted.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether the object's fields satisfy every term.
    pub fn matches<F: Fields + ?Sized>(&self, fields: &F) -> bool {
        self.terms.iter().all(|t| t.matches(fields))
    }

    /// If the selector requires `field` to equal one value, that value (e.g. a single-object
    /// watch on `metadata.name`, or a kubelet's `spec.nodeName`).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| t.field == field && t.op == FieldOp::Equals).map(|t| t.value.as_str())
    }

    /// Rewrites every term (upstream `Transform`), e.g. to map legacy field names.
    pub fn try_map(
        self,
        mut f: impl FnMut(FieldTerm) -> Result<FieldTerm, FieldSelectorError>,
    ) -> Result<Self, FieldSelectorError> {
        let terms = self.terms.into_iter().map(&mut f).collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_terms(terms))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Escapes `\`, `,` and `=` in a value.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`]; rejects unknown sequences and unescaped `,`/`=`.
pub fn unescape_value(value: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(other) => return Err(FieldSelectorError::InvalidEscape(format!("\\{other}"))),
                None => return Err(FieldSelectorError::InvalidEscape("\\".into())),
            },
            ',' | '=' => return Err(FieldSelectorError::Unescaped(c)),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Splits on commas that are not escaped.
fn split_terms(s: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator in the term, checking `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorError;

    /// Parses the string syntax (upstream `fields.ParseSelector`); empty terms are skipped.
    fn from_str(s: &str) -> Result<Self, FieldSelectorError> {
        let mut terms = Vec::new();
        for part in split_terms(s).into_iter().filter(|p| !p.is_empty()) {
            let (field, op, raw) = split_term(part)
                .ok_or_else(|| FieldSelectorError::Syntax { selector: s.to_owned(), term: part.to_owned() })?;
            terms.push(FieldTerm::new(field, op, unescape_value(raw)?));
        }
        Ok(Self::from_terms(terms))
    }
}

#[cfg(test)]
mod tests;
