//! Metadata validation and the string-format checks of apimachinery (`IsDNS1123Label` & co).

use serde_json::{Map, Value};

use super::FieldError;
use super::access::{arr_at, int_at, obj_at, str_at};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%'";
/// Upstream `IsNegativeErrorMsg`.
pub(crate) const NEGATIVE_MSG: &str = "must be greater than or equal to 0";
/// Upstream `FieldImmutableErrorMsg`.
pub(crate) const IMMUTABLE_MSG: &str = "field is immutable";
const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;

/// Which name format a kind's `metadata.name` must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespace, StatefulSet).
    Label,
    /// RFC 1035 label (Service).
    Dns1035,
    /// Anything that is a safe URL path segment (RBAC kinds).
    PathSegment,
}

/// The name rule upstream's `Validate<Kind>` passes to `ValidateObjectMeta`.
pub(crate) fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") | ("apps", "StatefulSet") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn all_match(s: &str, f: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(f)
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn dns_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && all_match(s, |c| is_lower_alnum(c) || c == b'-')
}

fn dns_subdomain_shape(s: &str) -> bool {
    s.split('.').all(dns_label_shape)
}

/// Upstream `RegexError`: the message, the examples and the regex.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let ex: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!("{msg} (e.g. {}regex used for validation is '{fmt}')", ex.join(" or "))
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Upstream `IsDNS1123Label`.
pub(crate) fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !dns_label_shape(value) {
        if dns_subdomain_shape(value) {
            errs.push("must not contain dots".to_string());
        } else {
            let msg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
            errs.push(regex_error(msg, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// Upstream `IsDNS1123Subdomain`.
pub(crate) fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !dns_subdomain_shape(value) {
        let msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
        errs.push(regex_error(msg, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Upstream `IsDNS1035Label`.
pub(crate) fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    let b = value.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() || !dns_label_shape(value) {
        let msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
        errs.push(regex_error(msg, DNS1035_LABEL_FMT, &["my-name", "abc-123"]));
    }
    errs
}

fn path_segment(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if name == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"].iter().filter(|c| name.contains(**c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// Runs a name rule; `prefix` is set for `generateName`, where a trailing dash is allowed.
pub(crate) fn check_name(rule: NameRule, name: &str, prefix: bool) -> Vec<String> {
    if rule == NameRule::PathSegment {
        return path_segment(name, prefix);
    }
    // Upstream `maskTrailingDash`: replace the last two characters by "a" when it ends in '-'.
    let masked;
    let name = if prefix && name.len() > 1 && name.ends_with('-') {
        // Byte-wise like upstream; a split character can only make the name invalid.
        masked = format!("{}a", String::from_utf8_lossy(&name.as_bytes()[..name.len() - 2]));
        masked.as_str()
    } else {
        name
    };
    match rule {
        NameRule::Subdomain => dns1123_subdomain(name),
        NameRule::Label => dns1123_label(name),
        NameRule::Dns1035 => dns1035_label(name),
        NameRule::PathSegment => Vec::new(),
    }
}

fn qualified_name_part(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && all_match(name, |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Upstream `IsQualifiedName` (`prefix/name` with an optional DNS subdomain prefix).
pub(crate) fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            let re = regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
            errs.push(format!(
                "a qualified name {re} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !qualified_name_part(name) {
        let re = regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
        errs.push(format!("name part {re}"));
    }
    errs
}

/// Upstream `IsValidLabelValue`.
pub(crate) fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !qualified_name_part(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, &format!("({QUALIFIED_NAME_FMT})?"), &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// Upstream `IsConfigMapKey`.
pub(crate) fn config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if value.is_empty() || !all_match(value, |c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_')) {
        errs.push(regex_error(CONFIG_KEY_MSG, "[-._a-zA-Z0-9]+", &["key.name", "KEY_NAME", "key-name"]));
    }
    match value {
        "." => errs.push("must not be '.'".to_string()),
        ".." => errs.push("must not be '..'".to_string()),
        v if v.starts_with("..") => errs.push("must not start with '..'".to_string()),
        _ => {}
    }
    errs
}

/// Upstream `IsValidPortName` (IANA service name).
pub(crate) fn port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15));
    }
    if port.is_empty() || !all_match(port, |c| is_lower_alnum(c) || c == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// Upstream `IsRelaxedEnvVarName` (the default since `RelaxedEnvironmentVariableValidation`).
pub(crate) fn env_var_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if value.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

/// Upstream `IsValidPercent`.
pub(crate) fn percent(value: &str) -> Vec<String> {
    let digits = value.strip_suffix('%').unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return vec![regex_error(PERCENT_MSG, "[0-9]+%", &["1%", "93%"])];
    }
    Vec::new()
}

/// `field.Invalid` for every message of a string check.
pub(crate) fn each_invalid(field: &str, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter().map(|m| FieldError::invalid(field, value, m)).collect()
}

/// `ValidateNonnegativeField` on an optional integer.
pub(crate) fn nonnegative(obj: Option<&Value>, key: &str, field: &str) -> Vec<FieldError> {
    match int_at(obj, key) {
        Some(v) if v < 0 => vec![FieldError::invalid(field, v, NEGATIVE_MSG)],
        _ => Vec::new(),
    }
}

/// Upstream `ValidateLabels`: keys are qualified names, values label values.
pub(crate) fn validate_labels(labels: Option<&Map<String, Value>>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels.into_iter().flatten() {
        errs.extend(each_invalid(field, k, qualified_name(k)));
        let v = v.as_str().unwrap_or_default();
        errs.extend(each_invalid(field, v, label_value(v)));
    }
    errs
}

/// Upstream `ValidateAnnotations`: case-insensitive qualified keys, total size at most 256 KiB.
pub(crate) fn validate_annotations(annotations: Option<&Map<String, Value>>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        errs.extend(each_invalid(field, k, qualified_name(&k.to_lowercase())));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.push(FieldError::too_long(field, TOTAL_ANNOTATION_SIZE));
    }
    errs
}

/// Upstream `ValidateLabelSelector` (strict: label values in expressions are checked).
pub(crate) fn validate_label_selector(selector: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(obj_at(selector, "matchLabels"), &format!("{field}.matchLabels"));
    for (i, expr) in arr_at(selector, "matchExpressions").iter().enumerate() {
        let p = format!("{field}.matchExpressions[{i}]");
        let values = arr_at(Some(expr), "values");
        match str_at(Some(expr), "operator").unwrap_or_default() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{p}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{p}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            op => errs.push(FieldError::invalid(format!("{p}.operator"), op, "not a valid selector operator")),
        }
        let key = str_at(Some(expr), "key").unwrap_or_default();
        errs.extend(each_invalid(&format!("{p}.key"), key, qualified_name(key)));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or_default();
            errs.extend(each_invalid(&format!("{p}.values[{j}]"), v, label_value(v)));
        }
    }
    errs
}

/// Whether a `metav1.LabelSelector` matches `labels`; `None` when the selector is malformed.
///
/// A missing selector matches nothing and an empty one everything, as upstream's
/// `LabelSelectorAsSelector` does.
pub(crate) fn selector_matches(selector: Option<&Value>, labels: Option<&Map<String, Value>>) -> Option<bool> {
    let Some(selector) = selector.filter(|s| !s.is_null()) else { return Some(false) };
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    for (k, v) in obj_at(Some(selector), "matchLabels").into_iter().flatten() {
        if get(k) != v.as_str() {
            return Some(false);
        }
    }
    for expr in arr_at(Some(selector), "matchExpressions") {
        let key = str_at(Some(expr), "key")?;
        let values: Vec<&str> = arr_at(Some(expr), "values").iter().filter_map(Value::as_str).collect();
        let ok = match str_at(Some(expr), "operator")? {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => get(key).is_none_or(|v| !values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

fn finalizer_errors(finalizers: &[Value], builtin: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let names: Vec<&str> = finalizers.iter().filter_map(Value::as_str).collect();
    for (i, f) in names.iter().enumerate() {
        errs.extend(each_invalid("metadata.finalizers", f, qualified_name(f)));
        // Core's wrapper also requires unprefixed finalizers to be standard ones.
        if builtin && !f.contains('/') && !matches!(*f, "kubernetes" | "orphan" | "foregroundDeletion") {
            errs.push(FieldError::invalid(
                format!("metadata.finalizers[{i}]"),
                *f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(FieldError::invalid(
            "metadata.finalizers",
            Value::from(names.clone()),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn owner_reference_errors(refs: &[Value]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let field = "metadata.ownerReferences";
    let mut first_controller: Option<String> = None;
    for r in refs {
        let s = |k: &str| str_at(Some(r), k).unwrap_or_default();
        let api_version = s("apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or_default();
        if version.is_empty() {
            errs.push(FieldError::invalid(format!("{field}.apiVersion"), api_version, "version must not be empty"));
        }
        for (key, what) in [("kind", "kind"), ("name", "name"), ("uid", "uid")] {
            if s(key).is_empty() {
                errs.push(FieldError::invalid(format!("{field}.{key}"), "", format!("{what} must not be empty")));
            }
        }
        if api_version == "v1" && s("kind") == "Event" {
            errs.push(FieldError::invalid(field, r.clone(), "/v1, Kind=Event is disallowed from being an owner"));
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let current = format!("{}/{}", s("kind"), s("name"));
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    field,
                    Value::Array(refs.to_vec()),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                )),
                None => first_controller = Some(current),
            }
        }
    }
    errs
}

/// Whether `group` is served by the API server itself (custom resources are not).
pub(crate) fn is_builtin(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "autoscaling"
            | "policy"
            | "networking.k8s.io"
            | "storage.k8s.io"
            | "rbac.authorization.k8s.io"
            | "apiextensions.k8s.io"
            | "apiregistration.k8s.io"
            | "scheduling.k8s.io"
            | "node.k8s.io"
            | "certificates.k8s.io"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "events.k8s.io"
            | "admissionregistration.k8s.io"
            | "flowcontrol.apiserver.k8s.io"
            | "resource.k8s.io"
            | "internal.apiserver.k8s.io"
            | "storagemigration.k8s.io"
            | "authentication.k8s.io"
            | "authorization.k8s.io"
    )
}

/// Upstream `ValidateObjectMeta` with the kind's name rule and scope.
pub(crate) fn validate_object_meta(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let meta = obj.get("metadata");
    let rule = name_rule(group, kind);
    let mut errs = Vec::new();
    if let Some(gen_name) = str_at(meta, "generateName").filter(|g| !g.is_empty()) {
        errs.extend(each_invalid("metadata.generateName", gen_name, check_name(rule, gen_name, true)));
    }
    match str_at(meta, "name").filter(|n| !n.is_empty()) {
        None => errs.push(FieldError::required("metadata.name", "name or generateName is required")),
        Some(name) => errs.extend(each_invalid("metadata.name", name, check_name(rule, name, false))),
    }
    let namespace = str_at(meta, "namespace").unwrap_or_default();
    let builtin = is_builtin(group);
    if builtin && super::is_cluster_scoped(group, kind) {
        if !namespace.is_empty() {
            errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
        }
    } else if builtin && namespace.is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    } else if !namespace.is_empty() {
        errs.extend(each_invalid("metadata.namespace", namespace, check_name(NameRule::Label, namespace, false)));
    }
    errs.extend(nonnegative(meta, "generation", "metadata.generation"));
    errs.extend(common_meta(meta));
    errs.extend(finalizer_errors(arr_at(meta, "finalizers"), builtin));
    errs
}

fn common_meta(meta: Option<&Value>) -> Vec<FieldError> {
    let mut errs = validate_labels(obj_at(meta, "labels"), "metadata.labels");
    errs.extend(validate_annotations(obj_at(meta, "annotations"), "metadata.annotations"));
    errs.extend(owner_reference_errors(arr_at(meta, "ownerReferences")));
    errs
}

/// Upstream `ValidateObjectMetaUpdate`.
pub(crate) fn validate_object_meta_update(group: &str, _kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let (nm, om) = (new.get("metadata"), old.get("metadata"));
    let mut errs = Vec::new();
    if om.and_then(|m| m.get("deletionTimestamp")).is_some_and(|d| !d.is_null()) {
        let old_f: Vec<&str> = arr_at(om, "finalizers").iter().filter_map(Value::as_str).collect();
        let mut extra: Vec<&str> =
            arr_at(nm, "finalizers").iter().filter_map(Value::as_str).filter(|f| !old_f.contains(f)).collect();
        extra.sort_unstable();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| super::go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                "metadata.finalizers",
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if str_at(nm, "resourceVersion").unwrap_or_default().is_empty() {
        errs.push(FieldError::invalid("metadata.resourceVersion", "", "must be specified for an update"));
    }
    let (ng, og) = (int_at(nm, "generation").unwrap_or(0), int_at(om, "generation").unwrap_or(0));
    if ng < og {
        errs.push(FieldError::invalid("metadata.generation", ng, "must not be decremented"));
    }
    for key in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        let (a, b) = (nm.and_then(|m| m.get(key)), om.and_then(|m| m.get(key)));
        let norm = |v: Option<&Value>| v.filter(|v| !v.is_null() && v.as_str() != Some("")).cloned();
        if norm(a) != norm(b) {
            errs.push(FieldError::invalid(format!("metadata.{key}"), norm(a).unwrap_or(Value::Null), IMMUTABLE_MSG));
        }
    }
    errs.extend(common_meta(nm));
    errs.extend(finalizer_errors(arr_at(nm, "finalizers"), is_builtin(group)));
    errs
}

/// Validates an int-or-string port (`targetPort`, probe ports): a number in range or a port name.
pub(crate) fn port_num_or_name(value: Option<&Value>, field: &str) -> Vec<FieldError> {
    match value {
        Some(Value::String(s)) => each_invalid(field, s, port_name(s)),
        Some(Value::Number(n)) => {
            let v = n.as_i64().unwrap_or(-1);
            if (1..=65535).contains(&v) { Vec::new() } else { vec![port_range_error(field, v)] }
        }
        _ => vec![port_range_error(field, 0)],
    }
}

/// `Invalid` with upstream's `InclusiveRangeError(1, 65535)`.
pub(crate) fn port_range_error(field: &str, value: i64) -> FieldError {
    FieldError::invalid(field, value, "must be between 1 and 65535, inclusive")
}
