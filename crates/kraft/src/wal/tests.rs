use std::io::Write;

use bytes::Bytes;

use super::segment::{self, Record};
use super::*;
use crate::membership::Membership;
use crate::types::Payload;

fn entry(index: Index, term: Term) -> Entry {
    Entry { term, index, payload: Payload::Normal(Bytes::from(format!("entry {index} of term {term}"))) }
}

fn entries(range: std::ops::RangeInclusive<Index>, term: Term) -> Vec<Entry> {
    range.map(|index| entry(index, term)).collect()
}

fn meta(index: Index, term: Term) -> SnapshotMeta {
    SnapshotMeta { index, term, membership: Membership::new([1, 2, 3]) }
}

fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names
}

fn reopen(dir: &Path, options: &WalOptions) -> (Wal, Recovered) {
    Wal::open(dir, options.clone()).unwrap()
}

#[test]
fn segment_names_round_trip() {
    let name = segment::segment_name(3, 0x1_0000_0001);
    assert_eq!(name, "0000000000000003-0000000100000001.wal");
    assert_eq!(segment::parse_segment_name(&name), Some((3, 0x1_0000_0001)));
    for bad in ["0000000000000003-0000000100000001.tmp", "3-1.wal", "+000000000000003-0000000100000001.wal", "x.wal"] {
        assert_eq!(segment::parse_segment_name(bad), None, "{bad}");
    }
}

#[test]
fn frames_and_torn_detection() {
    let mut buf = Vec::new();
    segment::put_hard_state(&mut buf, &HardState { term: 1, vote: Some(2), commit: 3 });
    let first_end = buf.len();
    segment::put_entry(&mut buf, &entry(1, 1));
    let frame = segment::frame_at(&buf, 0).unwrap();
    assert_eq!(frame.end, first_end);
    assert_eq!(
        Record::decode(frame.kind, frame.body).unwrap(),
        Record::HardState(HardState { term: 1, vote: Some(2), commit: 3 })
    );
    assert!(segment::frame_at(&buf, first_end).is_some());
    let mut largest = Vec::new();
    segment::put_hard_state(&mut largest, &HardState { term: u64::MAX, vote: Some(u64::MAX), commit: u64::MAX });
    assert_eq!(largest.len(), segment::FRAME_OVERHEAD + 31);
    // Truncated: the last frame is invalid and nothing follows it.
    assert!(segment::frame_at(&buf[..buf.len() - 1], first_end).is_none());
    assert!(segment::is_torn(&buf[..buf.len() - 1], first_end));
    // A damaged first frame followed by an intact one is not torn...
    let mut damaged = buf.clone();
    damaged[10] ^= 0x40;
    assert!(segment::frame_at(&damaged, 0).is_none());
    assert!(!segment::is_torn(&damaged, 0));
    // ...unless the damage includes a whole zeroed sector (an unpersisted page).
    let mut paged = Vec::new();
    segment::put_entry(&mut paged, &Entry { term: 1, index: 1, payload: Payload::Normal(vec![7u8; 3000].into()) });
    segment::put_entry(&mut paged, &entry(2, 1));
    paged[1024..2048].fill(0);
    assert!(segment::frame_at(&paged, 0).is_none());
    assert!(segment::is_torn(&paged, 0));
}

#[test]
fn fresh_log_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default();
    let (mut wal, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered, Recovered::default());
    assert_eq!((wal.first_index(), wal.last_index()), (1, 0));
    wal.append(&entries(1..=5, 1)).unwrap();
    wal.set_hard_state(HardState { term: 1, vote: Some(1), commit: 3 }).unwrap();
    wal.append(&entries(6..=6, 2)).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.term(5), Some(1));
    assert_eq!(wal.term(6), Some(2));
    assert_eq!(wal.term(7), None);
    drop(wal);

    let (wal, recovered) = reopen(dir.path(), &options);
    let mut expected = entries(1..=5, 1);
    expected.extend(entries(6..=6, 2));
    assert_eq!(recovered.entries, expected);
    assert_eq!(recovered.hard_state, HardState { term: 1, vote: Some(1), commit: 3 });
    assert_eq!((wal.first_index(), wal.last_index(), wal.term(6)), (1, 6, Some(2)));
}

#[test]
fn bad_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default();
    let (mut wal, _) = reopen(dir.path(), &options);
    wal.append(&entries(1..=3, 1)).unwrap();
    assert!(matches!(wal.append(&entries(5..=6, 1)), Err(WalError::Gap { index: 5, last_index: 3 })));
    let mut holes = entries(4..=5, 1);
    holes.push(entry(7, 1));
    assert!(matches!(wal.append(&holes), Err(WalError::NotContiguous { expected: 6, got: 7 })));
    wal.apply_snapshot(&meta(2, 1)).unwrap();
    assert!(matches!(wal.append(&entries(2..=4, 2)), Err(WalError::Compacted { index: 2, snapshot_index: 2 })));
    assert!(matches!(wal.apply_snapshot(&meta(2, 1)), Err(WalError::StaleSnapshot { index: 2, current: 2 })));
    wal.append(&[]).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (3, 3));
    wal.sync().unwrap();
    drop(wal);
    let (_, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered.entries, entries(3..=3, 1));
    assert_eq!(recovered.snapshot, Some(meta(2, 1)));
}

