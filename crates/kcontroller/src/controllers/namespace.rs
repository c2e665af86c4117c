//! The namespace controller: empties a namespace being deleted — every namespaced resource
//! the server serves — and then removes the `kubernetes` finalizer so the API server can
//! delete the namespace itself. Progress is reported in the namespace's conditions, with
//! upstream's types, reasons and messages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kapi::k8s::api::core::v1::{Namespace, NamespaceCondition};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;
use kapi::{ApiResource, DynamicObject};
use kwatch::http::{Api, Client, ClientError, DeleteParams, PostParams};
use kwatch::lister::ListParams;
use kwatch::object::Object;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{BuildError, Context, Running};
use crate::discovery::discover;
use crate::runtime::{Action, Controller, ReconcileError, ReconcileResult, Request};

/// The finalizer (in `spec.finalizers`) this controller owns.
pub const FINALIZER: &str = "kubernetes";

/// How soon to look again while content remains.
const RECHECK: Duration = Duration::from_secs(2);

struct Reconciler {
    client: Client,
}

/// What deleting the content of one namespace found.
#[derive(Debug, Default)]
struct Sweep {
    /// `resource.group` → instances left.
    remaining: BTreeMap<String, usize>,
    /// finalizer → instances carrying it.
    finalizers: BTreeMap<String, usize>,
    /// Resources whose deletion failed, with the error.
    failures: Vec<String>,
}

fn condition(type_: &str, status: bool, reason: &str, message: String) -> NamespaceCondition {
    NamespaceCondition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_transition_time: Some(Time(Timestamp::now())),
    }
}

impl Sweep {
    fn conditions(&self, discovery_failures: &[(String, String)]) -> Vec<NamespaceCondition> {
        let mut out = Vec::new();
        out.push(if discovery_failures.is_empty() {
            condition(
                "NamespaceDeletionDiscoveryFailure",
                false,
                "ResourcesDiscovered",
                "All resources successfully discovered".into(),
            )
        } else {
            let gvs: Vec<String> = discovery_failures.iter().map(|(gv, e)| format!("{gv}: {e}")).collect();
            condition(
                "NamespaceDeletionDiscoveryFailure",
                true,
                "DiscoveryFailed",
                format!("Discovery failed for some groups, {} failing: {}", gvs.len(), gvs.join(", ")),
            )
        });
        out.push(condition(
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into(),
        ));
        out.push(if self.failures.is_empty() {
            condition(
                "NamespaceDeletionContentFailure",
                false,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".into(),
            )
        } else {
            condition(
                "NamespaceDeletionContentFailure",
                true,
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    self.failures.len(),
                    self.failures.join(", ")
                ),
            )
        });
        out.push(if self.remaining.is_empty() {
            condition("NamespaceContentRemaining", false, "ContentRemoved", "All content successfully removed".into())
        } else {
            let items: Vec<String> =
                self.remaining.iter().map(|(r, n)| format!("{r} has {n} resource instances")).collect();
            condition(
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", items.join(", ")),
            )
        });
        out.push(if self.finalizers.is_empty() {
            condition(
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".into(),
            )
        } else {
            let items: Vec<String> =
                self.finalizers.iter().map(|(f, n)| format!("{f} in {n} resource instances")).collect();
            condition(
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!("Some content in the namespace has finalizers remaining: {}", items.join(", ")),
            )
        });
        out
    }
}

/// Conditions equal but for their transition times.
fn same_conditions(a: &[NamespaceCondition], b: &[NamespaceCondition]) -> bool {
    let strip = |c: &NamespaceCondition| (c.type_.clone(), c.status.clone(), c.reason.clone(), c.message.clone());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| strip(x) == strip(y))
}

