//! The runtime image of the control-plane static pods: the C runtime the component binaries
//! link against (found with `ldd`), a minimal `/etc`, and an empty `/kcluster/bin` where
//! the binaries are mounted from the node. Written as an OCI image layout tarball that
//! `ctr -n k8s.io images import` loads; no registry and no container tooling needed.
//!
//! Keeping the binaries out of the image keeps it small (a few MB) and lets a node upgrade
//! the binaries without rebuilding it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest, Sha256};

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// `ldd` could not run or refused a binary.
    #[error("ldd {binary}: {message}")]
    Ldd {
        /// The binary.
        binary: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A shared library a binary needs is missing on this machine.
    #[error("{binary} needs {library}, which is not found")]
    MissingLibrary {
        /// The binary.
        binary: PathBuf,
        /// The library's name.
        library: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io { path: path.to_owned(), source }
}

/// The files `ldd` reports for one binary: resolved libraries and the program interpreter
/// (the vDSO has no file). A library reported "not found" is an error naming it.
///
/// # Errors
/// [`ImageError::MissingLibrary`].
pub fn parse_ldd(binary: &Path, output: &str) -> Result<Vec<PathBuf>, ImageError> {
    let mut files = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(ImageError::MissingLibrary {
                        binary: binary.to_owned(),
                        library: name.trim().to_owned(),
                    });
                }
                rest
            }
            None => line,
        };
        let path = target.split(" (").next().unwrap_or("").trim();
        if path.starts_with('/') {
            files.push(PathBuf::from(path));
        }
    }
    Ok(files)
}

/// The shared libraries and interpreter `binary` loads, by running `ldd`.
///
/// # Errors
/// `ldd` missing or failing, or a library not found.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| ImageError::Ldd { binary: binary.to_owned(), message: e.to_string() })?;
    if !out.status.success() {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ImageError::Ldd { binary: binary.to_owned(), message });
    }
    parse_ldd(binary, &String::from_utf8_lossy(&out.stdout))
}

/// The OCI platform architecture of this build.
fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A deterministic tar stream: fixed owner and mtime, so equal inputs give equal digests.
struct TarWriter(tar::Builder<Vec<u8>>);

impl TarWriter {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_704_067_200); // 2024-01-01
        h
    }

    fn dir(&mut self, path: &str) -> std::io::Result<()> {
        let mode = if path == "tmp" { 0o1777 } else { 0o755 };
        let mut h = Self::header(tar::EntryType::Directory, 0, mode);
        self.0.append_data(&mut h, format!("{path}/"), std::io::empty())
    }

    fn file(&mut self, path: &str, data: &[u8], mode: u32) -> std::io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, mode);
        self.0.append_data(&mut h, path, data)
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        self.0.into_inner()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The root file system layer: `files` (host paths, copied to the same paths) plus `/etc`
/// basics, `/tmp` and the binaries' mount point.
fn layer(files: &[PathBuf]) -> Result<Vec<u8>, ImageError> {
    // Paths inside the image, sorted, with every parent directory.
    let mut entries: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let add_dirs = |entries: &mut BTreeMap<String, Option<Vec<u8>>>, path: &str| {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            entries.entry(prefix.clone()).or_insert(None);
        }
    };
    for d in ["tmp", "kcluster/bin", "etc"] {
        add_dirs(&mut entries, d);
    }
    let etc: [(&str, &[u8]); 4] = [
        ("etc/passwd", b"root:x:0:0:root:/:/sbin/nologin\n"),
        ("etc/group", b"root:x:0:\n"),
        ("etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n"),
        ("etc/nsswitch.conf", b"hosts: files dns\n"),
    ];
    for (path, data) in etc {
        entries.insert(path.to_owned(), Some(data.to_vec()));
    }
    for file in files {
        let inner = file.to_string_lossy().trim_start_matches('/').to_owned();
        if let Some((parent, _)) = inner.rsplit_once('/') {
            add_dirs(&mut entries, parent);
        }
        // Read through symbolic links: the image holds the library itself.
        let data = std::fs::read(file).map_err(io(file))?;
        entries.insert(inner, Some(data));
    }
    let mut tar = TarWriter::new();
    let result: std::io::Result<()> = entries.iter().try_for_each(|(path, data)| match data {
        None => tar.dir(path),
        Some(d) if path.starts_with("etc/") => tar.file(path, d, 0o644),
        Some(d) => tar.file(path, d, 0o755),
    });
    let layer = result.and_then(|()| tar.finish()).map_err(io(Path::new("<layer>")))?;
    Ok(layer)
}

