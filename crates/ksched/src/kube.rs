//! Running against the Kubernetes API (feature `kube`): shared informers feed the
//! scheduler, `DefaultBinder` posts `pods/binding`, and outcomes become the pod's
//! `PodScheduled` condition, `nominatedNodeName`, preemption evictions and events.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{Namespace, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod};
use kapi::k8s::api::policy::v1::PodDisruptionBudget;
use kapi::k8s::api::storage::v1::StorageClass;
use kcontroller::events::{EventSpec, Recorder, object_reference};
use kcontroller::informers::Informers;
use kwatch::http::{Api, Client, ClientError, DeleteParams, Patch, PatchParams};
use kwatch::informer::{Event, SharedInformer};
use kwatch::object::Object;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::framework::{
    ActionType, BindPlugin, ClusterEvent, ClusterState, CycleState, EventResource, Plugin, PluginHandle, Registry,
    SchedulerConfig, Status,
};
use crate::scheduler::{Outcome, Scheduler, SchedulerHandle};
use crate::types::PodInfo;

mod volumes;

pub use volumes::ApiVolumeBinder;

/// Errors of the API-server driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::framework::ConfigError),
    /// An informer could not be built.
    #[error(transparent)]
    Informer(#[from] kwatch::informer::InformerError),
}

/// `DefaultBinder`: `POST pods/{name}/binding` with the pod's UID as precondition.
#[derive(Debug, Clone)]
pub struct ApiBinder {
    client: Client,
}

impl Plugin for ApiBinder {
    fn name(&self) -> &'static str {
        "DefaultBinder"
    }
}

impl BindPlugin for ApiBinder {
    fn bind<'a>(&'a self, _state: &'a CycleState, pod: &'a PodInfo, node: &'a str) -> BoxFuture<'a, Status> {
        Box::pin(async move {
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &pod.namespace);
            let binding = json!({"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
            match api.create_subresource("binding", &pod.name, &binding).await {
                Ok(_) => Status::success(),
                Err(e) => Status::error(format!("binding rejected: {e}")),
            }
        })
    }
}

/// The default plugins with [`ApiBinder`] as `DefaultBinder` and [`ApiVolumeBinder`]
/// doing VolumeBinding's PreBind.
pub fn registry(client: &Client) -> Registry {
    let mut r = crate::plugins::default_registry();
    let binder = ApiBinder { client: client.clone() };
    r.register("DefaultBinder", move |_| Ok(PluginHandle::of(binder.clone()).bind().build()));
    let volumes: Arc<dyn crate::plugins::volumebinding::VolumeBinder> = Arc::new(ApiVolumeBinder::new(client.clone()));
    r.register(crate::plugins::volumebinding::NAME, move |args| {
        crate::plugins::volumebinding::factory_with_binder(args, Arc::clone(&volumes))
    });
    r
}

/// Forwards every event of `informer` to `apply` until `cancel` fires.
fn feed<K: Object>(
    informer: &SharedInformer<K>,
    buffer: usize,
    cancel: CancellationToken,
    mut apply: impl FnMut(Event<K>) + Send + 'static,
) {
    let mut sub = informer.subscribe(buffer, None);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                e = sub.recv() => match e { Some(e) => apply(e), None => return },
            }
        }
    });
}

fn feed_pods(handle: SchedulerHandle, informer: SharedInformer<Pod>, cancel: CancellationToken) {
    feed(&informer, 16 * 1024, cancel, move |e| match e {
        Event::Added(p) | Event::Resync(p) => handle.add_pod(p),
        Event::Updated { old, new } => handle.update_pod(old, new),
        Event::Deleted { obj, .. } => handle.delete_pod(&obj),
        Event::Synced | Event::Lagged { .. } => {}
    });
}

fn feed_nodes(handle: SchedulerHandle, informer: SharedInformer<Node>, cancel: CancellationToken) {
    feed(&informer, 4096, cancel, move |e| match e {
        Event::Added(n) | Event::Resync(n) => handle.add_node(n),
        Event::Updated { old, new } => handle.update_node(old, new),
        Event::Deleted { obj, .. } => handle.delete_node(obj.name()),
        Event::Synced | Event::Lagged { .. } => {}
    });
}

