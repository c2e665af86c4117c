//! A seeded, deterministic simulation of a Raft group: nodes with a simulated disk, a
//! simulated network and clock, clients, and a nemesis that injects faults. Invariants are
//! checked as the run goes; the client history is checked for linearizability at the end.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use kraft::{
    Change, Config, Entry, HardState, Index, Message, NodeId, Payload, Raft, Ready, RestoreState, Role, Snapshot, Term,
};

use crate::kv::{self, Applied, Command, Kv};
use crate::linearizability::{self, History, Input, OpId, Output, Verdict};
use crate::rng::Rng;

/// Shape of one run.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    pub(crate) seed: u64,
    pub(crate) nodes: u64,
    pub(crate) fault_ms: u64,
    pub(crate) heal_ms: u64,
    pub(crate) clients: u64,
    pub(crate) keys: u64,
    pub(crate) trace: bool,
    /// Stop after this many events (for replays).
    pub(crate) max_events: Option<u64>,
}

/// What a run found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) violations: Vec<String>,
    pub(crate) ops: u64,
    pub(crate) elections: u64,
    pub(crate) crashes: u64,
    pub(crate) partitions: u64,
    pub(crate) transfers: u64,
    pub(crate) conf_changes: u64,
    pub(crate) snapshots: u64,
    pub(crate) pauses: u64,
    pub(crate) events: u64,
    /// Event number at which the first violation was seen.
    pub(crate) first_violation_event: Option<u64>,
    pub(crate) trace: Vec<String>,
}

#[derive(Default, Clone)]
struct Disk {
    hard: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

enum Pending {
    Write { op: OpId },
    Read { client: u64, key: u64, op: OpId },
}

struct SimNode {
    raft: Option<Raft>,
    /// Bumped on every crash so disk completions of a dead incarnation are ignored.
    epoch: u64,
    disk: Disk,
    kv: Kv,
    kv_applied: Index,
    inflight: Option<Ready>,
    /// Client writes submitted here: (client, seq) → op.
    writes: HashMap<(u64, u64), Pending>,
    /// Client reads submitted here: ctx → op.
    reads: HashMap<u64, Pending>,
    /// Confirmed read indexes waiting for the state machine: (ctx, index).
    read_states: Vec<(u64, Index)>,
    last_commit: Index,
    slow_disk: bool,
    /// This node's tick interval: clocks drift.
    tick_ms: u64,
    /// The node is paused (a stopped VM, a GC pause) until then: it keeps its state but
    /// handles nothing.
    paused_until: u64,
}

#[derive(Debug, Clone)]
enum Event {
    Tick(NodeId),
    Deliver(Message),
    DiskDone(NodeId, u64),
    Restart(NodeId),
    ClientStart(u64),
    ClientTimeout(u64, u64),
    Nemesis,
    Heal,
}

struct Client {
    seq: u64,
    /// The op in flight: (history id, client seq).
    current: Option<(OpId, u64)>,
}

pub(crate) struct Sim {
    cfg: SimConfig,
    rng: Rng,
    now: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    seq: u64,
    nodes: BTreeMap<NodeId, SimNode>,
    /// Nodes removed from the group (they stop).
    removed: BTreeSet<NodeId>,
    /// Spawned nodes not yet in the membership.
    joining: BTreeSet<NodeId>,
    next_id: NodeId,
    cut: BTreeSet<(NodeId, NodeId)>,
    clients: BTreeMap<u64, Client>,
    history: History,
    next_value: u64,
    next_ctx: u64,
    healing: bool,
    leaders: BTreeMap<Term, NodeId>,
    applied_log: BTreeMap<Index, (Term, Payload)>,
    /// The term of the leader that committed each index (the first leader seen committing it).
    commit_terms: BTreeMap<Index, Term>,
    out: Outcome,
}

const TICK_MS: u64 = 10;
const CLIENT_TIMEOUT_MS: u64 = 400;

fn raft_config(id: NodeId, seed: u64) -> Config {
    let mut c = Config::new(id);
    c.seed = seed.wrapping_mul(31).wrapping_add(id);
    c.max_size_per_msg = 4096;
    c.max_inflight_msgs = 32;
    c
}

impl Sim {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let mut nodes = BTreeMap::new();
        for id in 1..=cfg.nodes {
            let raft = Raft::bootstrap(raft_config(id, cfg.seed), 1..=cfg.nodes, []).expect("valid bootstrap");
            let (slow, tick) = (rng.chance(200), rng.range(TICK_MS - 2, TICK_MS + 2));
            nodes.insert(id, SimNode::new(raft, slow, tick));
        }
        let clients = (1..=cfg.clients).map(|c| (c, Client { seq: 0, current: None })).collect();
        let mut sim = Sim {
            next_id: cfg.nodes + 1,
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            seq: 0,
            nodes,
            removed: BTreeSet::new(),
            joining: BTreeSet::new(),
            cut: BTreeSet::new(),
            clients,
            history: History::new(),
            next_value: 1,
            next_ctx: 1,
            healing: false,
            leaders: BTreeMap::new(),
            applied_log: BTreeMap::new(),
            commit_terms: BTreeMap::new(),
            out: Outcome::default(),
            cfg,
        };
        for id in 1..=sim.cfg.nodes {
            let at = sim.rng.below(TICK_MS);
            sim.schedule(at, Event::Tick(id));
        }
        for c in 1..=sim.cfg.clients {
            let at = sim.rng.range(50, 150);
            sim.schedule(at, Event::ClientStart(c));
        }
        sim.schedule(300, Event::Nemesis);
        sim
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        self.queue.push(Reverse((self.now + delay, self.seq, self.events.len() - 1)));
    }

