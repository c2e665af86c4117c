//! The binary encoding of replicated commands and of state snapshots: varints and
//! length-prefixed byte strings. Decoding checks every length, so corrupt input is an
//! error, never a panic or a huge allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::types::*;

/// Malformed input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended early.
    #[error("truncated input while reading {0}")]
    Truncated(&'static str),
    /// An unknown tag.
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// What was being read.
        what: &'static str,
        /// The tag.
        tag: u8,
    },
    /// A varint longer than 64 bits.
    #[error("varint overflow while reading {0}")]
    Overflow(&'static str),
}

/// Appends values.
#[derive(Debug, Default)]
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// The bytes written.
    pub fn finish(self) -> Bytes {
        self.buf.freeze()
    }
    /// A varint.
    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }
    /// A signed varint (zigzag).
    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }
    /// A byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }
    /// A flag.
    pub fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.buf.put_slice(v);
    }
    /// A key-value.
    pub fn kv(&mut self, kv: &KeyValue) {
        self.bytes(&kv.key);
        self.i64(kv.create_revision);
        self.i64(kv.mod_revision);
        self.i64(kv.version);
        self.bytes(&kv.value);
        self.i64(kv.lease);
    }
}

/// Reads values from shared bytes (byte strings are zero-copy slices).
#[derive(Debug)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A reader over `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }
    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// A varint.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            if !self.buf.has_remaining() {
                return Err(CodecError::Truncated(what));
            }
            let b = self.buf.get_u8();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Overflow(what))
    }
    /// A signed varint.
    pub fn i64(&mut self, what: &'static str) -> Result<i64, CodecError> {
        let u = self.u64(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    /// A byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        if !self.buf.has_remaining() {
            return Err(CodecError::Truncated(what));
        }
        Ok(self.buf.get_u8())
    }
    /// A flag.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, CodecError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(CodecError::Tag { what, tag }),
        }
    }
    /// A length-prefixed byte string.
    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes, CodecError> {
        let len = self.u64(what)?;
        if len > self.buf.len() as u64 {
            return Err(CodecError::Truncated(what));
        }
        Ok(self.buf.split_to(len as usize))
    }
    /// A count of items, each at least `min_size` bytes (so the count cannot exceed what the
    /// input can hold).
    pub fn count(&mut self, what: &'static str, min_size: usize) -> Result<usize, CodecError> {
        let n = self.u64(what)?;
        if n.saturating_mul(min_size.max(1) as u64) > self.buf.len() as u64 {
            return Err(CodecError::Truncated(what));
        }
        Ok(n as usize)
    }
    /// A key-value.
    pub fn kv(&mut self) -> Result<KeyValue, CodecError> {
        Ok(KeyValue {
            key: self.bytes("key")?,
            create_revision: self.i64("create revision")?,
            mod_revision: self.i64("mod revision")?,
            version: self.i64("version")?,
            value: self.bytes("value")?,
            lease: self.i64("lease")?,
        })
    }
}

impl Writer {
    /// A range request.
    pub fn range(&mut self, r: &RangeRequest) {
        self.bytes(&r.key);
        self.bytes(&r.range_end);
        for v in
            [r.limit, r.revision, r.min_mod_revision, r.max_mod_revision, r.min_create_revision, r.max_create_revision]
        {
            self.i64(v);
        }
        self.u8(r.sort_order as u8);
        self.u8(r.sort_target as u8);
        self.bool(r.serializable);
        self.bool(r.keys_only);
        self.bool(r.count_only);
    }
    /// A put request.
    pub fn put(&mut self, p: &PutRequest) {
        self.bytes(&p.key);
        self.bytes(&p.value);
        self.i64(p.lease);
        self.bool(p.prev_kv);
        self.bool(p.ignore_value);
        self.bool(p.ignore_lease);
    }
    /// A delete request.
    pub fn delete(&mut self, d: &DeleteRangeRequest) {
        self.bytes(&d.key);
        self.bytes(&d.range_end);
        self.bool(d.prev_kv);
    }
    /// A transaction.
    pub fn txn(&mut self, t: &TxnRequest) {
        self.u64(t.compare.len() as u64);
        for c in &t.compare {
            self.bytes(&c.key);
            self.bytes(&c.range_end);
            self.u8(c.result as u8);
            match &c.target {
                CompareTarget::Version(v) => {
                    self.u8(0);
                    self.i64(*v);
                }
                CompareTarget::Create(v) => {
                    self.u8(1);
                    self.i64(*v);
                }
                CompareTarget::Mod(v) => {
                    self.u8(2);
                    self.i64(*v);
                }
                CompareTarget::Value(v) => {
                    self.u8(3);
                    self.bytes(v);
                }
                CompareTarget::Lease(v) => {
                    self.u8(4);
                    self.i64(*v);
                }
            }
        }
        for ops in [&t.success, &t.failure] {
            self.u64(ops.len() as u64);
            for op in ops {
                match op {
                    RequestOp::Range(r) => {
                        self.u8(0);
                        self.range(r);
                    }
                    RequestOp::Put(p) => {
                        self.u8(1);
                        self.put(p);
                    }
                    RequestOp::DeleteRange(d) => {
                        self.u8(2);
                        self.delete(d);
                    }
                    RequestOp::Txn(t) => {
                        self.u8(3);
                        self.txn(t);
                    }
                }
            }
        }
    }
}

