//! The structural form of a CRD version's `openAPIV3Schema`.
//!
//! Mirrors upstream's `schema.Structural` (structural.go, convert.go): a tree of `type`,
//! `properties`, `items` and `additionalProperties` with value validations attached to each node.
//! Nodes under `allOf`/`anyOf`/`oneOf`/`not` use the same type but only act as value validations:
//! pruning and defaulting never look at them.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::goregex;

/// Why an `openAPIV3Schema` cannot be turned into a structural schema.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A JSON-Schema keyword that CRDs do not support (`id`, `schema`, `$ref`, …).
    #[error("OpenAPIV3Schema '{0}' is not supported")]
    Unsupported(&'static str),
    /// `items` given as an array of schemas.
    #[error("OpenAPIV3Schema 'items' must be a schema, but is an array")]
    ItemsArray,
    /// `x-kubernetes-preserve-unknown-fields: false`.
    #[error("internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined")]
    PreserveUnknownFieldsFalse,
    /// A keyword whose value has the wrong JSON type.
    #[error("{path}: {keyword} must be {expected}")]
    WrongType {
        /// Where the schema node is, e.g. `properties[spec]`.
        path: String,
        /// The keyword, e.g. `maxLength`.
        keyword: String,
        /// What it must be, e.g. `an integer`.
        expected: &'static str,
    },
    /// A schema node that is not a JSON object.
    #[error("{path}: a schema must be a JSON object")]
    NotAnObject {
        /// Where the schema node is.
        path: String,
    },
}

/// A compiled `pattern`, keeping the compile error for upstream's "pattern is invalid" message.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) compiled: Result<Regex, String>,
}

/// `additionalProperties`: a boolean or a schema.
#[derive(Clone, Debug)]
pub(crate) enum Additional {
    /// `true` or `false`.
    Bool(bool),
    /// A schema (which also allows additional properties).
    Schema(Box<Structural>),
}

impl Additional {
    /// The schema, if one was given.
    pub(crate) fn schema(&self) -> Option<&Structural> {
        match self {
            Additional::Schema(s) => Some(s),
            Additional::Bool(_) => None,
        }
    }

    /// Whether additional properties are allowed.
    pub(crate) fn allows(&self) -> bool {
        !matches!(self, Additional::Bool(false))
    }
}

/// Value validations of a node (upstream's `ValueValidation`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ValueValidation {
    pub(crate) format: String,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) unique_items: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) enumeration: Vec<Value>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) required: Vec<String>,
    pub(crate) all_of: Vec<Structural>,
    pub(crate) one_of: Vec<Structural>,
    pub(crate) any_of: Vec<Structural>,
    pub(crate) not: Option<Box<Structural>>,
}

impl ValueValidation {
    /// Whether nothing is set (upstream compares against the zero value).
    pub(crate) fn is_empty(&self) -> bool {
        self.format.is_empty()
            && self.maximum.is_none()
            && !self.exclusive_maximum
            && self.minimum.is_none()
            && !self.exclusive_minimum
            && self.max_length.is_none()
            && self.min_length.is_none()
            && self.pattern.is_none()
            && self.max_items.is_none()
            && self.min_items.is_none()
            && !self.unique_items
            && self.multiple_of.is_none()
            && self.enumeration.is_empty()
            && self.max_properties.is_none()
            && self.min_properties.is_none()
            && self.required.is_empty()
            && self.all_of.is_empty()
            && self.one_of.is_empty()
            && self.any_of.is_empty()
            && self.not.is_none()
    }
}

