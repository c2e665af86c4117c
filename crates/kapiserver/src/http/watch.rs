//! Watch responses: a chunked stream of `{"type":…,"object":…}` lines fed from the watch
//! cache, with bookmarks, `sendInitialEvents`, timeouts and 410 for expired versions.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use kapi::StatusError;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::respond::{Body, Want};
use super::table;
use crate::cache::CacheEvent;
use crate::crd::schema::PrinterColumns;
use crate::filter::Filter;
use crate::resources::ResourceInfo;
use crate::rest::Api;

/// Parameters of a watch request.
#[derive(Debug, Clone)]
pub(super) struct WatchParams {
    /// Namespace/labels/fields.
    pub filter: Filter,
    /// `resourceVersion` (None = unset).
    pub resource_version: Option<i64>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds` (None = a random 30–60 min, as upstream's default).
    pub timeout: Option<Duration>,
    /// Representation.
    pub want: Want,
}

/// How often an idle watch gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

fn line(kind: &str, object: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object);
    b.put_slice(b"}\n");
    b.freeze()
}

fn error_line(e: &StatusError) -> Bytes {
    let obj = serde_json::to_vec(&e.to_status()).unwrap_or_default();
    line("ERROR", &obj)
}

fn encode(
    res: &ResourceInfo,
    ev: &CacheEvent,
    want: Want,
    first: &mut bool,
    printer: Option<&PrinterColumns>,
) -> Bytes {
    match want {
        Want::Object => line(ev.kind.as_str(), &ev.object.json),
        Want::Table { include_object } => {
            let t = table::table(res, std::slice::from_ref(&ev.object.value), include_object, *first, None, printer);
            *first = false;
            line(ev.kind.as_str(), &serde_json::to_vec(&t).unwrap_or_default())
        }
        Want::Metadata => {
            let m = table::partial_metadata(&ev.object.value);
            line(ev.kind.as_str(), &serde_json::to_vec(&m).unwrap_or_default())
        }
    }
}

fn bookmark(res: &ResourceInfo, rev: i64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let obj = json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": metadata});
    line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
}

fn streaming(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    r.headers_mut().insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    r
}

/// Starts a watch and returns its streaming response.
pub(super) async fn watch(api: &Api, res: &ResourceInfo, p: WatchParams, cancel: CancellationToken) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let cache = api.cache(res);
    let initial_events = match (p.send_initial_events, p.resource_version) {
        (Some(true), _) => true,
        (Some(false), _) => false,
        (None, None | Some(0)) => true,
        (None, Some(_)) => false,
    };
    let from = if initial_events { None } else { p.resource_version.or(Some(cache.revision())) };
    // Consistent start for `sendInitialEvents` without a version: the cache must have
    // caught up with the store first.
    let wait_for = match (initial_events, p.resource_version) {
        (true, None) if p.send_initial_events == Some(true) => api.storage().current_revision().await.ok(),
        (_, Some(rv)) if rv > 0 => Some(rv),
        _ => None,
    };
    let started = async {
        // Also waits for a cache started by this request to finish its initial list.
        cache.wait_for(wait_for.unwrap_or(0), Duration::from_secs(3)).await?;
        cache.subscribe(from, &p.filter)
    }
    .await;
    let sub = match started {
        Ok(s) => s,
        Err(e) => {
            // Upstream answers 200 and reports an expired version as an ERROR event.
            let _ = tx.try_send(error_line(&e));
            return streaming(rx);
        }
    };
    let crd = api.registry().crd_versions().get(&res.group, &res.version, &res.plural);
    let res = res.clone();
    let timeout = p.timeout.unwrap_or_else(|| {
        use rand::Rng;
        Duration::from_secs(rand::rng().random_range(1800..3600))
    });
    let cache = Arc::clone(&cache);
    tokio::spawn(async move {
        let mut first = true;
        let printer = crd.as_ref().map(|c| &c.printer);
        for ev in &sub.initial {
            if tx.send(encode(&res, ev, p.want, &mut first, printer)).await.is_err() {
                return;
            }
        }
        if p.send_initial_events == Some(true)
            && p.bookmarks
            && tx.send(bookmark(&res, sub.revision, true)).await.is_err()
        {
            return;
        }
        let mut live = sub.live;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick() => {
                    if !p.bookmarks {
                        continue;
                    }
                    // The changes still queued go out before the bookmark that covers them.
                    let Some(settled) = live.settle(&cache, &p.filter) else { return };
                    for ev in &settled.events {
                        if tx.send(encode(&res, ev, p.want, &mut first, printer)).await.is_err() {
                            return;
                        }
                    }
                    if let Some(rev) = settled.bookmark {
                        if tx.send(bookmark(&res, rev, false)).await.is_err() {
                            return;
                        }
                    }
                }
                // Lagged or reset: end the watch; the client resumes from its last
                // resourceVersion or relists.
                got = live.next(&p.filter) => match got {
                    Some(ev) => {
                        if tx.send(encode(&res, &ev, p.want, &mut first, printer)).await.is_err() {
                            return;
                        }
                    }
                    None => return,
                }
            }
        }
    });
    streaming(rx)
}

/// Parses `timeoutSeconds`.
pub(super) fn parse_timeout(v: Option<&str>) -> Result<Option<Duration>, StatusError> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .map(|n| Some(Duration::from_secs(n)))
            .map_err(|_| StatusError::bad_request(format!("invalid timeoutSeconds: {s}"))),
    }
}
