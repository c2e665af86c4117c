//! Where objects come from: the [`ListerWatcher`] trait, its parameters, events and errors.
//!
//! A source lists a collection (optionally in pages) and watches it from a resource
//! version. The HTTP source talks to an API server; [`MemoryListerWatcher`] serves objects
//! held in memory.
//!
//! [`MemoryListerWatcher`]: crate::memory::MemoryListerWatcher

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kapi::{Reason, StatusError};

/// The annotation a bookmark carries when it ends the initial events of a streaming list
/// (`metav1.InitialEventsAnnotationKey`).
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// The `Status` cause type upstream uses when a requested resource version is newer than the
/// server has seen (`metav1.CauseTypeResourceVersionTooLarge`).
pub const CAUSE_RESOURCE_VERSION_TOO_LARGE: &str = "ResourceVersionTooLarge";

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The events of one watch. Ends when the server closes the watch; an `Err` item is a
/// transport or decoding failure, after which the stream ends.
pub type WatchStream<K> = Pin<Box<dyn Stream<Item = Result<WatchEvent<K>, WatchError>> + Send>>;

/// How `resourceVersion` constrains a list (`metav1.ResourceVersionMatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceVersionMatch {
    /// Data at least as new as the version given.
    NotOlderThan,
    /// Data at exactly the version given.
    Exact,
}

impl ResourceVersionMatch {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceVersionMatch::NotOlderThan => "NotOlderThan",
            ResourceVersionMatch::Exact => "Exact",
        }
    }
}

/// Parameters of a list call (the list half of `metav1.ListOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Label selector in string syntax; `None` selects everything.
    pub label_selector: Option<String>,
    /// Field selector in string syntax; `None` selects everything.
    pub field_selector: Option<String>,
    /// Page size; `None` asks for everything at once.
    pub limit: Option<u32>,
    /// Continue token from the previous page. Set together with an empty `resource_version`.
    pub continue_token: Option<String>,
    /// Empty: the most recent data (a consistent read). `"0"`: any data, served from a cache.
    /// Otherwise a version, interpreted through `resource_version_match`.
    pub resource_version: String,
    /// How `resource_version` is interpreted.
    pub resource_version_match: Option<ResourceVersionMatch>,
}

/// Parameters of a watch call (the watch half of `metav1.ListOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchParams {
    /// Events after this version. Empty or `"0"` start from the current state, beginning
    /// with synthetic `Added` events for every object.
    pub resource_version: String,
    /// Server-side timeout after which the watch ends normally.
    pub timeout: Option<Duration>,
    /// Ask for bookmarks (`allowWatchBookmarks`).
    pub bookmarks: bool,
    /// Label selector in string syntax.
    pub label_selector: Option<String>,
    /// Field selector in string syntax.
    pub field_selector: Option<String>,
    /// Streaming list (`sendInitialEvents`): `Added` events for the state at (or after)
    /// `resource_version`, then a bookmark with `initial_events_end`. Needs `bookmarks` and
    /// `resource_version_match = NotOlderThan`.
    pub send_initial_events: bool,
    /// Only `NotOlderThan` is valid, and only with `send_initial_events`.
    pub resource_version_match: Option<ResourceVersionMatch>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectList<K> {
    /// The objects.
    pub items: Vec<K>,
    /// The version the list was read at.
    pub resource_version: String,
    /// Token for the next page; `None` (or empty) on the last page.
    pub continue_token: Option<String>,
    /// How many items the following pages hold, when the server says.
    pub remaining_item_count: Option<i64>,
}

/// One watch event.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<K> {
    /// An object was created (or, for a watch from the current state, exists).
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was deleted; this is its last state.
    Deleted(K),
    /// Progress: the watch has delivered every event up to `resource_version`.
    Bookmark {
        /// The version reached.
        resource_version: String,
        /// This bookmark ends the initial events of a streaming list.
        initial_events_end: bool,
    },
    /// The server ended the watch with an error (410 Expired when the version is too old).
    Error(StatusError),
}

impl<K> WatchEvent<K> {
    /// A bookmark event read from the bookmark object's metadata.
    pub fn bookmark_from_meta(meta: &ObjectMeta) -> Self {
        let initial_events_end =
            meta.annotations.as_ref().and_then(|a| a.get(INITIAL_EVENTS_END_ANNOTATION)).is_some_and(|v| v == "true");
        WatchEvent::Bookmark { resource_version: meta.resource_version.clone().unwrap_or_default(), initial_events_end }
    }
}

/// Why a list or watch failed, classified the way the reflector reacts to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// 410 Expired or Gone: the version (or continue token) was compacted away. The
    /// reflector lists again.
    #[error("resource version expired: {0}")]
    Expired(StatusError),
    /// The version asked for is newer than the server has seen. The reflector lists again
    /// from the most recent data.
    #[error("resource version too large: {0}")]
    TooLargeResourceVersion(StatusError),
    /// 429: the reflector backs off and retries the same call.
    #[error("too many requests: {0}")]
    TooManyRequests(StatusError),
    /// The connection failed or broke. The reflector backs off and watches again from the
    /// last version it saw.
    #[error("transport error: {0}")]
    Transport(String),
    /// A response could not be decoded.
    #[error("cannot decode response: {0}")]
    Decode(String),
    /// Any other API error.
    #[error("API error ({code}): {0}", code = .0.code())]
    Api(StatusError),
}

