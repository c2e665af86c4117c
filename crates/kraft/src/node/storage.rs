//! Where a node keeps its log: the [`LogStorage`] contract, an in-memory implementation
//! and the write-ahead-log implementation.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::raft::RestoreState;
use crate::types::{Entry, HardState, Snapshot};
use crate::wal::{Wal, WalOptions};

/// Durable storage of one node's Raft state.
///
/// # Correctness
///
/// - When the future returned by [`persist`](Self::persist) completes with `Ok`, the
///   snapshot, entries and hard state it was given must be durable (survive a crash or power
///   loss), and `load` must return them after a restart.
/// - `entries` may overwrite a suffix: everything stored from `entries[0].index` on is
///   replaced. Overwritten entries must never be returned by `load` again once the
///   overwrite is durable.
/// - Calls are made one at a time, in order; a later call never overtakes an earlier one.
/// - An `Err` is fatal for the node: it stops rather than continue with unknown durability.
pub trait LogStorage: Send + 'static {
    /// The durable state, read once when the node starts.
    fn load(&mut self) -> io::Result<RestoreState>;

    /// Stores a snapshot (received from the leader), entries and a hard state, durably when
    /// `sync` is true. With `sync` false (only the commit index changed) the write may stay
    /// buffered until the next synced call.
    fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
        sync: bool,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// Stores a snapshot taken locally; entries up to its index may then be discarded.
    fn compact(&mut self, snapshot: &Snapshot) -> impl Future<Output = io::Result<()>> + Send;
}

/// A log kept in memory: nothing survives the process. For tests and benchmarks.
#[derive(Debug, Default)]
pub struct MemStorage {
    state: RestoreState,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl LogStorage for MemStorage {
    fn load(&mut self) -> io::Result<RestoreState> {
        Ok(self.state.clone())
    }

    async fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
        sync: bool,
    ) -> io::Result<()> {
        let _ = sync; // memory is as durable as it gets
        if let Some(s) = snapshot {
            self.state.snapshot = s.clone();
            self.state.entries.clear();
        }
        if let Some(first) = entries.first() {
            // Entries are sorted by index: cut the overwritten suffix without a scan.
            let keep = self.state.entries.partition_point(|e| e.index < first.index);
            self.state.entries.truncate(keep);
            self.state.entries.extend_from_slice(entries);
        }
        if let Some(hs) = hard_state {
            self.state.hard_state = hs;
        }
        Ok(())
    }

    async fn compact(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        let index = snapshot.meta.index;
        let drop = self.state.entries.partition_point(|e| e.index <= index);
        self.state.entries.drain(..drop);
        self.state.snapshot = snapshot.clone();
        Ok(())
    }
}

/// The durable store: the segmented write-ahead log plus the latest snapshot's data in a
/// file next to it (written to a temporary file, fsynced, then renamed).
#[derive(Debug)]
pub struct WalStorage {
    dir: PathBuf,
    /// `None` only while a blocking task holds it.
    wal: Option<Wal>,
    recovered: Option<RestoreState>,
}

fn to_io(e: crate::wal::WalError) -> io::Error {
    io::Error::other(e)
}

impl WalStorage {
    /// Opens (or creates) the store in `dir`, recovering what is there.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let (wal, recovered) = Wal::open(dir.join("wal"), options).map_err(to_io)?;
        let mut snapshot = Snapshot::default();
        if let Some(meta) = recovered.snapshot.clone() {
            let data = std::fs::read(dir.join("snapshot.data"))?;
            snapshot = Snapshot { meta, data: Bytes::from(data) };
        }
        let state =
            RestoreState { hard_state: recovered.hard_state, snapshot, entries: recovered.entries, applied: None };
        Ok(Self { dir, wal: Some(wal), recovered: Some(state) })
    }

    fn write_snapshot_data(dir: &Path, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let tmp = dir.join("snapshot.data.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("snapshot.data"))?;
        std::fs::File::open(dir)?.sync_all()
    }

    /// Runs `f` on the WAL in a blocking task (fsync must not stall the async runtime).
    async fn with_wal<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Path, &mut Wal) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let mut wal =
            self.wal.take().ok_or_else(|| io::Error::other("write-ahead log unavailable after an earlier failure"))?;
        let dir = self.dir.clone();
        let (wal, result) = tokio::task::spawn_blocking(move || {
            let r = f(&dir, &mut wal);
            (wal, r)
        })
        .await
        .map_err(io::Error::other)?;
        self.wal = Some(wal);
        result
    }
}

impl LogStorage for WalStorage {
    fn load(&mut self) -> io::Result<RestoreState> {
        self.recovered.take().ok_or_else(|| io::Error::other("WalStorage::load called twice"))
    }

    async fn persist(
        &mut self,
        snapshot: Option<&Snapshot>,
        entries: &[Entry],
        hard_state: Option<HardState>,
        sync: bool,
    ) -> io::Result<()> {
        let snapshot = snapshot.cloned();
        let entries = entries.to_vec();
        self.with_wal(move |dir, wal| {
            if let Some(s) = &snapshot {
                // Data first: the WAL's snapshot marker must never point at missing data.
                Self::write_snapshot_data(dir, &s.data)?;
                wal.apply_snapshot(&s.meta).map_err(to_io)?;
            }
            if !entries.is_empty() {
                wal.append(&entries).map_err(to_io)?;
            }
            if let Some(hs) = hard_state {
                wal.set_hard_state(hs).map_err(to_io)?;
            }
            // Group commit: one fsync for everything this Ready carried.
            if sync { wal.sync().map_err(to_io) } else { Ok(()) }
        })
        .await
    }

    async fn compact(&mut self, snapshot: &Snapshot) -> io::Result<()> {
        let snapshot = snapshot.clone();
        self.with_wal(move |dir, wal| {
            Self::write_snapshot_data(dir, &snapshot.data)?;
            wal.apply_snapshot(&snapshot.meta).map_err(to_io)?;
            wal.sync().map_err(to_io)
        })
        .await
    }
}
