//! What the cache stores: any Kubernetes object with metadata, typed or dynamic, and the
//! memory controls applied before objects enter the cache (transforms, metadata-only mode).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use kapi::dynamic::TypeMeta;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kapi::{ApiResource, ObjectKey, Resource};
use serde::{Deserialize, Serialize};

use crate::lister::{ListParams, ListerWatcher, ObjectList, WatchError, WatchEvent, WatchParams, WatchStream};

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// An object has no `metadata.name`, so it cannot be keyed.
    #[error("object has no metadata.name (namespace {namespace:?}, generateName {generate_name:?})")]
    MissingName {
        /// Its namespace, if any.
        namespace: Option<String>,
        /// Its `metadata.generateName`, if any.
        generate_name: Option<String>,
    },
}

/// An object the cache can hold: every k8s-openapi kind, [`kapi::DynamicObject`] and
/// [`PartialObjectMetadata`] implement it through [`kapi::Resource`].
///
/// Objects are immutable once in the cache (they are shared as `Arc<K>`), so `Clone` is only
/// used by sources that hand out owned copies.
pub trait Object: Clone + Send + Sync + 'static {
    /// The object's metadata.
    fn metadata(&self) -> &ObjectMeta;
    /// The object's metadata, mutably (transforms and sources use it).
    fn metadata_mut(&mut self) -> &mut ObjectMeta;

    /// The `namespace/name` key (`name` for cluster-scoped objects), as client-go's
    /// `MetaNamespaceKeyFunc` builds it.
    fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        ObjectKey::new(meta.namespace.clone(), meta.name.clone().unwrap_or_default())
    }
    /// The namespace, `None` for cluster-scoped objects.
    fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref().filter(|ns| !ns.is_empty())
    }
    /// The name (empty when unset).
    fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }
    /// `metadata.resourceVersion`, an opaque string.
    fn resource_version(&self) -> Option<&str> {
        self.metadata().resource_version.as_deref()
    }
    /// `metadata.labels`, when set.
    fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata().labels.as_ref()
    }
    /// `metadata.annotations`, when set.
    fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        self.metadata().annotations.as_ref()
    }
}

impl<K> Object for K
where
    K: Resource + Clone + Send + Sync + 'static,
{
    fn metadata(&self) -> &ObjectMeta {
        self.meta()
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        self.meta_mut()
    }
}

/// A function applied to every object before it enters the cache (client-go's
/// `TransformFunc`), typically to drop fields the program never reads.
///
/// # Correctness
///
/// The transform must keep `metadata.name`, `metadata.namespace` and
/// `metadata.resourceVersion`; the cache keys and relists by them.
#[derive(Clone)]
pub struct Transform<K>(Arc<dyn Fn(K) -> K + Send + Sync>);

impl<K> Transform<K> {
    /// Wraps a function.
    pub fn new(f: impl Fn(K) -> K + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Applies the transform.
    pub fn apply(&self, obj: K) -> K {
        (self.0)(obj)
    }
}

impl<K: Object> Transform<K> {
    /// Drops `metadata.managedFields`, often half of an object's metadata.
    pub fn strip_managed_fields() -> Self {
        Self::new(|mut obj: K| {
            obj.metadata_mut().managed_fields = None;
            obj
        })
    }
}

impl<K> fmt::Debug for Transform<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transform(..)")
    }
}

/// An object reduced to its type and metadata (upstream `PartialObjectMetadata`): what a
/// metadata-only informer stores. It reads from the JSON of any object, ignoring every
/// field but `apiVersion`, `kind` and `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartialObjectMetadata {
    /// `apiVersion` and `kind` of the object described.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl PartialObjectMetadata {
    /// The metadata of a typed or dynamic object (the metadata is cloned, the rest dropped).
    pub fn of<K: Object>(obj: &K) -> Self {
        Self { types: None, metadata: obj.metadata().clone() }
    }

    /// Like [`of`](Self::of), recording the kind.
    pub fn of_kind<K: Object>(obj: &K, resource: &ApiResource) -> Self {
        Self {
            types: Some(TypeMeta { api_version: resource.api_version(), kind: resource.kind.clone() }),
            metadata: obj.metadata().clone(),
        }
    }
}

