//! The Swagger 2.0 document served at `/openapi/v2`.
//!
//! Parameters are written inline (upstream refers to `#/parameters/…`; kubectl's
//! `fieldValidation` check accepts both). The path keeps `name`, `namespace` and `pretty`;
//! every other parameter stays on its operation, where kubectl looks for it.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::definitions::REF_PREFIX;
use super::operations::{Model, Operation};
use super::params::Param;
use super::schema_forms::{collect_refs, to_v2};

/// `info.version` of both documents.
pub(super) const API_VERSION: &str = "v1.33.0";

/// The whole v2 document: every path, and the definitions they reach.
pub(super) fn document(model: &Model) -> Value {
    let mut paths = Map::new();
    let mut roots = BTreeSet::new();
    for (path, item) in &model.paths {
        let mut entry = Map::new();
        for op in &item.ops {
            entry.insert(op.method.as_str().into(), operation(op, &mut roots));
        }
        entry.insert("parameters".into(), Value::Array(item.params.iter().map(parameter).collect()));
        paths.insert(path.clone(), Value::Object(entry));
    }
    let definitions: Map<String, Value> =
        reachable(model, roots).into_iter().filter_map(|name| model.def(&name).map(|s| (name, to_v2(s)))).collect();
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": API_VERSION },
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}

/// `roots` and every definition they refer to, transitively.
pub(super) fn reachable(model: &Model, roots: BTreeSet<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<String> = roots.into_iter().collect();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = model.def(&name) {
            let mut refs = BTreeSet::new();
            collect_refs(schema, &mut refs);
            pending.extend(refs.into_iter().filter(|r| !seen.contains(r)));
        }
    }
    seen
}

fn reference(def: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{def}") })
}

fn parameter(p: &Param) -> Value {
    let mut out = json!({
        "description": p.description,
        "in": p.location.as_str(),
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true,
    });
    if p.required() {
        out["required"] = true.into();
    }
    out
}

fn operation(op: &Operation, roots: &mut BTreeSet<String>) -> Value {
    let mut parameters = Vec::new();
    if let Some(body) = &op.body {
        roots.insert(body.def.clone());
        let mut param = json!({ "in": "body", "name": "body", "schema": reference(&body.def) });
        if body.required {
            param["required"] = true.into();
        }
        parameters.push(param);
    }
    parameters.extend(op.params.iter().map(parameter));
    let mut responses = Map::new();
    for r in &op.responses {
        let mut response = json!({ "description": r.description });
        if let Some(def) = &r.def {
            roots.insert(def.clone());
            response["schema"] = reference(def);
        }
        responses.insert(r.code.into(), response);
    }
    json!({
        "consumes": op.consumes,
        "description": op.description,
        "operationId": op.id,
        "parameters": parameters,
        "produces": op.produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
        "x-kubernetes-action": op.action.as_str(),
        "x-kubernetes-group-version-kind": op.gvk.to_json(),
    })
}
