//! The API server's OpenAPI documents: `/openapi/v2` (JSON and gnostic protobuf) and
//! `/openapi/v3` (the discovery root plus one JSON document per group-version).
//!
//! kubectl reads these to decide where validation happens and how to patch:
//!
//! - `create`/`apply` with `--validate=strict` look for the `fieldValidation` query parameter
//!   on the PATCH operation tagged with the object's `x-kubernetes-group-version-kind`
//!   (v3 document first, v2 protobuf as the fallback). Found: the server validates and
//!   kubectl sends `fieldValidation=Strict`. Not found: kubectl validates on its own against
//!   the v2 definitions.
//! - kubectl 1.27 and 1.28 always download and parse the v2 protobuf (its parser rejects a
//!   `$ref` next to `type`/`properties`, an array without exactly one `items` schema and
//!   unknown primitive types), and compute client-side apply patches from its
//!   `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key` extensions; 1.29+ use the
//!   v3 component schemas for the same, when the PATCH operation consumes
//!   `application/strategic-merge-patch+json`.
//! - `explain` (template based, v3) finds the GVK on an operation under the resource's path,
//!   then the component schema whose `x-kubernetes-group-version-kind` list contains it.
//!
//! Everything is built once in [`OpenApi::new`] (rebuild it when the set of resources or
//! CRDs changes) and served from memory.
//!
//! # Serving (what kube-openapi's handlers do)
//!
//! | request | answer |
//! |---|---|
//! | `GET /openapi/v2` | [`negotiate_v2`] on `Accept`: [`OpenApi::v2_protobuf`] or [`OpenApi::v2_json`] with [`Format::content_type`]; `None` → 406. `ETag: "<v2_etag>"`, `Vary: Accept` |
//! | `GET /openapi/v3` | [`OpenApi::v3_root`] as `application/json`, `ETag` |
//! | `GET /openapi/v3/<key>?hash=H` | unknown key → 404; [`negotiate_v3`] `None` → 406; `H` ≠ [`Document::etag`] → 301 to [`Document::server_relative_url`]; otherwise the body with `ETag`, and when `H` was given `Cache-Control: public, immutable` and `Expires` one year ahead |
//!
//! Every `ETag` is the quoted hash; a request whose `If-None-Match` equals it gets `304`.

mod builtin_kinds;
mod crd;
mod definitions;
mod markers;
mod markers_table;
mod negotiate;
mod operations;
mod params;
mod proto;
mod schema_forms;
mod v2;
mod v3;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha512};

pub use negotiate::{Format, negotiate_v2, negotiate_v3};

pub use crate::resources::ResourceInfo;

/// The structural schema of one served version of a custom resource.
#[derive(Debug, Clone)]
pub struct CrdSchema {
    /// API group of the custom resource.
    pub group: String,
    /// Served version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// `spec.versions[].schema.openAPIV3Schema` of the CustomResourceDefinition.
    pub schema: serde_json::Value,
}

/// Why the documents could not be built; nothing is served from a failed build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenApiError {
    /// A resource has an empty or malformed name part.
    #[error("resource {resource:?} cannot be published: {reason}")]
    InvalidResource {
        /// `group/version/plural` of the offending resource.
        resource: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A CRD schema is not a JSON object.
    #[error("schema of {gvk} is not a JSON object")]
    InvalidCrdSchema {
        /// `group/version, Kind=kind` of the offending CRD version.
        gvk: String,
    },
    /// A document could not be serialized.
    #[error("cannot serialize the {document} document: {message}")]
    Serialize {
        /// Which document.
        document: String,
        /// The serializer's message.
        message: String,
    },
}

/// One served document with its entity tag.
#[derive(Debug, Clone)]
pub struct Document {
    body: Bytes,
    etag: String,
    server_relative_url: String,
}

impl Document {
    fn new(body: Vec<u8>, etag: String, server_relative_url: String) -> Self {
        Self { body: Bytes::from(body), etag, server_relative_url }
    }

