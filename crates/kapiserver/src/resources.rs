//! The served resources: the built-in table and the registry that custom resources join.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kapi::ApiResource;

/// One served resource, as discovery, OpenAPI and the REST handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, empty for core.
    pub group: String,
    /// Version served.
    pub version: String,
    /// CamelCase kind.
    pub kind: String,
    /// Lowercase plural (the path segment).
    pub plural: String,
    /// Lowercase singular.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// `kubectl get` short names.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Verbs on the main resource.
    pub verbs: Vec<String>,
    /// Subresources: `status`, `scale`, `binding`, `log`, `eviction`, ...
    pub subresources: Vec<String>,
}

/// The verbs of an ordinary resource.
pub const STANDARD_VERBS: [&str; 8] =
    ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl ResourceInfo {
    /// An ordinary resource with the standard verbs.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: STANDARD_VERBS.iter().map(|v| (*v).to_owned()).collect(),
            subresources: Vec::new(),
        }
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    fn all(mut self) -> Self {
        self.categories.push("all".into());
        self
    }

    fn sub(mut self, subs: &[&str]) -> Self {
        self.subresources = subs.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    fn verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = verbs.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// `v1` for core, else `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Whether `sub` is served.
    pub fn has_subresource(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }

    /// Whether `verb` is allowed on the main resource.
    pub fn allows(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The kapi description (keys, paths).
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            namespaced: self.namespaced,
        }
    }
}

/// Whether `group`/`plural` is one of the [`builtin`] resources (not a custom resource).
pub fn is_builtin(group: &str, plural: &str) -> bool {
    static BUILTIN: std::sync::OnceLock<std::collections::HashSet<(String, String)>> = std::sync::OnceLock::new();
    BUILTIN
        .get_or_init(|| builtin().into_iter().map(|r| (r.group, r.plural)).collect())
        .contains(&(group.to_owned(), plural.to_owned()))
}

/// The built-in resources this server serves, with upstream's short names, categories and
/// subresources (Kubernetes 1.33).
pub fn builtin() -> Vec<ResourceInfo> {
    let r = ResourceInfo::new;
    vec![
        r("", "v1", "Binding", "bindings", true).verbs(&["create"]),
        r("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
        r("", "v1", "Endpoints", "endpoints", true).short(&["ep"]),
        r("", "v1", "Event", "events", true).short(&["ev"]),
        r("", "v1", "LimitRange", "limitranges", true).short(&["limits"]),
        r("", "v1", "Namespace", "namespaces", false)
            .short(&["ns"])
            .sub(&["finalize", "status"])
            .verbs(&["create", "delete", "get", "list", "patch", "update", "watch"]),
        r("", "v1", "Node", "nodes", false).short(&["no"]).sub(&["status"]),
        r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true).short(&["pvc"]).sub(&["status"]),
        r("", "v1", "PersistentVolume", "persistentvolumes", false).short(&["pv"]).sub(&["status"]),
        r("", "v1", "Pod", "pods", true).short(&["po"]).all().sub(&["binding", "eviction", "log", "status"]),
        r("", "v1", "PodTemplate", "podtemplates", true),
        r("", "v1", "ReplicationController", "replicationcontrollers", true)
            .short(&["rc"])
            .all()
            .sub(&["scale", "status"]),
        r("", "v1", "ResourceQuota", "resourcequotas", true).short(&["quota"]).sub(&["status"]),
        r("", "v1", "Secret", "secrets", true),
        r("", "v1", "ServiceAccount", "serviceaccounts", true).short(&["sa"]),
        r("", "v1", "Service", "services", true).short(&["svc"]).all().sub(&["status"]).verbs(&[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]),
        r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false)
            .short(&["crd", "crds"])
            .sub(&["status"]),
        r("apps", "v1", "ControllerRevision", "controllerrevisions", true),
        r("apps", "v1", "DaemonSet", "daemonsets", true).short(&["ds"]).all().sub(&["status"]),
        r("apps", "v1", "Deployment", "deployments", true).short(&["deploy"]).all().sub(&["scale", "status"]),
        r("apps", "v1", "ReplicaSet", "replicasets", true).short(&["rs"]).all().sub(&["scale", "status"]),
        r("apps", "v1", "StatefulSet", "statefulsets", true).short(&["sts"]).all().sub(&["scale", "status"]),
        r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true)
            .short(&["hpa"])
            .all()
            .sub(&["status"]),
        r("batch", "v1", "CronJob", "cronjobs", true).short(&["cj"]).all().sub(&["status"]),
        r("batch", "v1", "Job", "jobs", true).all().sub(&["status"]),
        r("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", false)
            .short(&["csr"])
            .sub(&["approval", "status"]),
        r("coordination.k8s.io", "v1", "Lease", "leases", true),
        r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true),
        r("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
        r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false),
        r("networking.k8s.io", "v1", "Ingress", "ingresses", true).short(&["ing"]).sub(&["status"]),
        r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true).short(&["pdb"]).sub(&["status"]),
        r("storage.k8s.io", "v1", "StorageClass", "storageclasses", false).short(&["sc"]),
    ]
}

