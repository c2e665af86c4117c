//! The Watch service: one task per client stream reads its requests (create, cancel,
//! progress) and forwards what the store's watch stream delivers, in order. Requests are
//! handled between responses, so a client that stops reading also stops having its
//! requests handled (etcd handles a few more first); a `Created` header's revision always
//! says from where a new watch reports.
//!
//! The store's watch hub queues control messages (`Created`, `Canceled`) with `try_send`,
//! so a full queue would drop them. The task therefore empties the queue before each
//! create or cancel, and if a control message still went missing (the queue refilled in
//! between) it sends the answer itself once the queue is empty again: a control message
//! queued by the hub comes before anything queued after it, so by then it would have been
//! forwarded. A `Created` sent this way still precedes the watch's first other message.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Ctx, convert, errors};
use crate::proto::etcdserverpb as pb;
use crate::store::{StoreError, WatchStream};
use crate::types::Event;
use crate::watch::WatchMessage;

/// Key and value bytes of an event (with its previous key-value).
fn event_bytes(e: &Event) -> usize {
    e.kv.key.len() + e.kv.value.len() + e.prev_kv.as_ref().map_or(0, |p| p.key.len() + p.value.len())
}

/// Messages the store may queue for one client stream before slow watchers fall back to
/// catching up from history.
const HUB_QUEUE: usize = 256;

/// Responses buffered towards the client.
const OUT_QUEUE: usize = 64;

/// At most this many events, or about this many key and value bytes, are merged from
/// queued messages into one response: enough to amortise a response's cost, small enough
/// to stay far below clients' message size limits (grpc-go's default is 4 MiB).
const MERGE_EVENTS: usize = 1000;
const MERGE_BYTES: usize = 1 << 20;

type Out = mpsc::Sender<Result<pb::WatchResponse, Status>>;

pub(crate) struct WatchService {
    ctx: Arc<Ctx>,
}

impl WatchService {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl pb::watch_server::Watch for WatchService {
    type WatchStream = ReceiverStream<Result<pb::WatchResponse, Status>>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (out, rx) = mpsc::channel(OUT_QUEUE);
        let session = Session {
            stream: self.ctx.store.watch_stream(HUB_QUEUE),
            ctx: self.ctx.clone(),
            out,
            awaiting_created: HashMap::new(),
            awaiting_canceled: HashSet::new(),
            held: None,
        };
        tokio::spawn(session.run(request.into_inner()));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The client went away.
struct Gone;

struct Session {
    ctx: Arc<Ctx>,
    stream: WatchStream,
    out: Out,
    /// Watches created whose `Created` was not forwarded yet, with the revision before
    /// creation (the header of a `Created` sent in the hub's place).
    awaiting_created: HashMap<i64, i64>,
    /// Watches canceled by the client whose `Canceled` was not forwarded yet.
    awaiting_canceled: HashSet<i64>,
    /// A message taken from the queue while merging events that could not be merged; it
    /// is forwarded before anything else.
    held: Option<WatchMessage>,
}

impl Session {
    async fn run(mut self, mut incoming: Streaming<pb::WatchRequest>) {
        let mut reading = true;
        loop {
            if let Some(message) = self.held.take() {
                if self.forward(message).await.is_err() {
                    break;
                }
                continue;
            }
            let step = tokio::select! {
                _ = self.ctx.stop.cancelled() => {
                    let _ = self.out.try_send(Err(errors::stopped()));
                    Err(Gone)
                }
                _ = self.out.closed() => Err(Gone),
                request = incoming.message(), if reading => match request {
                    Ok(Some(request)) => self.handle(request).await,
                    // The client closed its side: etcd keeps delivering events.
                    Ok(None) => {
                        reading = false;
                        Ok(())
                    }
                    Err(_) => Err(Gone),
                },
                message = self.stream.next() => match message {
                    Some(message) => self.forward(message).await,
                    None => Err(Gone),
                },
            };
            if step.is_err() {
                break;
            }
        }
        self.ctx.store.close_watch_stream(&self.stream);
    }

    async fn handle(&mut self, request: pb::WatchRequest) -> Result<(), Gone> {
        use pb::watch_request::RequestUnion;
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => self.cancel(cancel.watch_id).await,
            Some(RequestUnion::ProgressRequest(_)) => {
                self.drain().await?;
                self.ctx.store.request_progress(&self.stream);
                Ok(())
            }
            // Unknown requests are ignored, as etcd does.
            None => Ok(()),
        }
    }

    async fn create(&mut self, create: pb::WatchCreateRequest) -> Result<(), Gone> {
        let request = convert::watch_request(create);
        let real_end = !request.range_end.is_empty() && request.range_end.as_ref() != b"\0";
        if real_end && request.key >= request.range_end {
            return self.refuse("mvcc: watcher range is empty".into()).await;
        }
        self.drain().await?;
        let before = self.ctx.store.revision();
        match self.ctx.store.watch(&self.stream, &request) {
            Ok(id) => {
                self.awaiting_created.insert(id, before);
                // Once the queue is empty, a `Created` still awaited was dropped.
                self.drain().await?;
                self.announce(id).await
            }
            Err(StoreError::Watch(e)) => self.refuse(errors::watch_cancel_reason(&e)).await,
            Err(e) => self.refuse(e.to_string()).await,
        }
    }

