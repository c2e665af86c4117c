//! The replicated state machine: the MVCC store plus the lease table, driven by commands in
//! Raft log order. Deterministic: every replica that applies the same commands reaches the
//! same state and produces the same events.

use bytes::Bytes;

use crate::codec::{CodecError, Reader, Writer};
use crate::lease::{Lease, LeaseError, Lessor};
use crate::mvcc::{Mvcc, MvccError};
use crate::types::*;

/// A replicated write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write a key.
    Put(PutRequest),
    /// Delete keys.
    DeleteRange(DeleteRangeRequest),
    /// A transaction.
    Txn(TxnRequest),
    /// Compact history up to a revision.
    Compact(i64),
    /// Create a lease (the leader picked the id).
    LeaseGrant {
        /// Lease id.
        id: i64,
        /// Requested TTL in seconds.
        ttl: i64,
    },
    /// Revoke a lease and delete its keys (by a client, or by the leader on expiry).
    LeaseRevoke {
        /// Lease id.
        id: i64,
    },
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A put's answer.
    Put(PutResponse),
    /// A deletion's answer.
    DeleteRange(DeleteRangeResponse),
    /// A transaction's answer.
    Txn(TxnResponse),
    /// Compaction done; the store revision.
    Compact {
        /// Store revision.
        revision: i64,
    },
    /// Lease created.
    LeaseGrant {
        /// Lease id.
        id: i64,
        /// Effective TTL.
        ttl: i64,
        /// Store revision.
        revision: i64,
    },
    /// Lease revoked.
    LeaseRevoke {
        /// Store revision after deleting its keys.
        revision: i64,
    },
}

