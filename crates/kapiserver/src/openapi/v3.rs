//! The OpenAPI 3.0 documents served under `/openapi/v3`: one per group-version, holding that
//! group-version's paths and exactly the component schemas they reach, plus the root that
//! lists them with their hashes.
//!
//! kubectl (client-go `openapi3.Root`) maps a GroupVersion to `api/<v>` or
//! `apis/<g>/<v>`, looks it up in the root's `paths`, fetches `serverRelativeURL` with
//! `Accept: application/json` and decodes it into kube-openapi's `spec3.OpenAPI`.
//! Operation parameters are inline (kubectl compares `parameters[].name` directly).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::operations::{Model, Operation};
use super::params::Param;
use super::schema_forms::{V3_REF_PREFIX, v3_definition};
use super::v2::{API_VERSION, reachable};

/// One JSON document per group-version key (`api/v1`, `apis/apps/v1`).
pub(super) fn documents(model: &Model) -> BTreeMap<String, Value> {
    let mut by_gv: BTreeMap<&str, Vec<(&String, &super::operations::PathItem)>> = BTreeMap::new();
    for (path, item) in &model.paths {
        by_gv.entry(item.gv_key.as_str()).or_default().push((path, item));
    }
    by_gv
        .into_iter()
        .map(|(key, items)| {
            let mut roots = BTreeSet::new();
            let mut paths = Map::new();
            for (path, item) in items {
                let mut entry = Map::new();
                for op in &item.ops {
                    entry.insert(op.method.as_str().into(), operation(op, &mut roots));
                }
                entry.insert("parameters".into(), Value::Array(item.params.iter().map(parameter).collect()));
                paths.insert(path.clone(), Value::Object(entry));
            }
            let schemas: Map<String, Value> = reachable(model, roots)
                .into_iter()
                .filter_map(|name| model.def(&name).map(|s| (name.clone(), v3_definition(&name, s))))
                .collect();
            let doc = json!({
                "openapi": "3.0.0",
                "info": { "title": "Kubernetes", "version": API_VERSION },
                "paths": paths,
                "components": {
                    "schemas": schemas,
                    "securitySchemes": {
                        "BearerToken": {
                            "description": "Bearer Token authentication",
                            "in": "header",
                            "name": "authorization",
                            "type": "apiKey",
                        },
                    },
                },
                "security": [{ "BearerToken": [] }],
            });
            (key.to_owned(), doc)
        })
        .collect()
}

/// The `/openapi/v3` root for `(key, serverRelativeURL)` pairs.
pub(super) fn root<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let paths: Map<String, Value> =
        entries.map(|(key, url)| (key.to_owned(), json!({ "serverRelativeURL": url }))).collect();
    json!({ "paths": paths })
}

fn reference(def: &str) -> Value {
    json!({ "$ref": format!("{V3_REF_PREFIX}{def}") })
}

fn parameter(p: &Param) -> Value {
    let mut out = json!({
        "description": p.description,
        "in": p.location.as_str(),
        "name": p.name,
        "schema": { "type": p.ty, "uniqueItems": true },
    });
    if p.required() {
        out["required"] = true.into();
    }
    out
}

fn operation(op: &Operation, roots: &mut BTreeSet<String>) -> Value {
    let mut out = json!({
        "description": op.description,
        "operationId": op.id,
        "parameters": op.params.iter().map(parameter).collect::<Vec<_>>(),
        "tags": [op.tag],
        "x-kubernetes-action": op.action.as_str(),
        "x-kubernetes-group-version-kind": op.gvk.to_json(),
    });
    if let Some(body) = &op.body {
        roots.insert(body.def.clone());
        let content: Map<String, Value> =
            op.consumes.iter().map(|ct| ((*ct).to_owned(), json!({ "schema": reference(&body.def) }))).collect();
        out["requestBody"] = json!({ "content": content });
        if body.required {
            out["requestBody"]["required"] = true.into();
        }
    }
    let mut responses = Map::new();
    for r in &op.responses {
        let mut response = json!({ "description": r.description });
        if let Some(def) = &r.def {
            roots.insert(def.clone());
            let content: Map<String, Value> =
                op.produces.iter().map(|ct| ((*ct).to_owned(), json!({ "schema": reference(def) }))).collect();
            response["content"] = Value::Object(content);
        }
        responses.insert(r.code.into(), response);
    }
    out["responses"] = Value::Object(responses);
    out
}
