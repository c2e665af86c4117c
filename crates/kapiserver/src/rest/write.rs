//! Create, update and patch: body checks, lifecycle rules, defaulting, admission,
//! validation, and optimistic concurrency against the store's mod revision.

use kapi::StatusError;
use kapi::status::Cause;
use serde_json::{Value, json};

use super::{Api, MAX_RETRIES, strategy};
use crate::kinds;
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;
use crate::storage::gr;

/// `fieldValidation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Unknown or duplicate fields fail the request.
    Strict,
    /// Unknown fields are reported as warnings (the default).
    #[default]
    Warn,
    /// Unknown fields are dropped silently.
    Ignore,
}

impl FieldValidation {
    /// Parses the query value (empty = default).
    pub fn parse(s: &str) -> Result<Self, StatusError> {
        match s {
            "" | "Warn" => Ok(Self::Warn),
            "Strict" => Ok(Self::Strict),
            "Ignore" => Ok(Self::Ignore),
            other => Err(StatusError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Supported values: Ignore, Strict, Warn"
            ))),
        }
    }
}

/// Query options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything but the store write.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (server-side apply).
    pub force: bool,
    /// The client's User-Agent, naming the field manager when `fieldManager` is unset.
    pub user_agent: Option<String>,
}

impl WriteOptions {
    /// The field manager of this write: `fieldManager`, else derived from the User-Agent.
    pub fn manager(&self) -> String {
        crate::apply::manager_or_user_agent(
            self.field_manager.as_deref().unwrap_or(""),
            self.user_agent.as_deref().unwrap_or(""),
        )
    }
}

/// The list semantics of `res` for field management.
pub(super) fn list_schema(res: &ResourceInfo) -> crate::apply::MergeKeySchema<'static> {
    let ps = patch::builtin_schema(&res.group, &res.kind);
    if !is_custom(res) && patch::supports_strategic(&res.group) {
        crate::apply::MergeKeySchema::builtin(ps)
    } else {
        crate::apply::MergeKeySchema::new(ps)
    }
}

/// Records `manager`'s ordinary write in `next`'s managedFields.
pub(super) fn track_update(
    res: &ResourceInfo,
    old: Option<&Value>,
    next: &mut Value,
    sub: Option<&str>,
    opts: &WriteOptions,
) {
    let schema = list_schema(res);
    let mut fm = crate::apply::FieldManager::new(&schema, &res.api_version());
    if let Some(sub) = sub {
        fm = fm.subresource(sub);
    }
    fm.update(old, next, &opts.manager(), &meta::now_rfc3339());
}

/// A write's result.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The stored object.
    pub object: Value,
    /// Whether it was created (201) rather than updated (200).
    pub created: bool,
    /// `Warning` headers.
    pub warnings: Vec<String>,
}

pub(super) fn is_custom(res: &ResourceInfo) -> bool {
    !crate::resources::is_builtin(&res.group, &res.plural)
}

/// Checks the body's kind and apiVersion against the resource and fills them in.
pub(super) fn check_type(res: &ResourceInfo, obj: &mut Value) -> Result<(), StatusError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(StatusError::bad_request(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    };
    let want_api = res.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(av) if av != want_api => {
            return Err(StatusError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_api})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != res.kind => {
            return Err(StatusError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                res.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), Value::String(want_api));
    map.insert("kind".into(), Value::String(res.kind.clone()));
    if let Some(m) = map.get("metadata") {
        if !m.is_object() && !m.is_null() {
            return Err(StatusError::bad_request("metadata must be an object"));
        }
    }
    Ok(())
}

/// Checks the body's namespace against the URL's and fills it in.
fn check_namespace(res: &ResourceInfo, obj: &mut Value, namespace: Option<&str>) -> Result<(), StatusError> {
    if !res.namespaced {
        meta::remove(obj, "namespace");
        return Ok(());
    }
    let Some(ns) = namespace else {
        return Err(StatusError::bad_request("the server could not find the requested resource: namespace required"));
    };
    match meta::meta_str(obj, "namespace") {
        Some(body_ns) if !body_ns.is_empty() && body_ns != ns => Err(StatusError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta::set(obj, "namespace", Value::String(ns.to_owned()));
            Ok(())
        }
    }
}

