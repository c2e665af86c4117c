//! A compact, hand-written binary encoding for the data Raft persists and sends.
//!
//! Integers are LEB128 varints (little-endian groups of 7 bits), so small terms, indexes
//! and node ids take one or two bytes. Byte strings and lists carry a varint length first.
//! Sets of node ids are sorted and delta-encoded, which makes their encoding canonical and
//! rules out duplicates by construction.
//!
//! | type | layout |
//! | --- | --- |
//! | [`Entry`] | `term` `index` [`Payload`] |
//! | [`Payload`] | tag `u8`: `0` empty, `1` normal + `len` + bytes, `2` conf change + `count` + [`Change`]s, `3` leave joint, `4` tagged + `origin` + `req` + `len` + bytes |
//! | [`Change`] | tag `u8` (`0` add voter, `1` add learner, `2` remove) + `id` |
//! | [`HardState`] | `term` + vote tag `u8` (`0` none, `1` some + `id`) + `commit` |
//! | [`SnapshotMeta`] | `index` `term` [`Membership`] |
//! | [`Membership`] | four id sets: voters, outgoing, learners, learners_next |
//!
//! Decoding treats its input as untrusted: every length is checked against the bytes that
//! remain before anything is read or allocated, so malformed input yields a [`CodecError`]
//! and never a panic or an oversized allocation.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::membership::{Change, Membership};
use crate::types::{Entry, HardState, NodeId, Payload, SnapshotMeta};

/// Errors decoding bytes. Decoding consumed an unspecified part of the input when one is
/// returned; the input should be discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ends before the value does.
    #[error("truncated input: {what} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        /// The field being decoded.
        what: &'static str,
        /// Bytes the field needs (as declared by the input, for lengths).
        needed: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A varint is longer than 10 bytes or does not fit in a `u64`.
    #[error("varint for {what} overflows 64 bits")]
    VarintOverflow {
        /// The field being decoded.
        what: &'static str,
    },
    /// A tag byte names no known variant.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// The kind of value the tag selects.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A delta-encoded id set overflows `u64`.
    #[error("{what} id set overflows 64 bits")]
    SetOverflow {
        /// The set being decoded.
        what: &'static str,
    },
    /// The four membership sets are inconsistent (see [`Membership::from_parts`]).
    #[error(
        "inconsistent membership: voters {voters:?}, outgoing {outgoing:?}, learners {learners:?}, learners_next {learners_next:?}"
    )]
    InvalidMembership {
        /// Decoded voters.
        voters: BTreeSet<NodeId>,
        /// Decoded outgoing voters.
        outgoing: BTreeSet<NodeId>,
        /// Decoded learners.
        learners: BTreeSet<NodeId>,
        /// Decoded learners pending demotion.
        learners_next: BTreeSet<NodeId>,
    },
    /// A fixed identifying prefix is missing.
    #[error("{what} does not start with its magic bytes")]
    BadMagic {
        /// The value decoded.
        what: &'static str,
    },
    /// Bytes remain after a value that should fill its input.
    #[error("{remaining} trailing bytes after {what}")]
    TrailingBytes {
        /// The value decoded.
        what: &'static str,
        /// Bytes left over.
        remaining: usize,
    },
}

/// A value with a binary encoding.
pub trait Encode {
    /// Appends the encoding to `buf`.
    fn encode<B: BufMut>(&self, buf: &mut B);

    /// The exact number of bytes [`encode`](Encode::encode) appends.
    fn encoded_len(&self) -> usize;

    /// The encoding in a buffer of its own.
    fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }
}

/// A value that can be decoded from untrusted bytes.
pub trait Decode: Sized {
    /// Decodes one value from the front of `buf`, advancing it past the value.
    ///
    /// Decoding from [`Bytes`] shares the input's memory for byte payloads; decoding from a
    /// `&[u8]` copies them.
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError>;

    /// Decodes a value that must fill `buf` entirely.
    fn decode_exact<B: Buf>(mut buf: B) -> Result<Self, CodecError> {
        let value = Self::decode(&mut buf)?;
        if buf.has_remaining() {
            return Err(CodecError::TrailingBytes { what: std::any::type_name::<Self>(), remaining: buf.remaining() });
        }
        Ok(value)
    }
}

