//! A TCP transport: one outgoing connection per peer, length-delimited frames, batching of
//! everything queued into one write, and snapshots streamed in chunks.
//!
//! Frame: `[len: u32 LE][kind: u8][body]` where `len` counts kind and body. Kind 0 is a
//! whole [`Message`]; kind 1 is a chunk of a snapshot message:
//! `from to term total offset` (varints), then on the first chunk the snapshot metadata,
//! then the chunk's bytes. The receiver reassembles chunks per connection and delivers one
//! `Snapshot` message, so snapshot size is bounded by memory, not by the frame limit.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Transport;
use crate::codec::{self, CodecError, Decode, Encode};
use crate::message::{Message, MessageBody};
use crate::types::{NodeId, Snapshot, SnapshotMeta};

/// Largest frame accepted (a frame is a message or one snapshot chunk).
pub const MAX_FRAME: usize = 64 << 20;
/// Size of snapshot chunks.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;
const KIND_MESSAGE: u8 = 0;
const KIND_SNAPSHOT_CHUNK: u8 = 1;

/// Errors of the TCP transport's receiving side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// Socket error.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A frame could not be decoded.
    #[error("bad frame: {0}")]
    Codec(#[from] CodecError),
    /// A frame was larger than [`MAX_FRAME`] or otherwise malformed.
    #[error("bad frame: {0}")]
    Frame(String),
}

/// Sends messages to peers over TCP. Each peer gets a writer task with a bounded queue;
/// when the queue is full or the peer unreachable, messages are dropped (Raft retries).
#[derive(Debug)]
pub struct TcpTransport {
    peers: TcpPeers,
}

/// The transport's address book, shareable so that members can be added or removed while
/// the node runs.
#[derive(Debug, Clone)]
pub struct TcpPeers {
    queues: Arc<Mutex<HashMap<NodeId, mpsc::Sender<Message>>>>,
    shutdown: CancellationToken,
}

const QUEUE_LEN: usize = 8192;

impl TcpPeers {
    /// Adds (or replaces) a peer; its writer task starts at once.
    pub fn add(&self, id: NodeId, addr: SocketAddr) {
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(writer(addr, rx, self.shutdown.clone()));
        if let Ok(mut q) = self.queues.lock() {
            // Replacing the sender ends the old writer when its queue drains.
            q.insert(id, tx);
        }
    }

    /// Removes a peer; its writer task ends.
    pub fn remove(&self, id: NodeId) {
        if let Ok(mut q) = self.queues.lock() {
            q.remove(&id);
        }
    }
}

impl TcpTransport {
    /// A transport to `peers`; writer tasks run until `shutdown` is cancelled.
    pub fn new(peers: HashMap<NodeId, SocketAddr>, shutdown: CancellationToken) -> Self {
        let t = Self { peers: TcpPeers { queues: Arc::new(Mutex::new(HashMap::new())), shutdown } };
        for (id, addr) in peers {
            t.peers.add(id, addr);
        }
        t
    }

    /// Adds (or replaces) a peer.
    pub fn add_peer(&mut self, id: NodeId, addr: SocketAddr) {
        self.peers.add(id, addr);
    }

    /// A handle to the address book, for changes while the node runs.
    pub fn peers(&self) -> TcpPeers {
        self.peers.clone()
    }
}

impl Transport for TcpTransport {
    fn send(&mut self, messages: Vec<Message>) {
        let Ok(queues) = self.peers.queues.lock() else { return };
        for m in messages {
            if let Some(q) = queues.get(&m.to) {
                let _ = q.try_send(m);
            }
        }
    }
}

async fn writer(addr: SocketAddr, mut rx: mpsc::Receiver<Message>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = TcpStream::connect(addr) => s,
        };
        let stream = match stream {
            Ok(s) => s,
            Err(_) => {
                // Drop what queued up meanwhile: it is stale by the time we reconnect.
                while rx.try_recv().is_ok() {}
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        let _ = stream.set_nodelay(true);
        let mut out = BufWriter::with_capacity(256 << 10, stream);
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                m = rx.recv() => match m { Some(m) => m, None => return },
            };
            let mut batch = vec![first];
            while batch.len() < 1024 {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if write_batch(&mut out, batch).await.is_err() {
                break; // reconnect
            }
        }
    }
}

async fn write_batch(out: &mut BufWriter<TcpStream>, batch: Vec<Message>) -> io::Result<()> {
    let mut buf = BytesMut::new();
    for m in batch {
        match m.body {
            MessageBody::Snapshot { snapshot } if snapshot.data.len() > SNAPSHOT_CHUNK => {
                out.write_all(&buf).await?;
                buf.clear();
                write_snapshot(out, m.from, m.to, m.term, snapshot).await?;
            }
            body => {
                let m = Message { body, ..m };
                buf.put_u32_le((m.encoded_len() + 1) as u32);
                buf.put_u8(KIND_MESSAGE);
                m.encode(&mut buf);
            }
        }
    }
    out.write_all(&buf).await?;
    out.flush().await
}

