//! A segmented write-ahead log for Raft's durable state: entries, the hard state and
//! snapshot markers.
//!
//! The API is synchronous `std::fs`; an async driver calls it from a blocking task.
//!
//! # Durability contract (group commit)
//!
//! [`Wal::append`], [`Wal::set_hard_state`] and [`Wal::apply_snapshot`] only buffer (a large
//! buffer, or a segment rotation, may reach the OS early, but nothing is *promised*).
//! [`Wal::sync`] writes the buffer, `fdatasync`s the active segment and, when segments were
//! created or removed, the directory. Nothing is durable before `sync` returns; everything
//! handed to the WAL before the call is durable after it returns `Ok`. Batching many
//! appends and hard states into one `sync` is the intended use. What was not synced when
//! the process stops may or may not survive (buffered records are lost with the `Wal`).
//!
//! # Overwrites and snapshots
//!
//! Raft may replace a suffix of the log: appending entries whose first index is at or below
//! [`Wal::last_index`] discards the log from that index on. On disk this is simply the new
//! records; replay applies the rule "an entry with index ≤ the current last index truncates
//! everything from that index", so an overwritten suffix can only come back if the records
//! of the overwrite were lost, which only happens if they were never synced.
//!
//! [`Wal::apply_snapshot`] records that the state up to `meta.index` is in a snapshot. As in
//! the Raft paper (§7), entries after `meta.index` are kept when the log holds `meta.index`
//! with `meta.term` (local compaction); otherwise (a follower installing a leader's
//! snapshot that is ahead of, or conflicts with, its log) the whole log is discarded and
//! continues at `meta.index + 1`. There is no separate `compact` call: compaction *is*
//! applying a snapshot of local state. The next [`Wal::sync`], once the marker is durable,
//! deletes the oldest segments whose live entries are all at or below the snapshot index
//! (precisely: every segment before the newest one whose first index is at most
//! `meta.index + 1`; the active segment is never deleted).
//!
//! # On-disk format
//!
//! A directory of segment files named `{seq:016x}-{first_index:016x}.wal`: a sequence number
//! (consecutive; it alone orders the segments) and the index the segment's first entry
//! would have. Each file is a sequence of records framed as
//!
//! ```text
//! [len: u32 LE][crc32c: u32 LE over type and body][type: u8][body: len bytes]
//! ```
//!
//! with bodies in the [`codec`](crate::codec) encoding: a segment *header* (magic,
//! sequence number, first index, hard state, snapshot — so a segment is self-describing
//! after older ones are deleted), then *entry*, *hard state* and *snapshot* records.
//! A segment is rotated once it reaches [`WalOptions::segment_bytes`]: the full segment is
//! fsynced, and the next one is written under a temporary name with its header, fsynced,
//! renamed into place and the directory fsynced. Every segment but the last is therefore
//! complete and durable, and every named segment has a durable header.
//!
//! # Corruption policy
//!
//! On [`Wal::open`] the segments are replayed in order and every frame is checked.
//!
//! - **Torn tail (repaired).** In the *last* segment, an invalid frame (length past the end
//!   of the file, bad checksum, unknown type) is the torn tail of an interrupted write when
//!   no valid frame starts anywhere after it, or when the damaged stretch before the next
//!   valid frame contains a whole zero-filled 512-byte sector (a page of an unsynced write
//!   that the file system never persisted, while a later one was). The file is truncated
//!   at the invalid frame and fsynced, and the log continues from there. A last segment
//!   whose very header is torn is removed when an earlier segment exists.
//! - **Corruption (fatal).** Any invalid frame in an earlier segment, an invalid frame in the
//!   last segment followed by intact data, a checksummed record that does not decode or
//!   contradicts the log (a gap, an entry before the snapshot, a header that disagrees with
//!   the preceding segments), a missing sequence number, or missing entries at the start
//!   yield [`WalError::Corrupt`] with the segment and byte offset. Nothing is modified; an
//!   operator must restore the node (typically from a peer's snapshot).
//!
//! The trade-off: damage confined to the final record(s) of the last segment looks exactly
//! like a torn write (a crash may leave garbage or zeros past the last write on file
//! systems that extend the size before the data lands), so it is repaired by truncation
//! even if those records had been synced. etcd is stricter here (a complete final record
//! with a bad checksum is fatal unless it contains a zeroed sector) and so cannot reopen
//! after such garbage; the crash tests require that we can. Damage anywhere before the
//! final record is always reported.
//!
//! Only one `Wal` may use a directory at a time; nothing enforces it.