/// A structural schema node.
#[derive(Clone, Debug, Default)]
pub struct Structural {
    pub(crate) type_: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) default: Option<Value>,
    pub(crate) nullable: bool,
    pub(crate) example: Option<Value>,
    pub(crate) external_docs: Option<Value>,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded: bool,
    pub(crate) int_or_string: bool,
    pub(crate) list_type: Option<String>,
    pub(crate) list_map_keys: Vec<String>,
    pub(crate) map_type: Option<String>,
    pub(crate) x_validations: Vec<Value>,
    pub(crate) items: Option<Box<Structural>>,
    pub(crate) properties: BTreeMap<String, Structural>,
    pub(crate) additional: Option<Additional>,
    pub(crate) vv: ValueValidation,
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, keyword: &str, expected: &'static str) -> SchemaError {
        SchemaError::WrongType { path: self.path.to_owned(), keyword: keyword.to_owned(), expected }
    }

    fn string(&self, key: &str) -> Result<String, SchemaError> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn flag(&self, key: &str) -> Result<bool, SchemaError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.wrong(key, "a boolean")),
        }
    }

    fn number(&self, key: &str) -> Result<Option<f64>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.wrong(key, "a number")),
        }
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| self.wrong(key, "an integer")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, SchemaError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| self.wrong(key, "an array of strings")))
                .collect(),
            Some(_) => Err(self.wrong(key, "an array of strings")),
        }
    }

    fn non_empty(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Object(m)) => !m.is_empty(),
            Some(_) => true,
        }
    }
}

fn child_path(path: &str, seg: &str) -> String {
    if path.is_empty() { seg.to_owned() } else { format!("{path}.{seg}") }
}

impl Structural {
    /// Parses an `openAPIV3Schema` (upstream's `NewStructural`).
    ///
    /// This does not check that the schema is structural; use
    /// [`check_structural`](super::check_structural) for that when a CRD is created or updated.
    pub fn from_json(schema: &Value) -> Result<Structural, SchemaError> {
        parse(schema, "")
    }

    /// The `type` keyword (empty when unset).
    pub fn schema_type(&self) -> &str {
        &self.type_
    }

    /// The schema of a property, if declared.
    pub fn property(&self, name: &str) -> Option<&Structural> {
        self.properties.get(name)
    }

    /// The `items` schema, if declared.
    pub fn items(&self) -> Option<&Structural> {
        self.items.as_deref()
    }

    /// The `default` value, if declared (a `null` default counts as none, like upstream).
    pub fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub fn preserves_unknown_fields(&self) -> bool {
        self.preserve_unknown
    }

    /// `x-kubernetes-embedded-resource: true`.
    pub fn is_embedded_resource(&self) -> bool {
        self.embedded
    }

    /// Prunes every default value with the schema it sits in (upstream's `PruneDefaults`, which
    /// the server applies once when it starts serving a CRD version).
    pub fn prune_defaults(&mut self) {
        prune_defaults_at(self, true);
    }

    /// The format after upstream's `StripUnsupportedFormatsPostProcessor`: unknown formats and
    /// formats that do not fit the type are dropped.
    pub(crate) fn effective_format(&self) -> &str {
        let format = self.vv.format.as_str();
        if format.is_empty() {
            return format;
        }
        let ty = if self.int_or_string { "" } else { self.type_.as_str() };
        let keep = match ty {
            "" | "string" => super::formats::is_supported(format),
            "integer" => format == "int32" || format == "int64",
            "number" => format == "float" || format == "double",
            _ => false,
        };
        if keep { format } else { "" }
    }

    /// The type list the validator checks: `[type]`, or `[integer, string]` for int-or-string.
    pub(crate) fn type_list(&self) -> Vec<&str> {
        if self.int_or_string {
            vec!["integer", "string"]
        } else if self.type_.is_empty() {
            Vec::new()
        } else {
            vec![self.type_.as_str()]
        }
    }
}

fn prune_defaults_at(s: &mut Structural, root: bool) {
    let resource_root = root || s.embedded;
    if let Some(mut d) = s.default.take() {
        super::prune::prune_value(&mut d, s, resource_root);
        s.default = Some(d);
    }
    if let Some(Additional::Schema(a)) = s.additional.as_mut() {
        prune_defaults_at(a, false);
    }
    if let Some(items) = s.items.as_mut() {
        prune_defaults_at(items, false);
    }
    for p in s.properties.values_mut() {
        prune_defaults_at(p, false);
    }
}

