//! Messages between Raft nodes.

use crate::types::{Entry, Index, NodeId, Payload, Snapshot, Term};

/// A message from one node to another. Messages are plain data: the transport serializes
/// them (see `codec`) and hands them to the receiver's `step`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's term (for `PreVote`, the term it would campaign in).
    pub term: Term,
    /// What it says.
    pub body: MessageBody,
}

/// The kinds of messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageBody {
    /// Proposals forwarded by a follower to the leader.
    Propose {
        /// The application payloads ([`Payload::Normal`] or [`Payload::Tagged`]).
        entries: Vec<Payload>,
    },
    /// "Would you vote for me?" — does not change anyone's term.
    PreVote {
        /// Candidate's last log index.
        last_index: Index,
        /// Candidate's last log term.
        last_term: Term,
    },
    /// Answer to `PreVote`.
    PreVoteResp {
        /// Whether the vote was refused.
        reject: bool,
    },
    /// A vote request.
    Vote {
        /// Candidate's last log index.
        last_index: Index,
        /// Candidate's last log term.
        last_term: Term,
        /// Sent after `TimeoutNow`: voters must not refuse because of a live leader.
        transfer: bool,
    },
    /// Answer to `Vote`.
    VoteResp {
        /// Whether the vote was refused.
        reject: bool,
    },
    /// Log replication.
    Append {
        /// Index of the entry before `entries`.
        prev_index: Index,
        /// Its term.
        prev_term: Term,
        /// New entries (possibly none).
        entries: Vec<Entry>,
        /// Leader's commit index.
        commit: Index,
    },
    /// Answer to `Append` or `Snapshot`.
    AppendResp {
        /// Whether the append was refused (log mismatch).
        reject: bool,
        /// On success, the follower's last matching index; on rejection, the rejected
        /// `prev_index`.
        index: Index,
        /// On rejection, the follower's guess of where the logs may match.
        reject_hint: Index,
        /// On rejection, the follower's term at `reject_hint`.
        log_term: Term,
    },
    /// Leader liveness and commit propagation; carries the newest read-index round.
    Heartbeat {
        /// `min(follower's match, leader's commit)`.
        commit: Index,
        /// The latest read-index round the leader wants confirmed (0 = none).
        read_round: u64,
    },
    /// Answer to `Heartbeat`.
    HeartbeatResp {
        /// Echo of the heartbeat's read round.
        read_round: u64,
    },
    /// Snapshot installation (the transport may stream `data` in chunks).
    Snapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leadership transfer: campaign now.
    TimeoutNow,
    /// A follower asks the leader for a read index on behalf of its client.
    ReadIndex {
        /// The client's request id, echoed back.
        ctx: u64,
    },
    /// The leader's answer to `ReadIndex`.
    ReadIndexResp {
        /// The client's request id.
        ctx: u64,
        /// Reads may be served once this index is applied.
        index: Index,
    },
}

impl Message {
    /// A short name of the message kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self.body {
            MessageBody::Propose { .. } => "Propose",
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResp { .. } => "PreVoteResp",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResp { .. } => "VoteResp",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResp { .. } => "AppendResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResp { .. } => "HeartbeatResp",
            MessageBody::Snapshot { .. } => "Snapshot",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResp { .. } => "ReadIndexResp",
        }
    }
}
