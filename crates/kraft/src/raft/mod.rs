//! The pure Raft state machine: no I/O, no clock, no threads. Inputs are [`Raft::tick`],
//! [`Raft::step`] and the client calls; outputs are collected in a [`Ready`](crate::Ready).

mod read;
mod replicate;
mod step;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::config::{Config, ConfigError};
use crate::log::RaftLog;
use crate::membership::{Change, Membership, MembershipError};
use crate::message::{Message, MessageBody};
use crate::progress::Progress;
use crate::ready::{ReadState, ReadyMarks, SoftState};
use crate::types::{Entry, HardState, Index, NodeId, Payload, Snapshot, SnapshotMeta, Term};

/// Errors of the Raft core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftError {
    /// The operation needs the leader; `leader` is the current one if known. Retryable.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The known leader.
        leader: Option<NodeId>,
    },
    /// The proposal was dropped (leadership transfer in progress, or the uncommitted-size
    /// limit is reached). Retryable.
    #[error("proposal dropped: {0}")]
    ProposalDropped(&'static str),
    /// A membership change is still uncommitted. Retryable.
    #[error("a membership change is pending")]
    ConfChangePending,
    /// The membership change is invalid. Not retryable.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// Leadership cannot be transferred to that node. Not retryable.
    #[error("cannot transfer leadership to {0}: not another voter")]
    InvalidTransfer(NodeId),
    /// Compaction asked for an index that is not applied, or already compacted.
    #[error("cannot compact to {index}: applied {applied}, first index {first}")]
    Compaction {
        /// Requested index.
        index: Index,
        /// Applied index.
        applied: Index,
        /// First index still in the log.
        first: Index,
    },
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Restored state is inconsistent.
    #[error("invalid restored state: {0}")]
    Restore(String),
    /// A safety invariant would be violated (corrupt storage or a faulty peer). The node
    /// must stop; every later call returns this error.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl RaftError {
    /// Whether the node can no longer be used.
    pub fn is_fatal(&self) -> bool {
        matches!(self, RaftError::Fatal(_))
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (learners are always followers).
    Follower,
    /// Asking whether an election could be won, without changing terms.
    PreCandidate,
    /// Campaigning.
    Candidate,
    /// Leading.
    Leader,
}

/// What `propose` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposed {
    /// Appended to the leader's log at this index and term.
    Appended {
        /// Log index.
        index: Index,
        /// Leader term.
        term: Term,
    },
    /// Forwarded to the leader; the outcome shows in the applied entries.
    Forwarded {
        /// The leader it went to.
        to: NodeId,
    },
}

/// Durable state handed back to [`Raft::restore`] after a restart.
#[derive(Debug, Clone, Default)]
pub struct RestoreState {
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// The last persisted snapshot (index 0 = none).
    pub snapshot: Snapshot,
    /// Persisted entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
    /// The index the application's state machine has durably applied, if it keeps its
    /// state across restarts; `None` replays everything after the snapshot.
    pub applied: Option<Index>,
}

#[derive(Debug, Clone)]
pub(crate) struct PendingRead {
    pub(crate) round: u64,
    pub(crate) index: Index,
    pub(crate) ctx: u64,
    pub(crate) from: NodeId,
}

