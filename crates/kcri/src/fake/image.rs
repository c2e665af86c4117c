//! [`ImageService`] for [`FakeRuntime`].

use std::time::SystemTime;

use super::FakeRuntime;
use super::state::State;
use crate::error::{Error, Result};
use crate::service::{BoxFuture, ImageService};
use crate::types::{AuthConfig, FilesystemUsage, Image, ImageFilter, ImageFsInfo, ImageSpec, PodSandboxConfig};

/// Size every fake image claims.
const FAKE_IMAGE_SIZE: u64 = 1 << 20;

/// Adds (or returns the existing) image for `reference`, with an id derived from it.
pub(super) fn insert(state: &mut State, reference: &str, spec: Option<ImageSpec>) -> Image {
    if let Some(existing) = state.find_image(reference) {
        return existing.clone();
    }
    let image = Image {
        id: format!("sha256:{}", fnv_hex(reference)),
        repo_tags: vec![reference.to_owned()],
        repo_digests: Vec::new(),
        size: FAKE_IMAGE_SIZE,
        uid: Some(0),
        username: String::new(),
        spec: Some(spec.unwrap_or_else(|| ImageSpec::new(reference))),
        pinned: false,
    };
    state.images.insert(image.id.clone(), image.clone());
    image
}

/// A stable 64-hex-digit digest stand-in (four FNV-1a hashes with different seeds).
fn fnv_hex(text: &str) -> String {
    (0u64..4)
        .map(|seed| {
            let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
            for b in text.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

impl ImageService for FakeRuntime {
    fn list_images(&self, filter: ImageFilter) -> BoxFuture<'_, Result<Vec<Image>>> {
        let state = self.record("ListImages");
        let images = match filter.image {
            Some(spec) if !spec.image.is_empty() => state.find_image(&spec.image).cloned().into_iter().collect(),
            _ => state.images.values().cloned().collect(),
        };
        drop(state);
        Box::pin(async move { Ok(images) })
    }

    fn image_status(&self, image: ImageSpec) -> BoxFuture<'_, Result<Option<Image>>> {
        let found = self.record("ImageStatus").find_image(&image.image).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn pull_image(
        &self,
        image: ImageSpec,
        _auth: Option<AuthConfig>,
        _sandbox_config: Option<PodSandboxConfig>,
    ) -> BoxFuture<'_, Result<String>> {
        let mut state = self.record("PullImage");
        let known = state.find_image(&image.image).is_some();
        let result = if known || self.inner.settings.pull_unknown || image.image.starts_with("fake/") {
            let reference = image.image.clone();
            Ok(insert(&mut state, &reference, Some(image)).id)
        } else {
            Err(Error::NotFound(format!("pull access denied: {} not found in the fake registry", image.image)))
        };
        drop(state);
        Box::pin(async move { result })
    }

    fn remove_image(&self, image: ImageSpec) -> BoxFuture<'_, Result<()>> {
        let mut state = self.record("RemoveImage");
        if let Some(id) = state.find_image(&image.image).map(|i| i.id.clone()) {
            state.images.remove(&id);
        }
        drop(state);
        Box::pin(async { Ok(()) })
    }

    fn image_fs_info(&self) -> BoxFuture<'_, Result<ImageFsInfo>> {
        let state = self.record("ImageFsInfo");
        let used: u64 = state.images.values().map(|i| i.size).sum();
        let count = state.images.len() as u64;
        drop(state);
        Box::pin(async move {
            Ok(ImageFsInfo {
                image_filesystems: vec![FilesystemUsage {
                    timestamp: Some(SystemTime::now()),
                    mountpoint: "/var/lib/kcri-fake".into(),
                    used_bytes: Some(used),
                    inodes_used: Some(count),
                }],
                container_filesystems: Vec::new(),
            })
        })
    }
}
