//! Resources served in two groups over one storage: `events.k8s.io/v1` Events are stored
//! as `core/v1` Events (upstream's storage version), so `kubectl describe` sees what
//! controllers record through either API.

use kapi::ApiResource;
use serde_json::{Map, Value};

use crate::resources::ResourceInfo;

/// events.k8s.io/v1 field ↔ core/v1 field.
const EVENT_FIELDS: [(&str, &str); 14] = [
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("note", "message"),
    ("type", "type"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn is_new_event(res: &ResourceInfo) -> bool {
    res.group == "events.k8s.io" && res.plural == "events"
}

/// The resource whose keys hold `res`'s objects.
pub fn storage_resource(res: &ResourceInfo) -> ApiResource {
    let mut ar = res.api_resource();
    if is_new_event(res) {
        ar.group = String::new();
        ar.version = "v1".into();
    }
    ar
}

fn rename(obj: &Value, pairs: impl Iterator<Item = (&'static str, &'static str)>, api_version: &str) -> Value {
    let Some(src) = obj.as_object() else { return obj.clone() };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    if let Some(m) = src.get("metadata") {
        out.insert("metadata".into(), m.clone());
    }
    for (from, to) in pairs {
        if let Some(v) = src.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    Value::Object(out)
}

/// Converts a request object of `res` to its stored form.
pub fn to_storage(res: &ResourceInfo, obj: Value) -> Value {
    if is_new_event(res) { rename(&obj, EVENT_FIELDS.into_iter(), "v1") } else { obj }
}

/// Converts a stored object to `res`'s form.
pub fn from_storage(res: &ResourceInfo, obj: Value) -> Value {
    if is_new_event(res) {
        rename(&obj, EVENT_FIELDS.into_iter().map(|(a, b)| (b, a)), "events.k8s.io/v1")
    } else {
        obj
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;
    use serde_json::json;

    #[test]
    fn events_round_trip_through_core_storage() {
        let new = builtin().into_iter().find(|r| r.group == "events.k8s.io").unwrap();
        let e = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "pulled", "reason": "Pulled", "type": "Normal",
            "reportingController": "kubelet", "deprecatedCount": 2});
        let stored = to_storage(&new, e.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "p");
        assert_eq!(stored["message"], "pulled");
        assert_eq!(stored["reportingComponent"], "kubelet");
        assert_eq!(stored["count"], 2);
        assert_eq!(from_storage(&new, stored), e);
        assert_eq!(storage_resource(&new).group, "");
        let core = builtin().into_iter().find(|r| r.group.is_empty() && r.plural == "events").unwrap();
        assert_eq!(to_storage(&core, e.clone()), e);
    }
}
