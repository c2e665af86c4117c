//! The async driver: runs a [`Raft`] core on tokio with a [`LogStorage`], a
//! [`Transport`] and the application's [`StateMachine`].
//!
//! One task owns the core. It waits for a tick, a message or a client command, then drains
//! whatever else is already queued before handling the resulting `Ready` — so everything
//! that arrived during one fsync is persisted by the next single fsync (group commit).

mod storage;
pub mod tcp;
mod transport;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use storage::{LogStorage, MemStorage, WalStorage};
pub use transport::{MemNetwork, MemTransport, Transport};

use crate::config::Config;
use crate::membership::{Change, Membership};
use crate::message::Message;
use crate::raft::{Proposed, Raft, RaftError, Role};
use crate::types::{Index, NodeId, Payload, Snapshot, Term};

/// The application's replicated state.
pub trait StateMachine: Send + 'static {
    /// Applies committed data at `index`; the result is returned to the proposer. `data`
    /// shares the log entry's buffer, so keeping slices of it costs no copy.
    fn apply(&mut self, index: Index, data: Bytes) -> Bytes;
    /// Serializes the whole state (for snapshots).
    fn snapshot(&self) -> Bytes;
    /// Replaces the state with a snapshot's.
    fn restore(&mut self, data: &[u8]);
}

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Raft refused the request (see [`RaftError::is_fatal`]).
    #[error(transparent)]
    Raft(#[from] RaftError),
    /// Storage failed: fatal, the node stopped.
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
    /// The proposal's entry was replaced by another leader's: it will never apply. Retryable.
    #[error("proposal lost to a leader change")]
    ProposalLost,
    /// The node is shutting down or stopped.
    #[error("node stopped")]
    Stopped,
}

impl NodeError {
    /// Whether the node can no longer be used.
    pub fn is_fatal(&self) -> bool {
        match self {
            NodeError::Raft(e) => e.is_fatal(),
            NodeError::Storage(_) | NodeError::Stopped => true,
            NodeError::ProposalLost => false,
        }
    }
}

/// How a node starts: bootstrap a new group, join one, or restart from storage.
#[derive(Debug, Clone)]
pub enum Start {
    /// A founding member (all founders give the same sets).
    Bootstrap {
        /// Voters.
        voters: Vec<NodeId>,
        /// Learners.
        learners: Vec<NodeId>,
    },
    /// A node to be added later, or any node restarting: uses the stored state if there is
    /// any, else starts empty.
    Existing,
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The core's configuration.
    pub raft: Config,
    /// Length of one tick.
    pub tick: Duration,
    /// Take a snapshot when this many applied entries are in the log (0 = never).
    pub snapshot_entries: u64,
    /// Keep this many applied entries after a snapshot, for slow followers.
    pub keep_entries: u64,
    /// Capacity of the inbox and command queues.
    pub queue: usize,
}

impl NodeConfig {
    /// Defaults: 100 ms ticks (1 s election timeout), snapshot every 10,000 entries keeping
    /// 1,000.
    pub fn new(raft: Config) -> Self {
        Self { raft, tick: Duration::from_millis(100), snapshot_entries: 10_000, keep_entries: 1_000, queue: 4096 }
    }
}

/// A snapshot of the node's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Node id.
    pub id: NodeId,
    /// Term.
    pub term: Term,
    /// Role.
    pub role: Role,
    /// Known leader.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub committed: Index,
    /// Applied index.
    pub applied: Index,
    /// Membership.
    pub membership: Membership,
}

enum Command {
    Propose(Bytes, oneshot::Sender<Result<Bytes, NodeError>>),
    Read(oneshot::Sender<Result<Index, NodeError>>),
    ConfChange(Vec<Change>, oneshot::Sender<Result<Index, NodeError>>),
    Transfer(NodeId, oneshot::Sender<Result<(), NodeError>>),
    Campaign(oneshot::Sender<Result<(), NodeError>>),
    Status(oneshot::Sender<Status>),
}

