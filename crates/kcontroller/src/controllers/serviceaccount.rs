//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount.

use std::sync::Arc;

use kapi::ObjectKey;
use kapi::k8s::api::core::v1::{Namespace, ServiceAccount};
use kwatch::http::{Api, ClientError, PostParams};
use kwatch::object::Object;
use kwatch::store::Store;
use tokio_util::sync::CancellationToken;

use super::{BuildError, Context, Running};
use crate::runtime::{Action, Controller, ReconcileResult, Request};

/// The ServiceAccount every namespace gets.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

struct Reconciler {
    accounts: Store<ServiceAccount>,
    client: kwatch::http::Client,
}

impl Reconciler {
    async fn reconcile(self: Arc<Self>, req: Request<Namespace>) -> ReconcileResult {
        let Some(ns) = req.object else { return Ok(Action::Done) };
        let terminating = ns.metadata.deletion_timestamp.is_some()
            || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
        if terminating || self.accounts.get(&ObjectKey::namespaced(ns.name(), DEFAULT_SERVICE_ACCOUNT)).is_some() {
            return Ok(Action::Done);
        }
        let mut sa = ServiceAccount::default();
        sa.metadata.name = Some(DEFAULT_SERVICE_ACCOUNT.into());
        sa.metadata.namespace = Some(ns.name().to_owned());
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns.name());
        match api.create(&sa, &PostParams::manager("service-account-controller")).await {
            Ok(_) => Ok(Action::Done),
            // Already there (the cache was behind), or the namespace began terminating.
            Err(ClientError::Api(e)) if e.code() == 409 || e.code() == 403 => Ok(Action::Done),
            Err(e) => Err(e.into()),
        }
    }
}

/// Builds the controller.
///
/// # Errors
/// An informer that cannot be built.
pub fn build(ctx: &Context, cancel: CancellationToken) -> Result<Running, BuildError> {
    let namespaces = ctx.informers.get::<Namespace>()?;
    let accounts = ctx.informers.get::<ServiceAccount>()?;
    let reconciler = Arc::new(Reconciler { accounts: accounts.store(), client: ctx.client.clone() });
    let controller = Controller::new("serviceaccount", namespaces)
        .watches(accounts, |sa: &ServiceAccount| {
            // A deleted default account is recreated.
            match (sa.name() == DEFAULT_SERVICE_ACCOUNT, sa.namespace()) {
                (true, Some(ns)) => vec![ObjectKey::new(None, ns)],
                _ => Vec::new(),
            }
        })
        .metrics(&ctx.metrics);
    Ok(Box::pin(controller.run(move |req| Arc::clone(&reconciler).reconcile(req), cancel)))
}
