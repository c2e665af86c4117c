//! Opening a log: listing segments, replaying records, repairing a torn tail.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::types::{Entry, HardState, Index, SnapshotMeta};

use super::segment::{self, Record, SegmentHeader};
use super::{Recovered, SegmentFile, Wal, WalError, WalOptions};

/// The log's state as replay reconstructs it.
///
/// `entries[k]` has index `base + 1 + k`. Right after the first surviving segment's header,
/// entries in `(snapshot index, base]` are unknown: they sat in deleted segments. A valid log
/// always ends up with a snapshot covering them.
pub(super) struct Replay {
    pub(super) hard_state: HardState,
    pub(super) snapshot: Option<SnapshotMeta>,
    pub(super) base: Index,
    pub(super) entries: Vec<Entry>,
}

impl Replay {
    pub(super) fn from_header(header: &SegmentHeader) -> Result<Replay, &'static str> {
        let snapshot_index = header.snapshot.as_ref().map_or(0, |meta| meta.index);
        if header.first_index == 0 || header.first_index - 1 < snapshot_index {
            return Err("segment header's first index is not after its snapshot");
        }
        Ok(Replay {
            hard_state: header.hard_state,
            snapshot: header.snapshot.clone(),
            base: header.first_index - 1,
            entries: Vec::new(),
        })
    }

    fn last_index(&self) -> Index {
        self.base + self.entries.len() as u64
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |meta| meta.index)
    }

    /// Checks a later segment's header against the state replayed so far: it was written
    /// from exactly that state.
    fn check_header(&self, header: &SegmentHeader) -> Result<(), &'static str> {
        if header.first_index != self.last_index() + 1 {
            return Err("segment's first index does not follow the previous segment's last entry");
        }
        if header.hard_state != self.hard_state || header.snapshot != self.snapshot {
            return Err("segment header's hard state or snapshot disagrees with the previous segments");
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, record: Record) -> Result<(), &'static str> {
        match record {
            Record::Header(_) => return Err("segment header in the middle of a segment"),
            Record::HardState(hs) => self.hard_state = hs,
            Record::Entry(entry) => {
                if entry.index <= self.snapshot_index() {
                    return Err("entry at or before the snapshot index");
                }
                if entry.index > self.last_index() + 1 {
                    return Err("entry index leaves a gap after the last entry");
                }
                if entry.index <= self.base {
                    // Overwrites into entries from deleted segments: all of them go.
                    self.entries.clear();
                    self.base = entry.index - 1;
                } else {
                    // The later record wins: truncate from its index on.
                    self.entries.truncate((entry.index - self.base - 1) as usize);
                }
                self.entries.push(entry);
            }
            Record::Snapshot { meta, keep_suffix } => {
                if meta.index <= self.snapshot_index() {
                    return Err("snapshot is not newer than the previous snapshot");
                }
                if !keep_suffix || meta.index >= self.last_index() {
                    self.entries.clear();
                    self.base = meta.index;
                } else if meta.index > self.base {
                    let drop = (meta.index - self.base) as usize;
                    if self.entries[drop - 1].term != meta.term {
                        return Err("snapshot that keeps the log disagrees with the entry's term");
                    }
                    self.entries.drain(..drop);
                    self.base = meta.index;
                }
                // else: the entry at meta.index was in a deleted segment and the entries
                // after it that we know of stay.
                self.snapshot = Some(meta);
            }
        }
        Ok(())
    }
}

/// How replaying one segment ended.
enum Scanned {
    /// Every byte was a valid record.
    Complete { header_len: u64 },
    /// The segment ends with a torn tail starting at `valid_len`.
    TornTail { header_len: u64, valid_len: u64 },
    /// The header itself is torn (last segment only).
    TornHeader,
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> WalError {
    WalError::Corrupt { segment: path.to_path_buf(), offset: offset as u64, reason: reason.into() }
}

/// Replays one segment into `replay` (initializing it from the first segment's header).
fn replay_segment(
    replay: &mut Option<Replay>,
    file: &SegmentFile,
    path: &Path,
    data: &[u8],
    is_last: bool,
) -> Result<Scanned, WalError> {
    let Some(frame) = segment::frame_at(data, 0) else {
        if is_last && segment::is_torn(data, 0) {
            return Ok(Scanned::TornHeader);
        }
        return Err(corrupt(path, 0, "invalid segment header frame"));
    };
    let header = match Record::decode(frame.kind, frame.body) {
        Ok(Record::Header(header)) => header,
        Ok(_) => return Err(corrupt(path, 0, "segment does not start with a header")),
        Err(err) => return Err(corrupt(path, 0, format!("undecodable segment header: {err}"))),
    };
    if header.seq != file.seq || header.first_index != file.first_index {
        return Err(corrupt(path, 0, "segment header does not match the file name"));
    }
    let state = match replay {
        Some(state) => {
            state.check_header(&header).map_err(|reason| corrupt(path, 0, reason))?;
            state
        }
        None => replay.insert(Replay::from_header(&header).map_err(|reason| corrupt(path, 0, reason))?),
    };
    let header_len = frame.end as u64;
    let mut offset = frame.end;
    while offset < data.len() {
        let Some(frame) = segment::frame_at(data, offset) else {
            if is_last && segment::is_torn(data, offset) {
                return Ok(Scanned::TornTail { header_len, valid_len: offset as u64 });
            }
            return Err(corrupt(path, offset, "invalid record frame (bad length, type or checksum)"));
        };
        let record = Record::decode(frame.kind, frame.body)
            .map_err(|err| corrupt(path, offset, format!("undecodable record: {err}")))?;
        state.apply(record).map_err(|reason| corrupt(path, offset, reason))?;
        offset = frame.end;
    }
    Ok(Scanned::Complete { header_len })
}

/// Lists segment files, and leftovers of interrupted segment creation.
fn list_segments(dir: &Path) -> Result<(Vec<SegmentFile>, Vec<PathBuf>), WalError> {
    let mut segments = Vec::new();
    let mut leftovers = Vec::new();
    for dirent in std::fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.strip_suffix(segment::TMP_SUFFIX).is_some_and(|n| segment::parse_segment_name(n).is_some()) {
            leftovers.push(dirent.path());
        } else if name.ends_with(segment::SEGMENT_SUFFIX) {
            let Some((seq, first_index)) = segment::parse_segment_name(name) else {
                return Err(corrupt(&dirent.path(), 0, "not a segment file name"));
            };
            segments.push(SegmentFile { seq, first_index });
        }
    }
    segments.sort_by_key(|s| s.seq);
    for pair in segments.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(corrupt(&pair[1].path(dir), 0, format!("segment {} is missing", pair[0].seq + 1)));
        }
    }
    Ok((segments, leftovers))
}