/// Mirrors one kind of cluster object into [`ClusterState`].
fn feed_cluster<K: Object + serde::de::DeserializeOwned>(
    handle: SchedulerHandle,
    informer: SharedInformer<K>,
    resource: EventResource,
    cancel: CancellationToken,
    apply: fn(&mut ClusterState, &K, bool),
) {
    feed(&informer, 4096, cancel, move |e| {
        let (obj, present, action) = match e {
            Event::Added(o) | Event::Resync(o) => (o, true, ActionType::ADD),
            Event::Updated { new, .. } => (new, true, ActionType::UPDATE),
            Event::Deleted { obj, .. } => (obj, false, ActionType::DELETE),
            Event::Synced | Event::Lagged { .. } => return,
        };
        handle.update_cluster(Some(ClusterEvent::new(resource, action)), |c| apply(c, &obj, present));
    });
}

fn key_of<K: Object>(o: &K) -> String {
    format!("{}/{}", o.namespace().unwrap_or(""), o.name())
}

/// Events waiting to be written; more are dropped, as upstream's event broadcaster does.
const EVENT_QUEUE: usize = 1000;

/// Writes events one at a time from a queue, so that a burst of them (one `Scheduled` per
/// bound pod) never delays the conditions `report` writes.
fn event_writer(client: &Client, cancel: CancellationToken) -> impl Fn(ObjectReference, EventSpec) + use<> {
    let recorder = Recorder::new(client.clone(), "default-scheduler", "default-scheduler");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(ObjectReference, EventSpec)>(EVENT_QUEUE);
    tokio::spawn(async move {
        loop {
            let (regarding, spec) = tokio::select! {
                () = cancel.cancelled() => return,
                e = rx.recv() => match e { Some(e) => e, None => return },
            };
            if let Err(e) = recorder.publish(&regarding, &spec).await {
                tracing::debug!(reason = %spec.reason, error = %e, "event not written");
            }
        }
    });
    move |regarding, spec| {
        if tx.try_send((regarding, spec)).is_err() {
            tracing::debug!("event dropped: the event queue is full");
        }
    }
}

/// Reports outcomes on the pods: conditions, nominations, evictions and events.
async fn report(
    client: Client,
    mut outcomes: tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    pods: kwatch::store::Store<Pod>,
    cancel: CancellationToken,
) {
    let event = event_writer(&client, cancel);
    while let Some(o) = outcomes.recv().await {
        let (key, message, reason) = match &o {
            Outcome::Bound { pod, node } => (pod.clone(), node.clone(), "Scheduled"),
            Outcome::Unschedulable { pod, message, .. } => (pod.clone(), message.clone(), "Unschedulable"),
            Outcome::Error { pod, message } => (pod.clone(), message.clone(), "SchedulerError"),
        };
        let Some((ns, name)) = key.split_once('/') else { continue };
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let cached = pods.get(&ObjectKey::namespaced(ns, name));
        if let Outcome::Bound { node, .. } = &o {
            if let Some(p) = &cached {
                let note = format!("Successfully assigned {ns}/{name} to {node}");
                event(object_reference(&**p), EventSpec::normal("Scheduled", "Binding", note));
            }
            continue;
        }
        let mut status = json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": reason,
            "message": message, "lastProbeTime": null,
            "lastTransitionTime": kapi::k8s::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())}]});
        if let Outcome::Unschedulable { nominated_node: Some(n), victims, cleared_nominations, .. } = &o {
            status["nominatedNodeName"] = json!(n);
            for c in cleared_nominations {
                let Some((cns, cname)) = c.split_once('/') else { continue };
                let capi: Api<Pod> = Api::namespaced(client.clone(), cns);
                let clear = Patch::Strategic(json!({"status": {"nominatedNodeName": null}}));
                if let Err(e) = capi.patch_status(cname, &clear, &PatchParams::default()).await {
                    warn!(pod = %c, error = %e, "clearing a lower-priority nomination failed");
                }
            }
            for v in victims {
                let Some((vns, vname)) = v.split_once('/') else { continue };
                let vapi: Api<Pod> = Api::namespaced(client.clone(), vns);
                info!(victim = %v, preemptor = %key, node = %n, "preempting");
                match vapi.delete(vname, &DeleteParams::default()).await {
                    Ok(_) | Err(ClientError::Api(_)) => {}
                    Err(e) => warn!(victim = %v, error = %e, "preemption delete failed"),
                }
                if let Some(vp) = pods.get(&ObjectKey::namespaced(vns, vname)) {
                    let note = format!(
                        "Preempted by pod {} on node {n}",
                        cached.as_ref().and_then(|p| p.metadata.uid.clone()).unwrap_or_default()
                    );
                    event(object_reference(&*vp), EventSpec::normal("Preempted", "Preempting", note));
                }
            }
        }
        // The condition is merged into the list by type (strategic merge patch).
        if let Err(e) = api
            .patch_status(
                name,
                &Patch::Strategic(json!({"status": status})),
                &PatchParams::manager("default-scheduler"),
            )
            .await
        {
            if !matches!(&e, ClientError::Api(s) if s.code() == 404) {
                warn!(pod = %key, error = %e, "updating PodScheduled failed");
            }
        }
        if let Some(p) = &cached {
            event(object_reference(&**p), EventSpec::warning("FailedScheduling", "Scheduling", message));
        }
    }
}