    /// The response body.
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// Upper-case hex SHA-512 of the JSON form, as kube-openapi computes it. This is the
    /// `hash` query parameter of v3 URLs; the `ETag` header is this value in double quotes.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Where the document is served, with the `hash` parameter for v3 group-versions
    /// (`/openapi/v3/apis/apps/v1?hash=…`).
    ///
    /// A request whose `hash` differs from [`Document::etag`] is answered upstream with
    /// `301 Moved Permanently` to this URL; one whose `hash` matches gets
    /// `Cache-Control: public, immutable`.
    pub fn server_relative_url(&self) -> &str {
        &self.server_relative_url
    }
}

/// The OpenAPI documents for one set of resources, built once and served from memory.
#[derive(Debug, Clone)]
pub struct OpenApi {
    v2_json: Document,
    v2_protobuf: Bytes,
    v3_root: Document,
    v3: BTreeMap<String, Document>,
}

impl OpenApi {
    /// Builds every document for `resources` (built-in kinds get their schemas from
    /// k8s-openapi; custom kinds from `crds`, matched by group, version and kind).
    ///
    /// A resource whose kind has neither gets an open object schema.
    ///
    /// # Errors
    ///
    /// [`OpenApiError::InvalidResource`] for a resource with an empty version, kind or plural,
    /// [`OpenApiError::InvalidCrdSchema`] for a CRD schema that is not an object.
    pub fn new(resources: &[ResourceInfo], crds: &[CrdSchema]) -> Result<Self, OpenApiError> {
        let model = operations::Model::build(resources, crds)?;

        let v2_value = v2::document(&model);
        let v2_bytes = to_json(&v2_value, "v2")?;
        let v2_protobuf = Bytes::from(proto::encode_document(&v2_value));
        let v2_etag = etag_of(&v2_bytes);
        let v2_json = Document::new(v2_bytes, v2_etag, "/openapi/v2".to_owned());

        let mut v3 = BTreeMap::new();
        for (key, value) in v3::documents(&model) {
            let bytes = to_json(&value, &key)?;
            let etag = etag_of(&bytes);
            let url = format!("/openapi/v3/{key}?hash={etag}");
            v3.insert(key, Document::new(bytes, etag, url));
        }
        let root = v3::root(v3.iter().map(|(key, doc)| (key.as_str(), doc.server_relative_url())));
        let root_bytes = to_json(&root, "v3 root")?;
        let root_etag = etag_of(&root_bytes);
        let v3_root = Document::new(root_bytes, root_etag, "/openapi/v3".to_owned());

        Ok(Self { v2_json, v2_protobuf, v3_root, v3 })
    }

    /// `/openapi/v2` as JSON (`Accept: application/json`).
    pub fn v2_json(&self) -> Bytes {
        self.v2_json.body()
    }

    /// `/openapi/v2` as a gnostic `openapi.v2.Document` protobuf
    /// (`application/com.github.proto-openapi.spec.v2.v1.0+protobuf`).
    pub fn v2_protobuf(&self) -> Bytes {
        self.v2_protobuf.clone()
    }

    /// The v2 entity tag (hash of the JSON form, shared by both encodings as upstream does).
    pub fn v2_etag(&self) -> &str {
        self.v2_json.etag()
    }

    /// `/openapi/v3`: `{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=…"},…}}`.
    pub fn v3_root(&self) -> &Document {
        &self.v3_root
    }

    /// The v3 document of one group-version, keyed like the root (`api/v1`, `apis/apps/v1`).
    pub fn v3_group_version(&self, path: &str) -> Option<&Document> {
        self.v3.get(path.trim_matches('/'))
    }

    /// The keys of [`OpenApi::v3_group_version`], sorted.
    pub fn v3_paths(&self) -> impl Iterator<Item = &str> {
        self.v3.keys().map(String::as_str)
    }
}

fn to_json(value: &serde_json::Value, document: &str) -> Result<Vec<u8>, OpenApiError> {
    serde_json::to_vec(value)
        .map_err(|e| OpenApiError::Serialize { document: document.to_owned(), message: e.to_string() })
}

/// Upper-case hex SHA-512, kube-openapi's `computeETag`.
fn etag_of(data: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha512::digest(data);
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(out, "{byte:02X}");
    }
    out
}
