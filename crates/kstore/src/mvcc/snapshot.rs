//! Serializing the whole store (history included) for Raft snapshots.

use std::sync::Arc;

use super::{History, Mvcc, Version};
use crate::codec::{CodecError, Reader, Writer};
use crate::types::KeyValue;

impl Mvcc {
    /// Appends the store's state: revision, compacted revision and every key's versions.
    pub fn encode(&self, w: &mut Writer) {
        w.i64(self.revision);
        w.i64(self.compacted);
        w.u64(self.keys.len() as u64);
        for (key, history) in &self.keys {
            w.bytes(key);
            w.u64(history.versions.len() as u64);
            for v in &history.versions {
                w.i64(v.main);
                w.i64(v.sub);
                match &v.kv {
                    None => w.u8(0),
                    Some(kv) => {
                        w.u8(1);
                        w.i64(kv.create_revision);
                        w.i64(kv.version);
                        w.bytes(&kv.value);
                        w.i64(kv.lease);
                    }
                }
            }
        }
    }

    /// Reads a store written by [`encode`](Self::encode).
    pub fn decode(r: &mut Reader) -> Result<Mvcc, CodecError> {
        let mut store = Mvcc::new();
        store.revision = r.i64("revision")?;
        store.compacted = r.i64("compacted revision")?;
        let n = r.count("keys", 2)?;
        for _ in 0..n {
            let key = r.bytes("key")?;
            let count = r.count("versions", 3)?;
            let mut versions = Vec::with_capacity(count);
            for _ in 0..count {
                let main = r.i64("main revision")?;
                let sub = r.i64("sub revision")?;
                let kv = match r.u8("version tag")? {
                    0 => None,
                    1 => Some(Arc::new(KeyValue {
                        key: key.clone(),
                        create_revision: r.i64("create revision")?,
                        mod_revision: main,
                        version: r.i64("version")?,
                        value: r.bytes("value")?,
                        lease: r.i64("lease")?,
                    })),
                    tag => return Err(CodecError::Tag { what: "version", tag }),
                };
                // Changes still replayable to watchers are exactly the versions at or after
                // the compaction point.
                if main >= store.compacted {
                    store.changes.insert((main, sub), key.clone());
                }
                versions.push(Version { main, sub, kv });
            }
            store.keys.insert(key, History { versions });
        }
        Ok(store)
    }
}
