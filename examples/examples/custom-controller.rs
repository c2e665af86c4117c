//! A custom controller in under 150 lines: a `Website` CRD whose objects become Deployments.
//!
//! ```text
//! cargo run -p kcluster --example custom-controller -- ./kcluster-data/kubeconfig
//! kubectl apply -f - <<< '{"apiVersion":"demo.kcluster.dev/v1","kind":"Website",
//!   "metadata":{"name":"blog"},"spec":{"image":"nginx","replicas":2}}'
//! kubectl get websites   # READY follows the Deployment's ready replicas
//! ```
use std::borrow::Cow;

use kapi::k8s::api::apps::v1::Deployment;
use kapi::k8s::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kapi::{ObjectKey, Resource};
use kcontroller::finalizer::{FinalizerEvent, finalizer};
use kcontroller::informers::Informers;
use kcontroller::runtime::{Action, Controller, ReconcileError, Request};
use kwatch::http::{Api, Client, ClientError, Config, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The custom resource, as a plain serde type.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Website {
    metadata: ObjectMeta,
    spec: WebsiteSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct WebsiteSpec {
    image: String,
    #[serde(default = "one")]
    replicas: i32,
}

fn one() -> i32 {
    1
}

impl Resource for Website {
    type DynamicType = ();
    fn group(_: &()) -> Cow<'_, str> {
        "demo.kcluster.dev".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn kind(_: &()) -> Cow<'_, str> {
        "Website".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "websites".into()
    }
    fn namespaced(_: &()) -> bool {
        true
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn crd() -> Result<CustomResourceDefinition, serde_json::Error> {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["image"], "properties": {
            "image": {"type": "string"}, "replicas": {"type": "integer", "minimum": 0, "default": 1}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    serde_json::from_value(json!({"metadata": {"name": "websites.demo.kcluster.dev"}, "spec": {
        "group": "demo.kcluster.dev", "scope": "Namespaced",
        "names": {"plural": "websites", "singular": "website", "kind": "Website", "shortNames": ["ws"]},
        "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [{"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"}]}]}}))
}

async fn reconcile(
    client: Client,
    deployments: kwatch::store::Store<Deployment>,
    req: Request<Website>,
) -> Result<Action, ReconcileError> {
    let Some(site) = req.object else { return Ok(Action::Done) };
    let ns = req.key.namespace().unwrap_or("default").to_owned();
    let websites: Api<Website> = Api::namespaced(client.clone(), &ns);
    let status_api = websites.clone();
    let action = finalizer(&websites, "demo.kcluster.dev/cleanup", site, |event| async move {
        match event {
            FinalizerEvent::Apply(site) => {
                let name = site.metadata.name.clone().unwrap_or_default();
                let owner = kapi::owner::owner_reference(&*site, &(), true).map_err(ReconcileError::terminal)?;
                // Server-side apply: declare the Deployment we want; the server merges it.
                let want = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "ownerReferences": [owner]},
                    "spec": {"replicas": site.spec.replicas, "selector": {"matchLabels": {"website": name}},
                        "template": {"metadata": {"labels": {"website": name}},
                            "spec": {"containers": [{"name": "web", "image": site.spec.image}]}}}});
                let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
                api.patch(&name, &Patch::Apply(want), &PatchParams::apply_force("website-controller")).await?;
                let ready = deployments
                    .get(&ObjectKey::namespaced(ns.as_str(), name.as_str()))
                    .and_then(|d| d.status.as_ref()?.ready_replicas)
                    .unwrap_or(0);
                let status = Patch::Merge(json!({"status": {"readyReplicas": ready}}));
                status_api.patch_status(&name, &status, &PatchParams::manager("website-controller")).await?;
                Ok(Action::Done)
            }
            // Nothing outside the cluster to clean up here; the Deployment goes with its owner.
            FinalizerEvent::Cleanup(_) => Ok(Action::Done),
        }
    })
    .await?;
    Ok(action)
}

/// Installs the CRD and runs the controller until `cancel` fires.
pub async fn run(config: Config, cancel: CancellationToken) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = Client::new(&config)?;
    match Api::<CustomResourceDefinition>::all(client.clone()).create(&crd()?, &PostParams::default()).await {
        Ok(_) | Err(ClientError::Api(_)) => {} // created, or already there
        Err(e) => return Err(e.into()),
    }
    let informers = Informers::new(client.clone(), kwatch::metrics::Metrics::default());
    let (sites, deployments) = (informers.get::<Website>()?, informers.get::<Deployment>()?);
    informers.start(cancel.clone());
    let store = deployments.store();
    let controller = Controller::new("website", sites).owns(deployments).workers(2);
    controller.run(move |req| reconcile(client.clone(), store.clone(), req), cancel).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let config = match std::env::args().nth(1) {
        Some(path) => Config::from_kubeconfig(std::path::Path::new(&path), None)?,
        None => Config::infer()?,
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    run(config, cancel).await
}