/// Runs the scheduler against the API server of `client` until `cancel` fires.
///
/// # Errors
/// An invalid configuration, or informers that cannot be built.
pub async fn run(
    client: Client,
    config: &SchedulerConfig,
    registry: &Registry,
    informers: &Informers,
    metrics: Option<crate::scheduler::SchedulerMetrics>,
    cancel: CancellationToken,
) -> Result<(), KubeError> {
    let profiles = config.build_profiles(registry)?;
    let (scheduler, handle, outcomes) = Scheduler::new(profiles, config, false);
    if let Some(m) = metrics {
        scheduler.set_metrics(m);
    }
    let pods = informers.get::<Pod>()?;
    let nodes = informers.get::<Node>()?;
    feed_nodes(handle.clone(), nodes.clone(), cancel.clone());
    feed_pods(handle.clone(), pods.clone(), cancel.clone());
    feed_cluster(
        handle.clone(),
        informers.get::<Namespace>()?,
        EventResource::Namespace,
        cancel.clone(),
        |c, n: &Namespace, present| {
            if present {
                c.namespace_labels.insert(n.name().to_owned(), n.labels().cloned().unwrap_or_default());
            } else {
                c.namespace_labels.remove(n.name());
            }
        },
    );
    feed_cluster(
        handle.clone(),
        informers.get::<PodDisruptionBudget>()?,
        EventResource::Wildcard,
        cancel.clone(),
        |c, p: &PodDisruptionBudget, present| {
            let key = key_of(p);
            c.pdbs.retain(|x| key_of(&**x) != key);
            if present {
                c.pdbs.push(Arc::new(p.clone()));
            }
        },
    );
    feed_cluster(
        handle.clone(),
        informers.get::<PersistentVolumeClaim>()?,
        EventResource::PersistentVolumeClaim,
        cancel.clone(),
        |c, p: &PersistentVolumeClaim, present| {
            if present {
                c.pvcs.insert(key_of(p), Arc::new(p.clone()));
            } else {
                c.pvcs.remove(&key_of(p));
            }
        },
    );
    feed_cluster(
        handle.clone(),
        informers.get::<PersistentVolume>()?,
        EventResource::PersistentVolume,
        cancel.clone(),
        |c, p: &PersistentVolume, present| {
            if present {
                c.pvs.insert(p.name().to_owned(), Arc::new(p.clone()));
            } else {
                c.pvs.remove(p.name());
            }
        },
    );
    feed_cluster(
        handle.clone(),
        informers.get::<StorageClass>()?,
        EventResource::StorageClass,
        cancel.clone(),
        |c, s: &StorageClass, present| {
            if present {
                c.storage_classes.insert(s.name().to_owned(), Arc::new(s.clone()));
            } else {
                c.storage_classes.remove(s.name());
            }
        },
    );
    informers.start(cancel.clone());
    // Like upstream, schedule only once pods and nodes are known.
    let (pod_store, node_store) = (pods.store(), nodes.store());
    let _ = tokio::join!(pod_store.wait_until_synced(), node_store.wait_until_synced());
    info!("caches synced, scheduling");
    let reporter = tokio::spawn(report(client, outcomes, pods.store(), cancel.clone()));
    scheduler.run(cancel).await;
    reporter.abort();
    Ok(())
}
