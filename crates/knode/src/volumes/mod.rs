//! Pod volumes: materialized under `<root>/pods/<uid>/volumes/<plugin>/<name>` and passed to
//! containers as CRI bind mounts.
//!
//! Supported: `emptyDir` (a directory; `medium: Memory` is a plain directory too),
//! `hostPath` (with its `type` checks and `…OrCreate`), `configMap`, `secret`,
//! `downwardAPI`, `projected` (configMap, secret and downwardAPI sources) and
//! `persistentVolumeClaim` bound to a `hostPath` or `local` PersistentVolume. configMaps and
//! secrets are read through the API client on every pod sync that starts containers and at
//! most every `syncFrequency` otherwise, and rewritten atomically when they changed.

mod files;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kapi::k8s::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use kapi::quantity::Quantity;
use kcri::types::{Mount, MountPropagation};
use kwatch::http::{Api, Client};

use crate::downward::{self, RuntimeFields};
use files::{DEFAULT_MODE, VolumeFile, check_relative, key_files, write_atomic};

/// Errors preparing volumes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// An object a volume needs does not exist (and the volume is not optional).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// Reading an object from the API failed.
    #[error("reading {kind} {name:?}: {message}")]
    Api {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
        /// The client's error.
        message: String,
    },
    /// Writing or checking files failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The volume or mount is invalid (bad path, missing key, unbound claim …).
    #[error("{0}")]
    Invalid(String),
    /// The volume type is not supported by knode.
    #[error("unsupported volume type for volume {0:?}")]
    Unsupported(String),
}

/// Where volume `name` of plugin `plugin` (e.g. `kubernetes.io~empty-dir`) of pod `uid`
/// lives.
pub fn pod_volume_dir(root: &Path, uid: &str, plugin: &str, name: &str) -> PathBuf {
    pod_dir(root, uid).join("volumes").join(plugin).join(name)
}

/// The pod's directory under the kubelet root.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

/// What preparing volumes needs.
pub(crate) struct VolumeContext<'a> {
    pub(crate) client: &'a Client,
    pub(crate) root: &'a Path,
    pub(crate) pod: &'a Pod,
    pub(crate) fields: &'a RuntimeFields,
    pub(crate) allocatable: &'a BTreeMap<String, Quantity>,
}

/// Materializes every volume of the pod; returns each volume's host path.
pub(crate) async fn prepare(ctx: &VolumeContext<'_>) -> Result<BTreeMap<String, PathBuf>, VolumeError> {
    let mut paths = BTreeMap::new();
    let spec = ctx.pod.spec.as_ref();
    for v in spec.and_then(|s| s.volumes.as_deref()).unwrap_or(&[]) {
        let path = prepare_one(ctx, v).await?;
        paths.insert(v.name.clone(), path);
    }
    Ok(paths)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io { path: path.to_owned(), source }
}

async fn prepare_one(ctx: &VolumeContext<'_>, v: &Volume) -> Result<PathBuf, VolumeError> {
    let uid = ctx.pod.metadata.uid.as_deref().unwrap_or_default();
    let dir = |plugin: &str| pod_volume_dir(ctx.root, uid, plugin, &v.name);
    if v.empty_dir.is_some() {
        let d = dir("kubernetes.io~empty-dir");
        std::fs::create_dir_all(&d).map_err(io(&d))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).map_err(io(&d))?;
        return Ok(d);
    }
    if let Some(hp) = &v.host_path {
        return host_path(&hp.path, hp.type_.as_deref().unwrap_or(""));
    }
    if let Some(cm) = &v.config_map {
        let optional = cm.optional.unwrap_or(false);
        let data = config_map_data(ctx, &cm.name, optional).await?;
        let files = key_files(&data, cm.items.as_deref(), cm.default_mode, optional, "configMap")?;
        let d = dir("kubernetes.io~configmap");
        write_atomic(&d, &files)?;
        return Ok(d);
    }
    if let Some(s) = &v.secret {
        let optional = s.optional.unwrap_or(false);
        let name = s.secret_name.clone().unwrap_or_default();
        let data = secret_data(ctx, &name, optional).await?;
        let files = key_files(&data, s.items.as_deref(), s.default_mode, optional, "secret")?;
        let d = dir("kubernetes.io~secret");
        write_atomic(&d, &files)?;
        return Ok(d);
    }
    if let Some(da) = &v.downward_api {
        let files = downward_files(ctx, da.items.as_deref().unwrap_or(&[]), da.default_mode)?;
        let d = dir("kubernetes.io~downward-api");
        write_atomic(&d, &files)?;
        return Ok(d);
    }
    if let Some(p) = &v.projected {
        let mut all = Vec::new();
        for src in p.sources.iter().flatten() {
            if let Some(cm) = &src.config_map {
                let optional = cm.optional.unwrap_or(false);
                let data = config_map_data(ctx, &cm.name, optional).await?;
                all.extend(key_files(&data, cm.items.as_deref(), p.default_mode, optional, "configMap")?);
            }
            if let Some(s) = &src.secret {
                let optional = s.optional.unwrap_or(false);
                let data = secret_data(ctx, &s.name, optional).await?;
                all.extend(key_files(&data, s.items.as_deref(), p.default_mode, optional, "secret")?);
            }
            if let Some(da) = &src.downward_api {
                all.extend(downward_files(ctx, da.items.as_deref().unwrap_or(&[]), p.default_mode)?);
            }
            // serviceAccountToken and clusterTrustBundle sources need the TokenRequest API
            // and are skipped.
        }
        let d = dir("kubernetes.io~projected");
        write_atomic(&d, &all)?;
        return Ok(d);
    }
    if let Some(claim) = &v.persistent_volume_claim {
        return claim_path(ctx, &claim.claim_name).await;
    }
    Err(VolumeError::Unsupported(v.name.clone()))
}

