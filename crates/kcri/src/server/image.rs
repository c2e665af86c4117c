//! gRPC `ImageService` backed by an [`ImageService`] implementation.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::proto::v1 as pb;
use crate::service::ImageService;
use crate::types::ImageFilter;

/// Adapts an [`ImageService`] to the generated gRPC trait.
pub(super) struct ImageAdaptor(pub(super) Arc<dyn ImageService>);

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::image_service_server::ImageService for ImageAdaptor {
    async fn list_images(&self, req: Request<pb::ListImagesRequest>) -> Reply<pb::ListImagesResponse> {
        let filter = ImageFilter { image: req.into_inner().filter.and_then(|f| f.image).map(Into::into) };
        let images = self.0.list_images(filter).await?;
        Ok(Response::new(pb::ListImagesResponse { images: images.into_iter().map(Into::into).collect() }))
    }

    async fn image_status(&self, req: Request<pb::ImageStatusRequest>) -> Reply<pb::ImageStatusResponse> {
        let spec = req.into_inner().image.map(Into::into).unwrap_or_default();
        let image = self.0.image_status(spec).await?;
        Ok(Response::new(pb::ImageStatusResponse { image: image.map(Into::into), info: Default::default() }))
    }

    async fn pull_image(&self, req: Request<pb::PullImageRequest>) -> Reply<pb::PullImageResponse> {
        let r = req.into_inner();
        let image_ref = self
            .0
            .pull_image(
                r.image.map(Into::into).unwrap_or_default(),
                r.auth.map(Into::into),
                r.sandbox_config.map(Into::into),
            )
            .await?;
        Ok(Response::new(pb::PullImageResponse { image_ref }))
    }

    async fn remove_image(&self, req: Request<pb::RemoveImageRequest>) -> Reply<pb::RemoveImageResponse> {
        self.0.remove_image(req.into_inner().image.map(Into::into).unwrap_or_default()).await?;
        Ok(Response::new(pb::RemoveImageResponse {}))
    }

    async fn image_fs_info(&self, _req: Request<pb::ImageFsInfoRequest>) -> Reply<pb::ImageFsInfoResponse> {
        let info = self.0.image_fs_info().await?;
        Ok(Response::new(pb::ImageFsInfoResponse {
            image_filesystems: info.image_filesystems.into_iter().map(Into::into).collect(),
            container_filesystems: info.container_filesystems.into_iter().map(Into::into).collect(),
        }))
    }
}
