//! Handlers for resource paths: verbs from the method and query, then the REST layer.

use std::collections::HashMap;

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use kapi::StatusError;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::body;
use super::respond::{self, Body, Want};
use super::route::ResourcePath;
use super::table;
use super::watch::{self, WatchParams};
use crate::filter::Filter;
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::rest::{
    Api, DeleteOptions, FieldValidation, ListQuery, ListResult, ResourceVersionMatch, ScaleChange, WriteOptions,
    WriteOutcome,
};
use crate::storage::gr;

/// Query parameters.
pub(super) type Query = HashMap<String, String>;

/// The request parts a resource handler needs.
#[derive(Debug)]
pub(super) struct Call<'a> {
    /// Method.
    pub method: &'a Method,
    /// Query parameters.
    pub query: &'a Query,
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// Body.
    pub body: Bytes,
}

/// How responses render: the representation asked for, and a custom resource's printer
/// columns for Tables.
#[derive(Debug)]
pub(super) struct View {
    pub(super) want: Want,
    crd: Option<std::sync::Arc<crate::crd::CrdVersion>>,
}

impl View {
    pub(super) fn new(api: &Api, res: &ResourceInfo, want: Want) -> Self {
        Self { want, crd: api.registry().crd_versions().get(&res.group, &res.version, &res.plural) }
    }

    pub(super) fn printer(&self) -> Option<&crate::crd::schema::PrinterColumns> {
        self.crd.as_ref().map(|c| &c.printer)
    }
}

fn q<'a>(query: &'a Query, k: &str) -> Option<&'a str> {
    query.get(k).map(String::as_str)
}

fn flag(query: &Query, k: &str) -> Result<Option<bool>, StatusError> {
    match q(query, k) {
        None | Some("") => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(StatusError::bad_request(format!("invalid value for {k}: {other}"))),
    }
}

fn write_options(query: &Query, user_agent: Option<&str>) -> Result<WriteOptions, StatusError> {
    let dry_run = match q(query, "dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => return Err(StatusError::bad_request(format!("Invalid dryRun value: {other}. Supported: All"))),
    };
    Ok(WriteOptions {
        dry_run,
        field_manager: q(query, "fieldManager").map(str::to_owned),
        field_validation: FieldValidation::parse(q(query, "fieldValidation").unwrap_or(""))?,
        force: flag(query, "force")?.unwrap_or(false),
        user_agent: user_agent.map(str::to_owned),
    })
}

fn list_query(res: &ResourceInfo, path: &ResourcePath, query: &Query) -> Result<ListQuery, StatusError> {
    let filter = Filter::parse(res, path.namespace.clone(), q(query, "labelSelector"), q(query, "fieldSelector"))?;
    let limit = match q(query, "limit") {
        None | Some("") => 0,
        Some(l) => l.parse::<i64>().map_err(|_| StatusError::bad_request(format!("invalid limit: {l}")))?.max(0),
    };
    if let Some(t) = q(query, "timeoutSeconds").filter(|t| !t.is_empty()) {
        t.parse::<i64>().map_err(|_| StatusError::bad_request(format!("invalid timeoutSeconds: {t}")))?;
    }
    let resource_version_match = match q(query, "resourceVersionMatch") {
        None | Some("") => None,
        Some("NotOlderThan") => Some(ResourceVersionMatch::NotOlderThan),
        Some("Exact") => Some(ResourceVersionMatch::Exact),
        Some(other) => return Err(StatusError::bad_request(format!("invalid resourceVersionMatch: {other}"))),
    };
    Ok(ListQuery {
        filter,
        limit,
        continue_token: q(query, "continue").map(str::to_owned),
        resource_version: q(query, "resourceVersion").unwrap_or("").to_owned(),
        resource_version_match,
    })
}

fn list_response(res: &ResourceInfo, out: ListResult, view: &View) -> Result<Response<Body>, StatusError> {
    let want = view.want;
    let mut meta = json!({"resourceVersion": out.resource_version.to_string()});
    if let Some(c) = &out.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = out.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    match want {
        Want::Table { include_object } => {
            let objects: Vec<Value> = out.items.iter().map(|i| i.value().clone()).collect();
            Ok(respond::json(
                StatusCode::OK,
                &table::table(res, &objects, include_object, true, Some(meta), view.printer()),
            ))
        }
        Want::Metadata => {
            let items: Vec<Value> = out.items.iter().map(|i| table::partial_metadata(i.value())).collect();
            let v = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items});
            Ok(respond::json(StatusCode::OK, &v))
        }
        Want::Object => {
            // Items are spliced in pre-serialised: a list from the cache costs no per-item
            // encoding.
            let head = json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": meta});
            let head = serde_json::to_vec(&head).map_err(StatusError::internal)?;
            let mut buf = Vec::with_capacity(head.len() + out.items.len() * 512);
            buf.extend_from_slice(&head[..head.len() - 1]);
            buf.extend_from_slice(b",\"items\":[");
            for (i, item) in out.items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(&item.to_json()?);
            }
            buf.extend_from_slice(b"]}");
            Ok(respond::json_bytes(StatusCode::OK, buf))
        }
    }
}