mod recover;
mod segment;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::types::{Entry, HardState, Index, SnapshotMeta, Term};

use segment::{MAX_BODY, SegmentHeader};

/// Buffered bytes beyond which records are handed to the OS before [`Wal::sync`], so that
/// a huge batch does not sit in memory twice.
const FLUSH_THRESHOLD: usize = 1 << 20;

/// Errors from the write-ahead log.
///
/// `Corrupt` is fatal: the directory needs repair. `Io` and `Poisoned` are fatal for the
/// `Wal` value: after a failed write or fsync the kernel may have dropped the unsynced
/// pages, so the instance refuses further writes and the caller must reopen (recovering
/// exactly what was durable). The other variants reject bad input: nothing was written and
/// the `Wal` stays usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file system operation failed.
    #[error("write-ahead log I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The log on disk is damaged beyond a torn tail.
    #[error("write-ahead log segment {} is corrupt at byte {offset}: {reason}", segment.display())]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the offending record in it.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An earlier I/O error left this instance unusable.
    #[error("write-ahead log failed earlier; reopen it to recover the durable state")]
    Poisoned,
    /// The entries passed to [`Wal::append`] do not have consecutive indexes.
    #[error("entries must have consecutive indexes: expected {expected}, got {got}")]
    NotContiguous {
        /// The index that should have come next.
        expected: Index,
        /// The index found.
        got: Index,
    },
    /// The first entry would leave a hole after the last index.
    #[error("entry {index} leaves a gap after the last index {last_index}")]
    Gap {
        /// First index of the batch.
        index: Index,
        /// The log's last index.
        last_index: Index,
    },
    /// The first entry is already covered by the snapshot.
    #[error("entry {index} is at or before the snapshot index {snapshot_index}")]
    Compacted {
        /// First index of the batch.
        index: Index,
        /// The snapshot's index.
        snapshot_index: Index,
    },
    /// The snapshot is not newer than the one recorded.
    #[error("snapshot at index {index} is not newer than the current snapshot at {current}")]
    StaleSnapshot {
        /// The snapshot's index.
        index: Index,
        /// The current snapshot's index (0 for none).
        current: Index,
    },
    /// An entry or snapshot does not fit in one record (4 GiB).
    #[error("record for index {index} is {size} bytes, more than the {MAX_BODY}-byte limit")]
    RecordTooLarge {
        /// The entry's or snapshot's index.
        index: Index,
        /// Its encoded size.
        size: usize,
    },
}

/// How the log is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalOptions {
    /// A segment is rotated once it holds this many bytes (a record is never split, so a
    /// segment may exceed it by one record).
    pub segment_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self { segment_bytes: 64 << 20 }
    }
}

impl WalOptions {
    /// Sets [`segment_bytes`](WalOptions::segment_bytes).
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }
}

/// The durable state found by [`Wal::open`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// The last hard state written (the default when none was).
    pub hard_state: HardState,
    /// The latest snapshot marker, if any.
    pub snapshot: Option<SnapshotMeta>,
    /// The entries after the snapshot index, contiguous, with overwrites resolved.
    pub entries: Vec<Entry>,
}

/// A segment file of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegmentFile {
    seq: u64,
    first_index: Index,
}

impl SegmentFile {
    fn path(&self, dir: &Path) -> PathBuf {
        dir.join(segment::segment_name(self.seq, self.first_index))
    }
}

/// The write-ahead log. See the [module documentation](self) for the contract.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    /// Segments on disk, oldest first; the last one is being appended to.
    segments: Vec<SegmentFile>,
    active: File,
    /// Bytes of the active segment handed to the OS.
    active_len: u64,
    /// Size of the active segment's header: a segment holding only that is never rotated.
    active_header_len: u64,
    /// Framed records not yet written.
    buf: Vec<u8>,
    /// Whether the active segment has writes that were not fsynced.
    unsynced: bool,
    /// Whether the directory has changes that were not fsynced.
    dir_dirty: bool,
    /// Set by a failed write or fsync.
    poisoned: bool,
    hard_state: HardState,
    snapshot: Option<SnapshotMeta>,
    last_index: Index,
    /// Terms of the entries after the snapshot as runs: `(first index of the run, term)`,
    /// ascending. Enough to answer [`Wal::term`] without keeping the entries.
    terms: Vec<(Index, Term)>,
}

