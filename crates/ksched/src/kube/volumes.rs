//! VolumeBinding's PreBind against the API server: the scheduler's volume decisions
//! written as upstream's `volumebinding` binder does, then awaited until the PV controller
//! has bound each claim.

use std::time::Duration;

use futures_util::future::BoxFuture;
use kapi::k8s::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kcontroller::volume::{ANN_BIND_COMPLETED, ANN_BOUND_BY_CONTROLLER, claim_ref, claim_reference, refers_to};
use kwatch::http::{Api, Client, ClientError, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::plugins::volumebinding::{ANN_SELECTED_NODE, VolumeBindError, VolumeBinder};

const MANAGER: &str = "default-scheduler";

/// The API driver's [`VolumeBinder`]: `bind` sets the chosen PV's `claimRef` (with the
/// PV's resourceVersion as precondition, retried on conflicts), `provision` sets the
/// claim's `volume.kubernetes.io/selected-node`; both then wait until the claim is bound
/// (`volumeName` set and `pv.kubernetes.io/bind-completed`), polling as upstream does.
/// The plugin bounds the whole wait by `bindTimeoutSeconds`.
#[derive(Debug, Clone)]
pub struct ApiVolumeBinder {
    client: Client,
    poll: Duration,
}

impl ApiVolumeBinder {
    /// A binder writing through `client`, checking claims every second.
    pub fn new(client: Client) -> Self {
        Self { client, poll: Duration::from_secs(1) }
    }

    /// Checks claims every `poll` instead.
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    fn claims(&self, pvc_key: &str) -> Result<(Api<PersistentVolumeClaim>, String), VolumeBindError> {
        let (ns, name) =
            pvc_key.split_once('/').ok_or_else(|| VolumeBindError(format!("bad claim key {pvc_key:?}")))?;
        Ok((Api::namespaced(self.client.clone(), ns), name.to_owned()))
    }

    /// Waits until claim `name` is bound (to `volume` when given).
    async fn wait_bound(
        &self,
        claims: &Api<PersistentVolumeClaim>,
        name: &str,
        volume: Option<&str>,
    ) -> Result<(), VolumeBindError> {
        loop {
            match claims.get_opt(name).await {
                Ok(None) => return Err(VolumeBindError(format!("claim {name} was deleted"))),
                Ok(Some(pvc)) => {
                    let named = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty());
                    let completed =
                        pvc.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(ANN_BIND_COMPLETED));
                    match (named, volume) {
                        (Some(n), Some(v)) if n != v => {
                            return Err(VolumeBindError(format!("claim {name} was bound to {n}, not {v}")));
                        }
                        (Some(_), _) if completed => return Ok(()),
                        _ => {}
                    }
                }
                // A passing API error: keep waiting within the plugin's timeout.
                Err(e) => tracing::debug!(claim = name, error = %e, "checking the claim"),
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

fn api_error(e: ClientError) -> VolumeBindError {
    VolumeBindError(e.to_string())
}

impl VolumeBinder for ApiVolumeBinder {
    fn bind<'a>(&'a self, pvc_key: &'a str, pv_name: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        Box::pin(async move {
            let (claims, name) = self.claims(pvc_key)?;
            let pvc = claims.get(&name).await.map_err(api_error)?;
            let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
            let mut attempts = 0;
            loop {
                let mut pv = volumes.get(pv_name).await.map_err(api_error)?;
                match claim_ref(&pv) {
                    Some(r) if refers_to(r, &pvc) => break,
                    Some(_) => {
                        return Err(VolumeBindError(format!("volume {pv_name} already bound to a different claim")));
                    }
                    None => {}
                }
                pv.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
                pv.spec.get_or_insert_with(Default::default).claim_ref = Some(claim_reference(&pvc));
                match volumes.replace(pv_name, &pv, &PostParams::manager(MANAGER)).await {
                    Ok(_) => break,
                    Err(ClientError::Api(s)) if s.code() == 409 && attempts < 5 => attempts += 1,
                    Err(e) => return Err(api_error(e)),
                }
            }
            self.wait_bound(&claims, &name, Some(pv_name)).await
        })
    }

    fn provision<'a>(&'a self, pvc_key: &'a str, node: &'a str) -> BoxFuture<'a, Result<(), VolumeBindError>> {
        Box::pin(async move {
            let (claims, name) = self.claims(pvc_key)?;
            let patch = Patch::Merge(json!({"metadata": {"annotations": {ANN_SELECTED_NODE: node}}}));
            claims.patch(&name, &patch, &PatchParams::manager(MANAGER)).await.map_err(api_error)?;
            self.wait_bound(&claims, &name, None).await
        })
    }
}
