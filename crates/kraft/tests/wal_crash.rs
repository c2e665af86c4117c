//! Crash-consistency tests for the write-ahead log.
//!
//! A workload runs against a real directory while the test records, after every call, the
//! files' contents and the state a reader must recover: the state at each `sync` and the
//! state after each record written in between. A crash is then simulated by rebuilding
//! the directory as it could be at any moment between two syncs (everything up to the
//! first sync durable, the later writes cut at a byte offset, optionally followed by
//! garbage) and reopening it. The invariants:
//!
//! - (a) nothing a completed `sync` covered is lost;
//! - (b) overwritten entries never come back, except when the overwrite itself was never
//!   synced (the recovered state is always one the log actually went through);
//! - (c) reopening is idempotent (same state, files untouched by the second open).

// The helpers below are test code too; clippy's test exemption only covers `#[test]` fns.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kraft::wal::{Recovered, Wal, WalError, WalOptions};
use kraft::{Entry, HardState, Index, Membership, Payload, SnapshotMeta, Term};
use tempfile::TempDir;

/// File name to contents.
type Image = BTreeMap<String, Vec<u8>>;

/// Small segments so that the workload rotates often.
fn options() -> WalOptions {
    WalOptions::default().with_segment_bytes(700)
}

/// Scratch space on tmpfs when there is one: the crash loops reopen thousands of
/// directories and need no real durability.
fn scratch() -> TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("kraft-wal-test-").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn read_image(dir: &Path) -> Image {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|d| {
            let d = d.unwrap();
            (d.file_name().into_string().unwrap(), std::fs::read(d.path()).unwrap())
        })
        .collect()
}

fn write_image(dir: &Path, image: &Image) {
    for d in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(d.unwrap().path()).unwrap();
    }
    for (name, data) in image {
        std::fs::write(dir.join(name), data).unwrap();
    }
}

/// A deterministic generator (splitmix64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8 | 1).collect()
    }
}

/// What a reader must recover: the model of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    hard_state: HardState,
    snapshot: Option<SnapshotMeta>,
    entries: Vec<Entry>,
}

impl State {
    fn of(recovered: &Recovered) -> State {
        State {
            hard_state: recovered.hard_state,
            snapshot: recovered.snapshot.clone(),
            entries: recovered.entries.clone(),
        }
    }

    fn snapshot_index(&self) -> Index {
        self.snapshot.as_ref().map_or(0, |s| s.index)
    }

    fn last_index(&self) -> Index {
        self.entries.last().map_or(self.snapshot_index(), |e| e.index)
    }

    fn term(&self, index: Index) -> Option<Term> {
        match &self.snapshot {
            Some(s) if s.index == index => Some(s.term),
            _ => self.entries.iter().find(|e| e.index == index).map(|e| e.term),
        }
    }

    fn append(&mut self, entry: Entry) {
        let keep = (entry.index - self.snapshot_index() - 1) as usize;
        self.entries.truncate(keep);
        self.entries.push(entry);
    }

    fn apply_snapshot(&mut self, meta: &SnapshotMeta) {
        if meta.index <= self.last_index() && self.term(meta.index) == Some(meta.term) {
            self.entries.retain(|e| e.index > meta.index);
        } else {
            self.entries.clear();
        }
        self.snapshot = Some(meta.clone());
    }
}

/// A state at a sync, with every state the log went through since the previous sync.
struct Checkpoint {
    /// The directory right after the sync returned.
    image: Image,
    /// States since the previous sync, record by record; the last one is the synced state.
    states: Vec<State>,
}

/// Runs operations against a real log and a model, recording images and states.
struct Recorder {
    dir: TempDir,
    wal: Wal,
    model: State,
    states: Vec<State>,
    /// Latest contents of every file ever seen (files only grow until deleted).
    history: Image,
    checkpoints: Vec<Checkpoint>,
}

impl Recorder {
    fn new() -> Recorder {
        let dir = tempfile::tempdir().unwrap();
        let (wal, recovered) = Wal::open(dir.path(), options()).unwrap();
        assert_eq!(recovered, Recovered::default());
        let image = read_image(dir.path());
        let checkpoints = vec![Checkpoint { image: image.clone(), states: vec![State::default()] }];
        Recorder { dir, wal, model: State::default(), states: vec![State::default()], history: image, checkpoints }
    }

    fn observe(&mut self) {
        for (name, data) in read_image(self.dir.path()) {
            self.history.insert(name, data);
        }
    }

