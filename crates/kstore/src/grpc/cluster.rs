//! The Cluster service. Members are the Raft membership; names and URLs come from the
//! [`ClusterInfo`](super::ClusterInfo) the server was given.
//!
//! `MemberAdd`, `MemberRemove` and `MemberPromote` are Raft membership changes; a new
//! member's id is derived from its peer URL ([`member_id_for_peer`](crate::member_id_for_peer)),
//! which is how the member itself computes it when it starts. `MemberUpdate` answers
//! `Unimplemented`: moving a member to another peer address is not supported yet.

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
        let addrs = self.ctx.store.peer_addresses();
        membership
            .members()
            .into_iter()
            .map(|id| {
                let info = self.ctx.cluster.members.iter().find(|m| m.id == id);
                let added = addrs.get(&id).map(|a| vec![format!("http://{a}")]).unwrap_or_default();
                pb::Member {
                    id,
                    name: info.map(|m| m.name.clone()).unwrap_or_default(),
                    peer_ur_ls: info.map(|m| m.peer_urls.clone()).unwrap_or(added),
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
        "kstore: {what} is not supported yet: remove the member and add it at its new peer URL"
    ))
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let req = request.into_inner();
        let url = req.peer_ur_ls.first().ok_or_else(|| Status::invalid_argument("etcdserver: no peer URLs given"))?;
        let addr = url
            .strip_prefix("http://")
            .map(|hp| hp.trim_end_matches('/'))
            .and_then(|hp| std::net::ToSocketAddrs::to_socket_addrs(hp).ok()?.next())
            .ok_or_else(|| Status::invalid_argument(format!("etcdserver: invalid peer URL {url:?}")))?;
        let id = crate::member_id_for_peer(addr);
        let membership = self.membership().await?;
        if membership.contains(id) {
            return Err(Status::failed_precondition("etcdserver: member ID already exist"));
        }
        if self.ctx.store.peer_addresses().values().any(|a| *a == addr) {
            return Err(Status::failed_precondition("etcdserver: Peer URLs already exists"));
        }
        self.ctx.store.add_member(id, addr, req.is_learner).await.map_err(|e| errors::status_from_store_error(&e))?;
        let member = pb::Member {
            id,
            name: String::new(),
            peer_ur_ls: vec![format!("http://{addr}")],
            client_ur_ls: Vec::new(),
            is_learner: req.is_learner,
        };
        // The change applies when committed; report the membership including the new member.
        let mut members = self.members(&membership);
        members.push(member.clone());
        Ok(Response::new(pb::MemberAddResponse { header: self.header(), member: Some(member), members }))
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
