//! The Lease service: grant, revoke, keep-alive streams, time-to-live and listing.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Ctx, call, errors, status_from_store_error};
use crate::proto::etcdserverpb as pb;

/// Keep-alive answers buffered towards the client.
const OUT_QUEUE: usize = 16;

pub(crate) struct LeaseService {
    ctx: Arc<Ctx>,
}

impl LeaseService {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl pb::lease_server::Lease for LeaseService {
    type LeaseKeepAliveStream = ReceiverStream<Result<pb::LeaseKeepAliveResponse, Status>>;

    /// ID 0 lets the store pick an id.
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let req = request.into_inner();
        let (id, ttl) = call(self.ctx.store.lease_grant(req.id, req.ttl)).await?;
        let header = self.ctx.header(self.ctx.store.revision());
        Ok(Response::new(pb::LeaseGrantResponse { header, id, ttl, error: String::new() }))
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let revision = call(self.ctx.store.lease_revoke(request.get_ref().id)).await?;
        Ok(Response::new(pb::LeaseRevokeResponse { header: self.ctx.header(revision) }))
    }

    /// Each request renews its lease and is answered with the lease's TTL, 0 if the lease
    /// does not exist. On a follower the stream ends with `Unavailable`
    /// "etcdserver: not leader" (etcd would forward the renewal to the leader).
    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (out, rx) = mpsc::channel(OUT_QUEUE);
        tokio::spawn(keep_alive(self.ctx.clone(), request.into_inner(), out));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    /// TTL -1 when the lease does not exist, like etcd.
    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let req = request.into_inner();
        let found = call(self.ctx.store.lease_time_to_live(req.id, req.keys)).await?;
        let header = self.ctx.header(self.ctx.store.revision());
        let resp = match found {
            Some((ttl, granted_ttl, keys)) => {
                pb::LeaseTimeToLiveResponse { header, id: req.id, ttl, granted_ttl, keys: keys.into_iter().collect() }
            }
            None => pb::LeaseTimeToLiveResponse { header, id: req.id, ttl: -1, granted_ttl: 0, keys: Vec::new() },
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let ids = call(self.ctx.store.lease_leases()).await?;
        let header = self.ctx.header(self.ctx.store.revision());
        let leases = ids.into_iter().map(|id| pb::LeaseStatus { id }).collect();
        Ok(Response::new(pb::LeaseLeasesResponse { header, leases }))
    }
}

type Out = mpsc::Sender<Result<pb::LeaseKeepAliveResponse, Status>>;

async fn keep_alive(ctx: Arc<Ctx>, mut incoming: Streaming<pb::LeaseKeepAliveRequest>, out: Out) {
    loop {
        let request = tokio::select! {
            _ = ctx.stop.cancelled() => {
                let _ = out.try_send(Err(errors::stopped()));
                return;
            }
            _ = out.closed() => return,
            request = incoming.message() => request,
        };
        // The client closing its side (or failing) ends the stream, as in etcd.
        let Ok(Some(request)) = request else { return };
        // The header is taken before renewing, as etcd does, so that its revision is never
        // later than the renewal.
        let header = ctx.header(ctx.store.revision());
        let answer = match ctx.store.lease_keep_alive(request.id).await {
            Ok(ttl) => Ok(pb::LeaseKeepAliveResponse { header, id: request.id, ttl }),
            Err(e) => Err(status_from_store_error(&e)),
        };
        let failed = answer.is_err();
        let sent = tokio::select! {
            sent = out.send(answer) => sent.is_ok(),
            _ = ctx.stop.cancelled() => false,
        };
        if !sent || failed {
            return;
        }
    }
}
