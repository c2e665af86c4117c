//! Built-in admission: what upstream's admission plugins and registry hooks add to writes
//! (service IP/port allocation, the pod's service account, CRD registration).

use std::collections::HashSet;

use kapi::StatusError;
use kapi::status::Cause;
use serde_json::{Value, json};

use super::Api;
use crate::crd;
use crate::filter::Filter;
use crate::meta;
use crate::resources::ResourceInfo;

fn is(res: &ResourceInfo, group: &str, kind: &str) -> bool {
    res.group == group && res.kind == kind
}

fn alloc_invalid(field: &str, e: crate::alloc::AllocError) -> StatusError {
    StatusError::invalid(
        "",
        "Service",
        "",
        vec![Cause { kind: "FieldValueInvalid".into(), field: field.into(), message: format!("Invalid value: {e}") }],
    )
}

fn check_crd(obj: &Value) -> Result<(), StatusError> {
    let causes = crd::check_schemas(obj);
    if causes.is_empty() {
        return Ok(());
    }
    Err(StatusError::invalid("apiextensions.k8s.io", "CustomResourceDefinition", meta::name(obj), causes))
}

/// The `DefaultTolerationSeconds` admission plugin: pods tolerate a not-ready or
/// unreachable node for 300 s before the taint-eviction controller deletes them, unless
/// they say otherwise.
fn default_toleration_seconds(spec: &mut serde_json::Map<String, Value>) {
    const TAINTS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if tolerations.is_null() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else { return };
    for taint in TAINTS {
        // Any toleration of this key with the NoExecute effect (or of every effect) counts.
        let covered = list.iter().any(|t| {
            let key = t.get("key").and_then(Value::as_str).unwrap_or("");
            let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
            let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
            (key == taint || (key.is_empty() && op == "Exists")) && (effect.is_empty() || effect == "NoExecute")
        });
        if !covered {
            list.push(json!({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

impl Api {
    pub(super) async fn admit_create(&self, res: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
        if is(res, "", "Service") {
            self.allocate_service(res, obj, None)?;
        } else if is(res, "", "Pod") {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                let sa = spec
                    .get("serviceAccountName")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("default")
                    .to_owned();
                spec.insert("serviceAccountName".into(), json!(sa));
                spec.insert("serviceAccount".into(), json!(sa));
                default_toleration_seconds(spec);
            }
        } else if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            check_crd(obj)?;
            crd::accept(obj);
        }
        Ok(())
    }

    pub(super) fn admit_update(&self, res: &ResourceInfo, obj: &mut Value, old: &Value) -> Result<(), StatusError> {
        if is(res, "", "Service") {
            // Allocated values carry over when the client left them out (client-side apply).
            if let (Some(spec), Some(old_spec)) = (obj.get_mut("spec").and_then(Value::as_object_mut), old.get("spec"))
            {
                for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                    let empty =
                        spec.get(f).is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty));
                    if empty {
                        if let Some(v) = old_spec.get(f) {
                            spec.insert(f.into(), v.clone());
                        }
                    }
                }
                if let (Some(ports), Some(old_ports)) = (
                    spec.get_mut("ports").and_then(Value::as_array_mut),
                    old_spec.get("ports").and_then(Value::as_array),
                ) {
                    for p in ports.iter_mut() {
                        if p.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                            continue;
                        }
                        let same = old_ports
                            .iter()
                            .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"));
                        if let (Some(np), Some(pm)) = (same.and_then(|o| o.get("nodePort")), p.as_object_mut()) {
                            pm.insert("nodePort".into(), np.clone());
                        }
                    }
                }
            }
            self.allocate_service(res, obj, Some(old))?;
        } else if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            check_crd(obj)?;
            crd::accept(obj);
        }
        Ok(())
    }

    /// Fills `clusterIP(s)` and node ports.
    fn allocate_service(&self, res: &ResourceInfo, obj: &mut Value, old: Option<&Value>) -> Result<(), StatusError> {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_owned();
        if ty == "ExternalName" {
            return Ok(());
        }
        let (mut taken_ips, mut taken_ports) = (HashSet::new(), HashSet::new());
        let own_uid = old.and_then(|o| meta::meta_str(o, "uid"));
        for item in self.cache(res).list(&Filter::namespace(None), None, 0).0 {
            if own_uid.is_some() && meta::meta_str(&item.value, "uid") == own_uid {
                continue;
            }
            if let Some(ip) = item.value.pointer("/spec/clusterIP").and_then(Value::as_str) {
                taken_ips.insert(ip.to_owned());
            }
            for p in item.value.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
                if let Some(np) = p.get("nodePort").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()) {
                    taken_ports.insert(np);
                }
            }
        }
        let current_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("").to_owned();
        let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).and_then(Value::as_str).unwrap_or("");
        if current_ip != "None" && (current_ip.is_empty() || current_ip != old_ip) {
            let wanted = (!current_ip.is_empty()).then_some(current_ip.as_str());
            let ip =
                self.services().allocate_ip(wanted, &taken_ips).map_err(|e| alloc_invalid("spec.clusterIPs", e))?;
            spec.insert("clusterIP".into(), json!(ip.to_string()));
            spec.insert("clusterIPs".into(), json!([ip.to_string()]));
        } else if current_ip == "None" {
            spec.insert("clusterIPs".into(), json!(["None"]));
        }
        if spec.get("ipFamilies").is_none() {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
        }
        if spec.get("ipFamilyPolicy").is_none() {
            spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
        }
        let wants_node_ports = ty == "NodePort" || ty == "LoadBalancer";
        let old_ports: HashSet<u16> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("nodePort").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()))
            .collect();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                let Some(pm) = p.as_object_mut() else { continue };
                if !wants_node_ports {
                    pm.remove("nodePort");
                    continue;
                }
                let wanted =
                    pm.get("nodePort").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()).unwrap_or(0);
                if wanted != 0 && old_ports.contains(&wanted) {
                    continue;
                }
                let port = self
                    .services()
                    .allocate_port(wanted, &taken_ports)
                    .map_err(|e| alloc_invalid(&format!("spec.ports[{i}].nodePort"), e))?;
                taken_ports.insert(port);
                pm.insert("nodePort".into(), json!(port));
            }
        }
        Ok(())
    }

    /// Hooks that follow a successful write.
    pub(super) fn after_write(&self, res: &ResourceInfo, obj: &Value) {
        if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            crd::register(self.registry(), obj);
            self.start_caches();
        }
    }

    /// Hooks that follow a deletion.
    pub(super) fn after_delete(&self, res: &ResourceInfo, obj: &Value) {
        if is(res, "apiextensions.k8s.io", "CustomResourceDefinition") {
            crd::unregister(self.registry(), obj);
        }
    }
}
