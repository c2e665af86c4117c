//! The node Lease (`coordination.k8s.io/v1`, namespace `kube-node-lease`, named after the
//! node): created if missing and renewed every `nodeLeaseRenewInterval` (10 s); a failed
//! renewal is retried after 200 ms, doubling up to 7 s, as upstream.

use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::coordination::v1::{Lease, LeaseSpec};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kwatch::http::{Api, Client, ClientError, PostParams};
use tokio_util::sync::CancellationToken;

use crate::config::KubeletConfig;

/// The namespace of node leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Errors renewing the Lease.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// An API call failed.
    #[error("lease API call: {0}")]
    Api(#[from] ClientError),
}

/// The Lease as the kubelet writes it at `now`, owned by the Node `node_uid` (when known).
pub fn lease_object(config: &KubeletConfig, node_uid: &str, now: jiff::Timestamp) -> Lease {
    let mut lease = Lease::default();
    lease.metadata.name = Some(config.node_name.clone());
    lease.metadata.namespace = Some(NODE_LEASE_NAMESPACE.into());
    if !node_uid.is_empty() {
        lease.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: config.node_name.clone(),
            uid: node_uid.into(),
            ..Default::default()
        }]);
    }
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(config.node_name.clone()),
        lease_duration_seconds: i32::try_from(config.node_lease_duration.as_secs()).ok(),
        renew_time: Some(MicroTime(now)),
        ..Default::default()
    });
    lease
}

/// Creates or renews the Lease once.
async fn renew(api: &Api<Lease>, config: &KubeletConfig, node_uid: &str) -> Result<(), LeaseError> {
    let desired = lease_object(config, node_uid, jiff::Timestamp::now());
    match api.get_opt(&config.node_name).await? {
        None => {
            api.create(&desired, &PostParams::default()).await?;
        }
        Some(mut current) => {
            current.spec = desired.spec;
            if current.metadata.owner_references.is_none() {
                current.metadata.owner_references = desired.metadata.owner_references;
            }
            api.replace(&config.node_name, &current, &PostParams::default()).await?;
        }
    }
    Ok(())
}

/// Renews the Lease until `cancel` fires.
pub(crate) async fn run(client: Client, config: Arc<KubeletConfig>, node_uid: String, cancel: CancellationToken) {
    let api: Api<Lease> = Api::namespaced(client, NODE_LEASE_NAMESPACE);
    let mut retry = Duration::from_millis(200);
    loop {
        let wait = match renew(&api, &config, &node_uid).await {
            Ok(()) => {
                retry = Duration::from_millis(200);
                config.node_lease_renew_interval
            }
            Err(e) => {
                tracing::warn!(error = %e, "renewing the node lease failed");
                let w = retry;
                retry = (retry * 2).min(Duration::from_secs(7));
                w
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeResources;

    #[test]
    fn lease_shape() {
        let c = KubeletConfig::new("n1", NodeResources::new(1000, 1 << 30, 10));
        let l = lease_object(&c, "uid-1", jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(l.metadata.namespace.as_deref(), Some(NODE_LEASE_NAMESPACE));
        let spec = l.spec.expect("spec");
        assert_eq!((spec.holder_identity.as_deref(), spec.lease_duration_seconds), (Some("n1"), Some(40)));
        assert_eq!(l.metadata.owner_references.map(|o| o[0].uid.clone()).as_deref(), Some("uid-1"));
    }
}
