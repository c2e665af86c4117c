//! The KV service: Range, Put, DeleteRange, Txn and Compact.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{Ctx, call, convert};
use crate::proto::etcdserverpb as pb;

pub(crate) struct KvService {
    ctx: Arc<Ctx>,
}

impl KvService {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvService {
    async fn range(&self, request: Request<pb::RangeRequest>) -> Result<Response<pb::RangeResponse>, Status> {
        let req = convert::range_request(request.into_inner());
        let resp = call(self.ctx.store.range(&req)).await?;
        let header = self.ctx.header(resp.revision);
        Ok(Response::new(convert::range_response(resp, header)))
    }

    async fn put(&self, request: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        self.ctx.check_size(request.get_ref())?;
        let req = convert::put_request(request.into_inner());
        let resp = call(self.ctx.store.put(req)).await?;
        let header = self.ctx.header(resp.revision);
        Ok(Response::new(convert::put_response(resp, header)))
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        self.ctx.check_size(request.get_ref())?;
        let req = convert::delete_request(request.into_inner());
        let resp = call(self.ctx.store.delete_range(req)).await?;
        let header = self.ctx.header(resp.revision);
        Ok(Response::new(convert::delete_response(resp, header)))
    }

    async fn txn(&self, request: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        self.ctx.check_size(request.get_ref())?;
        let req = convert::txn_request(request.into_inner());
        let resp = call(self.ctx.store.txn(req)).await?;
        let header = self.ctx.header(resp.revision);
        Ok(Response::new(convert::txn_response(resp, header)))
    }

    /// `physical` is accepted and ignored: compaction is complete when the answer is sent.
    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let revision = call(self.ctx.store.compact(request.get_ref().revision)).await?;
        Ok(Response::new(pb::CompactionResponse { header: self.ctx.header(revision) }))
    }
}
