//! Response building: JSON bodies, `Status` errors, content negotiation for Tables.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use kapi::StatusError;
use serde_json::Value;

/// Response body type: a full body or a stream (watches, logs).
pub type Body = BoxBody<Bytes, Infallible>;

/// A full body.
pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// `application/json` exactly: kubectl 1.27.0/1.27.1 reject a charset parameter.
pub(super) const JSON: &str = "application/json";

/// A JSON response.
pub(super) fn json_bytes(code: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(bytes));
    *r.status_mut() = code;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    r
}

/// A JSON value response.
pub(super) fn json(code: StatusCode, v: &Value) -> Response<Body> {
    match serde_json::to_vec(v) {
        Ok(b) => json_bytes(code, b),
        Err(e) => error(&StatusError::internal(e)),
    }
}

/// A `Status` error response with the error's code.
pub(super) fn error(e: &StatusError) -> Response<Body> {
    let code = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_value(e.to_status()).unwrap_or(Value::Null);
    let mut r = json(code, &body);
    if let Some(s) = e.retry_after_seconds() {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// Adds `Warning: 299 - "<text>"` headers.
pub(super) fn with_warnings(mut r: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// The object(s) as JSON.
    Object,
    /// A `meta.k8s.io/v1` Table.
    Table {
        /// `includeObject=None`: rows carry no object (`Metadata` and `Object` include it).
        include_object: bool,
    },
    /// `meta.k8s.io/v1` PartialObjectMetadata(List).
    Metadata,
}

/// Reads the Accept header: kubectl asks `application/json;as=Table;v=v1;g=meta.k8s.io, …`.
pub(super) fn negotiate(accept: Option<&str>, include_object: Option<&str>) -> Want {
    let Some(accept) = accept else { return Want::Object };
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let Some(base) = params.first() else { continue };
        if *base != "application/json" && *base != "*/*" && *base != "application/*" {
            continue;
        }
        let get = |k: &str| params.iter().find_map(|p| p.strip_prefix(k).and_then(|v| v.strip_prefix('=')));
        match (get("as"), get("g"), get("v")) {
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Want::Table { include_object: include_object != Some("None") };
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) => {
                return Want::Metadata;
            }
            (None, _, _) => return Want::Object,
            _ => continue,
        }
    }
    Want::Object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_tables() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(a), None), Want::Table { include_object: true });
        assert_eq!(negotiate(Some("application/json"), None), Want::Object);
        assert_eq!(negotiate(None, None), Want::Object);
        assert_eq!(negotiate(Some("application/json;as=Table;v=v2;g=meta.k8s.io"), None), Want::Object);
        let m = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(m), None), Want::Metadata);
    }

    #[test]
    fn errors_carry_status_and_code() {
        let r = error(&StatusError::bad_request("nope"));
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
