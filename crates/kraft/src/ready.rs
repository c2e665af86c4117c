//! The output of the core: what to persist, send and apply, handed out as a [`Ready`].

use crate::message::Message;
use crate::raft::{Raft, Role};
use crate::types::{Entry, HardState, Index, NodeId, Snapshot, Term};

/// A confirmed linearizable read: serve `ctx` once the state machine has applied `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadState {
    /// The id passed to [`Raft::read_index`].
    pub ctx: u64,
    /// The read index.
    pub index: Index,
}

/// Volatile state worth reporting (not persisted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftState {
    /// The known leader.
    pub leader: Option<NodeId>,
    /// This node's role.
    pub role: Role,
}

/// Everything the core needs done, in order.
///
/// # Correctness
///
/// 1. Install `snapshot` (if any) in the state machine and storage.
/// 2. Append `entries` to durable storage (entries may overwrite a suffix of what is
///    stored: everything from `entries[0].index` on is replaced), and persist `hard_state`.
///    Both must be durable (fsynced) before step 3.
/// 3. Send `messages`.
/// 4. Apply `committed_entries` in order; serve `read_states` once applied.
/// 5. Call [`Raft::advance`].
#[derive(Debug, Default)]
pub struct Ready {
    /// Leader or role changed.
    pub soft_state: Option<SoftState>,
    /// Term, vote or commit changed.
    pub hard_state: Option<HardState>,
    /// A snapshot received from the leader, to install.
    pub snapshot: Option<Snapshot>,
    /// Entries to persist.
    pub entries: Vec<Entry>,
    /// Messages to send after persisting.
    pub messages: Vec<Message>,
    /// Entries to apply.
    pub committed_entries: Vec<Entry>,
    /// Confirmed reads.
    pub read_states: Vec<ReadState>,
    /// Whether step 2 must be durable before step 3: true when there are entries or a
    /// snapshot, or the term or vote changed. A change of the commit index alone may be
    /// written lazily — it is only a hint, recomputed after a restart.
    pub must_sync: bool,
}

/// What a handed-out `Ready` covered, applied on `advance`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyMarks {
    last_entry: Option<(Index, Term)>,
    applied: Option<Index>,
    hard_state: HardState,
}

impl Raft {
    /// Whether there is anything to do.
    pub fn has_ready(&self) -> bool {
        if self.outstanding.is_some() {
            return false;
        }
        !self.msgs.is_empty()
            || self.pending_bcast
            || !self.read_states.is_empty()
            || self.pending_snapshot.is_some()
            || self.log.persisted() < self.log.last_index()
            || self.log.has_next_committed()
            || self.hard_state() != self.prev_hard
            || self.soft_state() != self.prev_soft
    }

    fn soft_state(&self) -> SoftState {
        SoftState { leader: self.leader, role: self.role }
    }

    /// Takes the work to do, or `None` if there is none or the previous `Ready` was not
    /// advanced yet.
    pub fn ready(&mut self) -> Option<Ready> {
        if !self.has_ready() {
            return None;
        }
        if std::mem::take(&mut self.pending_bcast) && self.role == Role::Leader {
            self.bcast_append();
        }
        let soft = self.soft_state();
        let hard = self.hard_state();
        let entries = self.log.unstable();
        let max = match self.cfg.max_committed_size_per_ready {
            0 => usize::MAX,
            n => n,
        };
        let committed_entries = self.log.next_committed(max);
        let snapshot = self.pending_snapshot.take();
        let marks = ReadyMarks {
            last_entry: entries.last().map(|e| (e.index, e.term)),
            applied: committed_entries.last().map(|e| e.index),
            hard_state: hard,
        };
        self.outstanding = Some(marks);
        let must_sync = !entries.is_empty()
            || snapshot.is_some()
            || hard.term != self.prev_hard.term
            || hard.vote != self.prev_hard.vote;
        let ready = Ready {
            must_sync,
            soft_state: (soft != self.prev_soft).then_some(soft),
            hard_state: (hard != self.prev_hard).then_some(hard),
            snapshot,
            entries,
            messages: std::mem::take(&mut self.msgs),
            committed_entries,
            read_states: std::mem::take(&mut self.read_states),
        };
        self.prev_soft = soft;
        Some(ready)
    }

    /// Acknowledges that the last `Ready` was handled as documented on [`Ready`].
    pub fn advance(&mut self) {
        let Some(marks) = self.outstanding.take() else { return };
        self.prev_hard = marks.hard_state;
        if let Some((index, term)) = marks.last_entry {
            self.log.stable_to(index, term);
        }
        if let Some(index) = marks.applied {
            self.log.applied_to(index);
        }
        if self.role == Role::Leader {
            let persisted = self.log.persisted();
            if let Some(me) = self.progress.get_mut(&self.cfg.id) {
                me.matched = me.matched.max(persisted);
            }
            if self.maybe_commit() {
                self.pending_bcast = true;
            }
        }
    }
}