    fn append(&mut self, entries: Vec<Entry>) {
        self.wal.append(&entries).unwrap();
        for entry in entries {
            self.model.append(entry);
            self.states.push(self.model.clone());
        }
        self.observe();
    }

    fn set_hard_state(&mut self, hs: HardState) {
        self.wal.set_hard_state(hs).unwrap();
        self.model.hard_state = hs;
        self.states.push(self.model.clone());
        self.observe();
    }

    fn apply_snapshot(&mut self, meta: SnapshotMeta) {
        self.wal.apply_snapshot(&meta).unwrap();
        self.model.apply_snapshot(&meta);
        self.states.push(self.model.clone());
        self.observe();
    }

    fn sync(&mut self) {
        self.wal.sync().unwrap();
        self.observe();
        let states = std::mem::replace(&mut self.states, vec![self.model.clone()]);
        self.checkpoints.push(Checkpoint { image: read_image(self.dir.path()), states });
        assert_eq!(self.wal.last_index(), self.model.last_index());
        assert_eq!(self.wal.first_index(), self.model.snapshot_index() + 1);
    }
}

fn entry(rng: &mut Rng, index: Index, term: Term) -> Entry {
    let len = 8 + rng.below(90) as usize;
    Entry { term, index, payload: Payload::Normal(Bytes::from(rng.bytes(len))) }
}

fn run_entries(rng: &mut Rng, first: Index, count: u64, term: Term) -> Vec<Entry> {
    (first..first + count).map(|i| entry(rng, i, term)).collect()
}

fn membership() -> Membership {
    Membership::with_learners([1, 2, 3], [4])
}

/// A random workload of appends, overwrites, hard states and snapshots, then a final
/// batch that does all of them, rotates and deletes segments between two syncs.
fn workload() -> Recorder {
    let mut rng = Rng(0x6b72_6166_7477_616c);
    let mut rec = Recorder::new();
    let mut term = 1;
    let mut conflicted = false;
    for batch in 0..30 {
        for _ in 0..1 + rng.below(4) {
            let last = rec.model.last_index();
            let commit = rec.model.hard_state.commit;
            match rng.below(10) {
                0..=4 => {
                    let count = 1 + rng.below(4);
                    let entries = run_entries(&mut rng, last + 1, count, term);
                    rec.append(entries);
                }
                5 | 6 if last > commit + 1 => {
                    // A new leader overwrites the uncommitted suffix.
                    term += 1;
                    let from = commit + 1 + rng.below(last - commit);
                    let count = 1 + rng.below(3);
                    let entries = run_entries(&mut rng, from, count, term);
                    rec.append(entries);
                }
                7 | 8 => {
                    let commit = commit.max(rec.model.snapshot_index()) + rng.below(last - commit.min(last) + 1);
                    rec.set_hard_state(HardState { term, vote: Some(1 + term % 3), commit: commit.min(last) });
                }
                _ if commit > rec.model.snapshot_index() && rec.model.term(commit).is_some() => {
                    let meta =
                        SnapshotMeta { index: commit, term: rec.model.term(commit).unwrap(), membership: membership() };
                    rec.apply_snapshot(meta);
                }
                _ => {}
            }
        }
        if batch == 12 && rec.model.last_index() > rec.model.snapshot_index() + 2 {
            // A leader's snapshot that conflicts with the log at its index: the whole log goes,
            // including the entry after it.
            term += 1;
            let index = rec.model.last_index() - 1;
            rec.apply_snapshot(SnapshotMeta { index, term, membership: membership() });
            assert!(rec.model.entries.is_empty());
            conflicted = true;
        }
        if batch == 20 {
            // A follower installs a leader's snapshot ahead of its log.
            term += 1;
            let index = rec.model.last_index() + 5;
            rec.apply_snapshot(SnapshotMeta { index, term, membership: membership() });
            rec.set_hard_state(HardState { term, vote: None, commit: index });
        }
        rec.sync();
    }

    assert!(conflicted, "the workload installs a conflicting snapshot");

    // The final batch.
    let last = rec.model.last_index();
    let entries = run_entries(&mut rng, last + 1, 10, term);
    rec.append(entries);
    term += 1;
    let last = rec.model.last_index();
    let entries = run_entries(&mut rng, last - 3, 4, term);
    rec.append(entries);
    let commit = rec.model.last_index() - 2;
    rec.set_hard_state(HardState { term, vote: Some(2), commit });
    rec.apply_snapshot(SnapshotMeta { index: commit, term, membership: membership() });
    let last = rec.model.last_index();
    let entries = run_entries(&mut rng, last + 1, 2, term);
    rec.append(entries);
    rec.sync();
    rec
}

