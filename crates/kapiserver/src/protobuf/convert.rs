//! Walks a decoded message and writes the JSON that upstream's Go types would write for it.

use std::fmt;

use base64::Engine as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value as ProtoValue};
use serde_json::{Map, Value};

use super::schema::{FieldPlan, GoJson, Schema};
use super::{MAX_DEPTH, ProtoError, wellknown};

/// Where in the object a value sits, for error messages (`spec.template.spec.containers[0]`).
#[derive(Debug, Default)]
pub(crate) struct Path {
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Field(&'static str),
    Index(usize),
    Key(String),
}

impl Path {
    /// Descends into a field.
    pub(crate) fn push_field(&mut self, name: &'static str) {
        self.segments.push(Segment::Field(name));
    }

    fn push_index(&mut self, index: usize) {
        self.segments.push(Segment::Index(index));
    }

    fn push_key(&mut self, key: &str) {
        self.segments.push(Segment::Key(key.to_owned()));
    }

    fn pop(&mut self) {
        self.segments.pop();
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("(object)");
        }
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => write!(f, "[{key}]")?,
            }
        }
        Ok(())
    }
}

/// Fails on the first field number that `message`'s descriptor does not define.
pub(crate) fn check_known_fields(message: &DynamicMessage, path: &Path) -> Result<(), ProtoError> {
    match message.unknown_fields().next() {
        Some(field) => Err(ProtoError::UnknownField {
            message: message.descriptor().full_name().to_owned(),
            number: field.number(),
            path: path.to_string(),
        }),
        None => Ok(()),
    }
}

/// Writes messages of the embedded schema as upstream JSON.
pub(crate) struct Converter {
    schema: &'static Schema,
}

impl Converter {
    /// A converter over `schema`.
    pub(crate) fn new(schema: &'static Schema) -> Self {
        Self { schema }
    }

    /// The JSON of `message`, found at `path` and `depth` messages deep.
    pub(crate) fn message(&self, message: &DynamicMessage, path: &mut Path, depth: usize) -> Result<Value, ProtoError> {
        enter(message, path, depth)?;
        if let Some(json) = wellknown::to_json(message, path)? {
            return Ok(json);
        }
        let mut object = Map::new();
        self.fields_into(message, &mut object, path, depth)?;
        Ok(Value::Object(object))
    }

    /// Writes the fields of `message` into `object` (its own, or its parent's when inlined).
    fn fields_into(
        &self,
        message: &DynamicMessage,
        object: &mut Map<String, Value>,
        path: &mut Path,
        depth: usize,
    ) -> Result<(), ProtoError> {
        for plan in self.schema.plan(&message.descriptor())? {
            // The proto names are upstream's JSON names, save where `json_name` says otherwise
            // (authentication/v1 BoundObjectReference `uID` is `uid`).
            let name = plan.field.json_name();
            // Inline fields have no key of their own in JSON, so none in the path either.
            let inline = plan.rule == GoJson::Inline;
            if !inline {
                path.push_field(name);
            }
            let json = self.field(message, plan, object, path, depth)?;
            if !inline {
                path.pop();
            }
            if let Some(json) = json {
                object.insert(name.to_owned(), json);
            }
        }
        Ok(())
    }

    /// The JSON of one field, or `None` when upstream leaves it out. Inline fields are written
    /// into `object` directly.
    fn field(
        &self,
        message: &DynamicMessage,
        plan: &FieldPlan,
        object: &mut Map<String, Value>,
        path: &mut Path,
        depth: usize,
    ) -> Result<Option<Value>, ProtoError> {
        let field = &plan.field;
        let value = message.get_field(field);
        if field.is_map() {
            let entries = value.as_map().map(|map| {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|(a, _), (b, _)| key_str(a).cmp(key_str(b)));
                entries
            });
            let entries = entries.unwrap_or_default();
            if entries.is_empty() {
                return Ok((plan.rule == GoJson::Always).then_some(Value::Null));
            }
            let mut json = Map::new();
            for (key, value) in entries {
                path.push_key(key_str(key));
                let element = self.element(value, path, depth)?;
                path.pop();
                json.insert(key_str(key).to_owned(), element);
            }
            return Ok(Some(Value::Object(json)));
        }
        if field.is_list() {
            let items = value.as_list().unwrap_or_default();
            if items.is_empty() {
                return Ok((plan.rule == GoJson::Always).then_some(Value::Null));
            }
            let mut json = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                path.push_index(index);
                json.push(self.element(item, path, depth)?);
                path.pop();
            }
            return Ok(Some(Value::Array(json)));
        }
        let present = message.has_field(field);
        if let Some(inner) = value.as_message() {
            return match plan.rule {
                GoJson::Inline => {
                    enter(inner, path, depth + 1)?;
                    self.fields_into(inner, object, path, depth + 1)?;
                    Ok(None)
                }
                GoJson::Value => self.message(inner, path, depth + 1).map(Some),
                _ if present => self.message(inner, path, depth + 1).map(Some),
                GoJson::Nullable => Ok(Some(Value::Null)),
                _ => Ok(None),
            };
        }
        let written = match plan.rule {
            GoJson::OmitEmpty => !value.is_default(&field.kind()),
            GoJson::OmitNil => present,
            GoJson::Always => true,
            GoJson::Nullable if !present => return Ok(Some(Value::Null)),
            GoJson::Nullable => true,
            GoJson::Value | GoJson::Inline => {
                return Err(ProtoError::Schema {
                    reason: format!("{} is a scalar marked as a struct", field.full_name()),
                });
            }
        };
        if written { scalar(&value, &field.kind(), path).map(Some) } else { Ok(None) }
    }

    /// The JSON of one list element or map value.
    fn element(&self, value: &ProtoValue, path: &mut Path, depth: usize) -> Result<Value, ProtoError> {
        match value {
            ProtoValue::Message(message) => self.message(message, path, depth + 1),
            other => scalar(other, &Kind::String, path),
        }
    }
}

/// Checks the nesting limit and unknown fields before a message is written.
fn enter(message: &DynamicMessage, path: &Path, depth: usize) -> Result<(), ProtoError> {
    if depth >= MAX_DEPTH {
        return Err(ProtoError::TooDeep { limit: MAX_DEPTH });
    }
    check_known_fields(message, path)
}

/// The string of a map key (the schema only has string keys).
fn key_str(key: &MapKey) -> &str {
    match key {
        MapKey::String(key) => key,
        _ => "",
    }
}

/// The JSON of a scalar: Go writes integers as numbers and `[]byte` as standard base64.
fn scalar(value: &ProtoValue, kind: &Kind, path: &Path) -> Result<Value, ProtoError> {
    Ok(match value {
        ProtoValue::String(text) => Value::String(text.clone()),
        ProtoValue::Bool(flag) => Value::Bool(*flag),
        ProtoValue::I32(number) => Value::from(*number),
        ProtoValue::I64(number) => Value::from(*number),
        ProtoValue::Bytes(bytes) => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        _ => {
            return Err(ProtoError::InvalidValue {
                path: path.to_string(),
                reason: format!("{kind:?} has no JSON form"),
            });
        }
    })
}
