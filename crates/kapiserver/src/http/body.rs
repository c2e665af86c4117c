//! Request bodies: size limits and decoding (JSON, YAML, and the protobuf bodies kubectl's
//! typed generators send).

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use kapi::{Reason, StatusError};
use serde_json::Value;

/// Reads a body of at most `limit` bytes.
pub(super) async fn read<B>(body: B, limit: usize) -> Result<Bytes, StatusError>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(StatusError::new(
            Reason::RequestEntityTooLarge,
            format!("the request body is larger than the limit of {limit} bytes"),
        )),
        Err(e) => Err(StatusError::bad_request(format!("reading the request body: {e}"))),
    }
}

/// Media type without parameters, lowercased.
pub(super) fn media_type(content_type: Option<&str>) -> String {
    content_type.unwrap_or("application/json").split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Whether a body starts with the Kubernetes protobuf envelope magic.
fn is_protobuf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"k8s\0")
}

/// Decodes an object body by its content type.
pub(super) fn decode(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, StatusError> {
    let media = media_type(content_type);
    let v: Value = match media.as_str() {
        "application/json" | "" | "*/*" => parse_json(bytes)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(bytes)?,
        "application/vnd.kubernetes.protobuf" => {
            return crate::protobuf::decode_body(bytes).map_err(|e| match e.http_status() {
                415 => StatusError::new(Reason::UnsupportedMediaType, e.to_string()),
                500 => StatusError::internal(e),
                _ => StatusError::bad_request(format!("error decoding protobuf body: {e}")),
            });
        }
        other if is_protobuf(bytes) => return Err(unsupported(other)),
        other => return Err(unsupported(other)),
    };
    if !v.is_object() {
        return Err(StatusError::bad_request(
            "Object 'Kind' is missing in the request body: the body must be a JSON object",
        ));
    }
    Ok(v)
}

fn unsupported(media: &str) -> StatusError {
    StatusError::new(
        Reason::UnsupportedMediaType,
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {media})"
        ),
    )
}

/// Parses JSON with serde's recursion limit (deep documents are rejected, not a stack
/// overflow).
pub(super) fn parse_json(bytes: &[u8]) -> Result<Value, StatusError> {
    serde_json::from_slice(bytes).map_err(|e| StatusError::bad_request(format!("error decoding request body: {e}")))
}

/// Parses YAML into JSON values (anchors expand; documents over the depth limit fail).
pub(super) fn parse_yaml(bytes: &[u8]) -> Result<Value, StatusError> {
    let v: serde_yaml::Value =
        serde_yaml::from_slice(bytes).map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?;
    if depth(&v, 0) > 100 {
        return Err(StatusError::bad_request("error decoding YAML: document nested too deeply"));
    }
    serde_json::to_value(v).map_err(|e| StatusError::bad_request(format!("error converting YAML to JSON: {e}")))
}

fn depth(v: &serde_yaml::Value, d: usize) -> usize {
    if d > 100 {
        return d;
    }
    match v {
        serde_yaml::Value::Sequence(s) => s.iter().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        serde_yaml::Value::Mapping(m) => m.values().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        serde_yaml::Value::Tagged(t) => depth(&t.value, d + 1),
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_and_yaml_and_refuses_the_rest() {
        assert!(decode(Some("application/json"), br#"{"a":1}"#).is_ok());
        assert!(decode(Some("application/yaml"), b"a: 1\n").is_ok());
        assert_eq!(decode(Some("application/json"), b"[1]").unwrap_err().code(), 400);
        assert_eq!(decode(Some("application/json"), b"{").unwrap_err().code(), 400);
        assert_eq!(decode(Some("application/vnd.kubernetes.protobuf"), b"k8s\0").unwrap_err().code(), 400);
        assert_eq!(decode(Some("text/plain"), b"x").unwrap_err().code(), 415);
    }

    #[test]
    fn deep_documents_are_rejected_without_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(decode(Some("application/json"), deep.as_bytes()).unwrap_err().code(), 400);
        let yaml = "- ".repeat(2000) + "x";
        assert!(decode(Some("application/yaml"), yaml.as_bytes()).is_err());
    }
}
