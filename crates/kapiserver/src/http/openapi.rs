//! Serving the OpenAPI documents: built on first use from the registry (and the stored
//! CRDs' schemas), rebuilt when the set of served resources changes.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use kapi::StatusError;
use serde_json::Value;

use super::respond::{self, Body};
use crate::filter::Filter;
use crate::openapi::{CrdSchema, Document, Format, OpenApi, negotiate_v2, negotiate_v3};
use crate::rest::Api;

/// The current documents, keyed by the registry snapshot they were built from.
#[derive(Debug, Default)]
pub struct OpenApiDocs {
    built: Mutex<Option<(usize, Arc<OpenApi>)>>,
}

fn crd_schemas(api: &Api) -> Vec<CrdSchema> {
    let Ok(res) = api.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions") else { return Vec::new() };
    let mut out = Vec::new();
    for crd in api.cache(&res).list(&Filter::namespace(None), None, 0).0 {
        let spec = crd.value.get("spec");
        let group = spec.and_then(|s| s.get("group")).and_then(Value::as_str).unwrap_or("");
        let kind = spec.and_then(|s| s.pointer("/names/kind")).and_then(Value::as_str).unwrap_or("");
        for v in spec.and_then(|s| s.get("versions")).and_then(Value::as_array).into_iter().flatten() {
            let (Some(version), Some(schema)) =
                (v.get("name").and_then(Value::as_str), v.pointer("/schema/openAPIV3Schema"))
            else {
                continue;
            };
            out.push(CrdSchema {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                schema: schema.clone(),
            });
        }
    }
    out
}

impl OpenApiDocs {
    fn current(&self, api: &Api) -> Result<Arc<OpenApi>, StatusError> {
        let snapshot = api.registry().snapshot();
        let key = Arc::as_ptr(&snapshot) as usize;
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, docs)) = built.as_ref() {
            if *k == key {
                return Ok(Arc::clone(docs));
            }
        }
        let docs = Arc::new(OpenApi::new(&snapshot, &crd_schemas(api)).map_err(StatusError::internal)?);
        *built = Some((key, Arc::clone(&docs)));
        Ok(docs)
    }

    /// Builds the documents ahead of the first request (it takes a moment in debug builds).
    pub fn warm(&self, api: &Api) {
        if let Err(e) = self.current(api) {
            tracing::warn!(error = %e, "building the OpenAPI documents failed");
        }
    }

    /// `GET /openapi/v2`.
    pub fn serve_v2(&self, api: &Api, accept: Option<&str>, headers: &HeaderMap) -> Response<Body> {
        let docs = match self.current(api) {
            Ok(d) => d,
            Err(e) => return respond::error(&e),
        };
        let Some(format) = negotiate_v2(accept) else { return not_acceptable() };
        let etag = format!("\"{}\"", docs.v2_etag());
        if matches_etag(headers, &etag) {
            return not_modified(&etag);
        }
        let body = match format {
            Format::Protobuf => docs.v2_protobuf(),
            Format::Json => docs.v2_json(),
        };
        let mut r = respond::json_bytes(StatusCode::OK, body);
        set(&mut r, header::CONTENT_TYPE, format.content_type());
        set(&mut r, header::ETAG, &etag);
        set(&mut r, header::VARY, "Accept");
        r
    }

    /// `GET /openapi/v3`.
    pub fn serve_v3_root(&self, api: &Api) -> Response<Body> {
        match self.current(api) {
            Ok(docs) => document(docs.v3_root(), None),
            Err(e) => respond::error(&e),
        }
    }

    /// `GET /openapi/v3/<group-version>?hash=…`.
    pub fn serve_v3(
        &self,
        api: &Api,
        key: &str,
        query: Option<&str>,
        accept: Option<&str>,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let docs = match self.current(api) {
            Ok(d) => d,
            Err(e) => return respond::error(&e),
        };
        let Some(doc) = docs.v3_group_version(key) else { return super::not_found_response() };
        if negotiate_v3(accept).is_none() {
            return not_acceptable();
        }
        let hash = query
            .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "hash").map(|(_, v)| v.into_owned()));
        if let Some(h) = &hash {
            if h != doc.etag() {
                let mut r = Response::new(respond::full(""));
                *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
                set(&mut r, header::LOCATION, doc.server_relative_url());
                return r;
            }
        }
        let etag = format!("\"{}\"", doc.etag());
        if matches_etag(headers, &etag) {
            return not_modified(&etag);
        }
        document(doc, hash.as_deref())
    }
}

fn document(doc: &Document, hash: Option<&str>) -> Response<Body> {
    let mut r = respond::json_bytes(StatusCode::OK, doc.body());
    set(&mut r, header::ETAG, &format!("\"{}\"", doc.etag()));
    if hash.is_some() {
        set(&mut r, header::CACHE_CONTROL, "public, immutable");
    }
    r
}

fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag)
}

fn not_modified(etag: &str) -> Response<Body> {
    let mut r = Response::new(respond::full(""));
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    set(&mut r, header::ETAG, etag);
    r
}

fn not_acceptable() -> Response<Body> {
    respond::error(&StatusError::new(kapi::Reason::NotAcceptable, "only application/json and protobuf are served"))
}

fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}
