//! Object keys (`namespace/name`) and the storage key layout the API server uses.
//!
//! # Storage layout
//!
//! Every object is stored under
//!
//! ```text
//! <prefix>/<group>/<resource>/<namespace>/<name>     namespaced kinds
//! <prefix>/<group>/<resource>/<name>                 cluster-scoped kinds
//! ```
//!
//! where `<prefix>` defaults to `/registry` (upstream's `--etcd-prefix`), `<group>` is the API
//! group with `core` standing for the empty core group, and `<resource>` is the lowercase
//! plural. Examples: `/registry/core/pods/default/web-0`,
//! `/registry/apps/deployments/prod/api`, `/registry/core/nodes/node-1`,
//! `/registry/stable.example.com/crontabs/default/c1`.
//!
//! Keeping the group in the key means two groups may define the same plural without
//! colliding, and a whole group can be listed or removed with one range. Collection
//! prefixes always end in `/`, so listing namespace `dev` never returns objects of `dev2`.
//! The version is not part of the key: every version of a kind shares one object.

use std::fmt;
use std::str::FromStr;

use crate::resource::ApiResource;
use crate::validation::{self, ValidationError};

/// Errors building or parsing keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A `namespace/name` string had more than one `/` or an empty part.
    #[error("unexpected key format: {0:?} (want \"name\" or \"namespace/name\")")]
    Format(String),
    /// A namespace or name cannot be a storage key segment.
    #[error("invalid {what} {value:?}: {source}")]
    Segment {
        /// "name", "namespace", "group" or "resource".
        what: &'static str,
        /// The offending value.
        value: String,
        /// Why.
        source: ValidationError,
    },
    /// A namespaced kind was addressed without a namespace.
    #[error("resource {0:?} is namespaced: a namespace is required")]
    NamespaceRequired(String),
    /// A storage key did not start with the layout's prefix or had the wrong number of parts.
    #[error("{0:?} is not an object key of this layout")]
    NotAnObjectKey(String),
}

/// The identity of an object within its kind: optional namespace and name.
///
/// Formats as `namespace/name` (or `name` for cluster-scoped objects), the key
/// client-go's `MetaNamespaceKeyFunc` produces and informer caches use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    namespace: Option<String>,
    name: String,
}

impl ObjectKey {
    /// A key; an empty namespace counts as none.
    pub fn new(namespace: Option<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.filter(|ns| !ns.is_empty()), name: name.into() }
    }

    /// A namespaced key.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(Some(namespace.into()), name)
    }

    /// A cluster-scoped key.
    pub fn cluster(name: impl Into<String>) -> Self {
        Self { namespace: None, name: name.into() }
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for ObjectKey {
    type Err = KeyError;

    /// Parses `name` or `namespace/name`.
    fn from_str(s: &str) -> Result<Self, KeyError> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(name), None, None) if !name.is_empty() => Ok(Self::cluster(name)),
            (Some(ns), Some(name), None) if !ns.is_empty() && !name.is_empty() => Ok(Self::namespaced(ns, name)),
            _ => Err(KeyError::Format(s.to_owned())),
        }
    }
}

/// Where objects live in the key-value store (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    prefix: String,
}

impl Default for KeyLayout {
    fn default() -> Self {
        Self { prefix: "/registry".to_owned() }
    }
}

/// One object key taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// API group, empty for core.
    pub group: &'a str,
    /// Lowercase plural.
    pub resource: &'a str,
    /// The object's key.
    pub key: ObjectKey,
}