impl Reconciler {
    async fn sweep(&self, namespace: &str, resource: &ApiResource, can_collection: bool, sweep: &mut Sweep) {
        let api: Api<DynamicObject> = Api::with_resource(self.client.clone(), resource.clone(), Some(namespace));
        let deleted = if can_collection {
            api.delete_collection(&ListParams::default(), &DeleteParams::default()).await
        } else {
            delete_each(&api).await
        };
        let name = format!("{}.{}", resource.plural, resource.group);
        if let Err(e) = deleted {
            if !matches!(&e, ClientError::Api(s) if s.code() == 404 || s.code() == 405) {
                sweep.failures.push(format!("{name}: {e}"));
            }
        }
        match api.list(&ListParams::default()).await {
            Ok(left) if !left.items.is_empty() => {
                sweep.remaining.insert(name, left.items.len());
                for item in &left.items {
                    for f in item.metadata.finalizers.iter().flatten() {
                        *sweep.finalizers.entry(f.clone()).or_default() += 1;
                    }
                }
            }
            Ok(_) => {}
            Err(ClientError::Api(s)) if s.code() == 404 || s.code() == 405 => {}
            Err(e) => sweep.failures.push(format!("{name}: {e}")),
        }
    }

    async fn reconcile(self: Arc<Self>, req: Request<Namespace>) -> ReconcileResult {
        let Some(ns) = req.object else { return Ok(Action::Done) };
        if ns.metadata.deletion_timestamp.is_none() {
            return Ok(Action::Done);
        }
        let spec_finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.clone()).unwrap_or_default();
        if !spec_finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(Action::Done);
        }
        let name = ns.name().to_owned();
        let discovery = discover(&self.client).await?;
        let mut sweep = Sweep::default();
        for d in &discovery.resources {
            if !d.resource.namespaced || !d.can("list") || !(d.can("delete") || d.can("deletecollection")) {
                continue;
            }
            self.sweep(&name, &d.resource, d.can("deletecollection"), &mut sweep).await;
        }
        let api: Api<Namespace> = Api::all(self.client.clone());
        let conditions = sweep.conditions(&discovery.failed);
        let current = ns.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        if !same_conditions(&current, &conditions) {
            let mut updated = (*ns).clone();
            updated.status.get_or_insert_with(Default::default).conditions = Some(conditions);
            match api.replace_status(&name, &updated, &PostParams::manager("namespace-controller")).await {
                Ok(_) | Err(ClientError::Api(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !sweep.failures.is_empty() || !discovery.failed.is_empty() {
            return Err(ReconcileError::new(format!(
                "namespace {name}: content deletion incomplete: {}",
                sweep.failures.join("; ")
            )));
        }
        if !sweep.remaining.is_empty() {
            debug!(namespace = %name, remaining = ?sweep.remaining, "content remains");
            return Ok(Action::RequeueAfter(RECHECK));
        }
        // Empty: give up our finalizer; the API server deletes the namespace when none is left.
        let latest = match api.get_opt(&name).await? {
            Some(n) => n,
            None => return Ok(Action::Done),
        };
        let mut finalized = latest;
        if let Some(spec) = finalized.spec.as_mut() {
            spec.finalizers =
                Some(spec.finalizers.take().unwrap_or_default().into_iter().filter(|f| f != FINALIZER).collect());
        }
        match api.replace_subresource(Some("finalize"), &name, &finalized, &PostParams::default()).await {
            Ok(_) => Ok(Action::Done),
            Err(ClientError::Api(e)) if e.code() == 404 => Ok(Action::Done),
            Err(e) => Err(e.into()),
        }
    }
}

async fn delete_each(api: &Api<DynamicObject>) -> Result<(), ClientError> {
    for item in api.list(&ListParams::default()).await?.items {
        match api.delete(item.name(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(ClientError::Api(e)) if e.code() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Builds the controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let namespaces = ctx.informers.get::<Namespace>()?;
    let reconciler = Arc::new(Reconciler { client: ctx.client.clone() });
    // Deletions are slow work (one request per resource type): several namespaces at once.
    let controller = Controller::new("namespace", namespaces).workers(5).metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_content_messages() {
        let mut s = Sweep::default();
        s.remaining.insert("pods.".into(), 2);
        s.remaining.insert("deployments.apps".into(), 1);
        s.finalizers.insert("example.com/keep".into(), 1);
        let c = s.conditions(&[]);
        let by_type = |t: &str| c.iter().find(|c| c.type_ == t).unwrap();
        assert_eq!(
            by_type("NamespaceContentRemaining").message.as_deref(),
            Some(
                "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances"
            )
        );
        assert_eq!(by_type("NamespaceFinalizersRemaining").status, "True");
        assert_eq!(by_type("NamespaceDeletionDiscoveryFailure").status, "False");
        assert!(same_conditions(&c, &s.conditions(&[])));
    }
}
