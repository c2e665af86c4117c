//! Field validation for built-in kinds, with upstream's error texts.
//!
//! Validation runs on the JSON form of an object after defaulting, like upstream runs it on the
//! defaulted internal object. Errors carry the upstream field path, cause type and detail, so the
//! 422 `Status` (message and `details.causes`) reads exactly like the real API server's.

mod apps;
mod container;
mod core;
mod cron;
mod meta;
mod other;
mod pod;
pub(crate) mod quantity;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// Why a field failed validation; mirrors upstream `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldErrorType {
    /// A required value is missing.
    Required,
    /// The value is malformed or out of range.
    Invalid,
    /// The value collides with another that must be unique.
    Duplicate,
    /// The value is not one of the enumerated ones.
    NotSupported,
    /// The value is well formed but not allowed here.
    Forbidden,
    /// The value is too long (the value itself is not echoed).
    TooLong,
    /// A list has too many items.
    TooMany,
    /// A referenced value does not exist (for example a volume mount's volume).
    NotFound,
}

impl FieldErrorType {
    /// The upstream `metav1.CauseType` string, e.g. `FieldValueRequired`.
    pub fn cause_type(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::Duplicate => "FieldValueDuplicate",
            Self::NotSupported => "FieldValueNotSupported",
            Self::Forbidden => "FieldValueForbidden",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::NotFound => "FieldValueNotFound",
        }
    }

    /// The human form upstream prints before the value, e.g. `Required value`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::Duplicate => "Duplicate value",
            Self::NotSupported => "Unsupported value",
            Self::Forbidden => "Forbidden",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::NotFound => "Not found",
        }
    }
}

/// One field-level validation failure (upstream `field.Error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.full_message())]
pub struct FieldError {
    /// Path of the offending field, e.g. `spec.containers[0].image`.
    pub field: String,
    /// The kind of failure.
    pub reason: FieldErrorType,
    /// Upstream's detail text (may be empty).
    pub message: String,
    /// The offending value; `None` prints as `null` where upstream prints a value.
    pub value: Option<Value>,
}

impl FieldError {
    /// A required value is missing.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), reason: FieldErrorType::Required, message: detail.into(), value: None }
    }

    /// The value is invalid for the reason in `detail`.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), reason: FieldErrorType::Invalid, message: detail.into(), value: Some(value.into()) }
    }

    /// The value duplicates an earlier one.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            reason: FieldErrorType::Duplicate,
            message: String::new(),
            value: Some(value.into()),
        }
    }

    /// The value is not one of `supported`; the detail lists them quoted, in the given order.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self { field: field.into(), reason: FieldErrorType::NotSupported, message: detail, value: Some(value.into()) }
    }

    /// The field may not be set or changed here.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), reason: FieldErrorType::Forbidden, message: detail.into(), value: None }
    }

    /// The value is longer than `max_len` bytes.
    pub fn too_long(field: impl Into<String>, max_len: usize) -> Self {
        Self {
            field: field.into(),
            reason: FieldErrorType::TooLong,
            message: format!("may not be more than {max_len} bytes"),
            value: None,
        }
    }

    /// A list has `actual` items where at most `max` are allowed.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self {
            field: field.into(),
            reason: FieldErrorType::TooMany,
            message: format!("must have at most {max} items"),
            value: Some(Value::from(actual)),
        }
    }

    /// A referenced value does not exist.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            reason: FieldErrorType::NotFound,
            message: String::new(),
            value: Some(value.into()),
        }
    }

    /// The upstream cause type string, e.g. `FieldValueRequired`.
    pub fn cause_type(&self) -> &'static str {
        self.reason.cause_type()
    }

    /// The message without the field path (upstream `ErrorBody`), used as the cause message.
    pub fn body(&self) -> String {
        let mut s = String::from(self.reason.label());
        // Required, Forbidden and TooLong never echo the value, like upstream.
        let shows_value =
            !matches!(self.reason, FieldErrorType::Required | FieldErrorType::Forbidden | FieldErrorType::TooLong);
        if shows_value {
            let _ = write!(s, ": {}", go_value(self.value.as_ref().unwrap_or(&Value::Null)));
        }
        if !self.message.is_empty() {
            let _ = write!(s, ": {}", self.message);
        }
        s
    }

    /// `field: body`, the form joined into the aggregate message.
    pub fn full_message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

