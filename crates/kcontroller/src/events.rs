//! An event recorder writing `events.k8s.io/v1` Events, with client-go's naming and series
//! deduplication: an event repeated within six minutes becomes a count on the first one
//! (`series.count`, `series.lastObservedTime`) instead of a new object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kapi::Resource;
use kapi::k8s::api::core::v1::ObjectReference;
use kapi::k8s::api::events::v1::{Event, EventSeries};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::MicroTime;
use kwatch::http::{Api, Client, ClientError, Patch, PatchParams, PostParams};
use serde_json::json;

/// How long a repeated event joins the series of the first one (client-go: 6 minutes).
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Information.
    Normal,
    /// Something may be wrong.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    /// Normal or Warning.
    pub type_: EventType,
    /// Why (`SuccessfulCreate`, `ScalingReplicaSet`) — UpperCamelCase, ≤ 128 characters.
    pub reason: String,
    /// What was done (`Create`, `Scale`).
    pub action: String,
    /// Human-readable description (≤ 1 KiB; longer notes are cut).
    pub note: Option<String>,
    /// A second object involved (the pod a ReplicaSet created).
    pub related: Option<ObjectReference>,
}

impl EventSpec {
    /// A Normal event.
    pub fn normal(reason: impl Into<String>, action: impl Into<String>, note: impl Into<String>) -> Self {
        Self {
            type_: EventType::Normal,
            reason: reason.into(),
            action: action.into(),
            note: Some(note.into()),
            related: None,
        }
    }

    /// A Warning event.
    pub fn warning(reason: impl Into<String>, action: impl Into<String>, note: impl Into<String>) -> Self {
        Self { type_: EventType::Warning, ..Self::normal(reason, action, note) }
    }
}

/// A reference to `obj` for `regarding` / `related`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    regarding: (Option<String>, Option<String>, Option<String>, Option<String>),
    related: Option<(Option<String>, Option<String>, Option<String>)>,
    type_: EventType,
    reason: String,
    action: String,
    note: Option<String>,
}

#[derive(Debug)]
struct Series {
    namespace: String,
    name: String,
    count: i32,
    last: Instant,
}

/// Records events as one reporting controller instance.
#[derive(Debug)]
pub struct Recorder {
    client: Client,
    controller: String,
    instance: String,
    series: Mutex<HashMap<SeriesKey, Series>>,
}

const MAX_NOTE: usize = 1024;

impl Recorder {
    /// A recorder for `controller` (`deployment-controller`) running as `instance`
    /// (`kube-controller-manager-<host>`).
    pub fn new(client: Client, controller: impl Into<String>, instance: impl Into<String>) -> Self {
        Self { client, controller: controller.into(), instance: instance.into(), series: Mutex::new(HashMap::new()) }
    }

    /// Records `spec` about `regarding`. Failures are returned but are usually only logged:
    /// events are best effort.
    ///
    /// # Cancel safety
    /// Not cancel safe: the event may be written although the answer is lost.
    pub async fn publish(&self, regarding: &ObjectReference, spec: &EventSpec) -> Result<(), ClientError> {
        let now = Instant::now();
        let wall = Timestamp::now();
        let key = SeriesKey {
            regarding: (
                regarding.kind.clone(),
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            related: spec.related.as_ref().map(|r| (r.kind.clone(), r.namespace.clone(), r.name.clone())),
            type_: spec.type_,
            reason: spec.reason.clone(),
            action: spec.action.clone(),
            note: spec.note.clone(),
        };
        let repeat = {
            let mut series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            series.retain(|_, s| now.duration_since(s.last) < SERIES_WINDOW);
            series.get_mut(&key).map(|s| {
                s.count += 1;
                s.last = now;
                (s.namespace.clone(), s.name.clone(), s.count)
            })
        };
        if let Some((namespace, name, count)) = repeat {
            let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(wall)}});
            match api.patch(&name, &Patch::Merge(patch), &PatchParams::default()).await {
                Ok(_) => return Ok(()),
                // The first event is gone (expired by TTL): start a new series below.
                Err(ClientError::Api(e)) if e.code() == 404 => {}
                Err(e) => return Err(e),
            }
        }
        let namespace = regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let name = format!("{}.{:x}", regarding.name.as_deref().unwrap_or("event"), wall.as_nanosecond().max(0));
        let note = spec.note.as_ref().map(|n| {
            let mut end = n.len().min(MAX_NOTE);
            while !n.is_char_boundary(end) {
                end -= 1;
            }
            n[..end].to_owned()
        });
        let mut event = Event {
            event_time: Some(MicroTime(wall)),
            type_: Some(spec.type_.as_str().to_owned()),
            reason: Some(spec.reason.clone()),
            action: Some(spec.action.clone()),
            note,
            regarding: Some(regarding.clone()),
            related: spec.related.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            series: None::<EventSeries>,
            ..Event::default()
        };
        event.metadata.name = Some(name.clone());
        event.metadata.namespace = Some(namespace.clone());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&event, &PostParams::default()).await?;
        let mut series = self.series.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        series.insert(key, Series { namespace, name, count: 1, last: now });
        Ok(())
    }
}
