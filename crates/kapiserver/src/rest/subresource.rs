//! Subresources other than `status`: `scale` (autoscaling/v1 Scale), `pods/binding`,
//! `pods/eviction` and `namespaces/finalize`.

use kapi::StatusError;
use serde_json::{Value, json};

use super::write::{WriteOptions, WriteOutcome, check_type, conflict};
use super::{Api, MAX_RETRIES, strategy};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;

/// The Scale view of a scalable object.
pub fn to_scale(obj: &Value) -> Value {
    let selector = obj.pointer("/spec/selector").map(selector_string).unwrap_or_default();
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// A label selector (LabelSelector object or a map, as ReplicationController has) as text.
fn selector_string(sel: &Value) -> String {
    if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() {
        serde_json::from_value::<kapi::k8s::apimachinery::pkg::apis::meta::v1::LabelSelector>(sel.clone())
            .ok()
            .and_then(|ls| kapi::labels::Selector::from_label_selector(Some(&ls)).ok())
            .map(|s| s.to_string())
            .unwrap_or_default()
    } else {
        let map = meta::string_map(Some(sel));
        kapi::labels::Selector::from_set(map).map(|s| s.to_string()).unwrap_or_default()
    }
}

impl Api {
    /// The Scale of `obj`: by the CRD's scale paths for custom resources.
    fn scale_of(&self, res: &ResourceInfo, obj: &Value) -> Result<Value, StatusError> {
        let mut scale = to_scale(obj);
        let paths =
            self.registry().crd_versions().get(&res.group, &res.version, &res.plural).and_then(|v| v.scale.clone());
        if let Some(paths) = paths {
            let st = crate::crd::schema::read_scale(obj, &paths).map_err(StatusError::internal)?;
            scale["spec"]["replicas"] = json!(st.spec_replicas);
            scale["status"] = json!({"replicas": st.status_replicas, "selector": st.selector});
        }
        Ok(scale)
    }

    /// Sets the replicas of `obj` (by the CRD's spec path for custom resources).
    fn set_replicas(&self, res: &ResourceInfo, obj: &mut Value, replicas: i64) -> Result<(), StatusError> {
        let paths =
            self.registry().crd_versions().get(&res.group, &res.version, &res.plural).and_then(|v| v.scale.clone());
        if let Some(paths) = paths {
            return crate::crd::schema::write_path(obj, &paths.spec_replicas, json!(replicas))
                .map_err(|e| StatusError::bad_request(e.to_string()));
        }
        if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        Ok(())
    }

    /// `GET …/scale`.
    pub async fn get_scale(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, StatusError> {
        let obj = self.get(res, namespace, name).await?;
        self.scale_of(res, &obj)
    }

    /// `PUT`/`PATCH …/scale`: `change` turns the current Scale into the wanted one.
    pub async fn update_scale(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        change: ScaleChange<'_>,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, StatusError> {
        let key = self.storage().key(res, namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let (current, rev) = self.storage().get(res, key.clone(), name).await?;
            let scale = self.scale_of(res, &current)?;
            let wanted = match &change {
                ScaleChange::Replace(v) => (*v).clone(),
                ScaleChange::Patch(t, body) => {
                    patch::apply_patch(*t, &scale, body, patch::builtin_schema("autoscaling", "Scale"))
                        .map_err(|e| StatusError::bad_request(e.to_string()))?
                }
            };
            if let Some(rv) = wanted.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                if !rv.is_empty() && rv != rev.to_string() {
                    return Err(conflict(res, name));
                }
            }
            let replicas = wanted.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
            if replicas < 0 {
                return Err(StatusError::invalid(
                    "autoscaling",
                    "Scale",
                    name,
                    vec![kapi::status::Cause {
                        kind: "FieldValueInvalid".into(),
                        field: "spec.replicas".into(),
                        message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                    }],
                ));
            }
            let mut next = current.clone();
            self.set_replicas(res, &mut next, replicas)?;
            strategy::prepare_update(res, &mut next, &current, super::write::is_custom(res));
            match self.store_update(res, key.clone(), next, &current, rev, Some("scale"), opts, true).await {
                Ok(obj) => {
                    return Ok(WriteOutcome {
                        object: self.scale_of(res, &obj)?,
                        created: false,
                        warnings: Vec::new(),
                    });
                }
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(res, name))
    }

    /// `POST pods/{name}/binding` (and `POST bindings`): assigns a pod to a node once.
    pub async fn bind(
        &self,
        pods: &ResourceInfo,
        namespace: &str,
        name: &str,
        binding: &Value,
    ) -> Result<Value, StatusError> {
        let target = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
        if target.is_empty() {
            return Err(StatusError::invalid(
                "",
                "Binding",
                name,
                vec![kapi::status::Cause {
                    kind: "FieldValueRequired".into(),
                    field: "target.name".into(),
                    message: "Required value".into(),
                }],
            ));
        }
        let key = self.storage().key(pods, Some(namespace), name)?;
        for _ in 0..MAX_RETRIES {
            let (current, rev) = self.storage().get(pods, key.clone(), name).await?;
            if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str) {
                if Some(uid) != meta::meta_str(&current, "uid") {
                    return Err(conflict(pods, name));
                }
            }
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(StatusError::conflict(
                    &crate::storage::gr(pods),
                    name,
                    "pod is being deleted, cannot be assigned to a host",
                ));
            }
            if current.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
                return Err(StatusError::conflict(
                    &crate::storage::gr(pods),
                    name,
                    format!(
                        "pod {name} is already assigned to node {:?}",
                        current.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("")
                    ),
                ));
            }
            let mut next = current.clone();
            if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("nodeName".into(), json!(target));
            }
            let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now_rfc3339()});
            let status = next.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})));
            if let Some(status) = status.and_then(Value::as_object_mut) {
                let conds = status.entry("conditions").or_insert_with(|| json!([]));
                if let Some(arr) = conds.as_array_mut() {
                    arr.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                    arr.push(cond.clone());
                }
            }
            match self.storage().update(pods, key.clone(), &mut next, rev).await {
                Ok(_) => {
                    return Ok(
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                    );
                }
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(pods, name))
    }

    /// `PUT namespaces/{name}/finalize`: replaces `spec.finalizers` only.
    pub async fn finalize_namespace(
        &self,
        res: &ResourceInfo,
        name: &str,
        mut body: Value,
    ) -> Result<Value, StatusError> {
        check_type(res, &mut body)?;
        let key = self.storage().key(res, None, name)?;
        let finalizers = body.pointer("/spec/finalizers").cloned().unwrap_or_else(|| json!([]));
        for _ in 0..MAX_RETRIES {
            let (current, rev) = self.storage().get(res, key.clone(), name).await?;
            let mut next = current.clone();
            if let Some(m) = next.as_object_mut() {
                let spec = m.entry("spec").or_insert_with(|| json!({}));
                if let Some(spec) = spec.as_object_mut() {
                    spec.insert("finalizers".into(), finalizers.clone());
                }
            }
            match self.storage().update(res, key.clone(), &mut next, rev).await {
                Ok(_) => return Ok(next),
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(res, name))
    }
}

/// How a scale request changes the Scale.
#[derive(Debug)]
pub enum ScaleChange<'a> {
    /// `PUT` with a whole Scale.
    Replace(&'a Value),
    /// `PATCH` of the Scale.
    Patch(PatchType, &'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_of_a_deployment() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
        let rc = json!({"metadata": {"name": "r"}, "spec": {"replicas": 1, "selector": {"app": "x"}}});
        assert_eq!(to_scale(&rc)["status"]["selector"], "app=x");
    }
}
