//! The simulated application: a key-value map with client sessions, replicated through
//! Raft. Commands carry (client, seq) so retried or duplicated proposals apply once.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A write command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Set key to value.
    Put { key: u64, value: u64 },
    /// Set key to `new` if it currently holds `expected`.
    Cas { key: u64, expected: Option<u64>, new: u64 },
}

/// What applying a command returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A put was applied.
    Put,
    /// A CAS was applied: did it succeed?
    Cas(bool),
}

/// Encodes `(client, seq, command)` as an entry payload.
pub(crate) fn encode(client: u64, seq: u64, cmd: Command) -> Bytes {
    let mut b = BytesMut::with_capacity(41);
    b.put_u64_le(client);
    b.put_u64_le(seq);
    match cmd {
        Command::Put { key, value } => {
            b.put_u8(0);
            b.put_u64_le(key);
            b.put_u64_le(value);
        }
        Command::Cas { key, expected, new } => {
            b.put_u8(if expected.is_some() { 2 } else { 1 });
            b.put_u64_le(key);
            b.put_u64_le(expected.unwrap_or(0));
            b.put_u64_le(new);
        }
    }
    b.freeze()
}

/// Decodes an entry payload; `None` for anything malformed.
pub(crate) fn decode(mut data: &[u8]) -> Option<(u64, u64, Command)> {
    if data.remaining() < 25 {
        return None;
    }
    let client = data.get_u64_le();
    let seq = data.get_u64_le();
    let kind = data.get_u8();
    let key = data.get_u64_le();
    let cmd = match kind {
        0 if data.remaining() >= 8 => Command::Put { key, value: data.get_u64_le() },
        1 | 2 if data.remaining() >= 16 => {
            let expected = data.get_u64_le();
            Command::Cas { key, expected: (kind == 2).then_some(expected), new: data.get_u64_le() }
        }
        _ => return None,
    };
    Some((client, seq, cmd))
}

/// The replicated state: the map plus each client's last applied sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Kv {
    pub(crate) map: BTreeMap<u64, u64>,
    pub(crate) sessions: BTreeMap<u64, u64>,
}

impl Kv {
    /// Applies a command unless its (client, seq) was already applied.
    pub(crate) fn apply(&mut self, client: u64, seq: u64, cmd: Command) -> Option<Applied> {
        let last = self.sessions.entry(client).or_insert(0);
        if seq <= *last {
            return None;
        }
        *last = seq;
        Some(match cmd {
            Command::Put { key, value } => {
                self.map.insert(key, value);
                Applied::Put
            }
            Command::Cas { key, expected, new } => {
                let ok = self.map.get(&key).copied() == expected;
                if ok {
                    self.map.insert(key, new);
                }
                Applied::Cas(ok)
            }
        })
    }

    /// Serializes the state (the snapshot data).
    pub(crate) fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_u64_le(self.map.len() as u64);
        for (k, v) in &self.map {
            b.put_u64_le(*k);
            b.put_u64_le(*v);
        }
        b.put_u64_le(self.sessions.len() as u64);
        for (c, s) in &self.sessions {
            b.put_u64_le(*c);
            b.put_u64_le(*s);
        }
        b.freeze()
    }

    /// Restores from snapshot data; an empty buffer is the empty state.
    pub(crate) fn from_bytes(mut data: &[u8]) -> Self {
        let mut kv = Kv::default();
        let read_pairs = |data: &mut &[u8], out: &mut BTreeMap<u64, u64>| {
            if data.remaining() < 8 {
                return;
            }
            let n = data.get_u64_le();
            for _ in 0..n {
                if data.remaining() < 16 {
                    return;
                }
                let k = data.get_u64_le();
                out.insert(k, data.get_u64_le());
            }
        };
        read_pairs(&mut data, &mut kv.map);
        read_pairs(&mut data, &mut kv.sessions);
        kv
    }
}
