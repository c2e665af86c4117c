//! [`ListSchema`] from strategic-merge metadata ([`PatchSchema`]), the way upstream's
//! schema conversion falls back on `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key`, plus the few Kubernetes 1.33 built-in fields whose
//! `+listMapKey`, `+default` or `+structType=atomic` markers the patch tags do not carry.

use serde_json::Value;

use super::{ListKind, ListSchema};
use crate::patch::{FieldMeta, PatchSchema, Strategy};

/// A list keyed by more than its patch merge key.
struct MultiKey {
    /// The list field's name.
    list: &'static str,
    /// Its `patchMergeKey`.
    merge_key: &'static str,
    /// Its `+listMapKey` markers.
    keys: &'static [&'static str],
    /// `+default` values of key fields.
    defaults: &'static [(&'static str, &'static str)],
}

/// The multi-key list maps of `k8s.io/api` 1.33 that have a patch merge key.
const MULTI_KEY_LISTS: &[MultiKey] = &[
    // Container.ports, EphemeralContainerCommon.ports.
    MultiKey {
        list: "ports",
        merge_key: "containerPort",
        keys: &["containerPort", "protocol"],
        defaults: &[("protocol", "TCP")],
    },
    // ServiceSpec.ports.
    MultiKey { list: "ports", merge_key: "port", keys: &["port", "protocol"], defaults: &[("protocol", "TCP")] },
    // PodSpec.topologySpreadConstraints.
    MultiKey {
        list: "topologySpreadConstraints",
        merge_key: "topologyKey",
        keys: &["topologyKey", "whenUnsatisfiable"],
        defaults: &[],
    },
];

/// Built-in list maps without a patch strategy (`+listType=map` only), by path suffix.
const BUILTIN_LIST_MAPS: &[(&[&str], &[&str])] = &[
    // CertificateSigningRequestStatus, ValidatingAdmissionPolicyStatus (others carry tags).
    (&["status", "conditions"], &["type"]),
    // ResourceRequirements.claims.
    (&["resources", "claims"], &["name"]),
    // ResourceStatus.resources inside ContainerStatus.allocatedResourcesStatus.
    (&["allocatedResourcesStatus", "resources"], &["resourceID"]),
];

/// Maps every object has whose value is owned whole (`+structType=atomic`).
const UNIVERSAL_ATOMIC_MAPS: &[&[&str]] = &[&["metadata", "ownerReferences"]];

/// Built-in atomic structs and maps, by path suffix: label selectors, node selectors,
/// object and key references.
const BUILTIN_ATOMIC_MAPS: &[&[&str]] = &[
    &["spec", "selector"],
    &["podSelector"],
    &["namespaceSelector"],
    &["objectSelector"],
    &["labelSelector"],
    &["nodeSelector"],
    &["nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"],
    &["fieldRef"],
    &["resourceFieldRef"],
    &["configMapKeyRef"],
    &["secretKeyRef"],
    &["imagePullSecrets"],
    &["scopeSelector"],
    &["claimRef"],
    &["targetRef"],
    &["involvedObject"],
    &["related"],
];

/// A [`ListSchema`] read from strategic-merge metadata: lists merged by a key are
/// associative by it (by several keys where upstream's list-map keys say so), merged
/// primitive lists are sets, every other list is atomic.
pub struct MergeKeySchema<'a> {
    inner: &'a dyn PatchSchema,
    builtin: bool,
}

impl<'a> MergeKeySchema<'a> {
    /// Adapts `inner` with no knowledge beyond its tags (custom resources).
    #[must_use]
    pub fn new(inner: &'a dyn PatchSchema) -> Self {
        Self { inner, builtin: false }
    }

    /// Adapts the schema of a built-in kind: also applies the tables of built-in list maps
    /// and atomic structs that the patch tags do not express.
    #[must_use]
    pub fn builtin(inner: &'a dyn PatchSchema) -> Self {
        Self { inner, builtin: true }
    }

    fn multi_key(path: &[&str], merge_key: &str) -> Option<&'static MultiKey> {
        let last = path.last()?;
        MULTI_KEY_LISTS.iter().find(|m| m.list == *last && m.merge_key == merge_key)
    }
}

