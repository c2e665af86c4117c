//! One cluster per data directory: a pid file, checked against the running processes.

use std::path::{Path, PathBuf};

use super::ClusterError;

/// The file holding the pid of the cluster that owns the directory.
const PID_FILE: &str = "kcluster.pid";

/// Holds a data directory for this process; removes the pid file when dropped.
#[derive(Debug)]
pub struct DataDirGuard {
    pid_file: PathBuf,
}

/// Whether `pid` is a live process (this one included: a second cluster in the same
/// process is refused too).
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

impl DataDirGuard {
    /// Creates `dir` if needed and takes it.
    ///
    /// # Errors
    /// [`ClusterError::DataDirInUse`] when a live process holds it; I/O errors.
    pub fn acquire(dir: &Path) -> Result<Self, ClusterError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ClusterError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let pid_file = dir.join(PID_FILE);
        // A pid file left by a cluster that died is taken over.
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse::<u32>()
            && alive(pid)
        {
            return Err(ClusterError::DataDirInUse { dir: dir.to_path_buf(), pid });
        }
        std::fs::write(&pid_file, std::process::id().to_string()).map_err(io(&pid_file))?;
        Ok(Self { pid_file })
    }
}

impl Drop for DataDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_keeps_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        // pid 1 is always alive.
        std::fs::write(dir.path().join(PID_FILE), "1").expect("write");
        let err = DataDirGuard::acquire(dir.path()).expect_err("in use");
        assert!(matches!(err, ClusterError::DataDirInUse { pid: 1, .. }), "{err}");
        // A stale pid (no such process) is taken over, and released on drop.
        std::fs::write(dir.path().join(PID_FILE), "4194304").expect("write");
        let guard = DataDirGuard::acquire(dir.path()).expect("stale pid taken over");
        let owner = std::fs::read_to_string(dir.path().join(PID_FILE)).expect("read");
        assert_eq!(owner, std::process::id().to_string());
        drop(guard);
        assert!(!dir.path().join(PID_FILE).exists());
    }
}
