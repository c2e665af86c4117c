//! The replicated store: a kraft node whose state machine is [`KvState`], plus watchers and
//! lease expiry. Writes are Raft proposals; linearizable reads wait for a ReadIndex
//! barrier; serializable reads are served from the local replica.
//!
//! This is the in-process API (no gRPC in the path). The gRPC services and the API
//! server's storage backend are built on it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kraft::node::tcp::{self, TcpPeers, TcpTransport};
use kraft::node::{MemStorage, Node, NodeConfig, NodeError, NodeHandle, Start, StateMachine, Transport, WalStorage};
use kraft::{Change, Config, Message, NodeId, Role};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::lease::ExpiryClock;
use crate::mvcc::MvccError;
use crate::state::{ApplyError, Command, KvState, Outcome, decode_command, encode_command};
use crate::types::*;
use crate::watch::{StreamId, WatchError, WatchHub, WatchMessage, WatchRequest};

/// Errors of store operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The request was refused by the state machine (same answer on every replica).
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Raft could not take the request (no leader, shutting down, …). Often retryable.
    #[error("raft: {0}")]
    Raft(#[from] NodeError),
    /// A watch could not be created.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// Lease keep-alives must go to the leader.
    #[error("etcdserver: not leader (leader: {leader:?})")]
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// Storage or network set-up failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The request timed out.
    #[error("etcdserver: request timed out")]
    Timeout,
}

impl From<MvccError> for StoreError {
    fn from(e: MvccError) -> Self {
        StoreError::Apply(ApplyError::Mvcc(e))
    }
}

/// How to run a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// This member's id (non-zero).
    pub id: NodeId,
    /// Where the write-ahead log and snapshots live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Peer (Raft) addresses of the initial members, this one included; empty or only this
    /// member means a single-node store.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where to listen for peers, if not this member's entry in `peers`.
    pub peer_listen: Option<SocketAddr>,
    /// Join an existing cluster instead of bootstrapping a new one.
    pub join: bool,
    /// Raft tick length.
    pub tick: Duration,
    /// Election timeout in ticks.
    pub election_ticks: u32,
    /// Shortest lease TTL in seconds.
    pub min_lease_ttl: i64,
    /// Interval of progress notifications to watchers that asked for them.
    pub progress_notify_interval: Duration,
    /// Cluster id reported in response headers.
    pub cluster_id: u64,
    /// Snapshot after this many applied entries.
    pub snapshot_entries: u64,
    /// How long a write may wait to be applied before it fails with
    /// [`StoreError::Timeout`] (it may still apply later, as with etcd).
    pub request_timeout: Duration,
}

impl StoreConfig {
    /// A single-node store: 100 ms ticks, 1 s election timeout, etcd's defaults elsewhere.
    pub fn single(id: NodeId, data_dir: Option<PathBuf>) -> Self {
        Self {
            id,
            data_dir,
            peers: BTreeMap::new(),
            peer_listen: None,
            join: false,
            tick: Duration::from_millis(100),
            election_ticks: 10,
            min_lease_ttl: 2,
            progress_notify_interval: Duration::from_secs(600),
            cluster_id: 0x6b73_746f_7265,
            snapshot_entries: 100_000,
            request_timeout: Duration::from_secs(7),
        }
    }
}

/// A point-in-time summary (etcd `Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// This member.
    pub member_id: NodeId,
    /// The leader, if known.
    pub leader: Option<NodeId>,
    /// Raft term.
    pub raft_term: u64,
    /// Raft commit index.
    pub raft_index: u64,
    /// Raft applied index.
    pub raft_applied_index: u64,
    /// Store revision.
    pub revision: i64,
    /// Approximate bytes of live data.
    pub db_size: i64,
    /// Whether this member is a learner.
    pub is_learner: bool,
}

struct Shared {
    id: NodeId,
    state: Mutex<Applied>,
    next_request: AtomicU64,
}

