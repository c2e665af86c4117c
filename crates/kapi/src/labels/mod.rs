//! Label selectors with upstream semantics: the string syntax (`a=b`, `a!=b`,
//! `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, `a<1`) and `metav1.LabelSelector`
//! (`matchLabels` + `matchExpressions`).
//!
//! Semantics follow `k8s.io/apimachinery/pkg/labels`: requirements are ANDed; `!=` and
//! `notin` also match objects that lack the key; `>`/`<` compare integers and never match a
//! missing or non-integer label; the empty selector matches everything, while the selector
//! made from an absent (`nil`) `LabelSelector` matches nothing. Requirements are kept sorted
//! by key and values sorted and de-duplicated, so [`Selector`]'s `Display` is canonical and
//! `parse(format(s)) == s`.

mod parse;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::validation::{self, ValidationError};

/// Errors building or parsing a label selector. Nothing is built when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The string is not in selector syntax.
    #[error("{0}")]
    Syntax(String),
    /// A key is not a valid qualified name.
    #[error("invalid label key {key:?}: {source}")]
    Key {
        /// The key.
        key: String,
        /// Why it is invalid.
        source: ValidationError,
    },
    /// A value is not a valid label value.
    #[error("invalid label value {value:?} for key {key:?}: {source}")]
    Value {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Why it is invalid.
        source: ValidationError,
    },
    /// The operator and the number or form of values do not fit.
    #[error("invalid values for key {key:?}: {message}")]
    Values {
        /// The key.
        key: String,
        /// The upstream message.
        message: &'static str,
    },
    /// A `matchExpressions` operator other than In, NotIn, Exists, DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    /// The selector cannot be expressed as a `LabelSelector` (`>` and `<` have no equivalent).
    #[error("{0} cannot be expressed as a LabelSelector")]
    NotRepresentable(String),
}

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value` (same meaning as `=`, kept for faithful formatting)
    DoubleEquals,
    /// `key!=value`; matches when the key is absent.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`; matches when the key is absent.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>n` (integers)
    GreaterThan,
    /// `key<n` (integers)
    LessThan,
}

/// Read access to a set of labels.
pub trait Labels {
    /// The value of `key`, if present.
    fn get_label(&self, key: &str) -> Option<&str>;
}

impl<S: std::hash::BuildHasher> Labels for HashMap<String, String, S> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for BTreeMap<String, String> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for BTreeMap<&str, &str> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).copied()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Labels for [(K, V)] {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.as_ref() == key).map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Labels for [(K, V); N] {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.as_slice().get_label(key)
    }
}

impl<L: Labels + ?Sized> Labels for &L {
    fn get_label(&self, key: &str) -> Option<&str> {
        (**self).get_label(key)
    }
}

impl<L: Labels> Labels for Option<L> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.as_ref().and_then(|l| l.get_label(key))
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), SelectorError> {
    validation::qualified_name(key).map_err(|source| SelectorError::Key { key: key.to_owned(), source })
}

/// One condition on one label key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    op: Operator,
    values: Vec<String>,
    /// The integer bound of `>` / `<`, parsed once.
    bound: Option<i64>,
}

impl Requirement {
    /// Builds a validated requirement (upstream `NewRequirement`). Values are sorted and
    /// de-duplicated.
    pub fn new<V: Into<String>>(
        key: impl Into<String>,
        op: Operator,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self, SelectorError> {
        let key = key.into();
        check_key(&key)?;
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        let bad = |message| Err(SelectorError::Values { key: key.clone(), message });
        let mut bound = None;
        match op {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return bad("for 'in', 'notin' operators, values set can't be empty");
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                return bad("exact-match compatibility requires one single value");
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return bad("values set must be empty for exists and does not exist");
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return bad("for 'Gt', 'Lt' operators, exactly one value is required");
                }
                match values[0].parse::<i64>() {
                    Ok(n) => bound = Some(n),
                    Err(_) => return bad("for 'Gt', 'Lt' operators, the value must be an integer"),
                }
            }
            _ => {}
        }
        for value in &values {
            validation::label_value(value).map_err(|source| SelectorError::Value {
                key: key.clone(),
                value: value.clone(),
                source,
            })?;
        }
        values.sort();
        values.dedup();
        Ok(Self { key, op, values, bound })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.op
    }

    /// The values, sorted and de-duplicated.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    fn has(&self, value: &str) -> bool {
        self.values.binary_search_by(|v| v.as_str().cmp(value)).is_ok()
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let got = labels.get_label(&self.key);
        match self.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In => got.is_some_and(|v| self.has(v)),
            Operator::NotEquals | Operator::NotIn => got.is_none_or(|v| !self.has(v)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(got), Some(bound)) = (got.and_then(|v| v.parse::<i64>().ok()), self.bound) else {
                    return false;
                };
                if self.op == Operator::GreaterThan { got > bound } else { got < bound }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Exists => return f.write_str(&self.key),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        let values = self.values.join(",");
        if matches!(self.op, Operator::In | Operator::NotIn) {
            write!(f, "{}{op}({values})", self.key)
        } else {
            write!(f, "{}{op}{values}", self.key)
        }
    }
}

/// A label selector: requirements that must all hold, or the selector that matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl Selector {
    /// The selector that matches every object (the empty string).
    pub fn everything() -> Self {
        Self::default()
    }

    /// The selector that matches no object (what an absent `LabelSelector` means).
    pub fn nothing() -> Self {
        Self { requirements: Vec::new(), nothing: true }
    }

    /// A selector from requirements; they are sorted by key (stably).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements, nothing: false }
    }

    /// An equality selector from a label set (`a=b,c=d`), validated.
    pub fn from_set<K: Into<String>, V: Into<String>>(
        set: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, SelectorError> {
        let reqs = set
            .into_iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, [v.into()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_requirements(reqs))
    }

    /// Converts a `metav1.LabelSelector` (upstream `LabelSelectorAsSelector`): `None` matches
    /// nothing, an empty selector matches everything.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Self, SelectorError> {
        let Some(selector) = selector else { return Ok(Self::nothing()) };
        let mut reqs = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            reqs.push(Requirement::new(k.clone(), Operator::Equals, [v.clone()])?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::Operator(other.to_owned())),
            };
            reqs.push(Requirement::new(expr.key.clone(), op, expr.values.iter().flatten().cloned())?);
        }
        Ok(Self::from_requirements(reqs))
    }

    /// Converts into a `metav1.LabelSelector` (upstream `ParseToLabelSelector`): `=`/`==`
    /// become `matchLabels`, `!=` becomes `NotIn` with one value. `>`/`<` and the
    /// match-nothing selector have no equivalent.
    pub fn to_label_selector(&self) -> Result<LabelSelector, SelectorError> {
        if self.nothing {
            return Err(SelectorError::NotRepresentable("the match-nothing selector".into()));
        }
        let mut labels = BTreeMap::new();
        let mut exprs = Vec::new();
        for r in &self.requirements {
            let op = match r.op {
                // matchLabels holds one value per key: a second equality on the same key
                // (`a=x,a=y`) becomes `a In (y)` so the conjunction keeps its meaning.
                Operator::Equals | Operator::DoubleEquals if !labels.contains_key(&r.key) => {
                    labels.insert(r.key.clone(), r.values[0].clone());
                    continue;
                }
                Operator::Equals | Operator::DoubleEquals => "In",
                Operator::In => "In",
                Operator::NotIn | Operator::NotEquals => "NotIn",
                Operator::Exists => "Exists",
                Operator::DoesNotExist => "DoesNotExist",
                Operator::GreaterThan | Operator::LessThan => {
                    return Err(SelectorError::NotRepresentable(r.to_string()));
                }
            };
            exprs.push(LabelSelectorRequirement {
                key: r.key.clone(),
                operator: op.to_owned(),
                values: (!r.values.is_empty()).then(|| r.values.clone()),
            });
        }
        Ok(LabelSelector {
            match_labels: (!labels.is_empty()).then_some(labels),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        })
    }

    /// Adds a requirement, keeping the order by key.
    #[must_use]
    pub fn and(mut self, requirement: Requirement) -> Self {
        let at = self.requirements.partition_point(|r| r.key <= requirement.key);
        self.requirements.insert(at, requirement);
        self
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the selector that matches nothing.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// If the selector requires `key` to equal exactly one value, that value (lets stores
    /// use an index).
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        self.requirements.iter().find_map(|r| match r.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In if r.key == key && r.values.len() == 1 => {
                Some(r.values[0].as_str())
            }
            _ => None,
        })
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for Selector {
    /// The canonical string form; both "everything" and "nothing" print as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    /// Parses the string syntax (upstream `labels.Parse`); the empty string matches everything.
    fn from_str(s: &str) -> Result<Self, SelectorError> {
        Ok(Self::from_requirements(parse::parse(s)?))
    }
}

#[cfg(test)]
mod tests;
