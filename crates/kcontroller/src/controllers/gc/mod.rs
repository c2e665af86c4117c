//! The garbage collector: deletes objects whose owners are gone (background propagation),
//! deletes the blocking dependents of owners deleted in the foreground before letting the
//! owner go, and releases the dependents of owners deleted with the orphan policy.
//!
//! It watches the metadata of every resource the server can list, watch and delete
//! (re-discovered every 30 s, so custom resources join), keeps the ownership [`Graph`],
//! and works two queues like upstream: *attempt to delete* and *attempt to orphan*. Workers
//! start once every monitor has delivered its initial list, so "owner not in the graph"
//! means "owner gone" — and is still confirmed with a read before anything is deleted.

mod graph;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kapi::{ApiResource, DynamicObject};
use kwatch::http::{Api, Client, ClientError, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kwatch::informer::Event;
use kwatch::object::PartialObjectMetadata;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use graph::{FOREGROUND, Graph, Node, ORPHAN, Work};

use super::{BuildError, Context, Running};
use crate::discovery::discover;
use crate::informers::Informers;
use crate::runtime::ReconcileError;
use crate::workqueue::{Priority, WorkQueue};

/// Resources the collector ignores (upstream: events, which are never owners and are many).
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];
/// How often new resources (CRDs) are looked for.
const REDISCOVERY: Duration = Duration::from_secs(30);
/// Concurrent deletes (upstream's `--concurrent-gc-syncs` is 20).
const DELETE_WORKERS: usize = 8;

enum Change {
    Observe(ApiResource, Box<PartialObjectMetadata>),
    Remove(String),
    Synced(ApiResource),
}

struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    kinds: Mutex<HashMap<(String, String), ApiResource>>,
    attempt_delete: WorkQueue<String>,
    attempt_orphan: WorkQueue<String>,
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

