//! Objects every cluster starts with: the system namespaces, the `default` ServiceAccount,
//! the `kubernetes` Service with its endpoints; and the CRDs already stored.

use std::net::IpAddr;

use kapi::StatusError;
use serde_json::{Value, json};

use crate::filter::Filter;
use crate::rest::{Api, ListQuery, WriteOptions};

async fn ensure(
    api: &Api,
    plural: &str,
    group: &str,
    version: &str,
    ns: Option<&str>,
    obj: Value,
) -> Result<(), StatusError> {
    let res = api.resource(group, version, plural)?;
    match api.create(&res, ns, obj, &WriteOptions::default()).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates what is missing; keeps what exists.
pub(crate) async fn run(api: &Api, advertise: IpAddr, port: u16) -> Result<(), StatusError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(api, "namespaces", "", "v1", None, json!({"metadata": {"name": ns}})).await?;
    }
    ensure(
        api,
        "serviceaccounts",
        "",
        "v1",
        Some("default"),
        json!({"metadata": {"name": "default", "namespace": "default"}}),
    )
    .await?;
    let ip = api.services().first_ip().to_string();
    ensure(
        api,
        "services",
        "",
        "v1",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}], "sessionAffinity": "None", "type": "ClusterIP"},
        }),
    )
    .await?;
    ensure(
        api,
        "endpoints",
        "",
        "v1",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": advertise.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
        }),
    )
    .await?;
    ensure(
        api,
        "endpointslices",
        "discovery.k8s.io",
        "v1",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
            "endpoints": [{"addresses": [advertise.to_string()], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }),
    )
    .await?;
    let crds = api.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
    let q = ListQuery {
        filter: Filter::namespace(None),
        limit: 0,
        continue_token: None,
        resource_version: String::new(),
        resource_version_match: None,
    };
    for item in api.list(&crds, &q).await?.items {
        crate::crd::register(api.registry(), item.value());
    }
    api.start_caches();
    Ok(())
}
