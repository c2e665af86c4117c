//! Unknown-field detection for built-in kinds by a round trip through k8s-openapi's types:
//! a field of the request that does not come back is not part of the schema. The same
//! decode reports type errors (a string where a list belongs) like upstream's decoder.

use k8s_openapi::api::{
    apps, autoscaling, batch, certificates, coordination, core, discovery, events, networking, policy, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(kind: &str, version: &str, obj: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone())
        .map_err(|e| format!("{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"))?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// The round-tripped form of a built-in object, or `None` for kinds without a typed model
/// (custom resources).
fn typed(group: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    macro_rules! kinds {
        ($( ($g:literal, $k:literal, $v:literal) => $t:ty ),* $(,)?) => {
            match (group, kind) {
                $( ($g, $k) => Some(round_trip::<$t>($k, $v, obj)), )*
                _ => None,
            }
        };
    }
    kinds! {
        ("", "Binding", "v1") => core::v1::Binding,
        ("", "ConfigMap", "v1") => core::v1::ConfigMap,
        ("", "Endpoints", "v1") => core::v1::Endpoints,
        ("", "Event", "v1") => core::v1::Event,
        ("", "LimitRange", "v1") => core::v1::LimitRange,
        ("", "Namespace", "v1") => core::v1::Namespace,
        ("", "Node", "v1") => core::v1::Node,
        ("", "PersistentVolume", "v1") => core::v1::PersistentVolume,
        ("", "PersistentVolumeClaim", "v1") => core::v1::PersistentVolumeClaim,
        ("", "Pod", "v1") => core::v1::Pod,
        ("", "PodTemplate", "v1") => core::v1::PodTemplate,
        ("", "ReplicationController", "v1") => core::v1::ReplicationController,
        ("", "ResourceQuota", "v1") => core::v1::ResourceQuota,
        ("", "Secret", "v1") => core::v1::Secret,
        ("", "Service", "v1") => core::v1::Service,
        ("", "ServiceAccount", "v1") => core::v1::ServiceAccount,
        ("apps", "ControllerRevision", "v1") => apps::v1::ControllerRevision,
        ("apps", "DaemonSet", "v1") => apps::v1::DaemonSet,
        ("apps", "Deployment", "v1") => apps::v1::Deployment,
        ("apps", "ReplicaSet", "v1") => apps::v1::ReplicaSet,
        ("apps", "StatefulSet", "v1") => apps::v1::StatefulSet,
        ("autoscaling", "HorizontalPodAutoscaler", "v2") => autoscaling::v2::HorizontalPodAutoscaler,
        ("autoscaling", "Scale", "v1") => autoscaling::v1::Scale,
        ("batch", "CronJob", "v1") => batch::v1::CronJob,
        ("batch", "Job", "v1") => batch::v1::Job,
        ("certificates.k8s.io", "CertificateSigningRequest", "v1") => certificates::v1::CertificateSigningRequest,
        ("coordination.k8s.io", "Lease", "v1") => coordination::v1::Lease,
        ("discovery.k8s.io", "EndpointSlice", "v1") => discovery::v1::EndpointSlice,
        ("events.k8s.io", "Event", "v1") => events::v1::Event,
        ("networking.k8s.io", "Ingress", "v1") => networking::v1::Ingress,
        ("networking.k8s.io", "IngressClass", "v1") => networking::v1::IngressClass,
        ("policy", "PodDisruptionBudget", "v1") => policy::v1::PodDisruptionBudget,
        ("storage.k8s.io", "StorageClass", "v1") => storage::v1::StorageClass,
        ("apiextensions.k8s.io", "CustomResourceDefinition", "v1") => apiextensions::v1::CustomResourceDefinition,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn diff(input: &Value, output: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match o.get(k) {
                    Some(ov) => diff(v, ov, path, out),
                    // Empty values may be dropped by the typed model without meaning anything.
                    None if !is_empty(v) => out.push(path.clone()),
                    None => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (iv, ov)) in i.iter().zip(o).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{n}]"));
                diff(iv, ov, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Fields of `obj` that the kind does not have (paths like `spec.containers[0].imagee`),
/// or a decode error message for type mismatches. Custom resources yield no findings.
pub fn unknown_fields(group: &str, kind: &str, obj: &Value) -> Result<Vec<String>, String> {
    let Some(result) = typed(group, kind, obj) else { return Ok(Vec::new()) };
    let output = result?;
    let mut out = Vec::new();
    diff(obj, &output, &mut String::new(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_and_type_errors() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "imagee": "typo"}], "bogus": 1}});
        assert_eq!(unknown_fields("", "Pod", &pod).unwrap(), ["spec.bogus", "spec.containers[0].imagee"]);
        let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        assert!(unknown_fields("", "ConfigMap", &ok).unwrap().is_empty());
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": "x"}});
        let e = unknown_fields("", "Pod", &bad).unwrap_err();
        assert!(e.starts_with("Pod in version \"v1\" cannot be handled as a Pod"), "{e}");
        assert!(unknown_fields("example.com", "Widget", &json!({"x": 1})).unwrap().is_empty());
    }
}
