//! Watch streams: [`BackendWatch`] (what callers read), [`WatchSender`] (what a backend
//! feeds), and the task that turns one store watch into backend events for either backend.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::{BackendError, BackendEvent, Change};
use crate::types::{Event, EventKind};
use crate::watch::WatchMessage;

/// Events buffered between a store watch and its reader. A reader that falls further
/// behind makes the store's watcher catch up from history instead (nothing is lost).
pub(super) const EVENT_QUEUE: usize = 256;

/// A running watch: read it with [`next`](Self::next) or as a [`Stream`]. Dropping it ends
/// the watch on the store.
///
/// [`Stream`]: tokio_stream::Stream
#[derive(Debug)]
pub struct BackendWatch {
    events: mpsc::Receiver<BackendEvent>,
    progress: mpsc::Sender<()>,
}

impl BackendWatch {
    /// A watch fed through the returned sender, which buffers `capacity` events: for
    /// implementing [`Backend::watch`](super::Backend::watch).
    pub fn channel(capacity: usize) -> (WatchSender, BackendWatch) {
        let (events_tx, events) = mpsc::channel(capacity.max(1));
        let (progress, progress_rx) = mpsc::channel(1);
        (WatchSender { events: events_tx, progress: progress_rx }, BackendWatch { events, progress })
    }

    /// The next event; `None` once the watch has ended (after its
    /// [`BackendEvent::Error`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (an `mpsc` receive).
    pub async fn next(&mut self) -> Option<BackendEvent> {
        self.events.recv().await
    }

    /// Asks for a [`BackendEvent::Progress`] with the store's current revision, sent once
    /// every earlier change was delivered (etcd's `RequestProgress`). Best effort: a store
    /// whose watcher is still catching up answers nothing (kstore, etcd ≥ 3.5); etcd 3.4
    /// answers at once, possibly ahead of pending events.
    pub fn request_progress(&self) {
        // A request already queued covers this one.
        let _ = self.progress.try_send(());
    }
}

impl tokio_stream::Stream for BackendWatch {
    type Item = BackendEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BackendEvent>> {
        self.events.poll_recv(cx)
    }
}

/// The feeding side of a [`BackendWatch`].
#[derive(Debug)]
pub struct WatchSender {
    events: mpsc::Sender<BackendEvent>,
    progress: mpsc::Receiver<()>,
}

impl WatchSender {
    /// Delivers an event, waiting while the reader's buffer is full; `false` once the
    /// reader is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled send delivered nothing.
    pub async fn send(&self, event: BackendEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Waits for the reader to ask for progress; `None` once it is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (an `mpsc` receive).
    pub async fn progress_requested(&mut self) -> Option<()> {
        self.progress.recv().await
    }

    /// Completes when the reader is gone.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&self) {
        self.events.closed().await
    }
}

/// One store watch, as the pump reads it.
pub(super) trait Source: Send + 'static {
    /// The next message; `Ok(None)` when the store closed the watch. Must be cancel safe.
    fn next(&mut self) -> impl Future<Output = Result<Option<WatchMessage>, BackendError>> + Send;
    /// Asks the store for a progress notification.
    fn request_progress(&mut self) -> impl Future<Output = Result<(), BackendError>> + Send;
}

enum Step {
    Gone,
    Progress,
    Message(Result<Option<WatchMessage>, BackendError>),
}

/// Forwards a store watch to its reader until either ends.
pub(super) async fn pump(mut source: impl Source, mut out: WatchSender) {
    loop {
        // The progress channel closes with the reader: no separate check for it is needed.
        let step = tokio::select! {
            request = out.progress_requested() => match request {
                Some(()) => Step::Progress,
                None => Step::Gone,
            },
            message = source.next() => Step::Message(message),
        };
        let ended = match step {
            Step::Gone => return,
            Step::Progress => source.request_progress().await.err(),
            Step::Message(Ok(Some(message))) => match forward(&out, message).await {
                Forwarded::More => None,
                Forwarded::Gone => return,
                Forwarded::Ended(e) => Some(e),
            },
            Step::Message(Ok(None)) => Some(BackendError::Unavailable("the store closed the watch".into())),
            Step::Message(Err(e)) => Some(e),
        };
        if let Some(error) = ended {
            out.send(BackendEvent::Error(error)).await;
            return;
        }
    }
}

enum Forwarded {
    More,
    Gone,
    Ended(BackendError),
}

async fn forward(out: &WatchSender, message: WatchMessage) -> Forwarded {
    match message {
        WatchMessage::Created { .. } => Forwarded::More,
        WatchMessage::Events { events, .. } => {
            for event in events {
                if !out.send(classify(event)).await {
                    return Forwarded::Gone;
                }
            }
            Forwarded::More
        }
        WatchMessage::Progress { revision, .. } => {
            if out.send(BackendEvent::Progress(revision)).await {
                Forwarded::More
            } else {
                Forwarded::Gone
            }
        }
        WatchMessage::Canceled { compact_revision, reason, .. } => Forwarded::Ended(if compact_revision > 0 {
            BackendError::Compacted { compact_revision }
        } else if reason.contains("no leader") || reason.is_empty() {
            BackendError::Unavailable(format!("watch canceled by the store: {reason}"))
        } else {
            BackendError::Other(format!("watch canceled by the store: {reason}"))
        }),
    }
}

/// etcd's put with version 1 is a creation, with a higher version an update.
pub(super) fn classify(event: Event) -> BackendEvent {
    let change = Change { kv: event.kv, prev_kv: event.prev_kv };
    match event.kind {
        EventKind::Delete => BackendEvent::Deleted(change),
        EventKind::Put if change.kv.version == 1 => BackendEvent::Added(change),
        EventKind::Put => BackendEvent::Modified(change),
    }
}