fn object_response(code: StatusCode, res: &ResourceInfo, obj: &Value, view: &View) -> Response<Body> {
    let want = view.want;
    match want {
        Want::Table { include_object } => respond::json(
            code,
            &table::table(res, std::slice::from_ref(obj), include_object, true, None, view.printer()),
        ),
        Want::Metadata => respond::json(code, &table::partial_metadata(obj)),
        Want::Object => respond::json(code, obj),
    }
}

fn written(out: WriteOutcome, res: &ResourceInfo, view: &View) -> Response<Body> {
    let code = if out.created { StatusCode::CREATED } else { StatusCode::OK };
    respond::with_warnings(object_response(code, res, &out.object, view), &out.warnings)
}

/// Serves one resource request.
pub(super) async fn handle(
    api: &Api,
    path: &ResourcePath,
    call: Call<'_>,
    cancel: CancellationToken,
) -> Result<Response<Body>, StatusError> {
    let res = api.resource(&path.group, &path.version, &path.resource)?;
    if res.namespaced && path.name.is_some() && path.namespace.is_none() && !res.allows("create") {
        return Err(StatusError::new(kapi::Reason::NotFound, "the server could not find the requested resource"));
    }
    if !res.namespaced && path.namespace.is_some() {
        return Err(StatusError::new(kapi::Reason::NotFound, "the server could not find the requested resource"));
    }
    let want = respond::negotiate(call.accept, q(call.query, "includeObject"));
    let view = View::new(api, &res, want);
    let ns = path.namespace.as_deref();
    let query = call.query;
    if let Some(sub) = path.subresource.as_deref() {
        let name = path.name.as_deref().unwrap_or("");
        return subresource(api, &res, ns, name, sub, call).await;
    }
    let verb_not_allowed = |verb: &str| StatusError::method_not_allowed(&gr(&res), verb);
    match (call.method.clone(), path.name.as_deref()) {
        (Method::GET, None) => {
            if flag(query, "watch")?.unwrap_or(false) {
                if !res.allows("watch") {
                    return Err(verb_not_allowed("watch"));
                }
                let lq = list_query(&res, path, query)?;
                let rv = crate::rest::parse_rv(&lq.resource_version)?;
                let send_initial_events = flag(query, "sendInitialEvents")?;
                let bookmarks = flag(query, "allowWatchBookmarks")?.unwrap_or(false);
                if send_initial_events.is_some()
                    && (lq.resource_version_match != Some(ResourceVersionMatch::NotOlderThan) || !bookmarks)
                {
                    return Err(StatusError::invalid("", "ListOptions", "", vec![kapi::status::Cause {
                        kind: "FieldValueForbidden".into(),
                        field: "sendInitialEvents".into(),
                        message: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks".into(),
                    }]));
                }
                let params = WatchParams {
                    filter: lq.filter,
                    resource_version: rv,
                    bookmarks,
                    send_initial_events,
                    timeout: watch::parse_timeout(q(query, "timeoutSeconds"))?,
                    want,
                };
                return Ok(watch::watch(api, &res, params, cancel).await);
            }
            if !res.allows("list") {
                return Err(verb_not_allowed("list"));
            }
            let lq = list_query(&res, path, query)?;
            list_response(&res, api.list(&res, &lq).await?, &view)
        }
        (Method::GET, Some(name)) => Ok(object_response(StatusCode::OK, &res, &api.get(&res, ns, name).await?, &view)),
        (Method::POST, None) => {
            if !res.allows("create") {
                return Err(verb_not_allowed("create"));
            }
            let obj = body::decode(call.content_type, &call.body)?;
            if res.group.is_empty() && res.kind == "Binding" {
                let pods = api.resource("", "v1", "pods")?;
                let name = crate::meta::name(&obj).to_owned();
                let out = api.bind(&pods, ns.unwrap_or(""), &name, &obj).await?;
                return Ok(respond::json(StatusCode::CREATED, &out));
            }
            let out = api.create(&res, ns, obj, &write_options(query, call.user_agent)?).await?;
            Ok(written(out, &res, &view))
        }
        (Method::PUT, Some(name)) => {
            let obj = body::decode(call.content_type, &call.body)?;
            let out = api.update(&res, ns, name, obj, None, &write_options(query, call.user_agent)?).await?;
            Ok(written(out, &res, &view))
        }
        (Method::PATCH, Some(name)) => {
            let pt = patch_type(call.content_type)?;
            let out = api.patch(&res, ns, name, pt, &call.body, None, &write_options(query, call.user_agent)?).await?;
            Ok(written(out, &res, &view))
        }
        (Method::DELETE, Some(name)) => {
            let opts = delete_options(&call)?;
            let out = api.delete(&res, ns, name, &opts).await?;
            let code = if out.finished { StatusCode::OK } else { StatusCode::ACCEPTED };
            Ok(respond::json(code, &out.body))
        }
        (Method::DELETE, None) => {
            if !res.allows("deletecollection") {
                return Err(verb_not_allowed("deletecollection"));
            }
            let opts = delete_options(&call)?;
            let lq = list_query(&res, path, query)?;
            Ok(respond::json(StatusCode::OK, &api.delete_collection(&res, &lq, &opts).await?))
        }
        (m, _) => Err(StatusError::new(
            kapi::Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({m})"),
        )),
    }
}

