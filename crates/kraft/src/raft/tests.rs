//! Unit tests of the core on a tiny in-memory network (deterministic, no clock).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::*;
use crate::config::ReadMode;
use crate::ready::ReadState;

/// What a node has made durable.
#[derive(Default, Clone)]
struct Disk {
    hard: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl Disk {
    fn save(&mut self, rd: &crate::Ready) {
        if let Some(s) = &rd.snapshot {
            self.snapshot = s.clone();
            self.entries.clear();
        }
        if let Some(first) = rd.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend(rd.entries.iter().cloned());
        }
        if let Some(hs) = rd.hard_state {
            self.hard = hs;
        }
    }
}

struct Net {
    nodes: BTreeMap<NodeId, Raft>,
    disks: BTreeMap<NodeId, Disk>,
    applied: BTreeMap<NodeId, Vec<Entry>>,
    reads: BTreeMap<NodeId, Vec<ReadState>>,
    /// Links that drop messages (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Message kinds that are dropped everywhere.
    drop_kinds: BTreeSet<&'static str>,
    queue: VecDeque<Message>,
}

fn cfg(id: NodeId) -> Config {
    let mut c = Config::new(id);
    c.seed = id * 7919;
    c
}

impl Net {
    fn new(n: u64) -> Self {
        Self::with(n, cfg)
    }

    fn with(n: u64, make: impl Fn(NodeId) -> Config) -> Self {
        let mut net = Net {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
            cut: BTreeSet::new(),
            drop_kinds: BTreeSet::new(),
            queue: VecDeque::new(),
        };
        for id in 1..=n {
            net.add(Raft::bootstrap(make(id), 1..=n, []).unwrap());
        }
        net
    }

    fn add(&mut self, raft: Raft) {
        let id = raft.id();
        self.nodes.insert(id, raft);
        self.disks.entry(id).or_default();
        self.applied.entry(id).or_default();
        self.reads.entry(id).or_default();
    }

    fn node(&mut self, id: NodeId) -> &mut Raft {
        self.nodes.get_mut(&id).unwrap()
    }