/// A cheap, cloneable handle to a running node.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    id: NodeId,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl NodeHandle {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Proposes data and waits until it is applied here; returns the state machine's answer.
    ///
    /// On a follower the proposal is forwarded to the leader. If the leader changes before
    /// it commits, the proposal may be lost without notice: use a timeout and retry (make
    /// commands idempotent).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not withdraw the proposal; it may still be applied.
    pub async fn propose(&self, data: Bytes) -> Result<Bytes, NodeError> {
        self.call(|tx| Command::Propose(data, tx)).await?
    }

    /// Linearizable read barrier: resolves once this node has applied everything committed
    /// before the call (ReadIndex). Read the state machine after it returns.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only discards the answer.
    pub async fn read_barrier(&self) -> Result<Index, NodeError> {
        self.call(Command::Read).await?
    }

    /// Proposes a membership change (leader only); resolves when it is appended.
    pub async fn change_membership(&self, changes: Vec<Change>) -> Result<Index, NodeError> {
        self.call(|tx| Command::ConfChange(changes, tx)).await?
    }

    /// Asks the leader to hand leadership to `to`.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), NodeError> {
        self.call(|tx| Command::Transfer(to, tx)).await?
    }

    /// Starts an election now.
    pub async fn campaign(&self) -> Result<(), NodeError> {
        self.call(Command::Campaign).await?
    }

    /// The node's current status.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.call(Command::Status).await
    }
}

/// A running node: its handle, its inbox for the transport, and its task.
#[derive(Debug)]
pub struct Node {
    handle: NodeHandle,
    inbox: mpsc::Sender<Message>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), NodeError>>,
}

impl Node {
    /// Starts a node on the current tokio runtime.
    pub fn start<S: LogStorage, T: Transport, M: StateMachine>(
        cfg: NodeConfig,
        start: Start,
        mut storage: S,
        transport: T,
        mut sm: M,
    ) -> Result<Node, NodeError> {
        let state = storage.load()?;
        let has_state = state.hard_state.term > 0 || state.snapshot.meta.index > 0 || !state.entries.is_empty();
        let raft = match (start, has_state) {
            (_, true) => {
                if state.snapshot.meta.index > 0 {
                    sm.restore(&state.snapshot.data);
                }
                Raft::restore(cfg.raft.clone(), state)?
            }
            (Start::Bootstrap { voters, learners }, false) => Raft::bootstrap(cfg.raft.clone(), voters, learners)?,
            (Start::Existing, false) => Raft::join(cfg.raft.clone())?,
        };
        let (inbox_tx, inbox_rx) = mpsc::channel(cfg.queue);
        let (cmd_tx, cmd_rx) = mpsc::channel(cfg.queue);
        let shutdown = CancellationToken::new();
        let id = raft.id();
        let applied = raft.snapshot_meta().index;
        let driver = Driver {
            raft,
            storage,
            transport,
            sm,
            applied,
            inbox: inbox_rx,
            commands: cmd_rx,
            shutdown: shutdown.clone(),
            next_req: 1,
            batch: Vec::new(),
            forwarded: HashMap::new(),
            local: VecDeque::new(),
            reads: HashMap::new(),
            read_waiters: Vec::new(),
            cfg,
        };
        let task = tokio::spawn(driver.run());
        Ok(Node { handle: NodeHandle { id, commands: cmd_tx }, inbox: inbox_tx, shutdown, task })
    }

    /// A handle for clients.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Where the transport delivers messages addressed to this node.
    pub fn inbox(&self) -> mpsc::Sender<Message> {
        self.inbox.clone()
    }

    /// Stops the node: finishes the `Ready` in progress (so nothing half-persisted is
    /// acknowledged), then returns the task's result.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        self.shutdown.cancel();
        self.task.await.map_err(|_| NodeError::Stopped)?
    }
}

/// The envelope older versions of the driver put in front of the application's bytes:
/// `origin` node and request id (little-endian `u64`s); see [`Payload::Tagged`].
fn unwrap_envelope(data: &Bytes) -> Option<(NodeId, u64, Bytes)> {
    let mut header = data.get(..16)?;
    let origin = header.get_u64_le();
    let req = header.get_u64_le();
    Some((origin, req, data.slice(16..)))
}

type Reply = oneshot::Sender<Result<Bytes, NodeError>>;

