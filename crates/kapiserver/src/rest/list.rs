//! Lists: from the watch cache when the request allows (no resourceVersion = consistent
//! read after the cache catches up with the store; "0" = any; N = not older than N), from
//! the store at an exact revision otherwise, with upstream's `limit`/`continue` paging.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use kapi::StatusError;
use kapi::fields::kind_fields;
use serde_json::{Value, json};

use super::{Api, CACHE_WAIT};
use crate::cache::Cached;
use crate::filter::Filter;
use crate::resources::ResourceInfo;

/// `resourceVersionMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceVersionMatch {
    /// At least the given version.
    NotOlderThan,
    /// Exactly the given version.
    Exact,
}

/// The read parameters of a list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Namespace, labels and fields.
    pub filter: Filter,
    /// `limit` (0 = all).
    pub limit: i64,
    /// `continue` token.
    pub continue_token: Option<String>,
    /// `resourceVersion` ("" = unset).
    pub resource_version: String,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<ResourceVersionMatch>,
}

/// One listed object: shared from the cache or read from the store.
#[derive(Debug, Clone)]
pub enum ListItem {
    /// From the watch cache (already serialised).
    Cached(Arc<Cached>),
    /// Read from the store.
    Owned(Value),
}

impl ListItem {
    /// The object.
    pub fn value(&self) -> &Value {
        match self {
            ListItem::Cached(c) => &c.value,
            ListItem::Owned(v) => v,
        }
    }

    /// The object serialised.
    pub fn to_json(&self) -> Result<Bytes, StatusError> {
        match self {
            ListItem::Cached(c) => Ok(c.json.clone()),
            ListItem::Owned(v) => serde_json::to_vec(v).map(Bytes::from).map_err(StatusError::internal),
        }
    }
}

/// A list result before encoding.
#[derive(Debug)]
pub struct ListResult {
    /// Items in key order.
    pub items: Vec<ListItem>,
    /// The list's resourceVersion.
    pub resource_version: i64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Items after this page, when known.
    pub remaining: Option<i64>,
}

/// Parses a resourceVersion query value ("" = unset).
pub(crate) fn parse_rv(rv: &str) -> Result<Option<i64>, StatusError> {
    if rv.is_empty() {
        return Ok(None);
    }
    rv.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or_else(|| StatusError::bad_request(format!("invalid resource version: {rv}")))
}

fn encode_continue(rv: i64, start: &[u8], prefix: &[u8]) -> String {
    // Upstream's token shape: the start key is relative to the collection prefix.
    // The next page starts just after the last key (key + NUL), as upstream encodes it.
    let rel = start.strip_prefix(prefix).unwrap_or(start);
    let mut next = String::from_utf8_lossy(rel).into_owned();
    next.push('\0');
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": next});
    B64.encode(token.to_string())
}

