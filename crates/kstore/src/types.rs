//! The etcd data model: key-values with revisions, and the requests and responses of the
//! KV API, as plain Rust types (the gRPC layer maps them to protobuf).

use bytes::Bytes;

/// A key's value at one revision (etcd `mvccpb.KeyValue`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// Revision of the key's creation (of its current generation).
    pub create_revision: i64,
    /// Revision of the last modification.
    pub mod_revision: i64,
    /// Number of modifications since creation (1 after creation).
    pub version: i64,
    /// The value.
    pub value: Bytes,
    /// Attached lease id, 0 for none.
    pub lease: i64,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Created or updated.
    Put,
    /// Deleted.
    Delete,
}

/// One change, as watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The new key-value; for a delete, the key with `mod_revision` = the deleting revision
    /// and everything else zero.
    pub kv: KeyValue,
    /// The previous key-value, when it existed (and was asked for).
    pub prev_kv: Option<KeyValue>,
}

/// Sort direction of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Key order (no explicit sort).
    #[default]
    None,
    /// Ascending.
    Ascend,
    /// Descending.
    Descend,
}

/// What a range is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Mod,
    /// The value.
    Value,
}

/// A read of a key or range (etcd `RangeRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// First key.
    pub key: Bytes,
    /// End of the range (exclusive); empty for the single key, `\0` for every key >= `key`.
    pub range_end: Bytes,
    /// Most keys to return; 0 for no limit.
    pub limit: i64,
    /// Revision to read at; 0 for the latest.
    pub revision: i64,
    /// Sort order.
    pub sort_order: SortOrder,
    /// Sort target.
    pub sort_target: SortTarget,
    /// Serve from the local replica without a quorum round trip.
    pub serializable: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Only keys modified at or after this revision (0 = no bound).
    pub min_mod_revision: i64,
    /// Only keys modified at or before this revision (0 = no bound).
    pub max_mod_revision: i64,
    /// Only keys created at or after this revision (0 = no bound).
    pub min_create_revision: i64,
    /// Only keys created at or before this revision (0 = no bound).
    pub max_create_revision: i64,
}

impl RangeRequest {
    /// A read of one key.
    pub fn key(key: impl Into<Bytes>) -> Self {
        Self { key: key.into(), ..Self::default() }
    }

    /// A read of every key starting with `prefix`.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let key: Bytes = prefix.into();
        Self { range_end: prefix_end(&key), key, ..Self::default() }
    }
}

/// The answer to a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeResponse {
    /// The store revision the read was served at.
    pub revision: i64,
    /// The key-values (empty with `count_only`).
    pub kvs: Vec<KeyValue>,
    /// Whether `limit` cut the result.
    pub more: bool,
    /// Number of keys in the range (ignoring limit and revision filters).
    pub count: i64,
}

/// A write of one key (etcd `PutRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutRequest {
    /// The key.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// Lease to attach, 0 for none.
    pub lease: i64,
    /// Return the previous key-value.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

/// The answer to a put.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutResponse {
    /// The revision after the put.
    pub revision: i64,
    /// The previous key-value, if asked for and present.
    pub prev_kv: Option<KeyValue>,
}

/// A deletion of a key or range (etcd `DeleteRangeRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRangeRequest {
    /// First key.
    pub key: Bytes,
    /// End of the range, as in [`RangeRequest::range_end`].
    pub range_end: Bytes,
    /// Return the deleted key-values.
    pub prev_kv: bool,
}

/// The answer to a deletion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRangeResponse {
    /// The revision after the deletion.
    pub revision: i64,
    /// Number of keys deleted.
    pub deleted: i64,
    /// The deleted key-values, if asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// How a compare's operands relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareResult {
    /// `==`
    Equal,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `!=`
    NotEqual,
}

/// What a compare looks at, with the operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's version.
    Version(i64),
    /// The key's create revision.
    Create(i64),
    /// The key's mod revision.
    Mod(i64),
    /// The key's value.
    Value(Bytes),
    /// The key's lease.
    Lease(i64),
}

/// One condition of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key.
    pub key: Bytes,
    /// End of a range of keys that must all satisfy the condition (empty = one key).
    pub range_end: Bytes,
    /// The relation.
    pub result: CompareResult,
    /// The attribute and operand.
    pub target: CompareTarget,
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOp {
    /// A read.
    Range(RangeRequest),
    /// A write.
    Put(PutRequest),
    /// A deletion.
    DeleteRange(DeleteRangeRequest),
    /// A nested transaction.
    Txn(TxnRequest),
}

/// The answer to one operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOp {
    /// A read's answer.
    Range(RangeResponse),
    /// A write's answer.
    Put(PutResponse),
    /// A deletion's answer.
    DeleteRange(DeleteRangeResponse),
    /// A nested transaction's answer.
    Txn(TxnResponse),
}

/// An atomic if/then/else (etcd `TxnRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnRequest {
    /// Conditions, all of which must hold.
    pub compare: Vec<Compare>,
    /// Operations when they hold.
    pub success: Vec<RequestOp>,
    /// Operations otherwise.
    pub failure: Vec<RequestOp>,
}

/// The answer to a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnResponse {
    /// The revision after the transaction.
    pub revision: i64,
    /// Whether the conditions held.
    pub succeeded: bool,
    /// One answer per executed operation.
    pub responses: Vec<ResponseOp>,
}

/// The key after every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`):
/// `prefix` with its last byte below 0xff incremented and the rest dropped; `\0` (every
/// key) when there is no such byte.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::from_static(b"\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"abc"), Bytes::from_static(b"abd"));
        assert_eq!(prefix_end(b"a\xff"), Bytes::from_static(b"b"));
        assert_eq!(prefix_end(b"\xff\xff"), Bytes::from_static(b"\0"));
        assert_eq!(prefix_end(b""), Bytes::from_static(b"\0"));
    }
}
