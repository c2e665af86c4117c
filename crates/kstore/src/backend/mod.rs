//! The storage backend of the Kubernetes API server: exactly the operations it asks of
//! etcd (see k8s.io/apiserver `storage/etcd3`), phrased in API-server terms over byte keys
//! and values, with two implementations:
//!
//! - [`EmbeddedBackend`] — an in-process [`Store`](crate::Store): no gRPC, no
//!   serialization, the same Raft path as any other write;
//! - [`RemoteBackend`] — any etcd v3 endpoint (an etcd cluster or `kstore-server`) through
//!   [`client::Client`](crate::client::Client).
//!
//! Both send the same requests (the transactions kube-apiserver sends) and classify errors
//! as etcd reports them over gRPC, so the same program behaves the same on either; the
//! conformance suite in `tests/backend.rs` runs unchanged against both, and against a real
//! etcd 3.4.
//!
//! ```
//! use std::sync::Arc;
//! use kstore::backend::{BackendError, BackendEvent, DynBackend, EmbeddedBackend, WatchOptions};
//! use kstore::{Store, StoreConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(Store::open(StoreConfig::single(1, None)).await?);
//! let backend: DynBackend = Arc::new(EmbeddedBackend::new(store));
//!
//! let mut watch = backend.watch("/registry/pods/".into(), WatchOptions::prefix()).await?;
//! let rev = backend.create("/registry/pods/default/a".into(), "v1".into(), None).await?;
//! let again = backend.create("/registry/pods/default/a".into(), "v2".into(), None).await;
//! assert!(matches!(again, Err(BackendError::AlreadyExists { .. })));
//! backend.update("/registry/pods/default/a".into(), "v2".into(), rev, None).await?;
//!
//! let Some(BackendEvent::Added(added)) = watch.next().await else { panic!("expected Added") };
//! assert_eq!(added.kv.mod_revision, rev);
//! assert!(matches!(watch.next().await, Some(BackendEvent::Modified(_))));
//! # Ok(())
//! # }
//! ```
//!
//! # Why boxed futures
//!
//! [`Backend`] methods return [`BoxFuture`]s so that the trait is object safe: the API
//! server holds one [`DynBackend`] (`Arc<dyn Backend>`) chosen at start-up from its flags
//! (embedded store or `--etcd-servers`), and none of its types are generic over storage —
//! as `storage.Interface` is an interface in kube-apiserver. `async fn` in a trait is not
//! object safe; a generic API server would be monomorphized per backend for no gain. The
//! cost is one allocation per call, negligible next to a Raft round or a network round
//! trip.

/// Implements [`Backend`] for a type that implements `ops::Kv` and has an inherent
/// `open_watch`: every request is the shared etcd-shaped logic in `ops`.
macro_rules! forward_backend {
    ($ty:ty) => {
        impl $crate::backend::Backend for $ty {
            fn get(&self, key: Bytes) -> BoxFuture<'_, Result<GetResponse, BackendError>> {
                Box::pin(ops::get(self, key))
            }

            fn list(&self, prefix: Bytes, opts: ListOptions) -> BoxFuture<'_, Result<ListResponse, BackendError>> {
                Box::pin(ops::list(self, prefix, opts))
            }

            fn count(&self, prefix: Bytes) -> BoxFuture<'_, Result<i64, BackendError>> {
                Box::pin(ops::count(self, prefix))
            }

            fn create(&self, key: Bytes, value: Bytes, lease: Option<i64>) -> BoxFuture<'_, Result<i64, BackendError>> {
                Box::pin(ops::create(self, key, value, lease))
            }

            fn update(
                &self,
                key: Bytes,
                value: Bytes,
                expected_mod_revision: i64,
                lease: Option<i64>,
            ) -> BoxFuture<'_, Result<i64, BackendError>> {
                Box::pin(ops::update(self, key, value, expected_mod_revision, lease))
            }

            fn delete(
                &self,
                key: Bytes,
                expected_mod_revision: Option<i64>,
            ) -> BoxFuture<'_, Result<DeleteResponse, BackendError>> {
                Box::pin(ops::delete(self, key, expected_mod_revision))
            }

            fn watch(&self, key: Bytes, opts: WatchOptions) -> BoxFuture<'_, Result<BackendWatch, BackendError>> {
                Box::pin(self.open_watch(key, opts))
            }

            fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), BackendError>> {
                Box::pin(ops::compact(self, revision))
            }

            fn current_revision(&self) -> BoxFuture<'_, Result<i64, BackendError>> {
                Box::pin(ops::current_revision(self))
            }

            fn grant_lease(&self, ttl_seconds: i64) -> BoxFuture<'_, Result<i64, BackendError>> {
                Box::pin(ops::grant_lease(self, ttl_seconds))
            }
        }
    };
}

