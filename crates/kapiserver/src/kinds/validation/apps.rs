//! Workload rules: apps/v1 controllers, ReplicationController, batch/v1 Job and CronJob.

use serde_json::{Map, Value};

use super::FieldError;
use super::access::{arr_at, bool_at, int_at, obj_at, path, str_at};
use super::meta::{
    IMMUTABLE_MSG, dns1123_label, each_invalid, nonnegative, percent, selector_matches, validate_label_selector,
};
use super::pod::validate_template;

const MISMATCH: &str = "`selector` does not match template `labels`";

/// Kind-specific create rules for `apps` and `batch` kinds.
pub(crate) fn validate(group: &str, kind: &str, obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec");
    match (group, kind) {
        ("apps", "Deployment") => deployment(spec),
        ("apps", "ReplicaSet") => replica_set(spec, "deployment"),
        ("apps", "StatefulSet") => stateful_set(spec),
        ("apps", "DaemonSet") => daemon_set(spec),
        ("apps", "ControllerRevision") => controller_revision(obj),
        ("batch", "Job") => job(spec, "spec"),
        ("batch", "CronJob") => cron_job(obj),
        _ => Vec::new(),
    }
}

fn template_labels(spec: Option<&Value>) -> Option<&Map<String, Value>> {
    spec.and_then(|s| path(s, &["template", "metadata", "labels"])).and_then(Value::as_object)
}

fn selector_is_empty(sel: Option<&Value>) -> bool {
    sel.is_some_and(|s| obj_at(Some(s), "matchLabels").is_none_or(Map::is_empty))
        && arr_at(sel, "matchExpressions").is_empty()
}

/// Selector required, well formed and not empty (`empty selector is invalid for <what>`).
fn selector_rules(spec: Option<&Value>, what: &str) -> Vec<FieldError> {
    let sel = spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null());
    match sel {
        None => vec![FieldError::required("spec.selector", "")],
        Some(s) => {
            let mut errs = validate_label_selector(Some(s), "spec.selector");
            if selector_is_empty(Some(s)) {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    s.clone(),
                    format!("empty selector is invalid for {what}"),
                ));
            }
            errs
        }
    }
}

/// The selector must match the template labels; an empty selector matches everything and a
/// missing one nothing, as upstream's `LabelSelectorAsSelector` behaves.
fn template_match(spec: Option<&Value>) -> Result<Vec<FieldError>, FieldError> {
    let sel = spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null());
    if sel.is_some() && selector_is_empty(sel) {
        return Ok(Vec::new());
    }
    match selector_matches(sel, template_labels(spec)) {
        None => {
            Err(FieldError::invalid("spec.selector", sel.cloned().unwrap_or(Value::Null), "invalid label selector"))
        }
        Some(true) => Ok(Vec::new()),
        Some(false) => Ok(vec![FieldError::invalid(
            "spec.template.metadata.labels",
            Value::Object(template_labels(spec).cloned().unwrap_or_default()),
            MISMATCH,
        )]),
    }
}

/// Upstream `ValidatePodTemplateSpecForReplicaSet` plus restart policy and deadline rules.
fn template_for_controller(spec: Option<&Value>, controller: &str) -> Vec<FieldError> {
    let template = spec.and_then(|s| s.get("template"));
    let mut errs = validate_template(template, "spec.template");
    let tspec = template.and_then(|t| t.get("spec"));
    let rp = str_at(tspec, "restartPolicy").unwrap_or_default();
    if rp != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
    }
    if tspec.and_then(|s| s.get("activeDeadlineSeconds")).is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {controller} is not Supported"),
        ));
    }
    errs
}

fn replica_set(spec: Option<&Value>, what: &str) -> Vec<FieldError> {
    let mut errs = nonnegative(spec, "replicas", "spec.replicas");
    errs.extend(nonnegative(spec, "minReadySeconds", "spec.minReadySeconds"));
    errs.extend(selector_rules(spec, what));
    match template_match(spec) {
        Err(e) => errs.push(e),
        Ok(m) => {
            errs.extend(m);
            errs.extend(template_for_controller(spec, "ReplicaSet"));
        }
    }
    errs
}

