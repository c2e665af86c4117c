//! Objects every cluster starts with: the system namespaces, the `default` ServiceAccount,
//! the `kubernetes` Service with its endpoints; and the CRDs already stored.

use std::net::IpAddr;

use kapi::StatusError;
use serde_json::{Value, json};

use crate::filter::Filter;
use crate::rest::{Api, ListQuery, WriteOptions};

/// Creates `obj` unless an object of that name exists. With `reconciled` fields, an
/// existing object whose fields differ is updated to `obj`'s (the `kubernetes` endpoints
/// follow the server's address and port across restarts, as upstream's endpoint reconciler
/// does).
async fn ensure(
    api: &Api,
    plural: &str,
    group: &str,
    version: &str,
    ns: Option<&str>,
    mut obj: Value,
    reconciled: &[&str],
) -> Result<(), StatusError> {
    let res = api.resource(group, version, plural)?;
    let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
    // Look first: creating an existing Service would collide on its cluster IP before the
    // name conflict is noticed.
    match api.get(&res, ns, &name).await {
        Ok(existing) => {
            if reconciled.iter().all(|f| existing[*f] == obj[*f]) {
                return Ok(());
            }
            obj["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
            match api.update(&res, ns, &name, obj, None, &WriteOptions::default()).await {
                Ok(_) => Ok(()),
                // Someone else updated it meanwhile: theirs stands.
                Err(e) if e.code() == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) if e.code() == 404 => match api.create(&res, ns, obj, &WriteOptions::default()).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == 409 => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Creates what is missing; keeps what exists.
pub(crate) async fn run(api: &Api, advertise: IpAddr, port: u16) -> Result<(), StatusError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(api, "namespaces", "", "v1", None, json!({"metadata": {"name": ns}}), &[]).await?;
    }
    ensure(
        api,
        "serviceaccounts",
        "",
        "v1",
        Some("default"),
        json!({"metadata": {"name": "default", "namespace": "default"}}),
        &[],
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
        &[],
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
        &["subsets"],
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
        &["endpoints", "ports"],
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