/// Why a command failed (deterministically, on every replica).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// An MVCC error.
    #[error(transparent)]
    Mvcc(#[from] MvccError),
    /// A lease error.
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

const SNAPSHOT_MAGIC: &[u8] = b"kstore-snapshot-1";

/// MVCC store + leases.
#[derive(Debug, Clone, Default)]
pub struct KvState {
    mvcc: Mvcc,
    lessor: Lessor,
    /// Lower bound on lease TTLs, in seconds (etcd derives it from the election timeout).
    min_lease_ttl: i64,
}

impl KvState {
    /// An empty state; lease TTLs are raised to `min_lease_ttl` seconds.
    pub fn new(min_lease_ttl: i64) -> Self {
        Self { mvcc: Mvcc::new(), lessor: Lessor::new(), min_lease_ttl }
    }

    /// The MVCC store (for reads).
    pub fn mvcc(&self) -> &Mvcc {
        &self.mvcc
    }

    /// The lease table.
    pub fn lessor(&self) -> &Lessor {
        &self.lessor
    }

    /// Applies a command. Returns the outcome and the events it produced (for watchers).
    pub fn apply(&mut self, cmd: &Command) -> (Result<Outcome, ApplyError>, Vec<Event>) {
        let lessor = &self.lessor;
        let leases = |id: i64| lessor.exists(id);
        let result: Result<(Outcome, Vec<Event>), ApplyError> = match cmd {
            Command::Put(p) => self.mvcc.put(p, &leases).map(|(r, e)| (Outcome::Put(r), e)).map_err(Into::into),
            Command::DeleteRange(d) => {
                self.mvcc.delete_range(d).map(|(r, e)| (Outcome::DeleteRange(r), e)).map_err(Into::into)
            }
            Command::Txn(t) => self.mvcc.txn(t, &leases).map(|(r, e)| (Outcome::Txn(r), e)).map_err(Into::into),
            Command::Compact(rev) => self
                .mvcc
                .compact(*rev)
                .map(|()| (Outcome::Compact { revision: self.mvcc.revision() }, Vec::new()))
                .map_err(Into::into),
            Command::LeaseGrant { id, ttl } => self
                .lessor
                .grant(*id, *ttl, self.min_lease_ttl)
                .map(|ttl| (Outcome::LeaseGrant { id: *id, ttl, revision: self.mvcc.revision() }, Vec::new()))
                .map_err(Into::into),
            Command::LeaseRevoke { id } => match self.lessor.revoke(*id) {
                Ok(keys) => {
                    let events = self.mvcc.delete_keys(&keys);
                    Ok((Outcome::LeaseRevoke { revision: self.mvcc.revision() }, events))
                }
                Err(e) => Err(e.into()),
            },
        };
        match result {
            Ok((outcome, events)) => {
                self.lessor.apply_events(&events);
                (Ok(outcome), events)
            }
            Err(e) => (Err(e), Vec::new()),
        }
    }

    /// Serializes the whole state (Raft snapshot data).
    pub fn snapshot(&self) -> Bytes {
        let mut w = Writer::new();
        w.bytes(SNAPSHOT_MAGIC);
        w.i64(self.min_lease_ttl);
        self.mvcc.encode(&mut w);
        let leases: Vec<(i64, &Lease)> = self.lessor.iter().collect();
        w.u64(leases.len() as u64);
        for (id, lease) in leases {
            w.i64(id);
            w.i64(lease.ttl);
            w.u64(lease.keys.len() as u64);
            for k in &lease.keys {
                w.bytes(k);
            }
        }
        w.finish()
    }

    /// Restores a state from [`snapshot`](Self::snapshot) data.
    pub fn restore(data: Bytes) -> Result<Self, CodecError> {
        let mut r = Reader::new(data);
        if r.bytes("magic")?.as_ref() != SNAPSHOT_MAGIC {
            return Err(CodecError::Tag { what: "snapshot magic", tag: 0 });
        }
        let min_lease_ttl = r.i64("min lease ttl")?;
        let mvcc = Mvcc::decode(&mut r)?;
        let n = r.count("leases", 3)?;
        let mut leases = Vec::with_capacity(n);
        for _ in 0..n {
            let id = r.i64("lease id")?;
            let ttl = r.i64("lease ttl")?;
            let k = r.count("lease keys", 1)?;
            let mut keys = std::collections::BTreeSet::new();
            for _ in 0..k {
                keys.insert(r.bytes("lease key")?);
            }
            leases.push((id, Lease { ttl, keys }));
        }
        Ok(Self { mvcc, lessor: Lessor::from_leases(leases), min_lease_ttl })
    }
}

/// Encodes a command with its origin node and request id (so the proposing node can match
/// the outcome to its caller when the entry applies).
pub fn encode_command(origin: u64, request: u64, cmd: &Command) -> Bytes {
    let mut w = Writer::new();
    w.u64(origin);
    w.u64(request);
    match cmd {
        Command::Put(p) => {
            w.u8(0);
            w.put(p);
        }
        Command::DeleteRange(d) => {
            w.u8(1);
            w.delete(d);
        }
        Command::Txn(t) => {
            w.u8(2);
            w.txn(t);
        }
        Command::Compact(rev) => {
            w.u8(3);
            w.i64(*rev);
        }
        Command::LeaseGrant { id, ttl } => {
            w.u8(4);
            w.i64(*id);
            w.i64(*ttl);
        }
        Command::LeaseRevoke { id } => {
            w.u8(5);
            w.i64(*id);
        }
    }
    w.finish()
}

/// Decodes [`encode_command`]'s output: (origin, request id, command).
pub fn decode_command(data: Bytes) -> Result<(u64, u64, Command), CodecError> {
    let mut r = Reader::new(data);
    let origin = r.u64("origin")?;
    let request = r.u64("request id")?;
    let cmd = match r.u8("command")? {
        0 => Command::Put(r.put()?),
        1 => Command::DeleteRange(r.delete()?),
        2 => Command::Txn(r.txn()?),
        3 => Command::Compact(r.i64("revision")?),
        4 => Command::LeaseGrant { id: r.i64("lease id")?, ttl: r.i64("ttl")? },
        5 => Command::LeaseRevoke { id: r.i64("lease id")? },
        tag => return Err(CodecError::Tag { what: "command", tag }),
    };
    Ok((origin, request, cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn leases_delete_their_keys_in_one_revision() {
        let mut s = KvState::new(2);
        let (r, _) = s.apply(&Command::LeaseGrant { id: 5, ttl: 1 });
        assert_eq!(r, Ok(Outcome::LeaseGrant { id: 5, ttl: 2, revision: 1 }));
        for k in ["a", "b", "c"] {
            let put = PutRequest { key: b(k), value: b("v"), lease: 5, ..PutRequest::default() };
            assert!(s.apply(&Command::Put(put)).0.is_ok());
        }
        let bad = PutRequest { key: b("x"), lease: 6, ..PutRequest::default() };
        assert_eq!(s.apply(&Command::Put(bad)).0, Err(ApplyError::Mvcc(MvccError::LeaseNotFound)));
        assert_eq!(s.lessor().get(5).map(|l| l.keys.len()), Some(3));
        let (r, events) = s.apply(&Command::LeaseRevoke { id: 5 });
        assert_eq!(r, Ok(Outcome::LeaseRevoke { revision: 5 }));
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == 5));
        assert!(s.mvcc().is_empty());
        assert_eq!(s.apply(&Command::LeaseRevoke { id: 5 }).0, Err(ApplyError::Lease(LeaseError::NotFound)));
    }

    #[test]
    fn snapshots_round_trip() {
        let mut s = KvState::new(1);
        assert!(s.apply(&Command::LeaseGrant { id: 9, ttl: 60 }).0.is_ok());
        for i in 0..20 {
            let put = PutRequest {
                key: b(&format!("k{}", i % 7)),
                value: b(&format!("v{i}")),
                lease: if i % 3 == 0 { 9 } else { 0 },
                ..PutRequest::default()
            };
            assert!(s.apply(&Command::Put(put)).0.is_ok());
        }
        assert!(s.apply(&Command::DeleteRange(DeleteRangeRequest { key: b("k1"), ..Default::default() })).0.is_ok());
        assert!(s.apply(&Command::Compact(10)).0.is_ok());
        let restored = KvState::restore(s.snapshot()).unwrap();
        assert_eq!(restored.snapshot(), s.snapshot());
        assert_eq!(restored.mvcc().revision(), s.mvcc().revision());
        assert_eq!(restored.mvcc().hash_kv(0), s.mvcc().hash_kv(0));
        assert_eq!(restored.lessor(), s.lessor());
        let all = crate::KeyRange::new(b("k"), b("\0"));
        assert_eq!(restored.mvcc().events_since(10, &all, 0), s.mvcc().events_since(10, &all, 0));
        assert!(KvState::restore(Bytes::from_static(b"junk")).is_err());
        let snap = s.snapshot();
        for cut in [0, 5, snap.len() / 2, snap.len() - 1] {
            assert!(KvState::restore(snap.slice(..cut)).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn commands_round_trip() {
        let txn = TxnRequest {
            compare: vec![Compare {
                key: b("k"),
                range_end: Bytes::new(),
                result: CompareResult::Equal,
                target: CompareTarget::Mod(4),
            }],
            success: vec![
                RequestOp::Put(PutRequest {
                    key: b("k"),
                    value: b("v"),
                    lease: 3,
                    prev_kv: true,
                    ..Default::default()
                }),
                RequestOp::Txn(TxnRequest {
                    failure: vec![RequestOp::Range(RangeRequest::prefix(b("p")))],
                    ..Default::default()
                }),
            ],
            failure: vec![RequestOp::DeleteRange(DeleteRangeRequest { key: b("a"), range_end: b("b"), prev_kv: true })],
        };
        for cmd in [
            Command::Txn(txn),
            Command::Compact(77),
            Command::LeaseGrant { id: -5, ttl: 10 },
            Command::LeaseRevoke { id: 1 << 62 },
            Command::Put(PutRequest { key: b("x"), ignore_value: true, ..Default::default() }),
        ] {
            let data = encode_command(3, 99, &cmd);
            assert_eq!(decode_command(data.clone()), Ok((3, 99, cmd.clone())));
            for cut in 0..data.len() {
                assert!(decode_command(data.slice(..cut)).is_err());
            }
        }
    }
}
