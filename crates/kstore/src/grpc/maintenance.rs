//! The Maintenance service: Status, Snapshot, Hash, HashKV, Defragment, Alarm and
//! MoveLeader.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kraft::Role;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::{Ctx, REQUEST_TIMEOUT, SERVER_VERSION, call, errors};
use crate::proto::etcdserverpb as pb;

/// Snapshot bytes per message (etcd's send buffer).
const SNAPSHOT_CHUNK: usize = 32 * 1024;

/// Snapshot streams are padded to a multiple of this (see `snapshot`).
const SNAPSHOT_ALIGN: usize = 512;

/// How often `MoveLeader` looks whether the transfer is done.
const TRANSFER_POLL: Duration = Duration::from_millis(20);

pub(crate) struct MaintenanceService {
    ctx: Arc<Ctx>,
}

impl MaintenanceService {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }

    fn current_header(&self) -> Option<pb::ResponseHeader> {
        self.ctx.header(self.ctx.store.revision())
    }
}

#[tonic::async_trait]
impl pb::maintenance_server::Maintenance for MaintenanceService {
    type SnapshotStream = tokio_stream::Iter<SnapshotChunks>;

    /// Alarms are not kept: a list is always empty, and raising or clearing one succeeds.
    async fn alarm(&self, _request: Request<pb::AlarmRequest>) -> Result<Response<pb::AlarmResponse>, Status> {
        Ok(Response::new(pb::AlarmResponse { header: self.current_header(), alarms: Vec::new() }))
    }

    async fn status(&self, _request: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let s = call(self.ctx.store.status()).await?;
        self.ctx.note_term(s.raft_term);
        let errors = if s.leader.is_none() { vec!["etcdserver: no leader".to_string()] } else { Vec::new() };
        Ok(Response::new(pb::StatusResponse {
            header: self.ctx.header(s.revision),
            version: SERVER_VERSION.to_string(),
            db_size: s.db_size,
            leader: s.leader.unwrap_or(0),
            raft_index: s.raft_index,
            raft_term: s.raft_term,
            raft_applied_index: s.raft_applied_index,
            errors,
            db_size_in_use: s.db_size,
            is_learner: s.is_learner,
        }))
    }

    /// Nothing to do: there is no backend file to compact.
    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Ok(Response::new(pb::DefragmentResponse { header: self.current_header() }))
    }

    /// The hash of the key-values at the current revision.
    async fn hash(&self, _request: Request<pb::HashRequest>) -> Result<Response<pb::HashResponse>, Status> {
        let (hash, _compacted, revision) = self.ctx.store.hash_kv(0).map_err(|e| super::status_from_store_error(&e))?;
        Ok(Response::new(pb::HashResponse { header: self.ctx.header(revision), hash }))
    }

    async fn hash_kv(&self, request: Request<pb::HashKvRequest>) -> Result<Response<pb::HashKvResponse>, Status> {
        let rev = request.get_ref().revision.max(0);
        let (hash, compact_revision, revision) =
            self.ctx.store.hash_kv(rev).map_err(|e| super::status_from_store_error(&e))?;
        Ok(Response::new(pb::HashKvResponse { header: self.ctx.header(revision), hash, compact_revision }))
    }

    /// The local replica's snapshot in 32 KiB messages, then its SHA-256 digest as a last
    /// message of its own, as etcd sends it: `etcdctl snapshot save` writes the whole
    /// stream to the file, and restore checks the digest in the last 32 bytes.
    ///
    /// The snapshot is padded with zeros to a multiple of 512 bytes first (etcd's bbolt
    /// files are page-aligned): etcdctl 3.4.23 finds the digest by `size % 512 == 32` and
    /// refuses a file without it. The snapshot decoder ignores the padding.
    async fn snapshot(&self, _request: Request<pb::SnapshotRequest>) -> Result<Response<Self::SnapshotStream>, Status> {
        let data = self.ctx.store.snapshot();
        Ok(Response::new(tokio_stream::iter(SnapshotChunks::new(self.current_header(), data))))
    }

    /// Hands leadership to `target_id` and waits until it has it (etcd's semantics).
    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        let target = request.get_ref().target_id;
        let raft = self.ctx.store.raft();
        let status = raft.status().await.map_err(|e| errors::from_node(&e))?;
        if status.role != Role::Leader {
            return Err(errors::not_leader());
        }
        if target != status.id {
            if !status.membership.is_voter(target) {
                return Err(errors::bad_leader_transferee());
            }
            raft.transfer_leader(target).await.map_err(|e| errors::from_node(&e))?;
            let wait = async {
                loop {
                    match raft.status().await {
                        Ok(s) if s.leader == Some(target) => return Ok(()),
                        Ok(_) => tokio::time::sleep(TRANSFER_POLL).await,
                        Err(e) => return Err(errors::from_node(&e)),
                    }
                }
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, wait).await {
                Ok(result) => result?,
                Err(_) => return Err(Status::unknown("etcdserver: request timed out, leader transfer took too long")),
            }
        }
        Ok(Response::new(pb::MoveLeaderResponse { header: self.current_header() }))
    }
}