/// The Raft state machine of one node.
///
/// # Correctness
///
/// The caller drives it with the Ready loop: call [`tick`](Self::tick) at a fixed interval
/// and [`step`](Self::step) for each received message; when [`has_ready`](Self::has_ready),
/// take the [`Ready`](crate::Ready), persist its snapshot, entries and hard state (in that
/// order, durably), then send its messages, apply its committed entries, and call
/// [`advance`](Self::advance). Nothing in a `Ready` may be skipped or reordered.
#[derive(Debug)]
pub struct Raft {
    pub(crate) cfg: Config,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) membership: Membership,
    /// Memberships in force from each index on (applied at commit), oldest first; the first
    /// one is the snapshot's.
    pub(crate) conf_history: Vec<(Index, Membership)>,
    /// Conf changes are applied up to this index.
    pub(crate) conf_applied: Index,
    /// Index of the latest membership change in the log (leader only refuses a new one
    /// until it commits).
    pub(crate) pending_conf_index: Index,
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) votes: BTreeMap<NodeId, bool>,
    pub(crate) election_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    pub(crate) randomized_timeout: u32,
    rng: u64,
    pub(crate) lead_transferee: Option<NodeId>,
    pub(crate) uncommitted_size: usize,
    pub(crate) read_round: u64,
    pub(crate) pending_reads: VecDeque<PendingRead>,
    /// Reads received before the leader committed an entry of its term.
    pub(crate) reads_awaiting_commit: Vec<(u64, NodeId)>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) msgs: Vec<Message>,
    /// The latest snapshot (taken locally or installed); index 0 means none.
    pub(crate) snapshot: Snapshot,
    /// A received snapshot the application must install.
    pub(crate) pending_snapshot: Option<Snapshot>,
    pub(crate) prev_hard: HardState,
    pub(crate) prev_soft: SoftState,
    pub(crate) outstanding: Option<ReadyMarks>,
    pub(crate) fatal: Option<String>,
    /// Leader: new entries or a new commit index wait to be broadcast at the next `ready()`.
    pub(crate) pending_bcast: bool,
}

impl Raft {
    fn blank(cfg: Config) -> Result<Self, RaftError> {
        cfg.validate()?;
        let mut raft = Self {
            rng: cfg.seed ^ 0x9E37_79B9_7F4A_7C15 ^ cfg.id.rotate_left(32),
            cfg,
            term: 0,
            vote: None,
            role: Role::Follower,
            leader: None,
            log: RaftLog::default(),
            membership: Membership::default(),
            conf_history: Vec::new(),
            conf_applied: 0,
            pending_conf_index: 0,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: 0,
            lead_transferee: None,
            uncommitted_size: 0,
            read_round: 0,
            pending_reads: VecDeque::new(),
            reads_awaiting_commit: Vec::new(),
            read_states: Vec::new(),
            msgs: Vec::new(),
            snapshot: Snapshot::default(),
            pending_snapshot: None,
            prev_hard: HardState::default(),
            prev_soft: SoftState { leader: None, role: Role::Follower },
            outstanding: None,
            fatal: None,
            pending_bcast: false,
        };
        raft.reset_randomized_timeout();
        Ok(raft)
    }