fn decode_continue(token: &str, prefix: &[u8]) -> Result<(i64, Bytes), StatusError> {
    let bad = || {
        StatusError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = B64.decode(token).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = v.get("rv").and_then(Value::as_i64).filter(|r| *r > 0).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    let mut key = prefix.to_vec();
    key.extend_from_slice(start.as_bytes());
    Ok((rv, Bytes::from(key)))
}

impl Api {
    /// Lists `res` with `q`.
    pub async fn list(&self, res: &ResourceInfo, q: &ListQuery) -> Result<ListResult, StatusError> {
        let prefix = self.storage().prefix(res, q.filter.namespace.as_deref())?;
        if let Some(token) = q.continue_token.as_deref().filter(|t| !t.is_empty()) {
            if !q.resource_version.is_empty() {
                return Err(StatusError::bad_request("specifying resource version is not allowed when using continue"));
            }
            let (rv, start) = decode_continue(token, &prefix)?;
            return self.list_store(res, &prefix, q, Some(start), rv).await;
        }
        let rv = parse_rv(&q.resource_version)?;
        if q.resource_version_match.is_some() && rv.is_none() {
            return Err(StatusError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        match (rv, q.resource_version_match) {
            (Some(0), Some(ResourceVersionMatch::Exact)) => {
                Err(StatusError::bad_request("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\""))
            }
            (Some(n), Some(ResourceVersionMatch::Exact)) => self.list_store(res, &prefix, q, None, n).await,
            // Upstream: an explicit version with a limit and no match rule means exact.
            (Some(n), None) if n > 0 && q.limit > 0 => self.list_store(res, &prefix, q, None, n).await,
            (Some(n), _) => self.list_cache(res, &prefix, q, n).await,
            (None, _) => {
                let current = self.storage().current_revision().await?;
                self.list_cache(res, &prefix, q, current).await
            }
        }
    }

    async fn list_cache(
        &self,
        res: &ResourceInfo,
        prefix: &[u8],
        q: &ListQuery,
        at_least: i64,
    ) -> Result<ListResult, StatusError> {
        let cache = self.cache(res);
        cache.wait_for(at_least, CACHE_WAIT).await?;
        let limit = usize::try_from(q.limit.max(0)).unwrap_or(usize::MAX);
        let (items, rev, more) = cache.list(&q.filter, None, limit);
        let continue_token = match (more, items.last()) {
            (true, Some(last)) => Some(encode_continue(rev, &last.key, prefix)),
            _ => None,
        };
        Ok(ListResult {
            items: items.into_iter().map(ListItem::Cached).collect(),
            resource_version: rev,
            continue_token,
            remaining: None,
        })
    }

    /// Reads from the store at `rev`, filtering and paging like upstream (read pages until
    /// `limit` matching items are found).
    async fn list_store(
        &self,
        res: &ResourceInfo,
        prefix: &Bytes,
        q: &ListQuery,
        mut start: Option<Bytes>,
        rev: i64,
    ) -> Result<ListResult, StatusError> {
        let kf = kind_fields(&res.group, &res.kind);
        let want = q.limit.max(0);
        let mut items = Vec::new();
        let mut rev = rev;
        let done = |items: Vec<(Bytes, Value)>, rev, token, remaining| ListResult {
            items: items.into_iter().map(|(_, v)| ListItem::Owned(v)).collect(),
            resource_version: rev,
            continue_token: token,
            remaining,
        };
        loop {
            let page_limit = if want == 0 { 0 } else { want.max(want.min(500)) };
            let page = self
                .storage()
                .list(res, prefix.clone(), start.clone(), rev, page_limit)
                .await
                .map_err(|e| if e.code() == 410 { StatusError::expired(CONTINUE_TOO_OLD) } else { e })?;
            rev = page.revision;
            let last_key = page.items.last().map(|(k, _)| k.clone());
            let total = page.items.len();
            let mut consumed = 0;
            for (key, obj) in page.items {
                if want > 0 && items.len() as i64 == want {
                    break;
                }
                consumed += 1;
                if q.filter.matches_value(&kf, &obj) {
                    items.push((key, obj));
                }
            }
            let unconsumed = (total - consumed) as i64;
            let more = page.more || unconsumed > 0;
            if want > 0 && items.len() as i64 == want && more {
                let last = items.last().map(|(k, _)| k.clone()).unwrap_or_default();
                let token = encode_continue(rev, &last, prefix);
                // Only exact without selectors, as upstream.
                let remaining = q.filter.is_namespace_only().then_some(page.remaining + unconsumed);
                return Ok(done(items, rev, Some(token), remaining));
            }
            if !page.more {
                return Ok(done(items, rev, None, None));
            }
            start = last_key.map(|k| {
                let mut k = k.to_vec();
                k.push(0);
                Bytes::from(k)
            });
        }
    }
}

const CONTINUE_TOO_OLD: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let prefix = b"/registry/core/pods/";
        let t = encode_continue(42, b"/registry/core/pods/default/web", prefix);
        let (rv, start) = decode_continue(&t, prefix).unwrap();
        assert_eq!(rv, 42);
        assert_eq!(&start[..], b"/registry/core/pods/default/web\0");
        assert_eq!(decode_continue("!!", prefix).unwrap_err().code(), 400);
        let evil = B64.encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"../../secrets"}"#);
        assert_eq!(decode_continue(&evil, prefix).unwrap_err().code(), 400);
    }

    #[test]
    fn resource_versions_parse() {
        assert_eq!(parse_rv("").unwrap(), None);
        assert_eq!(parse_rv("12").unwrap(), Some(12));
        assert!(parse_rv("-1").is_err());
        assert!(parse_rv("x").is_err());
    }
}