/// Temporary segment files were never renamed into place, so nothing was written to them
/// after their header: removing them loses nothing.
fn remove_leftovers(leftovers: &[PathBuf]) -> Result<(), WalError> {
    for path in leftovers {
        std::fs::remove_file(path)?;
    }
    Ok(())
}

/// A change recovery makes once the whole log has been validated.
enum Repair {
    /// Cut the last segment's torn tail.
    Truncate { path: PathBuf, valid_len: u64 },
    /// Remove a last segment whose header is torn.
    Remove { path: PathBuf },
}

pub(super) fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovered), WalError> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            segment::sync_dir(parent)?;
        }
    }
    let (mut segments, leftovers) = list_segments(dir)?;
    let Some(first) = segments.first() else {
        remove_leftovers(&leftovers)?;
        // create_segment syncs the directory, which also covers removed temporary files.
        let file = SegmentFile { seq: 0, first_index: 1 };
        let header = SegmentHeader { seq: 0, first_index: 1, hard_state: HardState::default(), snapshot: None };
        let (active, header_len) = super::create_segment(dir, &file, &header)?;
        let state = Replay::from_header(&header).map_err(|reason| corrupt(dir, 0, reason))?;
        return Ok(build(dir, options, vec![file], active, header_len, header_len, state));
    };
    let first_path = first.path(dir);

    // Validate everything before changing anything: a corrupt log is left as found.
    let mut replay = None;
    let (mut active_len, mut active_header_len) = (0, 0);
    let mut repair = None;
    let count = segments.len();
    for (i, file) in segments.iter().enumerate() {
        let path = file.path(dir);
        let data = std::fs::read(&path)?;
        match replay_segment(&mut replay, file, &path, &data, i + 1 == count)? {
            Scanned::Complete { header_len } => (active_len, active_header_len) = (data.len() as u64, header_len),
            Scanned::TornTail { header_len, valid_len } => {
                tracing::warn!(
                    path = %path.display(), valid_len, file_len = data.len(),
                    "truncating torn tail of the write-ahead log"
                );
                (active_len, active_header_len) = (valid_len, header_len);
                repair = Some(Repair::Truncate { path, valid_len });
            }
            Scanned::TornHeader if i == 0 => return Err(corrupt(&path, 0, "the only segment has a torn header")),
            Scanned::TornHeader => {
                // The previous segment, fully replayed, becomes the active one again;
                // active_len and active_header_len still describe it.
                tracing::warn!(path = %path.display(), "removing write-ahead log segment with a torn header");
                repair = Some(Repair::Remove { path });
            }
        }
    }
    let Some(state) = replay else { return Err(corrupt(&first_path, 0, "no segment could be read")) };
    if state.base > state.snapshot_index() {
        let missing = format!(
            "entries {}..={} are missing: they are neither in a segment nor in the snapshot",
            state.snapshot_index() + 1,
            state.base
        );
        return Err(corrupt(&first_path, 0, missing));
    }

    remove_leftovers(&leftovers)?;
    let mut dir_dirty = !leftovers.is_empty();
    match repair {
        None => {}
        Some(Repair::Truncate { path, valid_len }) => {
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        Some(Repair::Remove { path }) => {
            std::fs::remove_file(&path)?;
            segments.pop();
            dir_dirty = true;
        }
    }
    if dir_dirty {
        segment::sync_dir(dir)?;
    }
    let Some(active_file) = segments.last() else { return Err(corrupt(&first_path, 0, "no segment left")) };
    let active = OpenOptions::new().append(true).open(active_file.path(dir))?;
    Ok(build(dir, options, segments, active, active_len, active_header_len, state))
}

/// Assembles the log and the recovered state from a validated replay.
fn build(
    dir: &Path,
    options: WalOptions,
    segments: Vec<SegmentFile>,
    active: File,
    active_len: u64,
    active_header_len: u64,
    state: Replay,
) -> (Wal, Recovered) {
    let mut wal = Wal {
        dir: dir.to_path_buf(),
        options,
        segments,
        active,
        active_len,
        active_header_len,
        buf: Vec::new(),
        unsynced: false,
        dir_dirty: false,
        poisoned: false,
        hard_state: state.hard_state,
        snapshot: state.snapshot.clone(),
        last_index: state.last_index(),
        terms: Vec::new(),
    };
    for entry in &state.entries {
        wal.note_entry(entry.index, entry.term);
    }
    let recovered = Recovered { hard_state: state.hard_state, snapshot: state.snapshot, entries: state.entries };
    (wal, recovered)
}