mod embedded;
mod error;
mod ops;
mod remote;
mod stream;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use embedded::EmbeddedBackend;
pub use error::BackendError;
pub use remote::RemoteBackend;
pub use stream::{BackendWatch, WatchSender};

use crate::types::KeyValue;

/// A boxed, `Send` future: what [`Backend`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared backend, as the API server holds it.
pub type DynBackend = Arc<dyn Backend>;

/// The storage operations of the Kubernetes API server.
///
/// Keys and values are bytes; the API server chooses keys (`/registry/…`) and encodes
/// objects. Every revision is an etcd revision: it increases by one with each write, and
/// an object's `mod_revision` is its `resourceVersion`.
///
/// # Correctness
///
/// Implementations must give etcd's guarantees:
///
/// - Reads without a revision are linearizable: they reflect every write acknowledged
///   before they started.
/// - `create`, `update` and `delete` with a precondition are atomic compare-and-swaps on
///   the key's `mod_revision` (one etcd transaction each), and each successful write makes
///   exactly one new revision. Failed preconditions change nothing.
/// - Pages of a list read at the first page's revision see the store as it was then, or
///   fail with [`BackendError::Compacted`].
/// - A watch reports every change to its keys from its start revision on, in revision
///   order, each exactly once, until it ends with [`BackendEvent::Error`].
///
/// # Cancel safety
///
/// Dropping a read's future is harmless. Dropping a write's future (or getting
/// [`BackendError::Unavailable`] from one) leaves its outcome unknown: the write may
/// still apply. Callers retry writes with preconditions, as the API server does.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Reads one key at the latest revision (etcd `Range(key)`, linearizable).
    fn get(&self, key: Bytes) -> BoxFuture<'_, Result<GetResponse, BackendError>>;

    /// Reads the keys starting with `prefix`, a page at a time (etcd
    /// `Range(key, prefix_end, limit, revision)`). See [`ListOptions`] for pagination.
    ///
    /// Errors: [`BackendError::Compacted`] when `opts.revision` was compacted (a continue
    /// token that is too old), [`BackendError::FutureRevision`] when it is ahead of the
    /// store, [`BackendError::InvalidArgument`] for an empty prefix or a continue key
    /// outside the prefix.
    fn list(&self, prefix: Bytes, opts: ListOptions) -> BoxFuture<'_, Result<ListResponse, BackendError>>;

    /// Counts the keys starting with `prefix` at the latest revision (etcd
    /// `Range(prefix, count_only)`).
    fn count(&self, prefix: Bytes) -> BoxFuture<'_, Result<i64, BackendError>>;

    /// Creates a key that must not exist, attached to `lease` if given; returns the new
    /// revision (the object's `mod_revision` and `create_revision`).
    ///
    /// Sends `Txn(If ModRevision(key) == 0 Then Put(key, value, lease))`. Errors:
    /// [`BackendError::AlreadyExists`], [`BackendError::LeaseNotFound`].
    fn create(&self, key: Bytes, value: Bytes, lease: Option<i64>) -> BoxFuture<'_, Result<i64, BackendError>>;

    /// Replaces a key's value if its `mod_revision` is still `expected_mod_revision`;
    /// returns the new revision. The value is attached to `lease` if given (and detached
    /// from any lease otherwise), as a put does.
    ///
    /// Sends `Txn(If ModRevision(key) == expected Then Put(key, value, lease) Else
    /// Range(key))`. Errors: [`BackendError::Conflict`] with the key's current value
    /// (`None` if it does not exist), [`BackendError::LeaseNotFound`]. With
    /// `expected_mod_revision` 0 this creates the key if it does not exist, as
    /// kube-apiserver's `GuaranteedUpdate` does for a missing object.
    fn update(
        &self,
        key: Bytes,
        value: Bytes,
        expected_mod_revision: i64,
        lease: Option<i64>,
    ) -> BoxFuture<'_, Result<i64, BackendError>>;

    /// Deletes a key, if its `mod_revision` is `expected_mod_revision` when one is given;
    /// returns the deleting revision and the deleted key-value.
    ///
    /// Sends `Txn(If ModRevision(key) == expected Then DeleteRange(key, prev_kv) Else
    /// Range(key))`, or `DeleteRange(key, prev_kv)` without a precondition. Errors:
    /// [`BackendError::NotFound`], [`BackendError::Conflict`] with the current value.
    fn delete(
        &self,
        key: Bytes,
        expected_mod_revision: Option<i64>,
    ) -> BoxFuture<'_, Result<DeleteResponse, BackendError>>;

    /// Watches a key, or every key starting with it (`opts.prefix`). The watch is in place
    /// when the future completes: with `start_revision` 0 it reports every change made
    /// after that. A start revision that was compacted is reported by the stream, as its
    /// only event [`BackendEvent::Error`] with [`BackendError::Compacted`].
    fn watch(&self, key: Bytes, opts: WatchOptions) -> BoxFuture<'_, Result<BackendWatch, BackendError>>;

    /// Discards the history before `revision` (etcd `Compact`): reads and watches at
    /// earlier revisions fail with [`BackendError::Compacted`] afterwards. Errors:
    /// [`BackendError::Compacted`] if `revision` is not after the last compaction,
    /// [`BackendError::FutureRevision`] if it is ahead of the store.
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<(), BackendError>>;

    /// The store's current revision (linearizable).
    fn current_revision(&self) -> BoxFuture<'_, Result<i64, BackendError>>;

    /// Grants a lease of (at least) `ttl_seconds`; returns its id. Keys attached to it are
    /// deleted when it expires. The store may raise a short TTL to its minimum.
    fn grant_lease(&self, ttl_seconds: i64) -> BoxFuture<'_, Result<i64, BackendError>>;
}

