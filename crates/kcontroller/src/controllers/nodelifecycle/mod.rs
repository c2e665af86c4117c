//! Node lifecycle: a node whose kubelet stops heartbeating (node status and its Lease in
//! `kube-node-lease`) for the grace period gets Unknown conditions and the `unreachable`
//! taints; a node reporting NotReady gets the `not-ready` taints; and pods that do not
//! tolerate a node's NoExecute taints are deleted — at once, or after their
//! `tolerationSeconds` (300 s by default, added by the API server's admission).

mod health;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kapi::ObjectKey;
use kapi::k8s::api::coordination::v1::Lease;
use kapi::k8s::api::core::v1::{Node, Pod};
use kwatch::http::{Api, Client, ClientError, DeleteParams, PostParams};
use kwatch::object::Object;
use kwatch::store::Store;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use health::{Health, NOT_READY_TAINT, NodeUpdate, UNREACHABLE_TAINT, desired_taints, eviction_time};

use super::{BuildError, Context, Running};
use crate::events::{EventSpec, Recorder, object_reference};
use crate::informers::POD_NODE_INDEX;
use crate::runtime::{Action, Controller, ReconcileResult, Request};

/// Namespace of the nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

async fn monitor(
    client: Client,
    nodes: Store<Node>,
    leases: Store<Lease>,
    period: Duration,
    grace: Duration,
    cancel: CancellationToken,
) {
    let api: Api<Node> = Api::all(client);
    let mut health = Health::new();
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        if !nodes.is_synced() || !leases.is_synced() {
            continue;
        }
        let (now, wall) = (Instant::now(), Timestamp::now());
        for node in nodes.list() {
            let lease = leases.get(&ObjectKey::namespaced(NODE_LEASE_NAMESPACE, node.name()));
            let renew = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
            let update = health.check(&node, renew, now, wall, grace);
            if let Err(e) = apply(&api, &node, update).await {
                warn!(node = %node.name(), error = %e, "updating node health failed; retrying next period");
            }
        }
    }
}

async fn apply(api: &Api<Node>, node: &Node, update: NodeUpdate) -> Result<(), ClientError> {
    let name = node.name();
    let mut current = node.clone();
    if let Some(conditions) = update.conditions {
        info!(node = %name, "node stopped posting status; marking its conditions Unknown");
        current.status.get_or_insert_with(Default::default).conditions = Some(conditions);
        current = api.replace_status(name, &current, &PostParams::manager("node-lifecycle-controller")).await?;
    }
    if let Some(taints) = update.taints {
        info!(node = %name, taints = ?taints.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "updating readiness taints");
        current.spec.get_or_insert_with(Default::default).taints = Some(taints);
        api.replace(name, &current, &PostParams::manager("node-lifecycle-controller")).await?;
    }
    Ok(())
}

struct Eviction {
    client: Client,
    nodes: Store<Node>,
    recorder: Recorder,
    evicted: Mutex<std::collections::HashSet<String>>,
}

impl Eviction {
    async fn reconcile(self: Arc<Self>, req: Request<Pod>) -> ReconcileResult {
        let Some(pod) = req.object else { return Ok(Action::Done) };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { return Ok(Action::Done) };
        let Some(node) = self.nodes.get(&ObjectKey::new(None, node_name.as_str())) else { return Ok(Action::Done) };
        let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
        let now = Timestamp::now();
        let Some(at) = eviction_time(&tolerations, &taints, now) else { return Ok(Action::Done) };
        if at > now {
            let wait = now.duration_until(at).unsigned_abs();
            return Ok(Action::RequeueAfter(wait));
        }
        let ns = pod.namespace().unwrap_or("default").to_owned();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        info!(pod = %req.key, node = %node_name, "evicting a pod that does not tolerate the node's taints");
        match api.delete(pod.name(), &DeleteParams::default().with_uid(uid.clone())).await {
            Ok(_) => {}
            Err(ClientError::Api(e)) if e.code() == 404 || e.code() == 409 => return Ok(Action::Done),
            Err(e) => return Err(e.into()),
        }
        let first = self.evicted.lock().unwrap_or_else(PoisonError::into_inner).insert(uid);
        if first {
            let note = format!("Marking for deletion Pod {}/{}", ns, pod.name());
            let spec = EventSpec::normal("TaintManagerEviction", "Delete", note);
            if let Err(e) = self.recorder.publish(&object_reference(&*pod), &spec).await {
                warn!(error = %e, "recording the eviction event failed");
            }
        }
        Ok(Action::Done)
    }
}

/// Builds the controller: the health monitor and the taint-based eviction.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let nodes = ctx.informers.get::<Node>()?;
    let leases = ctx.informers.get::<Lease>()?;
    let pods = ctx.informers.get::<Pod>()?;
    let monitor_task = monitor(
        ctx.client.clone(),
        nodes.store(),
        leases.store(),
        ctx.node_monitor_period,
        ctx.node_monitor_grace_period,
        cancel.clone(),
    );
    let eviction = Arc::new(Eviction {
        client: ctx.client.clone(),
        nodes: nodes.store(),
        recorder: Recorder::new(ctx.client.clone(), "taint-eviction-controller", ctx.instance.clone()),
        evicted: Mutex::new(Default::default()),
    });
    let pod_store = pods.store();
    let controller = Controller::new("taint-eviction-controller", pods)
        // A node's taints changed: look at its pods.
        .watches(nodes, move |node: &Node| pod_store.index_keys(POD_NODE_INDEX, node.name()).unwrap_or_default())
        .workers(8)
        .metrics(&ctx.metrics);
    let run = controller.run(move |req| Arc::clone(&eviction).reconcile(req), cancel);
    Ok(Box::pin(async move {
        let (_, result) = tokio::join!(monitor_task, run);
        result
    }))
}