/// The OCI image layout tarball of an image named `reference` holding `files` (see
/// [`shared_libraries`]). Equal inputs give a byte-identical tarball.
///
/// # Errors
/// A file that cannot be read.
pub fn oci_layout(reference: &str, files: &[PathBuf]) -> Result<Vec<u8>, ImageError> {
    let layer = layer(files)?;
    let layer_digest = sha256_hex(&layer);
    let lib_dirs: Vec<String> = {
        let mut dirs: Vec<String> = files.iter().filter_map(|f| f.parent().map(|p| p.display().to_string())).collect();
        dirs.sort();
        dirs.dedup();
        dirs
    };
    let config = serde_json::to_vec(&json!({
        "architecture": architecture(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/kcluster/bin", format!("LD_LIBRARY_PATH={}", lib_dirs.join(":"))],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    }))
    .unwrap_or_default();
    let config_digest = sha256_hex(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    }))
    .unwrap_or_default();
    let manifest_digest = sha256_hex(&manifest);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "platform": {"architecture": architecture(), "os": "linux"},
            // containerd names the imported image after the first annotation.
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": reference,
            },
        }],
    }))
    .unwrap_or_default();

    let mut out = TarWriter::new();
    let result = (|| {
        out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644)?;
        out.file("index.json", &index, 0o644)?;
        out.dir("blobs")?;
        out.dir("blobs/sha256")?;
        for (digest, data) in [(&config_digest, &config), (&manifest_digest, &manifest), (&layer_digest, &layer)] {
            out.file(&format!("blobs/sha256/{digest}"), data, 0o644)?;
        }
        Ok::<(), std::io::Error>(())
    })();
    result.and_then(|()| out.finish()).map_err(io(Path::new("<image>")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDD: &str = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f8f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f8e)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f8f)\n";

    #[test]
    fn ldd_output_gives_libraries_and_the_interpreter() {
        let files = parse_ldd(Path::new("/bin/x"), LDD).expect("parse");
        assert_eq!(
            files,
            ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]
                .map(PathBuf::from)
        );
        let err = parse_ldd(Path::new("/bin/x"), "\tlibfoo.so.1 => not found\n").expect_err("missing");
        assert!(err.to_string().contains("libfoo.so.1"), "{err}");
        assert!(parse_ldd(Path::new("/bin/x"), "\tstatically linked\n").expect("static").is_empty());
    }

    fn entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut archive = tar::Archive::new(tar);
        let mut out = BTreeMap::new();
        for e in archive.entries().expect("entries") {
            let mut e = e.expect("entry");
            let path = e.path().expect("path").display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).expect("read");
            out.insert(path, data);
        }
        out
    }

    #[test]
    fn the_layout_is_consistent_and_reproducible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lib = dir.path().join("lib").join("libz.so.1");
        std::fs::create_dir_all(lib.parent().expect("parent")).expect("mkdir");
        std::fs::write(&lib, b"not really a library").expect("write");
        let image = oci_layout("kcluster.local/runtime:1", std::slice::from_ref(&lib)).expect("image");
        assert_eq!(
            image,
            oci_layout("kcluster.local/runtime:1", std::slice::from_ref(&lib)).expect("again"),
            "reproducible"
        );

        let files = entries(&image);
        let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).expect("index");
        assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], "kcluster.local/runtime:1");
        let blob = |digest: &serde_json::Value| {
            let d = digest.as_str().expect("digest").trim_start_matches("sha256:");
            let data = files[&format!("blobs/sha256/{d}")].clone();
            assert_eq!(sha256_hex(&data), d, "blob content matches its digest");
            data
        };
        let manifest: serde_json::Value = serde_json::from_slice(&blob(&index["manifests"][0]["digest"])).expect("m");
        let config: serde_json::Value = serde_json::from_slice(&blob(&manifest["config"]["digest"])).expect("config");
        let layer = blob(&manifest["layers"][0]["digest"]);
        assert_eq!(config["rootfs"]["diff_ids"][0], manifest["layers"][0]["digest"], "uncompressed layer");

        let root = entries(&layer);
        let inner = lib.to_string_lossy().trim_start_matches('/').to_owned();
        assert_eq!(root[&inner], b"not really a library");
        for needed in ["tmp/", "kcluster/bin/", "etc/passwd", "etc/hosts"] {
            assert!(root.contains_key(needed.trim_end_matches('/')) || root.contains_key(needed), "{needed}");
        }
    }
}
