//! Log replication: appends with pipelining and flow control, heartbeats, snapshots,
//! commit and its consequences.

use super::{Raft, Role};
use crate::message::MessageBody;
use crate::progress::State;
use crate::types::{Entry, Index, NodeId, Snapshot, Term};

impl Raft {
    /// Sends one append (or a snapshot) to `to` if its progress allows. Returns whether a
    /// message was sent.
    pub(crate) fn send_append(&mut self, to: NodeId) -> bool {
        self.send_append_inner(to, true)
    }

    fn send_append_inner(&mut self, to: NodeId, allow_empty: bool) -> bool {
        if to == self.cfg.id {
            return false;
        }
        let Some(pr) = self.progress.get(&to) else { return false };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next;
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index);
        let entries = self.log.entries_from(next, self.cfg.max_size_per_msg);
        let (Some(prev_term), Some(entries)) = (prev_term, entries) else {
            return self.send_snapshot(to);
        };
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let commit = self.log.committed();
        if let Some(pr) = self.progress.get_mut(&to) {
            if let Some(last) = entries.last() {
                match pr.state {
                    State::Replicate => {
                        // Optimistic pipelining: assume success and keep streaming.
                        pr.next = last.index + 1;
                        pr.inflights.add(last.index, entries.iter().map(Entry::size).sum());
                    }
                    State::Probe => pr.probe_sent = true,
                    State::Snapshot(_) => {}
                }
            } else if pr.state == State::Probe {
                pr.probe_sent = true;
            }
        }
        self.send(to, MessageBody::Append { prev_index, prev_term, entries, commit });
        true
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let snapshot = self.snapshot.clone();
        if snapshot.meta.index == 0 {
            // Nothing compacted yet can only mean the follower is ahead of a stale view;
            // wait for its next answer.
            return false;
        }
        if let Some(pr) = self.progress.get_mut(&to) {
            pr.become_snapshot(snapshot.meta.index);
        }
        tracing::debug!(id = self.cfg.id, to, index = snapshot.meta.index, "raft: sending snapshot");
        self.send(to, MessageBody::Snapshot { snapshot });
        true
    }

    /// Sends appends to every peer that can take them.
    pub(crate) fn bcast_append(&mut self) {
        let peers: Vec<NodeId> = self.progress.keys().copied().filter(|&id| id != self.cfg.id).collect();
        for to in peers {
            self.send_append(to);
        }
    }

    /// Sends as many appends as the window allows (after an acknowledgement).
    fn send_appends_while_possible(&mut self, to: NodeId) {
        while self.send_append_inner(to, false) {}
    }

    pub(crate) fn bcast_heartbeat(&mut self) {
        let round = self.pending_reads.back().map_or(0, |r| r.round);
        let commit = self.log.committed();
        let peers: Vec<(NodeId, Index)> =
            self.progress.iter().filter(|&(&id, _)| id != self.cfg.id).map(|(&id, p)| (id, p.matched)).collect();
        for (to, matched) in peers {
            // Never tell a follower to commit beyond what it is known to have.
            self.send(to, MessageBody::Heartbeat { commit: commit.min(matched), read_round: round });
        }
    }

    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: Index,
    ) -> Result<(), super::RaftError> {
        let committed = self.log.committed();
        if prev_index < committed {
            // Already have (and committed) that prefix: tell the leader how far we are.
            self.send(from, MessageBody::AppendResp { reject: false, index: committed, reject_hint: 0, log_term: 0 });
            return Ok(());
        }
        match self.log.maybe_append(prev_index, prev_term, commit, entries) {
            Ok(Some(last_new)) => {
                self.on_commit();
                self.send(
                    from,
                    MessageBody::AppendResp { reject: false, index: last_new, reject_hint: 0, log_term: 0 },
                );
                Ok(())
            }
            Ok(None) => {
                // Point the leader at where our logs may still agree, skipping whole terms.
                let hint = prev_index.min(self.log.last_index());
                let (reject_hint, log_term) = self.log.find_conflict_by_term(hint, prev_term);
                self.send(from, MessageBody::AppendResp { reject: true, index: prev_index, reject_hint, log_term });
                Ok(())
            }
            Err(e) => Err(self.set_fatal(e.to_string())),
        }
    }

    pub(crate) fn handle_append_resp(
        &mut self,
        from: NodeId,
        term: Term,
        reject: bool,
        index: Index,
        reject_hint: Index,
        log_term: Term,
    ) {
        if term < self.term {
            return; // answered a stale-term probe (the "you are stale" notice); ignore
        }
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        if reject {
            // Jump over the follower's conflicting term in one step.
            let hint = if log_term > 0 { self.log.find_conflict_by_term(reject_hint, log_term).0 } else { reject_hint };
            let Some(pr) = self.progress.get_mut(&from) else { return };
            if pr.maybe_decr_to(index, hint) {
                if pr.state == State::Replicate {
                    pr.become_probe();
                }
                self.send_append(from);
            }
            return;
        }
        let was_paused = pr.is_paused();
        if !pr.maybe_update(index) {
            if was_paused && pr.state == State::Probe {
                // A duplicate answer unblocks a probe that was waiting.
                pr.probe_sent = false;
                self.send_append(from);
            }
            return;
        }
        match pr.state {
            State::Probe => pr.become_replicate(),
            State::Snapshot(snap_index) if pr.matched >= snap_index => {
                pr.become_probe();
                pr.become_replicate();
            }
            State::Replicate => pr.inflights.free_le(index),
            State::Snapshot(_) => {}
        }
        if self.maybe_commit() {
            // Followers learn the new commit index with the next broadcast.
            self.pending_bcast = true;
        }
        self.send_appends_while_possible(from);
        let last = self.log.last_index();
        if self.lead_transferee == Some(from) && self.progress.get(&from).is_some_and(|p| p.matched == last) {
            self.send(from, MessageBody::TimeoutNow);
        }
    }

    pub(crate) fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if index <= self.log.committed() {
            let committed = self.log.committed();
            self.send(from, MessageBody::AppendResp { reject: false, index: committed, reject_hint: 0, log_term: 0 });
            return;
        }
        if self.log.match_term(index, term) {
            // We already have the snapshot's last entry: just commit up to it.
            self.log.commit_to(index);
            self.on_commit();
        } else {
            tracing::info!(id = self.cfg.id, index, term, "raft: installing snapshot");
            self.log.restore(index, term);
            self.membership = snapshot.meta.membership.clone();
            self.conf_history = vec![(index, self.membership.clone())];
            self.conf_applied = index;
            self.snapshot = snapshot.clone();
            self.pending_snapshot = Some(snapshot);
        }
        let last = self.log.last_index();
        self.send(from, MessageBody::AppendResp { reject: false, index: last, reject_hint: 0, log_term: 0 });
    }

    /// Leader: advances the commit index to what a quorum has, if it is of this term.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let me = self.cfg.id;
        let persisted = self.log.persisted();
        let quorum = self
            .membership
            .committed_index(|id| if id == me { persisted } else { self.progress.get(&id).map_or(0, |p| p.matched) });
        if quorum > self.log.committed() && self.log.term(quorum) == Some(self.term) {
            self.log.commit_to(quorum);
            self.on_commit();
            return true;
        }
        false
    }

    /// Consequences of a higher commit index: membership changes, uncommitted budget,
    /// reads that waited for the leader's first commit.
    pub(crate) fn on_commit(&mut self) {
        let committed = self.log.committed();
        if self.role == Role::Leader {
            if self.uncommitted_size > 0 {
                // `conf_applied` is still the previous commit index here (configuration
                // changes are applied just below), so this is the newly committed range.
                let done: usize =
                    self.log.slice(self.conf_applied.min(committed), committed).map(|e| e.payload.size()).sum();
                self.uncommitted_size = self.uncommitted_size.saturating_sub(done);
            }
            if self.log.term(committed) == Some(self.term) && !self.reads_awaiting_commit.is_empty() {
                for (ctx, from) in std::mem::take(&mut self.reads_awaiting_commit) {
                    self.leader_read(ctx, from);
                }
            }
        }
        self.apply_conf_changes();
    }
}