fn int_or_percent(v: Option<&Value>, field: &str) -> (Vec<FieldError>, i64) {
    match v {
        Some(Value::String(s)) => {
            let msgs = percent(s);
            let val = if msgs.is_empty() { s.trim_end_matches('%').parse().unwrap_or(0) } else { 0 };
            (msgs.into_iter().map(|m| FieldError::invalid(field, s.as_str(), m)).collect(), val)
        }
        Some(Value::Number(n)) => {
            let i = n.as_i64().unwrap_or(0);
            let errs = if i < 0 { vec![FieldError::invalid(field, i, super::meta::NEGATIVE_MSG)] } else { Vec::new() };
            (errs, i)
        }
        _ => (Vec::new(), 0),
    }
}

fn over_100_percent(v: Option<&Value>, field: &str) -> Option<FieldError> {
    let s = v.and_then(Value::as_str)?;
    let n: i64 = s.strip_suffix('%')?.parse().ok()?;
    (n > 100).then(|| FieldError::invalid(field, s, "must not be greater than 100%"))
}

fn deployment(spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = nonnegative(spec, "replicas", "spec.replicas");
    errs.extend(selector_rules(spec, "deployment"));
    match template_match(spec) {
        Err(e) => errs.push(e),
        Ok(m) => {
            errs.extend(m);
            errs.extend(template_for_controller(spec, "ReplicaSet"));
        }
    }
    let strategy = spec.and_then(|s| s.get("strategy"));
    let rolling = strategy.and_then(|s| s.get("rollingUpdate")).filter(|r| !r.is_null());
    match str_at(strategy, "type").unwrap_or_default() {
        "Recreate" if rolling.is_some() => errs.push(FieldError::forbidden(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy `type` is 'Recreate'",
        )),
        "Recreate" => {}
        "RollingUpdate" => match rolling {
            None => errs
                .push(FieldError::required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil")),
            Some(r) => {
                let (mu_field, ms_field) =
                    ("spec.strategy.rollingUpdate.maxUnavailable", "spec.strategy.rollingUpdate.maxSurge");
                let (e1, mu) = int_or_percent(r.get("maxUnavailable"), mu_field);
                let (e2, ms) = int_or_percent(r.get("maxSurge"), ms_field);
                errs.extend(e1);
                errs.extend(e2);
                if mu == 0 && ms == 0 {
                    let v = r.get("maxUnavailable").cloned().unwrap_or(Value::Null);
                    errs.push(FieldError::invalid(mu_field, v, "may not be 0 when `maxSurge` is 0"));
                }
                errs.extend(over_100_percent(r.get("maxUnavailable"), mu_field));
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.strategy",
            strategy.cloned().unwrap_or(Value::Null),
            &["Recreate", "RollingUpdate"],
        )),
    }
    errs.extend(nonnegative(spec, "minReadySeconds", "spec.minReadySeconds"));
    errs.extend(nonnegative(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit"));
    if let Some(pds) = int_at(spec, "progressDeadlineSeconds") {
        errs.extend(nonnegative(spec, "progressDeadlineSeconds", "spec.progressDeadlineSeconds"));
        if pds <= int_at(spec, "minReadySeconds").unwrap_or(0) {
            errs.push(FieldError::invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"));
        }
    }
    errs
}

fn stateful_set(spec: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match str_at(spec, "podManagementPolicy").unwrap_or_default() {
        "" => errs.push(FieldError::required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => {
            errs.push(FieldError::invalid("spec.podManagementPolicy", other, "must be 'OrderedReady' or 'Parallel'"))
        }
    }
    let strategy = spec.and_then(|s| s.get("updateStrategy"));
    let rolling = strategy.and_then(|s| s.get("rollingUpdate")).filter(|r| !r.is_null());
    match str_at(strategy, "type").unwrap_or_default() {
        "" => errs.push(FieldError::required("spec.updateStrategy", "")),
        "OnDelete" => {
            if let Some(r) = rolling {
                errs.push(FieldError::invalid(
                    "spec.updateStrategy.rollingUpdate",
                    r.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(r) = rolling {
                errs.extend(nonnegative(Some(r), "partition", "spec.updateStrategy.rollingUpdate.partition"));
                let f = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                if let Some(mu) = r.get("maxUnavailable").filter(|v| !v.is_null()) {
                    let (e, v) = int_or_percent(Some(mu), f);
                    errs.extend(e);
                    if v == 0 {
                        errs.push(FieldError::invalid(f, mu.clone(), "cannot be 0"));
                    }
                    errs.extend(over_100_percent(Some(mu), f));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            "spec.updateStrategy",
            strategy.cloned().unwrap_or(Value::Null),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    let policy = spec.and_then(|s| s.get("persistentVolumeClaimRetentionPolicy"));
    if policy.is_some_and(|p| !p.is_null()) {
        for key in ["whenDeleted", "whenScaled"] {
            let v = str_at(policy, key).unwrap_or_default();
            if !matches!(v, "Retain" | "Delete") {
                let f = format!("spec.persistentVolumeClaimRetentionPolicy.{key}");
                errs.push(FieldError::not_supported(f, v, &["Retain", "Delete"]));
            }
        }
    }
    errs.extend(nonnegative(spec, "replicas", "spec.replicas"));
    errs.extend(nonnegative(spec, "minReadySeconds", "spec.minReadySeconds"));
    if let Some(ord) = spec.and_then(|s| s.get("ordinals")) {
        errs.extend(nonnegative(Some(ord), "start", "spec.ordinals.start"));
    }
    // Since 1.33 the service name must be usable as the pods' DNS subdomain.
    if let Some(svc) = str_at(spec, "serviceName").filter(|s| !s.is_empty()) {
        errs.extend(each_invalid("spec.serviceName", svc, dns1123_label(svc)));
    }
    errs.extend(selector_rules(spec, "statefulset"));
    match template_match(spec) {
        Err(e) => errs.push(e),
        Ok(m) => {
            errs.extend(m);
            // Upstream checks only the template's labels and annotations for StatefulSets.
            let meta = spec.and_then(|s| path(s, &["template", "metadata"]));
            errs.extend(super::meta::validate_labels(obj_at(meta, "labels"), "spec.template.labels"));
            errs.extend(super::meta::validate_annotations(obj_at(meta, "annotations"), "spec.template.annotations"));
        }
    }
    let tspec = spec.and_then(|s| path(s, &["template", "spec"]));
    let rp = str_at(tspec, "restartPolicy").unwrap_or_default();
    if rp != "Always" {
        errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
    }
    if tspec.and_then(|s| s.get("activeDeadlineSeconds")).is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs
}

fn daemon_set(spec: Option<&Value>) -> Vec<FieldError> {
    let sel = spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null());
    let mut errs = validate_label_selector(sel, "spec.selector");
    // A DaemonSet without selector fails only the template match, like upstream.
    if selector_matches(sel, template_labels(spec)) == Some(false) && !(sel.is_some() && selector_is_empty(sel)) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            Value::Object(template_labels(spec).cloned().unwrap_or_default()),
            MISMATCH,
        ));
    }
    if let Some(s) = sel.filter(|s| selector_is_empty(Some(s))) {
        errs.push(FieldError::invalid("spec.selector", s.clone(), "empty selector is invalid for daemonset"));
    }
    errs.extend(template_for_controller(spec, "DaemonSet"));
    errs.extend(nonnegative(spec, "minReadySeconds", "spec.minReadySeconds"));
    errs.extend(nonnegative(spec, "templateGeneration", "spec.templateGeneration"));
    let strategy = spec.and_then(|s| s.get("updateStrategy"));
    match str_at(strategy, "type").unwrap_or_default() {
        "OnDelete" => {}
        "RollingUpdate" => match strategy.and_then(|s| s.get("rollingUpdate")).filter(|r| !r.is_null()) {
            None => errs.push(FieldError::required("spec.updateStrategy.rollingUpdate", "")),
            Some(r) => {
                let (mu_f, ms_f) =
                    ("spec.updateStrategy.rollingUpdate.maxUnavailable", "spec.updateStrategy.rollingUpdate.maxSurge");
                let (e1, mu) = int_or_percent(r.get("maxUnavailable"), mu_f);
                let (e2, ms) = int_or_percent(r.get("maxSurge"), ms_f);
                errs.extend(e1);
                errs.extend(e2);
                errs.extend(over_100_percent(r.get("maxUnavailable"), mu_f));
                errs.extend(over_100_percent(r.get("maxSurge"), ms_f));
                if mu != 0 && ms != 0 {
                    let v = r.get("maxSurge").cloned().unwrap_or(Value::Null);
                    errs.push(FieldError::invalid(ms_f, v, "may not be set when maxUnavailable is non-zero"));
                } else if mu == 0 && ms == 0 {
                    errs.push(FieldError::required(mu_f, "cannot be 0 when maxSurge is 0"));
                }
            }
        },
        _ => errs.push(FieldError::not_supported(
            "spec.updateStrategy",
            strategy.cloned().unwrap_or(Value::Null),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    errs.extend(nonnegative(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit"));
    errs
}

fn controller_revision(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.get("data").is_none_or(Value::is_null) {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    errs.extend(nonnegative(Some(obj), "revision", "revision"));
    errs
}

/// ReplicationController spec rules (core group, same shape as the apps controllers).
pub(crate) fn replication_controller(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec");
    let mut errs = nonnegative(spec, "minReadySeconds", "spec.minReadySeconds");
    let selector = obj_at(spec, "selector").filter(|s| !s.is_empty());
    if selector.is_none() {
        errs.push(FieldError::required("spec.selector", ""));
    }
    errs.extend(nonnegative(spec, "replicas", "spec.replicas"));
    if spec.and_then(|s| s.get("template")).is_none_or(Value::is_null) {
        errs.push(FieldError::required("spec.template", ""));
        return errs;
    }
    if let Some(sel) = selector {
        let labels = template_labels(spec);
        let matches = sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            errs.push(FieldError::invalid(
                "spec.template.metadata.labels",
                Value::Object(labels.cloned().unwrap_or_default()),
                MISMATCH,
            ));
        }
    }
    errs.extend(template_for_controller(spec, "ReplicationController"));
    errs
}

/// Upstream `validateJobSpec` at `path` (also used for a CronJob's job template).
fn job_spec(spec: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for key in ["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"] {
        errs.extend(nonnegative(spec, key, &format!("{path}.{key}")));
    }
    if let Some(mode) = str_at(spec, "completionMode").filter(|m| !matches!(*m, "NonIndexed" | "Indexed")) {
        errs.push(FieldError::not_supported(format!("{path}.completionMode"), mode, &["NonIndexed", "Indexed"]));
    }
    let template = spec.and_then(|s| s.get("template"));
    errs.extend(validate_template(template, &format!("{path}.template")));
    let rp = str_at(template.and_then(|t| t.get("spec")), "restartPolicy").unwrap_or_default();
    if rp != "OnFailure" && rp != "Never" {
        errs.push(FieldError::not_supported(
            format!("{path}.template.spec.restartPolicy"),
            rp,
            &["OnFailure", "Never"],
        ));
    }
    errs
}

fn job(spec: Option<&Value>, path: &str) -> Vec<FieldError> {
    let mut errs = job_spec(spec, path);
    // The selector is generated by the create strategy; check it only once present.
    if let Some(sel) = spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null()) {
        errs.extend(validate_label_selector(Some(sel), &format!("{path}.selector")));
        if selector_matches(Some(sel), template_labels(spec)) == Some(false) {
            errs.push(FieldError::invalid(
                format!("{path}.template.metadata.labels"),
                Value::Object(template_labels(spec).cloned().unwrap_or_default()),
                MISMATCH,
            ));
        }
    } else if bool_at(spec, "manualSelector") {
        errs.push(FieldError::required(format!("{path}.selector"), ""));
    }
    errs
}

fn cron_job(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec");
    let mut errs = Vec::new();
    let name = str_at(obj.get("metadata"), "name").unwrap_or_default();
    // Job names get an 11-character suffix and must stay DNS-1035 labels.
    if name.len() > 52 {
        errs.push(FieldError::invalid("metadata.name", name, "must be no more than 52 characters"));
    }
    match str_at(spec, "schedule").unwrap_or_default() {
        "" => errs.push(FieldError::required("spec.schedule", "")),
        schedule => {
            if let Err(msg) = super::cron::parse_standard(schedule) {
                errs.push(FieldError::invalid("spec.schedule", schedule, msg));
            }
            if schedule.contains("TZ") {
                errs.push(FieldError::invalid(
                    "spec.schedule",
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            }
        }
    }
    errs.extend(nonnegative(spec, "startingDeadlineSeconds", "spec.startingDeadlineSeconds"));
    match str_at(spec, "concurrencyPolicy").unwrap_or_default() {
        "Allow" | "Forbid" | "Replace" => {}
        "" => errs.push(FieldError::required("spec.concurrencyPolicy", "")),
        other => errs.push(FieldError::not_supported("spec.concurrencyPolicy", other, &["Allow", "Forbid", "Replace"])),
    }
    for key in ["successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
        errs.extend(nonnegative(spec, key, &format!("spec.{key}")));
    }
    let jt_spec = spec.and_then(|s| path(s, &["jobTemplate", "spec"]));
    errs.extend(job_spec(jt_spec, "spec.jobTemplate.spec"));
    if let Some(sel) = jt_spec.and_then(|s| s.get("selector")).filter(|s| !s.is_null()) {
        errs.push(FieldError::invalid(
            "spec.jobTemplate.spec.selector",
            sel.clone(),
            "`selector` will be auto-generated",
        ));
    }
    if bool_at(jt_spec, "manualSelector") {
        errs.push(FieldError::not_supported("spec.jobTemplate.spec.manualSelector", true, &["nil", "false"]));
    }
    errs
}

fn immutable(new: &Value, old: &Value, keys: &[&str], field: &str) -> Option<FieldError> {
    let (a, b) = (path(new, keys), path(old, keys));
    (a != b).then(|| FieldError::invalid(field, a.cloned().unwrap_or(Value::Null), IMMUTABLE_MSG))
}

/// Immutability rules of the apps/batch update strategies and validators.
pub(crate) fn validate_update(group: &str, kind: &str, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => {
            errs.extend(immutable(new, old, &["spec", "selector"], "spec.selector"));
        }
        ("apps", "StatefulSet") => {
            let strip = |v: &Value| {
                let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(o) = spec.as_object_mut() {
                    for key in [
                        "replicas",
                        "template",
                        "updateStrategy",
                        "minReadySeconds",
                        "ordinals",
                        "persistentVolumeClaimRetentionPolicy",
                    ] {
                        o.remove(key);
                    }
                }
                spec
            };
            if strip(new) != strip(old) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                ));
            }
        }
        ("apps", "ControllerRevision") => errs.extend(immutable(new, old, &["data"], "data")),
        ("batch", "Job") => {
            errs.extend(immutable(new, old, &["spec", "completions"], "spec.completions"));
            errs.extend(immutable(new, old, &["spec", "selector"], "spec.selector"));
            errs.extend(immutable(new, old, &["spec", "template"], "spec.template"));
            errs.extend(immutable(new, old, &["spec", "completionMode"], "spec.completionMode"));
        }
        _ => {}
    }
    errs
}
