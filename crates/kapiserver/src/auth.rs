//! Authentication: bearer tokens (`--token-auth-file`, plus the admin token generated on
//! first start) and x509 client certificates verified by the TLS layer.

use std::collections::HashMap;
use std::path::Path;

use http::HeaderMap;

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Uid (tokens file) or empty.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// Why a token file is bad.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Unreadable.
    #[error("reading token file {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {path} line {line}: want token,user,uid[,\"group1,group2\"]")]
    Line {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
    },
}

/// Verifies requests.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, User>,
}

impl Authenticator {
    /// No credentials yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `user`.
    pub fn add_token(&mut self, token: impl Into<String>, user: User) {
        self.tokens.insert(token.into(), user);
    }

    /// Loads an upstream static token file: `token,user,uid,"group1,group2"` per line.
    pub fn load_token_file(&mut self, path: &Path) -> Result<(), AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| AuthError::Read { path: path.display().to_string(), source })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || AuthError::Line { path: path.display().to_string(), line: i + 1 };
            let fields = split_csv(line);
            if fields.len() < 3 || fields[0].is_empty() || fields[1].is_empty() {
                return Err(bad());
            }
            let groups = fields
                .get(3)
                .map(|g| g.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default();
            self.add_token(fields[0].clone(), User { name: fields[1].clone(), uid: fields[2].clone(), groups });
        }
        Ok(())
    }

    /// Authenticates by bearer token or the client certificate's subject (CN = user,
    /// O = groups), which the TLS layer has already verified.
    pub fn authenticate(&self, headers: &HeaderMap, client_cert: Option<&User>) -> Option<User> {
        if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let token = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?.trim();
            let mut user = self.tokens.get(token)?.clone();
            if !user.groups.iter().any(|g| g == "system:authenticated") {
                user.groups.push("system:authenticated".into());
            }
            return Some(user);
        }
        client_cert.cloned()
    }
}

/// Splits one CSV line with double-quoted fields.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_and_bearer_auth() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens.csv");
        std::fs::write(&f, "# comment\nsecret,alice,1,\"dev,ops\"\nother,bob,2\n").unwrap();
        let mut a = Authenticator::new();
        a.load_token_file(&f).unwrap();
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, "Bearer secret".parse().unwrap());
        let u = a.authenticate(&h, None).unwrap();
        assert_eq!(u.name, "alice");
        assert!(u.groups.contains(&"ops".to_owned()));
        h.insert(http::header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(a.authenticate(&h, None).is_none());
        assert!(a.authenticate(&HeaderMap::new(), None).is_none());
        std::fs::write(&f, "only-token\n").unwrap();
        assert!(Authenticator::new().load_token_file(&f).is_err());
    }
}