/// All served resources, built-in and custom; cheap to read, replaced wholesale when a
/// CustomResourceDefinition is established or removed.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<Arc<Vec<ResourceInfo>>>>,
    crd_versions: Arc<crate::crd::CrdVersions>,
}

impl Registry {
    /// A registry serving `resources`.
    pub fn new(resources: Vec<ResourceInfo>) -> Self {
        Self { inner: Arc::new(RwLock::new(Arc::new(resources))), crd_versions: Arc::default() }
    }

    /// Schemas, printer columns and scale paths of the served CRD versions.
    pub fn crd_versions(&self) -> &crate::crd::CrdVersions {
        &self.crd_versions
    }

    /// The current resources.
    pub fn snapshot(&self) -> Arc<Vec<ResourceInfo>> {
        match self.inner.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Finds the resource at `group`/`version`/`plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        self.snapshot().iter().find(|r| r.group == group && r.version == version && r.plural == plural).cloned()
    }

    /// Whether any resource is served in `group`/`version`.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.snapshot().iter().any(|r| r.group == group && r.version == version)
    }

    /// Replaces the custom resources of `group` (all versions) with `resources`.
    pub fn set_custom(&self, crd_name: &str, resources: Vec<ResourceInfo>) {
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next: Vec<ResourceInfo> = g
            .iter()
            .filter(|r| format!("{}.{}", r.plural, r.group) != crd_name || r.group.is_empty())
            .cloned()
            .collect();
        next.extend(resources);
        *g = Arc::new(next);
    }

    /// Group/versions in discovery order: core first, then groups by name with versions
    /// in the order they were added.
    pub fn group_versions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.snapshot().iter() {
            let versions = out.entry(r.group.clone()).or_default();
            if !versions.contains(&r.version) {
                versions.push(r.version.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_kinds_kubectl_users_expect() {
        let reg = Registry::new(builtin());
        let deploy = reg.find("apps", "v1", "deployments").unwrap();
        assert!(deploy.has_subresource("scale"));
        assert_eq!(deploy.short_names, ["deploy"]);
        assert!(reg.find("", "v1", "pods").unwrap().categories.contains(&"all".to_owned()));
        assert!(!reg.find("", "v1", "nodes").unwrap().namespaced);
        assert!(reg.serves("batch", "v1"));
        assert!(reg.find("", "v1", "bindings").unwrap().allows("create"));
        assert!(!reg.find("", "v1", "bindings").unwrap().allows("list"));
    }

    #[test]
    fn custom_resources_are_replaced_per_definition() {
        let reg = Registry::new(builtin());
        let n = reg.snapshot().len();
        reg.set_custom("widgets.example.com", vec![ResourceInfo::new("example.com", "v1", "Widget", "widgets", true)]);
        assert_eq!(reg.snapshot().len(), n + 1);
        reg.set_custom("widgets.example.com", vec![]);
        assert_eq!(reg.snapshot().len(), n);
    }
}
