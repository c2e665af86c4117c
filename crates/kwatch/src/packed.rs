//! [`Packed`]: a compact form of any object for large caches: parsed metadata plus the rest
//! of the object as JSON text, decoded on demand.
//!
//! A typed k8s-openapi object is several times larger in memory than its JSON (a Pod of
//! 4–6 KB of JSON takes about 35 KB: every optional field of `Container`, `Volume`,
//! `EnvVar` … is stored inline). A packed object keeps what caches, indexes and selectors
//! use — `metadata` without `managedFields` — as a typed [`ObjectMeta`], and everything
//! else (including `managedFields`) as compact JSON: about the size of the JSON itself.
//! [`Packed::unpack`] rebuilds the typed object exactly.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use kapi::Resource;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::lister::{BoxFuture, ListParams, ListerWatcher, ObjectList, WatchError, WatchParams, WatchStream};
use crate::object::Object;

/// Errors packing or unpacking objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The object is not a JSON object with valid `metadata`.
    #[error("cannot pack object: {0}")]
    Pack(serde_json::Error),
    /// The packed JSON does not decode into the requested type.
    #[error("cannot unpack object {key}: {source}")]
    Unpack {
        /// `namespace/name` of the object.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The JSON is not an object.
    #[error("cannot pack a JSON {0}: an object is required")]
    NotAnObject(&'static str),
}

/// An object stored compactly: typed metadata (without `managedFields`) and the rest as
/// JSON text. Implements [`Object`], so it can be cached, indexed and watched like `K`.
pub struct Packed<K> {
    metadata: ObjectMeta,
    /// The kind's selectable fields (`spec.nodeName`, `status.phase` …) other than
    /// `metadata.*`, for indexes and field selectors.
    fields: Box<[(&'static str, Box<str>)]>,
    /// A JSON object with every field but `metadata`, plus `metadata.managedFields`.
    body: Box<str>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Packed<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            fields: self.fields.clone(),
            body: self.body.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Packed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packed").field("metadata", &self.metadata).field("body_bytes", &self.body.len()).finish()
    }
}

impl<K> PartialEq for Packed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.metadata == other.metadata && self.body == other.body
    }
}