#[test]
fn snapshot_keeps_or_discards_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default();
    let (mut wal, _) = reopen(dir.path(), &options);
    let mut log = entries(1..=4, 1);
    log.extend(entries(5..=8, 2));
    wal.append(&log).unwrap();

    // Local compaction: the log holds 5 with term 2, so 6..=8 stay.
    wal.apply_snapshot(&meta(5, 2)).unwrap();
    assert_eq!((wal.first_index(), wal.last_index(), wal.term(5), wal.term(6)), (6, 8, Some(2), Some(2)));
    // A leader's snapshot that conflicts at 7 (term 3 there): everything goes.
    wal.apply_snapshot(&meta(7, 3)).unwrap();
    assert_eq!((wal.first_index(), wal.last_index(), wal.term(8)), (8, 7, None));
    // A snapshot ahead of the log: the log continues after it.
    wal.apply_snapshot(&meta(20, 4)).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (21, 20));
    wal.append(&entries(21..=22, 4)).unwrap();
    wal.sync().unwrap();
    drop(wal);

    let (wal, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered.snapshot, Some(meta(20, 4)));
    assert_eq!(recovered.entries, entries(21..=22, 4));
    assert_eq!((wal.first_index(), wal.last_index(), wal.term(20)), (21, 22, Some(4)));
}

#[test]
fn replay_of_keep_and_discard() {
    // Check the replay rules directly, including a snapshot inside the unknown range.
    let header = segment::SegmentHeader { seq: 4, first_index: 11, hard_state: HardState::default(), snapshot: None };
    let mut replay = recover::Replay::from_header(&header).unwrap();
    for e in entries(11..=14, 2) {
        replay.apply(Record::Entry(e)).unwrap();
    }
    assert!(replay.apply(Record::Entry(entry(16, 2))).is_err(), "gap");
    replay.apply(Record::Snapshot { meta: meta(5, 1), keep_suffix: true }).unwrap();
    assert_eq!((replay.base, replay.entries.len()), (10, 4), "entries 6..=10 are still unknown");
    assert!(replay.apply(Record::Snapshot { meta: meta(12, 9), keep_suffix: true }).is_err(), "term mismatch");
    replay.apply(Record::Snapshot { meta: meta(12, 2), keep_suffix: true }).unwrap();
    assert_eq!((replay.base, replay.entries.len()), (12, 2));
    assert!(replay.apply(Record::Entry(entry(12, 3))).is_err(), "entry at the snapshot index");
    replay.apply(Record::Entry(entry(14, 3))).unwrap();
    assert_eq!(replay.entries.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(), [(13, 2), (14, 3)]);
    replay.apply(Record::Snapshot { meta: meta(13, 2), keep_suffix: false }).unwrap();
    assert_eq!((replay.base, replay.entries.len()), (13, 0));
}

#[test]
fn rotation_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default().with_segment_bytes(300);
    let (mut wal, _) = reopen(dir.path(), &options);
    for i in 1..=40 {
        wal.append(&[entry(i, 1)]).unwrap();
        wal.set_hard_state(HardState { term: 1, vote: Some(1), commit: i - 1 }).unwrap();
        wal.sync().unwrap();
    }
    let before = segment_names(dir.path());
    assert!(before.len() > 5, "{before:?}");
    wal.apply_snapshot(&meta(30, 1)).unwrap();
    assert_eq!(segment_names(dir.path()), before, "nothing is deleted before the marker is durable");
    wal.sync().unwrap();
    let after = segment_names(dir.path());
    assert!(after.len() < before.len(), "{after:?}");
    // The oldest remaining segment starts at or below 31: nothing after the snapshot is lost.
    let (_, first) = segment::parse_segment_name(&after[0]).unwrap();
    assert!(first <= 31, "{after:?}");
    drop(wal);
    let (wal, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered.entries, entries(31..=40, 1));
    assert_eq!(recovered.hard_state.commit, 39);
    assert_eq!((wal.first_index(), wal.last_index()), (31, 40));
}

