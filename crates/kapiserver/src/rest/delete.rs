//! Deletion: preconditions, graceful deletion of pods, finalizers and propagation policy
//! (Orphan and Foreground become finalizers the garbage collector acts on), and
//! deletecollection.

use kapi::StatusError;
use serde_json::{Value, json};

use super::list::ListQuery;
use super::write::{conflict, status_success};
use super::{Api, MAX_RETRIES};
use crate::meta;
use crate::resources::ResourceInfo;

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are left, their owner references removed (`orphan` finalizer).
    Orphan,
    /// The owner is deleted now; the garbage collector removes dependents.
    Background,
    /// Dependents go first (`foregroundDeletion` finalizer).
    Foreground,
}

/// `DeleteOptions` (body or query).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy` (`orphanDependents` maps here too).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads a `DeleteOptions` body (JSON).
    pub fn from_body(body: &Value) -> Result<Self, StatusError> {
        let mut o = Self::default();
        if body.is_null() {
            return Ok(o);
        }
        if !body.is_object() {
            return Err(StatusError::bad_request("DeleteOptions must be an object"));
        }
        if let Some(g) = body.get("gracePeriodSeconds").filter(|v| !v.is_null()) {
            o.grace_period_seconds =
                Some(g.as_i64().ok_or_else(|| StatusError::bad_request("gracePeriodSeconds must be an integer"))?);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            o.propagation = Some(parse_propagation(p)?);
        }
        if let Some(orphan) = body.get("orphanDependents").and_then(Value::as_bool) {
            if o.propagation.is_some() {
                return Err(StatusError::invalid(
                    "",
                    "DeleteOptions",
                    "",
                    vec![kapi::status::Cause {
                        kind: "FieldValueInvalid".into(),
                        field: "propagationPolicy".into(),
                        message: "orphanDependents and deletionPropagation cannot be both set".into(),
                    }],
                ));
            }
            o.propagation = Some(if orphan { Propagation::Orphan } else { Propagation::Background });
        }
        if let Some(p) = body.get("preconditions") {
            o.precondition_uid = p.get("uid").and_then(Value::as_str).map(str::to_owned);
            o.precondition_rv = p.get("resourceVersion").and_then(Value::as_str).map(str::to_owned);
        }
        if let Some(d) = body.get("dryRun").and_then(Value::as_array) {
            o.dry_run = d.iter().any(|v| v == "All");
        }
        Ok(o)
    }
}

