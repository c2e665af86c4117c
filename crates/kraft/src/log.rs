//! The in-memory Raft log: a compacted prefix (the snapshot point) followed by entries,
//! with watermarks for what is durable (`persisted`), agreed (`committed`) and handed to
//! the application (`applied`). Like etcd's MemoryStorage, the whole uncompacted log lives
//! in memory; the write-ahead log makes it durable and the application bounds it with
//! snapshots.

use std::collections::VecDeque;

use crate::types::{Entry, Index, Term};

/// The log would have to drop committed entries: a safety violation (the state is corrupt
/// or a peer misbehaves). Fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {conflict} conflicts with the log but is already committed (commit {committed})")]
pub(crate) struct TruncateCommitted {
    /// First conflicting index.
    pub(crate) conflict: Index,
    /// The commit index at the time.
    pub(crate) committed: Index,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct RaftLog {
    snap_index: Index,
    snap_term: Term,
    /// `entries[i].index == snap_index + 1 + i`.
    entries: VecDeque<Entry>,
    persisted: Index,
    committed: Index,
    applied: Index,
}

impl RaftLog {
    /// A log restored from storage: a snapshot point and the durable entries after it.
    pub(crate) fn restore_from(
        snap_index: Index,
        snap_term: Term,
        entries: Vec<Entry>,
        committed: Index,
        applied: Index,
    ) -> Self {
        let mut log = Self { snap_index, snap_term, ..Self::default() };
        for (i, e) in entries.into_iter().enumerate() {
            if e.index != snap_index + 1 + i as Index {
                break; // storage returned a gap: keep the contiguous prefix only
            }
            log.entries.push_back(e);
        }
        log.persisted = log.last_index();
        log.committed = committed.clamp(snap_index, log.last_index());
        log.applied = applied.clamp(snap_index, log.committed);
        log
    }

    pub(crate) fn first_index(&self) -> Index {
        self.snap_index + 1
    }

    pub(crate) fn last_index(&self) -> Index {
        self.snap_index + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.back().map_or(self.snap_term, |e| e.term)
    }

    pub(crate) fn committed(&self) -> Index {
        self.committed
    }

    pub(crate) fn applied(&self) -> Index {
        self.applied
    }

    pub(crate) fn persisted(&self) -> Index {
        self.persisted
    }

    /// The term of entry `index`, if it is the snapshot point or in the log.
    pub(crate) fn term(&self, index: Index) -> Option<Term> {
        if index == self.snap_index {
            return Some(self.snap_term);
        }
        self.entry(index).map(|e| e.term)
    }