fn host_path(path: &str, type_: &str) -> Result<PathBuf, VolumeError> {
    let p = PathBuf::from(path);
    let kind = |what: &str, ok: bool| {
        if ok { Ok(()) } else { Err(VolumeError::Invalid(format!("hostPath {path:?} is not a {what}"))) }
    };
    match type_ {
        "DirectoryOrCreate" => std::fs::create_dir_all(&p).map_err(io(&p))?,
        "FileOrCreate" if !p.exists() => {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&p, b"").map_err(io(&p))?;
        }
        "Directory" => kind("directory", p.is_dir())?,
        "File" => kind("file", p.is_file())?,
        "Socket" | "CharDevice" | "BlockDevice" => kind(type_, p.exists())?,
        _ => {}
    }
    Ok(p)
}

async fn config_map_data(
    ctx: &VolumeContext<'_>,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, VolumeError> {
    let ns = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let err = |e: kwatch::http::ClientError| VolumeError::Api {
        kind: "ConfigMap",
        name: name.to_owned(),
        message: e.to_string(),
    };
    match api.get_opt(name).await.map_err(err)? {
        Some(cm) => {
            let mut data: BTreeMap<String, Vec<u8>> =
                cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
            data.extend(cm.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
            Ok(data)
        }
        None if optional => Ok(BTreeMap::new()),
        None => Err(VolumeError::NotFound { kind: "configmap", name: name.to_owned() }),
    }
}

async fn secret_data(
    ctx: &VolumeContext<'_>,
    name: &str,
    optional: bool,
) -> Result<BTreeMap<String, Vec<u8>>, VolumeError> {
    let ns = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let err = |e: kwatch::http::ClientError| VolumeError::Api {
        kind: "Secret",
        name: name.to_owned(),
        message: e.to_string(),
    };
    match api.get_opt(name).await.map_err(err)? {
        Some(s) => Ok(s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()),
        None if optional => Ok(BTreeMap::new()),
        None => Err(VolumeError::NotFound { kind: "secret", name: name.to_owned() }),
    }
}

fn downward_files(
    ctx: &VolumeContext<'_>,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Vec<VolumeFile>, VolumeError> {
    let default = default_mode.and_then(|m| u32::try_from(m).ok()).map_or(DEFAULT_MODE, |m| m & 0o777);
    let mut out = Vec::new();
    for item in items {
        check_relative(&item.path)?;
        let value = if let Some(f) = &item.field_ref {
            downward::field(ctx.pod, &f.field_path, ctx.fields).map_err(|e| VolumeError::Invalid(e.to_string()))?
        } else if let Some(r) = &item.resource_field_ref {
            let containers = ctx.pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or(&[]);
            let name = r.container_name.as_deref().unwrap_or("");
            let c = containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| VolumeError::Invalid(format!("container {name:?} not found")))?;
            downward::resource(c, r, ctx.allocatable).map_err(|e| VolumeError::Invalid(e.to_string()))?
        } else {
            continue;
        };
        let mode = item.mode.and_then(|m| u32::try_from(m).ok()).map_or(default, |m| m & 0o777);
        out.push(VolumeFile { path: item.path.clone(), data: value.into_bytes(), mode });
    }
    Ok(out)
}