    fn isolate(&mut self, id: NodeId) {
        for &other in self.nodes.keys() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    /// Processes readies and delivers messages until quiet.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut progressed = false;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                let node = self.nodes.get_mut(&id).unwrap();
                while let Some(rd) = node.ready() {
                    progressed = true;
                    self.disks.get_mut(&id).unwrap().save(&rd);
                    if let Some(s) = &rd.snapshot {
                        self.applied.get_mut(&id).unwrap().clear();
                        let _ = s;
                    }
                    self.applied.get_mut(&id).unwrap().extend(rd.committed_entries.iter().cloned());
                    self.reads.get_mut(&id).unwrap().extend(rd.read_states.iter().copied());
                    for m in rd.messages {
                        if !self.cut.contains(&(m.from, m.to)) && !self.drop_kinds.contains(m.kind()) {
                            self.queue.push_back(m);
                        }
                    }
                    node.advance();
                }
            }
            while let Some(m) = self.queue.pop_front() {
                progressed = true;
                if let Some(node) = self.nodes.get_mut(&m.to) {
                    node.step(m).unwrap();
                }
            }
            if !progressed {
                return;
            }
        }
        panic!("network did not settle");
    }

    fn tick(&mut self, n: usize) {
        for _ in 0..n {
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.settle();
        }
    }

    fn elect(&mut self, id: NodeId) {
        self.settle();
        self.node(id).campaign().unwrap();
        self.settle();
        assert_eq!(self.nodes[&id].role(), Role::Leader, "node {id} should have won");
    }

    fn leaders(&self) -> Vec<NodeId> {
        self.nodes.values().filter(|n| n.role() == Role::Leader).map(Raft::id).collect()
    }

    fn data_applied(&self, id: NodeId) -> Vec<Bytes> {
        self.applied[&id]
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::Normal(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    fn restart(&mut self, id: NodeId) {
        let disk = self.disks[&id].clone();
        let state =
            RestoreState { hard_state: disk.hard, snapshot: disk.snapshot, entries: disk.entries, applied: None };
        let raft = Raft::restore(self.nodes[&id].cfg.clone(), state).unwrap();
        self.nodes.insert(id, raft);
        self.applied.insert(id, Vec::new());
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn single_node_commits_alone() {
    let mut net = Net::new(1);
    net.elect(1);
    net.node(1).propose(b("x")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(1), vec![b("x")]);
    assert_eq!(net.nodes[&1].committed(), 3, "bootstrap entry, leader no-op, proposal");
}

#[test]
fn three_nodes_replicate_and_commit() {
    let mut net = Net::new(3);
    net.elect(1);
    for i in 0..10 {
        net.node(1).propose(b(&format!("v{i}"))).unwrap();
    }
    net.settle();
    for id in 1..=3 {
        assert_eq!(net.data_applied(id).len(), 10, "node {id}");
        assert_eq!(net.nodes[&id].leader(), Some(1));
    }
}

#[test]
fn ticking_elects_exactly_one_leader() {
    let mut net = Net::new(5);
    net.tick(40);
    assert_eq!(net.leaders().len(), 1);
    let leader = net.leaders()[0];
    let term = net.nodes[&leader].term();
    assert!(net.nodes.values().all(|n| n.term() == term && n.leader() == Some(leader)));
}

#[test]
fn pre_vote_keeps_isolated_node_from_disrupting() {
    let mut net = Net::new(3);
    net.elect(1);
    let term = net.nodes[&1].term();
    net.isolate(3);
    net.tick(100);
    assert_eq!(net.nodes[&3].term(), term, "pre-vote never wins, so the term stays");
    net.heal();
    net.tick(5);
    assert_eq!(net.nodes[&1].role(), Role::Leader);
    assert_eq!(net.nodes[&1].term(), term);
}

#[test]
fn without_pre_vote_isolated_node_bumps_term_and_the_group_reconverges() {
    let mut net = Net::with(3, |id| Config { pre_vote: false, ..cfg(id) });
    net.elect(1);
    let term = net.nodes[&1].term();
    net.isolate(3);
    net.tick(100);
    assert!(net.nodes[&3].term() > term + 2, "isolated candidate keeps campaigning");
    net.heal();
    net.tick(30);
    // The high-term node forces an election on return (stale leader learns the term).
    assert_eq!(net.leaders().len(), 1);
}

#[test]
fn check_quorum_makes_isolated_leader_step_down() {
    let mut net = Net::new(3);
    net.elect(1);
    net.isolate(1);
    // The first check may still see acknowledgements from before the cut: at most two
    // election timeouts pass before the leader steps down (as in etcd).
    net.tick(21);
    assert_eq!(net.nodes[&1].role(), Role::Follower, "lost quorum");
    net.tick(60);
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1);
    assert_ne!(leaders[0], 1);
}

#[test]
fn followers_in_lease_ignore_vote_requests() {
    let mut net = Net::with(3, |id| Config { pre_vote: false, ..cfg(id) });
    net.elect(1);
    let term = net.nodes[&1].term();
    // Node 3 campaigns while 1 is healthy: 2 has a live leader and ignores it.
    net.node(3).campaign().unwrap();
    net.settle();
    assert_eq!(net.nodes[&1].role(), Role::Leader);
    assert_eq!(net.nodes[&2].term(), term, "vote request ignored without bumping the term");
}

#[test]
fn new_leader_overwrites_uncommitted_entries() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).propose(b("committed")).unwrap();
    net.settle();
    net.isolate(1);
    net.node(1).propose(b("lost-1")).unwrap();
    net.node(1).propose(b("lost-2")).unwrap();
    net.settle();
    // 2 and 3 refuse to vote while their lease on 1 holds; then one of them wins.
    net.tick(60);
    let leader = *net.leaders().iter().find(|&&l| l != 1).expect("a new leader");
    net.node(leader).propose(b("new")).unwrap();
    net.settle();
    net.heal();
    net.tick(20);
    for id in 1..=3 {
        assert_eq!(net.data_applied(id), vec![b("committed"), b("new")], "node {id}");
    }
}