// ---------------------------------------------------------------------------------------
// Primitive helpers, shared with the write-ahead log and (later) the message encoding.

/// The number of bytes `put_uvarint(v)` writes.
pub(crate) fn uvarint_len(v: u64) -> usize {
    // 1 byte per started group of 7 significant bits, at least one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Writes `v` as an LEB128 varint.
pub(crate) fn put_uvarint<B: BufMut>(buf: &mut B, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Reads an LEB128 varint of at most 10 bytes.
pub(crate) fn get_uvarint<B: Buf>(buf: &mut B, what: &'static str) -> Result<u64, CodecError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = get_u8(buf, what)?;
        let low = u64::from(byte & 0x7f);
        // The tenth byte may only carry the single remaining bit.
        if shift == 63 && low > 1 {
            return Err(CodecError::VarintOverflow { what });
        }
        value |= low << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(CodecError::VarintOverflow { what })
}

/// Reads one byte.
pub(crate) fn get_u8<B: Buf>(buf: &mut B, what: &'static str) -> Result<u8, CodecError> {
    ensure(buf, 1, what)?;
    Ok(buf.get_u8())
}

/// Fails unless `needed` bytes remain.
pub(crate) fn ensure<B: Buf>(buf: &B, needed: u64, what: &'static str) -> Result<(), CodecError> {
    if needed > buf.remaining() as u64 {
        return Err(CodecError::Truncated { what, needed, remaining: buf.remaining() });
    }
    Ok(())
}

/// Reads a varint length (or element count) and checks that at least `len * min_size`
/// bytes remain, so that a hostile length can neither overrun the input nor make the
/// caller allocate more than the input could fill.
pub(crate) fn get_len<B: Buf>(buf: &mut B, min_size: u64, what: &'static str) -> Result<usize, CodecError> {
    let len = get_uvarint(buf, what)?;
    ensure(buf, len.saturating_mul(min_size), what)?;
    // `len * min_size <= remaining`, and `remaining` is a usize.
    usize::try_from(len).map_err(|_| CodecError::Truncated { what, needed: len, remaining: buf.remaining() })
}

/// Writes a byte string with its varint length.
pub(crate) fn put_bytes<B: BufMut>(buf: &mut B, data: &[u8]) {
    put_uvarint(buf, data.len() as u64);
    buf.put_slice(data);
}

/// Reads a byte string written by [`put_bytes`].
pub(crate) fn get_bytes<B: Buf>(buf: &mut B, what: &'static str) -> Result<Bytes, CodecError> {
    let len = get_len(buf, 1, what)?;
    Ok(buf.copy_to_bytes(len))
}

/// Encoded size of a byte string written by [`put_bytes`].
pub(crate) fn bytes_len(data: &[u8]) -> usize {
    uvarint_len(data.len() as u64) + data.len()
}

/// Writes a sorted id set: count, first id, then each gap minus one.
pub(crate) fn put_id_set<B: BufMut>(buf: &mut B, ids: &BTreeSet<NodeId>) {
    put_uvarint(buf, ids.len() as u64);
    let mut prev: Option<NodeId> = None;
    for &id in ids {
        // BTreeSet iterates strictly increasing, so `id > prev` and the gap is >= 1.
        put_uvarint(buf, prev.map_or(id, |p| id - p - 1));
        prev = Some(id);
    }
}

/// Reads a set written by [`put_id_set`].
pub(crate) fn get_id_set<B: Buf>(buf: &mut B, what: &'static str) -> Result<BTreeSet<NodeId>, CodecError> {
    let count = get_len(buf, 1, what)?;
    let mut ids = BTreeSet::new();
    let mut prev: Option<NodeId> = None;
    for _ in 0..count {
        let delta = get_uvarint(buf, what)?;
        let id = match prev {
            None => delta,
            Some(p) => p.checked_add(delta).and_then(|v| v.checked_add(1)).ok_or(CodecError::SetOverflow { what })?,
        };
        ids.insert(id);
        prev = Some(id);
    }
    Ok(ids)
}

fn id_set_len(ids: &BTreeSet<NodeId>) -> usize {
    let mut len = uvarint_len(ids.len() as u64);
    let mut prev: Option<NodeId> = None;
    for &id in ids {
        len += uvarint_len(prev.map_or(id, |p| id - p - 1));
        prev = Some(id);
    }
    len
}

// ---------------------------------------------------------------------------------------
// Raft types.

const PAYLOAD_EMPTY: u8 = 0;
const PAYLOAD_NORMAL: u8 = 1;
const PAYLOAD_CONF_CHANGE: u8 = 2;
const PAYLOAD_LEAVE_JOINT: u8 = 3;
const PAYLOAD_TAGGED: u8 = 4;

const CHANGE_ADD_VOTER: u8 = 0;
const CHANGE_ADD_LEARNER: u8 = 1;
const CHANGE_REMOVE: u8 = 2;

impl Encode for Change {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        let (tag, id) = match *self {
            Change::AddVoter(id) => (CHANGE_ADD_VOTER, id),
            Change::AddLearner(id) => (CHANGE_ADD_LEARNER, id),
            Change::Remove(id) => (CHANGE_REMOVE, id),
        };
        buf.put_u8(tag);
        put_uvarint(buf, id);
    }

    fn encoded_len(&self) -> usize {
        let (Change::AddVoter(id) | Change::AddLearner(id) | Change::Remove(id)) = *self;
        1 + uvarint_len(id)
    }
}

impl Decode for Change {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let tag = get_u8(buf, "change")?;
        let id = get_uvarint(buf, "change id")?;
        match tag {
            CHANGE_ADD_VOTER => Ok(Change::AddVoter(id)),
            CHANGE_ADD_LEARNER => Ok(Change::AddLearner(id)),
            CHANGE_REMOVE => Ok(Change::Remove(id)),
            tag => Err(CodecError::UnknownTag { what: "change", tag }),
        }
    }
}

