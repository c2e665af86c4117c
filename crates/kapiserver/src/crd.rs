//! CustomResourceDefinitions: accepting their names and serving their resources.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::{Registry, ResourceInfo, STANDARD_VERBS};

/// Sets the status upstream's CRD controllers would: names accepted, established, and the
/// storage version recorded.
pub fn accept(crd: &mut Value) {
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    let mut accepted = names.clone();
    if let (Some(a), Some(kind)) = (accepted.as_object_mut(), names.get("kind").and_then(Value::as_str)) {
        if !a.contains_key("singular") {
            a.insert("singular".into(), json!(kind.to_ascii_lowercase()));
        }
        if !a.contains_key("listKind") {
            a.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let previous: Vec<Value> =
        crd.pointer("/status/storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut stored = previous;
    for v in storage {
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    let now = meta::now_rfc3339();
    let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
    if let Some(m) = crd.as_object_mut() {
        m.insert(
            "status".into(),
            json!({
                "acceptedNames": accepted,
                "conditions": [
                    cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                    cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "storedVersions": stored,
            }),
        );
    }
}

/// The resources a CRD serves (one per served version).
pub fn resources(crd: &Value) -> Vec<ResourceInfo> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
    let names = crd.pointer("/spec/names");
    let s = |f: &str| names.and_then(|n| n.get(f)).and_then(Value::as_str).unwrap_or("").to_owned();
    let list = |f: &str| -> Vec<String> {
        names
            .and_then(|n| n.get(f))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let (kind, plural) = (s("kind"), s("plural"));
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    let singular = if s("singular").is_empty() { kind.to_ascii_lowercase() } else { s("singular") };
    let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .filter_map(|v| {
            let version = v.get("name")?.as_str()?.to_owned();
            let mut subresources = Vec::new();
            if v.pointer("/subresources/status").is_some() {
                subresources.push("status".to_owned());
            }
            if v.pointer("/subresources/scale").is_some() {
                subresources.push("scale".to_owned());
            }
            Some(ResourceInfo {
                group: group.to_owned(),
                version,
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: list("shortNames"),
                categories: list("categories"),
                verbs: STANDARD_VERBS.iter().map(|v| (*v).to_owned()).collect(),
                subresources,
            })
        })
        .collect()
}

/// Serves (or stops serving) what `crd` defines.
pub fn register(registry: &Registry, crd: &Value) {
    let name = meta::name(crd);
    let serving = crd.pointer("/metadata/deletionTimestamp").is_none();
    registry.set_custom(name, if serving { resources(crd) } else { Vec::new() });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;

    fn widget() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                    {"name": "v1beta1", "served": false, "storage": false}
                ]}
        })
    }

    #[test]
    fn served_versions_become_resources() {
        let rs = resources(&widget());
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].plural, "widgets");
        assert_eq!(rs[0].singular, "widget");
        assert!(rs[0].has_subresource("status"));
        let reg = Registry::new(builtin());
        register(&reg, &widget());
        assert!(reg.find("example.com", "v1", "widgets").is_some());
    }

    #[test]
    fn accepted_status_records_the_storage_version() {
        let mut c = widget();
        accept(&mut c);
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(c["status"]["acceptedNames"]["listKind"], "WidgetList");
        assert_eq!(c["status"]["conditions"][1]["type"], "Established");
    }
}
