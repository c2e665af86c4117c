//! Message dispatch, terms, elections and role changes.

use super::{Raft, RaftError, Role};
use crate::membership::VoteResult;
use crate::message::{Message, MessageBody};
use crate::progress::Progress;
use crate::types::{NodeId, Payload, Term};

/// Why an election starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Campaign {
    /// Pre-vote round first.
    Pre,
    /// A real election.
    Election,
    /// A real election ordered by the leader (`TimeoutNow`): voters ignore their lease.
    Transfer,
}

impl Raft {
    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        if self.fatal.is_some() {
            return;
        }
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.randomized_timeout && self.promotable() {
            self.election_elapsed = 0;
            self.campaign_with(if self.cfg.pre_vote { Campaign::Pre } else { Campaign::Election });
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        // A snapshot neither acknowledged nor reported within a few election timeouts is
        // presumed lost (transports may drop messages): probe again, which re-sends it.
        let limit = self.cfg.election_tick.saturating_mul(5);
        for pr in self.progress.values_mut() {
            if matches!(pr.state, crate::progress::State::Snapshot(_)) {
                pr.snapshot_ticks += 1;
                if pr.snapshot_ticks >= limit {
                    pr.snapshot_failed();
                }
            }
        }
        if self.election_elapsed >= self.cfg.election_tick {
            self.election_elapsed = 0;
            if self.cfg.check_quorum {
                let me = self.cfg.id;
                let active = |id: NodeId| id == me || self.progress.get(&id).is_some_and(|p| p.recent_active);
                if !self.membership.has_quorum(active) {
                    tracing::info!(id = me, term = self.term, "raft: lost quorum, stepping down");
                    let term = self.term;
                    self.become_follower(term, None);
                    return;
                }
                for (&id, pr) in self.progress.iter_mut() {
                    pr.recent_active = id == me;
                }
            }
            // A transfer that did not finish within an election timeout is abandoned.
            self.lead_transferee = None;
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.bcast_heartbeat();
        }
    }

