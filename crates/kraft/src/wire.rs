//! The binary encoding of [`Message`]s, built on [`codec`](crate::codec)'s primitives.
//!
//! Layout: `from` `to` `term` then a tag byte and the body's fields, all varints except
//! byte strings (length-prefixed) and entries (their own encoding).

use bytes::{Buf, BufMut, Bytes};

use crate::codec::{self, CodecError, Decode, Encode};
use crate::message::{Message, MessageBody};
use crate::types::{Entry, Payload, Snapshot, SnapshotMeta};

const PROPOSE: u8 = 0;
const PRE_VOTE: u8 = 1;
const PRE_VOTE_RESP: u8 = 2;
const VOTE: u8 = 3;
const VOTE_RESP: u8 = 4;
const APPEND: u8 = 5;
const APPEND_RESP: u8 = 6;
const HEARTBEAT: u8 = 7;
const HEARTBEAT_RESP: u8 = 8;
const SNAPSHOT: u8 = 9;
const TIMEOUT_NOW: u8 = 10;
const READ_INDEX: u8 = 11;
const READ_INDEX_RESP: u8 = 12;

fn put(buf: &mut impl BufMut, values: &[u64]) {
    for &v in values {
        codec::put_uvarint(buf, v);
    }
}

impl Encode for Message {
    fn encode<B: BufMut>(&self, buf: &mut B) {
        put(buf, &[self.from, self.to, self.term]);
        match &self.body {
            MessageBody::Propose { entries } => {
                buf.put_u8(PROPOSE);
                codec::put_uvarint(buf, entries.len() as u64);
                for e in entries {
                    e.encode(buf);
                }
            }
            MessageBody::PreVote { last_index, last_term } => {
                buf.put_u8(PRE_VOTE);
                put(buf, &[*last_index, *last_term]);
            }
            MessageBody::PreVoteResp { reject } => {
                buf.put_u8(PRE_VOTE_RESP);
                buf.put_u8(u8::from(*reject));
            }
            MessageBody::Vote { last_index, last_term, transfer } => {
                buf.put_u8(VOTE);
                put(buf, &[*last_index, *last_term]);
                buf.put_u8(u8::from(*transfer));
            }
            MessageBody::VoteResp { reject } => {
                buf.put_u8(VOTE_RESP);
                buf.put_u8(u8::from(*reject));
            }
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                buf.put_u8(APPEND);
                put(buf, &[*prev_index, *prev_term, *commit, entries.len() as u64]);
                for e in entries {
                    e.encode(buf);
                }
            }
            MessageBody::AppendResp { reject, index, reject_hint, log_term } => {
                buf.put_u8(APPEND_RESP);
                buf.put_u8(u8::from(*reject));
                put(buf, &[*index, *reject_hint, *log_term]);
            }
            MessageBody::Heartbeat { commit, read_round } => {
                buf.put_u8(HEARTBEAT);
                put(buf, &[*commit, *read_round]);
            }
            MessageBody::HeartbeatResp { read_round } => {
                buf.put_u8(HEARTBEAT_RESP);
                put(buf, &[*read_round]);
            }
            MessageBody::Snapshot { snapshot } => {
                buf.put_u8(SNAPSHOT);
                snapshot.meta.encode(buf);
                codec::put_bytes(buf, &snapshot.data);
            }
            MessageBody::TimeoutNow => buf.put_u8(TIMEOUT_NOW),
            MessageBody::ReadIndex { ctx } => {
                buf.put_u8(READ_INDEX);
                put(buf, &[*ctx]);
            }
            MessageBody::ReadIndexResp { ctx, index } => {
                buf.put_u8(READ_INDEX_RESP);
                put(buf, &[*ctx, *index]);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        let ints = |vs: &[u64]| vs.iter().map(|&v| codec::uvarint_len(v)).sum::<usize>();
        let head = ints(&[self.from, self.to, self.term]) + 1;
        head + match &self.body {
            MessageBody::Propose { entries } => {
                codec::uvarint_len(entries.len() as u64) + entries.iter().map(Encode::encoded_len).sum::<usize>()
            }
            MessageBody::PreVote { last_index, last_term } => ints(&[*last_index, *last_term]),
            MessageBody::PreVoteResp { .. } | MessageBody::VoteResp { .. } => 1,
            MessageBody::Vote { last_index, last_term, .. } => ints(&[*last_index, *last_term]) + 1,
            MessageBody::Append { prev_index, prev_term, entries, commit } => {
                ints(&[*prev_index, *prev_term, *commit, entries.len() as u64])
                    + entries.iter().map(Encode::encoded_len).sum::<usize>()
            }
            MessageBody::AppendResp { index, reject_hint, log_term, .. } => {
                1 + ints(&[*index, *reject_hint, *log_term])
            }
            MessageBody::Heartbeat { commit, read_round } => ints(&[*commit, *read_round]),
            MessageBody::HeartbeatResp { read_round } => ints(&[*read_round]),
            MessageBody::Snapshot { snapshot } => snapshot.meta.encoded_len() + codec::bytes_len(&snapshot.data),
            MessageBody::TimeoutNow => 0,
            MessageBody::ReadIndex { ctx } => ints(&[*ctx]),
            MessageBody::ReadIndexResp { ctx, index } => ints(&[*ctx, *index]),
        }
    }
}

fn flag<B: Buf>(buf: &mut B, what: &'static str) -> Result<bool, CodecError> {
    match codec::get_u8(buf, what)? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(CodecError::UnknownTag { what, tag }),
    }
}

