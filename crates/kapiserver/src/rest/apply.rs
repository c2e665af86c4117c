//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the configuration is
//! merged into the live object by field ownership; fields another manager owns conflict
//! (409) unless `force`; an absent object is created.

use kapi::StatusError;
use kapi::status::Cause;
use serde_json::Value;

use super::write::{WriteOptions, WriteOutcome, check_type, conflict, list_schema};
use super::{Api, MAX_RETRIES, strategy};
use crate::apply::{ApplyError, FieldManager, FieldSet, PathElement, validate_field_manager};
use crate::meta;
use crate::resources::ResourceInfo;

fn apply_error(e: ApplyError) -> StatusError {
    let message = e.to_string();
    match e {
        ApplyError::Conflicts(conflicts) => StatusError::new(kapi::Reason::Conflict, message).with_causes(
            conflicts
                .iter()
                .map(|c| Cause {
                    kind: "FieldManagerConflict".into(),
                    field: c.field.clone(),
                    message: c.cause_message(),
                })
                .collect(),
        ),
        ApplyError::Invalid(m) => StatusError::bad_request(m),
        other => StatusError::internal(other),
    }
}

/// Parses an apply configuration (YAML or JSON).
fn parse_config(body: &[u8]) -> Result<Value, StatusError> {
    let v: serde_yaml::Value =
        serde_yaml::from_slice(body).map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?;
    let v: Value =
        serde_json::to_value(v).map_err(|e| StatusError::bad_request(format!("error converting YAML to JSON: {e}")))?;
    if !v.is_object() {
        return Err(StatusError::bad_request("apply configuration must be an object"));
    }
    if depth(&v, 0) > 100 {
        return Err(StatusError::bad_request("apply configuration nested too deeply"));
    }
    Ok(v)
}

fn depth(v: &Value, d: usize) -> usize {
    if d > 100 {
        return d;
    }
    match v {
        Value::Array(a) => a.iter().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        Value::Object(m) => m.values().map(|x| depth(x, d + 1)).max().unwrap_or(d + 1),
        _ => d,
    }
}

impl Api {
    pub(super) async fn server_side_apply(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        body: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, StatusError> {
        let manager = opts.field_manager.clone().unwrap_or_default();
        validate_field_manager(&manager, true)
            .map_err(|e| StatusError::new(kapi::Reason::Invalid, e.status_message("PatchOptions")))?;
        let mut config = parse_config(body)?;
        if config.get("apiVersion").and_then(Value::as_str).is_none()
            || config.get("kind").and_then(Value::as_str).is_none()
        {
            return Err(StatusError::bad_request("apply configuration must set apiVersion and kind"));
        }
        check_type(res, &mut config)?;
        let warnings = self.check_fields(res, &mut config, opts.field_validation)?;
        match meta::meta_str(&config, "name") {
            Some(n) if n != name => {
                return Err(StatusError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => meta::set(&mut config, "name", Value::String(name.to_owned())),
        }
        if res.namespaced {
            if let Some(ns) = namespace {
                match meta::meta_str(&config, "namespace") {
                    Some(n) if n != ns => {
                        return Err(StatusError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => meta::set(&mut config, "namespace", Value::String(ns.to_owned())),
                }
            }
        }
        let schema = list_schema(res);
        let api_version = res.api_version();
        let mut fm = FieldManager::new(&schema, &api_version);
        match subresource {
            Some(sub) => fm = fm.subresource(sub),
            None if res.has_subresource("status") => {
                // The main resource ignores status, as upstream's reset fields do.
                fm = fm.ignore_fields(FieldSet::from_paths(&[[PathElement::field("status")]]));
            }
            None => {}
        }
        let key = self.storage().key(res, namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let live = match self.storage().get(res, key.clone(), name).await {
                Ok(found) => Some(found),
                Err(e) if e.code() == 404 && subresource.is_none() => None,
                Err(e) => return Err(e),
            };
            let now = meta::now_rfc3339();
            let merged =
                fm.apply(live.as_ref().map(|(v, _)| v), &config, &manager, opts.force, &now).map_err(apply_error)?;
            let Some((current, rev)) = live else {
                match self.create_inner(res, namespace, merged, opts, false).await {
                    Err(e) if e.code() == 409 && e.reason() == kapi::Reason::AlreadyExists => continue,
                    Ok(mut out) => {
                        out.warnings.extend(warnings);
                        return Ok(out);
                    }
                    Err(e) => return Err(e),
                }
            };
            let mut next = merged;
            match subresource {
                Some("status") => strategy::prepare_status_update(&mut next, &current),
                Some(other) => return Err(StatusError::bad_request(format!("unsupported subresource {other}"))),
                None => strategy::prepare_update(res, &mut next, &current, super::write::is_custom(res)),
            }
            match self.store_update(res, key.clone(), next, &current, rev, subresource, opts, false).await {
                Err(e) if e.code() == 409 && e.reason() == kapi::Reason::Conflict => continue,
                Err(e) => return Err(e),
                Ok(object) => return Ok(WriteOutcome { object, created: false, warnings }),
            }
        }
        Err(conflict(res, name))
    }
}