#[derive(Debug, Default)]
struct Owners {
    solid: Vec<OwnerReference>,
    dangling: Vec<OwnerReference>,
    waiting: Vec<OwnerReference>,
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::AttemptToDelete(uid) => self.attempt_delete.add_with_priority(uid, Priority::NORMAL),
                Work::AttemptToOrphan(uid) => self.attempt_orphan.add_with_priority(uid, Priority::NORMAL),
            };
        }
    }

    fn dynamic(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        Api::with_resource(self.client.clone(), resource.clone(), namespace)
    }

    /// Reads the owner named by `r` (of a dependent in `namespace`): `None` when it is gone
    /// or is another incarnation.
    async fn live_owner(
        &self,
        r: &OwnerReference,
        namespace: Option<&str>,
    ) -> Result<Option<DynamicObject>, ReconcileError> {
        let resource = {
            let kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
            kinds.get(&(group_of(&r.api_version).to_owned(), r.kind.clone())).cloned()
        };
        let Some(resource) = resource else {
            return Err(ReconcileError::new(format!("unknown owner kind {} {}", r.api_version, r.kind)));
        };
        let ns = if resource.namespaced { namespace } else { None };
        match self.dynamic(&resource, ns).get_opt(&r.name).await? {
            Some(o) if o.metadata.uid.as_deref() == Some(r.uid.as_str()) => Ok(Some(o)),
            _ => Ok(None),
        }
    }

    async fn classify(&self, node: &Node) -> Result<Owners, ReconcileError> {
        let mut owners = Owners::default();
        for r in &node.owners {
            let known = self.graph().get(&r.uid).map(|o| o.deleting_dependents);
            let waiting = match known {
                Some(waiting) => waiting,
                None => match self.live_owner(r, node.namespace.as_deref()).await? {
                    None => {
                        owners.dangling.push(r.clone());
                        continue;
                    }
                    Some(o) => {
                        o.metadata.deletion_timestamp.is_some()
                            && o.metadata.finalizers.iter().flatten().any(|f| f == FOREGROUND)
                    }
                },
            };
            if waiting { owners.waiting.push(r.clone()) } else { owners.solid.push(r.clone()) }
        }
        Ok(owners)
    }

    /// Rewrites a field of an object's metadata with optimistic concurrency.
    async fn patch_metadata(
        &self,
        node: &Node,
        edit: impl FnOnce(&DynamicObject) -> serde_json::Value,
    ) -> Result<(), ReconcileError> {
        let api = self.dynamic(&node.resource, node.namespace.as_deref());
        let Some(obj) = api.get_opt(&node.name).await? else { return Ok(()) };
        if obj.metadata.uid.as_deref() != Some(node.uid.as_str()) {
            return Ok(());
        }
        let mut patch = json!({"metadata": edit(&obj)});
        patch["metadata"]["resourceVersion"] = json!(obj.metadata.resource_version);
        match api.patch(&node.name, &Patch::Merge(patch), &PatchParams::manager("garbage-collector")).await {
            Ok(_) => Ok(()),
            Err(ClientError::Api(e)) if e.code() == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), ReconcileError> {
        self.patch_metadata(node, |o| {
            let rest: Vec<&String> = o.metadata.finalizers.iter().flatten().filter(|f| *f != finalizer).collect();
            json!({"finalizers": rest})
        })
        .await
    }

    async fn edit_owner_refs(
        &self,
        node: &Node,
        edit: impl Fn(&OwnerReference) -> Option<OwnerReference>,
    ) -> Result<(), ReconcileError> {
        self.patch_metadata(node, |o| {
            let refs: Vec<OwnerReference> = o.metadata.owner_references.iter().flatten().filter_map(&edit).collect();
            json!({"ownerReferences": refs})
        })
        .await
    }

    async fn attempt_to_delete(&self, uid: &str) -> Result<(), ReconcileError> {
        let Some(node) = self.graph().get(uid).cloned() else { return Ok(()) };
        if node.deleting_dependents {
            let blocking: Vec<Node> = self.graph().blocking_dependents(uid).into_iter().cloned().collect();
            if blocking.is_empty() {
                debug!(object = %node.name, "no blocking dependents left; finishing foreground deletion");
                return self.remove_finalizer(&node, FOREGROUND).await;
            }
            // Make sure each blocking dependent is on its way out.
            for d in blocking.iter().filter(|d| !d.being_deleted) {
                self.attempt_delete.add(d.uid.clone());
            }
            return Ok(());
        }
        if node.being_deleted || node.owners.is_empty() {
            return Ok(());
        }
        let owners = self.classify(&node).await?;
        if owners.dangling.is_empty() && owners.waiting.is_empty() {
            return Ok(());
        }
        if !owners.solid.is_empty() {
            // Still owned: only forget the owners that are gone or going.
            let drop: HashSet<String> = owners.dangling.iter().chain(&owners.waiting).map(|r| r.uid.clone()).collect();
            return self.edit_owner_refs(&node, |r| (!drop.contains(&r.uid)).then(|| r.clone())).await;
        }
        let policy = if !owners.waiting.is_empty() && !node.dependents.is_empty() {
            // Foreground all the way down; unblock our owners first, as upstream does, so
            // that a cycle of blocking references cannot deadlock.
            let waiting: HashSet<String> = owners.waiting.iter().map(|r| r.uid.clone()).collect();
            self.edit_owner_refs(&node, |r| {
                let mut r = r.clone();
                if waiting.contains(&r.uid) {
                    r.block_owner_deletion = Some(false);
                }
                Some(r)
            })
            .await?;
            PropagationPolicy::Foreground
        } else {
            PropagationPolicy::Background
        };
        info!(
            object = %node.name, namespace = ?node.namespace, kind = %node.resource.kind, ?policy,
            "deleting an object whose owners are gone"
        );
        let api = self.dynamic(&node.resource, node.namespace.as_deref());
        match api.delete(&node.name, &DeleteParams::propagation(policy).with_uid(node.uid.clone())).await {
            Ok(_) => Ok(()),
            Err(ClientError::Api(e)) if e.code() == 404 || e.code() == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn attempt_to_orphan(&self, uid: &str) -> Result<(), ReconcileError> {
        let Some(node) = self.graph().get(uid).cloned() else { return Ok(()) };
        if !node.orphaning {
            return Ok(());
        }
        let dependents: Vec<Node> = {
            let g = self.graph();
            node.dependents.iter().filter_map(|d| g.get(d).cloned()).collect()
        };
        for d in &dependents {
            self.edit_owner_refs(d, |r| (r.uid != uid).then(|| r.clone())).await?;
        }
        self.remove_finalizer(&node, ORPHAN).await
    }
}

async fn work_loop(collector: Arc<Collector>, queue: WorkQueue<String>, orphan: bool, cancel: CancellationToken) {
    loop {
        let lease = tokio::select! {
            () = cancel.cancelled() => return,
            l = queue.next() => match l { Some(l) => l, None => return },
        };
        let uid = lease.key().clone();
        let result =
            if orphan { collector.attempt_to_orphan(&uid).await } else { collector.attempt_to_delete(&uid).await };
        match result {
            Ok(()) => queue.forget(&uid),
            Err(e) => {
                debug!(%uid, error = %e, "garbage collection failed; retrying");
                queue.add_rate_limited(uid);
            }
        }
        drop(lease);
    }
}

fn monitored(resources: &[crate::discovery::Discovered]) -> Vec<ApiResource> {
    resources
        .iter()
        .filter(|d| d.can("list") && d.can("watch") && d.can("delete"))
        .filter(|d| !IGNORED.contains(&(d.resource.group.as_str(), d.resource.plural.as_str())))
        .map(|d| d.resource.clone())
        .collect()
}

/// Starts a monitor: the resource's metadata informer, forwarding changes to the graph.
fn monitor(
    informers: &Informers,
    resource: ApiResource,
    tx: mpsc::UnboundedSender<Change>,
    cancel: CancellationToken,
) -> Result<(), BuildError> {
    let informer = informers.get_with::<PartialObjectMetadata>(&resource, |b| b)?;
    let mut sub = informer.subscribe(4096, None);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = cancel.cancelled() => return,
                e = sub.recv() => match e { Some(e) => e, None => return },
            };
            let change = match event {
                Event::Added(o) | Event::Resync(o) | Event::Updated { new: o, .. } => {
                    Change::Observe(resource.clone(), Box::new((*o).clone()))
                }
                Event::Deleted { obj, .. } => match obj.metadata.uid.clone() {
                    Some(uid) => Change::Remove(uid),
                    None => continue,
                },
                Event::Synced => Change::Synced(resource.clone()),
                Event::Lagged { .. } => continue,
            };
            if tx.send(change).is_err() {
                return;
            }
        }
    });
    Ok(())
}

