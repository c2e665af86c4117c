//! The Kubernetes HTTP API as a [`ListerWatcher`]: works against kapiserver and any real
//! kube-apiserver.

use std::marker::PhantomData;

use futures_util::StreamExt;
use kapi::ApiResource;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Status};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::client::{Client, ClientError};
use crate::lister::{
    BoxFuture, ListParams, ListerWatcher, ObjectList, WatchError, WatchEvent, WatchParams, WatchStream,
};

/// Lists and watches one resource (in one namespace or all) over HTTP.
#[derive(Debug, Clone)]
pub struct HttpListerWatcher<K> {
    client: Client,
    resource: ApiResource,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> HttpListerWatcher<K> {
    /// A source for `resource`, limited to `namespace` when given (ignored for cluster-scoped
    /// resources).
    pub fn new(client: Client, resource: ApiResource, namespace: Option<&str>) -> Self {
        let namespace = namespace.filter(|_| resource.namespaced).map(str::to_owned);
        Self { client, resource, namespace, _kind: PhantomData }
    }

    fn path(&self, query: &[(&str, String)]) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            s.append_pair(k, v);
        }
        let q = s.finish();
        let base = self.resource.collection_path(self.namespace.as_deref());
        if q.is_empty() { base } else { format!("{base}?{q}") }
    }

    /// Items of built-in lists come without apiVersion/kind; typed and dynamic objects want them.
    fn object(&self, mut v: Value) -> Result<K, WatchError>
    where
        K: DeserializeOwned,
    {
        if let Some(m) = v.as_object_mut() {
            m.entry("apiVersion").or_insert_with(|| Value::String(self.resource.api_version()));
            m.entry("kind").or_insert_with(|| Value::String(self.resource.kind.clone()));
        }
        serde_json::from_value(v).map_err(|e| WatchError::Decode(format!("{}: {e}", self.resource.kind)))
    }
}

fn error(e: ClientError) -> WatchError {
    match e {
        ClientError::Api(s) => WatchError::from_status(s),
        ClientError::Transport(m) => WatchError::Transport(m),
        other => WatchError::Decode(other.to_string()),
    }
}

fn selectors(q: &mut Vec<(&'static str, String)>, labels: &Option<String>, fields: &Option<String>) {
    if let Some(l) = labels.as_ref().filter(|l| !l.is_empty()) {
        q.push(("labelSelector", l.clone()));
    }
    if let Some(f) = fields.as_ref().filter(|f| !f.is_empty()) {
        q.push(("fieldSelector", f.clone()));
    }
}

impl<K> ListerWatcher<K> for HttpListerWatcher<K>
where
    K: DeserializeOwned + Send + Sync + 'static,
{
    fn list<'a>(&'a self, params: &'a ListParams) -> BoxFuture<'a, Result<ObjectList<K>, WatchError>> {
        Box::pin(async move {
            let mut q = Vec::new();
            selectors(&mut q, &params.label_selector, &params.field_selector);
            if let Some(l) = params.limit {
                q.push(("limit", l.to_string()));
            }
            if let Some(c) = params.continue_token.as_ref().filter(|c| !c.is_empty()) {
                q.push(("continue", c.clone()));
            }
            if !params.resource_version.is_empty() {
                q.push(("resourceVersion", params.resource_version.clone()));
            }
            if let Some(m) = params.resource_version_match {
                q.push(("resourceVersionMatch", m.as_str().to_owned()));
            }
            let v = self.client.get_json(&self.path(&q)).await.map_err(error)?;
            let meta = v.get("metadata");
            let text = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str).map(str::to_owned);
            let items = match v.get("items") {
                Some(Value::Array(items)) => {
                    items.iter().map(|i| self.object(i.clone())).collect::<Result<Vec<_>, _>>()?
                }
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(WatchError::Decode("items is not a list".into())),
            };
            Ok(ObjectList {
                items,
                resource_version: text("resourceVersion").unwrap_or_default(),
                continue_token: text("continue").filter(|c| !c.is_empty()),
                remaining_item_count: meta.and_then(|m| m.get("remainingItemCount")).and_then(Value::as_i64),
            })
        })
    }

    fn watch<'a>(&'a self, params: &'a WatchParams) -> BoxFuture<'a, Result<WatchStream<K>, WatchError>> {
        Box::pin(async move {
            let mut q = vec![("watch", "true".to_owned())];
            selectors(&mut q, &params.label_selector, &params.field_selector);
            if !params.resource_version.is_empty() {
                q.push(("resourceVersion", params.resource_version.clone()));
            }
            if params.bookmarks {
                q.push(("allowWatchBookmarks", "true".into()));
            }
            if params.send_initial_events {
                q.push(("sendInitialEvents", "true".into()));
            }
            if let Some(m) = params.resource_version_match {
                q.push(("resourceVersionMatch", m.as_str().to_owned()));
            }
            if let Some(t) = params.timeout {
                q.push(("timeoutSeconds", t.as_secs().to_string()));
            }
            let lines = self.client.watch_lines(&self.path(&q)).await.map_err(error)?;
            let this = self.clone_for_stream();
            let events = lines.map(move |line| {
                let line = line.map_err(error)?;
                let v: Value = serde_json::from_slice(&line).map_err(|e| WatchError::Decode(e.to_string()))?;
                let object = v.get("object").cloned().unwrap_or(Value::Null);
                match v.get("type").and_then(Value::as_str) {
                    Some("ADDED") => Ok(WatchEvent::Added(this.object(object)?)),
                    Some("MODIFIED") => Ok(WatchEvent::Modified(this.object(object)?)),
                    Some("DELETED") => Ok(WatchEvent::Deleted(this.object(object)?)),
                    Some("BOOKMARK") => {
                        let meta: ObjectMeta =
                            serde_json::from_value(object.get("metadata").cloned().unwrap_or(Value::Null))
                                .map_err(|e| WatchError::Decode(format!("bookmark: {e}")))?;
                        Ok(WatchEvent::bookmark_from_meta(&meta))
                    }
                    Some("ERROR") => {
                        let status: Status = serde_json::from_value(object)
                            .map_err(|e| WatchError::Decode(format!("error event: {e}")))?;
                        Ok(WatchEvent::Error(kapi::StatusError::from_status(&status)))
                    }
                    other => Err(WatchError::Decode(format!("unknown watch event type {other:?}"))),
                }
            });
            let stream: WatchStream<K> = Box::pin(events);
            Ok(stream)
        })
    }
}

impl<K> HttpListerWatcher<K> {
    fn clone_for_stream(&self) -> Self {
        Self {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}
