//! Write-ahead log throughput: batches of 256-byte entries plus a hard state, one `sync`
//! (fdatasync) per batch, for batch sizes 1, 16 and 256.
//!
//! ```text
//! cargo run --release -p kraft --example wal_bench
//! ```
//!
//! Prints one line per batch size, e.g.
//! `bench=wal batch=16 entries_per_s=12345 syncs_per_s=771`. The log lives in a temporary
//! directory under `$TMPDIR` (default `/tmp`): the figures are those of that file system.
//! `KRAFT_BENCH_SECS` sets the seconds per batch size (default 3).

use std::time::{Duration, Instant};

use bytes::Bytes;
use kraft::wal::{Wal, WalOptions};
use kraft::{Entry, HardState, Membership, Payload, SnapshotMeta};

const ENTRY_BYTES: usize = 256;
/// Compact about every 50 MB so that long runs do not fill the disk.
const COMPACT_EVERY: u64 = 200_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs = std::env::var("KRAFT_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let duration = Duration::from_secs_f64(secs);
    let payload = Bytes::from(vec![0xa5; ENTRY_BYTES]);
    for batch in [1u64, 16, 256] {
        let dir = tempfile::tempdir()?;
        let (mut wal, _) = Wal::open(dir.path(), WalOptions::default())?;
        let (mut last, mut syncs, mut compacted) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        while start.elapsed() < duration {
            let entries: Vec<Entry> = (last + 1..=last + batch)
                .map(|index| Entry { term: 1, index, payload: Payload::Normal(payload.clone()) })
                .collect();
            wal.append(&entries)?;
            wal.set_hard_state(HardState { term: 1, vote: Some(1), commit: last })?;
            last += batch;
            if last - compacted >= COMPACT_EVERY {
                compacted = last;
                wal.apply_snapshot(&SnapshotMeta { index: last, term: 1, membership: Membership::new([1]) })?;
            }
            wal.sync()?;
            syncs += 1;
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "bench=wal batch={batch} entries_per_s={:.0} syncs_per_s={:.0}",
            last as f64 / elapsed,
            syncs as f64 / elapsed
        );
    }
    Ok(())
}
