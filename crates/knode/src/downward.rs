//! The downward API: pod fields and container resources as strings, for environment
//! variables (`valueFrom.fieldRef`, `resourceFieldRef`) and `downwardAPI` volumes.

use std::collections::BTreeMap;

use kapi::k8s::api::core::v1::{Container, Pod, ResourceFieldSelector};
use kapi::quantity::Quantity;

/// Errors resolving a downward API reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownwardError {
    /// The field path is not one the downward API offers.
    #[error("unsupported field path {0:?}")]
    UnsupportedField(String),
    /// The resource is not one the downward API offers.
    #[error("unsupported resource {0:?}")]
    UnsupportedResource(String),
    /// `resourceFieldRef` names a container the pod does not have.
    #[error("container {0:?} not found in the pod")]
    NoContainer(String),
    /// A quantity or divisor is invalid.
    #[error("invalid quantity: {0}")]
    Quantity(String),
}

/// Runtime values some fields need: the pod's and node's IPs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeFields {
    /// `status.podIP` (and `podIPs`, comma separated, first).
    pub pod_ips: Vec<String>,
    /// `status.hostIP`.
    pub host_ip: Option<String>,
}

impl RuntimeFields {
    /// Fields with these IPs.
    pub fn new(pod_ips: Vec<String>, host_ip: Option<String>) -> Self {
        Self { pod_ips, host_ip }
    }
}

/// Formats labels or annotations as the downward API does: `key="value"` lines, sorted.
pub fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join("\n")
}

/// The value of `field_path` of `pod`.
///
/// # Errors
///
/// [`DownwardError::UnsupportedField`] for paths outside the downward API.
pub fn field(pod: &Pod, field_path: &str, rt: &RuntimeFields) -> Result<String, DownwardError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let subscript = |prefix: &str| {
        field_path.strip_prefix(prefix).and_then(|r| r.strip_prefix("['")).and_then(|r| r.strip_suffix("']"))
    };
    if let Some(key) = subscript("metadata.labels") {
        return Ok(meta.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default());
    }
    if let Some(key) = subscript("metadata.annotations") {
        return Ok(meta.annotations.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default());
    }
    Ok(match field_path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(meta.labels.as_ref().unwrap_or(&BTreeMap::new())),
        "metadata.annotations" => format_map(meta.annotations.as_ref().unwrap_or(&BTreeMap::new())),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => rt.host_ip.clone().unwrap_or_default(),
        "status.podIP" => rt.pod_ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => rt.pod_ips.join(","),
        other => return Err(DownwardError::UnsupportedField(other.to_owned())),
    })
}

/// The value of a `resourceFieldRef` for `container` (requests or limits of cpu, memory,
/// ephemeral-storage), divided by its divisor and rounded up, as upstream does. Unset limits
/// fall back to `node_allocatable`.
///
/// # Errors
///
/// An unsupported resource or an invalid quantity.
pub fn resource(
    container: &Container,
    selector: &ResourceFieldSelector,
    node_allocatable: &BTreeMap<String, Quantity>,
) -> Result<String, DownwardError> {
    let (kind, name) = selector
        .resource
        .split_once('.')
        .ok_or_else(|| DownwardError::UnsupportedResource(selector.resource.clone()))?;
    let resources = container.resources.as_ref();
    let listed = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => return Err(DownwardError::UnsupportedResource(selector.resource.clone())),
    };
    if !["cpu", "memory", "ephemeral-storage"].contains(&name) {
        return Err(DownwardError::UnsupportedResource(selector.resource.clone()));
    }
    let parse = |q: &str| q.parse::<Quantity>().map_err(|e| DownwardError::Quantity(e.to_string()));
    let value = match listed.and_then(|m| m.get(name)) {
        Some(q) => parse(&q.0)?,
        None if kind == "limits" => match node_allocatable.get(name) {
            Some(q) => *q,
            None => return Ok("0".into()),
        },
        None => return Ok("0".into()),
    };
    let divisor = match &selector.divisor {
        Some(d) => parse(&d.0)?,
        None => parse("1")?,
    };
    let v = value.milli_value().map_err(|e| DownwardError::Quantity(e.to_string()))?;
    let d = divisor.milli_value().map_err(|e| DownwardError::Quantity(e.to_string()))?;
    if d <= 0 {
        return Err(DownwardError::Quantity(format!("divisor {:?} must be positive", selector.divisor)));
    }
    Ok(((v + d - 1) / d).to_string())
}

#[cfg(test)]
mod tests {
    use kapi::k8s::api::core::v1::{PodSpec, ResourceRequirements};
    use kapi::k8s::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

    use super::*;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some("web".into());
        p.metadata.namespace = Some("ns".into());
        p.metadata.labels = Some([("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "fe".to_owned())].into());
        p.spec = Some(PodSpec { node_name: Some("n1".into()), ..Default::default() });
        p
    }

    #[test]
    fn fields() {
        let rt = RuntimeFields::new(vec!["10.0.0.2".into()], Some("192.168.1.1".into()));
        assert_eq!(field(&pod(), "metadata.name", &rt).as_deref(), Ok("web"));
        assert_eq!(field(&pod(), "metadata.labels['app']", &rt).as_deref(), Ok("web"));
        assert_eq!(field(&pod(), "metadata.labels", &rt).as_deref(), Ok("app=\"web\"\ntier=\"fe\""));
        assert_eq!(field(&pod(), "spec.nodeName", &rt).as_deref(), Ok("n1"));
        assert_eq!(field(&pod(), "status.podIP", &rt).as_deref(), Ok("10.0.0.2"));
        assert!(field(&pod(), "spec.containers", &rt).is_err());
    }

    #[test]
    fn resources() {
        let c = Container {
            resources: Some(ResourceRequirements {
                limits: Some([("memory".to_owned(), K8sQuantity("128Mi".into()))].into()),
                requests: Some([("cpu".to_owned(), K8sQuantity("250m".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sel = |r: &str, d: Option<&str>| ResourceFieldSelector {
            resource: r.into(),
            divisor: d.map(|d| K8sQuantity(d.into())),
            ..Default::default()
        };
        let node: BTreeMap<String, Quantity> = [("cpu".to_owned(), "4".parse().expect("q"))].into();
        assert_eq!(resource(&c, &sel("limits.memory", Some("1Mi")), &node).as_deref(), Ok("128"));
        assert_eq!(resource(&c, &sel("requests.cpu", None), &node).as_deref(), Ok("1"));
        assert_eq!(resource(&c, &sel("requests.cpu", Some("1m")), &node).as_deref(), Ok("250"));
        assert_eq!(resource(&c, &sel("limits.cpu", None), &node).as_deref(), Ok("4"));
        assert!(resource(&c, &sel("limits.gpu", None), &node).is_err());
    }
}
