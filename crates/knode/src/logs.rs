//! Container logs: the kubelet's layout `<pod log dir>/<ns>_<name>_<uid>/<container>/<restart>.log`
//! and reading the CRI log format (`<RFC3339Nano> <stream> <P|F> <text>`) back, for
//! `kubectl logs`.
//!
//! ```
//! use knode::logs::{LogOptions, parse_cri_log};
//!
//! let text = "2024-01-01T00:00:00.000000001Z stdout P hel\n2024-01-01T00:00:00.000000002Z stdout F lo\n";
//! assert_eq!(parse_cri_log(text, &LogOptions::default()), "hello\n");
//! ```

use std::path::{Path, PathBuf};

/// Errors reading logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The container has no log (never ran, or no previous instance).
    #[error("no log for container {container:?}{}", if *previous { " (previous)" } else { "" })]
    NotFound {
        /// Container name.
        container: String,
        /// Whether the previous instance was asked for.
        previous: bool,
    },
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Which lines to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogOptions {
    /// The previous instance of the container (`kubectl logs --previous`).
    pub previous: bool,
    /// Only the last `n` lines.
    pub tail_lines: Option<usize>,
    /// Prefix lines with their timestamp.
    pub timestamps: bool,
}

/// The directory of a pod's logs: `<root>/<namespace>_<name>_<uid>`.
pub fn pod_log_dir(root: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{name}_{uid}"))
}

/// A container's log path relative to the pod log directory: `<container>/<restart>.log`
/// (what `ContainerConfig.log_path` carries).
pub fn container_log_relative(container: &str, restart: u32) -> String {
    format!("{container}/{restart}.log")
}

/// Log files of one container, oldest restart first.
fn restarts(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_suffix(".log")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// Reads the log of `container` of a pod whose log directory is `pod_dir` (see
/// [`pod_log_dir`]): the newest restart, or the one before with `previous`.
///
/// # Errors
///
/// [`LogError::NotFound`] when there is no such log; [`LogError::Io`] when reading fails.
pub async fn read_container_log(pod_dir: &Path, container: &str, options: &LogOptions) -> Result<String, LogError> {
    let path = container_log_file(pod_dir, container, options.previous)?;
    let text = tokio::fs::read_to_string(&path).await.map_err(|source| LogError::Io { path: path.clone(), source })?;
    Ok(parse_cri_log(&text, options))
}

/// The log file of `container` in `pod_dir`: the newest restart's, or the one before with
/// `previous`.
///
/// # Errors
///
/// [`LogError::NotFound`] when there is no such file.
pub fn container_log_file(pod_dir: &Path, container: &str, previous: bool) -> Result<PathBuf, LogError> {
    let files = restarts(&pod_dir.join(container));
    let pick = if previous { files.len().checked_sub(2) } else { files.len().checked_sub(1) };
    match pick.and_then(|i| files.get(i)) {
        Some((_, path)) => Ok(path.clone()),
        None => Err(LogError::NotFound { container: container.to_owned(), previous }),
    }
}

/// The text of a CRI-format log: partial (`P`) lines joined with what follows, full (`F`)
/// lines ended with a newline; malformed lines kept as they are.
pub fn parse_cri_log(text: &str, options: &LogOptions) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut partial = String::new();
    for raw in text.lines() {
        let mut parts = raw.splitn(4, ' ');
        let (Some(ts), Some(_stream), Some(tag), content) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            lines.push(format!("{raw}\n"));
            continue;
        };
        let content = content.unwrap_or("");
        if partial.is_empty() && options.timestamps {
            partial.push_str(ts);
            partial.push(' ');
        }
        partial.push_str(content);
        if tag != "P" {
            partial.push('\n');
            lines.push(std::mem::take(&mut partial));
        }
    }
    if !partial.is_empty() {
        lines.push(partial);
    }
    let skip = options.tail_lines.map_or(0, |n| lines.len().saturating_sub(n));
    lines[skip..].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str =
        "2024-01-01T00:00:00Z stdout F one\n2024-01-01T00:00:01Z stderr F two\n2024-01-01T00:00:02Z stdout F three\n";

    #[test]
    fn parse_and_tail() {
        assert_eq!(parse_cri_log(LOG, &LogOptions::default()), "one\ntwo\nthree\n");
        let tail = LogOptions { tail_lines: Some(1), ..Default::default() };
        assert_eq!(parse_cri_log(LOG, &tail), "three\n");
        let ts = LogOptions { timestamps: true, tail_lines: Some(1), ..Default::default() };
        assert_eq!(parse_cri_log(LOG, &ts), "2024-01-01T00:00:02Z three\n");
        assert_eq!(parse_cri_log("garbage\n", &LogOptions::default()), "garbage\n");
    }

    #[tokio::test]
    async fn reads_newest_and_previous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pod = pod_log_dir(dir.path(), "ns", "web", "u1");
        assert!(pod.ends_with("ns_web_u1"));
        std::fs::create_dir_all(pod.join("app")).expect("mkdir");
        std::fs::write(pod.join(container_log_relative("app", 0)), "2024-01-01T00:00:00Z stdout F old\n")
            .expect("write");
        std::fs::write(pod.join(container_log_relative("app", 10)), LOG).expect("write");
        let now = read_container_log(&pod, "app", &LogOptions::default()).await.expect("log");
        assert_eq!(now, "one\ntwo\nthree\n");
        let prev = LogOptions { previous: true, ..Default::default() };
        assert_eq!(read_container_log(&pod, "app", &prev).await.expect("log"), "old\n");
        assert!(matches!(read_container_log(&pod, "db", &LogOptions::default()).await, Err(LogError::NotFound { .. })));
    }
}