/// The messages of a snapshot stream, made as they are sent.
pub(crate) struct SnapshotChunks {
    header: Option<pb::ResponseHeader>,
    data: Bytes,
    /// `data`'s length rounded up to [`SNAPSHOT_ALIGN`]; zeros are sent past `data`.
    padded_len: usize,
    offset: usize,
    /// `None` once the digest was sent.
    hasher: Option<Sha256>,
}

impl SnapshotChunks {
    fn new(header: Option<pb::ResponseHeader>, data: Bytes) -> Self {
        let padded_len = data.len().div_ceil(SNAPSHOT_ALIGN) * SNAPSHOT_ALIGN;
        Self { header, data, padded_len, offset: 0, hasher: Some(Sha256::new()) }
    }
}

impl Iterator for SnapshotChunks {
    type Item = Result<pb::SnapshotResponse, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset < self.padded_len {
            let end = (self.offset + SNAPSHOT_CHUNK).min(self.padded_len);
            let mut blob = self.data.get(self.offset..end.min(self.data.len())).unwrap_or_default().to_vec();
            blob.resize(end - self.offset, 0);
            if let Some(hasher) = self.hasher.as_mut() {
                hasher.update(&blob);
            }
            self.offset = end;
            return Some(Ok(pb::SnapshotResponse {
                header: self.header.take(),
                remaining_bytes: (self.padded_len - end) as u64,
                blob: blob.into(),
            }));
        }
        let digest = self.hasher.take()?.finalize();
        Some(Ok(pb::SnapshotResponse { header: self.header.take(), remaining_bytes: 0, blob: digest.to_vec().into() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_chunks_are_padded_and_end_with_the_digest() {
        let data: Vec<u8> = (0..SNAPSHOT_CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
        let chunks = SnapshotChunks::new(Some(pb::ResponseHeader::default()), Bytes::from(data.clone()));
        let msgs: Vec<pb::SnapshotResponse> = chunks.map(|m| m.unwrap()).collect();
        assert_eq!(msgs.len(), 4);
        assert!(msgs[0].header.is_some() && msgs[1].header.is_none());
        let remaining: Vec<u64> = msgs.iter().map(|m| m.remaining_bytes).collect();
        assert_eq!(remaining, [(SNAPSHOT_CHUNK + SNAPSHOT_ALIGN) as u64, SNAPSHOT_ALIGN as u64, 0, 0]);
        let body: Vec<u8> = msgs[..3].iter().flat_map(|m| m.blob.clone()).collect();
        assert_eq!(body.len() % SNAPSHOT_ALIGN, 0);
        assert_eq!(&body[..data.len()], &data[..]);
        assert!(body[data.len()..].iter().all(|&b| b == 0));
        assert_eq!(msgs[3].blob, Sha256::digest(&body).to_vec());
        // What etcdctl 3.4.23 checks before it keeps the file.
        assert_eq!((body.len() + msgs[3].blob.len()) % 512, 32);
    }

    #[test]
    fn an_empty_snapshot_is_only_a_digest() {
        let msgs: Vec<_> = SnapshotChunks::new(None, Bytes::new()).map(|m| m.unwrap()).collect();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].blob, Sha256::digest(b"").to_vec());
    }

    #[test]
    fn padded_snapshots_still_decode() {
        let state = crate::state::KvState::new(1);
        let snap = state.snapshot();
        let body: Vec<u8> =
            SnapshotChunks::new(None, snap.clone()).map(|m| m.unwrap().blob).collect::<Vec<_>>().concat();
        let without_digest = Bytes::from(body[..body.len() - 32].to_vec());
        let restored = crate::state::KvState::restore(without_digest).unwrap();
        assert_eq!(restored.snapshot(), snap);
    }
}