    /// Feeds a message received from a peer.
    ///
    /// Messages for another node, from unknown terms' stale leaders, or otherwise
    /// irrelevant are ignored. An error is returned only when the message would violate
    /// safety (then the node is fatally stopped).
    pub fn step(&mut self, m: Message) -> Result<(), RaftError> {
        if let Some(why) = &self.fatal {
            return Err(RaftError::Fatal(why.clone()));
        }
        if m.to != self.cfg.id || m.from == self.cfg.id {
            return Ok(());
        }
        if m.term > self.term {
            match m.body {
                MessageBody::PreVote { .. } | MessageBody::Vote { .. } => {
                    let transfer = matches!(m.body, MessageBody::Vote { transfer: true, .. });
                    let in_lease = self.cfg.check_quorum
                        && self.leader.is_some()
                        && self.election_elapsed < self.cfg.election_tick;
                    if in_lease && !transfer {
                        // We heard from a live leader recently: a disruptive candidate is
                        // ignored without bumping our term.
                        return Ok(());
                    }
                }
                _ => {}
            }
            match m.body {
                // A pre-vote never changes terms; neither does a granted pre-vote answer.
                MessageBody::PreVote { .. } => {}
                MessageBody::PreVoteResp { reject: false } => {}
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::Snapshot { .. } => {
                    self.become_follower(m.term, Some(m.from));
                }
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term && m.term != 0 {
            match m.body {
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.cfg.check_quorum || self.cfg.pre_vote =>
                {
                    // A stale leader (e.g. after a partition) learns our term and steps down;
                    // without this it could keep disrupting pre-vote/check-quorum clusters.
                    self.send(m.from, MessageBody::AppendResp { reject: false, index: 0, reject_hint: 0, log_term: 0 });
                }
                MessageBody::PreVote { .. } => {
                    self.send(m.from, MessageBody::PreVoteResp { reject: true });
                }
                _ => {}
            }
            return Ok(());
        }

        match m.body {
            MessageBody::PreVote { last_index, last_term } | MessageBody::Vote { last_index, last_term, .. } => {
                self.handle_vote_request(&m, last_index, last_term);
                Ok(())
            }
            _ => match self.role {
                Role::Leader => self.step_leader(m),
                Role::PreCandidate | Role::Candidate => self.step_candidate(m),
                Role::Follower => self.step_follower(m),
            },
        }
    }

    fn handle_vote_request(&mut self, m: &Message, last_index: u64, last_term: Term) {
        let pre = matches!(m.body, MessageBody::PreVote { .. });
        let can_vote =
            self.vote == Some(m.from) || (self.vote.is_none() && self.leader.is_none()) || (pre && m.term > self.term);
        let grant = can_vote && self.log.is_up_to_date(last_index, last_term);
        if grant {
            // Granting a pre-vote promises nothing, so it is answered in the candidate's
            // future term without recording a vote.
            if pre {
                self.send_with_term(m.from, m.term, MessageBody::PreVoteResp { reject: false });
            } else {
                self.election_elapsed = 0;
                self.vote = Some(m.from);
                self.send(m.from, MessageBody::VoteResp { reject: false });
            }
        } else {
            let body =
                if pre { MessageBody::PreVoteResp { reject: true } } else { MessageBody::VoteResp { reject: true } };
            self.send(m.from, body);
        }
    }

    fn step_candidate(&mut self, m: Message) -> Result<(), RaftError> {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::Snapshot { .. } => {
                // Someone else won this term.
                self.become_follower(m.term, Some(m.from));
                self.step_follower(m)
            }
            MessageBody::PreVoteResp { reject } if self.role == Role::PreCandidate => {
                self.record_vote(m.from, !reject);
                Ok(())
            }
            MessageBody::VoteResp { reject } if self.role == Role::Candidate => {
                self.record_vote(m.from, !reject);
                Ok(())
            }
            // No leader to forward proposals or reads to.
            _ => Ok(()),
        }
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        match self.membership.vote_result(|id| self.votes.get(&id).copied()) {
            VoteResult::Won => {
                if self.role == Role::PreCandidate {
                    self.campaign_with(Campaign::Election);
                } else {
                    self.become_leader();
                }
            }
            VoteResult::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            VoteResult::Pending => {}
        }
    }

    fn step_follower(&mut self, m: Message) -> Result<(), RaftError> {
        match m.body {
            MessageBody::Propose { entries } => {
                if let Some(leader) = self.leader.filter(|&l| l != self.cfg.id) {
                    self.send(leader, MessageBody::Propose { entries });
                }
                Ok(())
            }
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                self.handle_append(m.from, prev_index, prev_term, entries, commit)
            }
            MessageBody::Heartbeat { commit, read_round } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                self.log.commit_to(commit);
                self.on_commit();
                self.send(m.from, MessageBody::HeartbeatResp { read_round });
                Ok(())
            }
            MessageBody::Snapshot { snapshot } => {
                self.election_elapsed = 0;
                self.leader = Some(m.from);
                self.handle_snapshot(m.from, snapshot);
                Ok(())
            }
            MessageBody::TimeoutNow => {
                if self.promotable() {
                    tracing::info!(id = self.cfg.id, term = self.term, "raft: leadership transferred here");
                    self.campaign_with(Campaign::Transfer);
                }
                Ok(())
            }
            MessageBody::ReadIndex { ctx } => {
                if let Some(leader) = self.leader.filter(|&l| l != self.cfg.id) {
                    self.send(leader, MessageBody::ReadIndex { ctx });
                }
                Ok(())
            }
            MessageBody::ReadIndexResp { ctx, index } => {
                self.read_states.push(crate::ready::ReadState { ctx, index });
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn step_leader(&mut self, m: Message) -> Result<(), RaftError> {
        match m.body {
            MessageBody::Propose { entries } => {
                // Only application data may be forwarded: membership changes are the
                // leader's own decision.
                let data = entries.iter().all(|p| matches!(p, Payload::Normal(_) | Payload::Tagged { .. }));
                if self.membership.contains(m.from) && data {
                    // Dropped proposals are not reported back: the follower's client times
                    // out and retries, as with any lost message.
                    let _ = self.append_local(entries);
                }
                Ok(())
            }
            MessageBody::AppendResp { reject, index, reject_hint, log_term } => {
                self.handle_append_resp(m.from, m.term, reject, index, reject_hint, log_term);
                Ok(())
            }
            MessageBody::HeartbeatResp { read_round } => {
                self.handle_heartbeat_resp(m.from, read_round);
                Ok(())
            }
            MessageBody::ReadIndex { ctx } => {
                if self.membership.contains(m.from) {
                    self.leader_read(ctx, m.from);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn campaign_with(&mut self, kind: Campaign) {
        if !self.promotable() {
            return;
        }
        let term = if kind == Campaign::Pre {
            self.become_pre_candidate();
            self.term + 1
        } else {
            self.become_candidate();
            self.term
        };
        let me = self.cfg.id;
        self.votes.insert(me, true);
        if self.membership.vote_result(|id| self.votes.get(&id).copied()) == VoteResult::Won {
            // A single voter wins alone.
            if kind == Campaign::Pre {
                self.campaign_with(Campaign::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> =
            self.membership.voters().union(self.membership.outgoing()).copied().filter(|&id| id != me).collect();
        for to in voters {
            let body = match kind {
                Campaign::Pre => MessageBody::PreVote { last_index, last_term },
                _ => MessageBody::Vote { last_index, last_term, transfer: kind == Campaign::Transfer },
            };
            self.send_with_term(to, term, body);
        }
    }

    fn reset(&mut self, term: Term) {
        if self.term != term {
            self.term = term;
            self.vote = None;
        }
        self.leader = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_timeout();
        self.lead_transferee = None;
        self.votes.clear();
        self.progress.clear();
        self.pending_reads.clear();
        self.reads_awaiting_commit.clear();
        self.uncommitted_size = 0;
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn become_pre_candidate(&mut self) {
        // Keeps term and vote: a pre-candidate changes nothing durable.
        self.votes.clear();
        self.progress.clear();
        self.leader = None;
        self.role = Role::PreCandidate;
    }

    fn become_candidate(&mut self) {
        let term = self.term + 1;
        self.reset(term);
        self.vote = Some(self.cfg.id);
        self.role = Role::Candidate;
    }

    pub(crate) fn become_leader(&mut self) {
        let term = self.term;
        self.reset(term);
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        let last = self.log.last_index();
        let (max_msgs, max_bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        for id in self.membership.members() {
            let mut pr = Progress::new(last + 1, max_msgs, max_bytes);
            if id == self.cfg.id {
                pr.matched = self.log.persisted();
                pr.recent_active = true;
                pr.become_replicate();
            }
            self.progress.insert(id, pr);
        }
        // Conservatively assume a membership change may be in the uncommitted tail.
        self.pending_conf_index = last;
        tracing::info!(id = self.cfg.id, term, "raft: became leader");
        // The empty entry commits everything from earlier terms (Raft §5.4.2).
        self.append_unchecked(vec![Payload::Empty]);
    }
}
