//! The data Raft agrees on: entries, hard state and snapshot metadata.

use bytes::Bytes;

use crate::membership::{Change, Membership};

/// A node's identity within one Raft group. `0` is reserved and never a valid id.
pub type NodeId = u64;
/// An election term.
pub type Term = u64;
/// A log position (1-based; 0 means "before the first entry").
pub type Index = u64;

/// What an entry carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The no-op a new leader appends to commit entries of earlier terms.
    Empty,
    /// Application data, opaque to Raft.
    Normal(Bytes),
    /// A membership change: entering a joint configuration when more than one voter
    /// changes, otherwise applied directly.
    ConfChange(Vec<Change>),
    /// Leaves the joint configuration (proposed by the leader automatically).
    LeaveJoint,
    /// Application data with the identity of its proposal: the node that proposed it and
    /// that node's request number. The async driver tags its proposals this way, so the
    /// proposing node recognises its own entries when they apply, wherever they were
    /// appended, without copying the data into an envelope.
    Tagged {
        /// The proposing node.
        origin: NodeId,
        /// The proposer's request number.
        req: u64,
        /// Application data, opaque to Raft.
        data: Bytes,
    },
}

impl Payload {
    /// Approximate size in bytes, for flow control.
    pub fn size(&self) -> usize {
        match self {
            Payload::Empty | Payload::LeaveJoint => 0,
            Payload::Normal(data) => data.len(),
            Payload::Tagged { data, .. } => 16 + data.len(),
            Payload::ConfChange(changes) => changes.len() * 9,
        }
    }

    /// Whether the entry changes membership.
    pub fn is_conf_change(&self) -> bool {
        matches!(self, Payload::ConfChange(_) | Payload::LeaveJoint)
    }
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The term of the leader that created it.
    pub term: Term,
    /// Its position in the log.
    pub index: Index,
    /// What it carries.
    pub payload: Payload,
}

impl Entry {
    /// Approximate size in bytes (payload plus a fixed header), for flow control and batching.
    pub fn size(&self) -> usize {
        16 + self.payload.size()
    }
}

/// What must be durable before a node answers any message: current term, vote and commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// Whom it voted for in `term`.
    pub vote: Option<NodeId>,
    /// The highest index known to be committed.
    pub commit: Index,
}

/// Describes a snapshot: the state machine state after applying `index`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The last entry the snapshot includes.
    pub index: Index,
    /// That entry's term.
    pub term: Term,
    /// The membership in force at `index`.
    pub membership: Membership,
}

/// A snapshot: metadata plus the application's serialized state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Where the snapshot sits in the log.
    pub meta: SnapshotMeta,
    /// Opaque state machine data.
    pub data: Bytes,
}