#[test]
fn followers_forward_proposals() {
    let mut net = Net::new(3);
    net.elect(1);
    assert_eq!(net.node(3).propose(b("via-3")).unwrap(), Proposed::Forwarded { to: 1 });
    net.settle();
    assert_eq!(net.data_applied(2), vec![b("via-3")]);
    let mut lonely = Raft::join(cfg(9)).unwrap();
    assert_eq!(lonely.propose(b("x")), Err(RaftError::NotLeader { leader: None }));
}

#[test]
fn read_index_on_leader_and_follower() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).propose(b("a")).unwrap();
    net.settle();
    let committed = net.nodes[&1].committed();
    net.node(1).read_index(7).unwrap();
    net.node(3).read_index(8).unwrap();
    net.settle();
    assert_eq!(net.reads[&1], vec![ReadState { ctx: 7, index: committed }]);
    assert_eq!(net.reads[&3], vec![ReadState { ctx: 8, index: committed }]);
}

#[test]
fn read_index_needs_a_quorum() {
    let mut net = Net::new(3);
    net.elect(1);
    net.isolate(1);
    net.node(1).read_index(1).unwrap();
    net.settle();
    assert!(net.reads[&1].is_empty(), "no quorum, no read");
    net.heal();
    net.tick(2);
    assert_eq!(net.reads[&1].len(), 1, "confirmed once heartbeats get through");
}

#[test]
fn new_leader_defers_reads_until_its_first_commit() {
    let mut net = Net::new(3);
    net.elect(1);
    net.cut.insert((1, 2));
    net.cut.insert((1, 3));
    // Become leader without being able to commit the no-op yet.
    net.elect(1);
    net.node(1).read_index(5).unwrap();
    net.settle();
    assert!(net.reads[&1].is_empty());
    net.heal();
    net.tick(2);
    assert_eq!(net.reads[&1].len(), 1);
}

#[test]
fn lease_reads_answer_without_a_round_trip() {
    let mut net = Net::with(3, |id| Config { read_mode: ReadMode::LeaseBased, ..cfg(id) });
    net.elect(1);
    net.isolate(1);
    net.node(1).read_index(3).unwrap();
    net.settle();
    assert_eq!(net.reads[&1].len(), 1, "served from the lease");
}

#[test]
fn leadership_transfer() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).transfer_leader(3).unwrap();
    net.settle();
    assert_eq!(net.leaders(), vec![3]);
    assert_eq!(net.node(1).transfer_leader(2), Err(RaftError::NotLeader { leader: Some(3) }));
    assert_eq!(net.node(3).transfer_leader(3), Err(RaftError::InvalidTransfer(3)));
}

#[test]
fn transfer_to_lagging_follower_catches_it_up_first() {
    let mut net = Net::new(3);
    net.elect(1);
    net.isolate(3);
    for i in 0..5 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    net.settle();
    net.heal();
    net.node(1).transfer_leader(3).unwrap();
    assert!(matches!(net.node(1).propose(b("blocked")), Err(RaftError::ProposalDropped(_))));
    net.settle();
    assert_eq!(net.leaders(), vec![3]);
    assert_eq!(net.data_applied(3).len(), 5);
}

#[test]
fn learners_replicate_without_voting_and_can_be_promoted() {
    let mut net = Net::new(3);
    net.elect(1);
    net.add(Raft::join(cfg(4)).unwrap());
    net.node(1).propose_conf_change(vec![Change::AddLearner(4)]).unwrap();
    net.settle();
    net.node(1).propose(b("x")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(4), vec![b("x")]);
    assert!(net.nodes[&4].membership().is_learner(4));
    // A learner never campaigns.
    net.isolate(4);
    net.tick(50);
    assert_eq!(net.nodes[&4].role(), Role::Follower);
    net.heal();
    net.tick(3);
    net.node(1).propose_conf_change(vec![Change::AddVoter(4)]).unwrap();
    net.settle();
    assert!(net.nodes.values().all(|n| n.membership().is_voter(4)));
}

