//! The Kubernetes HTTP API as a [`ListerWatcher`]: works against kapiserver and any real
//! kube-apiserver.

use std::borrow::Cow;
use std::marker::PhantomData;

use futures_util::StreamExt;
use kapi::ApiResource;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Status};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use serde_json::value::RawValue;

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
}

/// Items of built-in lists come without apiVersion/kind; typed and dynamic objects want
/// them: adds `resource`'s where missing.
pub(super) fn add_type_meta(resource: &ApiResource, v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion").or_insert_with(|| Value::String(resource.api_version()));
        m.entry("kind").or_insert_with(|| Value::String(resource.kind.clone()));
    }
}

/// An object of `resource` from a `Value`, with [`add_type_meta`].
fn object<K: DeserializeOwned>(resource: &ApiResource, mut v: Value) -> Result<K, WatchError> {
    add_type_meta(resource, &mut v);
    serde_json::from_value(v).map_err(|e| WatchError::Decode(format!("{}: {e}", resource.kind)))
}

/// One watch event line. The object is decoded straight from its bytes when it names its
/// apiVersion and kind (as watch events do), not through a `Value` tree first: the tree,
/// its copy and the second decode were most of an informer's cost per event.
fn event<K: DeserializeOwned>(resource: &ApiResource, line: &[u8]) -> Result<WatchEvent<K>, WatchError> {
    let line: EventLine<'_> = serde_json::from_slice(line).map_err(|e| WatchError::Decode(e.to_string()))?;
    let text = line.object.map_or("null", RawValue::get);
    match &*line.kind {
        "ADDED" => Ok(WatchEvent::Added(object_from_str(resource, text)?)),
        "MODIFIED" => Ok(WatchEvent::Modified(object_from_str(resource, text)?)),
        "DELETED" => Ok(WatchEvent::Deleted(object_from_str(resource, text)?)),
        "BOOKMARK" => {
            let o: MetadataOnly =
                serde_json::from_str(text).map_err(|e| WatchError::Decode(format!("bookmark: {e}")))?;
            Ok(WatchEvent::bookmark_from_meta(&o.metadata.unwrap_or_default()))
        }
        "ERROR" => {
            let status: Status =
                serde_json::from_str(text).map_err(|e| WatchError::Decode(format!("error event: {e}")))?;
            Ok(WatchEvent::Error(kapi::StatusError::from_status(&status)))
        }
        other => Err(WatchError::Decode(format!("unknown watch event type {other:?}"))),
    }
}

/// [`object`] from JSON text: decoded directly when it has apiVersion and kind.
fn object_from_str<K: DeserializeOwned>(resource: &ApiResource, text: &str) -> Result<K, WatchError> {
    let err = |e: serde_json::Error| WatchError::Decode(format!("{}: {e}", resource.kind));
    let probe: TypeProbe = serde_json::from_str(text).map_err(err)?;
    if probe.api_version.is_some() && probe.kind.is_some() {
        return serde_json::from_str(text).map_err(err);
    }
    object(resource, serde_json::from_str(text).map_err(err)?)
}

/// A watch event line, its object left undecoded.
#[derive(Deserialize)]
struct EventLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

/// Whether an object names its apiVersion and kind (other fields are skipped unread).
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<IgnoredAny>,
    #[serde(default)]
    kind: Option<IgnoredAny>,
}

/// A bookmark's object: only its metadata matters.
#[derive(Deserialize)]
struct MetadataOnly {
    #[serde(default)]
    metadata: Option<ObjectMeta>,
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
            let mut v = self.client.get_json(&self.path(&q)).await.map_err(error)?;
            // The items are taken out of the tree, not copied.
            let listed = v.get_mut("items").map(Value::take);
            let meta = v.get("metadata");
            let text = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str).map(str::to_owned);
            let items = match listed {
                Some(Value::Array(items)) => {
                    items.into_iter().map(|i| object(&self.resource, i)).collect::<Result<Vec<_>, _>>()?
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
                event(&this.resource, &line)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kapi::k8s::api::core::v1::Pod;

    fn pods() -> ApiResource {
        ApiResource::of::<Pod>()
    }

    #[test]
    fn typed_objects_are_decoded_from_the_event_line() {
        let line = br#"{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ns","resourceVersion":"7"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox"}]}}}"#;
        let WatchEvent::Modified(p) = event::<Pod>(&pods(), line).unwrap() else { panic!("not Modified") };
        assert_eq!(p.metadata.name.as_deref(), Some("a"));
        assert_eq!(p.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n1"));
    }

    #[test]
    fn objects_without_type_information_get_the_resources() {
        // As list items come; the decoded object names its apiVersion and kind either way.
        let line = br#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#;
        let WatchEvent::Added(v) = event::<Value>(&pods(), line).unwrap() else { panic!("not Added") };
        assert_eq!((v["apiVersion"].as_str(), v["kind"].as_str()), (Some("v1"), Some("Pod")));
        let line = br#"{"type":"DELETED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}}"#;
        let WatchEvent::Deleted(v) = event::<Value>(&pods(), line).unwrap() else { panic!("not Deleted") };
        assert_eq!(v, serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}));
    }

    #[test]
    fn bookmarks_errors_and_bad_lines() {
        let line = br#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}"#;
        assert_eq!(
            event::<Pod>(&pods(), line).unwrap(),
            WatchEvent::Bookmark { resource_version: "12".into(), initial_events_end: true }
        );
        let line = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","code":410,"reason":"Expired","message":"too old resource version"}}"#;
        let WatchEvent::Error(e) = event::<Pod>(&pods(), line).unwrap() else { panic!("not Error") };
        assert_eq!(e.code(), 410);
        assert!(matches!(event::<Pod>(&pods(), br#"{"type":"SOMETHING","object":{}}"#), Err(WatchError::Decode(_))));
        assert!(matches!(
            event::<Pod>(&pods(), br#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","spec":7}}"#),
            Err(WatchError::Decode(_))
        ));
        assert!(matches!(event::<Pod>(&pods(), b"not json"), Err(WatchError::Decode(_))));
    }
}