    fn violation(&mut self, what: String) {
        if self.out.first_violation_event.is_none() {
            self.out.first_violation_event = Some(self.out.events);
        }
        if self.out.violations.len() < 10 {
            self.out.violations.push(format!("t={}ms event={}: {what}", self.now, self.out.events));
        }
    }

    fn trace(&mut self, line: impl FnOnce() -> String) {
        if self.cfg.trace {
            let l = format!("t={:>6} #{:<6} {}", self.now, self.out.events, line());
            self.out.trace.push(l);
        }
    }

    /// Runs the fault phase, then the healing phase, then checks the history.
    pub(crate) fn run(mut self) -> Outcome {
        let end = self.cfg.fault_ms + self.cfg.heal_ms;
        let catchup_at = end.saturating_sub(1_000).max(self.cfg.fault_ms);
        let mut catchup_target = None;
        let mut ops_at_heal = None;
        while let Some(Reverse((at, _, idx))) = self.queue.pop() {
            if at > end {
                break;
            }
            if catchup_target.is_none() && at >= catchup_at {
                catchup_target = self.nodes.values().filter_map(|n| n.raft.as_ref().map(Raft::committed)).max();
            }
            if !self.healing && at >= self.cfg.fault_ms {
                self.start_healing();
                ops_at_heal = Some(self.completed_ops());
            }
            self.now = at;
            self.out.events += 1;
            if self.cfg.max_events.is_some_and(|m| self.out.events > m) {
                break;
            }
            if let Some(event) = self.events[idx].take() {
                self.handle(event);
            }
            if self.out.events % 64 == 0 {
                self.check_log_matching();
            }
        }
        let ops = self.completed_ops();
        self.out.ops = ops;
        if let (Some(target), None) = (catchup_target, self.cfg.max_events) {
            self.check_caught_up(target);
        }
        if self.cfg.max_events.is_none() && ops_at_heal.is_some_and(|before| ops <= before) {
            self.violation("liveness: no client operation completed after healing".into());
        }
        self.out.elections = self.leaders.len() as u64;
        let history = self.history.operations();
        match linearizability::check(&history, 2_000_000) {
            Verdict::Linearizable => {}
            Verdict::Violation(v) => self.violation(format!("not linearizable: {}", v.explanation)),
            Verdict::Unknown { key } => self.violation(format!("linearizability check gave up on key {key}")),
        }
        self.out
    }

    fn completed_ops(&self) -> u64 {
        self.history.operations().iter().filter(|o| o.ret.is_some()).count() as u64
    }

