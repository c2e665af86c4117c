//! The files of configMap, secret, downwardAPI and projected volumes (pure), and writing
//! them atomically the way upstream's `AtomicWriter` does: the payload goes to a fresh
//! `..<timestamp>` directory, the `..data` symlink is swapped to it, and each top-level
//! entry is a symlink through `..data`, so a container never sees a half-written update.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use kapi::k8s::api::core::v1::KeyToPath;

use super::VolumeError;

/// One file of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeFile {
    /// Path relative to the volume root.
    pub(crate) path: String,
    pub(crate) data: Vec<u8>,
    pub(crate) mode: u32,
}

/// Default file mode of these volumes (0644).
pub(crate) const DEFAULT_MODE: u32 = 0o644;

fn mode(m: Option<i32>, default: u32) -> u32 {
    m.and_then(|m| u32::try_from(m).ok()).map_or(default, |m| m & 0o777)
}

/// Rejects absolute paths and `..` components.
pub(crate) fn check_relative(path: &str) -> Result<(), VolumeError> {
    let p = Path::new(path);
    let ok = !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))) && !path.starts_with("..");
    if ok { Ok(()) } else { Err(VolumeError::Invalid(format!("path {path:?} must be relative without '..'"))) }
}

/// Files for the keys of a configMap or secret: every key, or only `items` mapped to their
/// paths. A missing key in `items` is an error unless `optional`.
pub(crate) fn key_files(
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    what: &str,
) -> Result<Vec<VolumeFile>, VolumeError> {
    let default = mode(default_mode, DEFAULT_MODE);
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return data
            .iter()
            .map(|(k, v)| {
                check_relative(k)?;
                Ok(VolumeFile { path: k.clone(), data: v.clone(), mode: default })
            })
            .collect();
    };
    let mut files = Vec::new();
    for item in items {
        check_relative(&item.path)?;
        match data.get(&item.key) {
            Some(v) => {
                files.push(VolumeFile { path: item.path.clone(), data: v.clone(), mode: mode(item.mode, default) })
            }
            None if optional => {}
            None => return Err(VolumeError::Invalid(format!("{what} has no key {:?}", item.key))),
        }
    }
    Ok(files)
}

/// Writes `files` as the content of `dir`, replacing the previous content atomically;
/// does nothing if the content is unchanged. Returns whether it wrote.
pub(crate) fn write_atomic(dir: &Path, files: &[VolumeFile]) -> Result<bool, VolumeError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| VolumeError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let data_link = dir.join("..data");
    if unchanged(&data_link, files) {
        return Ok(false);
    }
    let stamp = format!(
        "..{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
    );
    let payload = dir.join(&stamp);
    std::fs::create_dir_all(&payload).map_err(io(&payload))?;
    for f in files {
        let path = payload.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &f.data).map_err(io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).map_err(io(&path))?;
    }
    let old = std::fs::read_link(&data_link).ok();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &data_link).map_err(io(&data_link))?;
    let tops: BTreeSet<String> = files.iter().filter_map(|f| f.path.split('/').next().map(str::to_owned)).collect();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link).map_err(io(&link))?;
        }
    }
    // Entries of the old payload that are gone, and the old payload itself.
    for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !tops.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

fn unchanged(data_link: &Path, files: &[VolumeFile]) -> bool {
    let Ok(target) = std::fs::read_link(data_link) else { return false };
    let Some(dir) = data_link.parent().map(|d| d.join(target)) else { return false };
    let mut count = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                count += 1;
            }
        }
    }
    count == files.len() && files.iter().all(|f| std::fs::read(dir.join(&f.path)).is_ok_and(|d| d == f.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, Vec<u8>> {
        [("a".to_owned(), b"1".to_vec()), ("b".to_owned(), b"2".to_vec())].into()
    }

    #[test]
    fn keys_and_items() {
        let all = key_files(&data(), None, None, false, "cm").expect("files");
        assert_eq!(all.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let items = [KeyToPath { key: "b".into(), path: "dir/b.txt".into(), mode: Some(0o600) }];
        let some = key_files(&data(), Some(&items), Some(0o640), false, "cm").expect("files");
        assert_eq!(some, [VolumeFile { path: "dir/b.txt".into(), data: b"2".to_vec(), mode: 0o600 }]);
        let missing = [KeyToPath { key: "z".into(), path: "z".into(), mode: None }];
        assert!(key_files(&data(), Some(&missing), None, false, "cm").is_err());
        assert!(key_files(&data(), Some(&missing), None, true, "cm").expect("optional").is_empty());
        let escape = [KeyToPath { key: "a".into(), path: "../x".into(), mode: None }];
        assert!(key_files(&data(), Some(&escape), None, false, "cm").is_err());
    }

    #[test]
    fn atomic_updates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = dir.path().join("vol");
        let files = key_files(&data(), None, None, false, "cm").expect("files");
        assert!(write_atomic(&v, &files).expect("write"));
        assert_eq!(std::fs::read(v.join("a")).expect("a"), b"1");
        assert!(!write_atomic(&v, &files).expect("write"), "unchanged content is not rewritten");
        let only_b = vec![VolumeFile { path: "b".into(), data: b"3".to_vec(), mode: DEFAULT_MODE }];
        assert!(write_atomic(&v, &only_b).expect("write"));
        assert_eq!(std::fs::read(v.join("b")).expect("b"), b"3");
        assert!(!v.join("a").exists());
        let payloads =
            std::fs::read_dir(&v).expect("ls").flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).count();
        assert_eq!(payloads, 1, "the old payload is removed (..data resolves to the one left)");
    }
}
