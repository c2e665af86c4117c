//! CustomResourceDefinitions: accepting their names and serving their resources; `schema`
//! validates, prunes and defaults custom resources by their structural schemas.

pub mod schema;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use crate::meta;
use crate::resources::{Registry, ResourceInfo, STANDARD_VERBS};

/// What the server needs of one served CRD version to handle its objects.
#[derive(Debug)]
pub struct CrdVersion {
    /// The structural schema (`openAPIV3Schema`), defaults already pruned.
    pub schema: Option<schema::Structural>,
    /// `additionalPrinterColumns` (Name and Age when none).
    pub printer: schema::PrinterColumns,
    /// The scale subresource's paths.
    pub scale: Option<schema::ScalePaths>,
}

type VersionKey = (String, String, String);

/// The served CRD versions by (group, version, plural).
#[derive(Debug, Default)]
pub struct CrdVersions {
    inner: RwLock<HashMap<VersionKey, Arc<CrdVersion>>>,
}

impl CrdVersions {
    /// The version of `group`/`version`/`plural`, if a CRD serves it.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<CrdVersion>> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        g.get(&(group.to_owned(), version.to_owned(), plural.to_owned())).cloned()
    }

    fn set(&self, crd: &Value, serving: bool) {
        let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("").to_owned();
        let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.retain(|(gr, _, pl), _| !(gr == &group && pl == &plural));
        if !serving {
            return;
        }
        for v in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = v.get("name").and_then(Value::as_str) else { continue };
            let schema = v.pointer("/schema/openAPIV3Schema").and_then(|s| schema::Structural::from_json(s).ok()).map(
                |mut s| {
                    s.prune_defaults();
                    s
                },
            );
            let version =
                CrdVersion { schema, printer: schema::PrinterColumns::from_version(v), scale: schema::scale_paths(v) };
            g.insert((group.clone(), name.to_owned(), plural.clone()), Arc::new(version));
        }
    }
}

/// Problems with a CRD's schemas: upstream's structural-schema rules per version.
pub fn check_schemas(crd: &Value) -> Vec<kapi::status::Cause> {
    let mut out = Vec::new();
    for (i, v) in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            for e in schema::check_structural_at(&path, s) {
                out.push(kapi::status::Cause { kind: e.reason.to_owned(), field: e.field, message: e.message });
            }
        }
    }
    out
}

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
    registry.crd_versions().set(crd, serving);
    registry.set_custom(name, if serving { resources(crd) } else { Vec::new() });
}

/// Stops serving what `crd` defined.
pub fn unregister(registry: &Registry, crd: &Value) {
    registry.crd_versions().set(crd, false);
    registry.set_custom(meta::name(crd), Vec::new());
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