async fn claim_path(ctx: &VolumeContext<'_>, claim: &str) -> Result<PathBuf, VolumeError> {
    let ns = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let err = |kind, name: &str| {
        let name = name.to_owned();
        move |e: kwatch::http::ClientError| VolumeError::Api { kind, name, message: e.to_string() }
    };
    let pvc = claims
        .get_opt(claim)
        .await
        .map_err(err("PersistentVolumeClaim", claim))?
        .ok_or_else(|| VolumeError::NotFound { kind: "persistentvolumeclaim", name: claim.to_owned() })?;
    let pv_name = pvc
        .spec
        .and_then(|s| s.volume_name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| VolumeError::Invalid(format!("persistentvolumeclaim {claim:?} is not bound")))?;
    let pvs: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let pv = pvs
        .get_opt(&pv_name)
        .await
        .map_err(err("PersistentVolume", &pv_name))?
        .ok_or_else(|| VolumeError::NotFound { kind: "persistentvolume", name: pv_name.clone() })?;
    let spec = pv.spec.unwrap_or_default();
    match (spec.host_path, spec.local) {
        (Some(hp), _) => host_path(&hp.path, hp.type_.as_deref().unwrap_or("")),
        (None, Some(local)) => host_path(&local.path, "Directory"),
        _ => Err(VolumeError::Invalid(format!("persistentvolume {pv_name:?} is neither hostPath nor local"))),
    }
}

/// The CRI mounts of `container`: each volumeMount resolved against the prepared volumes
/// (with `subPath` created inside the volume).
pub(crate) fn mounts(container: &Container, volumes: &BTreeMap<String, PathBuf>) -> Result<Vec<Mount>, VolumeError> {
    let mut out = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let base = volumes
            .get(&m.name)
            .ok_or_else(|| VolumeError::Invalid(format!("volumeMount {:?} names no volume of the pod", m.name)))?;
        let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                check_relative(sub)?;
                let p = base.join(sub);
                if !p.exists() {
                    std::fs::create_dir_all(&p).map_err(io(&p))?;
                }
                p
            }
            None => base.clone(),
        };
        let propagation = match m.mount_propagation.as_deref() {
            Some("HostToContainer") => MountPropagation::HostToContainer,
            Some("Bidirectional") => MountPropagation::Bidirectional,
            _ => MountPropagation::Private,
        };
        out.push(Mount {
            container_path: m.mount_path.clone(),
            host_path: host.display().to_string(),
            readonly: m.read_only.unwrap_or(false),
            propagation,
            ..Default::default()
        });
    }
    Ok(out)
}

/// Removes the pod's directory (volumes it owns; hostPath targets are elsewhere).
pub(crate) async fn cleanup(root: &Path, uid: &str) -> Result<(), VolumeError> {
    let dir = pod_dir(root, uid);
    match tokio::fs::remove_dir_all(&dir).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(VolumeError::Io { path: dir, source: e }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use kapi::k8s::api::core::v1::VolumeMount;

    use super::*;

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().join("made/here");
        assert_eq!(host_path(d.to_str().expect("utf8"), "DirectoryOrCreate").expect("dir"), d);
        assert!(d.is_dir());
        let f = dir.path().join("f/file");
        host_path(f.to_str().expect("utf8"), "FileOrCreate").expect("file");
        assert!(f.is_file());
        assert!(host_path(f.to_str().expect("utf8"), "Directory").is_err());
        assert!(host_path("/nonexistent/x", "File").is_err());
    }

    #[test]
    fn mounts_with_sub_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vols: BTreeMap<String, PathBuf> = [("data".to_owned(), dir.path().to_owned())].into();
        let c = Container {
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    read_only: Some(true),
                    ..Default::default()
                },
                VolumeMount {
                    name: "data".into(),
                    mount_path: "/sub".into(),
                    sub_path: Some("s".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let m = mounts(&c, &vols).expect("mounts");
        assert_eq!(m[0].container_path, "/data");
        assert!(m[0].readonly);
        assert!(dir.path().join("s").is_dir());
        assert!(m[1].host_path.ends_with("/s"));
        let bad = Container {
            volume_mounts: Some(vec![VolumeMount {
                name: "nope".into(),
                mount_path: "/x".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(mounts(&bad, &vols).is_err());
    }
}
