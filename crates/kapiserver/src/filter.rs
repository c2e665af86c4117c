//! List and watch filters: namespace, label selector and field selector.

use std::collections::BTreeMap;

use kapi::StatusError;
use kapi::fields::{FieldSelector, KindFields, kind_fields};
use kapi::labels::Selector;
use serde_json::Value;

use crate::resources::ResourceInfo;

/// What a list or watch asked for.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Only this namespace (`None` = all).
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: Selector,
    /// Field selector, checked against the kind's supported fields.
    pub fields: FieldSelector,
}

impl Filter {
    /// Everything in `namespace`.
    pub fn namespace(namespace: Option<String>) -> Self {
        Self { namespace, labels: Selector::everything(), fields: FieldSelector::everything() }
    }

    /// Parses the `labelSelector` and `fieldSelector` query values for `res`.
    pub fn parse(
        res: &ResourceInfo,
        namespace: Option<String>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, StatusError> {
        let labels = match label_selector {
            Some(s) if !s.trim().is_empty() => s
                .parse::<Selector>()
                .map_err(|e| StatusError::bad_request(format!("unable to parse requirement: {e}")))?,
            _ => Selector::everything(),
        };
        let fields = match field_selector {
            Some(s) if !s.trim().is_empty() => {
                let parsed = s
                    .parse::<FieldSelector>()
                    .map_err(|e| StatusError::bad_request(format!("invalid field selector: {e}")))?;
                kind_fields(&res.group, &res.kind)
                    .check(parsed)
                    .map_err(|e| StatusError::bad_request(format!("{e}")))?
            }
            _ => FieldSelector::everything(),
        };
        Ok(Self { namespace, labels, fields })
    }

    /// Whether the filter only constrains the namespace (fast paths skip field extraction).
    pub fn is_namespace_only(&self) -> bool {
        self.labels.is_everything() && self.fields.is_empty()
    }

    /// Whether an object with these labels and fields passes.
    pub fn matches(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        fields: &BTreeMap<&'static str, String>,
    ) -> bool {
        if let Some(ns) = &self.namespace {
            if ns != namespace {
                return false;
            }
        }
        self.labels.matches(labels) && self.fields.matches(fields)
    }

    /// Whether a JSON object passes.
    pub fn matches_value(&self, res_fields: &KindFields, obj: &Value) -> bool {
        let labels = crate::meta::labels(obj);
        let fields = if self.fields.is_empty() { BTreeMap::new() } else { res_fields.extract(obj) };
        self.matches(crate::meta::namespace(obj), &labels, &fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin;
    use serde_json::json;

    fn pods() -> ResourceInfo {
        builtin().into_iter().find(|r| r.plural == "pods").unwrap()
    }

    #[test]
    fn selectors_filter_pods() {
        let f = Filter::parse(&pods(), Some("a".into()), Some("app=web"), Some("spec.nodeName=n1")).unwrap();
        let kf = kind_fields("", "Pod");
        let yes = json!({"metadata": {"namespace": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}});
        let no = json!({"metadata": {"namespace": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n2"}});
        assert!(f.matches_value(&kf, &yes));
        assert!(!f.matches_value(&kf, &no));
    }

    #[test]
    fn unsupported_field_is_a_bad_request() {
        let e = Filter::parse(&pods(), None, None, Some("spec.bogus=1")).unwrap_err();
        assert_eq!(e.code(), 400);
        let e = Filter::parse(&pods(), None, Some("a in (b"), None).unwrap_err();
        assert_eq!(e.code(), 400);
    }
}
