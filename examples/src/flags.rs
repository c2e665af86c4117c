//! Parsing of etcd-style URL and cluster flags.

use std::net::{SocketAddr, ToSocketAddrs};

/// A flag value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlagError {
    /// Not `http://host:port` (or `https://`, which is not served yet).
    #[error("invalid URL {0:?}: want http://host:port")]
    Url(String),
    /// `--initial-cluster` entry not of the form `name=url`.
    #[error("invalid --initial-cluster entry {0:?}: want name=http://host:port")]
    ClusterEntry(String),
    /// The same name twice in `--initial-cluster`.
    #[error("member {0:?} appears twice in --initial-cluster")]
    DuplicateName(String),
    /// This member's name is not in `--initial-cluster`.
    #[error("--name {0:?} is not in --initial-cluster")]
    NotAMember(String),
    /// Not a Go duration (`300ms`, `1.5s`, `2m`, `1h30m`).
    #[error("invalid duration {0:?}: want a Go duration such as 300ms, 15s, 2m or 1h30m")]
    Duration(String),
}

/// This machine's hostname (the first part of component identities, as upstream).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Parses a Go duration (`time.ParseDuration`): decimal numbers with units `ns`, `us`
/// (or `µs`), `ms`, `s`, `m`, `h`, concatenated (`1h30m`); `0` alone is zero. Negative
/// durations are refused.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, FlagError> {
    let bad = || FlagError::Duration(s.to_owned());
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Parses a comma-separated list of `http://host:port` URLs.
pub fn parse_urls(list: &str) -> Result<Vec<SocketAddr>, FlagError> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_url).collect()
}

/// Parses one `http://host:port` URL (hosts are resolved).
pub fn parse_url(url: &str) -> Result<SocketAddr, FlagError> {
    let bad = || FlagError::Url(url.to_owned());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let hostport = rest.trim_end_matches('/');
    if hostport.contains('/') {
        return Err(bad());
    }
    hostport.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)
}

/// Parses `--initial-cluster`: `name=url,name=url,…`, in the given order.
pub fn parse_initial_cluster(s: &str) -> Result<Vec<(String, SocketAddr)>, FlagError> {
    let mut out: Vec<(String, SocketAddr)> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, url) = entry.split_once('=').ok_or_else(|| FlagError::ClusterEntry(entry.to_owned()))?;
        if name.is_empty() {
            return Err(FlagError::ClusterEntry(entry.to_owned()));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(FlagError::DuplicateName(name.to_owned()));
        }
        out.push((name.to_owned(), parse_url(url)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "15", "s", "-1s", "1d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(parse_url("http://127.0.0.1:2379"), Ok("127.0.0.1:2379".parse().unwrap()));
        assert_eq!(parse_url("http://127.0.0.1:2379/"), Ok("127.0.0.1:2379".parse().unwrap()));
        assert!(parse_url("127.0.0.1:2379").is_err());
        assert!(parse_url("https://127.0.0.1:2379").is_err());
        assert!(parse_url("http://127.0.0.1").is_err());
        assert!(parse_url("http://127.0.0.1:2379/x").is_err());
        assert_eq!(parse_urls("http://127.0.0.1:1, http://127.0.0.2:2").unwrap().len(), 2);
    }

    #[test]
    fn clusters() {
        let c = parse_initial_cluster("a=http://127.0.0.1:1,b=http://127.0.0.1:2").unwrap();
        assert_eq!(c.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            parse_initial_cluster("a=http://127.0.0.1:1,a=http://127.0.0.1:2"),
            Err(FlagError::DuplicateName("a".into()))
        );
        assert!(matches!(parse_initial_cluster("a"), Err(FlagError::ClusterEntry(_))));
        assert!(matches!(parse_initial_cluster("=http://127.0.0.1:1"), Err(FlagError::ClusterEntry(_))));
    }
}
