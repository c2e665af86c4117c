//! API discovery: which resources the server serves, with their verbs, in each group's
//! preferred version — what the namespace controller and the garbage collector iterate.

use kapi::ApiResource;
use kwatch::http::{Client, ClientError};
use serde_json::Value;

/// A served resource and its verbs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The resource.
    pub resource: ApiResource,
    /// Its verbs (`list`, `watch`, `delete`, `deletecollection` …).
    pub verbs: Vec<String>,
}

impl Discovered {
    /// Whether it supports `verb`.
    pub fn can(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// Failures of one group-version are collected rather than fatal: the rest is still usable
/// (upstream's `ErrGroupDiscoveryFailed`).
#[derive(Debug, Default)]
pub struct Discovery {
    /// The resources found.
    pub resources: Vec<Discovered>,
    /// Group-versions that could not be read, with the error.
    pub failed: Vec<(String, String)>,
}

fn resources_of(group: &str, version: &str, list: &Value) -> Vec<Discovered> {
    let Some(items) = list.get("resources").and_then(Value::as_array) else { return Vec::new() };
    items
        .iter()
        .filter_map(|r| {
            let plural = r.get("name")?.as_str()?;
            // Subresources (`pods/status`) are not collections.
            if plural.contains('/') {
                return None;
            }
            let verbs = r
                .get("verbs")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            Some(Discovered {
                resource: ApiResource {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    kind: r.get("kind")?.as_str()?.to_owned(),
                    plural: plural.to_owned(),
                    namespaced: r.get("namespaced").and_then(Value::as_bool).unwrap_or(false),
                },
                verbs,
            })
        })
        .collect()
}

/// Reads `/api/v1` and every group's preferred version under `/apis`.
///
/// # Errors
/// Only when the group list itself cannot be read; failures of single group-versions are
/// reported in [`Discovery::failed`].
pub async fn discover(client: &Client) -> Result<Discovery, ClientError> {
    let mut out = Discovery::default();
    match client.get_json("/api/v1").await {
        Ok(v) => out.resources.extend(resources_of("", "v1", &v)),
        Err(e) => out.failed.push(("v1".into(), e.to_string())),
    }
    let groups = client.get_json("/apis").await?;
    for g in groups.get("groups").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = g.get("name").and_then(Value::as_str) else { continue };
        let Some(version) = g.pointer("/preferredVersion/version").and_then(Value::as_str) else { continue };
        match client.get_json(&format!("/apis/{name}/{version}")).await {
            Ok(v) => out.resources.extend(resources_of(name, version, &v)),
            Err(e) => out.failed.push((format!("{name}/{version}"), e.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subresources_are_skipped() {
        let list = json!({"resources": [
            {"name": "pods", "kind": "Pod", "namespaced": true, "verbs": ["list", "delete", "deletecollection"]},
            {"name": "pods/status", "kind": "Pod", "namespaced": true, "verbs": ["get"]},
        ]});
        let r = resources_of("", "v1", &list);
        assert_eq!(r.len(), 1);
        assert!(r[0].can("deletecollection"));
        assert_eq!(r[0].resource.plural, "pods");
    }
}
