//! A finalizer helper: run cleanup before an object may go.
//!
//! [`finalizer`] adds the finalizer to live objects before their first reconcile, calls
//! the reconciler with [`FinalizerEvent::Apply`] while the object lives and with
//! [`FinalizerEvent::Cleanup`] once it is being deleted, and removes the finalizer only
//! after a successful cleanup. Both writes are merge patches pinned to the object's
//! resourceVersion, so a concurrent change makes them fail with a conflict (and retry)
//! instead of overwriting someone else's finalizers.

use std::future::Future;
use std::sync::Arc;

use kwatch::http::{Api, ClientError, Patch, PatchParams};
use kwatch::object::Object;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::runtime::{Action, ReconcileError};

/// Errors of the finalizer helper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizerError {
    /// Adding the finalizer failed.
    #[error("adding finalizer {finalizer}: {source}")]
    Add {
        /// The finalizer.
        finalizer: String,
        /// Why.
        source: ClientError,
    },
    /// Removing the finalizer failed.
    #[error("removing finalizer {finalizer}: {source}")]
    Remove {
        /// The finalizer.
        finalizer: String,
        /// Why.
        source: ClientError,
    },
    /// The reconciler failed.
    #[error(transparent)]
    Reconcile(ReconcileError),
    /// The finalizer name is not a qualified name (`example.com/cleanup`).
    #[error("invalid finalizer name {0:?}: it must be a qualified name like example.com/cleanup")]
    InvalidName(String),
}

impl From<FinalizerError> for ReconcileError {
    fn from(e: FinalizerError) -> Self {
        match e {
            FinalizerError::Reconcile(r) => r,
            FinalizerError::InvalidName(_) => ReconcileError::terminal(e),
            other => ReconcileError::new(other),
        }
    }
}

/// What the reconciler is asked to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object lives: reconcile it.
    Apply(Arc<K>),
    /// The object is being deleted: clean up what it owns outside the cluster.
    Cleanup(Arc<K>),
}

/// Runs `reconcile` under finalizer `name` (see the module docs).
///
/// # Errors
/// The reconciler's error, or a failed finalizer write (retried like any error).
pub async fn finalizer<K, F, Fut>(api: &Api<K>, name: &str, obj: Arc<K>, reconcile: F) -> Result<Action, FinalizerError>
where
    K: Object + Serialize + DeserializeOwned,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, ReconcileError>>,
{
    if !name.contains('/') || name.starts_with('/') || name.ends_with('/') {
        return Err(FinalizerError::InvalidName(name.to_owned()));
    }
    let meta = obj.metadata();
    let finalizers = meta.finalizers.clone().unwrap_or_default();
    let ours = finalizers.iter().any(|f| f == name);
    let deleting = meta.deletion_timestamp.is_some();
    let object_name = obj.name().to_owned();
    let rv = meta.resource_version.clone();
    match (deleting, ours) {
        (false, true) => reconcile(FinalizerEvent::Apply(obj)).await.map_err(FinalizerError::Reconcile),
        (false, false) => {
            let mut list = finalizers;
            list.push(name.to_owned());
            let patch = json!({"metadata": {"finalizers": list, "resourceVersion": rv}});
            api.patch(&object_name, &Patch::Merge(patch), &PatchParams::default())
                .await
                .map_err(|source| FinalizerError::Add { finalizer: name.to_owned(), source })?;
            // The write is an update event: the next reconcile sees the finalizer.
            Ok(Action::Done)
        }
        (true, true) => {
            let action = reconcile(FinalizerEvent::Cleanup(obj)).await.map_err(FinalizerError::Reconcile)?;
            let rest: Vec<String> = finalizers.into_iter().filter(|f| f != name).collect();
            let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": rv}});
            match api.patch(&object_name, &Patch::Merge(patch), &PatchParams::default()).await {
                Ok(_) => Ok(action),
                Err(ClientError::Api(e)) if e.code() == 404 => Ok(Action::Done),
                Err(source) => Err(FinalizerError::Remove { finalizer: name.to_owned(), source }),
            }
        }
        // Being deleted and not ours (already cleaned up): nothing to do.
        (true, false) => Ok(Action::Done),
    }
}