impl std::fmt::Debug for MergeKeySchema<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeKeySchema").field("builtin", &self.builtin).finish_non_exhaustive()
    }
}

impl ListSchema for MergeKeySchema<'_> {
    fn list_kind(&self, path: &[&str]) -> ListKind {
        match self.inner.lookup(path) {
            Some(FieldMeta { strategy: Strategy::Merge, merge_key: Some(key), .. }) => match Self::multi_key(path, key)
            {
                Some(multi) => ListKind::Map(multi.keys.iter().map(|k| (*k).to_owned()).collect()),
                None => ListKind::Map(vec![key.to_owned()]),
            },
            Some(FieldMeta { strategy: Strategy::Merge, merge_key: None, .. }) => ListKind::Set,
            _ if self.builtin => BUILTIN_LIST_MAPS
                .iter()
                .find(|(suffix, _)| path.ends_with(suffix))
                .map_or(ListKind::Atomic, |(_, keys)| ListKind::Map(keys.iter().map(|k| (*k).to_owned()).collect())),
            _ => ListKind::Atomic,
        }
    }

    fn key_default(&self, path: &[&str], key: &str) -> Option<Value> {
        let meta = self.inner.lookup(path)?;
        let multi = Self::multi_key(path, meta.merge_key?)?;
        multi.defaults.iter().find(|(name, _)| *name == key).map(|(_, value)| Value::String((*value).to_owned()))
    }

    fn is_atomic_map(&self, path: &[&str]) -> bool {
        UNIVERSAL_ATOMIC_MAPS.contains(&path)
            || (self.builtin && BUILTIN_ATOMIC_MAPS.iter().any(|suffix| path.ends_with(suffix)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the real built-in Deployment/Service tables.
    struct Tags;

    impl PatchSchema for Tags {
        fn lookup(&self, path: &[&str]) -> Option<FieldMeta<'_>> {
            let merge = |key| Some(FieldMeta { strategy: Strategy::Merge, retain_keys: false, merge_key: key });
            match path {
                ["metadata", "finalizers"] => merge(None),
                ["metadata", "ownerReferences"] => merge(Some("uid")),
                [.., "containers"] => merge(Some("name")),
                [.., "containers", "ports"] => merge(Some("containerPort")),
                ["spec", "ports"] => merge(Some("port")),
                [.., "topologySpreadConstraints"] => merge(Some("topologyKey")),
                [.., "args"] => Some(FieldMeta { strategy: Strategy::Replace, retain_keys: false, merge_key: None }),
                _ => None,
            }
        }
    }

    #[test]
    fn maps_tags_to_list_kinds() {
        let schema = MergeKeySchema::builtin(&Tags);
        let keys = |k: &[&str]| ListKind::Map(k.iter().map(|s| (*s).to_owned()).collect());
        assert_eq!(schema.list_kind(&["spec", "template", "spec", "containers"]), keys(&["name"]));
        assert_eq!(schema.list_kind(&["spec", "containers", "ports"]), keys(&["containerPort", "protocol"]));
        assert_eq!(schema.list_kind(&["spec", "ports"]), keys(&["port", "protocol"]));
        assert_eq!(
            schema.list_kind(&["spec", "topologySpreadConstraints"]),
            keys(&["topologyKey", "whenUnsatisfiable"])
        );
        assert_eq!(schema.list_kind(&["metadata", "finalizers"]), ListKind::Set);
        assert_eq!(schema.list_kind(&["spec", "containers", "args"]), ListKind::Atomic);
        assert_eq!(schema.list_kind(&["status", "conditions"]), keys(&["type"]));
        assert_eq!(MergeKeySchema::new(&Tags).list_kind(&["status", "conditions"]), ListKind::Atomic);
        assert_eq!(schema.key_default(&["spec", "ports"], "protocol"), Some(Value::String("TCP".into())));
        assert_eq!(schema.key_default(&["spec", "ports"], "port"), None);
        assert_eq!(schema.key_default(&["spec", "containers"], "protocol"), None);
        assert!(schema.is_atomic_map(&["spec", "selector"]));
        assert!(schema.is_atomic_map(&["metadata", "ownerReferences"]));
        assert!(!MergeKeySchema::new(&Tags).is_atomic_map(&["spec", "selector"]));
    }
}