/// 422 from validation errors.
pub(super) fn invalid(res: &ResourceInfo, name: &str, errors: &[kinds::FieldError]) -> StatusError {
    invalid_causes(res, name, errors.iter().map(kind_cause).collect())
}

fn kind_cause(e: &kinds::FieldError) -> Cause {
    Cause { kind: e.cause_type().to_owned(), field: e.field.clone(), message: e.body() }
}

fn invalid_causes(res: &ResourceInfo, name: &str, causes: Vec<Cause>) -> StatusError {
    StatusError::invalid(&res.group, &res.kind, name, causes)
}

impl Api {
    /// The structural schema of a custom resource's version, if it has one.
    fn custom_schema(&self, res: &ResourceInfo) -> Option<std::sync::Arc<crate::crd::CrdVersion>> {
        self.registry().crd_versions().get(&res.group, &res.version, &res.plural)
    }

    /// Unknown fields per `fieldValidation`: an error (Strict) or warnings. Custom resources
    /// lose them (pruning, as upstream); built-in kinds are checked against their types.
    pub(super) fn check_fields(
        &self,
        res: &ResourceInfo,
        obj: &mut Value,
        fv: FieldValidation,
    ) -> Result<Vec<String>, StatusError> {
        let custom = self.custom_schema(res).filter(|v| v.schema.is_some());
        let unknown = if let Some(schema) = custom.as_ref().and_then(|v| v.schema.as_ref()) {
            crate::crd::schema::prune(obj, schema)
        } else if fv == FieldValidation::Ignore {
            Vec::new()
        } else {
            kinds::typed::unknown_fields(&res.group, &res.kind, obj).map_err(StatusError::bad_request)?
        };
        if unknown.is_empty() || fv == FieldValidation::Ignore {
            return Ok(Vec::new());
        }
        let msgs: Vec<String> = unknown.iter().map(|f| format!("unknown field \"{f}\"")).collect();
        if fv == FieldValidation::Strict {
            let body = if msgs.len() == 1 { msgs[0].clone() } else { format!("[{}]", msgs.join(", ")) };
            return Err(StatusError::bad_request(format!("strict decoding error: {body}")));
        }
        Ok(msgs)
    }

    /// Upstream's defaulting: the built-in kind's, or the custom resource's schema defaults.
    fn default_object(&self, res: &ResourceInfo, obj: &mut Value) {
        kinds::defaults::apply_defaults(&res.group, &res.kind, obj);
        if let Some(schema) = self.custom_schema(res).as_ref().and_then(|v| v.schema.as_ref()) {
            crate::crd::schema::apply_defaults(obj, schema);
        }
    }

    /// Validation causes of a write (`old` = None on create).
    fn validation_causes(&self, res: &ResourceInfo, new: &Value, old: Option<&Value>) -> Vec<Cause> {
        let errors = match old {
            None => kinds::validation::validate_create(&res.group, &res.kind, new),
            Some(old) => kinds::validation::validate_update(&res.group, &res.kind, new, old),
        };
        let mut causes: Vec<Cause> = errors.iter().map(kind_cause).collect();
        if let Some(v) = self.custom_schema(res) {
            if let Some(schema) = &v.schema {
                for e in crate::crd::schema::validate(new, schema) {
                    causes.push(Cause { kind: e.reason.to_owned(), field: e.field, message: e.message });
                }
            }
            if let Some(paths) = &v.scale {
                for e in crate::crd::schema::validate_scale(new, paths, true) {
                    causes.push(Cause { kind: e.reason.to_owned(), field: e.field, message: e.message });
                }
            }
        }
        causes
    }

