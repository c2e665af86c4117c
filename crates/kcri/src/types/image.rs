//! Images: references, listings, pull credentials and image filesystem usage.

use std::fmt;
use std::time::SystemTime;

use super::{Labels, nanos_from_time, time_from_nanos};
use crate::proto::v1 as pb;

/// An image reference with optional annotations (`ImageSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSpec {
    /// Reference: a tag like `docker.io/library/busybox:1.36`, a digest reference or an
    /// image id.
    pub image: String,
    /// Annotations, e.g. for runtime-class-specific pulls.
    pub annotations: Labels,
    /// The reference as the user wrote it, before resolution.
    pub user_specified_image: String,
    /// Runtime handler the image is pulled for.
    pub runtime_handler: String,
}

impl ImageSpec {
    /// A spec for `image` with no annotations.
    pub fn new(image: impl Into<String>) -> Self {
        Self { image: image.into(), ..Self::default() }
    }
}

impl From<pb::ImageSpec> for ImageSpec {
    fn from(p: pb::ImageSpec) -> Self {
        Self {
            image: p.image,
            annotations: p.annotations,
            user_specified_image: p.user_specified_image,
            runtime_handler: p.runtime_handler,
        }
    }
}

impl From<ImageSpec> for pb::ImageSpec {
    fn from(d: ImageSpec) -> Self {
        Self {
            image: d.image,
            annotations: d.annotations,
            user_specified_image: d.user_specified_image,
            runtime_handler: d.runtime_handler,
        }
    }
}

/// An image stored by the runtime (`Image`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Image id, e.g. `sha256:…` of the config.
    pub id: String,
    /// Tags referring to it.
    pub repo_tags: Vec<String>,
    /// Digest references referring to it.
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// UID the image runs as, when its user is numeric.
    pub uid: Option<i64>,
    /// User name the image runs as, when not numeric.
    pub username: String,
    /// The spec it was pulled with, if the runtime records it.
    pub spec: Option<ImageSpec>,
    /// Exempt from garbage collection.
    pub pinned: bool,
}

impl From<pb::Image> for Image {
    fn from(p: pb::Image) -> Self {
        Self {
            id: p.id,
            repo_tags: p.repo_tags,
            repo_digests: p.repo_digests,
            size: p.size,
            uid: p.uid.map(|v| v.value),
            username: p.username,
            spec: p.spec.map(Into::into),
            pinned: p.pinned,
        }
    }
}

impl From<Image> for pb::Image {
    fn from(d: Image) -> Self {
        Self {
            id: d.id,
            repo_tags: d.repo_tags,
            repo_digests: d.repo_digests,
            size: d.size,
            uid: d.uid.map(|value| pb::Int64Value { value }),
            username: d.username,
            spec: d.spec.map(Into::into),
            pinned: d.pinned,
        }
    }
}

/// Which images `ListImages` returns (`ImageFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// Only this image (by reference); `None` lists all.
    pub image: Option<ImageSpec>,
}

/// Registry credentials for a pull (`AuthConfig`). `Debug` hides the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Base64 `user:password`, as in a Docker config.
    pub auth: String,
    /// Registry host.
    pub server_address: String,
    /// Identity token for the registry's token service.
    pub identity_token: String,
    /// Bearer token for the registry.
    pub registry_token: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials must not reach logs through `{:?}`.
        let hidden = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("auth", &hidden(&self.auth))
            .field("server_address", &self.server_address)
            .field("identity_token", &hidden(&self.identity_token))
            .field("registry_token", &hidden(&self.registry_token))
            .finish()
    }
}

impl From<pb::AuthConfig> for AuthConfig {
    fn from(p: pb::AuthConfig) -> Self {
        Self {
            username: p.username,
            password: p.password,
            auth: p.auth,
            server_address: p.server_address,
            identity_token: p.identity_token,
            registry_token: p.registry_token,
        }
    }
}

impl From<AuthConfig> for pb::AuthConfig {
    fn from(d: AuthConfig) -> Self {
        Self {
            username: d.username,
            password: d.password,
            auth: d.auth,
            server_address: d.server_address,
            identity_token: d.identity_token,
            registry_token: d.registry_token,
        }
    }
}

/// Usage of one filesystem (`FilesystemUsage`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesystemUsage {
    /// When it was measured.
    pub timestamp: Option<SystemTime>,
    /// Mount point of the filesystem.
    pub mountpoint: String,
    /// Bytes used, if known.
    pub used_bytes: Option<u64>,
    /// Inodes used, if known.
    pub inodes_used: Option<u64>,
}

impl From<pb::FilesystemUsage> for FilesystemUsage {
    fn from(p: pb::FilesystemUsage) -> Self {
        Self {
            timestamp: time_from_nanos(p.timestamp),
            mountpoint: p.fs_id.map(|f| f.mountpoint).unwrap_or_default(),
            used_bytes: p.used_bytes.map(|v| v.value),
            inodes_used: p.inodes_used.map(|v| v.value),
        }
    }
}

impl From<FilesystemUsage> for pb::FilesystemUsage {
    fn from(d: FilesystemUsage) -> Self {
        Self {
            timestamp: nanos_from_time(d.timestamp),
            fs_id: Some(pb::FilesystemIdentifier { mountpoint: d.mountpoint }),
            used_bytes: d.used_bytes.map(|value| pb::UInt64Value { value }),
            inodes_used: d.inodes_used.map(|value| pb::UInt64Value { value }),
        }
    }
}

/// Answer of `ImageFsInfo` (`ImageFsInfoResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFsInfo {
    /// Filesystems holding images.
    pub image_filesystems: Vec<FilesystemUsage>,
    /// Filesystems holding containers' writable layers (when split from images).
    pub container_filesystems: Vec<FilesystemUsage>,
}