impl Wal {
    /// Opens the log in `dir` (created if missing), repairs a torn tail, and returns it
    /// with the durable state. See the module documentation for the corruption policy.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<(Wal, Recovered), WalError> {
        recover::open(dir.as_ref(), options)
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The index of the first entry the log holds (or would hold): one past the snapshot.
    pub fn first_index(&self) -> Index {
        self.snapshot_index() + 1
    }

    /// The index of the last entry, or the snapshot index when the log holds none.
    pub fn last_index(&self) -> Index {
        self.last_index
    }

    /// The hard state last set (durable only after [`Wal::sync`]).
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The latest snapshot marker (durable only after [`Wal::sync`]).
    pub fn snapshot(&self) -> Option<&SnapshotMeta> {
        self.snapshot.as_ref()
    }

    /// The term of the entry at `index`, for the snapshot index and the entries after it;
    /// `None` outside that range.
    pub fn term(&self, index: Index) -> Option<Term> {
        if let Some(meta) = &self.snapshot
            && index == meta.index
        {
            return Some(meta.term);
        }
        if index < self.first_index() || index > self.last_index {
            return None;
        }
        let runs = self.terms.partition_point(|&(start, _)| start <= index);
        runs.checked_sub(1).map(|run| self.terms[run].1)
    }