#[test]
fn missing_or_inconsistent_segments_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default().with_segment_bytes(200);
    let (mut wal, _) = reopen(dir.path(), &options);
    for i in 1..=20 {
        wal.append(&[entry(i, 1)]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let names = segment_names(dir.path());
    assert!(names.len() >= 4);

    // A hole in the sequence.
    let copy = tempfile::tempdir().unwrap();
    for name in &names {
        std::fs::copy(dir.path().join(name), copy.path().join(name)).unwrap();
    }
    std::fs::remove_file(copy.path().join(&names[1])).unwrap();
    let err = Wal::open(copy.path(), options.clone()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { segment, .. } if segment.ends_with(&names[2])), "{err}");

    // The oldest segment gone without a snapshot covering it.
    std::fs::remove_file(copy.path().join(&names[0])).unwrap();
    std::fs::copy(dir.path().join(&names[1]), copy.path().join(&names[1])).unwrap();
    let err = Wal::open(copy.path(), options.clone()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { reason, .. } if reason.contains("missing")), "{err}");

    // A segment whose (checksummed) header disagrees with the segments before it.
    let copy = tempfile::tempdir().unwrap();
    for name in &names {
        std::fs::copy(dir.path().join(name), copy.path().join(name)).unwrap();
    }
    let path = copy.path().join(&names[2]);
    let data = std::fs::read(&path).unwrap();
    let header_end = segment::frame_at(&data, 0).unwrap().end;
    let (seq, first_index) = segment::parse_segment_name(&names[2]).unwrap();
    let mut forged = Vec::new();
    let hard_state = HardState { term: 5, vote: None, commit: 0 };
    segment::put_header(&mut forged, &segment::SegmentHeader { seq, first_index, hard_state, snapshot: None });
    forged.extend_from_slice(&data[header_end..]);
    std::fs::write(&path, forged).unwrap();
    let err = Wal::open(copy.path(), options.clone()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { segment, offset: 0, .. } if segment.ends_with(&names[2])), "{err}");
}

#[test]
fn leftovers_and_torn_headers() {
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default().with_segment_bytes(100);
    let (mut wal, _) = reopen(dir.path(), &options);
    for i in 1..=6 {
        wal.append(&[entry(i, 1)]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let names = segment_names(dir.path());
    assert!(names.len() > 1);
    let (last_seq, _) = segment::parse_segment_name(names.last().unwrap()).unwrap();

    // A temporary file from an interrupted rotation is removed.
    let tmp = dir.path().join(format!("{}.tmp", segment::segment_name(last_seq + 1, 7)));
    std::fs::write(&tmp, b"partial").unwrap();
    // A newest segment whose header is cut short (only damage can do that, since headers
    // are fsynced before the rename) is dropped: nothing after a torn header was written.
    let torn = dir.path().join(segment::segment_name(last_seq + 1, 7));
    let mut header = Vec::new();
    segment::put_header(
        &mut header,
        &segment::SegmentHeader { seq: last_seq + 1, first_index: 7, hard_state: HardState::default(), snapshot: None },
    );
    std::fs::write(&torn, &header[..header.len() - 3]).unwrap();
    let (mut wal, recovered) = reopen(dir.path(), &options);
    assert!(!tmp.exists() && !torn.exists());
    assert_eq!(recovered.entries, entries(1..=6, 1));
    assert_eq!(segment_names(dir.path()), names);

    // The log continues in the previous segment, then rotates again.
    wal.append(&entries(7..=8, 1)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered.entries, entries(1..=8, 1));

    // A torn header on the only segment is not repairable.
    let lonely = tempfile::tempdir().unwrap();
    let path = lonely.path().join(segment::segment_name(0, 1));
    std::fs::write(&path, &header[..4]).unwrap();
    assert!(matches!(Wal::open(lonely.path(), options.clone()), Err(WalError::Corrupt { .. })));
}

#[test]
fn large_torn_record_is_truncated() {
    // Half of a 4 MiB entry whose payload is little-endian counters: many offsets inside it
    // look like a frame with a known type and a length that fits, which scanning must reject
    // cheaply.
    let dir = tempfile::tempdir().unwrap();
    let options = WalOptions::default();
    let (mut wal, _) = reopen(dir.path(), &options);
    wal.append(&entries(1..=2, 1)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let payload: Vec<u8> = (0..1u32 << 20).flat_map(|i| (i % 5).to_le_bytes()).collect();
    let mut frame = Vec::new();
    segment::put_entry(&mut frame, &Entry { term: 1, index: 3, payload: Payload::Normal(payload.into()) });
    let path = dir.path().join(&segment_names(dir.path())[0]);
    let synced_len = std::fs::metadata(&path).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&frame[..frame.len() / 2]).unwrap();
    drop(file);
    let (wal, recovered) = reopen(dir.path(), &options);
    assert_eq!(recovered.entries, entries(1..=2, 1));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), synced_len);
    assert_eq!(wal.last_index(), 2);
}

#[test]
fn io_failure_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal");
    let options = WalOptions::default().with_segment_bytes(100);
    let (mut wal, _) = reopen(&path, &options);
    wal.append(&entries(1..=2, 1)).unwrap();
    wal.sync().unwrap();
    // Creating the next segment fails once the directory is gone.
    std::fs::remove_dir_all(&path).unwrap();
    let err = wal.append(&entries(3..=10, 1)).unwrap_err();
    assert!(matches!(err, WalError::Io(_)), "{err}");
    assert!(matches!(wal.sync(), Err(WalError::Poisoned)));
    assert!(matches!(wal.set_hard_state(HardState { term: 2, vote: None, commit: 0 }), Err(WalError::Poisoned)));
}
