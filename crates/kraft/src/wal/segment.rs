//! Segment files: their names, the record framing and the record bodies.

use std::path::Path;

use bytes::BufMut;

use crate::codec::{CodecError, Decode, Encode, get_u8, get_uvarint, put_uvarint, uvarint_len};
use crate::types::{Entry, HardState, Index, SnapshotMeta};

/// `len: u32` + `crc32c: u32` + `type: u8`.
pub(super) const FRAME_OVERHEAD: usize = 9;
/// The largest record body the `u32` length can describe.
pub(super) const MAX_BODY: usize = u32::MAX as usize;

/// First record of every segment: where it starts and the state in force there.
pub(super) const KIND_HEADER: u8 = 1;
/// One log entry.
pub(super) const KIND_ENTRY: u8 = 2;
/// A new hard state.
pub(super) const KIND_HARD_STATE: u8 = 3;
/// A snapshot marker.
pub(super) const KIND_SNAPSHOT: u8 = 4;

/// Largest hard state body: three 10-byte varints and the vote tag.
const MAX_HARD_STATE_BODY: usize = 31;

/// Identifies a file as a kraft segment and its layout version.
const MAGIC: &[u8; 6] = b"KRWAL1";

/// Suffix of segment files.
pub(super) const SEGMENT_SUFFIX: &str = ".wal";
/// Suffix of a segment being created; renamed once its header is durable.
pub(super) const TMP_SUFFIX: &str = ".tmp";

/// `{seq:016x}-{first_index:016x}.wal`: sorting by name sorts by sequence number, and the
/// first index tells a reader where the segment starts without opening it.
pub(super) fn segment_name(seq: u64, first_index: Index) -> String {
    format!("{seq:016x}-{first_index:016x}{SEGMENT_SUFFIX}")
}

/// Parses a [`segment_name`]; `None` for anything else.
pub(super) fn parse_segment_name(name: &str) -> Option<(u64, Index)> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
    let (seq, first) = stem.split_once('-')?;
    let hex = |s: &str| {
        // from_str_radix alone would also accept a leading '+'.
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| u64::from_str_radix(s, 16).ok()).flatten()
    };
    Some((hex(seq)?, hex(first)?))
}

/// The header record's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SegmentHeader {
    pub(super) seq: u64,
    /// The index the next entry written to this segment would have (the log's last index
    /// plus one when the segment was created).
    pub(super) first_index: Index,
    pub(super) hard_state: HardState,
    pub(super) snapshot: Option<SnapshotMeta>,
}

impl SegmentHeader {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(MAGIC);
        put_uvarint(buf, self.seq);
        put_uvarint(buf, self.first_index);
        self.hard_state.encode(buf);
        put_snapshot_option(buf, self.snapshot.as_ref());
    }

    fn decode(buf: &mut &[u8]) -> Result<Self, CodecError> {
        match buf.split_first_chunk::<{ MAGIC.len() }>() {
            Some((magic, rest)) if magic == MAGIC => *buf = rest,
            _ => return Err(CodecError::BadMagic { what: "segment header" }),
        }
        let seq = get_uvarint(buf, "segment seq")?;
        let first_index = get_uvarint(buf, "segment first index")?;
        let hard_state = HardState::decode(buf)?;
        let snapshot = get_snapshot_option(buf)?;
        Ok(SegmentHeader { seq, first_index, hard_state, snapshot })
    }
}

fn put_snapshot_option<B: BufMut>(buf: &mut B, snapshot: Option<&SnapshotMeta>) {
    match snapshot {
        None => buf.put_u8(0),
        Some(meta) => {
            buf.put_u8(1);
            meta.encode(buf);
        }
    }
}

