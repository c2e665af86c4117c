//! The Cluster service. Members are the Raft membership; names and URLs come from the
//! [`ClusterInfo`](super::ClusterInfo) the server was given.
//!
//! `MemberRemove` and `MemberPromote` are Raft membership changes. `MemberAdd` and
//! `MemberUpdate` answer `Unimplemented`: a new or moved member needs a peer address, and
//! the peer transport's address book is fixed when the store starts.

use std::sync::Arc;

use kraft::{Change, Membership};
use tonic::{Request, Response, Status};

use super::{Ctx, errors};
use crate::proto::etcdserverpb as pb;

pub(crate) struct ClusterService {
    ctx: Arc<Ctx>,
}

impl ClusterService {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }

    async fn membership(&self) -> Result<Membership, Status> {
        let status = self.ctx.store.raft().status().await.map_err(|e| errors::from_node(&e))?;
        self.ctx.note_term(status.term);
        Ok(status.membership)
    }

    /// etcd's member list: every member of `membership` by id, with the names and URLs
    /// known for it (none for a member that is not in the cluster information, which
    /// etcdctl shows as "unstarted").
    fn members(&self, membership: &Membership) -> Vec<pb::Member> {
        membership
            .members()
            .into_iter()
            .map(|id| {
                let info = self.ctx.cluster.members.iter().find(|m| m.id == id);
                pb::Member {
                    id,
                    name: info.map(|m| m.name.clone()).unwrap_or_default(),
                    peer_ur_ls: info.map(|m| m.peer_urls.clone()).unwrap_or_default(),
                    client_ur_ls: info.map(|m| m.client_urls.clone()).unwrap_or_default(),
                    is_learner: membership.is_learner(id),
                }
            })
            .collect()
    }

    /// Cluster responses carry no revision in etcd.
    fn header(&self) -> Option<pb::ResponseHeader> {
        self.ctx.header(0)
    }
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!(
        "kstore: {what} is not supported: peer addresses are fixed when members start; \
         start every member with the full --initial-cluster instead"
    ))
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn member_add(
        &self,
        _request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(unsupported("MemberAdd"))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        let id = request.get_ref().id;
        let membership = self.membership().await?;
        if id == 0 || !membership.contains(id) {
            return Err(errors::member_not_found());
        }
        let change = [Change::Remove(id)];
        // Validate first so that an impossible change gets a clear error before Raft.
        let next = membership.apply(&change).map_err(|e| errors::from_membership(&e))?;
        self.ctx.store.raft().change_membership(change.to_vec()).await.map_err(|e| errors::from_node(&e))?;
        Ok(Response::new(pb::MemberRemoveResponse { header: self.header(), members: self.members(&next) }))
    }

    async fn member_update(
        &self,
        _request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(unsupported("MemberUpdate"))
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let members = match self.membership().await {
            Ok(membership) => self.members(&membership),
            // Raft is gone: report what the server was told.
            Err(_) => self
                .ctx
                .cluster
                .members
                .iter()
                .map(|m| pb::Member {
                    id: m.id,
                    name: m.name.clone(),
                    peer_ur_ls: m.peer_urls.clone(),
                    client_ur_ls: m.client_urls.clone(),
                    is_learner: m.is_learner,
                })
                .collect(),
        };
        Ok(Response::new(pb::MemberListResponse { header: self.header(), members }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        let id = request.get_ref().id;
        let membership = self.membership().await?;
        if id == 0 || !membership.contains(id) {
            return Err(errors::member_not_found());
        }
        if !membership.is_learner(id) {
            return Err(errors::member_not_learner());
        }
        let change = [Change::AddVoter(id)];
        let next = membership.apply(&change).map_err(|e| errors::from_membership(&e))?;
        self.ctx.store.raft().change_membership(change.to_vec()).await.map_err(|e| errors::from_node(&e))?;
        Ok(Response::new(pb::MemberPromoteResponse { header: self.header(), members: self.members(&next) }))
    }
}
