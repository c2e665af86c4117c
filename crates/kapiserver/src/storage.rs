//! Objects in the key-value store: JSON values under kapi's key layout, with
//! `metadata.resourceVersion` taken from the key's mod revision on the way out and
//! dropped on the way in (the revision is the version; storing it would be stale).

use bytes::Bytes;
use kapi::status::GroupResource;
use kapi::{KeyLayout, ObjectKey, StatusError};
use kstore::KeyValue;
use kstore::backend::{BackendError, DynBackend, ListOptions};
use serde_json::Value;

use crate::convert;
use crate::meta;
use crate::resources::ResourceInfo;

/// Typed access to the objects of every resource in one backend.
#[derive(Debug, Clone)]
pub struct Storage {
    backend: DynBackend,
    layout: KeyLayout,
}

/// One page read from the store.
#[derive(Debug, Default)]
pub struct Page {
    /// Store revision the page was read at.
    pub revision: i64,
    /// Objects with their resourceVersion set.
    pub items: Vec<(Bytes, Value)>,
    /// Whether keys remain after the last one.
    pub more: bool,
    /// Keys remaining after this page (when `more`).
    pub remaining: i64,
}

impl Storage {
    /// Storage over `backend` with the default `/registry` layout.
    pub fn new(backend: DynBackend) -> Self {
        Self { backend, layout: KeyLayout::default() }
    }

    /// The backend.
    pub fn backend(&self) -> &DynBackend {
        &self.backend
    }

    /// The key of one object.
    pub fn key(&self, res: &ResourceInfo, namespace: Option<&str>, name: &str) -> Result<Bytes, StatusError> {
        let key = ObjectKey::new(namespace.map(str::to_owned), name);
        self.layout
            .object_key(&convert::storage_resource(res), &key)
            .map(Bytes::from)
            .map_err(|e| StatusError::bad_request(e.to_string()))
    }

    /// The prefix of a collection (`None` namespace = all namespaces).
    pub fn prefix(&self, res: &ResourceInfo, namespace: Option<&str>) -> Result<Bytes, StatusError> {
        let ns = if res.namespaced { namespace } else { None };
        self.layout
            .collection_prefix(&convert::storage_resource(res), ns)
            .map(Bytes::from)
            .map_err(|e| StatusError::bad_request(e.to_string()))
    }

    /// Reads one object.
    pub async fn get(&self, res: &ResourceInfo, key: Bytes, name: &str) -> Result<(Value, i64), StatusError> {
        let got = self.backend.get(key).await.map_err(|e| store_error(res, name, e))?;
        let kv = got.kv.ok_or_else(|| StatusError::not_found(&gr(res), name))?;
        Ok((decode_for(res, &kv)?, kv.mod_revision))
    }

    /// Reads one page of a collection at `revision` (0 = latest) from `start` on.
    pub async fn list(
        &self,
        res: &ResourceInfo,
        prefix: Bytes,
        start: Option<Bytes>,
        revision: i64,
        limit: i64,
    ) -> Result<Page, StatusError> {
        let opts = ListOptions { limit, continue_from_key: start, revision, count_only: false };
        let got = self.backend.list(prefix, opts).await.map_err(|e| store_error(res, "", e))?;
        let remaining = got.remaining();
        let mut items = Vec::with_capacity(got.items.len());
        for kv in &got.items {
            items.push((kv.key.clone(), decode_for(res, kv)?));
        }
        Ok(Page { revision: got.revision, items, more: got.more, remaining })
    }

    /// Creates an object; fails with AlreadyExists when the key exists.
    pub async fn create(&self, res: &ResourceInfo, key: Bytes, obj: &mut Value) -> Result<i64, StatusError> {
        let name = meta::name(obj).to_owned();
        let bytes = encode_for(res, obj)?;
        let rev = self.backend.create(key, bytes, None).await.map_err(|e| store_error(res, &name, e))?;
        meta::set(obj, "resourceVersion", Value::String(rev.to_string()));
        Ok(rev)
    }

    /// Replaces an object if it is still at `expected` (its mod revision).
    pub async fn update(
        &self,
        res: &ResourceInfo,
        key: Bytes,
        obj: &mut Value,
        expected: i64,
    ) -> Result<i64, StatusError> {
        let name = meta::name(obj).to_owned();
        let bytes = encode_for(res, obj)?;
        let rev = self.backend.update(key, bytes, expected, None).await.map_err(|e| store_error(res, &name, e))?;
        meta::set(obj, "resourceVersion", Value::String(rev.to_string()));
        Ok(rev)
    }

    /// Deletes an object if it is still at `expected`; returns the deleted object.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        key: Bytes,
        name: &str,
        expected: Option<i64>,
    ) -> Result<Value, StatusError> {
        let got = self.backend.delete(key, expected).await.map_err(|e| store_error(res, name, e))?;
        let mut obj = decode_for(res, &got.prev_kv)?;
        meta::set(&mut obj, "resourceVersion", Value::String(got.revision.to_string()));
        Ok(obj)
    }

    /// The store's current revision (a linearizable read).
    pub async fn current_revision(&self) -> Result<i64, StatusError> {
        self.backend.current_revision().await.map_err(StatusError::internal)
    }
}

/// The group/resource of `res` for error messages.
pub fn gr(res: &ResourceInfo) -> GroupResource {
    GroupResource::new(res.group.clone(), res.plural.clone())
}

/// Serialises an object of `res` for the store: in its storage form, without its
/// resourceVersion.
pub fn encode_for(res: &ResourceInfo, obj: &Value) -> Result<Bytes, StatusError> {
    let mut copy = obj.clone();
    meta::remove(&mut copy, "resourceVersion");
    let stored = convert::to_storage(res, copy);
    serde_json::to_vec(&stored).map(Bytes::from).map_err(StatusError::internal)
}

/// Reads a stored object, setting its resourceVersion from the key's mod revision.
pub fn decode(kv: &KeyValue) -> Result<Value, StatusError> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        StatusError::internal(format!("stored object at {:?} is not JSON: {e}", String::from_utf8_lossy(&kv.key)))
    })?;
    meta::set(&mut obj, "resourceVersion", Value::String(kv.mod_revision.to_string()));
    Ok(obj)
}

/// Reads a stored object as `res` serves it.
pub fn decode_for(res: &ResourceInfo, kv: &KeyValue) -> Result<Value, StatusError> {
    Ok(convert::from_storage(res, decode(kv)?))
}

/// Maps a store error to the API error a client expects.
pub fn store_error(res: &ResourceInfo, name: &str, e: BackendError) -> StatusError {
    match e {
        BackendError::NotFound { .. } => StatusError::not_found(&gr(res), name),
        BackendError::AlreadyExists { .. } => StatusError::already_exists(&gr(res), name),
        BackendError::Conflict { .. } => StatusError::conflict(
            &gr(res),
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        BackendError::Compacted { .. } => StatusError::expired("The resourceVersion for the provided list is too old."),
        BackendError::FutureRevision => StatusError::timeout("Too large resource version", 1),
        BackendError::Unavailable(m) => StatusError::service_unavailable(m),
        other => StatusError::internal(other),
    }
}
