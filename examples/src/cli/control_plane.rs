//! `kcluster control-plane` and `kcluster image`: the control plane as static pods of a
//! kubelet (see [`crate::control_plane`]).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::control_plane::{self, ControlPlaneConfig, image};

/// `kcluster control-plane`.
#[derive(Debug, clap::Args)]
pub struct ControlPlane {
    /// The kubelet's static pod directory (its `--pod-manifest-path`).
    #[arg(long, default_value = "/etc/kubernetes/manifests")]
    manifest_dir: PathBuf,
    /// Certificates, kubeconfigs and the store's data.
    #[arg(long, default_value = "./kcluster-data")]
    data_dir: PathBuf,
    /// The node whose kubelet runs the control plane (default: the hostname).
    #[arg(long)]
    node_name: Option<String>,
    /// The node's address, advertised by the API server (default: loopback only).
    #[arg(long)]
    node_ip: Option<Ipv4Addr>,
    /// The API server's HTTPS port.
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// The containers' image (default: the one `kcluster image` builds).
    #[arg(long)]
    image: Option<String>,
    /// Where the component binaries are (default: beside this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// External etcd or kstore-server client URLs instead of a kstore static pod.
    #[arg(long, value_delimiter = ',')]
    store_endpoints: Vec<String>,
}

/// `kcluster image`.
#[derive(Debug, clap::Args)]
pub struct Image {
    /// The OCI image layout tarball to write.
    #[arg(long)]
    out: PathBuf,
    /// Where the component binaries are (default: beside this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The image's name.
    #[arg(long)]
    tag: Option<String>,
}

fn bin_dir(flag: Option<PathBuf>) -> Result<PathBuf, super::BoxError> {
    let dir = match flag {
        Some(d) => d,
        None => std::env::current_exe()?.parent().map(Path::to_path_buf).ok_or("cannot locate this program")?,
    };
    Ok(std::path::absolute(dir)?)
}

/// Writes the certificates, kubeconfigs and manifests, and says what to run next.
pub fn control_plane(args: ControlPlane) -> Result<(), super::BoxError> {
    let config = ControlPlaneConfig {
        data_dir: std::path::absolute(&args.data_dir)?,
        manifest_dir: args.manifest_dir,
        node_name: args.node_name.unwrap_or_else(crate::flags::hostname).to_lowercase(),
        node_ip: args.node_ip,
        port: args.port,
        image: args.image.unwrap_or_else(control_plane::default_image),
        bin_dir: bin_dir(args.bin_dir)?,
        store_endpoints: args.store_endpoints,
    };
    let written = control_plane::write(&config)?;
    for m in &written.manifests {
        eprintln!("wrote {}", m.display());
    }
    eprintln!("wrote {} and the components' kubeconfigs", written.admin_kubeconfig.display());
    eprintln!("next, on node {}:", config.node_name);
    eprintln!("  kcluster image --out runtime.tar && ctr -n k8s.io images import runtime.tar");
    eprintln!(
        "  kubelet --node-name {} --pod-manifest-path {} --kubeconfig {}",
        config.node_name,
        config.manifest_dir.display(),
        written.kubelet_kubeconfig.display()
    );
    eprintln!("  export KUBECONFIG={}; kubectl -n kube-system get pods", written.admin_kubeconfig.display());
    Ok(())
}

/// Builds the runtime image from the libraries the component binaries load.
pub fn image(args: Image) -> Result<(), super::BoxError> {
    let dir = bin_dir(args.bin_dir)?;
    let names = ["kstore-server", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kcluster"];
    let mut files = Vec::new();
    for binary in names.iter().map(|n| dir.join(n)).filter(|p| p.is_file()) {
        files.extend(image::shared_libraries(&binary)?);
    }
    if files.is_empty() {
        return Err(format!("no component binaries in {}", dir.display()).into());
    }
    files.sort();
    files.dedup();
    let reference = args.tag.unwrap_or_else(control_plane::default_image);
    let tarball = image::oci_layout(&reference, &files)?;
    std::fs::write(&args.out, &tarball).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!("wrote {} ({reference}, {} bytes)", args.out.display(), tarball.len());
    eprintln!("  ctr -n k8s.io images import {}", args.out.display());
    Ok(())
}
