//! The scale subresource: where replicas live in a custom resource, and upstream's accessors
//! (`unstructured.NestedFieldNoCopy`/`SetNestedField` over the dot-separated replica paths).

use serde_json::{Map, Value};

use super::field::{Bad, FieldError, FieldPath};
use crate::gofmt::{self, Num};

/// `subresources.scale` of a CRD version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// `specReplicasPath`, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// `statusReplicasPath`, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// `labelSelectorPath`, when set and non-empty.
    pub label_selector: Option<String>,
}

/// What the scale subresource reads from a custom resource (upstream's `scaleFromCustomResource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleState {
    /// `spec.replicas` of the Scale (0 when absent).
    pub spec_replicas: i32,
    /// Whether the spec replicas field exists; a Scale update must then not leave it unset.
    pub spec_replicas_found: bool,
    /// `status.replicas` of the Scale (0 when absent).
    pub status_replicas: i32,
    /// `status.selector` of the Scale (empty when absent).
    pub selector: String,
}

/// Why a replica path cannot be read or written (messages are apimachinery's).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScaleError {
    /// A value on the path has the wrong type.
    #[error("{0}")]
    Accessor(String),
    /// An intermediate value is not an object, so nothing can be set below it.
    #[error("value cannot be set because {0} is not a map[string]interface{{}}")]
    NotAnObject(String),
}

/// The scale subresource paths of a CRD version (an entry of `spec.versions`), if it has one.
pub fn scale_paths(version: &Value) -> Option<ScalePaths> {
    let scale = version.pointer("/subresources/scale")?.as_object()?;
    let text = |k: &str| scale.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let label_selector = Some(text("labelSelectorPath")).filter(|s| !s.is_empty());
    Some(ScalePaths {
        spec_replicas: text("specReplicasPath"),
        status_replicas: text("statusReplicasPath"),
        label_selector,
    })
}

fn fields(path: &str) -> Vec<&str> {
    path.strip_prefix('.').unwrap_or(path).split('.').collect()
}

fn json_path(fields: &[&str]) -> String {
    format!(".{}", fields.join("."))
}

fn accessor(fields: &[&str], v: &Value, expected: &str) -> ScaleError {
    ScaleError::Accessor(format!(
        "{} accessor error: {} is of the type {}, expected {expected}",
        json_path(fields),
        gofmt::v(v),
        gofmt::type_name(v)
    ))
}

/// Reads the value at a replica path such as `.spec.replicas` (`None` when absent or below a
/// `null`); an error when something on the way is not an object.
pub fn read_path<'a>(obj: &'a Value, path: &str) -> Result<Option<&'a Value>, ScaleError> {
    let fields = fields(path);
    let mut cur = obj;
    for (i, f) in fields.iter().enumerate() {
        match cur {
            Value::Null => return Ok(None),
            Value::Object(m) => match m.get(*f) {
                Some(v) => cur = v,
                None => return Ok(None),
            },
            other => return Err(accessor(&fields[..=i], other, "map[string]interface{}")),
        }
    }
    Ok(Some(cur))
}

/// Sets the value at a replica path, creating missing objects on the way.
pub fn write_path(obj: &mut Value, path: &str, value: Value) -> Result<(), ScaleError> {
    let fields = fields(path);
    let Some((last, parents)) = fields.split_last() else { return Ok(()) };
    let mut cur = obj;
    for (i, f) in parents.iter().enumerate() {
        let Value::Object(m) = cur else { return Err(ScaleError::NotAnObject(json_path(&fields[..i]))) };
        let next = m.entry((*f).to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            return Err(ScaleError::NotAnObject(json_path(&fields[..=i])));
        }
        cur = next;
    }
    match cur {
        Value::Object(m) => {
            m.insert((*last).to_owned(), value);
            Ok(())
        }
        _ => Err(ScaleError::NotAnObject(json_path(parents))),
    }
}

fn read_int(obj: &Value, path: &str) -> Result<Option<i64>, ScaleError> {
    match read_path(obj, path)? {
        None => Ok(None),
        Some(v) => match Num::of(v) {
            Some(Num::Int(i)) => Ok(Some(i)),
            _ => Err(accessor(&fields(path), v, "int64")),
        },
    }
}

fn read_string(obj: &Value, path: &str) -> Result<Option<String>, ScaleError> {
    match read_path(obj, path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(accessor(&fields(path), v, "string")),
    }
}

/// Reads the Scale's replicas and selector from a custom resource.
pub fn read_scale(obj: &Value, paths: &ScalePaths) -> Result<ScaleState, ScaleError> {
    let spec = read_int(obj, &paths.spec_replicas)?;
    let status = read_int(obj, &paths.status_replicas)?.unwrap_or(0);
    let selector = match &paths.label_selector {
        Some(p) => read_string(obj, p)?.unwrap_or_default(),
        None => String::new(),
    };
    // Upstream converts with int32(), which wraps.
    Ok(ScaleState {
        spec_replicas: spec.unwrap_or(0) as i32,
        spec_replicas_found: spec.is_some(),
        status_replicas: status as i32,
        selector,
    })
}