/// Opens a crash image, checks idempotence and returns the recovered state.
fn recover(dir: &Path, image: &Image) -> Result<State, WalError> {
    write_image(dir, image);
    let (wal, recovered) = match Wal::open(dir, options()) {
        Ok(opened) => opened,
        Err(e) => {
            assert_eq!(&read_image(dir), image, "a failed open must leave the files as found");
            return Err(e);
        }
    };
    drop(wal);
    let after_first = read_image(dir);
    let (_, again) = Wal::open(dir, options()).expect("second open");
    assert_eq!(again, recovered, "(c) reopening changed the recovered state");
    assert_eq!(read_image(dir), after_first, "(c) a second open modified the files");
    Ok(State::of(&recovered))
}

/// Files written between two checkpoints, in write order (segment names sort by sequence
/// number), with their lengths at the first checkpoint (0 for new files) and their
/// contents at the second: the previously active segment and every segment created since,
/// including those the second sync deleted (their last contents are in `history`).
fn written_between(prev: &Image, next: &Image, history: &Image) -> Vec<(String, usize, Vec<u8>)> {
    let prev_last = prev.keys().next_back().unwrap();
    let next_last = next.keys().next_back().unwrap();
    history
        .iter()
        .filter(|(name, _)| *name >= prev_last && *name <= next_last)
        .map(|(name, latest)| {
            let before = prev.get(name).map_or(0, Vec::len);
            (name.clone(), before, next.get(name).unwrap_or(latest).clone())
        })
        .collect()
}

/// Crashes at offsets between checkpoint `k - 1` and `k` and checks (a), (b), (c).
/// `stride` 1 tries every byte offset; garbage is appended at every `garbage_every`-th.
fn crash_interval(rec: &Recorder, k: usize, stride: usize, garbage_every: usize, scratch: &Path) -> usize {
    let (prev, next) = (&rec.checkpoints[k - 1], &rec.checkpoints[k]);
    let mut allowed = vec![prev.states.last().unwrap().clone()];
    allowed.extend(next.states.iter().skip(1).cloned());
    let written = written_between(&prev.image, &next.image, &rec.history);
    let mut rng = Rng(k as u64);
    let mut position = 0;
    let mut tried = 0;
    for (i, (name, before, full)) in written.iter().enumerate() {
        // Files before this one (in write order) are complete; later ones do not exist yet.
        let mut base = prev.image.clone();
        for (earlier, _, data) in &written[..i] {
            base.insert(earlier.clone(), data.clone());
        }
        let mut offsets: Vec<usize> = (*before..=full.len()).step_by(stride).collect();
        offsets.push(full.len());
        offsets.dedup();
        for off in offsets {
            let mut image = base.clone();
            image.insert(name.clone(), full[..off].to_vec());
            let state = recover(scratch, &image).unwrap_or_else(|e| panic!("crash at {name}:{off}: {e}"));
            let found = allowed[position..].iter().position(|s| *s == state).map(|p| p + position);
            let Some(found) = found else {
                panic!("(a)/(b) crash at {name}:{off} (interval {k}) recovered a state the log never had: {state:?}")
            };
            position = found;
            tried += 1;
            if tried % garbage_every == 0 {
                // The file system may expose garbage or zeros past the last write.
                let mut garbled = image.clone();
                let file = garbled.get_mut(name).unwrap();
                if tried % (2 * garbage_every) == 0 {
                    file.extend(std::iter::repeat_n(0u8, 4096));
                } else {
                    let len = 1 + rng.below(40) as usize;
                    file.extend(rng.bytes(len));
                }
                let garbled_state =
                    recover(scratch, &garbled).unwrap_or_else(|e| panic!("garbage at {name}:{off}: {e}"));
                assert_eq!(garbled_state, state, "garbage after {name}:{off} changed the recovered state");
            }
            if tried % 25 == 0 {
                // The recovered log keeps working.
                let (mut wal, _) = Wal::open(scratch, options()).unwrap();
                let next_entry = Entry { term: 99, index: state.last_index() + 1, payload: Payload::Empty };
                wal.append(std::slice::from_ref(&next_entry)).unwrap();
                wal.sync().unwrap();
                drop(wal);
                let (_, recovered) = Wal::open(scratch, options()).unwrap();
                assert_eq!(recovered.entries.last(), Some(&next_entry));
            }
        }
    }
    assert_eq!(position, allowed.len() - 1, "the complete image of interval {k} must recover the synced state");

    // A crash while sync deletes compacted segments (oldest first) loses nothing.
    let mut at_sync = prev.image.clone();
    for (name, _, data) in &written {
        at_sync.insert(name.clone(), data.clone());
    }
    let deleted: Vec<&String> = at_sync.keys().filter(|n| !next.image.contains_key(*n)).collect();
    for p in 0..deleted.len() {
        let mut image = next.image.clone();
        for name in &deleted[p..] {
            image.insert((*name).clone(), at_sync[*name].clone());
        }
        assert_eq!(&recover(scratch, &image).unwrap(), allowed.last().unwrap(), "crash after deleting {p} segments");
        tried += 1;
    }
    tried
}