#[test]
fn joint_consensus_replaces_members() {
    let mut net = Net::new(3);
    net.elect(1);
    net.add(Raft::join(cfg(4)).unwrap());
    net.add(Raft::join(cfg(5)).unwrap());
    net.node(1).propose_conf_change(vec![Change::AddVoter(4), Change::AddVoter(5), Change::Remove(3)]).unwrap();
    assert_eq!(net.node(1).propose_conf_change(vec![Change::Remove(2)]), Err(RaftError::ConfChangePending));
    net.settle();
    // Followers learn the final commit from the next heartbeat.
    net.tick(2);
    let want: BTreeSet<NodeId> = [1, 2, 4, 5].into();
    for id in [1, 2, 4, 5] {
        let m = net.nodes[&id].membership();
        assert!(!m.is_joint(), "node {id} left the joint configuration");
        assert_eq!(m.voters(), &want, "node {id}");
    }
    net.node(1).propose(b("after")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(5), vec![b("after")]);
}

#[test]
fn removed_leader_steps_down() {
    let mut net = Net::new(3);
    net.elect(1);
    net.node(1).propose_conf_change(vec![Change::Remove(1)]).unwrap();
    net.settle();
    assert_eq!(net.nodes[&1].role(), Role::Follower);
    net.tick(40);
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1);
    assert_ne!(leaders[0], 1);
}

#[test]
fn snapshot_brings_a_new_node_up_to_date() {
    let mut net = Net::new(3);
    net.elect(1);
    for i in 0..20 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    net.settle();
    for id in 1..=3 {
        let applied = net.nodes[&id].applied();
        net.node(id).compact(applied, b("state-at-compaction")).unwrap();
    }
    assert!(net.node(1).compact(1, Bytes::new()).is_err(), "already compacted");
    net.add(Raft::join(cfg(4)).unwrap());
    net.node(1).propose_conf_change(vec![Change::AddVoter(4)]).unwrap();
    net.settle();
    net.tick(3);
    assert_eq!(net.disks[&4].snapshot.data, b("state-at-compaction"));
    assert!(net.nodes[&4].membership().is_voter(4));
    net.node(1).propose(b("after")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(4), vec![b("after")]);
}

#[test]
fn restart_recovers_log_and_vote() {
    let mut net = Net::new(3);
    net.elect(1);
    for i in 0..5 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    net.settle();
    let (term, last) = (net.nodes[&2].term(), net.nodes[&2].last_index());
    net.restart(2);
    assert_eq!((net.nodes[&2].term(), net.nodes[&2].last_index()), (term, last));
    net.settle();
    assert_eq!(net.data_applied(2).len(), 5, "committed entries replay after restart");
    net.restart(1);
    net.tick(40);
    assert_eq!(net.leaders().len(), 1);
    net.node(net.leaders()[0]).propose(b("post")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(3).last(), Some(&b("post")));
}

#[test]
fn flow_control_bounds_inflight_appends() {
    let mut net = Net::with(3, |id| Config { max_inflight_msgs: 2, max_size_per_msg: 1, ..cfg(id) });
    net.elect(1);
    net.cut.insert((2, 1)); // acknowledgements from 2 are lost
    for i in 0..10 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    let rd = net.node(1).ready().unwrap();
    let to_2 = rd.messages.iter().filter(|m| m.to == 2 && matches!(m.body, MessageBody::Append { .. })).count();
    assert!(to_2 <= 2, "at most two appends in flight, got {to_2}");
    net.node(1).advance();
    net.settle();
}

#[test]
fn uncommitted_size_limit_drops_proposals() {
    let mut net = Net::with(3, |id| Config { max_uncommitted_size: 10, ..cfg(id) });
    net.elect(1);
    net.isolate(1);
    net.node(1).propose(Bytes::from(vec![0u8; 8])).unwrap();
    assert!(matches!(net.node(1).propose(Bytes::from(vec![0u8; 8])), Err(RaftError::ProposalDropped(_))));
    net.heal();
    net.settle();
    net.tick(2);
    net.node(1).propose(Bytes::from(vec![0u8; 8])).unwrap();
}