/// The answer to [`Backend::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResponse {
    /// The store revision the read was served at.
    pub revision: i64,
    /// The key-value, if the key exists.
    pub kv: Option<KeyValue>,
}

/// Options of [`Backend::list`].
///
/// A paginated list reads every page at the revision of the first: set `limit` for the
/// first page and get the next page's options from [`ListOptions::next_page`] (it carries
/// the first page's revision, as kube-apiserver's continue token does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Most items to return; 0 for all.
    pub limit: i64,
    /// Start at this key (inclusive) instead of the prefix; it must start with the prefix.
    pub continue_from_key: Option<Bytes>,
    /// Revision to read at; 0 for the latest (linearizable).
    pub revision: i64,
    /// Return only the count, no items.
    pub count_only: bool,
}

impl ListOptions {
    /// The first page of at most `limit` items.
    pub fn limit(limit: i64) -> Self {
        Self { limit, ..Self::default() }
    }

    /// The options of the page after `page` (read with these options), at `page`'s
    /// revision; `None` after the last page.
    pub fn next_page(&self, page: &ListResponse) -> Option<ListOptions> {
        Some(ListOptions { continue_from_key: Some(page.continue_key()?), revision: page.revision, ..self.clone() })
    }
}

/// The answer to [`Backend::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListResponse {
    /// The revision the page reflects: the requested revision, or the store's revision
    /// when the latest was asked for. It is the list's `resourceVersion`.
    pub revision: i64,
    /// The key-values, in key order (empty with `count_only`).
    pub items: Vec<KeyValue>,
    /// Whether the limit cut the page: more keys follow.
    pub more: bool,
    /// Number of keys from the page's first key to the end of the prefix, at the page's
    /// revision (the limit ignored).
    pub count: i64,
}