impl Encode for Payload {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            Payload::Empty => buf.put_u8(PAYLOAD_EMPTY),
            Payload::Normal(data) => {
                buf.put_u8(PAYLOAD_NORMAL);
                put_bytes(buf, data);
            }
            Payload::ConfChange(changes) => {
                buf.put_u8(PAYLOAD_CONF_CHANGE);
                put_uvarint(buf, changes.len() as u64);
                for change in changes {
                    change.encode(buf);
                }
            }
            Payload::LeaveJoint => buf.put_u8(PAYLOAD_LEAVE_JOINT),
            Payload::Tagged { origin, req, data } => {
                buf.put_u8(PAYLOAD_TAGGED);
                put_uvarint(buf, *origin);
                put_uvarint(buf, *req);
                put_bytes(buf, data);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        1 + match self {
            Payload::Empty | Payload::LeaveJoint => 0,
            Payload::Normal(data) => bytes_len(data),
            Payload::Tagged { origin, req, data } => uvarint_len(*origin) + uvarint_len(*req) + bytes_len(data),
            Payload::ConfChange(changes) => {
                uvarint_len(changes.len() as u64) + changes.iter().map(Encode::encoded_len).sum::<usize>()
            }
        }
    }
}

impl Decode for Payload {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        match get_u8(buf, "payload")? {
            PAYLOAD_EMPTY => Ok(Payload::Empty),
            PAYLOAD_NORMAL => Ok(Payload::Normal(get_bytes(buf, "payload data")?)),
            PAYLOAD_CONF_CHANGE => {
                // A change takes at least two bytes (tag and id).
                let count = get_len(buf, 2, "conf change")?;
                let mut changes = Vec::with_capacity(count);
                for _ in 0..count {
                    changes.push(Change::decode(buf)?);
                }
                Ok(Payload::ConfChange(changes))
            }
            PAYLOAD_LEAVE_JOINT => Ok(Payload::LeaveJoint),
            PAYLOAD_TAGGED => Ok(Payload::Tagged {
                origin: get_uvarint(buf, "proposal origin")?,
                req: get_uvarint(buf, "proposal request")?,
                data: get_bytes(buf, "payload data")?,
            }),
            tag => Err(CodecError::UnknownTag { what: "payload", tag }),
        }
    }
}