    /// etcd's answer to a create it refuses: created and canceled at once, id -1.
    async fn refuse(&mut self, reason: String) -> Result<(), Gone> {
        let response = pb::WatchResponse {
            header: self.ctx.header(self.ctx.store.revision()),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason,
            ..Default::default()
        };
        self.send(response).await
    }

    async fn cancel(&mut self, watch_id: i64) -> Result<(), Gone> {
        self.drain().await?;
        // Like etcd, an unknown id gets no answer.
        if !self.ctx.store.cancel_watch(&self.stream, watch_id) {
            return Ok(());
        }
        self.awaiting_canceled.insert(watch_id);
        // The watch is gone from the hub: once the queue is empty, nothing more for it is
        // coming, and a missing `Canceled` was dropped.
        self.drain().await?;
        if self.awaiting_canceled.remove(&watch_id) {
            self.awaiting_created.remove(&watch_id);
            let response = pb::WatchResponse {
                header: self.ctx.header(self.ctx.store.revision()),
                watch_id,
                canceled: true,
                ..Default::default()
            };
            self.send(response).await?;
        }
        Ok(())
    }

    /// Forwards everything the store has queued for this stream.
    async fn drain(&mut self) -> Result<(), Gone> {
        while let Some(message) = self.try_next() {
            self.forward(message).await?;
        }
        Ok(())
    }

    /// The next queued message, if one is ready now.
    fn try_next(&mut self) -> Option<WatchMessage> {
        if let Some(message) = self.held.take() {
            return Some(message);
        }
        // `unconstrained`: the task's cooperative budget must not make a queued message
        // look absent.
        let mut next = pin!(tokio::task::unconstrained(self.stream.next()));
        match next.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(message) => message,
            Poll::Pending => None,
        }
    }

    async fn forward(&mut self, message: WatchMessage) -> Result<(), Gone> {
        let response = match message {
            WatchMessage::Created { watch_id, revision } => {
                self.awaiting_created.remove(&watch_id);
                pb::WatchResponse { header: self.ctx.header(revision), watch_id, created: true, ..Default::default() }
            }
            WatchMessage::Events { watch_id, mut revision, mut events } => {
                self.announce(watch_id).await?;
                self.merge(watch_id, &mut revision, &mut events);
                pb::WatchResponse {
                    header: self.ctx.header(revision),
                    watch_id,
                    events: events.into_iter().map(convert::event).collect(),
                    ..Default::default()
                }
            }
            WatchMessage::Progress { watch_id, revision } => {
                self.announce(watch_id).await?;
                pb::WatchResponse { header: self.ctx.header(revision), watch_id, ..Default::default() }
            }
            WatchMessage::Canceled { watch_id, compact_revision, reason } => {
                self.announce(watch_id).await?;
                self.awaiting_canceled.remove(&watch_id);
                // etcd (3.4 and later) sends a compaction as `compact_revision` alone, with
                // no cancel reason; clients derive the error from the revision.
                let cancel_reason = if compact_revision != 0 { String::new() } else { reason };
                pb::WatchResponse {
                    header: self.ctx.header(self.ctx.store.revision()),
                    watch_id,
                    canceled: true,
                    compact_revision,
                    cancel_reason,
                    ..Default::default()
                }
            }
        };
        self.send(response).await
    }

    /// Appends the events of the messages queued right behind this one for the same watch,
    /// so that a client that fell behind gets many revisions per response (as etcd does
    /// when its unsynced watchers catch up) instead of paying a response per revision.
    /// Revisions stay whole and in order; the header carries the newest revision.
    fn merge(&mut self, watch_id: i64, revision: &mut i64, events: &mut Vec<Event>) {
        let mut bytes: usize = events.iter().map(event_bytes).sum();
        while events.len() < MERGE_EVENTS && bytes < MERGE_BYTES {
            match self.try_next() {
                Some(WatchMessage::Events { watch_id: id, revision: rev, events: more }) if id == watch_id => {
                    bytes += more.iter().map(event_bytes).sum::<usize>();
                    events.extend(more);
                    *revision = (*revision).max(rev);
                }
                Some(other) => {
                    self.held = Some(other);
                    break;
                }
                None => break,
            }
        }
    }

    /// Sends the `Created` the hub could not queue, before the watch's first other message.
    async fn announce(&mut self, watch_id: i64) -> Result<(), Gone> {
        let Some(revision) = self.awaiting_created.remove(&watch_id) else { return Ok(()) };
        let created =
            pb::WatchResponse { header: self.ctx.header(revision), watch_id, created: true, ..Default::default() };
        self.send(created).await
    }

    /// Sends a response; a client that does not read must not hold up shutdown.
    async fn send(&self, response: pb::WatchResponse) -> Result<(), Gone> {
        tokio::select! {
            sent = self.out.send(Ok(response)) => sent.map_err(|_| Gone),
            _ = self.ctx.stop.cancelled() => Err(Gone),
        }
    }
}