/// Formats `value` the way upstream's `%v`/`%q`/`%#v` would print it in an error.
///
/// Strings are Go-quoted, numbers and booleans printed plainly, string maps and string lists in
/// Go syntax (`map[string]string{"a":"b"}`, `[]string{"a"}`, an empty list as `[]string(nil)`);
/// other values fall back to JSON, where upstream would print a Go struct.
pub fn go_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Object(map) if map.values().all(Value::is_string) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", go_quote(k), go_value(&map[k.as_str()]))).collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
        Value::Array(items) if items.is_empty() => "[]string(nil)".to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let parts: Vec<String> = items.iter().map(go_value).collect();
            format!("[]string{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Quotes a string like Go's `strconv.Quote` (printable Unicode kept, the rest escaped).
pub fn go_quote(s: &str) -> String {
    crate::gofmt::quote(s)
}

/// `Kind` for the core group, `Kind.group` otherwise (upstream `GroupKind.String`).
fn qualified_kind(group: &str, kind: &str) -> String {
    if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") }
}

/// The aggregate of `errors` as upstream prints it: one error bare, several in `[a, b]`,
/// duplicates (by full message) dropped.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.full_message();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// The 422 message: `Pod "x" is invalid: [spec.containers[0].image: Required value, …]`.
pub fn invalid_message(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> String {
    let head = format!("{} {} is invalid", qualified_kind(group, kind), go_quote(name));
    if errors.is_empty() { head } else { format!("{head}: {}", aggregate_message(errors)) }
}

/// The full `Status` object (code 422, reason `Invalid`) upstream returns for `errors`.
pub fn invalid_status(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let causes: Vec<Value> =
        errors.iter().map(|e| json!({"reason": e.cause_type(), "message": e.body(), "field": e.field})).collect();
    let mut details = Map::new();
    details.insert("name".into(), Value::from(name));
    if !group.is_empty() {
        details.insert("group".into(), Value::from(group));
    }
    details.insert("kind".into(), Value::from(kind));
    details.insert("causes".into(), Value::Array(causes));
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": invalid_message(group, kind, name, errors),
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

/// Whether a built-in kind is cluster-scoped (unknown kinds answer `false`).
pub fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        ("", "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus")
            | (
                "storage.k8s.io",
                "StorageClass" | "CSIDriver" | "CSINode" | "VolumeAttachment" | "VolumeAttributesClass"
            )
            | ("rbac.authorization.k8s.io", "ClusterRole" | "ClusterRoleBinding")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("node.k8s.io", "RuntimeClass")
            | ("networking.k8s.io", "IngressClass" | "ServiceCIDR" | "IPAddress")
            | ("certificates.k8s.io", "CertificateSigningRequest" | "ClusterTrustBundle")
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
                    | "ValidatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
                    | "MutatingAdmissionPolicy"
                    | "MutatingAdmissionPolicyBinding"
            )
            | ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration")
            | ("resource.k8s.io", "DeviceClass" | "ResourceSlice")
            | ("internal.apiserver.k8s.io", "StorageVersion")
            | ("storagemigration.k8s.io", "StorageVersionMigration")
            | ("authentication.k8s.io", "TokenReview" | "SelfSubjectReview")
            | ("authorization.k8s.io", "SubjectAccessReview" | "SelfSubjectAccessReview" | "SelfSubjectRulesReview")
    )
}

/// Validates an object about to be created (after defaulting and name generation).
///
/// Covers metadata for every kind (name rule per kind, namespace required/forbidden, labels,
/// annotations, owner references, finalizers) and the spec rules of the common built-in kinds.
/// Unknown kinds (custom resources) get metadata checks with DNS-1123 subdomain names and no
/// namespace check, since their scope is not known here.
pub fn validate_create(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(group, kind, obj);
    errs.extend(validate_kind(group, kind, obj));
    errs
}

/// Validates an update of `old` into `new` (both defaulted).
///
/// Runs the metadata update rules (immutable name/namespace/uid/creationTimestamp, required
/// `resourceVersion`, no new finalizers while deleting), the kind's create rules on `new`, and
/// the kind's immutability rules. As upstream does for unconditional updates, the caller copies
/// the stored `metadata.resourceVersion` into `new` before validating when the client sent none.
pub fn validate_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta_update(group, kind, new, old);
    match (group, kind) {
        ("", "Pod") => {
            errs.extend(validate_kind(group, kind, new));
            errs.extend(pod::validate_pod_update(new, old));
        }
        ("", "Service") => {
            errs.extend(core::validate_service_update(new, old));
            errs.extend(validate_kind(group, kind, new));
        }
        ("", "ConfigMap" | "Secret") => {
            errs.extend(core::validate_immutable_data(kind, new, old));
            errs.extend(validate_kind(group, kind, new));
        }
        _ => {
            errs.extend(validate_kind(group, kind, new));
            errs.extend(apps::validate_update(group, kind, new, old));
            errs.extend(other::validate_update_other(group, kind, new, old));
            if (group, kind) == ("", "Node") {
                errs.extend(core::validate_node_update(new, old));
            }
        }
    }
    errs
}

/// The kind-specific (non-metadata) rules shared by create and update.
fn validate_kind(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Pod") => pod::validate_pod(obj),
        ("", "PodTemplate") => pod::validate_template(obj.get("template"), "template"),
        ("", _) => core::validate_core(kind, obj),
        ("apps", _) | ("batch", _) => apps::validate(group, kind, obj),
        _ => other::validate_other(group, kind, obj),
    }
}

/// Shared JSON accessors for the validation submodules.
pub(crate) mod access {
    use serde_json::{Map, Value};

    /// `obj[key]` as a string, if it is one.
    pub(crate) fn str_at<'a>(obj: Option<&'a Value>, key: &str) -> Option<&'a str> {
        obj.and_then(|o| o.get(key)).and_then(Value::as_str)
    }

    /// `obj[key]` as an object, if it is one.
    pub(crate) fn obj_at<'a>(obj: Option<&'a Value>, key: &str) -> Option<&'a Map<String, Value>> {
        obj.and_then(|o| o.get(key)).and_then(Value::as_object)
    }

    /// `obj[key]` as an array, empty when absent.
    pub(crate) fn arr_at<'a>(obj: Option<&'a Value>, key: &str) -> &'a [Value] {
        obj.and_then(|o| o.get(key)).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `obj[key]` as an integer, if it is one.
    pub(crate) fn int_at(obj: Option<&Value>, key: &str) -> Option<i64> {
        obj.and_then(|o| o.get(key)).and_then(Value::as_i64)
    }

    /// `obj[key]` as a boolean, `false` when absent.
    pub(crate) fn bool_at(obj: Option<&Value>, key: &str) -> bool {
        obj.and_then(|o| o.get(key)).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Follows a dotted path of object keys.
    pub(crate) fn path<'a>(obj: &'a Value, keys: &[&str]) -> Option<&'a Value> {
        keys.iter().try_fold(obj, |v, k| v.get(*k))
    }
}