fn get_snapshot_option(buf: &mut &[u8]) -> Result<Option<SnapshotMeta>, CodecError> {
    match get_u8(buf, "snapshot option")? {
        0 => Ok(None),
        1 => Ok(Some(SnapshotMeta::decode(buf)?)),
        tag => Err(CodecError::UnknownTag { what: "snapshot option", tag }),
    }
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Record {
    Header(SegmentHeader),
    Entry(Entry),
    HardState(HardState),
    /// `keep_suffix` is the writer's decision whether the entries after `meta.index`
    /// survived (the log held `meta.index` with `meta.term`). Recording it rather than
    /// re-deciding on replay matters once the entry at `meta.index` sits in a deleted
    /// segment.
    Snapshot {
        meta: SnapshotMeta,
        keep_suffix: bool,
    },
}

impl Record {
    /// Decodes a frame's body; the whole body must be consumed.
    pub(super) fn decode(kind: u8, mut body: &[u8]) -> Result<Record, CodecError> {
        let buf = &mut body;
        let record = match kind {
            KIND_HEADER => Record::Header(SegmentHeader::decode(buf)?),
            KIND_ENTRY => Record::Entry(Entry::decode(buf)?),
            KIND_HARD_STATE => Record::HardState(HardState::decode(buf)?),
            KIND_SNAPSHOT => {
                let meta = SnapshotMeta::decode(buf)?;
                let keep_suffix = match get_u8(buf, "snapshot suffix flag")? {
                    0 => false,
                    1 => true,
                    tag => return Err(CodecError::UnknownTag { what: "snapshot suffix flag", tag }),
                };
                Record::Snapshot { meta, keep_suffix }
            }
            tag => return Err(CodecError::UnknownTag { what: "record", tag }),
        };
        if !buf.is_empty() {
            return Err(CodecError::TrailingBytes { what: "record", remaining: buf.len() });
        }
        Ok(record)
    }
}

/// Appends one frame whose body `body` writes. The caller guarantees the body is at most
/// [`MAX_BODY`] bytes (checked against `encoded_len` before anything is written).
pub(super) fn put_frame(buf: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 8]);
    buf.push(kind);
    body(buf);
    let len = buf.len() - start - FRAME_OVERHEAD;
    debug_assert!(len <= MAX_BODY, "record body of {len} bytes");
    let crc = crc32c::crc32c(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

pub(super) fn put_header(buf: &mut Vec<u8>, header: &SegmentHeader) {
    put_frame(buf, KIND_HEADER, |b| header.encode(b));
}

pub(super) fn put_entry(buf: &mut Vec<u8>, entry: &Entry) {
    put_frame(buf, KIND_ENTRY, |b| entry.encode(b));
}

pub(super) fn put_hard_state(buf: &mut Vec<u8>, hs: &HardState) {
    put_frame(buf, KIND_HARD_STATE, |b| hs.encode(b));
}

pub(super) fn put_snapshot(buf: &mut Vec<u8>, meta: &SnapshotMeta, keep_suffix: bool) {
    put_frame(buf, KIND_SNAPSHOT, |b| {
        meta.encode(b);
        b.put_u8(u8::from(keep_suffix));
    });
}

/// Body size of an entry record, to reject oversized entries before writing anything.
pub(super) fn entry_body_len(entry: &Entry) -> usize {
    entry.encoded_len()
}

/// Body size of a snapshot record.
pub(super) fn snapshot_body_len(meta: &SnapshotMeta) -> usize {
    meta.encoded_len() + 1
}

/// Body size of a header record.
pub(super) fn header_body_len(header: &SegmentHeader) -> usize {
    MAGIC.len()
        + uvarint_len(header.seq)
        + uvarint_len(header.first_index)
        + header.hard_state.encoded_len()
        + 1
        + header.snapshot.as_ref().map_or(0, Encode::encoded_len)
}

/// A frame that passed its length and checksum checks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame<'a> {
    pub(super) kind: u8,
    pub(super) body: &'a [u8],
    /// Offset just past the frame.
    pub(super) end: usize,
}

/// The frame at `off`, or `None` when the bytes there are not a complete frame of a known
/// kind with a matching checksum.
pub(super) fn frame_at(data: &[u8], off: usize) -> Option<Frame<'_>> {
    let rest = data.get(off..)?;
    let head = rest.get(..FRAME_OVERHEAD)?;
    let kind = head[8];
    // Cheap rejections first: torn-tail scanning calls this at every byte offset.
    if !(KIND_HEADER..=KIND_SNAPSHOT).contains(&kind) {
        return None;
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let checked = rest.get(8..FRAME_OVERHEAD.checked_add(len)?)?;
    (crc32c::crc32c(checked) == crc).then(|| Frame { kind, body: &checked[1..], end: off + FRAME_OVERHEAD + len })
}

/// Sector size assumed for torn-write detection: the unit a disk writes atomically.
const SECTOR: usize = 512;

/// Decides whether the invalid frame at `off` in the last segment starts a torn tail
/// (see the module documentation for the policy):
///
/// - no valid frame starts anywhere after `off`: the damage reaches the end of the file,
///   which is what an interrupted append leaves (a partial record, possibly followed by
///   zeros or garbage the file system exposed);
/// - or a valid frame follows, but the damaged stretch contains a whole zero-filled sector:
///   the file system persisted a later page but not an earlier one of an unsynced write.
///
/// Anything else (a bad frame followed by intact data) is corruption.
pub(super) fn is_torn(data: &[u8], off: usize) -> bool {
    let next_valid = (off + 1..data.len()).find(|&p| plausible_frame_at(data, p));
    match next_valid {
        None => true,
        Some(next) => has_zero_sector(data, off, next),
    }
}

/// Like [`frame_at`], but first checks the body's structure, which is cheaper than the
/// checksum: inside a large damaged record, many offsets carry a small "type" and a "length"
/// that fits, and checksumming each of them could cost quadratic time.
fn plausible_frame_at(data: &[u8], off: usize) -> bool {
    let Some(head) = data.get(off..off + FRAME_OVERHEAD) else { return false };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let Some(body) = data.get(off + FRAME_OVERHEAD..).and_then(|rest| rest.get(..len)) else { return false };
    let structured = match head[8] {
        KIND_HEADER => body.starts_with(MAGIC),
        KIND_ENTRY => crate::codec::is_entry(body),
        KIND_HARD_STATE => body.len() <= MAX_HARD_STATE_BODY,
        // Decoding reads only as many ids as the set counts announce, typically far fewer
        // bytes than a bogus length covers.
        KIND_SNAPSHOT => Record::decode(KIND_SNAPSHOT, body).is_ok(),
        _ => false,
    };
    structured && frame_at(data, off).is_some()
}

/// Whether `data[from..to]` contains a sector-aligned, all-zero sector.
fn has_zero_sector(data: &[u8], from: usize, to: usize) -> bool {
    let mut start = from.next_multiple_of(SECTOR);
    while start + SECTOR <= to {
        if data[start..start + SECTOR].iter().all(|&b| b == 0) {
            return true;
        }
        start += SECTOR;
    }
    false
}

/// Syncs a directory so that creations, renames and removals in it are durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing elsewhere; metadata is journaled.
        let _ = dir;
        Ok(())
    }
}