#[test]
fn stale_messages_and_foreign_addresses_are_ignored() {
    let mut net = Net::new(3);
    net.elect(1);
    let term = net.nodes[&2].term();
    let stale = Message {
        from: 3,
        to: 2,
        term: term - 1,
        body: MessageBody::Vote { last_index: 99, last_term: 99, transfer: false },
    };
    net.node(2).step(stale).unwrap();
    let wrong_to = Message { from: 3, to: 9, term: term + 5, body: MessageBody::TimeoutNow };
    net.node(2).step(wrong_to).unwrap();
    assert_eq!(net.nodes[&2].term(), term);
}

#[test]
fn lost_snapshot_is_sent_again() {
    let mut net = Net::new(3);
    net.elect(1);
    for i in 0..20 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    net.settle();
    let applied = net.nodes[&1].applied();
    net.node(1).compact(applied, b("state")).unwrap();
    net.add(Raft::join(cfg(4)).unwrap());
    net.drop_kinds.insert("Snapshot"); // every snapshot is lost for a while
    net.node(1).propose_conf_change(vec![Change::AddLearner(4)]).unwrap();
    net.settle();
    net.tick(5);
    assert_eq!(net.disks[&4].snapshot.meta.index, 0);
    net.drop_kinds.clear();
    net.tick(60);
    assert_eq!(net.disks[&4].snapshot.data, b("state"), "re-sent after the timeout");
    net.node(1).propose(b("after")).unwrap();
    net.settle();
    assert_eq!(net.data_applied(4), vec![b("after")]);
}

#[test]
fn lost_appends_do_not_close_the_window_forever() {
    let mut net = Net::with(3, |id| Config { max_inflight_msgs: 2, max_size_per_msg: 1, ..cfg(id) });
    net.elect(1);
    net.node(1).propose(b("warm")).unwrap();
    net.settle(); // node 2 is now in the replicate state
    net.cut.insert((1, 2)); // appends to 2 are lost and fill its window
    for i in 0..6 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
    }
    net.settle();
    net.heal();
    net.tick(10);
    assert_eq!(net.data_applied(2).len(), 7, "heartbeat answers reopen the window");
}

#[test]
fn consecutive_acks_to_the_leader_become_one() {
    // One entry per append message: the follower gets several appends in one batch.
    let mut net = Net::with(3, |id| Config { max_size_per_msg: 1, ..cfg(id) });
    net.elect(1);
    // A first round trip moves the followers to pipelined replication.
    net.node(1).propose(b("first")).unwrap();
    net.settle();
    // Five appends, pipelined, reach follower 2 together.
    let mut to_2 = Vec::new();
    for i in 0..5 {
        net.node(1).propose(b(&format!("{i}"))).unwrap();
        let rd = net.node(1).ready().unwrap();
        net.disks.get_mut(&1).unwrap().save(&rd);
        to_2.extend(rd.messages.into_iter().filter(|m| m.to == 2));
        net.node(1).advance();
    }
    assert_eq!(to_2.len(), 5, "one append per entry");
    for m in to_2 {
        net.node(2).step(m).unwrap();
    }
    let rd = net.node(2).ready().unwrap();
    let acks: Vec<Index> = rd
        .messages
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::AppendResp { reject: false, index, .. } => Some(index),
            _ => None,
        })
        .collect();
    let last = net.nodes[&1].log.last_index();
    assert_eq!(acks, vec![last], "one acknowledgement of the highest index");
    net.disks.get_mut(&2).unwrap().save(&rd);
    for m in rd.messages {
        net.queue.push_back(m);
    }
    net.node(2).advance();
    net.settle();
    assert_eq!(net.nodes[&1].log.committed(), last);
    assert_eq!(net.data_applied(2).len(), 6);
}
