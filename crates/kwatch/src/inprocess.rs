//! An in-process source over an embedded [`kapiserver`]: lists through its REST layer and
//! watches its watch cache directly, with no HTTP or JSON framing in between (feature
//! `kapiserver`).

use std::marker::PhantomData;
use std::time::Duration;

use kapiserver::cache::{CacheEvent, EventType};
use kapiserver::filter::Filter;
use kapiserver::resources::ResourceInfo;
use kapiserver::rest::{Api, ListQuery};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::lister::{
    BoxFuture, ListParams, ListerWatcher, ObjectList, ResourceVersionMatch, WatchError, WatchEvent, WatchParams,
    WatchStream,
};

/// Lists and watches one resource of an in-process API server.
#[derive(Debug, Clone)]
pub struct ApiListerWatcher<K> {
    api: Api,
    resource: ResourceInfo,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> ApiListerWatcher<K> {
    /// A source for `group`/`version`/`plural` of `api`, limited to `namespace` when given.
    pub fn new(
        api: Api,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Result<Self, WatchError> {
        let resource = api.resource(group, version, plural).map_err(WatchError::from_status)?;
        let namespace = namespace.filter(|_| resource.namespaced).map(str::to_owned);
        Ok(Self { api, resource, namespace, _kind: PhantomData })
    }

    fn filter(&self, labels: &Option<String>, fields: &Option<String>) -> Result<Filter, WatchError> {
        Filter::parse(&self.resource, self.namespace.clone(), labels.as_deref(), fields.as_deref())
            .map_err(WatchError::from_status)
    }
}

fn decode<K: DeserializeOwned>(v: &Value) -> Result<K, WatchError> {
    K::deserialize(v).map_err(|e| WatchError::Decode(e.to_string()))
}

impl<K> ListerWatcher<K> for ApiListerWatcher<K>
where
    K: DeserializeOwned + Send + Sync + 'static,
{
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>> {
        Box::pin(async move {
            let q = ListQuery {
                filter: self.filter(&params.label_selector, &params.field_selector)?,
                limit: params.limit.map_or(0, i64::from),
                continue_token: params.continue_token.clone(),
                resource_version: params.resource_version.clone(),
                resource_version_match: params.resource_version_match.map(|m| match m {
                    ResourceVersionMatch::NotOlderThan => kapiserver::rest::ResourceVersionMatch::NotOlderThan,
                    ResourceVersionMatch::Exact => kapiserver::rest::ResourceVersionMatch::Exact,
                }),
            };
            let out = self.api.list(&self.resource, &q).await.map_err(WatchError::from_status)?;
            let items = out.items.iter().map(|i| decode(i.value())).collect::<Result<Vec<K>, _>>()?;
            Ok(ObjectList {
                items,
                resource_version: out.resource_version.to_string(),
                continue_token: out.continue_token,
                remaining_item_count: out.remaining,
            })
        })
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>> {
        Box::pin(async move {
            let filter = self.filter(&params.label_selector, &params.field_selector)?;
            let rv = match params.resource_version.as_str() {
                "" => None,
                s => Some(s.parse::<i64>().map_err(|_| WatchError::Decode(format!("bad resourceVersion {s}")))?),
            };
            let cache = self.api.cache(&self.resource);
            let initial_events = params.send_initial_events || matches!(rv, None | Some(0));
            let wait = if params.send_initial_events && rv.is_none() {
                self.api.storage().current_revision().await.map_err(WatchError::from_status)?
            } else {
                rv.unwrap_or(0)
            };
            cache.wait_for(wait, Duration::from_secs(3)).await.map_err(WatchError::from_status)?;
            let from = if initial_events { None } else { rv };
            let sub = cache.subscribe(from, &filter).map_err(WatchError::from_status)?;
            let mut pending: std::collections::VecDeque<Result<WatchEvent<K>, WatchError>> =
                sub.initial.iter().map(watch_event).collect();
            if params.send_initial_events && params.bookmarks {
                pending.push_back(Ok(WatchEvent::Bookmark {
                    resource_version: sub.revision.to_string(),
                    initial_events_end: true,
                }));
            }
            let state = (pending, sub.live, filter, cache, params.bookmarks);
            let stream =
                futures_util::stream::unfold(state, |(mut pending, mut live, filter, cache, bookmarks)| async move {
                    loop {
                        if let Some(ev) = pending.pop_front() {
                            return Some((ev, (pending, live, filter, cache, bookmarks)));
                        }
                        match tokio::time::timeout(Duration::from_secs(30), live.next(&filter)).await {
                            Ok(Some(ev)) => return Some((watch_event(&ev), (pending, live, filter, cache, bookmarks))),
                            // Fell behind or the cache restarted: end the watch so the reflector
                            // resumes from its last version (or relists on 410).
                            Ok(None) => return None,
                            Err(_) if bookmarks => {
                                // Changes still queued go out before the bookmark that covers them.
                                let settled = live.settle(&cache, &filter)?;
                                pending.extend(settled.events.iter().map(watch_event));
                                if let Some(rev) = settled.bookmark {
                                    pending.push_back(Ok(WatchEvent::Bookmark {
                                        resource_version: rev.to_string(),
                                        initial_events_end: false,
                                    }));
                                }
                            }
                            Err(_) => {}
                        }
                    }
                });
            let stream: WatchStream<K> = Box::pin(stream);
            Ok(stream)
        })
    }
}

/// A cache event as the reflector's watch event.
fn watch_event<K: DeserializeOwned>(ev: &CacheEvent) -> Result<WatchEvent<K>, WatchError> {
    decode(&ev.object.value).map(|o| kind_event(ev.kind, o))
}

fn kind_event<K>(kind: EventType, obj: K) -> WatchEvent<K> {
    match kind {
        EventType::Added => WatchEvent::Added(obj),
        EventType::Modified => WatchEvent::Modified(obj),
        EventType::Deleted => WatchEvent::Deleted(obj),
    }
}