#[test]
fn crash_at_every_offset_keeps_synced_state_and_never_resurrects() {
    let rec = workload();
    let scratch = scratch();
    let last = rec.checkpoints.len() - 1;
    // The workload must exercise what the test claims to check.
    let final_segments = rec.checkpoints[last].image.len();
    assert!(final_segments >= 2, "the final image has several segments");
    assert!(rec.history.len() > final_segments + 2, "segments were deleted");

    let mut tried = 0;
    // Every byte offset of the last interval...
    tried += crash_interval(&rec, last, 1, 3, scratch.path());
    // ...and a sample across the earlier ones.
    for k in 1..last {
        tried += crash_interval(&rec, k, 13, 4, scratch.path());
    }
    assert!(tried > 1000, "{tried} crash images");
}

/// Record boundaries of a segment, from the documented framing.
fn record_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut off = 0;
    while off + 9 <= data.len() {
        starts.push(off);
        off += 9 + u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
    }
    assert_eq!(off, data.len(), "a synced segment holds whole records");
    starts
}

#[test]
fn flipped_bytes_are_corruption_except_in_the_final_record() {
    let rec = workload();
    let scratch = scratch();
    let image = rec.checkpoints.last().unwrap().image.clone();
    let synced = State::of(&{
        write_image(scratch.path(), &image);
        Wal::open(scratch.path(), options()).unwrap().1
    });
    assert_eq!(&synced, rec.checkpoints.last().unwrap().states.last().unwrap());
    let names: Vec<String> = image.keys().cloned().collect();
    assert!(names.len() >= 2);

    let containing = |starts: &[usize], pos: usize| *starts.iter().rev().find(|&&s| s <= pos).unwrap();

    // The last segment: a damaged record followed by intact ones is corruption; damage in the
    // final record looks like a torn write and is truncated away.
    let last = names.last().unwrap();
    let data = &image[last];
    let starts = record_starts(data);
    assert!(starts.len() > 3);
    let final_start = *starts.last().unwrap();
    let mut truncated = image.clone();
    truncated.get_mut(last).unwrap().truncate(final_start);
    let without_final = recover(scratch.path(), &truncated).unwrap();
    assert_ne!(without_final, synced);
    for pos in 0..data.len() {
        let mut flipped = image.clone();
        flipped.get_mut(last).unwrap()[pos] ^= 0x81;
        match recover(scratch.path(), &flipped) {
            Ok(state) => {
                assert!(pos >= final_start, "flip at {last}:{pos} was not detected");
                assert_eq!(state, without_final, "flip at {last}:{pos}");
            }
            Err(WalError::Corrupt { segment, offset, .. }) => {
                assert!(pos < final_start, "flip at {last}:{pos} in the final record is a torn tail");
                assert!(segment.ends_with(last));
                assert_eq!(offset, containing(&starts, pos) as u64, "flip at {last}:{pos}");
            }
            Err(e) => panic!("flip at {last}:{pos}: {e}"),
        }
    }

    // An earlier segment: every flip is corruption, reported at the damaged record.
    let first = &names[0];
    let data = &image[first];
    let starts = record_starts(data);
    for pos in 0..data.len() {
        let mut flipped = image.clone();
        flipped.get_mut(first).unwrap()[pos] ^= 0x81;
        match recover(scratch.path(), &flipped) {
            Err(WalError::Corrupt { segment, offset, .. }) => {
                assert!(segment.ends_with(first));
                assert_eq!(offset, containing(&starts, pos) as u64, "flip at {first}:{pos}");
            }
            other => panic!("flip at {first}:{pos} was not reported as corruption: {other:?}"),
        }
    }
}

fn simple(index: Index, term: Term) -> Entry {
    Entry { term, index, payload: Payload::Normal(Bytes::from(vec![index as u8; 40])) }
}

