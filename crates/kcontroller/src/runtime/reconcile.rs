//! What a reconciler is given and what it returns.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kapi::ObjectKey;
use kwatch::lister::BoxFuture;

/// One unit of work: the key of a primary object and the object as the cache holds it now
/// (`None` when it is gone — deleted, or never seen).
#[derive(Debug)]
pub struct Request<K> {
    /// `namespace/name` of the primary object.
    pub key: ObjectKey,
    /// The cached object at the time the worker took the key.
    pub object: Option<Arc<K>>,
}

/// What to do with a key after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Done until something changes; the key's backoff is forgotten.
    Done,
    /// Reconcile again after this delay (a deadline to check, a poll); backoff forgotten.
    RequeueAfter(Duration),
    /// Reconcile again through the rate limiter (like an error, without counting one).
    Requeue,
}

impl Action {
    /// [`Action::RequeueAfter`].
    pub fn requeue_after(delay: Duration) -> Self {
        Action::RequeueAfter(delay)
    }
}

/// A failed reconcile. Ordinary errors retry with per-key backoff; terminal ones are
/// recorded and not retried until the object changes again.
pub struct ReconcileError {
    source: Box<dyn StdError + Send + Sync>,
    terminal: bool,
}

impl ReconcileError {
    /// A retriable failure.
    pub fn new(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { source: source.into(), terminal: false }
    }

    /// A failure that retrying cannot fix (bad input in the object).
    pub fn terminal(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { source: source.into(), terminal: true }
    }

    /// Whether it is terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }
}

impl fmt::Debug for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconcileError").field("source", &self.source).field("terminal", &self.terminal).finish()
    }
}

impl fmt::Display for ReconcileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl StdError for ReconcileError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

impl From<kwatch::http::ClientError> for ReconcileError {
    fn from(e: kwatch::http::ClientError) -> Self {
        Self::new(e)
    }
}

/// The result of a reconcile.
pub type ReconcileResult = Result<Action, ReconcileError>;

/// Brings the world in line with one primary object.
///
/// # Correctness
/// A reconciler is level-triggered: it is given a key, not the event that queued it, and
/// must compute what to do from the current state alone (the cache and the API). It may
/// run again for the same key at any time, so it must be idempotent. The runtime never runs
/// it concurrently for one key.
pub trait Reconciler<K>: Send + Sync + 'static {
    /// Reconciles `request`.
    fn reconcile(&self, request: Request<K>) -> BoxFuture<'_, ReconcileResult>;
}

impl<K, F, Fut> Reconciler<K> for F
where
    K: Send + Sync + 'static,
    F: Fn(Request<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ReconcileResult> + Send + 'static,
{
    fn reconcile(&self, request: Request<K>) -> BoxFuture<'_, ReconcileResult> {
        Box::pin(self(request))
    }
}

impl<K, R: Reconciler<K> + ?Sized> Reconciler<K> for Arc<R> {
    fn reconcile(&self, request: Request<K>) -> BoxFuture<'_, ReconcileResult> {
        (**self).reconcile(request)
    }
}
