//! Objects of any kind as JSON: custom resources and kinds unknown at compile time.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::resource::{ApiResource, Resource};

/// Errors converting between typed and dynamic objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DynamicError {
    /// The JSON did not have the shape of the target type.
    #[error("cannot convert object: {0}")]
    Convert(#[from] serde_json::Error),
    /// The object's apiVersion/kind is not the one the target type expects.
    #[error("object is {found}, expected {expected}")]
    WrongKind {
        /// `apiVersion/kind` of the target.
        expected: String,
        /// `apiVersion/kind` found in the object.
        found: String,
    },
}

/// `apiVersion` and `kind` as written in an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeMeta {
    /// `group/version`, or `v1` for core.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// CamelCase kind.
    pub kind: String,
}

/// Any Kubernetes object: type information, metadata and the rest as JSON.
///
/// Serializes to and from the same JSON as the typed object it stands for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` and `kind`, absent in some list items.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub types: Option<TypeMeta>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data` …).
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl DynamicObject {
    /// An empty object of the given kind with the given name.
    pub fn new(name: impl Into<String>, resource: &ApiResource) -> Self {
        Self {
            types: Some(TypeMeta { api_version: resource.api_version(), kind: resource.kind.clone() }),
            metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
            data: serde_json::Map::new(),
        }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn within(mut self, namespace: impl Into<String>) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    /// Converts a typed object into a dynamic one.
    pub fn from_typed<K: Serialize>(obj: &K) -> Result<Self, DynamicError> {
        Ok(serde_json::from_value(serde_json::to_value(obj)?)?)
    }

    /// Converts into a typed object, checking `apiVersion`/`kind` when present.
    pub fn try_into_typed<K>(self) -> Result<K, DynamicError>
    where
        K: Resource<DynamicType = ()> + serde::de::DeserializeOwned,
    {
        let (api_version, kind) = (K::api_version(&()), K::kind(&()));
        if let Some(types) = &self.types {
            if types.api_version != api_version || types.kind != kind {
                return Err(DynamicError::WrongKind {
                    expected: format!("{api_version}/{kind}"),
                    found: format!("{}/{}", types.api_version, types.kind),
                });
            }
        }
        Ok(serde_json::from_value(serde_json::to_value(self)?)?)
    }
}

impl Resource for DynamicObject {
    type DynamicType = ApiResource;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }
    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }
    fn namespaced(dt: &ApiResource) -> bool {
        dt.namespaced
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use serde_json::json;

    fn crontabs() -> ApiResource {
        ApiResource {
            group: "stable.example.com".into(),
            version: "v1".into(),
            kind: "CronTab".into(),
            plural: "crontabs".into(),
            namespaced: true,
        }
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let raw = json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": {"name": "c1", "namespace": "default", "labels": {"a": "b"}},
            "spec": {"cronSpec": "* * * * */5", "replicas": 3},
            "status": {"ok": true}
        });
        let obj: DynamicObject = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(obj.types.as_ref().unwrap().kind, "CronTab");
        assert_eq!(obj.metadata.name.as_deref(), Some("c1"));
        assert_eq!(obj.data["spec"]["replicas"], 3);
        assert_eq!(serde_json::to_value(&obj).unwrap(), raw);
        assert_eq!(DynamicObject::api_version(&crontabs()), "stable.example.com/v1");
        assert_eq!(obj.object_key().to_string(), "default/c1");
    }

    #[test]
    fn typed_conversions() {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("cfg".into());
        cm.data = Some([("k".to_string(), "v".to_string())].into());
        let mut value = serde_json::to_value(&cm).unwrap();
        value["apiVersion"] = json!("v1");
        value["kind"] = json!("ConfigMap");
        let dynamic: DynamicObject = serde_json::from_value(value).unwrap();
        assert_eq!(dynamic.data["data"]["k"], "v");
        let back: ConfigMap = dynamic.clone().try_into_typed().unwrap();
        assert_eq!(back, cm);
        let err = dynamic.try_into_typed::<Pod>().unwrap_err();
        assert!(matches!(err, DynamicError::WrongKind { .. }), "{err}");
    }

    #[test]
    fn new_object() {
        let obj = DynamicObject::new("c2", &crontabs()).within("ns1");
        let v = serde_json::to_value(&obj).unwrap();
        assert_eq!(v["apiVersion"], "stable.example.com/v1");
        assert_eq!(v["metadata"]["namespace"], "ns1");
    }
}