impl KeyLayout {
    /// A layout under another prefix (upstream `--etcd-prefix`); trailing `/` are ignored.
    pub fn with_prefix(prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        let prefix = if trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") };
        Self { prefix }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn group_segment(group: &str) -> &str {
        if group.is_empty() { "core" } else { group }
    }

    /// The prefix of a whole resource (all namespaces), ending in `/`.
    pub fn resource_prefix(&self, resource: &ApiResource) -> String {
        format!("{}/{}/{}/", self.prefix, Self::group_segment(&resource.group), resource.plural)
    }

    /// The prefix of a collection: one namespace of a namespaced kind, or the whole resource.
    /// Ends in `/`. A namespace given for a cluster-scoped kind is an error.
    pub fn collection_prefix(&self, resource: &ApiResource, namespace: Option<&str>) -> Result<String, KeyError> {
        let mut key = self.resource_prefix(resource);
        if let Some(ns) = namespace {
            if !resource.namespaced {
                return Err(KeyError::Format(format!("{ns}/ (resource {} is cluster-scoped)", resource.plural)));
            }
            segment("namespace", ns)?;
            key.push_str(ns);
            key.push('/');
        }
        Ok(key)
    }

    /// The key of one object. Namespaced kinds need a namespace; a namespace on a
    /// cluster-scoped kind is ignored, as upstream does.
    pub fn object_key(&self, resource: &ApiResource, key: &ObjectKey) -> Result<String, KeyError> {
        segment("name", key.name())?;
        let ns = match (resource.namespaced, key.namespace()) {
            (true, Some(ns)) => Some(ns),
            (true, None) => return Err(KeyError::NamespaceRequired(resource.plural.clone())),
            (false, _) => None,
        };
        let mut out = self.collection_prefix(resource, ns)?;
        out.push_str(key.name());
        Ok(out)
    }

    /// Takes an object key apart. Keys with four segments after the prefix are namespaced,
    /// keys with three are cluster-scoped.
    pub fn parse<'a>(&self, key: &'a str) -> Result<ParsedKey<'a>, KeyError> {
        let bad = || KeyError::NotAnObjectKey(key.to_owned());
        let rest = key.strip_prefix(self.prefix.as_str()).and_then(|r| r.strip_prefix('/')).ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let group = |g: &'a str| if g == "core" { "" } else { g };
        match parts.as_slice() {
            [g, resource, ns, name] => {
                Ok(ParsedKey { group: group(g), resource, key: ObjectKey::namespaced(*ns, *name) })
            }
            [g, resource, name] => Ok(ParsedKey { group: group(g), resource, key: ObjectKey::cluster(*name) }),
            _ => Err(bad()),
        }
    }
}

fn segment(what: &'static str, value: &str) -> Result<(), KeyError> {
    validation::path_segment_name(value).map_err(|source| KeyError::Segment { what, value: value.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Pod};

    #[test]
    fn object_keys() {
        let k: ObjectKey = "default/web".parse().unwrap();
        assert_eq!((k.namespace(), k.name()), (Some("default"), "web"));
        assert_eq!(k.to_string(), "default/web");
        let c: ObjectKey = "node-1".parse().unwrap();
        assert_eq!((c.namespace(), c.to_string().as_str()), (None, "node-1"));
        for bad in ["", "/", "a/", "/a", "a/b/c"] {
            assert!(bad.parse::<ObjectKey>().is_err(), "{bad}");
        }
        assert_eq!(ObjectKey::new(Some(String::new()), "x"), ObjectKey::cluster("x"));
    }

    #[test]
    fn layout() {
        let l = KeyLayout::default();
        let pods = ApiResource::of::<Pod>();
        let key = l.object_key(&pods, &ObjectKey::namespaced("default", "web-0")).unwrap();
        assert_eq!(key, "/registry/core/pods/default/web-0");
        let parsed = l.parse(&key).unwrap();
        assert_eq!((parsed.group, parsed.resource), ("", "pods"));
        assert_eq!(parsed.key, ObjectKey::namespaced("default", "web-0"));

        let deploys = ApiResource::of::<Deployment>();
        assert_eq!(l.collection_prefix(&deploys, Some("prod")).unwrap(), "/registry/apps/deployments/prod/");
        assert_eq!(l.collection_prefix(&deploys, None).unwrap(), "/registry/apps/deployments/");

        let nodes = ApiResource::of::<Node>();
        let nk = l.object_key(&nodes, &ObjectKey::namespaced("ignored", "n1")).unwrap();
        assert_eq!(nk, "/registry/core/nodes/n1");
        assert_eq!(l.parse(&nk).unwrap().key, ObjectKey::cluster("n1"));
        assert!(l.collection_prefix(&nodes, Some("x")).is_err());
    }

    #[test]
    fn layout_rejects_bad_input() {
        let l = KeyLayout::with_prefix("custom/");
        assert_eq!(l.prefix(), "/custom");
        let pods = ApiResource::of::<Pod>();
        assert_eq!(l.object_key(&pods, &ObjectKey::cluster("p")), Err(KeyError::NamespaceRequired("pods".into())));
        assert!(l.object_key(&pods, &ObjectKey::namespaced("a", "..")).is_err());
        assert!(l.object_key(&pods, &ObjectKey::namespaced("a/b", "c")).is_err());
        assert!(l.parse("/registry/core/pods/a/b").is_err(), "wrong prefix");
        assert!(l.parse("/custom/core/pods").is_err());
        assert!(l.parse("/custom/core/pods/a/b/c").is_err());
        assert!(l.parse("/custom/core//a").is_err());
    }
}