/// Parses a propagation policy value.
pub fn parse_propagation(p: &str) -> Result<Propagation, StatusError> {
    match p {
        "Orphan" => Ok(Propagation::Orphan),
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        other => Err(StatusError::bad_request(format!(
            "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        ))),
    }
}

/// What a delete did.
#[derive(Debug)]
pub struct DeleteOutcome {
    /// The response body (the object or a Success Status).
    pub body: Value,
    /// Whether the object is gone (200) or deletion is pending (202).
    pub finished: bool,
}

impl Api {
    /// Deletes one object.
    pub async fn delete(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, StatusError> {
        let key = self.storage().key(res, namespace, name)?;
        for _ in 0..MAX_RETRIES {
            let (current, rev) = self.storage().get(res, key.clone(), name).await?;
            let uid = meta::meta_str(&current, "uid").unwrap_or("").to_owned();
            if let Some(want) = &opts.precondition_uid {
                if *want != uid {
                    return Err(StatusError::conflict(
                        &crate::storage::gr(res),
                        name,
                        format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
                    ));
                }
            }
            if let Some(want) = &opts.precondition_rv {
                if *want != rev.to_string() {
                    return Err(StatusError::conflict(
                        &crate::storage::gr(res),
                        name,
                        format!(
                            "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"
                        ),
                    ));
                }
            }
            let mut next = current.clone();
            let grace = self.grace_period(res, &current, opts);
            let mut finalizers = meta::finalizers(&current);
            // Upstream's default is Background for everything served here.
            let propagation = opts.propagation.unwrap_or(Propagation::Background);
            let wanted = match propagation {
                Propagation::Orphan => Some("orphan"),
                Propagation::Foreground => Some("foregroundDeletion"),
                Propagation::Background => None,
            };
            let already = current.pointer("/metadata/deletionTimestamp").is_some();
            // Orphan/Foreground become finalizers for the garbage collector, for every kind.
            if let Some(f) = wanted {
                if !finalizers.iter().any(|x| x == f) {
                    finalizers.push(f.to_owned());
                }
            }
            // A namespace goes only after its content is gone: the namespace controller
            // empties `spec.finalizers` (via /finalize) and deletes again.
            let spec_finalizers =
                current.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            let immediate =
                grace == 0 && finalizers.is_empty() && !(is_namespace(res) && (!already || spec_finalizers));
            if immediate {
                if opts.dry_run {
                    return Ok(self.delete_body(res, current, true));
                }
                match self.storage().delete(res, key.clone(), name, Some(rev)).await {
                    Ok(deleted) => {
                        self.after_delete(res, &deleted);
                        return Ok(self.delete_body(res, deleted, true));
                    }
                    Err(e) if e.code() == 409 => continue,
                    Err(e) => return Err(e),
                }
            }
            // Deletion is pending: mark the object, keep it until finalizers are gone and the
            // grace period is over (the kubelet confirms pods with grace 0).
            if !already
                || grace
                    < current
                        .pointer("/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::MAX)
            {
                let when = jiff::Timestamp::now().as_second().saturating_add(grace);
                let ts =
                    jiff::Timestamp::from_second(when).map(|t| t.to_string()).unwrap_or_else(|_| meta::now_rfc3339());
                if !already {
                    meta::set(&mut next, "deletionTimestamp", Value::String(ts));
                }
                meta::set(&mut next, "deletionGracePeriodSeconds", json!(grace));
            }
            meta::set(&mut next, "finalizers", json!(finalizers));
            if is_namespace(res) {
                if let Some(m) = next.as_object_mut() {
                    m.insert("status".into(), json!({"phase": "Terminating"}));
                }
            }
            if opts.dry_run || next == current {
                return Ok(DeleteOutcome { body: next, finished: false });
            }
            match self.storage().update(res, key.clone(), &mut next, rev).await {
                Ok(_) => return Ok(DeleteOutcome { body: next, finished: false }),
                Err(e) if e.code() == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(res, name))
    }

    fn delete_body(&self, res: &ResourceInfo, deleted: Value, finished: bool) -> DeleteOutcome {
        // Upstream returns the object for pods and custom resources, a Status otherwise.
        let body = if res.kind == "Pod" || super::write::is_custom(res) {
            deleted
        } else {
            status_success(res, meta::name(&deleted), meta::meta_str(&deleted, "uid"))
        };
        DeleteOutcome { body, finished }
    }

    /// Pods bound to a node get their grace period; everything else goes at once.
    fn grace_period(&self, res: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> i64 {
        if res.kind != "Pod" || !res.group.is_empty() {
            return 0;
        }
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        let bound = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        if !bound || phase == "Succeeded" || phase == "Failed" {
            return 0;
        }
        let spec = obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        opts.grace_period_seconds.unwrap_or(spec).max(0)
    }

    /// Deletes every object in the collection that passes the filter.
    pub async fn delete_collection(
        &self,
        res: &ResourceInfo,
        q: &ListQuery,
        opts: &DeleteOptions,
    ) -> Result<Value, StatusError> {
        let listed = self.list(res, q).await?;
        let mut items = Vec::new();
        for item in listed.items {
            let obj = item.value();
            let ns = meta::meta_str(obj, "namespace").map(str::to_owned);
            let name = meta::name(obj).to_owned();
            match self.delete(res, ns.as_deref(), &name, opts).await {
                Ok(out) => {
                    if out.body.get("kind").and_then(Value::as_str) != Some("Status") {
                        items.push(out.body);
                    } else {
                        items.push(obj.clone());
                    }
                }
                Err(e) if e.code() == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({
            "kind": format!("{}List", res.kind),
            "apiVersion": res.api_version(),
            "metadata": {"resourceVersion": listed.resource_version.to_string()},
            "items": items,
        }))
    }
}

fn is_namespace(res: &ResourceInfo) -> bool {
    res.group.is_empty() && res.kind == "Namespace"
}
