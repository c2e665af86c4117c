//! [`ImageService`] over gRPC.

use tonic::transport::Channel;

use super::{Call, Client, MAX_MESSAGE_SIZE};
use crate::error::Result;
use crate::proto::v1 as pb;
use crate::proto::v1::image_service_client::ImageServiceClient;
use crate::service::{BoxFuture, ImageService};
use crate::types::{AuthConfig, Image, ImageFilter, ImageFsInfo, ImageSpec, PodSandboxConfig};

fn img(channel: Channel) -> ImageServiceClient<Channel> {
    ImageServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
}

impl ImageService for Client {
    fn list_images(&self, filter: ImageFilter) -> BoxFuture<'_, Result<Vec<Image>>> {
        Box::pin(async move {
            let req = pb::ListImagesRequest { filter: Some(pb::ImageFilter { image: filter.image.map(Into::into) }) };
            let resp = self
                .call("ListImages", self.idempotent(), req, |c, r| async move { img(c).list_images(r).await })
                .await?;
            Ok(resp.images.into_iter().map(Into::into).collect())
        })
    }

    fn image_status(&self, image: ImageSpec) -> BoxFuture<'_, Result<Option<Image>>> {
        Box::pin(async move {
            let req = pb::ImageStatusRequest { image: Some(image.into()), verbose: false };
            let resp = self
                .call("ImageStatus", self.idempotent(), req, |c, r| async move { img(c).image_status(r).await })
                .await?;
            // A missing image is an empty response, not an error; some runtimes send an
            // empty `Image` rather than none.
            Ok(resp.image.filter(|i| !i.id.is_empty()).map(Into::into))
        })
    }

    fn pull_image(
        &self,
        image: ImageSpec,
        auth: Option<AuthConfig>,
        sandbox_config: Option<PodSandboxConfig>,
    ) -> BoxFuture<'_, Result<String>> {
        Box::pin(async move {
            let req = pb::PullImageRequest {
                image: Some(image.into()),
                auth: auth.map(Into::into),
                sandbox_config: sandbox_config.map(Into::into),
            };
            // Pulling is idempotent; a retry after a broken connection resumes cached layers.
            let call = Call::Idempotent(self.config.pull_timeout);
            let resp = self.call("PullImage", call, req, |c, r| async move { img(c).pull_image(r).await }).await?;
            Ok(resp.image_ref)
        })
    }

    fn remove_image(&self, image: ImageSpec) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let req = pb::RemoveImageRequest { image: Some(image.into()) };
            self.call("RemoveImage", self.idempotent(), req, |c, r| async move { img(c).remove_image(r).await })
                .await?;
            Ok(())
        })
    }

    fn image_fs_info(&self) -> BoxFuture<'_, Result<ImageFsInfo>> {
        Box::pin(async move {
            let req = pb::ImageFsInfoRequest {};
            let resp = self
                .call("ImageFsInfo", self.idempotent(), req, |c, r| async move { img(c).image_fs_info(r).await })
                .await?;
            Ok(ImageFsInfo {
                image_filesystems: resp.image_filesystems.into_iter().map(Into::into).collect(),
                container_filesystems: resp.container_filesystems.into_iter().map(Into::into).collect(),
            })
        })
    }
}