fn queue(ctx: &Context, name: &str) -> WorkQueue<String> {
    match ctx.metrics.queues() {
        Some(m) => WorkQueue::builder(name).metrics(m).build(),
        None => WorkQueue::new(name),
    }
}

async fn run(ctx: Context, cancel: CancellationToken) -> Result<(), crate::runtime::ControllerError> {
    let collector = Arc::new(Collector {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::new()),
        kinds: Mutex::new(HashMap::new()),
        attempt_delete: queue(&ctx, "garbage_collector_attempt_to_delete"),
        attempt_orphan: queue(&ctx, "garbage_collector_attempt_to_orphan"),
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watched: HashSet<ApiResource> = HashSet::new();
    let mut pending_sync: HashSet<ApiResource> = HashSet::new();
    let mut workers_started = false;
    let mut rediscover = tokio::time::interval(REDISCOVERY);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = rediscover.tick() => {
                match discover(&ctx.client).await {
                    Ok(d) => {
                        {
                            let mut kinds = collector.kinds.lock().unwrap_or_else(PoisonError::into_inner);
                            for r in &d.resources {
                                kinds.insert((r.resource.group.clone(), r.resource.kind.clone()), r.resource.clone());
                            }
                        }
                        for r in monitored(&d.resources) {
                            if watched.insert(r.clone()) {
                                if let Err(e) = monitor(&ctx.informers, r.clone(), tx.clone(), cancel.clone()) {
                                    warn!(resource = %r.plural, error = %e, "cannot monitor resource");
                                    continue;
                                }
                                pending_sync.insert(r);
                            }
                        }
                    }
                    Err(e) => warn!(error = %e, "garbage collector discovery failed"),
                }
            }
            change = rx.recv() => {
                let Some(change) = change else { break };
                let work = match change {
                    Change::Observe(resource, obj) => collector.graph().observe(&resource, &obj),
                    Change::Remove(uid) => collector.graph().remove(&uid),
                    Change::Synced(resource) => {
                        pending_sync.remove(&resource);
                        Vec::new()
                    }
                };
                collector.enqueue(work);
            }
        }
        if !workers_started && !watched.is_empty() && pending_sync.is_empty() {
            workers_started = true;
            info!(resources = watched.len(), objects = collector.graph().len(), "garbage collector graph synced");
            for _ in 0..DELETE_WORKERS {
                tokio::spawn(work_loop(
                    Arc::clone(&collector),
                    collector.attempt_delete.clone(),
                    false,
                    cancel.clone(),
                ));
            }
            tokio::spawn(work_loop(Arc::clone(&collector), collector.attempt_orphan.clone(), true, cancel.clone()));
        }
    }
    collector.attempt_delete.shutdown();
    collector.attempt_orphan.shutdown();
    Ok(())
}

/// Builds the collector.
///
/// # Errors
/// None at build time; monitors are made as resources are discovered.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    Ok(Box::pin(run(ctx.clone(), cancel)))
}
