//! The EndpointSlice controller: for every Service with a selector, EndpointSlices (at most
//! 100 endpoints each) listing the pods it selects, with ready/serving/terminating
//! conditions, resolved (named) ports, node names and zones.

mod desired;

use std::collections::HashMap;
use std::sync::Arc;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{Node, Pod, Service};
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kapi::labels::Selector;
use kwatch::http::{Api, Client, ClientError, DeleteParams, PostParams};
use kwatch::object::Object;
use kwatch::store::Store;
use tokio_util::sync::CancellationToken;

pub use desired::{
    MANAGED_BY, MANAGED_BY_LABEL, MAX_ENDPOINTS_PER_SLICE, SERVICE_NAME_LABEL, SliceContent, SlicePlan, ZONE_LABEL,
    desired, plan,
};

use super::{BuildError, Context, Running};
use crate::runtime::{Action, Controller, ReconcileResult, Request};

const MANAGER: &str = "endpointslice-controller";

struct Reconciler {
    client: Client,
    pods: Store<Pod>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
}

fn selector_of(svc: &Service) -> Option<Selector> {
    let sel = svc.spec.as_ref()?.selector.as_ref()?;
    // A Service without a selector has hand-made endpoints; an empty one selects nothing
    // here either (upstream: nil or empty selector → not managed).
    if sel.is_empty() {
        return None;
    }
    Selector::from_set(sel.iter().map(|(k, v)| (k.clone(), v.clone()))).ok()
}

impl Reconciler {
    fn new_slice(svc: &Service, content: SliceContent) -> EndpointSlice {
        let mut s = EndpointSlice {
            address_type: content.address_type,
            endpoints: content.endpoints,
            ports: Some(content.ports),
            ..Default::default()
        };
        let name = svc.name();
        s.metadata.generate_name = Some(format!("{name}-"));
        s.metadata.namespace = svc.metadata.namespace.clone();
        let mut labels = svc.metadata.labels.clone().unwrap_or_default();
        labels.insert(SERVICE_NAME_LABEL.into(), name.to_owned());
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        s.metadata.labels = Some(labels);
        if let Ok(r) = kapi::owner::owner_reference(svc, &(), true) {
            s.metadata.owner_references = Some(vec![r]);
        }
        s
    }

    async fn reconcile(self: Arc<Self>, req: Request<Service>) -> ReconcileResult {
        let Some(namespace) = req.key.namespace().map(str::to_owned) else { return Ok(Action::Done) };
        let name = req.key.name().to_owned();
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &namespace);
        let owned: Vec<Arc<EndpointSlice>> = self
            .slices
            .namespace(&namespace)
            .into_iter()
            .filter(|s| {
                s.labels().is_some_and(|l| {
                    l.get(SERVICE_NAME_LABEL) == Some(&name)
                        && l.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
                })
            })
            .collect();
        let Some(svc) = req.object.filter(|s| s.metadata.deletion_timestamp.is_none()) else {
            // The Service is gone: its slices go with it (the garbage collector would too).
            for s in &owned {
                match api.delete(s.name(), &DeleteParams::default()).await {
                    Ok(_) | Err(ClientError::Api(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Action::Done);
        };
        let Some(selector) = selector_of(&svc) else {
            tracing::debug!(service = %req.key, "no selector: endpoints are not managed here");
            return Ok(Action::Done);
        };
        let pods: Vec<Arc<Pod>> =
            self.pods.namespace(&namespace).into_iter().filter(|p| selector.matches(&p.labels())).collect();
        let zones: HashMap<String, String> = self
            .nodes
            .list()
            .iter()
            .filter_map(|n| Some((n.name().to_owned(), n.labels()?.get(ZONE_LABEL)?.clone())))
            .collect();
        let pod_refs: Vec<&Pod> = pods.iter().map(|p| &**p).collect();
        let want = desired(&svc, &pod_refs, &zones, MAX_ENDPOINTS_PER_SLICE);
        let existing: Vec<&EndpointSlice> = owned.iter().map(|s| &**s).collect();
        let todo = plan(want, &existing);
        tracing::debug!(service = %req.key, pods = pods.len(), ?todo, "endpoint slices");
        let params = PostParams::manager(MANAGER);
        for (slice_name, content) in todo.update {
            let Some(current) = owned.iter().find(|s| s.name() == slice_name) else { continue };
            let mut s = (**current).clone();
            s.endpoints = content.endpoints;
            s.ports = Some(content.ports);
            api.replace(&slice_name, &s, &params).await?;
        }
        for content in todo.create {
            api.create(&Self::new_slice(&svc, content), &params).await?;
        }
        for slice_name in todo.delete {
            match api.delete(&slice_name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(ClientError::Api(e)) if e.code() == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Action::Done)
    }
}

/// Builds the controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let services = ctx.informers.get::<Service>()?;
    let pods = ctx.informers.get::<Pod>()?;
    let slices = ctx.informers.get::<EndpointSlice>()?;
    let nodes = ctx.informers.get::<Node>()?;
    let reconciler = Arc::new(Reconciler {
        client: ctx.client.clone(),
        pods: pods.store(),
        slices: slices.store(),
        nodes: nodes.store(),
    });
    let service_store = services.store();
    let controller = Controller::new("endpointslice", services)
        // A pod change concerns every Service in its namespace that selects it.
        .watches(pods, move |pod: &Pod| {
            let Some(ns) = pod.namespace() else { return Vec::new() };
            service_store
                .namespace(ns)
                .iter()
                .filter(|s| selector_of(s).is_some_and(|sel| sel.matches(&pod.labels())))
                .map(|s| ObjectKey::namespaced(ns, s.name()))
                .collect()
        })
        // Slices edited or deleted by someone else are put back.
        .watches(slices, |s: &EndpointSlice| {
            let (Some(ns), Some(labels)) = (s.namespace(), s.labels()) else { return Vec::new() };
            match (labels.get(SERVICE_NAME_LABEL), labels.get(MANAGED_BY_LABEL)) {
                (Some(svc), Some(m)) if m == MANAGED_BY => vec![ObjectKey::namespaced(ns, svc.as_str())],
                _ => Vec::new(),
            }
        })
        .workers(5)
        .metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}