    /// A founding member of a new group. Every founding member must be given the same
    /// voters and learners: the membership is written as entry 1 (term 1, committed), and
    /// the first `Ready` asks to persist it.
    pub fn bootstrap(
        cfg: Config,
        voters: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Result<Self, RaftError> {
        let mut changes: Vec<Change> = voters.into_iter().map(Change::AddVoter).collect();
        changes.extend(learners.into_iter().map(Change::AddLearner));
        let membership = Membership::default().apply(&changes)?;
        let mut raft = Self::blank(cfg)?;
        raft.term = 1;
        raft.log.append(vec![Entry { term: 1, index: 1, payload: Payload::ConfChange(changes) }]);
        raft.log.commit_to(1);
        raft.membership = membership.clone();
        raft.conf_history = vec![(0, Membership::default()), (1, membership)];
        raft.conf_applied = 1;
        raft.pending_conf_index = 1;
        Ok(raft)
    }

    /// A node that will be added to an existing group: empty, it waits for the leader.
    pub fn join(cfg: Config) -> Result<Self, RaftError> {
        let mut raft = Self::blank(cfg)?;
        raft.conf_history = vec![(0, Membership::default())];
        Ok(raft)
    }

    /// A node restarting from its durable state.
    pub fn restore(cfg: Config, state: RestoreState) -> Result<Self, RaftError> {
        let mut raft = Self::blank(cfg)?;
        let meta = &state.snapshot.meta;
        let applied = state.applied.unwrap_or(meta.index).max(meta.index);
        raft.log = RaftLog::restore_from(meta.index, meta.term, state.entries, state.hard_state.commit, applied);
        if raft.log.committed() < applied {
            return Err(RaftError::Restore(format!(
                "applied index {applied} is beyond the durable log (commit {})",
                raft.log.committed()
            )));
        }
        raft.term = state.hard_state.term.max(meta.term);
        raft.vote = state.hard_state.vote;
        raft.membership = meta.membership.clone();
        raft.conf_history = vec![(meta.index, meta.membership.clone())];
        raft.conf_applied = meta.index;
        raft.snapshot = state.snapshot;
        raft.apply_conf_changes();
        raft.pending_conf_index = raft.log.last_index();
        raft.prev_hard = raft.hard_state();
        Ok(raft)
    }

    // ----- accessors -----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The known leader.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// The membership in force (changes apply when committed).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    /// The commit index.
    pub fn committed(&self) -> Index {
        self.log.committed()
    }
    /// The index handed to the application in committed entries.
    pub fn applied(&self) -> Index {
        self.log.applied()
    }
    /// The last index in the log.
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }
    /// The first index still in the log (after the snapshot point).
    pub fn first_index(&self) -> Index {
        self.log.first_index()
    }
    /// The durable hard state this node would persist now.
    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.committed() }
    }
    /// The latest snapshot's metadata.
    pub fn snapshot_meta(&self) -> &SnapshotMeta {
        &self.snapshot.meta
    }
    /// The term of the entry at `index`, if it is in the log or is the snapshot point.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.log.term(index)
    }
    /// Entries in `(lo, hi]` still in the log (for inspection and tests).
    pub fn entries(&self, lo: Index, hi: Index) -> Vec<Entry> {
        self.log.slice(lo, hi).cloned().collect()
    }
    /// The replication progress of each peer as (match, next), when leader.
    pub fn progress(&self) -> BTreeMap<NodeId, (Index, Index)> {
        self.progress.iter().map(|(&id, p)| (id, (p.matched, p.next))).collect()
    }

    fn check_fatal(&self) -> Result<(), RaftError> {
        match &self.fatal {
            Some(why) => Err(RaftError::Fatal(why.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn set_fatal(&mut self, why: String) -> RaftError {
        tracing::error!(id = self.cfg.id, %why, "raft: fatal");
        self.fatal = Some(why.clone());
        RaftError::Fatal(why)
    }

    // ----- client calls -----

    /// Proposes application data. On the leader it is appended; on a follower it is
    /// forwarded to the leader.
    pub fn propose(&mut self, data: Bytes) -> Result<Proposed, RaftError> {
        self.propose_entries(vec![Payload::Normal(data)])
    }

    /// Proposes tagged application data (see [`Payload::Tagged`]) as consecutive entries.
    /// On the leader they are appended (the answer carries the last one's index); on a
    /// follower they are forwarded to the leader in one message.
    pub fn propose_tagged(&mut self, origin: NodeId, proposals: Vec<(u64, Bytes)>) -> Result<Proposed, RaftError> {
        self.propose_entries(proposals.into_iter().map(|(req, data)| Payload::Tagged { origin, req, data }).collect())
    }

    /// Appends data payloads as leader, or forwards them to the known leader.
    fn propose_entries(&mut self, entries: Vec<Payload>) -> Result<Proposed, RaftError> {
        self.check_fatal()?;
        match self.role {
            Role::Leader => {
                let index = self.append_local(entries)?;
                Ok(Proposed::Appended { index, term: self.term })
            }
            _ => match self.leader {
                Some(to) if to != self.cfg.id => {
                    self.send(to, MessageBody::Propose { entries });
                    Ok(Proposed::Forwarded { to })
                }
                _ => Err(RaftError::NotLeader { leader: None }),
            },
        }
    }

    /// Proposes a batch of application data as consecutive entries (leader only).
    pub fn propose_batch(&mut self, data: Vec<Bytes>) -> Result<Index, RaftError> {
        self.check_fatal()?;
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        self.append_local(data.into_iter().map(Payload::Normal).collect())
    }

    /// Proposes a membership change (leader only). More than one voter change enters a
    /// joint configuration, which the leader leaves automatically once it commits.
    pub fn propose_conf_change(&mut self, changes: Vec<Change>) -> Result<Index, RaftError> {
        self.check_fatal()?;
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        if self.pending_conf_index > self.log.committed() {
            return Err(RaftError::ConfChangePending);
        }
        self.membership.apply(&changes)?;
        let index = self.append_local(vec![Payload::ConfChange(changes)])?;
        self.pending_conf_index = index;
        Ok(index)
    }

    /// Starts a leadership transfer to `to` (leader only). Proposals are refused until it
    /// completes or an election timeout passes.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), RaftError> {
        self.check_fatal()?;
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        if to == self.cfg.id || !self.membership.is_voter(to) {
            return Err(RaftError::InvalidTransfer(to));
        }
        if self.lead_transferee == Some(to) {
            return Ok(());
        }
        self.lead_transferee = Some(to);
        // The transfer must finish within one election timeout.
        self.election_elapsed = 0;
        let caught_up = self.progress.get(&to).is_some_and(|p| p.matched == self.log.last_index());
        if caught_up {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to);
        }
        Ok(())
    }

    /// Starts an election now (if this node may vote).
    pub fn campaign(&mut self) -> Result<(), RaftError> {
        self.check_fatal()?;
        if self.role != Role::Leader {
            self.campaign_with(if self.cfg.pre_vote { step::Campaign::Pre } else { step::Campaign::Election });
        }
        Ok(())
    }

    /// Tells the leader whether sending a snapshot to `to` worked.
    pub fn report_snapshot(&mut self, to: NodeId, success: bool) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(pr) = self.progress.get_mut(&to) {
            if matches!(pr.state, crate::progress::State::Snapshot(_)) {
                if success {
                    pr.become_probe();
                    // Wait for the follower's answer (or a heartbeat response) before probing.
                    pr.probe_sent = true;
                } else {
                    pr.snapshot_failed();
                }
            }
        }
    }

    /// Tells the leader that a message to `to` could not be delivered: stop streaming and
    /// probe again.
    pub fn report_unreachable(&mut self, to: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(pr) = self.progress.get_mut(&to) {
            if pr.state == crate::progress::State::Replicate {
                pr.become_probe();
            }
        }
    }

    /// Records an application snapshot taken after applying `index` and drops the log up to
    /// it. `data` is what followers that are too far behind will receive.
    pub fn compact(&mut self, index: Index, data: Bytes) -> Result<(), RaftError> {
        self.compact_keep(index, data, 0)
    }

    /// Like [`compact`](Self::compact), but keeps the last `keep` entries up to `index` in
    /// the log so that followers slightly behind still catch up without a snapshot.
    pub fn compact_keep(&mut self, index: Index, data: Bytes, keep: u64) -> Result<(), RaftError> {
        self.check_fatal()?;
        let (applied, first) = (self.log.applied(), self.log.first_index());
        let error = RaftError::Compaction { index, applied, first };
        if index <= self.snapshot.meta.index || index > applied {
            return Err(error);
        }
        let Some(term) = self.log.term(index) else { return Err(error) };
        let membership = self.membership_at(index);
        let upto = index.saturating_sub(keep);
        if upto >= first && !self.log.compact(upto) {
            return Err(error);
        }
        self.snapshot = Snapshot { meta: SnapshotMeta { index, term, membership }, data };
        self.conf_history.retain(|(i, _)| *i > index);
        self.conf_history.insert(0, (index, self.snapshot.meta.membership.clone()));
        Ok(())
    }

    /// The membership in force after applying `index`.
    pub(crate) fn membership_at(&self, index: Index) -> Membership {
        self.conf_history
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| self.snapshot.meta.membership.clone())
    }

    // ----- internals shared by the submodules -----

    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        // A follower that handles many appends in one batch acknowledges each; a success
        // acknowledgement right behind another to the same peer in the same term says all
        // the earlier one said (the leader takes the highest matched index), so the two
        // become one message.
        if let MessageBody::AppendResp { reject: false, index, reject_hint: 0, log_term: 0 } = body {
            if let Some(Message {
                to: last_to,
                term,
                body: MessageBody::AppendResp { reject: false, index: last, reject_hint: 0, log_term: 0 },
                ..
            }) = self.msgs.last_mut()
            {
                if *last_to == to && *term == self.term {
                    *last = (*last).max(index);
                    return;
                }
            }
        }
        self.msgs.push(Message { from: self.cfg.id, to, term: self.term, body });
    }

    pub(crate) fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.msgs.push(Message { from: self.cfg.id, to, term, body });
    }

    /// Leader: appends local proposals.
    pub(crate) fn append_local(&mut self, payloads: Vec<Payload>) -> Result<Index, RaftError> {
        if self.lead_transferee.is_some() {
            return Err(RaftError::ProposalDropped("leadership transfer in progress"));
        }
        let size: usize = payloads.iter().map(Payload::size).sum();
        let limit = self.cfg.max_uncommitted_size;
        if limit > 0 && self.uncommitted_size > 0 && self.uncommitted_size + size > limit {
            return Err(RaftError::ProposalDropped("too many uncommitted bytes"));
        }
        Ok(self.append_unchecked(payloads))
    }

    /// Leader: appends entries without admission checks and replicates them.
    pub(crate) fn append_unchecked(&mut self, payloads: Vec<Payload>) -> Index {
        self.uncommitted_size += payloads.iter().map(Payload::size).sum::<usize>();
        let first = self.log.last_index() + 1;
        let entries: Vec<Entry> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, payload)| Entry { term: self.term, index: first + i as Index, payload })
            .collect();
        self.log.append(entries);
        // Replication is deferred to the next `ready()`, so that every entry appended in
        // between travels in one message per follower.
        self.pending_bcast = true;
        // A single voter commits alone once its entry is durable (see `advance`).
        self.log.last_index()
    }

    pub(crate) fn reset_randomized_timeout(&mut self) {
        // xorshift64*: deterministic per seed, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let base = self.cfg.election_tick;
        self.randomized_timeout = base + (r % u64::from(base)) as u32;
    }

    pub(crate) fn promotable(&self) -> bool {
        self.membership.is_voter(self.cfg.id) && self.pending_snapshot.is_none()
    }

    /// Applies membership changes committed since the last call.
    pub(crate) fn apply_conf_changes(&mut self) {
        let committed = self.log.committed();
        if committed <= self.conf_applied {
            return;
        }
        let changes: Vec<(Index, Payload)> = self
            .log
            .slice(self.conf_applied, committed)
            .filter(|e| e.payload.is_conf_change())
            .map(|e| (e.index, e.payload.clone()))
            .collect();
        self.conf_applied = committed;
        for (index, payload) in changes {
            let next = match &payload {
                Payload::ConfChange(changes) => self.membership.apply(changes),
                _ => self.membership.leave_joint(),
            };
            // Proposals are validated, so an invalid change can only come from a faulty
            // peer; every node skips it the same way, keeping memberships in agreement.
            let Ok(next) = next else { continue };
            tracing::info!(id = self.cfg.id, index, ?next, "raft: membership changed");
            self.membership = next.clone();
            self.conf_history.push((index, next));
            if self.role == Role::Leader {
                self.on_leader_membership_change(index);
            }
        }
    }

    fn on_leader_membership_change(&mut self, index: Index) {
        let last = self.log.last_index();
        let (max_msgs, max_bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        let members = self.membership.members();
        self.progress.retain(|id, _| members.contains(id));
        for id in members {
            self.progress.entry(id).or_insert_with(|| Progress::new(last + 1, max_msgs, max_bytes));
        }
        if !self.membership.is_voter(self.cfg.id) {
            // Removed (or demoted): stop leading so the remaining voters elect a leader.
            let term = self.term;
            self.become_follower(term, None);
            return;
        }
        if self.membership.is_joint() && self.pending_conf_index <= index {
            // Auto-leave the joint configuration (even during a transfer: it must not stall).
            self.pending_conf_index = self.append_unchecked(vec![Payload::LeaveJoint]);
        }
    }
}