fn selectable_fields(value: &Value) -> Box<[(&'static str, Box<str>)]> {
    let (Some(api_version), Some(kind)) =
        (value.get("apiVersion").and_then(Value::as_str), value.get("kind").and_then(Value::as_str))
    else {
        return Box::default();
    };
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    kapi::fields::kind_fields(group, kind)
        .extract(value)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("metadata."))
        .map(|(name, v)| (name, v.into_boxed_str()))
        .collect()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<K> Packed<K> {
    /// Packs an object given as JSON (what an HTTP source receives). The selectable fields
    /// kept are those of the kind named by the JSON's `apiVersion` and `kind`.
    pub fn from_json(value: Value) -> Result<Self, PackError> {
        let fields = selectable_fields(&value);
        let Value::Object(mut map) = value else { return Err(PackError::NotAnObject(json_kind(&value))) };
        let mut metadata: ObjectMeta = match map.remove("metadata") {
            Some(meta) => serde_json::from_value(meta).map_err(PackError::Pack)?,
            None => ObjectMeta::default(),
        };
        if let Some(managed) = metadata.managed_fields.take() {
            let managed = serde_json::to_value(managed).map_err(PackError::Pack)?;
            map.insert("metadata".into(), Value::Object(Map::from_iter([("managedFields".to_owned(), managed)])));
        }
        let body = serde_json::to_string(&map).map_err(PackError::Pack)?.into_boxed_str();
        Ok(Self { metadata, fields, body, _kind: PhantomData })
    }

    /// A selectable field of the kind (`spec.nodeName`, `status.phase` …), as field
    /// selectors read it; `metadata.name` and `metadata.namespace` come from the metadata.
    pub fn field(&self, name: &str) -> Option<&str> {
        match name {
            "metadata.name" => self.metadata.name.as_deref(),
            "metadata.namespace" => self.metadata.namespace.as_deref(),
            _ => self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| &**v),
        }
    }

    /// Bytes of JSON held besides the metadata.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

impl<K: Serialize> Packed<K> {
    /// Packs a typed (or dynamic) object.
    pub fn pack(obj: &K) -> Result<Self, PackError> {
        Self::from_json(serde_json::to_value(obj).map_err(PackError::Pack)?)
    }
}

impl<K: DeserializeOwned> Packed<K> {
    /// Decodes the full object.
    pub fn unpack(&self) -> Result<K, PackError> {
        let err = |source| PackError::Unpack {
            key: format!(
                "{}/{}",
                self.metadata.namespace.as_deref().unwrap_or(""),
                self.metadata.name.as_deref().unwrap_or("")
            ),
            source,
        };
        let mut map: Map<String, Value> = serde_json::from_str(&self.body).map_err(err)?;
        let mut meta = match serde_json::to_value(&self.metadata).map_err(err)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(Value::Object(extra)) = map.remove("metadata") {
            meta.extend(extra);
        }
        map.insert("metadata".into(), Value::Object(meta));
        serde_json::from_value(Value::Object(map)).map_err(err)
    }
}

impl<K: Resource> Resource for Packed<K> {
    type DynamicType = K::DynamicType;

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }
    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }
    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }
    fn namespaced(dt: &Self::DynamicType) -> bool {
        K::namespaced(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Turns a source of `K` into a source of [`Packed<K>`], packing objects as they arrive.
pub struct PackedSource<L, K> {
    inner: L,
    _kind: PhantomData<fn() -> K>,
}

impl<L, K> PackedSource<L, K> {
    /// Wraps a source of `K`.
    pub fn new(inner: L) -> Self {
        Self { inner, _kind: PhantomData }
    }
}

fn pack_or_decode_error<K: Serialize>(obj: &K) -> Result<Packed<K>, WatchError> {
    Packed::pack(obj).map_err(|e| WatchError::Decode(e.to_string()))
}

impl<K, L> ListerWatcher<Packed<K>> for PackedSource<L, K>
where
    K: Object + Serialize + Resource,
    L: ListerWatcher<K>,
{
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<Packed<K>>, WatchError>> {
        Box::pin(async move {
            let list = self.inner.list(params).await?;
            Ok(ObjectList {
                items: list.items.iter().map(pack_or_decode_error).collect::<Result<_, _>>()?,
                resource_version: list.resource_version,
                continue_token: list.continue_token,
                remaining_item_count: list.remaining_item_count,
            })
        })
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<Packed<K>>, WatchError>> {
        use crate::lister::WatchEvent;
        use futures_util::StreamExt;
        Box::pin(async move {
            let stream = self.inner.watch(params).await?;
            let packed: WatchStream<Packed<K>> = Box::pin(stream.map(|item| {
                let event = item?;
                Ok(match event {
                    WatchEvent::Added(o) => WatchEvent::Added(pack_or_decode_error(&o)?),
                    WatchEvent::Modified(o) => WatchEvent::Modified(pack_or_decode_error(&o)?),
                    WatchEvent::Deleted(o) => WatchEvent::Deleted(pack_or_decode_error(&o)?),
                    WatchEvent::Bookmark { resource_version, initial_events_end } => {
                        WatchEvent::Bookmark { resource_version, initial_events_end }
                    }
                    WatchEvent::Error(e) => WatchEvent::Error(e),
                })
            }));
            Ok(packed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::api::core::v1::{Container, Pod, PodSpec};
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use serde_json::json;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some("default".into());
        p.metadata.name = Some("web-0".into());
        p.metadata.resource_version = Some("12".into());
        p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        p.metadata.managed_fields =
            Some(vec![ManagedFieldsEntry { manager: Some("kubectl".into()), ..ManagedFieldsEntry::default() }]);
        p.spec = Some(PodSpec {
            containers: vec![Container { name: "app".into(), image: Some("nginx".into()), ..Container::default() }],
            node_name: Some("n1".into()),
            ..PodSpec::default()
        });
        p
    }

    #[test]
    fn round_trip_is_exact() {
        let p = pod();
        let packed = Packed::pack(&p).unwrap();
        assert_eq!(packed.key().to_string(), "default/web-0");
        assert_eq!(packed.resource_version(), Some("12"));
        assert!(packed.metadata().managed_fields.is_none(), "managed fields live in the body");
        assert!(packed.body_len() > 0);
        assert_eq!(packed.field("spec.nodeName"), Some("n1"));
        assert_eq!(packed.field("metadata.name"), Some("web-0"));
        assert_eq!(packed.field("spec.nope"), None);
        assert_eq!(packed.unpack().unwrap(), p);
        assert_eq!(Packed::<Pod>::api_version(&()), "v1");
        assert!(format!("{packed:?}").contains("body_bytes"));
    }

    #[test]
    fn from_json_and_errors() {
        let packed = Packed::<Pod>::from_json(json!({"metadata": {"name": "x"}, "spec": {"containers": []}})).unwrap();
        assert_eq!(packed.name(), "x");
        assert!(packed.clone() == packed);
        assert!(matches!(Packed::<Pod>::from_json(json!([1])), Err(PackError::NotAnObject("array"))));
        let bad = Packed::<Pod>::from_json(json!({"metadata": {"name": "x"}, "spec": {"containers": 3}})).unwrap();
        let err = bad.unpack().unwrap_err();
        assert!(err.to_string().contains("/x"), "{err}");
    }
}