fn replicas_errors(obj: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let at = FieldPath::new(path);
    match read_int(obj, path) {
        Err(e) => errs.push(FieldError::invalid(&at, &Bad::Num(Num::Int(0)), &e.to_string())),
        Ok(v) => {
            let v = v.unwrap_or(0);
            if v < 0 {
                errs.push(FieldError::invalid(&at, &Bad::Num(Num::Int(v)), "should be a non-negative integer"));
            } else if v > i64::from(i32::MAX) {
                let msg = format!("should be less than or equal to {}", i32::MAX);
                errs.push(FieldError::invalid(&at, &Bad::Num(Num::Int(v)), &msg));
            }
        }
    }
}

/// Upstream's `ValidateScaleSpec` (when `include_spec`) and `ValidateScaleStatus`; error fields
/// are the replica paths themselves, e.g. `.spec.replicas: Invalid value: -1: should be a
/// non-negative integer`. Status updates check the status part only.
pub fn validate_scale(obj: &Value, paths: &ScalePaths, include_spec: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if include_spec {
        replicas_errors(obj, &paths.spec_replicas, &mut errs);
    }
    replicas_errors(obj, &paths.status_replicas, &mut errs);
    if let Some(p) = &paths.label_selector {
        if let Err(e) = read_string(obj, p) {
            errs.push(FieldError::invalid(&FieldPath::new(p), &Bad::str(""), &e.to_string()));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths() -> ScalePaths {
        scale_paths(&json!({"subresources": {"scale": {
            "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"
        }}}))
        .unwrap()
    }

    #[test]
    fn reads_paths_from_the_version() {
        assert_eq!(
            paths(),
            ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            }
        );
        assert_eq!(scale_paths(&json!({"subresources": {"status": {}}})), None);
        let no_selector = scale_paths(
            &json!({"subresources": {"scale": {"specReplicasPath": ".spec.r", "statusReplicasPath": ".status.r"}}}),
        );
        assert_eq!(no_selector.unwrap().label_selector, None);
    }

    #[test]
    fn reads_scale_state() {
        let obj = json!({"spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=x"}});
        assert_eq!(
            read_scale(&obj, &paths()).unwrap(),
            ScaleState { spec_replicas: 3, spec_replicas_found: true, status_replicas: 2, selector: "app=x".into() }
        );
        let empty = read_scale(&json!({}), &paths()).unwrap();
        assert_eq!((empty.spec_replicas, empty.spec_replicas_found, empty.status_replicas), (0, false, 0));
        assert_eq!(
            read_scale(&json!({"spec": {"replicas": "3"}}), &paths()).unwrap_err().to_string(),
            ".spec.replicas accessor error: 3 is of the type string, expected int64"
        );
        assert_eq!(
            read_scale(&json!({"spec": "x"}), &paths()).unwrap_err().to_string(),
            ".spec.replicas accessor error: x is of the type string, expected map[string]interface{}"
        );
        assert_eq!(
            read_scale(&json!({"spec": {"replicas": 1.0}}), &paths()).unwrap_err().to_string(),
            ".spec.replicas accessor error: 1 is of the type float64, expected int64"
        );
    }

    #[test]
    fn writes_and_reads_back() {
        let mut obj = json!({"metadata": {"name": "a"}});
        write_path(&mut obj, ".spec.replicas", json!(5)).unwrap();
        assert_eq!(read_path(&obj, ".spec.replicas").unwrap(), Some(&json!(5)));
        assert_eq!(obj, json!({"metadata": {"name": "a"}, "spec": {"replicas": 5}}));
        let mut bad = json!({"spec": 1});
        assert_eq!(
            write_path(&mut bad, ".spec.replicas", json!(1)).unwrap_err().to_string(),
            "value cannot be set because .spec is not a map[string]interface{}"
        );
        assert_eq!(read_path(&json!({"spec": null}), ".spec.replicas").unwrap(), None);
    }

    #[test]
    fn validation_messages() {
        let errs = |obj: Value, spec: bool| -> Vec<String> {
            validate_scale(&obj, &paths(), spec).iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            errs(json!({"spec": {"replicas": -1}}), true),
            [".spec.replicas: Invalid value: -1: should be a non-negative integer"]
        );
        assert!(errs(json!({"spec": {"replicas": -1}}), false).is_empty());
        assert_eq!(
            errs(json!({"status": {"replicas": 3000000000i64}}), false),
            [".status.replicas: Invalid value: 3000000000: should be less than or equal to 2147483647"]
        );
        assert_eq!(
            errs(json!({"spec": {"replicas": "x"}}), true),
            [
                ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: x is of the type string, expected int64"
            ]
        );
        assert_eq!(
            errs(json!({"status": {"selector": 1}}), false),
            [
                r#".status.selector: Invalid value: "": .status.selector accessor error: 1 is of the type int64, expected string"#
            ]
        );
    }
}