fn simple_run(range: std::ops::RangeInclusive<Index>, term: Term) -> Vec<Entry> {
    range.map(|i| simple(i, term)).collect()
}

fn wal_files(dir: &Path) -> Vec<String> {
    read_image(dir).into_keys().filter(|n| n.ends_with(".wal")).collect()
}

#[test]
fn rotation_then_snapshot_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions::default().with_segment_bytes(256);
    let (mut wal, _) = Wal::open(dir.path(), opts.clone()).unwrap();
    for i in 1..=60 {
        wal.append(&[simple(i, 1)]).unwrap();
        if i % 5 == 0 {
            wal.set_hard_state(HardState { term: 1, vote: Some(1), commit: i }).unwrap();
            wal.sync().unwrap();
        }
    }
    let before = wal_files(dir.path());
    assert!(before.len() >= 10, "{before:?}");
    let meta = SnapshotMeta { index: 45, term: 1, membership: membership() };
    wal.apply_snapshot(&meta).unwrap();
    assert_eq!((wal.first_index(), wal.last_index()), (46, 60));
    assert_eq!(wal_files(dir.path()), before, "segments stay until the snapshot marker is durable");
    wal.sync().unwrap();
    let after = wal_files(dir.path());
    assert!(after.len() < before.len() / 2, "{after:?}");
    assert_eq!(after[..], before[before.len() - after.len()..], "the newest segments remain");

    // More writes, then recovery from the remaining segments only.
    wal.append(&simple_run(61..=70, 1)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (mut wal, recovered) = Wal::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(recovered.snapshot, Some(meta));
    assert_eq!(recovered.entries, simple_run(46..=70, 1));
    assert_eq!(recovered.hard_state, HardState { term: 1, vote: Some(1), commit: 60 });

    // A snapshot ahead of the log leaves only the active segment.
    let ahead = SnapshotMeta { index: 100, term: 2, membership: membership() };
    wal.apply_snapshot(&ahead).unwrap();
    wal.append(&simple_run(101..=101, 2)).unwrap();
    wal.sync().unwrap();
    assert!(wal_files(dir.path()).len() <= 2);
    drop(wal);
    let (wal, recovered) = Wal::open(dir.path(), opts).unwrap();
    assert_eq!(recovered.snapshot, Some(ahead));
    assert_eq!(recovered.entries, simple_run(101..=101, 2));
    assert_eq!((wal.first_index(), wal.last_index()), (101, 101));
}

#[test]
fn overwritten_suffix_stays_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions::default().with_segment_bytes(300);
    let (mut wal, _) = Wal::open(dir.path(), opts.clone()).unwrap();
    wal.append(&simple_run(1..=20, 1)).unwrap();
    wal.sync().unwrap();
    assert!(wal_files(dir.path()).len() > 2, "the overwritten entries span segments");
    // Overwrite from 6, reaching back into the first segments.
    wal.append(&simple_run(6..=8, 2)).unwrap();
    wal.sync().unwrap();
    assert_eq!((wal.last_index(), wal.term(8), wal.term(9)), (8, Some(2), None));
    drop(wal);

    let mut expected = simple_run(1..=5, 1);
    expected.extend(simple_run(6..=8, 2));
    let (mut wal, recovered) = Wal::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(recovered.entries, expected);

    // Overwrite again after reopening, including the very last entry only.
    wal.append(&simple_run(8..=9, 3)).unwrap();
    wal.append(&simple_run(9..=9, 4)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    expected.truncate(7);
    expected.extend(simple_run(8..=8, 3));
    expected.extend(simple_run(9..=9, 4));
    let (_, recovered) = Wal::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(recovered.entries, expected);
    let (_, again) = Wal::open(dir.path(), opts).unwrap();
    assert_eq!(again, recovered);
}

#[test]
fn group_commit_makes_a_hundred_appends_durable_with_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    let empty = read_image(dir.path());
    for i in 1..=100 {
        wal.append(&[simple(i, 1)]).unwrap();
        wal.set_hard_state(HardState { term: 1, vote: Some(1), commit: i - 1 }).unwrap();
    }
    assert_eq!(read_image(dir.path()), empty, "appends are buffered until sync");
    wal.sync().unwrap();
    drop(wal);
    let (wal, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(recovered.entries, simple_run(1..=100, 1));
    assert_eq!(recovered.hard_state.commit, 99);
    assert_eq!(wal.last_index(), 100);

    // What was appended but never synced is not promised: here it is simply gone.
    let mut wal = wal;
    wal.append(&simple_run(101..=110, 1)).unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(recovered.entries.len(), 100);
}