fn sort_order(tag: u8) -> Result<SortOrder, CodecError> {
    Ok(match tag {
        0 => SortOrder::None,
        1 => SortOrder::Ascend,
        2 => SortOrder::Descend,
        tag => return Err(CodecError::Tag { what: "sort order", tag }),
    })
}

fn sort_target(tag: u8) -> Result<SortTarget, CodecError> {
    Ok(match tag {
        0 => SortTarget::Key,
        1 => SortTarget::Version,
        2 => SortTarget::Create,
        3 => SortTarget::Mod,
        4 => SortTarget::Value,
        tag => return Err(CodecError::Tag { what: "sort target", tag }),
    })
}

impl Reader {
    /// A range request.
    pub fn range(&mut self) -> Result<RangeRequest, CodecError> {
        let key = self.bytes("key")?;
        let range_end = self.bytes("range end")?;
        let mut ints = [0i64; 6];
        for v in &mut ints {
            *v = self.i64("range field")?;
        }
        Ok(RangeRequest {
            key,
            range_end,
            limit: ints[0],
            revision: ints[1],
            min_mod_revision: ints[2],
            max_mod_revision: ints[3],
            min_create_revision: ints[4],
            max_create_revision: ints[5],
            sort_order: sort_order(self.u8("sort order")?)?,
            sort_target: sort_target(self.u8("sort target")?)?,
            serializable: self.bool("serializable")?,
            keys_only: self.bool("keys only")?,
            count_only: self.bool("count only")?,
        })
    }
    /// A put request.
    pub fn put(&mut self) -> Result<PutRequest, CodecError> {
        Ok(PutRequest {
            key: self.bytes("key")?,
            value: self.bytes("value")?,
            lease: self.i64("lease")?,
            prev_kv: self.bool("prev kv")?,
            ignore_value: self.bool("ignore value")?,
            ignore_lease: self.bool("ignore lease")?,
        })
    }
    /// A delete request.
    pub fn delete(&mut self) -> Result<DeleteRangeRequest, CodecError> {
        Ok(DeleteRangeRequest {
            key: self.bytes("key")?,
            range_end: self.bytes("range end")?,
            prev_kv: self.bool("prev kv")?,
        })
    }
    /// A transaction (nesting is bounded by the input's length).
    pub fn txn(&mut self) -> Result<TxnRequest, CodecError> {
        let n = self.count("compares", 4)?;
        let mut compare = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.bytes("compare key")?;
            let range_end = self.bytes("compare range end")?;
            let result = match self.u8("compare result")? {
                0 => CompareResult::Equal,
                1 => CompareResult::Greater,
                2 => CompareResult::Less,
                3 => CompareResult::NotEqual,
                tag => return Err(CodecError::Tag { what: "compare result", tag }),
            };
            let target = match self.u8("compare target")? {
                0 => CompareTarget::Version(self.i64("version")?),
                1 => CompareTarget::Create(self.i64("create")?),
                2 => CompareTarget::Mod(self.i64("mod")?),
                3 => CompareTarget::Value(self.bytes("value")?),
                4 => CompareTarget::Lease(self.i64("lease")?),
                tag => return Err(CodecError::Tag { what: "compare target", tag }),
            };
            compare.push(Compare { key, range_end, result, target });
        }
        let mut branches = [Vec::new(), Vec::new()];
        for branch in &mut branches {
            let n = self.count("ops", 2)?;
            for _ in 0..n {
                branch.push(match self.u8("op")? {
                    0 => RequestOp::Range(self.range()?),
                    1 => RequestOp::Put(self.put()?),
                    2 => RequestOp::DeleteRange(self.delete()?),
                    3 => RequestOp::Txn(self.txn()?),
                    tag => return Err(CodecError::Tag { what: "op", tag }),
                });
            }
        }
        let [success, failure] = branches;
        Ok(TxnRequest { compare, success, failure })
    }
}