    fn entry(&self, index: Index) -> Option<&Entry> {
        let offset = index.checked_sub(self.snap_index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    pub(crate) fn match_term(&self, index: Index, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Raft's "at least as up to date" rule for granting votes.
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Appends entries, replacing any suffix from `entries[0].index` on. The caller
    /// guarantees contiguity and that nothing committed is replaced.
    pub(crate) fn append(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first().map(|e| e.index) else { return };
        let keep = first.saturating_sub(self.snap_index + 1) as usize;
        self.entries.truncate(keep);
        if first <= self.persisted {
            self.persisted = first - 1;
        }
        self.entries.extend(entries);
    }

    /// The follower side of `Append`: appends if `prev` matches, resolving conflicts.
    /// Returns the last index of the new entries, or `None` on a mismatch.
    pub(crate) fn maybe_append(
        &mut self,
        prev_index: Index,
        prev_term: Term,
        commit: Index,
        mut entries: Vec<Entry>,
    ) -> Result<Option<Index>, TruncateCommitted> {
        if !self.match_term(prev_index, prev_term) {
            return Ok(None);
        }
        let last_new = prev_index + entries.len() as Index;
        if let Some(pos) = entries.iter().position(|e| !self.match_term(e.index, e.term)) {
            let conflict = entries[pos].index;
            if conflict <= self.committed {
                return Err(TruncateCommitted { conflict, committed: self.committed });
            }
            self.append(entries.split_off(pos));
        }
        self.commit_to(commit.min(last_new));
        Ok(Some(last_new))
    }

    /// The largest index `<= index` whose term is `<= term` (and that term): where two logs
    /// that diverged may still agree. Used to skip whole terms when probing.
    pub(crate) fn find_conflict_by_term(&self, index: Index, term: Term) -> (Index, Term) {
        if index < self.snap_index {
            return (index, 0);
        }
        let mut i = index.min(self.last_index());
        while i > self.snap_index {
            match self.term(i) {
                Some(t) if t <= term => return (i, t),
                _ => i -= 1,
            }
        }
        // Reached the snapshot point: nothing earlier is known.
        (self.snap_index, self.snap_term)
    }

    /// Entries from `lo` on, at most `max_bytes` (but at least one); `None` if `lo` is
    /// compacted away.
    pub(crate) fn entries_from(&self, lo: Index, max_bytes: usize) -> Option<Vec<Entry>> {
        if lo <= self.snap_index {
            return None;
        }
        let start = usize::try_from(lo - self.snap_index - 1).ok()?.min(self.entries.len());
        let mut out = Vec::new();
        let mut size = 0;
        for e in self.entries.range(start..) {
            size += e.size();
            if !out.is_empty() && size > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        Some(out)
    }

    /// Entries not yet durable.
    pub(crate) fn unstable(&self) -> Vec<Entry> {
        self.entries_from(self.persisted.max(self.snap_index) + 1, usize::MAX).unwrap_or_default()
    }

    /// Marks entries up to `index` durable, if the entry there still has `term` (it may have
    /// been replaced since it was handed out for persisting).
    pub(crate) fn stable_to(&mut self, index: Index, term: Term) {
        if index > self.persisted && self.match_term(index, term) {
            self.persisted = index;
        }
    }

    pub(crate) fn commit_to(&mut self, index: Index) {
        if index > self.committed {
            self.committed = index.min(self.last_index());
        }
    }

    /// Committed, durable entries the application has not been given yet.
    pub(crate) fn next_committed(&self, max_bytes: usize) -> Vec<Entry> {
        let hi = self.committed.min(self.persisted);
        if hi <= self.applied {
            return Vec::new();
        }
        // Only the committed part: cloning the uncommitted tail just to drop it again would
        // cost a reference count per pipelined entry on every Ready.
        let mut out = Vec::new();
        let mut size = 0;
        for e in self.slice(self.applied, hi) {
            size += e.size();
            if !out.is_empty() && size > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        out
    }

    pub(crate) fn has_next_committed(&self) -> bool {
        self.committed.min(self.persisted) > self.applied
    }

    pub(crate) fn applied_to(&mut self, index: Index) {
        if index > self.applied {
            self.applied = index.min(self.committed);
        }
    }

    /// Drops entries up to `index` (included), which becomes the snapshot point.
    /// `index` must be applied; returns false when it is not in the log.
    pub(crate) fn compact(&mut self, index: Index) -> bool {
        if index <= self.snap_index || index > self.applied || index > self.persisted {
            return false;
        }
        let Some(term) = self.term(index) else { return false };
        let drop = (index - self.snap_index) as usize;
        self.entries.drain(..drop);
        self.snap_index = index;
        self.snap_term = term;
        true
    }

    /// Replaces the log with a snapshot point (a follower installing a leader's snapshot).
    pub(crate) fn restore(&mut self, index: Index, term: Term) {
        self.entries.clear();
        self.snap_index = index;
        self.snap_term = term;
        self.persisted = index;
        self.committed = index;
        self.applied = index;
    }

    /// Entries in `(lo, hi]` (for scanning configuration changes).
    pub(crate) fn slice(&self, lo: Index, hi: Index) -> impl Iterator<Item = &Entry> {
        let base = self.snap_index + 1;
        let len = self.entries.len() as Index;
        let start = lo.saturating_add(1).saturating_sub(base).min(len) as usize;
        let end = hi.saturating_add(1).saturating_sub(base).min(len) as usize;
        self.entries.range(start..end.max(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Payload;

    fn ents(range: std::ops::RangeInclusive<Index>, term: Term) -> Vec<Entry> {
        range.map(|index| Entry { term, index, payload: Payload::Empty }).collect()
    }

    #[test]
    fn append_and_terms() {
        let mut log = RaftLog::default();
        log.append(ents(1..=3, 1));
        assert_eq!((log.first_index(), log.last_index(), log.last_term()), (1, 3, 1));
        assert_eq!(log.term(0), Some(0));
        assert_eq!(log.term(2), Some(1));
        assert_eq!(log.term(4), None);
        assert_eq!(log.unstable().len(), 3);
        log.stable_to(3, 1);
        assert!(log.unstable().is_empty());
        // Replacing a durable suffix lowers the persisted mark.
        log.append(ents(2..=2, 2));
        assert_eq!((log.last_index(), log.persisted()), (2, 1));
        log.stable_to(2, 1);
        assert_eq!(log.persisted(), 1, "stale persist acknowledgement is ignored");
    }

    #[test]
    fn follower_append_rules() {
        let mut log = RaftLog::default();
        log.append(ents(1..=3, 1));
        assert_eq!(log.maybe_append(3, 2, 3, vec![]), Ok(None), "prev term mismatch");
        assert_eq!(log.maybe_append(5, 1, 3, vec![]), Ok(None), "gap");
        // Matching prefix: nothing truncated, commit limited by the last new entry.
        assert_eq!(log.maybe_append(1, 1, 10, ents(2..=2, 1)), Ok(Some(2)));
        assert_eq!((log.last_index(), log.committed()), (3, 2));
        // Conflict at 3 replaces the suffix.
        assert_eq!(log.maybe_append(2, 1, 2, ents(3..=4, 2)), Ok(Some(4)));
        assert_eq!((log.last_index(), log.term(3)), (4, Some(2)));
        // Conflicts with committed entries are refused.
        assert_eq!(log.maybe_append(1, 1, 2, ents(2..=2, 3)), Err(TruncateCommitted { conflict: 2, committed: 2 }));
    }

    #[test]
    fn conflict_search_skips_terms() {
        let mut log = RaftLog::default();
        log.append(ents(1..=3, 1));
        log.append(ents(4..=6, 3));
        log.append(ents(7..=9, 5));
        assert_eq!(log.find_conflict_by_term(9, 4), (6, 3));
        assert_eq!(log.find_conflict_by_term(9, 2), (3, 1));
        assert_eq!(log.find_conflict_by_term(9, 5), (9, 5));
        assert_eq!(log.find_conflict_by_term(20, 0), (0, 0));
        assert!(log.is_up_to_date(9, 5));
        assert!(log.is_up_to_date(1, 6));
        assert!(!log.is_up_to_date(8, 5));
        assert!(!log.is_up_to_date(100, 4));
    }

    #[test]
    fn commit_apply_compact_restore() {
        let mut log = RaftLog::default();
        log.append(ents(1..=5, 1));
        log.commit_to(4);
        assert!(log.next_committed(usize::MAX).is_empty(), "nothing durable yet");
        log.stable_to(5, 1);
        assert_eq!(log.next_committed(usize::MAX).len(), 4);
        assert_eq!(log.next_committed(1).len(), 1, "at least one entry");
        log.applied_to(4);
        assert!(!log.has_next_committed());
        assert!(!log.compact(5), "not applied");
        assert!(log.compact(3));
        assert_eq!((log.first_index(), log.term(3), log.term(2)), (4, Some(1), None));
        assert_eq!(log.entries_from(3, usize::MAX), None, "compacted");
        assert_eq!(log.entries_from(4, usize::MAX).map(|v| v.len()), Some(2));
        log.restore(10, 4);
        assert_eq!((log.last_index(), log.last_term(), log.committed(), log.applied()), (10, 4, 10, 10));
        let restored = RaftLog::restore_from(10, 4, ents(11..=12, 4), 12, 10);
        assert_eq!((restored.last_index(), restored.persisted(), restored.committed()), (12, 12, 12));
    }
}