fn patch_type(content_type: Option<&str>) -> Result<PatchType, StatusError> {
    let media = body::media_type(content_type);
    PatchType::from_content_type(&media).ok_or_else(|| {
        StatusError::new(
            kapi::Reason::UnsupportedMediaType,
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {media})"),
        )
    })
}

fn delete_options(call: &Call<'_>) -> Result<DeleteOptions, StatusError> {
    let mut opts = if call.body.is_empty() {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_body(&body::decode(call.content_type, &call.body)?)?
    };
    if let Some(g) = q(call.query, "gracePeriodSeconds").filter(|s| !s.is_empty()) {
        opts.grace_period_seconds =
            Some(g.parse().map_err(|_| StatusError::bad_request(format!("invalid gracePeriodSeconds: {g}")))?);
    }
    if let Some(p) = q(call.query, "propagationPolicy").filter(|s| !s.is_empty()) {
        opts.propagation = Some(crate::rest::parse_propagation(p)?);
    }
    if q(call.query, "dryRun") == Some("All") {
        opts.dry_run = true;
    }
    Ok(opts)
}

async fn subresource(
    api: &Api,
    res: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    call: Call<'_>,
) -> Result<Response<Body>, StatusError> {
    if !res.has_subresource(sub) {
        return Err(StatusError::new(kapi::Reason::NotFound, "the server could not find the requested resource"));
    }
    let view = View::new(api, res, respond::negotiate(call.accept, None));
    let opts = write_options(call.query, call.user_agent)?;
    match (sub, call.method.clone()) {
        ("status", Method::GET) => Ok(object_response(StatusCode::OK, res, &api.get(res, ns, name).await?, &view)),
        ("status", Method::PUT) => {
            let obj = body::decode(call.content_type, &call.body)?;
            Ok(written(api.update(res, ns, name, obj, Some("status"), &opts).await?, res, &view))
        }
        ("status", Method::PATCH) => {
            let pt = patch_type(call.content_type)?;
            Ok(written(api.patch(res, ns, name, pt, &call.body, Some("status"), &opts).await?, res, &view))
        }
        ("scale", Method::GET) => Ok(respond::json(StatusCode::OK, &api.get_scale(res, ns, name).await?)),
        ("scale", Method::PUT) => {
            let obj = body::decode(call.content_type, &call.body)?;
            let out = api.update_scale(res, ns, name, ScaleChange::Replace(&obj), &opts).await?;
            Ok(respond::json(StatusCode::OK, &out.object))
        }
        ("scale", Method::PATCH) => {
            let pt = patch_type(call.content_type)?;
            let out = api.update_scale(res, ns, name, ScaleChange::Patch(pt, &call.body), &opts).await?;
            Ok(respond::json(StatusCode::OK, &out.object))
        }
        ("binding", Method::POST) => {
            let obj = body::decode(call.content_type, &call.body)?;
            Ok(respond::json(StatusCode::CREATED, &api.bind(res, ns.unwrap_or(""), name, &obj).await?))
        }
        ("eviction", Method::POST) => {
            let _ = body::decode(call.content_type, &call.body)?;
            let out = api.delete(res, ns, name, &DeleteOptions::default()).await?;
            let _ = out;
            Ok(respond::json(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        ("finalize", Method::PUT) => {
            let obj = body::decode(call.content_type, &call.body)?;
            Ok(respond::json(StatusCode::OK, &api.finalize_namespace(res, name, obj).await?))
        }
        ("log", Method::GET) => super::logs::pod_log(api, res, ns.unwrap_or("default"), name, call.query).await,
        (_, m) => Err(StatusError::new(
            kapi::Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({m})"),
        )),
    }
}