impl Decode for Message {
    fn decode<B: Buf>(buf: &mut B) -> Result<Self, CodecError> {
        let from = codec::get_uvarint(buf, "message from")?;
        let to = codec::get_uvarint(buf, "message to")?;
        let term = codec::get_uvarint(buf, "message term")?;
        let tag = codec::get_u8(buf, "message tag")?;
        let body = match tag {
            PROPOSE => {
                // Each payload takes at least its one-byte tag.
                let n = codec::get_len(buf, 1, "proposal count")?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(Payload::decode(buf)?);
                }
                MessageBody::Propose { entries }
            }
            PRE_VOTE => MessageBody::PreVote {
                last_index: codec::get_uvarint(buf, "last index")?,
                last_term: codec::get_uvarint(buf, "last term")?,
            },
            PRE_VOTE_RESP => MessageBody::PreVoteResp { reject: flag(buf, "reject")? },
            VOTE => MessageBody::Vote {
                last_index: codec::get_uvarint(buf, "last index")?,
                last_term: codec::get_uvarint(buf, "last term")?,
                transfer: flag(buf, "transfer")?,
            },
            VOTE_RESP => MessageBody::VoteResp { reject: flag(buf, "reject")? },
            APPEND => {
                let prev_index = codec::get_uvarint(buf, "prev index")?;
                let prev_term = codec::get_uvarint(buf, "prev term")?;
                let commit = codec::get_uvarint(buf, "commit")?;
                // An entry takes at least three bytes.
                let n = codec::get_len(buf, 3, "entry count")?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(Entry::decode(buf)?);
                }
                MessageBody::Append { prev_index, prev_term, entries, commit }
            }
            APPEND_RESP => MessageBody::AppendResp {
                reject: flag(buf, "reject")?,
                index: codec::get_uvarint(buf, "index")?,
                reject_hint: codec::get_uvarint(buf, "reject hint")?,
                log_term: codec::get_uvarint(buf, "log term")?,
            },
            HEARTBEAT => MessageBody::Heartbeat {
                commit: codec::get_uvarint(buf, "commit")?,
                read_round: codec::get_uvarint(buf, "read round")?,
            },
            HEARTBEAT_RESP => MessageBody::HeartbeatResp { read_round: codec::get_uvarint(buf, "read round")? },
            SNAPSHOT => {
                let meta = SnapshotMeta::decode(buf)?;
                let data: Bytes = codec::get_bytes(buf, "snapshot data")?;
                MessageBody::Snapshot { snapshot: Snapshot { meta, data } }
            }
            TIMEOUT_NOW => MessageBody::TimeoutNow,
            READ_INDEX => MessageBody::ReadIndex { ctx: codec::get_uvarint(buf, "ctx")? },
            READ_INDEX_RESP => MessageBody::ReadIndexResp {
                ctx: codec::get_uvarint(buf, "ctx")?,
                index: codec::get_uvarint(buf, "index")?,
            },
            tag => return Err(CodecError::UnknownTag { what: "message", tag }),
        };
        Ok(Message { from, to, term, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::{Change, Membership};
    use crate::types::Payload;

    fn all() -> Vec<Message> {
        let m = |body| Message { from: 1, to: 2, term: 300, body };
        vec![
            m(MessageBody::Propose {
                entries: vec![
                    Payload::Normal(Bytes::from_static(b"a")),
                    Payload::Tagged { origin: 3, req: 1 << 40, data: Bytes::new() },
                ],
            }),
            m(MessageBody::PreVote { last_index: 10, last_term: 2 }),
            m(MessageBody::PreVoteResp { reject: true }),
            m(MessageBody::Vote { last_index: 1 << 40, last_term: 3, transfer: true }),
            m(MessageBody::VoteResp { reject: false }),
            m(MessageBody::Append {
                prev_index: 5,
                prev_term: 1,
                entries: vec![
                    Entry { term: 2, index: 6, payload: Payload::Normal(Bytes::from_static(b"xyz")) },
                    Entry { term: 2, index: 7, payload: Payload::ConfChange(vec![Change::AddVoter(4)]) },
                    Entry { term: 2, index: 8, payload: Payload::LeaveJoint },
                    Entry { term: 2, index: 9, payload: Payload::Empty },
                ],
                commit: 4,
            }),
            m(MessageBody::AppendResp { reject: true, index: 9, reject_hint: 3, log_term: 1 }),
            m(MessageBody::Heartbeat { commit: 7, read_round: 99 }),
            m(MessageBody::HeartbeatResp { read_round: 99 }),
            m(MessageBody::Snapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta { index: 100, term: 4, membership: Membership::with_learners([1, 2, 3], [9]) },
                    data: Bytes::from(vec![7u8; 1000]),
                },
            }),
            m(MessageBody::TimeoutNow),
            m(MessageBody::ReadIndex { ctx: 42 }),
            m(MessageBody::ReadIndexResp { ctx: 42, index: 17 }),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for msg in all() {
            let bytes = msg.to_bytes();
            assert_eq!(bytes.len(), msg.encoded_len(), "{}", msg.kind());
            assert_eq!(Message::decode_exact(bytes).unwrap(), msg);
        }
    }

    #[test]
    fn truncated_or_garbage_input_is_an_error() {
        for msg in all() {
            let bytes = msg.to_bytes();
            for cut in 0..bytes.len() {
                assert!(Message::decode_exact(bytes.slice(..cut)).is_err(), "{} cut at {cut}", msg.kind());
            }
        }
        assert!(Message::decode_exact(&[1u8, 2, 3, 200][..]).is_err());
        // A huge claimed count must not allocate.
        assert!(Message::decode_exact(&[1u8, 2, 3, PROPOSE, 0xff, 0xff, 0xff, 0xff, 0x0f][..]).is_err());
    }
}