impl WatchError {
    /// Classifies a `Status` error the way client-go's reflector does.
    pub fn from_status(status: StatusError) -> Self {
        let too_large = status.causes().iter().any(|c| c.kind == CAUSE_RESOURCE_VERSION_TOO_LARGE)
            || (status.reason() == Reason::Timeout
                && (status.causes().iter().any(|c| c.message == "Too large resource version")
                    || status.message().contains("Too large resource version")));
        match status.reason() {
            _ if too_large => WatchError::TooLargeResourceVersion(status),
            Reason::Expired | Reason::Gone => WatchError::Expired(status),
            Reason::TooManyRequests => WatchError::TooManyRequests(status),
            _ => WatchError::Api(status),
        }
    }

    /// A transport failure.
    pub fn transport(message: impl Into<String>) -> Self {
        WatchError::Transport(message.into())
    }

    /// 410: the reflector must list again.
    pub fn is_expired(&self) -> bool {
        matches!(self, WatchError::Expired(_))
    }

    /// The version asked for is unavailable (expired or too new): list from the most recent
    /// data instead.
    pub fn is_resource_version_unavailable(&self) -> bool {
        matches!(self, WatchError::Expired(_) | WatchError::TooLargeResourceVersion(_))
    }

    /// Worth retrying the same call after a backoff (429, transport errors).
    pub fn is_retriable(&self) -> bool {
        matches!(self, WatchError::TooManyRequests(_) | WatchError::Transport(_))
    }

    /// The `Status` error, when the server sent one.
    pub fn status(&self) -> Option<&StatusError> {
        match self {
            WatchError::Expired(s)
            | WatchError::TooLargeResourceVersion(s)
            | WatchError::TooManyRequests(s)
            | WatchError::Api(s) => Some(s),
            WatchError::Transport(_) | WatchError::Decode(_) => None,
        }
    }
}

impl From<StatusError> for WatchError {
    fn from(status: StatusError) -> Self {
        WatchError::from_status(status)
    }
}

/// A source of objects of one kind: lists and watches.
///
/// # Correctness
///
/// Implementations follow the API server's semantics, which the reflector relies on:
/// a list returns a consistent view at its `resource_version`, and every page of a paginated
/// list shares it; a watch from version `N` delivers, in order, every change after `N`
/// (or ends with 410 Expired when `N` is too old); `Deleted` carries the object's last
/// state; bookmarks only carry versions whose earlier events have all been delivered.
pub trait ListerWatcher<K>: Send + Sync {
    /// Lists one page.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; nothing is left half-done on the client.
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>>;

    /// Starts a watch.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; a watch that was being set up is closed.
    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>>;
}

impl<K, L: ListerWatcher<K> + ?Sized> ListerWatcher<K> for Arc<L> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>> {
        (**self).list(params)
    }
    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>> {
        (**self).watch(params)
    }
}

impl<K, L: ListerWatcher<K> + ?Sized> ListerWatcher<K> for Box<L> {
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>> {
        (**self).list(params)
    }
    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>> {
        (**self).watch(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::status::Cause;

    #[test]
    fn classification_follows_client_go() {
        assert!(WatchError::from_status(StatusError::expired("too old resource version: 1 (5)")).is_expired());
        assert!(WatchError::from_status(StatusError::gone("gone")).is_expired());
        let e = WatchError::from_status(StatusError::too_many_requests("slow down", 1));
        assert!(e.is_retriable() && !e.is_expired());
        assert!(WatchError::transport("connection refused").is_retriable());
        let internal = WatchError::from_status(StatusError::internal("boom"));
        assert!(matches!(internal, WatchError::Api(_)));
        assert!(!internal.is_retriable() && !internal.is_resource_version_unavailable());
        assert_eq!(internal.status().map(StatusError::code), Some(500));
    }

    #[test]
    fn too_large_resource_version_forms() {
        let by_cause = StatusError::timeout("Too large resource version: 10, current: 5", 1).with_causes(vec![Cause {
            kind: CAUSE_RESOURCE_VERSION_TOO_LARGE.into(),
            field: String::new(),
            message: "Too large resource version".into(),
        }]);
        assert!(matches!(WatchError::from_status(by_cause), WatchError::TooLargeResourceVersion(_)));
        // Servers 1.17.0–1.18.5 only say it in the message of a Timeout.
        let by_message = StatusError::timeout("Too large resource version: 10, current: 5", 1);
        let e = WatchError::from_status(by_message);
        assert!(e.is_resource_version_unavailable() && !e.is_expired());
        // The same words under another reason are not this error.
        let other = StatusError::bad_request("Too large resource version");
        assert!(matches!(WatchError::from_status(other), WatchError::Api(_)));
    }

    #[test]
    fn bookmark_annotation() {
        let mut meta = ObjectMeta { resource_version: Some("42".into()), ..ObjectMeta::default() };
        assert_eq!(
            WatchEvent::<()>::bookmark_from_meta(&meta),
            WatchEvent::Bookmark { resource_version: "42".into(), initial_events_end: false }
        );
        meta.annotations = Some([(INITIAL_EVENTS_END_ANNOTATION.to_owned(), "true".to_owned())].into());
        assert_eq!(
            WatchEvent::<()>::bookmark_from_meta(&meta),
            WatchEvent::Bookmark { resource_version: "42".into(), initial_events_end: true }
        );
        assert_eq!(ResourceVersionMatch::NotOlderThan.as_str(), "NotOlderThan");
    }

    #[test]
    fn map_keeps_event_kind() {
        let ev = WatchEvent::Modified(2).map(|x| x * 10);
        assert_eq!(ev, WatchEvent::Modified(20));
        let bm: WatchEvent<u8> =
            WatchEvent::<u32>::Bookmark { resource_version: "1".into(), initial_events_end: true }.map(|_| 0u8);
        assert!(matches!(bm, WatchEvent::Bookmark { initial_events_end: true, .. }));
    }
}