    /// Appends entries, replacing the log from `entries[0].index` on when that is at or
    /// below [`last_index`](Wal::last_index). Buffered: durable after the next
    /// [`sync`](Wal::sync).
    ///
    /// The indexes must be consecutive, start after the snapshot, and start at most one past
    /// the last index; otherwise an error is returned and nothing is written.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), WalError> {
        self.check_usable()?;
        let Some(first) = entries.first() else { return Ok(()) };
        let snapshot_index = self.snapshot_index();
        if first.index <= snapshot_index {
            return Err(WalError::Compacted { index: first.index, snapshot_index });
        }
        if first.index > self.last_index + 1 {
            return Err(WalError::Gap { index: first.index, last_index: self.last_index });
        }
        for (expected, entry) in (first.index..).zip(entries) {
            if entry.index != expected {
                return Err(WalError::NotContiguous { expected, got: entry.index });
            }
            let size = segment::entry_body_len(entry);
            if size > MAX_BODY {
                return Err(WalError::RecordTooLarge { index: entry.index, size });
            }
        }
        for entry in entries {
            self.before_record()?;
            segment::put_entry(&mut self.buf, entry);
            self.note_entry(entry.index, entry.term);
            self.after_record()?;
        }
        Ok(())
    }

    /// Records a new hard state. Buffered: durable after the next [`sync`](Wal::sync).
    pub fn set_hard_state(&mut self, hs: HardState) -> Result<(), WalError> {
        self.check_usable()?;
        if hs == self.hard_state {
            return Ok(());
        }
        self.before_record()?;
        segment::put_hard_state(&mut self.buf, &hs);
        self.hard_state = hs;
        self.after_record()
    }

    /// Records that the state up to `meta.index` is in a snapshot: entries up to it are
    /// dropped, and so are the entries after it unless the log holds `meta.index` with
    /// `meta.term` (see the module documentation). Durable after the next
    /// [`sync`](Wal::sync), which also deletes the segments the snapshot made obsolete.
    ///
    /// `meta.index` must be above the current snapshot's index.
    pub fn apply_snapshot(&mut self, meta: &SnapshotMeta) -> Result<(), WalError> {
        self.check_usable()?;
        let current = self.snapshot_index();
        if meta.index <= current {
            return Err(WalError::StaleSnapshot { index: meta.index, current });
        }
        let size = segment::snapshot_body_len(meta);
        if size > MAX_BODY {
            return Err(WalError::RecordTooLarge { index: meta.index, size });
        }
        let keep_suffix = meta.index <= self.last_index && self.term(meta.index) == Some(meta.term);
        self.before_record()?;
        segment::put_snapshot(&mut self.buf, meta, keep_suffix);
        if keep_suffix && meta.index < self.last_index {
            let next = meta.index + 1;
            let runs = self.terms.partition_point(|&(start, _)| start <= next);
            let term = runs.checked_sub(1).map(|run| self.terms[run].1);
            self.terms.drain(..runs);
            if let Some(term) = term {
                self.terms.insert(0, (next, term));
            }
        } else {
            self.terms.clear();
            self.last_index = meta.index;
        }
        self.snapshot = Some(meta.clone());
        self.after_record()
    }

    /// Makes everything handed to the log so far durable: writes the buffer, fsyncs the
    /// active segment (and the directory if segments were created or removed), then deletes
    /// segments made obsolete by a now-durable snapshot.
    pub fn sync(&mut self) -> Result<(), WalError> {
        self.check_usable()?;
        let result = self.sync_inner();
        self.poison_on_err(result)
    }

    fn sync_inner(&mut self) -> Result<(), WalError> {
        self.flush()?;
        if self.unsynced {
            self.active.sync_data()?;
            self.unsynced = false;
        }
        self.remove_obsolete_segments()?;
        if self.dir_dirty {
            segment::sync_dir(&self.dir)?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |meta| meta.index)
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.poisoned { Err(WalError::Poisoned) } else { Ok(()) }
    }

    fn poison_on_err<T>(&mut self, result: Result<T, WalError>) -> Result<T, WalError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Updates the term runs and last index for an entry just written.
    fn note_entry(&mut self, index: Index, term: Term) {
        let keep = self.terms.partition_point(|&(start, _)| start < index);
        self.terms.truncate(keep);
        if self.terms.last().map(|&(_, t)| t) != Some(term) {
            self.terms.push((index, term));
        }
        self.last_index = index;
    }

    /// Rotates before a record when the active segment is full.
    fn before_record(&mut self) -> Result<(), WalError> {
        let size = self.active_len + self.buf.len() as u64;
        if size >= self.options.segment_bytes && size > self.active_header_len {
            let result = self.rotate();
            self.poison_on_err(result)?;
        }
        Ok(())
    }

    /// Hands a large buffer to the OS early.
    fn after_record(&mut self) -> Result<(), WalError> {
        if self.buf.len() >= FLUSH_THRESHOLD {
            let result = self.flush();
            self.poison_on_err(result)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), WalError> {
        if !self.buf.is_empty() {
            self.active.write_all(&self.buf)?;
            self.active_len += self.buf.len() as u64;
            self.buf.clear();
            self.unsynced = true;
        }
        Ok(())
    }

    /// Completes the active segment and starts the next one.
    fn rotate(&mut self) -> Result<(), WalError> {
        self.flush()?;
        // The full segment must be durable before a later one exists: recovery treats only
        // the last segment as possibly torn.
        self.active.sync_data()?;
        self.unsynced = false;
        let seq = self.segments.last().map_or(0, |s| s.seq + 1);
        let segment = SegmentFile { seq, first_index: self.last_index + 1 };
        let header = SegmentHeader {
            seq,
            first_index: segment.first_index,
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
        };
        let (file, header_len) = create_segment(&self.dir, &segment, &header)?;
        tracing::debug!(dir = %self.dir.display(), seq, first_index = segment.first_index, "rotated wal segment");
        self.active = file;
        self.active_len = header_len;
        self.active_header_len = header_len;
        self.segments.push(segment);
        Ok(())
    }

    /// Deletes the oldest segments when a durable snapshot covers everything they hold.
    ///
    /// Segment `j` and all before it may go when the log's last index at the time segment
    /// `j + 1` was created (its first index minus one) is at or below the snapshot index:
    /// every entry still live in them is then in the snapshot, and segment `j + 1`'s header
    /// carries the state replay needs. Oldest first, so a crash midway leaves a consecutive
    /// run of segments.
    fn remove_obsolete_segments(&mut self) -> Result<(), WalError> {
        let snapshot_index = self.snapshot_index();
        let obsolete = (1..self.segments.len())
            .rev()
            .find(|&next| self.segments[next].first_index.saturating_sub(1) <= snapshot_index)
            .unwrap_or(0);
        for segment in self.segments.drain(..obsolete) {
            let path = segment.path(&self.dir);
            std::fs::remove_file(&path)?;
            tracing::debug!(path = %path.display(), snapshot_index, "removed compacted wal segment");
            self.dir_dirty = true;
        }
        Ok(())
    }
}

/// Creates a segment durably: header written and fsynced under a temporary name, renamed
/// into place, directory fsynced. Returns the file (positioned after the header) and the
/// header's length.
fn create_segment(dir: &Path, segment: &SegmentFile, header: &SegmentHeader) -> Result<(File, u64), WalError> {
    let path = segment.path(dir);
    let mut tmp = path.clone().into_os_string();
    tmp.push(segment::TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut buf = Vec::with_capacity(segment::FRAME_OVERHEAD + segment::header_body_len(header));
    segment::put_header(&mut buf, header);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
    file.write_all(&buf)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    segment::sync_dir(dir)?;
    Ok((file, buf.len() as u64))
}

#[cfg(test)]
mod tests;