impl Encode for Entry {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_uvarint(buf, self.term);
        put_uvarint(buf, self.index);
        self.payload.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        uvarint_len(self.term) + uvarint_len(self.index) + self.payload.encoded_len()
    }
}

/// Checks that `body` is exactly one well-formed entry, without allocating or copying the
/// payload. Cheap enough to run at every byte offset when scanning damaged data.
pub(crate) fn is_entry(mut body: &[u8]) -> bool {
    let buf = &mut body;
    let header_ok = get_uvarint(buf, "entry term").is_ok() && get_uvarint(buf, "entry index").is_ok();
    if !header_ok {
        return false;
    }
    match get_u8(buf, "payload") {
        Ok(PAYLOAD_EMPTY | PAYLOAD_LEAVE_JOINT) => buf.is_empty(),
        Ok(PAYLOAD_NORMAL) => get_uvarint(buf, "payload data").is_ok_and(|len| len == buf.len() as u64),
        Ok(PAYLOAD_CONF_CHANGE) => {
            let Ok(count) = get_len(buf, 2, "conf change") else { return false };
            (0..count).all(|_| Change::decode(buf).is_ok()) && buf.is_empty()
        }
        _ => false,
    }
}

impl Decode for Entry {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let term = get_uvarint(buf, "entry term")?;
        let index = get_uvarint(buf, "entry index")?;
        let payload = Payload::decode(buf)?;
        Ok(Entry { term, index, payload })
    }
}

impl Encode for HardState {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_uvarint(buf, self.term);
        // A tag rather than "0 means none": the encoding must not depend on id 0 being
        // reserved to round-trip every value.
        match self.vote {
            None => buf.put_u8(0),
            Some(id) => {
                buf.put_u8(1);
                put_uvarint(buf, id);
            }
        }
        put_uvarint(buf, self.commit);
    }

    fn encoded_len(&self) -> usize {
        uvarint_len(self.term) + 1 + self.vote.map_or(0, uvarint_len) + uvarint_len(self.commit)
    }
}

impl Decode for HardState {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let term = get_uvarint(buf, "hard state term")?;
        let vote = match get_u8(buf, "hard state vote")? {
            0 => None,
            1 => Some(get_uvarint(buf, "hard state vote")?),
            tag => return Err(CodecError::UnknownTag { what: "vote", tag }),
        };
        let commit = get_uvarint(buf, "hard state commit")?;
        Ok(HardState { term, vote, commit })
    }
}

impl Encode for Membership {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_id_set(buf, self.voters());
        put_id_set(buf, self.outgoing());
        put_id_set(buf, self.learners());
        put_id_set(buf, self.learners_next());
    }

    fn encoded_len(&self) -> usize {
        id_set_len(self.voters())
            + id_set_len(self.outgoing())
            + id_set_len(self.learners())
            + id_set_len(self.learners_next())
    }
}

impl Decode for Membership {
    /// Decodes the four sets and validates them with [`Membership::from_parts`]. All four
    /// empty decodes as [`Membership::default`], the membership of a node that has not
    /// joined a group yet, so that [`SnapshotMeta::default`] round-trips.
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let voters = get_id_set(buf, "voters")?;
        let outgoing = get_id_set(buf, "outgoing voters")?;
        let learners = get_id_set(buf, "learners")?;
        let learners_next = get_id_set(buf, "learners next")?;
        if voters.is_empty() && outgoing.is_empty() && learners.is_empty() && learners_next.is_empty() {
            return Ok(Membership::default());
        }
        match Membership::from_parts(voters.clone(), outgoing.clone(), learners.clone(), learners_next.clone()) {
            Some(membership) => Ok(membership),
            None => Err(CodecError::InvalidMembership { voters, outgoing, learners, learners_next }),
        }
    }
}

impl Encode for SnapshotMeta {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put_uvarint(buf, self.index);
        put_uvarint(buf, self.term);
        self.membership.encode(buf);
    }

    fn encoded_len(&self) -> usize {
        uvarint_len(self.index) + uvarint_len(self.term) + self.membership.encoded_len()
    }
}