async fn write_snapshot(
    out: &mut BufWriter<TcpStream>,
    from: NodeId,
    to: NodeId,
    term: u64,
    snapshot: Snapshot,
) -> io::Result<()> {
    let total = snapshot.data.len() as u64;
    let mut offset = 0usize;
    while offset < snapshot.data.len() {
        let end = (offset + SNAPSHOT_CHUNK).min(snapshot.data.len());
        let mut head = BytesMut::new();
        for v in [from, to, term, total, offset as u64] {
            codec::put_uvarint(&mut head, v);
        }
        if offset == 0 {
            snapshot.meta.encode(&mut head);
        }
        let chunk = &snapshot.data[offset..end];
        out.write_u32_le((1 + head.len() + chunk.len()) as u32).await?;
        out.write_u8(KIND_SNAPSHOT_CHUNK).await?;
        out.write_all(&head).await?;
        out.write_all(chunk).await?;
        offset = end;
    }
    out.flush().await
}

/// Accepts connections and delivers decoded messages to `inbox` until `shutdown`.
pub async fn serve(listener: TcpListener, inbox: mpsc::Sender<Message>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let (inbox, shutdown) = (inbox.clone(), shutdown.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                r = read_connection(stream, inbox) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "raft connection closed");
                    }
                }
            }
        });
    }
}

struct PartialSnapshot {
    from: NodeId,
    to: NodeId,
    term: u64,
    meta: SnapshotMeta,
    data: BytesMut,
    total: usize,
}

async fn read_connection(stream: TcpStream, inbox: mpsc::Sender<Message>) -> Result<(), TcpError> {
    let _ = stream.set_nodelay(true);
    let mut stream = tokio::io::BufReader::with_capacity(256 << 10, stream);
    let mut partial: Option<PartialSnapshot> = None;
    loop {
        let len = match stream.read_u32_le().await {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if len == 0 || len > MAX_FRAME {
            return Err(TcpError::Frame(format!("frame of {len} bytes")));
        }
        let mut frame = vec![0u8; len];
        stream.read_exact(&mut frame).await?;
        let mut body = Bytes::from(frame);
        let kind = body.get_u8();
        let message = match kind {
            KIND_MESSAGE => Some(Message::decode_exact(body)?),
            KIND_SNAPSHOT_CHUNK => snapshot_chunk(&mut partial, body)?,
            k => return Err(TcpError::Frame(format!("unknown frame kind {k}"))),
        };
        if let Some(m) = message {
            if inbox.send(m).await.is_err() {
                return Ok(()); // node stopped
            }
        }
    }
}

fn snapshot_chunk(partial: &mut Option<PartialSnapshot>, mut body: Bytes) -> Result<Option<Message>, TcpError> {
    let from = codec::get_uvarint(&mut body, "chunk from")?;
    let to = codec::get_uvarint(&mut body, "chunk to")?;
    let term = codec::get_uvarint(&mut body, "chunk term")?;
    let total =
        usize::try_from(codec::get_uvarint(&mut body, "chunk total")?).map_err(|_| TcpError::Frame("size".into()))?;
    let offset = usize::try_from(codec::get_uvarint(&mut body, "chunk offset")?)
        .map_err(|_| TcpError::Frame("offset".into()))?;
    if offset == 0 {
        let meta = SnapshotMeta::decode(&mut body)?;
        // Reserve at most one chunk up front: `total` is the peer's claim, not a fact.
        let data = BytesMut::with_capacity(total.min(SNAPSHOT_CHUNK));
        *partial = Some(PartialSnapshot { from, to, term, meta, data, total });
    }
    let Some(p) = partial.as_mut() else { return Err(TcpError::Frame("snapshot chunk without a start".into())) };
    if p.from != from || p.to != to || p.term != term || p.total != total || p.data.len() != offset {
        *partial = None;
        return Err(TcpError::Frame("snapshot chunk out of sequence".into()));
    }
    if p.data.len() + body.len() > total {
        return Err(TcpError::Frame("snapshot larger than announced".into()));
    }
    p.data.extend_from_slice(&body);
    if p.data.len() < total {
        return Ok(None);
    }
    let Some(done) = partial.take() else { return Ok(None) };
    let snapshot = Snapshot { meta: done.meta, data: done.data.freeze() };
    Ok(Some(Message { from: done.from, to: done.to, term: done.term, body: MessageBody::Snapshot { snapshot } }))
}
