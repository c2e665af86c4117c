//! The built-in controllers of kube-controller-manager, each a [`Controller`] over shared
//! informers with upstream's behaviour.
//!
//! [`Controller`]: crate::runtime::Controller

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kapi::ApiResource;
use kapi::k8s::api::core::v1::Pod;
use kwatch::http::Client;

use crate::informers::{Informers, POD_NODE_INDEX};
use crate::runtime::{ControllerError, ControllerMetrics};

pub mod deployment;
pub mod endpointslice;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod nodelifecycle;
mod pods;
pub mod replicaset;
pub mod serviceaccount;
pub mod volume;

/// What every built-in controller is built from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The process's shared informers.
    pub informers: Informers,
    /// Reconcile metrics.
    pub metrics: ControllerMetrics,
    /// `reportingInstance` of events (`kube-controller-manager-<host>`).
    pub instance: String,
    /// How often node health is checked (5 s).
    pub node_monitor_period: Duration,
    /// How long a node may go without a heartbeat before it is unreachable (40 s).
    pub node_monitor_grace_period: Duration,
}

impl Context {
    /// A context with upstream's defaults. It registers the Pod informer with the
    /// [`POD_NODE_INDEX`] index, which node-scoped controllers use.
    ///
    /// # Errors
    /// The Pod informer cannot be built.
    pub fn new(
        client: Client,
        informers: Informers,
        metrics: ControllerMetrics,
        instance: impl Into<String>,
    ) -> Result<Self, BuildError> {
        informers.get_with::<Pod>(&ApiResource::of::<Pod>(), |b| {
            b.index(POD_NODE_INDEX, |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect())
        })?;
        Ok(Self {
            client,
            informers,
            metrics,
            instance: instance.into(),
            node_monitor_period: Duration::from_secs(5),
            node_monitor_grace_period: Duration::from_secs(40),
        })
    }
}

/// A controller ready to run until its token is cancelled.
pub type Running = Pin<Box<dyn Future<Output = Result<(), ControllerError>> + Send>>;

/// Errors building a controller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An informer could not be built.
    #[error(transparent)]
    Informer(#[from] kwatch::informer::InformerError),
    /// The controller's name is unknown.
    #[error("unknown controller {0:?}; known: {known}", known = NAMES.join(", "))]
    Unknown(String),
}

/// The built-in controllers, by the names `--controllers` takes.
pub const NAMES: &[&str] = &[
    "deployment",
    "endpointslice",
    "garbage-collector",
    "job",
    "namespace",
    "node-lifecycle",
    "persistentvolume-binder",
    "replicaset",
    "replicationcontroller",
    "serviceaccount",
];

/// Builds the controller called `name`.
///
/// # Errors
/// An unknown name, or an informer that cannot be built.
pub fn build(name: &str, ctx: &Context, cancel: tokio_util::sync::CancellationToken) -> Result<Running, BuildError> {
    match name {
        "deployment" => deployment::build(ctx, cancel),
        "endpointslice" => endpointslice::build(ctx, cancel),
        "garbage-collector" => gc::build(ctx, cancel),
        "job" => job::build(ctx, cancel),
        "namespace" => namespace::build(ctx, cancel),
        "node-lifecycle" => nodelifecycle::build(ctx, cancel),
        "persistentvolume-binder" => volume::build(ctx, cancel),
        "replicaset" => replicaset::build::<kapi::k8s::api::apps::v1::ReplicaSet>(ctx, cancel),
        "replicationcontroller" => replicaset::build::<kapi::k8s::api::core::v1::ReplicationController>(ctx, cancel),
        "serviceaccount" => serviceaccount::build(ctx, cancel),
        other => Err(BuildError::Unknown(other.to_owned())),
    }
}
