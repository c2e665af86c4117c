//! Linearizable reads: ReadIndex (leader and follower) and lease-based reads.
//!
//! The leader records the commit index when a read arrives, then proves it is still the
//! leader by a round of heartbeats acknowledged by a quorum. Rounds are numbered and every
//! heartbeat carries the newest round, so one quorum of acknowledgements confirms every read
//! registered up to that round: many reads cost one round trip.

use super::{PendingRead, Raft, RaftError, Role};
use crate::config::ReadMode;
use crate::message::MessageBody;
use crate::progress::State;
use crate::ready::ReadState;
use crate::types::{Index, NodeId};

impl Raft {
    /// Requests a read index for `ctx` (a client request id). When it is confirmed, a
    /// [`ReadState`] with the same `ctx` appears in a `Ready`: the read may be served from
    /// the state machine once `applied >= index`. Followers ask the leader.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), RaftError> {
        if let Some(why) = &self.fatal {
            return Err(RaftError::Fatal(why.clone()));
        }
        if self.role == Role::Leader {
            self.leader_read(ctx, self.cfg.id);
            return Ok(());
        }
        match self.leader.filter(|&l| l != self.cfg.id) {
            Some(leader) => {
                self.send(leader, MessageBody::ReadIndex { ctx });
                Ok(())
            }
            None => Err(RaftError::NotLeader { leader: None }),
        }
    }

    pub(crate) fn leader_read(&mut self, ctx: u64, from: NodeId) {
        let committed = self.log.committed();
        if self.log.term(committed) != Some(self.term) {
            // Until an entry of this term commits, the leader may not know the true commit
            // index (Raft §6.4): wait for the no-op.
            self.reads_awaiting_commit.push((ctx, from));
            return;
        }
        if self.membership.is_singleton(self.cfg.id) || self.cfg.read_mode == ReadMode::LeaseBased {
            self.respond_read(ctx, from, committed);
            return;
        }
        self.read_round += 1;
        let round = self.read_round;
        self.pending_reads.push_back(PendingRead { round, index: committed, ctx, from });
        if let Some(me) = self.progress.get_mut(&self.cfg.id) {
            me.read_round = round;
        }
        self.bcast_heartbeat();
    }

    fn respond_read(&mut self, ctx: u64, from: NodeId, index: Index) {
        if from == self.cfg.id {
            self.read_states.push(ReadState { ctx, index });
        } else {
            self.send(from, MessageBody::ReadIndexResp { ctx, index });
        }
    }

    pub(crate) fn handle_heartbeat_resp(&mut self, from: NodeId, round: u64) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        pr.read_round = pr.read_round.max(round);
        match pr.state {
            State::Probe => pr.probe_sent = false,
            // Appends may have been lost: open the window by one so that the next append
            // either succeeds or is rejected, which rewinds to the match (as etcd does).
            State::Replicate if pr.inflights.full() => pr.inflights.free_first_one(),
            _ => {}
        }
        if pr.matched < last {
            self.send_append(from);
        }
        if self.pending_reads.is_empty() {
            return;
        }
        let confirmed = self.membership.committed_index(|id| self.progress.get(&id).map_or(0, |p| p.read_round));
        while self.pending_reads.front().is_some_and(|r| r.round <= confirmed) {
            if let Some(read) = self.pending_reads.pop_front() {
                self.respond_read(read.ctx, read.from, read.index);
            }
        }
    }
}
