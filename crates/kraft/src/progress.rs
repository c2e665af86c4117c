//! What the leader knows about each follower's log, and flow control.

use std::collections::VecDeque;

use crate::types::Index;

/// How the leader is currently replicating to a follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Searching for the match point: one append at a time.
    Probe,
    /// Streaming appends optimistically, bounded by the in-flight window.
    Replicate,
    /// A snapshot at this index is being sent; appends wait.
    Snapshot(Index),
}

/// Append messages in flight to one follower: (last index, bytes) of each.
#[derive(Debug, Clone)]
pub(crate) struct Inflights {
    queue: VecDeque<(Index, usize)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl Inflights {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        Self { queue: VecDeque::new(), bytes: 0, max_count, max_bytes }
    }

    pub(crate) fn add(&mut self, last: Index, bytes: usize) {
        self.queue.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose last index is at most `index` (acknowledged).
    pub(crate) fn free_le(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.queue.front() {
            if last > index {
                break;
            }
            self.bytes -= bytes;
            self.queue.pop_front();
        }
    }

    /// Frees the oldest message: a heartbeat answer proves the peer is alive, so lost
    /// appends must not keep the window shut forever.
    pub(crate) fn free_first_one(&mut self) {
        if let Some((_, bytes)) = self.queue.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub(crate) fn reset(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }

    pub(crate) fn full(&self) -> bool {
        self.queue.len() >= self.max_count || (self.max_bytes > 0 && self.bytes >= self.max_bytes)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

/// The leader's view of one peer.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the peer.
    pub(crate) matched: Index,
    /// Next index to send.
    pub(crate) next: Index,
    pub(crate) state: State,
    /// In probe state: an append was sent and no answer came yet.
    pub(crate) probe_sent: bool,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Highest read round the peer acknowledged in this term.
    pub(crate) read_round: u64,
    /// Ticks spent in the snapshot state (a lost snapshot must not stall the peer forever).
    pub(crate) snapshot_ticks: u32,
}

impl Progress {
    pub(crate) fn new(next: Index, max_inflight: usize, max_inflight_bytes: usize) -> Self {
        Self {
            matched: 0,
            next,
            state: State::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight, max_inflight_bytes),
            recent_active: false,
            read_round: 0,
            snapshot_ticks: 0,
        }
    }

    pub(crate) fn become_probe(&mut self) {
        // After a snapshot, continue right after it; otherwise right after the match.
        let next = match self.state {
            State::Snapshot(index) => self.matched.max(index) + 1,
            _ => self.matched + 1,
        };
        self.state = State::Probe;
        self.next = next;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = State::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_snapshot(&mut self, index: Index) {
        self.state = State::Snapshot(index);
        self.snapshot_ticks = 0;
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// The snapshot did not arrive: probe again from the match (which re-sends the
    /// snapshot if the log still lacks what the peer needs).
    pub(crate) fn snapshot_failed(&mut self) {
        self.state = State::Probe;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// Whether the leader must wait before sending more appends.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            State::Probe => self.probe_sent,
            State::Replicate => self.inflights.full(),
            State::Snapshot(_) => true,
        }
    }

    /// Records an acknowledgement of `index`; false if it is stale.
    pub(crate) fn maybe_update(&mut self, index: Index) -> bool {
        let updated = index > self.matched;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// Handles a rejection of `rejected` (the prev index sent); `hint` is the highest index
    /// that may match. False if the rejection is stale.
    pub(crate) fn maybe_decr_to(&mut self, rejected: Index, hint: Index) -> bool {
        if self.state == State::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next.saturating_sub(1) != rejected {
            return false;
        }
        self.next = rejected.min(hint + 1).max(self.matched + 1);
        self.probe_sent = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflight_window() {
        let mut inf = Inflights::new(3, 100);
        inf.add(5, 10);
        inf.add(7, 10);
        assert!(!inf.full());
        inf.add(9, 10);
        assert!(inf.full(), "count limit");
        inf.free_le(7);
        assert_eq!(inf.len(), 1);
        assert!(!inf.full());
        let mut by_bytes = Inflights::new(100, 25);
        by_bytes.add(1, 20);
        assert!(!by_bytes.full());
        by_bytes.add(2, 10);
        assert!(by_bytes.full(), "byte limit");
    }

    #[test]
    fn probe_and_replicate() {
        let mut p = Progress::new(11, 4, 0);
        assert!(!p.is_paused());
        p.probe_sent = true;
        assert!(p.is_paused());
        // A stale rejection (not of next-1) is ignored.
        assert!(!p.maybe_decr_to(5, 3));
        assert!(p.maybe_decr_to(10, 6));
        assert_eq!(p.next, 7);
        assert!(!p.is_paused());
        assert!(p.maybe_update(8));
        assert_eq!((p.matched, p.next), (8, 9));
        p.become_replicate();
        assert_eq!(p.next, 9);
        for i in 0..4 {
            p.inflights.add(10 + i, 1);
        }
        assert!(p.is_paused());
        // In replicate, a rejection above the match rewinds next to match+1.
        assert!(p.maybe_decr_to(12, 0));
        assert_eq!(p.next, 9);
        assert!(!p.maybe_decr_to(8, 0), "at or below match is stale");
        p.become_snapshot(20);
        assert!(p.is_paused());
        p.become_probe();
        assert_eq!(p.next, 21);
    }
}