fn parse_list(r: &Reader<'_>, key: &str) -> Result<Vec<Structural>, SchemaError> {
    match r.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().enumerate().map(|(i, v)| parse(v, &child_path(r.path, &format!("{key}[{i}]")))).collect()
        }
        Some(_) => Err(r.wrong(key, "an array of schemas")),
    }
}

fn parse(schema: &Value, path: &str) -> Result<Structural, SchemaError> {
    let Value::Object(map) = schema else {
        return Err(SchemaError::NotAnObject { path: path.to_owned() });
    };
    let r = Reader { map, path };
    for (key, name) in [
        ("id", "id"),
        ("$schema", "schema"),
        ("$ref", "$ref"),
        ("patternProperties", "patternProperties"),
        ("dependencies", "dependencies"),
        ("additionalItems", "additionalItems"),
        ("definitions", "definitions"),
    ] {
        if r.non_empty(key) {
            return Err(SchemaError::Unsupported(name));
        }
    }
    let pattern = r.opt_string("pattern")?.filter(|p| !p.is_empty()).map(|source| {
        let compiled = goregex::compile(&source);
        Pattern { source, compiled }
    });
    let enumeration = match r.get("enum") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(r.wrong("enum", "an array")),
    };
    let not = match r.get("not") {
        None => None,
        Some(v) => Some(Box::new(parse(v, &child_path(path, "not"))?)),
    };
    let vv = ValueValidation {
        format: r.string("format")?,
        maximum: r.number("maximum")?,
        exclusive_maximum: r.flag("exclusiveMaximum")?,
        minimum: r.number("minimum")?,
        exclusive_minimum: r.flag("exclusiveMinimum")?,
        max_length: r.integer("maxLength")?,
        min_length: r.integer("minLength")?,
        pattern,
        max_items: r.integer("maxItems")?,
        min_items: r.integer("minItems")?,
        unique_items: r.flag("uniqueItems")?,
        multiple_of: r.number("multipleOf")?,
        enumeration,
        max_properties: r.integer("maxProperties")?,
        min_properties: r.integer("minProperties")?,
        required: r.strings("required")?,
        all_of: parse_list(&r, "allOf")?,
        one_of: parse_list(&r, "oneOf")?,
        any_of: parse_list(&r, "anyOf")?,
        not,
    };
    let preserve_unknown = match r.get("x-kubernetes-preserve-unknown-fields") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(Value::Bool(false)) => return Err(SchemaError::PreserveUnknownFieldsFalse),
        Some(_) => return Err(r.wrong("x-kubernetes-preserve-unknown-fields", "a boolean")),
    };
    let x_validations = match r.get("x-kubernetes-validations") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(r.wrong("x-kubernetes-validations", "an array")),
    };
    let items = match r.get("items") {
        None => None,
        Some(Value::Array(_)) => return Err(SchemaError::ItemsArray),
        Some(v) => Some(Box::new(parse(v, &child_path(path, "items"))?)),
    };
    let mut properties = BTreeMap::new();
    match r.get("properties") {
        None => {}
        Some(Value::Object(props)) => {
            for (k, v) in props {
                properties.insert(k.clone(), parse(v, &child_path(path, &format!("properties[{k}]")))?);
            }
        }
        Some(_) => return Err(r.wrong("properties", "an object")),
    }
    let additional = match r.get("additionalProperties") {
        None => None,
        Some(Value::Bool(b)) => Some(Additional::Bool(*b)),
        Some(v) => Some(Additional::Schema(Box::new(parse(v, &child_path(path, "additionalProperties"))?))),
    };
    Ok(Structural {
        type_: r.string("type")?,
        title: r.string("title")?,
        description: r.string("description")?,
        default: r.get("default").cloned(),
        nullable: r.flag("nullable")?,
        example: r.get("example").cloned(),
        external_docs: r.get("externalDocs").cloned(),
        preserve_unknown,
        embedded: r.flag("x-kubernetes-embedded-resource")?,
        int_or_string: r.flag("x-kubernetes-int-or-string")?,
        list_type: r.opt_string("x-kubernetes-list-type")?,
        list_map_keys: r.strings("x-kubernetes-list-map-keys")?,
        map_type: r.opt_string("x-kubernetes-map-type")?,
        x_validations,
        items,
        properties,
        additional,
        vv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_structural_parts() {
        let s = Structural::from_json(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "maximum": 10, "default": 3},
                        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
                    }
                }
            }
        }))
        .unwrap();
        let spec = s.property("spec").unwrap();
        assert_eq!(spec.vv.required, ["size"]);
        let size = spec.property("size").unwrap();
        assert_eq!(size.schema_type(), "integer");
        assert_eq!(size.vv.maximum, Some(10.0));
        assert_eq!(size.default_value(), Some(&json!(3)));
        assert_eq!(spec.property("tags").unwrap().items().unwrap().schema_type(), "string");
        assert_eq!(spec.property("tags").unwrap().list_type.as_deref(), Some("set"));
        assert!(spec.property("labels").unwrap().additional.as_ref().unwrap().schema().is_some());
        let port = spec.property("port").unwrap();
        assert_eq!(port.type_list(), ["integer", "string"]);
        assert_eq!(port.vv.any_of.len(), 2);
    }

    #[test]
    fn rejects_what_new_structural_rejects() {
        let err = |v: Value| Structural::from_json(&v).unwrap_err().to_string();
        assert_eq!(err(json!({"$ref": "#/x"})), "OpenAPIV3Schema '$ref' is not supported");
        assert_eq!(err(json!({"id": "x"})), "OpenAPIV3Schema 'id' is not supported");
        assert_eq!(err(json!({"items": [{}]})), "OpenAPIV3Schema 'items' must be a schema, but is an array");
        assert_eq!(
            err(json!({"x-kubernetes-preserve-unknown-fields": false})),
            "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
        );
        assert_eq!(
            err(json!({"properties": {"a": {"maxLength": "x"}}})),
            "properties[a]: maxLength must be an integer"
        );
        assert_eq!(err(json!({"properties": {"a": 1}})), "properties[a]: a schema must be a JSON object");
    }

    #[test]
    fn null_defaults_count_as_unset() {
        let s = Structural::from_json(&json!({"type": "string", "default": null})).unwrap();
        assert!(s.default_value().is_none());
    }

    #[test]
    fn formats_are_stripped_like_upstream() {
        let f = |v: Value| Structural::from_json(&v).unwrap().effective_format().to_owned();
        assert_eq!(f(json!({"type": "string", "format": "date-time"})), "date-time");
        assert_eq!(f(json!({"type": "string", "format": "int32"})), "");
        assert_eq!(f(json!({"type": "integer", "format": "int32"})), "int32");
        assert_eq!(f(json!({"type": "integer", "format": "uuid"})), "");
        assert_eq!(f(json!({"type": "number", "format": "double"})), "double");
        assert_eq!(f(json!({"type": "boolean", "format": "uuid"})), "");
        assert_eq!(f(json!({"format": "uuid"})), "uuid");
        assert_eq!(f(json!({"x-kubernetes-int-or-string": true, "format": "uuid"})), "uuid");
    }

    #[test]
    fn prune_defaults_drops_unknown_fields() {
        let mut s = Structural::from_json(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "default": {"a": 1, "b": 2}, "properties": {"a": {"type": "integer"}}}}
        }))
        .unwrap();
        s.prune_defaults();
        assert_eq!(s.property("spec").unwrap().default_value(), Some(&json!({"a": 1})));
    }
}
