//! Request paths: what a URL names (upstream's RequestInfo).

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`
    LegacyRoot,
    /// `/apis`
    GroupsRoot,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    GroupVersion {
        /// Group ("" = core).
        group: String,
        /// Version.
        version: String,
    },
    /// A resource collection, object or subresource.
    Resource(ResourcePath),
    /// `/version`
    Version,
    /// `/healthz`, `/livez`, `/readyz` (and their `/…/<check>` forms)
    Health,
    /// `/metrics`
    Metrics,
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiV3Root,
    /// `/openapi/v3/{api/v1 | apis/g/v}`
    OpenApiV3(String),
    /// Anything else.
    NotFound,
}

/// A path under a group/version naming resources.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    /// Group ("" = core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from `/namespaces/{ns}/…`.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, …).
    pub subresource: Option<String>,
}

/// Parses a request path (without the query).
pub fn parse(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") && path != "/" {
        return Route::NotFound;
    }
    match parts.as_slice() {
        ["api"] => Route::LegacyRoot,
        ["apis"] => Route::GroupsRoot,
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["metrics"] => Route::Metrics,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3(rest.join("/")),
        ["api", version] => Route::GroupVersion { group: String::new(), version: (*version).into() },
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group] => Route::Group((*group).into()),
        ["apis", group, version] => Route::GroupVersion { group: (*group).into(), version: (*version).into() },
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let base = ResourcePath { group: group.into(), version: version.into(), ..ResourcePath::default() };
    let with = |ns: Option<&str>, r: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            namespace: ns.map(str::to_owned),
            resource: r.into(),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
            ..base.clone()
        })
    };
    match rest {
        // `namespaces/{name}/status|finalize` are subresources of the namespace itself.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            with(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, r] => with(Some(ns), r, None, None),
        ["namespaces", ns, r, name] => with(Some(ns), r, Some(name), None),
        ["namespaces", ns, r, name, sub] => with(Some(ns), r, Some(name), Some(sub)),
        [r] => with(None, r, None, None),
        [r, name] => with(None, r, Some(name), None),
        [r, name, sub] => with(None, r, Some(name), Some(sub)),
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn resource_paths() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (r.namespace.as_deref(), r.resource.as_str(), r.name.as_deref(), r.subresource.as_deref()),
            (Some("default"), "pods", Some("web"), Some("status"))
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.group.as_str(), r.namespace, r.resource.as_str()), ("apps", None, "deployments"));
        let r = res("/api/v1/namespaces");
        assert_eq!((r.resource.as_str(), r.name), ("namespaces", None));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!((r.resource.as_str(), r.name.as_deref(), r.namespace), ("namespaces", Some("kube-system"), None));
        let r = res("/api/v1/namespaces/x/finalize");
        assert_eq!((r.name.as_deref(), r.subresource.as_deref()), (Some("x"), Some("finalize")));
        let r = res("/api/v1/namespaces/x/configmaps");
        assert_eq!((r.namespace.as_deref(), r.resource.as_str()), (Some("x"), "configmaps"));
        let r = res("/api/v1/nodes/n1/status");
        assert_eq!((r.name.as_deref(), r.subresource.as_deref()), (Some("n1"), Some("status")));
    }

    #[test]
    fn roots_and_garbage() {
        assert_eq!(parse("/api"), Route::LegacyRoot);
        assert_eq!(parse("/apis/"), Route::GroupsRoot);
        assert_eq!(parse("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(parse("/api/v1"), Route::GroupVersion { group: String::new(), version: "v1".into() });
        assert_eq!(parse("/openapi/v3/apis/apps/v1"), Route::OpenApiV3("apis/apps/v1".into()));
        assert_eq!(parse("/healthz/etcd"), Route::Health);
        assert_eq!(parse("/api/v1/namespaces/a/pods/b/c/d"), Route::NotFound);
        assert_eq!(parse("/api/v1//pods"), Route::NotFound);
        assert_eq!(parse("/api/v1/namespaces/../pods"), Route::NotFound);
        assert_eq!(parse("/nope"), Route::NotFound);
    }
}
