//! The `kcluster` command line: one function per subcommand, so the binary only parses
//! and dispatches.

mod control_plane;
mod up;

pub use control_plane::{ControlPlane, Image, control_plane, image};
pub use up::{Proxy, Up, up};

/// Errors reported to the user as they are.
pub type BoxError = Box<dyn std::error::Error>;

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Starts the cluster and runs it until Ctrl-C or SIGTERM.
    Up(Up),
    /// Writes the control plane as static pods of a kubelet: certificates, one kubeconfig
    /// per component and the manifests.
    ControlPlane(ControlPlane),
    /// Builds the static pods' runtime image (an OCI layout tarball for `ctr images import`).
    Image(Image),
}

/// Runs one subcommand.
pub async fn run(command: Command) -> Result<(), BoxError> {
    match command {
        Command::Up(args) => up(args).await,
        Command::ControlPlane(args) => control_plane(args),
        Command::Image(args) => image(args),
    }
}
