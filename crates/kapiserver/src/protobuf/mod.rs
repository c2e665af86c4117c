//! Decoding of Kubernetes protobuf request bodies into upstream's JSON form.
//!
//! ```
//! // `k8s\0` + runtime.Unknown{typeMeta{apiVersion: "v1", kind: "ConfigMap"}, raw: ConfigMap{}}
//! let body = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x02\x0a\x00";
//! let object = kapiserver::protobuf::decode_body(body)?;
//! assert_eq!(
//!     object,
//!     serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"creationTimestamp": null}})
//! );
//! # Ok::<(), kapiserver::protobuf::ProtoError>(())
//! ```
//!
//! kubectl 1.32 and later send `Content-Type: application/vnd.kubernetes.protobuf` bodies from
//! its typed-client generators (`kubectl create configmap|secret|deployment|service|…`; see
//! [`supported_kinds`], which covers every `kubectl create` subcommand of 1.33). The
//! body is the magic [`PROTOBUF_MAGIC`] followed by a `runtime.Unknown` envelope whose `raw`
//! field holds the object. The server stores objects as JSON, so [`decode_body`] turns the
//! object into exactly the JSON upstream's Go types would write for it: Go pointers, `omitempty`
//! and inline structs are honoured through the `(kcluster.json.go)` annotations of the
//! embedded `.proto` files (see `proto/kcluster/json.proto`), and meta/v1 Time, MicroTime,
//! Duration, FieldsV1, IntOrString and Quantity get their custom JSON forms.
//!
//! The descriptors are compiled from `proto/` at build time by protox (no system `protoc`) and
//! loaded into a `prost_reflect::DescriptorPool`; no generated or protobuf type is part of the
//! public API. Nothing here does I/O.

mod convert;
mod schema;
#[cfg(test)]
mod tests;
mod wellknown;

use prost_reflect::{DynamicMessage, MessageDescriptor};
use serde_json::Value;

use self::convert::Path;
use self::schema::Schema;

/// The four bytes that open every Kubernetes protobuf body.
pub const PROTOBUF_MAGIC: [u8; 4] = *b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The deepest message nesting accepted, as in upstream's protobuf decoder (and prost's).
pub const MAX_DEPTH: usize = 100;

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The body does not start with [`PROTOBUF_MAGIC`].
    #[error("body is not a Kubernetes protobuf message: it does not start with the magic \"k8s\\0\"")]
    BadMagic,
    /// The body is only the magic.
    #[error("protobuf body is empty after the magic \"k8s\\0\"")]
    EmptyBody,
    /// The bytes are not a valid encoding of the message (truncated, bad wire type, bad UTF-8…).
    #[error("invalid protobuf for {message}: {reason}")]
    InvalidProtobuf {
        /// Full name of the protobuf message being decoded.
        message: String,
        /// What the decoder found wrong.
        reason: String,
    },
    /// A field number the message does not define; rejected so that nothing is dropped silently.
    #[error("unknown field number {number} in {message} at {path}")]
    UnknownField {
        /// Full name of the protobuf message holding the field.
        message: String,
        /// The unknown field number.
        number: u32,
        /// JSON path of the message in the object.
        path: String,
    },
    /// Messages nested deeper than [`MAX_DEPTH`].
    #[error("protobuf messages nested deeper than {limit}")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// The envelope's typeMeta lacks `kind` or `apiVersion`.
    #[error("protobuf envelope has no {field} in its typeMeta")]
    MissingTypeMeta {
        /// `"kind"` or `"apiVersion"`.
        field: &'static str,
    },
    /// The envelope names a content encoding (such as gzip); none is supported.
    #[error("protobuf envelope content encoding {encoding:?} is not supported")]
    ContentEncoding {
        /// The envelope's `contentEncoding`.
        encoding: String,
    },
    /// The envelope says `raw` is in another media type than protobuf.
    #[error("protobuf envelope content type {content_type:?} is not {PROTOBUF_CONTENT_TYPE}")]
    ContentType {
        /// The envelope's `contentType`.
        content_type: String,
    },
    /// No protobuf schema here for this kind; the client has to send JSON instead (kubectl does
    /// not retry in JSON after a 415, which is why every kind `kubectl create` sends is supported).
    #[error("protobuf bodies of kind {kind} in {api_version} are not supported; send JSON")]
    UnsupportedKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// A field's value has no JSON form upstream would accept (bad quantity, IntOrString type…).
    #[error("invalid value at {path}: {reason}")]
    InvalidValue {
        /// JSON path of the field in the object.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The embedded descriptors failed to load or break an invariant (a build defect).
    #[error("embedded protobuf schema is unusable: {reason}")]
    Schema {
        /// What is wrong with the schema.
        reason: String,
    },
}