struct Applied {
    kv: KvState,
    hub: WatchHub,
    waiters: HashMap<u64, oneshot::Sender<Result<Outcome, ApplyError>>>,
    expiry: ExpiryClock,
    is_leader: bool,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Applied> {
    // A panic while holding the lock cannot leave `Applied` half-updated in a way later
    // readers could misread more than the panic itself already signals.
    shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Machine {
    shared: Arc<Shared>,
}

impl StateMachine for Machine {
    fn apply(&mut self, _index: u64, data: Bytes) -> Bytes {
        let Ok((origin, request, cmd)) = decode_command(data) else {
            tracing::error!("kstore: undecodable command in the log; skipped on every replica");
            return Bytes::new();
        };
        let mut st = lock(&self.shared);
        let (result, events) = st.kv.apply(&cmd);
        if let (Ok(Outcome::LeaseGrant { id, .. }), true) = (&result, st.is_leader) {
            let st = &mut *st;
            st.expiry.renew(st.kv.lessor(), *id, Instant::now());
        }
        if !events.is_empty() {
            let rev = st.kv.mvcc().revision();
            st.hub.notify(rev, &events);
        }
        if origin == self.shared.id {
            if let Some(tx) = st.waiters.remove(&request) {
                let _ = tx.send(result);
            }
        }
        Bytes::new()
    }

    fn snapshot(&self) -> Bytes {
        lock(&self.shared).kv.snapshot()
    }

    fn restore(&mut self, data: &[u8]) {
        match KvState::restore(Bytes::copy_from_slice(data)) {
            Ok(kv) => {
                let mut st = lock(&self.shared);
                st.kv = kv;
                // Revisions up to the snapshot were never delivered live: watchers catch up
                // from the restored history (or learn that it was compacted).
                st.hub.resync_all();
            }
            Err(e) => tracing::error!(error = %e, "kstore: snapshot could not be decoded"),
        }
    }
}

/// A transport for a single-node group (there is nobody to talk to).
struct NoPeers;

impl Transport for NoPeers {
    fn send(&mut self, _messages: Vec<Message>) {}
}

/// A running store.
pub struct Store {
    shared: Arc<Shared>,
    /// The peer address book (multi-member stores), for adding members at run time.
    peers: Option<TcpPeers>,
    peer_addrs: Mutex<BTreeMap<NodeId, SocketAddr>>,
    node: Option<Node>,
    handle: NodeHandle,
    stop: CancellationToken,
    next_stream: AtomicU64,
    cluster_id: u64,
    request_timeout: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("id", &self.shared.id).finish()
    }
}

impl Store {
    /// Opens (or creates) a store and starts its background work on the current runtime.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let shared = Arc::new(Shared {
            id: cfg.id,
            state: Mutex::new(Applied {
                kv: KvState::new(cfg.min_lease_ttl),
                hub: WatchHub::new(),
                waiters: HashMap::new(),
                expiry: ExpiryClock::new(),
                is_leader: false,
            }),
            next_request: AtomicU64::new(1),
        });
        let mut raft = Config::new(cfg.id);
        raft.election_tick = cfg.election_ticks;
        let mut node_cfg = NodeConfig::new(raft);
        node_cfg.tick = cfg.tick;
        node_cfg.snapshot_entries = cfg.snapshot_entries;
        let members: Vec<NodeId> =
            if cfg.peers.is_empty() { vec![cfg.id] } else { cfg.peers.keys().copied().collect() };
        let start = if cfg.join { Start::Existing } else { Start::Bootstrap { voters: members, learners: vec![] } };
        let stop = CancellationToken::new();
        let machine = Machine { shared: shared.clone() };
        // With peer addresses the store talks TCP even alone, so members can be added later.
        let multi = !cfg.peers.is_empty();
        let mut peers_handle = None;
        let node = match (&cfg.data_dir, multi) {
            (Some(dir), false) => {
                let storage = WalStorage::open(dir.join("raft"), Default::default())?;
                Node::start(node_cfg, start, storage, NoPeers, machine)?
            }
            (None, false) => Node::start(node_cfg, start, MemStorage::new(), NoPeers, machine)?,
            (dir, true) => {
                // Bind first: a taken port must fail before anything is started.
                let addr = cfg.peer_listen.or_else(|| cfg.peers.get(&cfg.id).copied()).ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "this member has no peer address")
                })?;
                let listener = TcpListener::bind(addr).await?;
                let peers: HashMap<NodeId, SocketAddr> =
                    cfg.peers.iter().filter(|(id, _)| **id != cfg.id).map(|(&id, &a)| (id, a)).collect();
                let transport = TcpTransport::new(peers, stop.clone());
                peers_handle = Some(transport.peers());
                let node = match dir {
                    Some(dir) => {
                        let storage = WalStorage::open(dir.join("raft"), Default::default())?;
                        Node::start(node_cfg, start, storage, transport, machine)?
                    }
                    None => Node::start(node_cfg, start, MemStorage::new(), transport, machine)?,
                };
                tokio::spawn(tcp::serve(listener, node.inbox(), stop.clone()));
                node
            }
        };
        let handle = node.handle();
        let alone = cfg.peers.len() <= 1;
        if alone && !cfg.join {
            // A single voter need not wait for an election timeout.
            let _ = handle.campaign().await;
        }
        tokio::spawn(background(shared.clone(), handle.clone(), stop.clone(), cfg.progress_notify_interval));
        Ok(Store {
            shared,
            peers: peers_handle,
            peer_addrs: Mutex::new(cfg.peers.clone()),
            node: Some(node),
            handle,
            stop,
            next_stream: AtomicU64::new(1),
            cluster_id: cfg.cluster_id,
            request_timeout: cfg.request_timeout,
        })
    }

    /// This member's id.
    pub fn member_id(&self) -> NodeId {
        self.shared.id
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The kraft node (membership changes, leadership transfer, status).
    pub fn raft(&self) -> &NodeHandle {
        &self.handle
    }

    /// Peer addresses known to this member (initial members and members added since).
    pub fn peer_addresses(&self) -> BTreeMap<NodeId, SocketAddr> {
        self.peer_addrs.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Adds a member reachable at `peer` (leader only): records its address, then proposes
    /// the membership change. The new member must be started with the existing cluster's
    /// members and join (`--initial-cluster-state existing`).
    pub async fn add_member(&self, id: NodeId, peer: SocketAddr, learner: bool) -> Result<(), StoreError> {
        let Some(peers) = &self.peers else {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this store was started without peer addresses and cannot grow",
            )));
        };
        peers.add(id, peer);
        if let Ok(mut m) = self.peer_addrs.lock() {
            m.insert(id, peer);
        }
        let change = if learner { Change::AddLearner(id) } else { Change::AddVoter(id) };
        self.handle.change_membership(vec![change]).await?;
        Ok(())
    }

    async fn propose(&self, cmd: Command) -> Result<Outcome, StoreError> {
        let request = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared).waiters.insert(request, tx);
        let data = encode_command(self.shared.id, request, &cmd);
        let applied = async {
            self.handle.propose(data).await?;
            rx.await.map_err(|_| StoreError::Raft(NodeError::Stopped))
        };
        // A proposal forwarded to a leader that then lost it never applies: give up after
        // the request timeout instead of waiting forever.
        let result = tokio::time::timeout(self.request_timeout, applied).await;
        match result {
            Ok(Ok(outcome)) => Ok(outcome?),
            Ok(Err(e)) => {
                lock(&self.shared).waiters.remove(&request);
                Err(e)
            }
            Err(_) => {
                lock(&self.shared).waiters.remove(&request);
                Err(StoreError::Timeout)
            }
        }
    }

    /// Reads a key or range. Linearizable unless `req.serializable`.
    pub async fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        if !req.serializable {
            self.handle.read_barrier().await?;
        }
        Ok(lock(&self.shared).kv.mvcc().range(req)?)
    }

    /// Writes a key.
    pub async fn put(&self, req: PutRequest) -> Result<PutResponse, StoreError> {
        match self.propose(Command::Put(req)).await? {
            Outcome::Put(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes a key or range.
    pub async fn delete_range(&self, req: DeleteRangeRequest) -> Result<DeleteRangeResponse, StoreError> {
        match self.propose(Command::DeleteRange(req)).await? {
            Outcome::DeleteRange(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Runs a transaction.
    pub async fn txn(&self, req: TxnRequest) -> Result<TxnResponse, StoreError> {
        match self.propose(Command::Txn(req)).await? {
            Outcome::Txn(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    /// Compacts history up to `revision`; returns the current revision.
    pub async fn compact(&self, revision: i64) -> Result<i64, StoreError> {
        match self.propose(Command::Compact(revision)).await? {
            Outcome::Compact { revision } => Ok(revision),
            other => Err(unexpected(other)),
        }
    }

    /// Creates a lease (`id` 0 = pick one); returns (id, ttl).
    pub async fn lease_grant(&self, id: i64, ttl: i64) -> Result<(i64, i64), StoreError> {
        let id = if id != 0 { id } else { self.new_lease_id() };
        match self.propose(Command::LeaseGrant { id, ttl }).await? {
            Outcome::LeaseGrant { id, ttl, .. } => Ok((id, ttl)),
            other => Err(unexpected(other)),
        }
    }

    fn new_lease_id(&self) -> i64 {
        // Member id in the high bits, a clock-seeded counter below: unique and positive.
        let n = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        let clock =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let t = clock ^ u64::from(std::process::id());
        let id = ((self.shared.id & 0xffff) << 47) | ((t.rotate_left(17) ^ n) & ((1 << 47) - 1));
        (id as i64).max(1)
    }

    /// Revokes a lease and deletes its keys; returns the store revision.
    pub async fn lease_revoke(&self, id: i64) -> Result<i64, StoreError> {
        match self.propose(Command::LeaseRevoke { id }).await? {
            Outcome::LeaseRevoke { revision } => Ok(revision),
            other => Err(unexpected(other)),
        }
    }

    /// Renews a lease; returns its TTL, or 0 if it does not exist. Leader only.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<i64, StoreError> {
        let status = self.handle.status().await?;
        if status.role != Role::Leader {
            return Err(StoreError::NotLeader { leader: status.leader });
        }
        let mut st = lock(&self.shared);
        let st = &mut *st;
        Ok(st.expiry.renew(st.kv.lessor(), id, Instant::now()).unwrap_or(0))
    }

    /// A lease's remaining and granted TTL and (optionally) its keys; `None` if unknown.
    pub async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<Option<(i64, i64, Vec<Bytes>)>, StoreError> {
        self.handle.read_barrier().await?;
        let st = lock(&self.shared);
        let Some(lease) = st.kv.lessor().get(id) else { return Ok(None) };
        let remaining = st.expiry.remaining(id, Instant::now()).unwrap_or(lease.ttl);
        let keys = if keys { lease.keys.iter().cloned().collect() } else { Vec::new() };
        Ok(Some((remaining, lease.ttl, keys)))
    }

    /// Every lease id.
    pub async fn lease_leases(&self) -> Result<Vec<i64>, StoreError> {
        self.handle.read_barrier().await?;
        Ok(lock(&self.shared).kv.lessor().ids())
    }

    /// Opens a watch stream: watches created on it deliver to the returned receiver.
    pub fn watch_stream(&self, capacity: usize) -> WatchStream {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        WatchStream { id: self.next_stream.fetch_add(1, Ordering::Relaxed), tx, rx }
    }

    /// Creates a watch on a stream; returns its id.
    pub fn watch(&self, stream: &WatchStream, req: &WatchRequest) -> Result<i64, StoreError> {
        let mut st = lock(&self.shared);
        let rev = st.kv.mvcc().revision();
        let id = st.hub.watch(stream.id, req, rev, stream.tx.clone())?;
        // Start catching up right away rather than on the next background round.
        let st = &mut *st;
        st.hub.sync(st.kv.mvcc());
        Ok(id)
    }

    /// Cancels a watch.
    pub fn cancel_watch(&self, stream: &WatchStream, watch_id: i64) -> bool {
        lock(&self.shared).hub.cancel(stream.id, watch_id)
    }

    /// Asks for a progress notification on the stream (sent when all its watches are
    /// caught up).
    pub fn request_progress(&self, stream: &WatchStream) {
        let mut st = lock(&self.shared);
        let rev = st.kv.mvcc().revision();
        st.hub.request_progress(stream.id, rev, &stream.tx);
    }

    /// Closes a stream's watches.
    pub fn close_watch_stream(&self, stream: &WatchStream) {
        lock(&self.shared).hub.close_stream(stream.id);
    }

    /// A status summary.
    pub async fn status(&self) -> Result<StoreStatus, StoreError> {
        let s = self.handle.status().await?;
        let st = lock(&self.shared);
        let (revision, db_size) = (st.kv.mvcc().revision(), st.kv.mvcc().approximate_size() as i64);
        Ok(StoreStatus {
            member_id: s.id,
            leader: s.leader,
            raft_term: s.term,
            raft_index: s.committed,
            raft_applied_index: s.applied,
            revision,
            db_size,
            is_learner: s.membership.is_learner(s.id),
        })
    }

    /// The current store revision (local replica).
    pub fn revision(&self) -> i64 {
        lock(&self.shared).kv.mvcc().revision()
    }

    /// A serialized snapshot of the local replica (etcd `Maintenance.Snapshot`).
    pub fn snapshot(&self) -> Bytes {
        lock(&self.shared).kv.snapshot()
    }

    /// A hash of the key-values at `revision` (0 = current) and the compact revision.
    pub fn hash_kv(&self, revision: i64) -> Result<(u32, i64, i64), StoreError> {
        let st = lock(&self.shared);
        let (hash, compacted) = st.kv.mvcc().hash_kv(revision)?;
        Ok((hash, compacted, st.kv.mvcc().revision()))
    }

    /// Stops background work and the Raft node, waiting for the write in progress.
    pub async fn shutdown(mut self) -> Result<(), StoreError> {
        self.stop.cancel();
        if let Some(node) = self.node.take() {
            node.shutdown().await?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A watch stream: watches created on it deliver here.
#[derive(Debug)]
pub struct WatchStream {
    id: StreamId,
    tx: mpsc::Sender<WatchMessage>,
    rx: mpsc::Receiver<WatchMessage>,
}

impl WatchStream {
    /// The next message.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (an `mpsc` receive).
    pub async fn next(&mut self) -> Option<WatchMessage> {
        self.rx.recv().await
    }

    /// The stream's id.
    pub fn id(&self) -> StreamId {
        self.id
    }
}

fn unexpected(outcome: Outcome) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("unexpected outcome {outcome:?}")))
}

/// Watch catch-up, progress notifications, leadership bookkeeping and lease expiry.
async fn background(shared: Arc<Shared>, handle: NodeHandle, stop: CancellationToken, progress_every: Duration) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_progress = Instant::now();
    let mut rounds = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        rounds += 1;
        {
            let mut st = lock(&shared);
            let st = &mut *st;
            st.hub.sync(st.kv.mvcc());
            if last_progress.elapsed() >= progress_every {
                last_progress = Instant::now();
                let rev = st.kv.mvcc().revision();
                st.hub.progress_all(rev);
            }
        }
        // Leadership and lease expiry, every 500 ms.
        if rounds % 10 != 0 {
            continue;
        }
        let Ok(status) = handle.status().await else { return };
        let expired = {
            let mut st = lock(&shared);
            let st = &mut *st;
            let leader = status.role == Role::Leader;
            if leader && !st.is_leader {
                st.expiry.promote(st.kv.lessor(), Instant::now());
            } else if !leader && st.is_leader {
                st.expiry.demote();
            }
            st.is_leader = leader;
            if leader { st.expiry.expired(st.kv.lessor(), Instant::now()) } else { Vec::new() }
        };
        for id in expired {
            let request = shared.next_request.fetch_add(1, Ordering::Relaxed);
            let data = encode_command(shared.id, request, &Command::LeaseRevoke { id });
            if let Err(e) = handle.propose(data).await {
                tracing::warn!(lease = id, error = %e, "kstore: could not revoke an expired lease");
            }
        }
    }
}