impl ListResponse {
    /// Number of keys after this page (kube-apiserver's `remainingItemCount`).
    pub fn remaining(&self) -> i64 {
        if self.more { (self.count - self.items.len() as i64).max(0) } else { 0 }
    }

    /// The key the next page starts at (the last key followed by a zero byte, as
    /// kube-apiserver encodes it in continue tokens); `None` after the last page.
    pub fn continue_key(&self) -> Option<Bytes> {
        if !self.more {
            return None;
        }
        let mut key = self.items.last()?.key.to_vec();
        key.push(0);
        Some(Bytes::from(key))
    }
}

/// The answer to [`Backend::delete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteResponse {
    /// The deleting revision.
    pub revision: i64,
    /// The key-value that was deleted.
    pub prev_kv: KeyValue,
}

/// Options of [`Backend::watch`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchOptions {
    /// Watch every key starting with the key, not only the key.
    pub prefix: bool,
    /// First revision to report; 0 for changes after the watch is in place. To follow a
    /// list at revision `R`, start at `R + 1`.
    pub start_revision: i64,
    /// Include each change's previous key-value.
    pub prev_kv: bool,
    /// Ask the store for periodic [`BackendEvent::Progress`] when nothing changes (etcd's
    /// `progress_notify`; the interval is the server's).
    pub progress_notify: bool,
}

impl WatchOptions {
    /// A prefix watch from now, with previous key-values.
    pub fn prefix() -> Self {
        Self { prefix: true, prev_kv: true, ..Self::default() }
    }

    /// These options, starting at `revision`.
    pub fn from_revision(self, revision: i64) -> Self {
        Self { start_revision: revision, ..self }
    }
}

/// One changed key, as a watch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key-value after the change. For a deletion: the key, with `mod_revision` the
    /// deleting revision and everything else zero (etcd's tombstone).
    pub kv: KeyValue,
    /// The key-value before the change, when the watch asked for it and there was one.
    pub prev_kv: Option<KeyValue>,
}

/// What a watch delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendEvent {
    /// A key was created (an etcd put whose result has version 1).
    Added(Change),
    /// A key was updated (a put with version > 1).
    Modified(Change),
    /// A key was deleted (by a delete or its lease's end).
    Deleted(Change),
    /// Every change up to this revision was delivered (a bookmark).
    Progress(i64),
    /// The watch ended: [`BackendError::Compacted`] when its next revision was compacted
    /// (list again, then watch from the list's revision + 1),
    /// [`BackendError::Unavailable`] when the connection or the store went away (watch
    /// again from the last revision seen + 1). Nothing follows it.
    Error(BackendError),
}

impl BackendEvent {
    /// The revision the event is at: the change's, or the progress revision; `None` for
    /// an error.
    pub fn revision(&self) -> Option<i64> {
        match self {
            BackendEvent::Added(c) | BackendEvent::Modified(c) | BackendEvent::Deleted(c) => Some(c.kv.mod_revision),
            BackendEvent::Progress(revision) => Some(*revision),
            BackendEvent::Error(_) => None,
        }
    }

    /// The change, for added, modified and deleted keys.
    pub fn change(&self) -> Option<&Change> {
        match self {
            BackendEvent::Added(c) | BackendEvent::Modified(c) | BackendEvent::Deleted(c) => Some(c),
            BackendEvent::Progress(_) | BackendEvent::Error(_) => None,
        }
    }
}