impl Decode for SnapshotMeta {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let index = get_uvarint(buf, "snapshot index")?;
        let term = get_uvarint(buf, "snapshot term")?;
        let membership = Membership::decode(buf)?;
        Ok(SnapshotMeta { index, term, membership })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(value: &T) {
        let bytes = value.to_bytes();
        assert_eq!(bytes.len(), value.encoded_len(), "encoded_len of {value:?}");
        assert_eq!(&T::decode_exact(bytes.clone()).unwrap(), value, "from Bytes");
        assert_eq!(&T::decode_exact(&bytes[..]).unwrap(), value, "from a slice");
        // Every strict prefix is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(T::decode_exact(&bytes[..cut]).is_err(), "prefix of {cut} bytes of {value:?} decoded");
        }
    }

    #[test]
    fn varints() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut buf = Vec::new();
            put_uvarint(&mut buf, v);
            assert_eq!(buf.len(), uvarint_len(v), "{v}");
            assert_eq!(get_uvarint(&mut &buf[..], "v"), Ok(v));
        }
        assert_eq!(uvarint_len(u64::MAX), 10);
        // 11 continuation bytes, and a tenth byte carrying more than the last bit.
        let long = [0xffu8; 11];
        assert_eq!(get_uvarint(&mut &long[..], "v"), Err(CodecError::VarintOverflow { what: "v" }));
        let mut wide = [0xffu8; 10];
        wide[9] = 0x02;
        assert_eq!(get_uvarint(&mut &wide[..], "v"), Err(CodecError::VarintOverflow { what: "v" }));
        assert!(matches!(get_uvarint(&mut &[0x80u8][..], "v"), Err(CodecError::Truncated { .. })));
    }

    #[test]
    fn entries() {
        round_trip(&Entry { term: 0, index: 0, payload: Payload::Empty });
        round_trip(&Entry { term: 3, index: 17, payload: Payload::Normal(Bytes::from_static(b"hello")) });
        round_trip(&Entry { term: u64::MAX, index: u64::MAX, payload: Payload::Normal(Bytes::new()) });
        round_trip(&Entry { term: 1, index: 2, payload: Payload::LeaveJoint });
        round_trip(&Entry {
            term: 9,
            index: 1 << 40,
            payload: Payload::ConfChange(vec![Change::AddVoter(4), Change::AddLearner(u64::MAX), Change::Remove(1)]),
        });
        for entry in [
            Entry { term: 1, index: 2, payload: Payload::LeaveJoint },
            Entry { term: 3, index: 4, payload: Payload::Normal(Bytes::from_static(b"abc")) },
            Entry { term: 3, index: 4, payload: Payload::ConfChange(vec![Change::Remove(3)]) },
        ] {
            let bytes = entry.to_bytes();
            assert!(is_entry(&bytes), "{entry:?}");
            assert!(!is_entry(&bytes[..bytes.len() - 1]), "{entry:?} truncated");
            assert!(!is_entry(&[&bytes[..], &[0]].concat()), "{entry:?} with a trailing byte");
        }
        let small = Entry { term: 2, index: 5, payload: Payload::Normal(Bytes::from_static(b"x")) };
        assert_eq!(small.to_bytes().len(), 5, "term, index, tag, length and one byte");
    }

    #[test]
    fn hard_states_and_snapshots() {
        round_trip(&HardState::default());
        round_trip(&HardState { term: 7, vote: Some(3), commit: 99 });
        round_trip(&HardState { term: 7, vote: Some(0), commit: 0 });
        round_trip(&SnapshotMeta::default());
        round_trip(&SnapshotMeta { index: 10, term: 2, membership: Membership::with_learners([1, 2, 3], [9]) });
        let joint = Membership::new([1, 2, 3]).apply(&[Change::AddVoter(4), Change::AddLearner(3)]).unwrap();
        assert!(joint.is_joint() && !joint.learners_next().is_empty());
        round_trip(&SnapshotMeta { index: 1 << 33, term: 5, membership: joint });
    }

    #[test]
    fn hostile_input() {
        // A payload claiming 2^60 bytes.
        let mut buf = vec![1, 1, PAYLOAD_NORMAL];
        put_uvarint(&mut buf, 1 << 60);
        assert!(matches!(Entry::decode_exact(&buf[..]), Err(CodecError::Truncated { what: "payload data", .. })));
        // A conf change claiming u64::MAX changes: rejected before allocating.
        let mut buf = vec![1, 1, PAYLOAD_CONF_CHANGE];
        put_uvarint(&mut buf, u64::MAX);
        assert!(matches!(Entry::decode_exact(&buf[..]), Err(CodecError::Truncated { what: "conf change", .. })));
        // Unknown tags.
        assert_eq!(Entry::decode_exact(&[1u8, 1, 9][..]), Err(CodecError::UnknownTag { what: "payload", tag: 9 }));
        assert_eq!(Change::decode_exact(&[7u8, 1][..]), Err(CodecError::UnknownTag { what: "change", tag: 7 }));
        assert_eq!(HardState::decode_exact(&[1u8, 2, 0][..]), Err(CodecError::UnknownTag { what: "vote", tag: 2 }));
        // Trailing bytes.
        assert!(matches!(HardState::decode_exact(&[1u8, 0, 0, 0][..]), Err(CodecError::TrailingBytes { .. })));
        // An id set whose deltas overflow.
        let mut buf = Vec::new();
        put_uvarint(&mut buf, 2);
        put_uvarint(&mut buf, u64::MAX);
        put_uvarint(&mut buf, 0);
        assert_eq!(Membership::decode(&mut &buf[..]), Err(CodecError::SetOverflow { what: "voters" }));
        // A learner who also votes.
        let mut buf = Vec::new();
        for set in [&[1u64][..], &[], &[1], &[]] {
            put_id_set(&mut buf, &set.iter().copied().collect());
        }
        assert!(matches!(Membership::decode_exact(&buf[..]), Err(CodecError::InvalidMembership { .. })));
    }

    fn membership() -> impl Strategy<Value = Membership> {
        // Each id gets a role; the combination is then made consistent.
        prop::collection::btree_map(1..u64::MAX, 0..6u8, 0..8).prop_map(|roles| {
            let (mut voters, mut outgoing, mut learners, mut next) =
                (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
            for (id, role) in roles {
                match role {
                    0 => {}
                    1 => _ = voters.insert(id),
                    2 => _ = voters.insert(id) | outgoing.insert(id),
                    3 => _ = outgoing.insert(id),
                    4 => _ = learners.insert(id),
                    _ => _ = outgoing.insert(id) | next.insert(id),
                }
            }
            if outgoing.is_empty() {
                next.clear();
            }
            if voters.is_empty() {
                return Membership::default();
            }
            Membership::from_parts(voters, outgoing, learners, next).unwrap()
        })
    }

    fn payload() -> impl Strategy<Value = Payload> {
        let change = prop_oneof![
            any::<u64>().prop_map(Change::AddVoter),
            any::<u64>().prop_map(Change::AddLearner),
            any::<u64>().prop_map(Change::Remove),
        ];
        prop_oneof![
            Just(Payload::Empty),
            Just(Payload::LeaveJoint),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|d| Payload::Normal(Bytes::from(d))),
            prop::collection::vec(change, 0..6).prop_map(Payload::ConfChange),
        ]
    }

    proptest! {
        #[test]
        fn entry_round_trip(term in any::<u64>(), index in any::<u64>(), payload in payload()) {
            let entry = Entry { term, index, payload };
            let bytes = entry.to_bytes();
            prop_assert_eq!(bytes.len(), entry.encoded_len());
            prop_assert_eq!(Entry::decode_exact(bytes)?, entry);
        }

        #[test]
        fn state_round_trip(term in any::<u64>(), vote in any::<Option<u64>>(), commit in any::<u64>(),
                            index in any::<u64>(), membership in membership()) {
            let hs = HardState { term, vote, commit };
            prop_assert_eq!(HardState::decode_exact(hs.to_bytes())?, hs);
            let meta = SnapshotMeta { index, term, membership };
            let bytes = meta.to_bytes();
            prop_assert_eq!(bytes.len(), meta.encoded_len());
            prop_assert_eq!(SnapshotMeta::decode_exact(bytes)?, meta);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Entry::decode_exact(&data[..]);
            let _ = HardState::decode_exact(&data[..]);
            let _ = SnapshotMeta::decode_exact(&data[..]);
        }
    }
}