impl ProtoError {
    /// The HTTP status an API server should answer with: 415 where a JSON body of the same
    /// object would be accepted, 500 for [`ProtoError::Schema`], 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnsupportedKind { .. } | Self::ContentEncoding { .. } | Self::ContentType { .. } => 415,
            Self::Schema { .. } => 500,
            _ => 400,
        }
    }
}

/// The `(apiVersion, kind)` pairs whose protobuf bodies [`decode_body`] accepts.
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    schema::KINDS.iter().map(|(api_version, kind, _)| (*api_version, *kind))
}

/// Decodes a whole protobuf request body (`k8s\0` + `runtime.Unknown`) into the object's JSON,
/// with `apiVersion` and `kind` taken from the envelope.
///
/// # Errors
///
/// [`ProtoError::UnsupportedKind`] for kinds outside [`supported_kinds`]; the other variants
/// for bodies that are not valid protobuf or hold values upstream would reject.
pub fn decode_body(bytes: &[u8]) -> Result<Value, ProtoError> {
    let envelope = bytes.strip_prefix(&PROTOBUF_MAGIC).ok_or(ProtoError::BadMagic)?;
    if envelope.is_empty() {
        return Err(ProtoError::EmptyBody);
    }
    let schema = Schema::get()?;
    let unknown = decode_message(schema.message(schema::UNKNOWN)?, envelope)?;
    let mut path = Path::default();
    convert::check_known_fields(&unknown, &path)?;
    let type_meta = unknown.get_field_by_name("typeMeta");
    let type_meta = type_meta.as_deref().and_then(prost_reflect::Value::as_message);
    if let Some(type_meta) = type_meta {
        path.push_field("typeMeta");
        convert::check_known_fields(type_meta, &path)?;
    }
    let text = |message: Option<&DynamicMessage>, name: &str| {
        message.and_then(|m| m.get_field_by_name(name)).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    };
    let encoding = text(Some(&unknown), "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtoError::ContentEncoding { encoding });
    }
    let content_type = text(Some(&unknown), "contentType");
    if !content_type.is_empty() && content_type != PROTOBUF_CONTENT_TYPE {
        return Err(ProtoError::ContentType { content_type });
    }
    let kind = text(type_meta, "kind");
    if kind.is_empty() {
        return Err(ProtoError::MissingTypeMeta { field: "kind" });
    }
    let api_version = text(type_meta, "apiVersion");
    if api_version.is_empty() {
        return Err(ProtoError::MissingTypeMeta { field: "apiVersion" });
    }
    let raw = unknown.get_field_by_name("raw");
    let raw = raw.as_deref().and_then(prost_reflect::Value::as_bytes).map(|b| b.as_ref()).unwrap_or_default();
    decode_object(&api_version, &kind, raw)
}

/// Decodes the protobuf encoding of one object (the `raw` of the envelope, without magic) of
/// the given `apiVersion` and `kind` into its JSON, `apiVersion` and `kind` included.
///
/// # Errors
///
/// As [`decode_body`], less the envelope's own errors.
pub fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, ProtoError> {
    let message_name = schema::KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
        .ok_or_else(|| ProtoError::UnsupportedKind { api_version: api_version.to_owned(), kind: kind.to_owned() })?;
    let schema = Schema::get()?;
    let object = decode_message(schema.message(message_name)?, raw)?;
    let fields = convert::Converter::new(schema).message(&object, &mut Path::default(), 0)?;
    // kind and apiVersion first, as Go writes the inline TypeMeta (kept if Map preserves order).
    let mut json = serde_json::Map::new();
    json.insert("kind".to_owned(), Value::String(kind.to_owned()));
    json.insert("apiVersion".to_owned(), Value::String(api_version.to_owned()));
    if let Value::Object(fields) = fields {
        json.extend(fields);
    }
    Ok(Value::Object(json))
}

/// Decodes `bytes` as `descriptor`, mapping prost's errors onto [`ProtoError`].
fn decode_message(descriptor: MessageDescriptor, bytes: &[u8]) -> Result<DynamicMessage, ProtoError> {
    let message = descriptor.full_name().to_owned();
    DynamicMessage::decode(descriptor, bytes).map_err(|error| {
        let reason = error.to_string();
        // prost reports its nesting limit (100, as upstream's) only through the error text.
        if reason.contains("recursion limit reached") {
            ProtoError::TooDeep { limit: MAX_DEPTH }
        } else {
            ProtoError::InvalidProtobuf { message, reason }
        }
    })
}
