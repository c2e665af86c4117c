//! Discovery documents: `/api`, `/apis`, per-group-version resource lists, and
//! aggregated discovery (apidiscovery.k8s.io v2 and v2beta1) on `/api` and `/apis`.

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceInfo};

/// Verbs of a subresource, as upstream lists them.
fn sub_verbs(sub: &str) -> &'static [&'static str] {
    match sub {
        "binding" | "eviction" => &["create"],
        "log" => &["get"],
        "finalize" => &["update"],
        _ => &["get", "patch", "update"],
    }
}

/// The kind a subresource returns.
fn sub_kind(res: &ResourceInfo, sub: &str) -> (String, String, String) {
    match sub {
        "scale" => ("autoscaling".into(), "v1".into(), "Scale".into()),
        "binding" => (String::new(), "v1".into(), "Binding".into()),
        "eviction" => ("policy".into(), "v1".into(), "Eviction".into()),
        _ => (res.group.clone(), res.version.clone(), res.kind.clone()),
    }
}

fn scope(res: &ResourceInfo) -> &'static str {
    if res.namespaced { "Namespaced" } else { "Cluster" }
}

/// `/api` (APIVersions).
pub(super) fn legacy_root(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis` (APIGroupList).
pub(super) fn groups(registry: &Registry) -> Value {
    let groups: Vec<Value> =
        registry.group_versions().iter().filter(|(g, _)| !g.is_empty()).map(|(g, vs)| group_entry(g, vs)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}` (APIGroup), if served.
pub(super) fn group(registry: &Registry, group: &str) -> Option<Value> {
    let gvs = registry.group_versions();
    let vs = gvs.get(group).filter(|_| !group.is_empty())?;
    let mut g = group_entry(group, vs);
    if let Some(m) = g.as_object_mut() {
        m.insert("kind".into(), json!("APIGroup"));
        m.insert("apiVersion".into(), json!("v1"));
    }
    Some(g)
}

/// `/api/v1`, `/apis/{g}/{v}` (APIResourceList), if served.
pub(super) fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for r in registry.snapshot().iter().filter(|r| r.group == group && r.version == version) {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": r.verbs, "shortNames": r.short_names, "categories": r.categories,
        }));
        for sub in &r.subresources {
            let (g, v, k) = sub_kind(r, sub);
            let mut entry = json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": k, "verbs": sub_verbs(sub),
            });
            if (g.as_str(), v.as_str()) != (group, version) {
                if let Some(m) = entry.as_object_mut() {
                    m.insert("group".into(), json!(g));
                    m.insert("version".into(), json!(v));
                }
            }
            resources.push(entry);
        }
    }
    let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// Aggregated discovery for `/api` (`legacy`) or `/apis`, in `version` (`v2` or `v2beta1`).
pub(super) fn aggregated(registry: &Registry, legacy: bool, version: &str) -> Value {
    let snapshot = registry.snapshot();
    let mut items = Vec::new();
    for (group, versions) in registry.group_versions() {
        if group.is_empty() != legacy {
            continue;
        }
        let mut vs = Vec::new();
        for v in &versions {
            let mut resources = Vec::new();
            for r in snapshot.iter().filter(|r| r.group == group && &r.version == v) {
                let subs: Vec<Value> = r
                    .subresources
                    .iter()
                    .map(|s| {
                        let (g, sv, k) = sub_kind(r, s);
                        json!({"subresource": s, "responseKind": {"group": g, "version": sv, "kind": k}, "verbs": sub_verbs(s)})
                    })
                    .collect();
                let mut entry = json!({
                    "resource": r.plural,
                    "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                    "scope": scope(r), "singularResource": r.singular, "verbs": r.verbs,
                });
                if let Some(m) = entry.as_object_mut() {
                    if !r.short_names.is_empty() {
                        m.insert("shortNames".into(), json!(r.short_names));
                    }
                    if !r.categories.is_empty() {
                        m.insert("categories".into(), json!(r.categories));
                    }
                    if !subs.is_empty() {
                        m.insert("subresources".into(), json!(subs));
                    }
                }
                resources.push(entry);
            }
            vs.push(json!({"version": v, "resources": resources, "freshness": "Current"}));
        }
        let metadata =
            if legacy { json!({"creationTimestamp": null}) } else { json!({"name": group, "creationTimestamp": null}) };
        items.push(json!({"metadata": metadata, "versions": vs}));
    }
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// The aggregated-discovery version the Accept header asks for, if any.
pub(super) fn wants_aggregated(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
        if params.first().is_some_and(|b| *b == "application/json") && params.len() == 1 {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    #[test]
    fn resource_lists_name_subresources_and_scale_kind() {
        let reg = Registry::new(builtin());
        let apps = resource_list(&reg, "apps", "v1").unwrap();
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list(&reg, "apps", "v9").is_none());
        assert!(groups(&reg)["groups"].as_array().unwrap().iter().any(|g| g["name"] == "batch"));
    }

    #[test]
    fn aggregated_discovery_shapes() {
        let reg = Registry::new(builtin());
        let core = aggregated(&reg, true, "v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["scope"], "Namespaced");
        let a = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(Some(a)), Some("v2"));
        assert_eq!(
            wants_aggregated(Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")),
            Some("v2beta1")
        );
        assert_eq!(wants_aggregated(Some("application/json")), None);
    }
}
