//! What a kind is: group, version, kind, plural and scope, for built-in and dynamic kinds.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::key::ObjectKey;

/// A Kubernetes kind: its identity on the wire and in storage.
///
/// Built-in kinds (every k8s-openapi type with `ObjectMeta`) implement it with
/// `DynamicType = ()`: all answers are compile-time constants. [`DynamicObject`] implements it
/// with `DynamicType = ApiResource`, so one Rust type serves every custom resource.
///
/// [`DynamicObject`]: crate::DynamicObject
pub trait Resource {
    /// What must be known at run time to describe the kind (`()` for built-in kinds).
    type DynamicType;

    /// API group, empty for the core group (`""`, `"apps"`, `"batch"` …).
    fn group(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// API version within the group (`"v1"`).
    fn version(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// Kind, in CamelCase (`"Pod"`).
    fn kind(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// Lowercase plural resource name used in URLs and storage keys (`"pods"`).
    fn plural(dt: &Self::DynamicType) -> Cow<'_, str>;
    /// Whether objects of the kind live in a namespace.
    fn namespaced(dt: &Self::DynamicType) -> bool;

    /// `apiVersion` as written in objects: `v1` for the core group, else `group/version`.
    fn api_version(dt: &Self::DynamicType) -> Cow<'_, str> {
        let group = Self::group(dt);
        if group.is_empty() { Self::version(dt) } else { Cow::Owned(format!("{group}/{}", Self::version(dt))) }
    }

    /// The object's metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The object's metadata, mutably.
    fn meta_mut(&mut self) -> &mut ObjectMeta;

    /// The object's namespace/name key.
    fn object_key(&self) -> ObjectKey {
        let meta = self.meta();
        ObjectKey::new(meta.namespace.clone(), meta.name.clone().unwrap_or_default())
    }
}

/// Maps k8s-openapi's scope marker types to a boolean.
pub trait ScopeExt {
    /// `true` for namespaced kinds.
    const NAMESPACED: bool;
}

impl ScopeExt for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeExt for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}
impl ScopeExt for k8s_openapi::SubResourceScope {
    const NAMESPACED: bool = false;
}

impl<K> Resource for K
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    K::Scope: ScopeExt,
{
    type DynamicType = ();

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::GROUP)
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::VERSION)
    }
    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND)
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::URL_PATH_SEGMENT)
    }
    fn namespaced(_: &()) -> bool {
        K::Scope::NAMESPACED
    }
    fn api_version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::API_VERSION)
    }
    fn meta(&self) -> &ObjectMeta {
        self.metadata()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.metadata_mut()
    }
}

/// A kind described at run time: what discovery or a CustomResourceDefinition says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ApiResource {
    /// API group, empty for core.
    pub group: String,
    /// Version within the group.
    pub version: String,
    /// CamelCase kind.
    pub kind: String,
    /// Lowercase plural resource name.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl ApiResource {
    /// The description of a built-in kind.
    pub fn of<K: Resource<DynamicType = ()>>() -> Self {
        Self {
            group: K::group(&()).into_owned(),
            version: K::version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            plural: K::plural(&()).into_owned(),
            namespaced: K::namespaced(&()),
        }
    }

    /// `v1` for the core group, else `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The REST path of the collection, optionally inside a namespace:
    /// `/api/v1/namespaces/default/pods`, `/apis/apps/v1/deployments`.
    ///
    /// The namespace is ignored for cluster-scoped kinds.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let mut path = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let (true, Some(ns)) = (self.namespaced, namespace) {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(&self.plural);
        path
    }

    /// The REST path of one object.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}/{name}", self.collection_path(namespace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Node, Pod};

    #[test]
    fn built_in_kinds() {
        assert_eq!(Pod::group(&()), "");
        assert_eq!(Pod::version(&()), "v1");
        assert_eq!(Pod::kind(&()), "Pod");
        assert_eq!(Pod::plural(&()), "pods");
        assert_eq!(Pod::api_version(&()), "v1");
        assert!(Pod::namespaced(&()));
        assert!(!Node::namespaced(&()));
        assert!(!Namespace::namespaced(&()));
        assert_eq!(Deployment::api_version(&()), "apps/v1");
        assert_eq!(Deployment::plural(&()), "deployments");
    }

    #[test]
    fn paths() {
        let pods = ApiResource::of::<Pod>();
        assert_eq!(pods.collection_path(None), "/api/v1/pods");
        assert_eq!(pods.object_path(Some("default"), "p"), "/api/v1/namespaces/default/pods/p");
        let nodes = ApiResource::of::<Node>();
        assert_eq!(nodes.object_path(Some("ignored"), "n1"), "/api/v1/nodes/n1");
        let deploys = ApiResource::of::<Deployment>();
        assert_eq!(deploys.api_version(), "apps/v1");
        assert_eq!(deploys.collection_path(Some("x")), "/apis/apps/v1/namespaces/x/deployments");
    }

    #[test]
    fn object_key_from_meta() {
        let mut pod = Pod::default();
        pod.meta_mut().name = Some("web".into());
        pod.meta_mut().namespace = Some("prod".into());
        assert_eq!(pod.object_key().to_string(), "prod/web");
    }
}