impl Resource for PartialObjectMetadata {
    type DynamicType = ApiResource;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn namespaced(dt: &ApiResource) -> bool {
        dt.namespaced
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Turns a source of full objects into a source of [`PartialObjectMetadata`], converting
/// each object as it arrives, so full objects never reach the cache.
///
/// The HTTP source asks the server for metadata only instead; this adapter serves in-process
/// sources that hold full objects.
pub struct MetadataOnly<L, K> {
    inner: L,
    _kind: PhantomData<fn() -> K>,
}

impl<L, K> MetadataOnly<L, K> {
    /// Wraps a source of `K`.
    pub fn new(inner: L) -> Self {
        Self { inner, _kind: PhantomData }
    }
}

impl<K, L> ListerWatcher<PartialObjectMetadata> for MetadataOnly<L, K>
where
    K: Object,
    L: ListerWatcher<K>,
{
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> crate::lister::BoxFuture<'a, Result<ObjectList<PartialObjectMetadata>, WatchError>> {
        Box::pin(async move {
            let list = self.inner.list(params).await?;
            Ok(ObjectList {
                items: list.items.iter().map(PartialObjectMetadata::of).collect(),
                resource_version: list.resource_version,
                continue_token: list.continue_token,
                remaining_item_count: list.remaining_item_count,
            })
        })
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> crate::lister::BoxFuture<'a, Result<WatchStream<PartialObjectMetadata>, WatchError>> {
        use futures_util::StreamExt;
        Box::pin(async move {
            let stream = self.inner.watch(params).await?;
            let mapped: WatchStream<PartialObjectMetadata> =
                Box::pin(stream.map(|item| item.map(|ev| ev.map(|obj| PartialObjectMetadata::of(&obj)))));
            Ok(mapped)
        })
    }
}

/// Checks that an object can be keyed (has a name).
pub(crate) fn check_keyable<K: Object>(obj: &K) -> Result<(), ObjectError> {
    if obj.name().is_empty() {
        let meta = obj.metadata();
        return Err(ObjectError::MissingName {
            namespace: meta.namespace.clone(),
            generate_name: meta.generate_name.clone(),
        });
    }
    Ok(())
}

impl<K> WatchEvent<K> {
    /// Maps the object carried by the event.
    pub fn map<T>(self, f: impl FnOnce(K) -> T) -> WatchEvent<T> {
        match self {
            WatchEvent::Added(o) => WatchEvent::Added(f(o)),
            WatchEvent::Modified(o) => WatchEvent::Modified(f(o)),
            WatchEvent::Deleted(o) => WatchEvent::Deleted(f(o)),
            WatchEvent::Bookmark { resource_version, initial_events_end } => {
                WatchEvent::Bookmark { resource_version, initial_events_end }
            }
            WatchEvent::Error(e) => WatchEvent::Error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::DynamicObject;
    use kapi::k8s::api::core::v1::{Node, Pod};
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p.metadata.resource_version = Some("7".into());
        p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
        p
    }

    #[test]
    fn typed_objects() {
        let p = pod("default", "web-0");
        assert_eq!(p.key().to_string(), "default/web-0");
        assert_eq!(p.namespace(), Some("default"));
        assert_eq!(p.resource_version(), Some("7"));
        assert_eq!(p.labels().and_then(|l| l.get("app")).map(String::as_str), Some("web"));
        let mut n = Node::default();
        n.metadata.name = Some("n1".into());
        n.metadata.namespace = Some(String::new());
        assert_eq!(n.key().to_string(), "n1");
        assert_eq!(n.namespace(), None);
    }

    #[test]
    fn dynamic_and_partial_objects() {
        let raw = json!({
            "apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "c1", "namespace": "ns", "resourceVersion": "3"},
            "spec": {"cronSpec": "* * * * */5"}
        });
        let d: DynamicObject = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(d.key().to_string(), "ns/c1");
        let meta: PartialObjectMetadata = serde_json::from_value(raw).unwrap();
        assert_eq!(meta.key().to_string(), "ns/c1");
        assert_eq!(meta.types.as_ref().map(|t| t.kind.as_str()), Some("CronTab"));
        let v = serde_json::to_value(&meta).unwrap();
        assert!(v.get("spec").is_none());
        let from_pod = PartialObjectMetadata::of_kind(&pod("a", "b"), &ApiResource::of::<Pod>());
        assert_eq!(from_pod.types.unwrap().api_version, "v1");
    }

    #[test]
    fn strip_managed_fields_keeps_identity() {
        let mut p = pod("default", "web-0");
        p.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        let t = Transform::<Pod>::strip_managed_fields();
        let out = t.apply(p.clone());
        assert!(out.metadata.managed_fields.is_none());
        assert_eq!(out.key(), p.key());
        assert_eq!(out.resource_version(), p.resource_version());
        assert_eq!(format!("{t:?}"), "Transform(..)");
    }

    #[test]
    fn keyable() {
        let mut p = Pod::default();
        p.metadata.generate_name = Some("web-".into());
        let err = check_keyable(&p).unwrap_err();
        assert_eq!(err, ObjectError::MissingName { namespace: None, generate_name: Some("web-".into()) });
        assert!(err.to_string().contains("web-"), "{err}");
        assert!(check_keyable(&pod("a", "b")).is_ok());
    }
}