    fn start_healing(&mut self) {
        self.healing = true;
        self.cut.clear();
        let down: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, n)| n.raft.is_none() && !self.removed.contains(id))
            .map(|(&id, _)| id)
            .collect();
        for id in down {
            let delay = self.rng.range(1, 20);
            self.schedule(delay, Event::Restart(id));
        }
        self.trace(|| "healing: partitions removed, crashed nodes restarting".into());
    }

    /// The node an event happens on, for pauses.
    fn target(event: &Event) -> Option<NodeId> {
        match event {
            Event::Tick(id) | Event::DiskDone(id, _) => Some(*id),
            Event::Deliver(m) => Some(m.to),
            _ => None,
        }
    }

    fn handle(&mut self, event: Event) {
        if let Some(id) = Self::target(&event) {
            let paused_until = self.nodes.get(&id).map_or(0, |n| n.paused_until);
            if paused_until > self.now {
                // A paused node handles everything late, in order, when it wakes up.
                let delay = paused_until - self.now;
                self.schedule(delay, event);
                return;
            }
        }
        match event {
            Event::Tick(id) => {
                if self.removed.contains(&id) {
                    return;
                }
                if let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) {
                    raft.tick();
                }
                self.drive(id);
                let interval = self.nodes.get(&id).map_or(TICK_MS, |n| n.tick_ms);
                self.schedule(interval, Event::Tick(id));
            }
            Event::Deliver(m) => {
                let (from, to) = (m.from, m.to);
                if self.cut.contains(&(from, to)) || self.removed.contains(&to) {
                    return;
                }
                let kind = m.kind();
                self.trace(|| format!("deliver {kind} {from}->{to}"));
                let Some(raft) = self.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) else { return };
                if let Err(e) = raft.step(m) {
                    self.violation(format!("node {to} failed: {e}"));
                }
                self.drive(to);
            }
            Event::DiskDone(id, epoch) => self.disk_done(id, epoch),
            Event::Restart(id) => self.restart(id),
            Event::ClientStart(c) => self.client_start(c),
            Event::ClientTimeout(c, seq) => {
                let Some(client) = self.clients.get_mut(&c) else { return };
                if client.current.is_some_and(|(_, s)| s == seq) {
                    // The outcome stays unknown in the history.
                    client.current = None;
                    self.schedule(1, Event::ClientStart(c));
                }
            }
            Event::Nemesis => {
                if !self.healing {
                    self.retire_removed();
                    self.nemesis();
                    let next = self.rng.range(100, 400);
                    self.schedule(next, Event::Nemesis);
                }
            }
            Event::Heal => {
                self.cut.clear();
                self.trace(|| "partition healed".into());
            }
        }
    }

    /// Takes the next `Ready` of a node, if any, and schedules its disk write.
    fn drive(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else { return };
        let Some(raft) = node.raft.as_mut() else { return };
        let commit = raft.committed();
        if commit < node.last_commit {
            let last = node.last_commit;
            self.violation(format!("node {id} commit index went back from {last} to {commit}"));
            return;
        }
        let previous = node.last_commit;
        node.last_commit = commit;
        let (role, term) = (raft.role(), raft.term());
        if role == Role::Leader {
            for index in previous + 1..=commit {
                let t = self.commit_terms.entry(index).or_insert(term);
                *t = (*t).min(term);
            }
            self.check_leader(id, term);
        }
        let node = self.nodes.get_mut(&id).expect("exists");
        let Some(raft) = node.raft.as_mut() else { return };
        if node.inflight.is_some() {
            return;
        }
        let Some(rd) = raft.ready() else { return };
        let must_sync = !rd.entries.is_empty() || rd.hard_state.is_some() || rd.snapshot.is_some();
        let delay = match (must_sync, node.slow_disk) {
            (false, _) => 0,
            (true, false) => self.rng.range(0, 2),
            (true, true) => self.rng.range(3, 25),
        };
        let epoch = node.epoch;
        node.inflight = Some(rd);
        self.schedule(delay, Event::DiskDone(id, epoch));
    }

    fn check_leader(&mut self, id: NodeId, term: Term) {
        match self.leaders.get(&term) {
            Some(&other) if other != id => {
                self.violation(format!("election safety: nodes {other} and {id} both lead term {term}"));
            }
            Some(_) => {}
            None => {
                self.leaders.insert(term, id);
                self.trace(|| format!("node {id} leads term {term}"));
                // Leader completeness: every entry committed in an earlier term is in the new
                // leader's log (entries committed later, by a newer leader, need not be).
                let raft = self.nodes[&id].raft.as_ref().expect("leader is up");
                let first = raft.first_index();
                let mut missing = None;
                for (&index, &commit_term) in self.commit_terms.range(first..) {
                    if commit_term >= term {
                        continue;
                    }
                    let entry_term = self.applied_log.get(&index).map(|(t, _)| *t);
                    if entry_term.is_some() && raft.term_at(index) != entry_term {
                        missing = Some(index);
                        break;
                    }
                }
                if let Some(index) = missing {
                    self.violation(format!(
                        "leader completeness: leader {id} of term {term} lacks committed entry {index}"
                    ));
                }
            }
        }
    }

    fn disk_done(&mut self, id: NodeId, epoch: u64) {
        let Some(node) = self.nodes.get_mut(&id) else { return };
        if node.epoch != epoch || node.raft.is_none() {
            return;
        }
        let Some(rd) = node.inflight.take() else { return };
        // Durable now.
        if let Some(s) = &rd.snapshot {
            node.disk.snapshot = s.clone();
            node.disk.entries.clear();
            node.kv = Kv::from_bytes(&s.data);
            node.kv_applied = s.meta.index;
        }
        if let Some(first) = rd.entries.first() {
            node.disk.entries.retain(|e| e.index < first.index);
            node.disk.entries.extend(rd.entries.iter().cloned());
        }
        if let Some(hs) = rd.hard_state {
            node.disk.hard = hs;
        }
        for m in rd.messages {
            self.send(m);
        }
        for entry in &rd.committed_entries {
            self.apply(id, entry);
        }
        let node = self.nodes.get_mut(&id).expect("exists");
        node.read_states.extend(rd.read_states.iter().map(|r| (r.ctx, r.index)));
        if let Some(raft) = node.raft.as_mut() {
            raft.advance();
        }
        self.serve_reads(id);
        self.maybe_compact(id);
        self.drive(id);
    }

    fn send(&mut self, m: Message) {
        if self.rng.chance(20) {
            return; // dropped
        }
        let copies = if self.rng.chance(20) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = if self.rng.chance(50) { self.rng.range(10, 60) } else { self.rng.range(1, 4) };
            self.schedule(delay, Event::Deliver(m.clone()));
        }
    }

    fn apply(&mut self, id: NodeId, entry: &Entry) {
        // State machine safety: every node applies the same entry at each index.
        match self.applied_log.get(&entry.index) {
            Some((t, p)) if *t != entry.term || *p != entry.payload => {
                let msg = format!(
                    "state machine safety: node {id} applied {:?} at {} but {:?} was applied before",
                    (entry.term, &entry.payload),
                    entry.index,
                    (t, p)
                );
                self.violation(msg);
            }
            Some(_) => {}
            None => {
                self.applied_log.insert(entry.index, (entry.term, entry.payload.clone()));
            }
        }
        let node = self.nodes.get_mut(&id).expect("exists");
        if entry.index <= node.kv_applied {
            return;
        }
        node.kv_applied = entry.index;
        let Payload::Normal(data) = &entry.payload else { return };
        let Some((client, seq, cmd)) = kv::decode(data) else { return };
        let result = node.kv.apply(client, seq, cmd);
        let waiting = node.writes.remove(&(client, seq));
        if let (Some(result), Some(Pending::Write { op, .. })) = (result, waiting) {
            let output = match result {
                Applied::Put => Output::Put,
                Applied::Cas(ok) => Output::Cas(ok),
            };
            self.finish(client, seq, op, output);
        }
    }

    fn serve_reads(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("exists");
        let applied = node.kv_applied;
        let ready: Vec<u64> = node.read_states.iter().filter(|(_, i)| *i <= applied).map(|(c, _)| *c).collect();
        node.read_states.retain(|(_, i)| *i > applied);
        let mut done = Vec::new();
        for ctx in ready {
            if let Some(Pending::Read { client, key, op }) = node.reads.remove(&ctx) {
                done.push((client, ctx, op, node.kv.map.get(&key).copied()));
            }
        }
        for (client, ctx, op, value) in done {
            self.finish(client, ctx, op, Output::Get(value));
        }
    }

    fn finish(&mut self, client: u64, tag: u64, op: OpId, output: Output) {
        let Some(c) = self.clients.get_mut(&client) else { return };
        if c.current.is_some_and(|(o, s)| o == op && s == tag) {
            c.current = None;
            self.history.complete(op, self.now, output);
            let think = self.rng.range(1, 15);
            self.schedule(think, Event::ClientStart(client));
        }
    }

    fn maybe_compact(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("exists");
        let Some(raft) = node.raft.as_mut() else { return };
        let applied = node.kv_applied.min(raft.applied());
        if applied < raft.first_index() + 48 {
            return;
        }
        if raft.compact(applied, node.kv.to_bytes()).is_ok() {
            // The snapshot is durable before the log prefix is dropped.
            node.disk.snapshot = Snapshot { meta: raft.snapshot_meta().clone(), data: node.kv.to_bytes() };
            node.disk.entries.retain(|e| e.index > applied);
            self.out.snapshots += 1;
        }
    }

    fn client_start(&mut self, c: u64) {
        if self.clients.get(&c).is_none_or(|cl| cl.current.is_some()) {
            return;
        }
        let members: Vec<NodeId> = self.nodes.keys().copied().filter(|id| !self.removed.contains(id)).collect();
        let Some(target) = self.rng.pick(&members) else { return };
        let key = self.rng.below(self.cfg.keys);
        let roll = self.rng.below(10);
        let up = self.nodes.get(&target).is_some_and(|n| n.raft.is_some());
        if !up {
            // Connection refused: the op never started; try elsewhere soon.
            self.schedule(5, Event::ClientStart(c));
            return;
        }
        let client = self.clients.get_mut(&c).expect("exists");
        client.seq += 1;
        let seq = client.seq;
        if roll < 3 {
            let ctx = self.next_ctx;
            self.next_ctx += 1;
            let node = self.nodes.get_mut(&target).expect("exists");
            let raft = node.raft.as_mut().expect("up");
            if raft.read_index(ctx).is_err() {
                self.schedule(20, Event::ClientStart(c));
                return;
            }
            let op = self.history.invoke(c, self.now, Input::Get { key });
            node.reads.insert(ctx, Pending::Read { client: c, key, op });
            self.clients.get_mut(&c).expect("exists").current = Some((op, ctx));
            self.schedule(CLIENT_TIMEOUT_MS, Event::ClientTimeout(c, ctx));
        } else {
            let value = self.next_value;
            self.next_value += 1;
            let (cmd, input) = if roll < 8 {
                (Command::Put { key, value }, Input::Put { key, value })
            } else {
                let expected = if self.rng.chance(500) { None } else { Some(self.rng.range(1, value.max(1))) };
                (Command::Cas { key, expected, new: value }, Input::Cas { key, expected, new: value })
            };
            let node = self.nodes.get_mut(&target).expect("exists");
            let raft = node.raft.as_mut().expect("up");
            if raft.propose(kv::encode(c, seq, cmd)).is_err() {
                self.schedule(20, Event::ClientStart(c));
                return;
            }
            let op = self.history.invoke(c, self.now, input);
            node.writes.insert((c, seq), Pending::Write { op });
            self.clients.get_mut(&c).expect("exists").current = Some((op, seq));
            self.schedule(CLIENT_TIMEOUT_MS, Event::ClientTimeout(c, seq));
        }
        self.drive(target);
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(id, n)| !self.removed.contains(id) && n.raft.as_ref().is_some_and(|r| r.role() == Role::Leader))
            .max_by_key(|(_, n)| n.raft.as_ref().map_or(0, Raft::term))
            .map(|(&id, _)| id)
    }

    fn nemesis(&mut self) {
        let live: Vec<NodeId> = self.nodes.keys().copied().filter(|id| !self.removed.contains(id)).collect();
        match self.rng.below(12) {
            10 | 11 => {
                // Isolate the leader: the classic setting for stale reads and lost writes.
                if let Some(leader) = self.leader() {
                    for &other in &live {
                        if other != leader {
                            self.cut.insert((leader, other));
                            self.cut.insert((other, leader));
                        }
                    }
                    self.out.partitions += 1;
                    let d = self.rng.range(200, 1000);
                    self.schedule(d, Event::Heal);
                    self.trace(|| format!("isolate leader {leader}"));
                }
            }
            0 | 1 => {
                // Symmetric partition into two sides.
                let mut side = BTreeSet::new();
                for &id in &live {
                    if self.rng.chance(500) {
                        side.insert(id);
                    }
                }
                for &a in &live {
                    for &b in &live {
                        if side.contains(&a) != side.contains(&b) {
                            self.cut.insert((a, b));
                        }
                    }
                }
                self.out.partitions += 1;
                let d = self.rng.range(100, 800);
                self.schedule(d, Event::Heal);
                self.trace(|| format!("partition {side:?} | rest"));
            }
            2 => {
                // One-way link failure.
                if let (Some(a), Some(b)) = (self.rng.pick(&live), self.rng.pick(&live)) {
                    if a != b {
                        self.cut.insert((a, b));
                        self.out.partitions += 1;
                        let d = self.rng.range(100, 800);
                        self.schedule(d, Event::Heal);
                        self.trace(|| format!("one-way cut {a}->{b}"));
                    }
                }
            }
            3 | 4 => {
                let Some(id) = self.rng.pick(&live) else { return };
                self.crash(id);
                let d = self.rng.range(20, 500);
                self.schedule(d, Event::Restart(id));
            }
            5 => {
                if let Some(leader) = self.leader() {
                    let voters: Vec<NodeId> = self.nodes[&leader]
                        .raft
                        .as_ref()
                        .map(|r| r.membership().voters().iter().copied().filter(|&v| v != leader).collect())
                        .unwrap_or_default();
                    if let Some(to) = self.rng.pick(&voters) {
                        if let Some(raft) = self.nodes.get_mut(&leader).and_then(|n| n.raft.as_mut()) {
                            if raft.transfer_leader(to).is_ok() {
                                self.out.transfers += 1;
                                self.trace(|| format!("transfer leadership {leader} -> {to}"));
                            }
                        }
                        self.drive(leader);
                    }
                }
            }
            6 => self.change_membership(),
            7 => {
                // Pause a node (preferably the leader) without crashing it.
                let Some(id) = self.leader().filter(|_| self.rng.chance(600)).or_else(|| self.rng.pick(&live)) else {
                    return;
                };
                let d = self.rng.range(100, 700);
                if let Some(n) = self.nodes.get_mut(&id) {
                    n.paused_until = self.now + d;
                }
                self.out.pauses += 1;
                self.trace(|| format!("pause node {id} for {d}ms"));
            }
            _ => {}
        }
    }

    fn change_membership(&mut self) {
        let Some(leader) = self.leader() else { return };
        let Some(membership) = self.nodes[&leader].raft.as_ref().map(|r| r.membership().clone()) else { return };
        if membership.is_joint() {
            return;
        }
        let voters: Vec<NodeId> = membership.voters().iter().copied().collect();
        let learners: Vec<NodeId> = membership.learners().iter().copied().collect();
        let changes = match self.rng.below(4) {
            // Add a fresh node as a learner.
            0 => vec![Change::AddLearner(self.spawn())],
            // Promote a learner.
            1 => match self.rng.pick(&learners) {
                Some(l) => vec![Change::AddVoter(l)],
                None => return,
            },
            // Remove a voter (keep at least 3).
            2 if voters.len() > 3 => match self.rng.pick(&voters) {
                Some(v) if v != leader => vec![Change::Remove(v)],
                _ => return,
            },
            // Replace a voter with a fresh one: joint consensus.
            3 => match self.rng.pick(&voters) {
                Some(v) if v != leader => vec![Change::AddVoter(self.spawn()), Change::Remove(v)],
                _ => return,
            },
            _ => return,
        };
        let raft = self.nodes.get_mut(&leader).and_then(|n| n.raft.as_mut()).expect("leader is up");
        if raft.propose_conf_change(changes.clone()).is_ok() {
            self.out.conf_changes += 1;
            self.trace(|| format!("leader {leader} proposes {changes:?}"));
        }
        self.drive(leader);
    }

    /// Starts a new empty node that will be added to the group.
    fn spawn(&mut self) -> NodeId {
        let id = self.next_id;
        self.next_id += 1;
        let raft = Raft::join(raft_config(id, self.cfg.seed)).expect("valid config");
        let (slow, tick) = (self.rng.chance(200), self.rng.range(TICK_MS - 2, TICK_MS + 2));
        self.nodes.insert(id, SimNode::new(raft, slow, tick));
        self.joining.insert(id);
        self.schedule(1, Event::Tick(id));
        id
    }

    /// Stops nodes whose removal the leader has applied (committed); they are never
    /// contacted again. Spawned nodes count as members-to-be until they appear.
    fn retire_removed(&mut self) {
        let Some(leader) = self.leader() else { return };
        let Some(raft) = self.nodes[&leader].raft.as_ref() else { return };
        if raft.membership().is_joint() {
            return;
        }
        let members = raft.membership().members();
        self.joining.retain(|id| !members.contains(id));
        let gone: Vec<NodeId> = self
            .nodes
            .keys()
            .copied()
            .filter(|id| !members.contains(id) && !self.joining.contains(id) && !self.removed.contains(id))
            .collect();
        for id in gone {
            self.crash(id);
            self.out.crashes -= 1;
            self.removed.insert(id);
            self.trace(|| format!("node {id} retired"));
        }
    }

    fn crash(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else { return };
        if node.raft.is_none() {
            return;
        }
        node.raft = None;
        node.inflight = None;
        node.epoch += 1;
        node.writes.clear();
        node.reads.clear();
        node.read_states.clear();
        node.kv = Kv::default();
        node.kv_applied = 0;
        node.last_commit = 0;
        self.out.crashes += 1;
        self.trace(|| format!("crash node {id}"));
    }

    fn restart(&mut self, id: NodeId) {
        let seed = self.cfg.seed;
        let Some(node) = self.nodes.get_mut(&id) else { return };
        if node.raft.is_some() {
            return;
        }
        let disk = node.disk.clone();
        let state = RestoreState {
            hard_state: disk.hard,
            snapshot: disk.snapshot.clone(),
            entries: disk.entries.clone(),
            applied: None,
        };
        match Raft::restore(raft_config(id, seed), state) {
            Ok(raft) => {
                node.kv = Kv::from_bytes(&disk.snapshot.data);
                node.kv_applied = disk.snapshot.meta.index;
                node.last_commit = raft.committed();
                node.raft = Some(raft);
                self.trace(|| format!("restart node {id}"));
            }
            Err(e) => self.violation(format!("node {id} cannot restart: {e}")),
        }
        self.drive(id);
    }

    /// Liveness of replication: a second before the end, after the faults stopped, every
    /// member that is up must have applied what was committed then.
    fn check_caught_up(&mut self, target: Index) {
        let Some(leader) = self.leader() else {
            self.violation("liveness: no leader after healing".into());
            return;
        };
        let Some(members) = self.nodes[&leader].raft.as_ref().map(|r| r.membership().members()) else { return };
        let lagging: Vec<(NodeId, Index)> = self
            .nodes
            .iter()
            .filter(|(id, n)| members.contains(id) && n.raft.is_some())
            .filter(|(_, n)| n.kv_applied < target)
            .map(|(&id, n)| (id, n.kv_applied))
            .collect();
        if !lagging.is_empty() {
            self.violation(format!("liveness: members {lagging:?} did not catch up to index {target} after healing"));
        }
    }

    /// Log matching: if two logs have an entry with the same index and term, they are
    /// identical up to it.
    fn check_log_matching(&mut self) {
        let logs: Vec<(NodeId, Vec<Entry>)> = self
            .nodes
            .iter()
            .filter_map(|(&id, n)| n.raft.as_ref().map(|r| (id, r.entries(r.first_index() - 1, r.last_index()))))
            .collect();
        for (i, (a, la)) in logs.iter().enumerate() {
            for (b, lb) in &logs[i + 1..] {
                let by_index: BTreeMap<Index, &Entry> = lb.iter().map(|e| (e.index, e)).collect();
                let mut matched_at = None;
                for e in la.iter().rev() {
                    if by_index.get(&e.index).is_some_and(|o| o.term == e.term) {
                        matched_at = Some(e.index);
                        break;
                    }
                }
                let Some(upto) = matched_at else { continue };
                for e in la.iter().filter(|e| e.index <= upto) {
                    if let Some(o) = by_index.get(&e.index) {
                        if o.term != e.term || o.payload != e.payload {
                            let msg =
                                format!("log matching: nodes {a} and {b} agree at {upto} but differ at {}", e.index);
                            self.violation(msg);
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl SimNode {
    fn new(raft: Raft, slow_disk: bool, tick_ms: u64) -> Self {
        SimNode {
            tick_ms,
            paused_until: 0,
            raft: Some(raft),
            epoch: 0,
            disk: Disk::default(),
            kv: Kv::default(),
            kv_applied: 0,
            inflight: None,
            writes: HashMap::new(),
            reads: HashMap::new(),
            read_states: Vec::new(),
            last_commit: 0,
            slow_disk,
        }
    }
}
