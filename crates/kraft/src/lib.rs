//! Raft consensus: a pure core, an async driver, a durable write-ahead log.
//!
//! ```
//! use bytes::Bytes;
//! use kraft::{Config, Payload, Raft};
//!
//! // A one-node group; real groups bootstrap every founder with the same voters.
//! let mut raft = Raft::bootstrap(Config::new(1), [1], [])?;
//! raft.campaign()?; // a single voter wins at once
//! raft.propose(Bytes::from_static(b"x = 1"))?;
//!
//! // The Ready loop: persist, send, apply, advance.
//! let mut applied = Vec::new();
//! while let Some(ready) = raft.ready() {
//!     // 1. make ready.snapshot / ready.entries / ready.hard_state durable (fsync)
//!     // 2. send ready.messages to the peers they name
//!     // 3. apply committed entries to the state machine
//!     for entry in ready.committed_entries {
//!         if let Payload::Normal(data) = entry.payload {
//!             applied.push(data);
//!         }
//!     }
//!     raft.advance();
//! }
//! assert_eq!(applied, [Bytes::from_static(b"x = 1")]);
//! # Ok::<(), kraft::RaftError>(())
//! ```
//!
//! # Layers
//!
//! - [`Raft`] — the deterministic state machine (sans-IO): inputs are [`Raft::tick`],
//!   [`Raft::step`] and client calls ([`Raft::propose`], [`Raft::read_index`],
//!   [`Raft::propose_conf_change`], [`Raft::transfer_leader`], [`Raft::compact`]);
//!   outputs come out as a [`Ready`]. It implements leader election with randomized
//!   timeouts, pre-vote, check-quorum, pipelined and batched replication with flow control,
//!   ReadIndex and lease reads, leadership transfer, learners, joint consensus and
//!   snapshots. No sockets, clocks or threads.
//! - [`node`] — an async driver on tokio that runs the core with a [`node::LogStorage`],
//!   a [`node::Transport`] and the application's [`node::StateMachine`], with group commit
//!   (one fsync per `Ready`), plus a TCP transport with chunked snapshot streaming.
//! - [`wal`] — a segmented write-ahead log with CRC32C records, torn-tail repair and
//!   segment deletion after snapshots; [`codec`] — the binary encoding it and the
//!   transport use.
//!
//! # Place in the architecture
//!
//! kraft is the bottom of the storage half: `kstore` replicates its MVCC store with it. It
//! knows nothing about Kubernetes and depends on no other crate of the workspace.
//!
//! # Testing
//!
//! Unit tests drive the core over an in-memory network; `examples/sim` runs thousands of
//! seeded, deterministic simulations with message loss, duplication, reordering,
//! partitions, crashes that lose unsynced writes, pauses, clock drift, membership changes
//! and leadership transfers, checking Raft's invariants and the linearizability of a
//! key-value workload.

pub mod codec;
pub mod config;
mod log;
pub mod membership;
pub mod message;
pub mod node;
mod progress;
pub mod raft;
pub mod ready;
pub mod types;
pub mod wal;
mod wire;

pub use config::{Config, ConfigError, ReadMode};
pub use membership::{Change, Membership, MembershipError};
pub use message::{Message, MessageBody};
pub use raft::{Proposed, Raft, RaftError, RestoreState, Role};
pub use ready::{ReadState, Ready, SoftState};
pub use types::{Entry, HardState, Index, NodeId, Payload, Snapshot, SnapshotMeta, Term};