    /// Creates an object in `namespace`.
    pub async fn create(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, StatusError> {
        self.create_inner(res, namespace, obj, opts, true).await
    }

    /// Creates; `track` records the write in managedFields (server-side apply has already).
    pub(super) async fn create_inner(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        mut obj: Value,
        opts: &WriteOptions,
        track: bool,
    ) -> Result<WriteOutcome, StatusError> {
        check_type(res, &mut obj)?;
        check_namespace(res, &mut obj, namespace)?;
        let warnings = self.check_fields(res, &mut obj, opts.field_validation)?;
        if let (true, Some(ns)) = (res.namespaced, namespace) {
            self.check_namespace(ns).await?;
        }
        let custom = is_custom(res);
        let generate = meta::meta_str(&obj, "generateName").filter(|g| !g.is_empty()).map(str::to_owned);
        let explicit = !meta::name(&obj).is_empty();
        let mut attempts = 0;
        loop {
            let mut candidate = obj.clone();
            if let (false, Some(prefix)) = (explicit, &generate) {
                meta::set(&mut candidate, "name", Value::String(meta::generate_name(prefix)));
            }
            strategy::prepare_create(res, &mut candidate, custom);
            self.default_object(res, &mut candidate);
            kinds::defaults::prepare_for_create(&res.group, &res.kind, &mut candidate);
            self.admit_create(res, &mut candidate).await?;
            let causes = self.validation_causes(res, &candidate, None);
            if !causes.is_empty() {
                return Err(invalid_causes(res, meta::name(&candidate), causes));
            }
            if track {
                track_update(res, None, &mut candidate, None, opts);
            }
            if opts.dry_run {
                return Ok(WriteOutcome { object: candidate, created: true, warnings });
            }
            let name = meta::name(&candidate).to_owned();
            let key = self.storage().key(res, namespace, &name)?;
            match self.storage().create(res, key, &mut candidate).await {
                Ok(_) => {
                    self.after_write(res, &candidate);
                    return Ok(WriteOutcome { object: candidate, created: true, warnings });
                }
                // A generated name collided: draw another, as upstream does.
                Err(e) if e.code() == 409 && !explicit && generate.is_some() && attempts < 8 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces an object (`PUT`), or its status when `subresource` is `status`.
    pub async fn update(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, StatusError> {
        check_type(res, &mut obj)?;
        check_namespace(res, &mut obj, namespace)?;
        match meta::meta_str(&obj, "name") {
            Some(n) if n != name => {
                return Err(StatusError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => meta::set(&mut obj, "name", Value::String(name.to_owned())),
        }
        let warnings = self.check_fields(res, &mut obj, opts.field_validation)?;
        let precondition = match meta::meta_str(&obj, "resourceVersion") {
            Some(rv) if !rv.is_empty() => Some(
                rv.parse::<i64>().map_err(|_| StatusError::bad_request(format!("invalid resourceVersion: {rv}")))?,
            ),
            _ => None,
        };
        let key = self.storage().key(res, namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let (current, rev) = match self.storage().get(res, key.clone(), name).await {
                Ok(found) => found,
                Err(e) if e.code() == 404 && subresource.is_none() && allow_create_on_update(res) => {
                    let mut out = self.create(res, namespace, obj, opts).await?;
                    out.warnings.extend(warnings);
                    return Ok(out);
                }
                Err(e) => return Err(e),
            };
            if let Some(want) = precondition {
                if want != rev {
                    return Err(conflict(res, name));
                }
            } else if is_custom(res) && subresource.is_none() {
                return Err(invalid(res, name, &[kinds::FieldError::required_rv()]));
            }
            let mut next = obj.clone();
            if precondition.is_none() {
                // An unconditional update is validated as if it named the stored version.
                meta::set(&mut next, "resourceVersion", Value::String(rev.to_string()));
            }
            match subresource {
                Some("status") => strategy::prepare_status_update(&mut next, &current),
                Some(other) => return Err(StatusError::bad_request(format!("unsupported subresource {other}"))),
                None => strategy::prepare_update(res, &mut next, &current, is_custom(res)),
            }
            match self.store_update(res, key.clone(), next, &current, rev, subresource, opts, true).await {
                Err(e) if e.code() == 409 && precondition.is_none() && e.reason() == kapi::Reason::Conflict => continue,
                Err(e) => return Err(e),
                Ok(object) => return Ok(WriteOutcome { object, created: false, warnings }),
            }
        }
        Err(conflict(res, name))
    }

    /// Defaults, validates and stores `next` over `current` (at `rev`); deletes instead when
    /// the update removed the last finalizer of an object being deleted.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store_update(
        &self,
        res: &ResourceInfo,
        key: bytes::Bytes,
        mut next: Value,
        current: &Value,
        rev: i64,
        sub: Option<&str>,
        opts: &WriteOptions,
        track: bool,
    ) -> Result<Value, StatusError> {
        self.default_object(res, &mut next);
        self.admit_update(res, &mut next, current)?;
        let causes = self.validation_causes(res, &next, Some(current));
        if !causes.is_empty() {
            return Err(invalid_causes(res, meta::name(&next), causes));
        }
        if without_rv(&next) == without_rv(current) {
            // A no-op write keeps the resourceVersion, as upstream.
            return Ok(current.clone());
        }
        if track {
            track_update(res, Some(current), &mut next, sub, opts);
        }
        if opts.dry_run {
            return Ok(next);
        }
        let finished = next.pointer("/metadata/deletionTimestamp").is_some()
            && meta::finalizers(&next).is_empty()
            && next.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(0) == 0;
        if finished {
            let name = meta::name(&next).to_owned();
            return self.storage().delete(res, key, &name, Some(rev)).await;
        }
        self.storage().update(res, key, &mut next, rev).await?;
        self.after_write(res, &next);
        Ok(next)
    }

    /// Applies a patch (`PATCH`) to an object or its status.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, StatusError> {
        if patch_type == PatchType::StrategicMerge && (is_custom(res) || !patch::supports_strategic(&res.group)) {
            return Err(StatusError::new(
                kapi::Reason::UnsupportedMediaType,
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        if patch_type == PatchType::Apply {
            return self.server_side_apply(res, namespace, name, body, subresource, opts).await;
        }
        let key = self.storage().key(res, namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let (current, rev) = self.storage().get(res, key.clone(), name).await?;
            let schema = patch::builtin_schema(&res.group, &res.kind);
            let mut next = patch::apply_patch(patch_type, &current, body, schema).map_err(patch_error)?;
            if patch_type == PatchType::StrategicMerge {
                drop_directives(&mut next);
            }
            // A patch naming another resourceVersion is a failed precondition. Retries after
            // a conflict come back here, so a patch pinned to a version that has since moved
            // fails then too.
            let patched_rv = next.pointer("/metadata/resourceVersion").and_then(Value::as_str);
            if patched_rv.is_some()
                && patched_rv != current.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            {
                return Err(conflict(res, name));
            }
            check_type(res, &mut next)?;
            let warnings = self.check_fields(res, &mut next, opts.field_validation)?;
            match subresource {
                Some("status") => strategy::prepare_status_update(&mut next, &current),
                Some(other) => return Err(StatusError::bad_request(format!("unsupported subresource {other}"))),
                None => strategy::prepare_update(res, &mut next, &current, is_custom(res)),
            }
            match self.store_update(res, key.clone(), next, &current, rev, subresource, opts, true).await {
                Err(e) if e.code() == 409 && e.reason() == kapi::Reason::Conflict => continue,
                Err(e) => return Err(e),
                Ok(object) => return Ok(WriteOutcome { object, created: false, warnings }),
            }
        }
        Err(conflict(res, name))
    }
}

/// Removes what a strategic merge can leave behind and upstream's typed decode drops:
/// `$`-directives and null fields.
fn drop_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, v| !k.starts_with('$') && !v.is_null());
            m.values_mut().for_each(drop_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_directives),
        _ => {}
    }
}

fn without_rv(v: &Value) -> Value {
    let mut c = v.clone();
    meta::remove(&mut c, "resourceVersion");
    c
}

fn allow_create_on_update(res: &ResourceInfo) -> bool {
    matches!(
        (res.group.as_str(), res.kind.as_str()),
        ("", "Endpoints") | ("coordination.k8s.io", "Lease") | ("", "Event")
    )
}

/// 409 for a stale resourceVersion.
pub(super) fn conflict(res: &ResourceInfo, name: &str) -> StatusError {
    StatusError::conflict(
        &gr(res),
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

fn patch_error(e: patch::PatchError) -> StatusError {
    let reason = match e.http_status() {
        415 => kapi::Reason::UnsupportedMediaType,
        413 => kapi::Reason::RequestEntityTooLarge,
        // Upstream reports content errors of a patch (missing merge key, failed test) as
        // 422 Invalid; 500 would blame the server for the client's patch.
        422 | 500 => kapi::Reason::Invalid,
        _ => kapi::Reason::BadRequest,
    };
    StatusError::new(reason, e.to_string())
}

/// The `Status` a delete answers with for kinds that do not return the deleted object.
pub(super) fn status_success(res: &ResourceInfo, name: &str, uid: Option<&str>) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": res.group, "kind": res.plural, "uid": uid},
    })
}