struct Driver<S, T, M> {
    cfg: NodeConfig,
    raft: Raft,
    storage: S,
    transport: T,
    sm: M,
    applied: Index,
    inbox: mpsc::Receiver<Message>,
    commands: mpsc::Receiver<Command>,
    shutdown: CancellationToken,
    next_req: u64,
    /// Proposals received since the last `Ready`, proposed together.
    batch: Vec<(Bytes, Reply)>,
    /// Proposals forwarded to the leader, by request id.
    forwarded: HashMap<u64, Reply>,
    /// Proposals appended here as leader, in index order: (index, request id, reply).
    /// An entry applied at such an index that is not ours means ours was overwritten.
    local: VecDeque<(Index, u64, Reply)>,
    /// Read requests by ctx until Raft confirms them.
    reads: HashMap<u64, oneshot::Sender<Result<Index, NodeError>>>,
    /// Confirmed reads waiting for the state machine to reach their index.
    read_waiters: Vec<(Index, oneshot::Sender<Result<Index, NodeError>>)>,
}

impl<S: LogStorage, T: Transport, M: StateMachine> Driver<S, T, M> {
    async fn run(mut self) -> Result<(), NodeError> {
        let mut ticker = tokio::time::interval(self.cfg.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break Ok(()),
                _ = ticker.tick() => {
                    self.raft.tick();
                    // Callers that gave up (timed out) no longer need an answer.
                    self.forwarded.retain(|_, tx| !tx.is_closed());
                }
                Some(m) = self.inbox.recv() => {
                    if let Err(e) = self.raft.step(m) {
                        break Err(e.into());
                    }
                }
                // Proposals are gathered here and proposed together by `drain`.
                Some(c) = self.commands.recv() => self.command(c),
            }
            // Batch everything already queued into the same Ready.
            if let Err(e) = self.drain() {
                break Err(e);
            }
            if let Err(e) = self.process_ready().await {
                break Err(e);
            }
        };
        self.fail_waiters();
        if let Err(e) = &result {
            tracing::error!(id = self.raft.id(), error = %e, "raft node stopped");
        }
        result
    }

    fn drain(&mut self) -> Result<(), NodeError> {
        for _ in 0..self.cfg.queue {
            match self.inbox.try_recv() {
                Ok(m) => self.raft.step(m)?,
                Err(_) => break,
            }
        }
        for _ in 0..self.cfg.queue {
            match self.commands.try_recv() {
                Ok(c) => self.command(c),
                Err(_) => break,
            }
        }
        self.propose_batch();
        Ok(())
    }

    /// Proposes the proposals gathered since the last call together: as leader in one
    /// append, as follower in one message to the leader.
    fn propose_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        let first_req = self.next_req;
        self.next_req += n;
        let (data, replies): (Vec<_>, Vec<_>) = std::mem::take(&mut self.batch)
            .into_iter()
            .enumerate()
            .map(|(i, (d, tx))| ((first_req + i as u64, d), tx))
            .unzip();
        match self.raft.propose_tagged(self.raft.id(), data) {
            Ok(Proposed::Appended { index: last, .. }) => {
                let first = last + 1 - n;
                for (i, tx) in (0..n).zip(replies) {
                    self.local.push_back((first + i, first_req + i, tx));
                }
            }
            Ok(Proposed::Forwarded { .. }) => {
                for (i, tx) in (0..n).zip(replies) {
                    self.forwarded.insert(first_req + i, tx);
                }
            }
            Err(e) => {
                for tx in replies {
                    let _ = tx.send(Err(e.clone().into()));
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Propose(data, tx) => self.batch.push((data, tx)),
            Command::Read(tx) => {
                let ctx = self.next_req;
                self.next_req += 1;
                match self.raft.read_index(ctx) {
                    Ok(()) => {
                        self.reads.insert(ctx, tx);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into()));
                    }
                }
            }
            Command::ConfChange(changes, tx) => {
                let _ = tx.send(self.raft.propose_conf_change(changes).map_err(Into::into));
            }
            Command::Transfer(to, tx) => {
                let _ = tx.send(self.raft.transfer_leader(to).map_err(Into::into));
            }
            Command::Campaign(tx) => {
                let _ = tx.send(self.raft.campaign().map_err(Into::into));
            }
            Command::Status(tx) => {
                let r = &self.raft;
                let _ = tx.send(Status {
                    id: r.id(),
                    term: r.term(),
                    role: r.role(),
                    leader: r.leader(),
                    committed: r.committed(),
                    applied: self.applied,
                    membership: r.membership().clone(),
                });
            }
        }
    }

    async fn process_ready(&mut self) -> Result<(), NodeError> {
        loop {
            // Whatever arrived during the previous fsync joins this batch (group commit).
            self.drain()?;
            let Some(rd) = self.raft.ready() else { break };
            if rd.snapshot.is_some() || !rd.entries.is_empty() || rd.hard_state.is_some() {
                self.storage.persist(rd.snapshot.as_ref(), &rd.entries, rd.hard_state, rd.must_sync).await?;
            }
            if let Some(s) = &rd.snapshot {
                self.sm.restore(&s.data);
                self.applied = s.meta.index;
            }
            if !rd.messages.is_empty() {
                self.transport.send(rd.messages);
            }
            for entry in &rd.committed_entries {
                self.apply(entry.index, &entry.payload);
            }
            for rs in &rd.read_states {
                if let Some(tx) = self.reads.remove(&rs.ctx) {
                    self.read_waiters.push((rs.index, tx));
                }
            }
            self.raft.advance();
            let applied = self.applied;
            let (ready, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.read_waiters).into_iter().partition(|(index, _)| *index <= applied);
            self.read_waiters = waiting;
            for (_, tx) in ready {
                let _ = tx.send(Ok(applied));
            }
            self.maybe_snapshot().await?;
        }
        Ok(())
    }

    fn apply(&mut self, index: Index, payload: &Payload) {
        self.applied = index;
        let mine = match payload {
            Payload::Tagged { origin, req, data } => Some((*origin, *req, data.clone())),
            // Logs written before proposals were tagged carry the tag in front of the data.
            Payload::Normal(data) => unwrap_envelope(data),
            _ => None,
        };
        let id = self.raft.id();
        let ours = |req: u64| mine.as_ref().is_some_and(|(o, r, _)| *o == id && *r == req);
        // Anything proposed here at or below this index that is not this entry was lost.
        let mut waiting = None;
        while let Some(&(i, req, _)) = self.local.front() {
            if i > index {
                break;
            }
            let Some((_, _, tx)) = self.local.pop_front() else { break };
            if i == index && ours(req) {
                waiting = Some(tx);
            } else {
                let _ = tx.send(Err(NodeError::ProposalLost));
            }
        }
        let Some((origin, req, data)) = mine else { return };
        let result = self.sm.apply(index, data);
        if origin == id {
            if let Some(tx) = waiting.or_else(|| self.forwarded.remove(&req)) {
                let _ = tx.send(Ok(result));
            }
        }
    }

    async fn maybe_snapshot(&mut self) -> Result<(), NodeError> {
        let every = self.cfg.snapshot_entries;
        let first = self.raft.first_index();
        if every == 0 || self.applied < first + every || self.applied <= self.raft.snapshot_meta().index {
            return Ok(());
        }
        // The state machine can only serialize its current state, so the snapshot is taken
        // at `applied`; the core keeps `keep_entries` more so that followers a little
        // behind still catch up from the log instead of a full snapshot.
        let data = self.sm.snapshot();
        self.raft.compact_keep(self.applied, data.clone(), self.cfg.keep_entries)?;
        let snapshot = Snapshot { meta: self.raft.snapshot_meta().clone(), data };
        self.storage.compact(&snapshot).await?;
        Ok(())
    }

    fn fail_waiters(&mut self) {
        for (_, tx) in self.batch.drain(..) {
            let _ = tx.send(Err(NodeError::Stopped));
        }
        for (_, tx) in self.forwarded.drain() {
            let _ = tx.send(Err(NodeError::Stopped));
        }
        for (_, _, tx) in self.local.drain(..) {
            let _ = tx.send(Err(NodeError::Stopped));
        }
        for (_, tx) in self.reads.drain() {
            let _ = tx.send(Err(NodeError::Stopped));
        }
        for (_, tx) in self.read_waiters.drain(..) {
            let _ = tx.send(Err(NodeError::Stopped));
        }
    }
}
