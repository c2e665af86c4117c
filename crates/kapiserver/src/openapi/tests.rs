use std::collections::BTreeSet;

use prost::Message as _;
use serde_json::{Value, json};

use super::definitions;
use super::proto::decode as pb;
use super::*;

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

fn resource(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool, subs: &[&str]) -> ResourceInfo {
    ResourceInfo {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        verbs: ALL_VERBS.iter().map(|v| (*v).to_owned()).collect(),
        subresources: subs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn resources() -> Vec<ResourceInfo> {
    vec![
        resource("", "v1", "Pod", "pods", true, &["status", "ephemeralcontainers", "binding", "eviction", "log"]),
        resource("", "v1", "Namespace", "namespaces", false, &["status", "finalize"]),
        resource("", "v1", "ConfigMap", "configmaps", true, &[]),
        resource("", "v1", "ServiceAccount", "serviceaccounts", true, &["token"]),
        resource("apps", "v1", "Deployment", "deployments", true, &["status", "scale"]),
        resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[]),
        resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["status"],
        ),
        resource("stable.example.com", "v1", "CronTab", "crontabs", true, &["status", "scale"]),
        resource("other.example.com", "v1alpha1", "Widget", "widgets", false, &[]),
    ]
}

fn crontab_schema() -> CrdSchema {
    CrdSchema {
        group: "stable.example.com".into(),
        version: "v1".into(),
        kind: "CronTab".into(),
        schema: json!({
            "type": "object",
            "description": "CronTab runs a command on a schedule.",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "cronSpec": { "type": "string", "description": "Cron expression." },
                        "image": { "type": "string", "nullable": true },
                        "replicas": { "type": "integer", "minimum": 0, "default": 1 },
                        "port": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                        "extra": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                        "raw": { "type": "array", "x-kubernetes-preserve-unknown-fields": true, "items": {"type": "string"} },
                    },
                    "required": ["cronSpec", "image"],
                },
            },
        }),
    }
}

fn build() -> OpenApi {
    OpenApi::new(&resources(), &[crontab_schema()]).expect("build")
}

fn v2_json(api: &OpenApi) -> Value {
    serde_json::from_slice(&api.v2_json()).expect("v2 json")
}

fn v3_json(api: &OpenApi, key: &str) -> Value {
    serde_json::from_slice(&api.v3_group_version(key).expect("gv document").body()).expect("v3 json")
}

fn v2_proto(api: &OpenApi) -> pb::Document {
    pb::Document::decode(api.v2_protobuf()).expect("v2 protobuf decodes")
}

/// The GVK of an operation's extension, as client-go's verifier reads it (YAML text).
fn op_gvk(ext: &[pb::NamedAny]) -> Option<Value> {
    let e = ext.iter().find(|e| e.name == "x-kubernetes-group-version-kind")?;
    serde_json::from_str(&e.value.as_ref()?.yaml).ok()
}

/// cli-runtime's `supportsQueryParam`: the first path whose PATCH has the GVK decides.
fn v2_supports(doc: &pb::Document, gvk: &Value, param: &str) -> Option<bool> {
    use pb::non_body_parameter::Oneof as NonBody;
    use pb::parameter::Oneof as Param;
    use pb::parameters_item::Oneof as Item;
    for path in &doc.paths.as_ref()?.path {
        let Some(patch) = path.value.as_ref().and_then(|v| v.patch.as_ref()) else { continue };
        if op_gvk(&patch.vendor_extension).as_ref() != Some(gvk) {
            continue;
        }
        return Some(patch.parameters.iter().any(|p| match &p.oneof {
            Some(Item::Parameter(pb::Parameter { oneof: Some(Param::NonBodyParameter(nb)) })) => {
                matches!(&nb.oneof, Some(NonBody::QueryParameterSubSchema(q)) if q.name == param)
            }
            _ => false,
        }));
    }
    None
}

#[test]
fn v2_protobuf_has_field_validation_on_deployment_patch() {
    let doc = v2_proto(&build());
    assert_eq!(doc.swagger, "2.0");
    let deployment = json!({"group": "apps", "kind": "Deployment", "version": "v1"});
    assert_eq!(v2_supports(&doc, &deployment, "fieldValidation"), Some(true));
    let scale = json!({"group": "autoscaling", "kind": "Scale", "version": "v1"});
    assert_eq!(v2_supports(&doc, &scale, "fieldValidation"), Some(true));
    let namespace = json!({"group": "", "kind": "Namespace", "version": "v1"});
    assert_eq!(v2_supports(&doc, &namespace, "fieldValidation"), Some(true));
    let crontab = json!({"group": "stable.example.com", "kind": "CronTab", "version": "v1"});
    assert_eq!(v2_supports(&doc, &crontab, "fieldValidation"), Some(true));
    assert_eq!(v2_supports(&doc, &json!({"group": "apps", "kind": "StatefulSet", "version": "v1"}), "x"), None);

    let item = doc
        .paths
        .as_ref()
        .unwrap()
        .path
        .iter()
        .find(|p| p.name == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
    let patch = item.and_then(|p| p.value.as_ref()).and_then(|v| v.patch.as_ref()).expect("deployment patch");
    assert_eq!(patch.operation_id, "patchAppsV1NamespacedDeployment");
    assert!(patch.consumes.iter().any(|c| c == "application/strategic-merge-patch+json"));
    let action = patch.vendor_extension.iter().find(|e| e.name == "x-kubernetes-action").unwrap();
    assert_eq!(action.value.as_ref().unwrap().yaml, "\"patch\"");
}

#[test]
fn v2_json_and_protobuf_agree() {
    let api = build();
    let json = v2_json(&api);
    let doc = v2_proto(&api);
    let json_paths: Vec<&String> = json["paths"].as_object().unwrap().keys().collect();
    let pb_paths: Vec<&String> = doc.paths.as_ref().unwrap().path.iter().map(|p| &p.name).collect();
    assert_eq!(json_paths, pb_paths);
    let json_defs: Vec<&String> = json["definitions"].as_object().unwrap().keys().collect();
    let pb_defs: Vec<&String> =
        doc.definitions.as_ref().unwrap().additional_properties.iter().map(|d| &d.name).collect();
    assert_eq!(json_defs, pb_defs);
}

#[test]
fn kinds_have_gvk_and_description() {
    let api = build();
    let v2 = v2_json(&api);
    for (name, gvk) in [
        ("io.k8s.api.core.v1.Pod", json!({"group": "", "kind": "Pod", "version": "v1"})),
        ("io.k8s.api.apps.v1.Deployment", json!({"group": "apps", "kind": "Deployment", "version": "v1"})),
        ("io.k8s.api.apps.v1.DeploymentList", json!({"group": "apps", "kind": "DeploymentList", "version": "v1"})),
        ("com.example.stable.v1.CronTab", json!({"group": "stable.example.com", "kind": "CronTab", "version": "v1"})),
    ] {
        let def = &v2["definitions"][name];
        assert_eq!(def["x-kubernetes-group-version-kind"], json!([gvk]), "{name}");
        assert!(def["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}");
        assert!(def.get("required").is_none_or(|r| !r.as_array().unwrap().contains(&json!("metadata"))));
    }
    let doc = v2_proto(&api);
    let pod =
        doc.definitions.as_ref().unwrap().additional_properties.iter().find(|d| d.name == "io.k8s.api.core.v1.Pod");
    let pod = pod.and_then(|d| d.value.as_ref()).expect("pod definition");
    assert!(pod.description.starts_with("Pod is a collection of containers"));
    assert_eq!(op_gvk(&pod.vendor_extension), Some(json!([{"group": "", "kind": "Pod", "version": "v1"}])));

    let apps = v3_json(&api, "apis/apps/v1");
    let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert!(deployment["description"].as_str().unwrap().starts_with("Deployment enables declarative updates"));
}

#[test]
fn v3_root_hashes_match_documents() {
    let api = build();
    let root: Value = serde_json::from_slice(&api.v3_root().body()).unwrap();
    let paths = root["paths"].as_object().unwrap();
    let keys: Vec<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(keys, api.v3_paths().collect::<Vec<_>>());
    assert!(keys.contains(&"api/v1") && keys.contains(&"apis/apps/v1") && keys.contains(&"apis/stable.example.com/v1"));
    for (key, entry) in paths {
        let url = entry["serverRelativeURL"].as_str().unwrap();
        let doc = api.v3_group_version(key).unwrap();
        let hash = etag_of(&doc.body());
        assert_eq!(hash.len(), 128);
        assert!(hash.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        assert_eq!(doc.etag(), hash);
        assert_eq!(doc.server_relative_url(), url);
    }
    assert!(api.v3_group_version("/apis/apps/v1").is_some(), "leading slash accepted");
    assert!(api.v3_group_version("apis/batch/v1").is_none());
    // Rebuilding the same input yields the same bytes, so client caches stay valid.
    assert_eq!(build().v3_root().body(), api.v3_root().body());
    assert_eq!(build().v2_etag(), api.v2_etag());
}

/// kube-openapi `pkg/util/proto` rules, which fail kubectl 1.27/1.28 on the whole document.
fn check_v2_schema(s: &pb::Schema, defs: &BTreeSet<String>, at: &str) {
    if !s.r#ref.is_empty() {
        let props = s.properties.as_ref().map_or(0, |p| p.additional_properties.len());
        assert_eq!(props, 0, "{at}: $ref with properties");
        assert!(s.r#type.as_ref().is_none_or(|t| t.value.is_empty()), "{at}: $ref with a type");
        let name = s.r#ref.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("{at}: ref {}", s.r#ref));
        assert!(defs.contains(name), "{at}: unknown model {name}");
        return;
    }
    let types = s.r#type.as_ref().map(|t| t.value.clone()).unwrap_or_default();
    assert!(types.len() <= 1, "{at}: several types");
    match types.first().map(String::as_str) {
        Some("array") => {
            let items = s.items.as_ref().map(|i| i.schema.as_slice()).unwrap_or_default();
            assert_eq!(items.len(), 1, "{at}: array needs exactly one items schema");
            check_v2_schema(&items[0], defs, &format!("{at}[]"));
        }
        Some("object") | None => {}
        Some(t) => assert!(["string", "number", "integer", "boolean"].contains(&t), "{at}: type {t}"),
    }
    for p in s.properties.iter().flat_map(|p| &p.additional_properties) {
        check_v2_schema(p.value.as_ref().unwrap(), defs, &format!("{at}.{}", p.name));
    }
    if let Some(pb::additional_properties_item::Oneof::Schema(inner)) =
        s.additional_properties.as_ref().and_then(|a| a.oneof.as_ref())
    {
        check_v2_schema(inner, defs, &format!("{at}{{}}"));
    }
}

#[test]
fn v2_definitions_satisfy_kubectl_parser() {
    let doc = v2_proto(&build());
    let defs = &doc.definitions.as_ref().unwrap().additional_properties;
    let names: BTreeSet<String> = defs.iter().map(|d| d.name.clone()).collect();
    for d in defs {
        check_v2_schema(d.value.as_ref().unwrap(), &names, &d.name);
    }
    for path in &doc.paths.as_ref().unwrap().path {
        let item = path.value.as_ref().unwrap();
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch].into_iter().flatten() {
            for r in &op.responses.as_ref().unwrap().response_code {
                if let Some(pb::response_value::Oneof::Response(resp)) = r.value.as_ref().and_then(|v| v.oneof.as_ref())
                {
                    if let Some(pb::schema_item::Oneof::Schema(s)) = resp.schema.as_ref().and_then(|s| s.oneof.as_ref())
                    {
                        check_v2_schema(s, &names, &op.operation_id);
                    }
                }
            }
        }
    }
}

fn walk_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r.to_owned());
            }
            m.values().for_each(|v| walk_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| walk_refs(v, out)),
        _ => {}
    }
}

#[test]
fn v3_refs_resolve_within_each_document() {
    let api = build();
    for key in api.v3_paths() {
        let doc = v3_json(&api, key);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        walk_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{key}: {r}"));
            assert!(schemas.contains_key(name), "{key}: dangling {name}");
        }
    }
}

#[test]
fn v3_carries_what_kubectl_reads() {
    let api = build();
    let apps = v3_json(&api, "apis/apps/v1");
    let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let names: Vec<&str> = patch["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["dryRun", "fieldManager", "fieldValidation", "force"]);
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let containers = &apps["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let strategy = &apps["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["allOf"], json!([{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]));
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    let ios = &apps["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["oneOf"], json!([{"type": "integer"}, {"type": "string"}]));
    let scale = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"];
    assert_eq!(scale["operationId"], "readAppsV1NamespacedDeploymentScale");
    assert_eq!(
        scale["x-kubernetes-group-version-kind"],
        json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
    );

    let crd = v3_json(&api, "apis/stable.example.com/v1");
    let patch = &crd["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"];
    let content = patch["requestBody"]["content"].as_object().unwrap();
    assert!(!content.contains_key("application/strategic-merge-patch+json"), "CRDs have no strategic merge patch");
    assert!(content.contains_key("application/merge-patch+json"));
    let spec = &crd["components"]["schemas"]["com.example.stable.v1.CronTab"]["properties"]["spec"];
    assert_eq!(spec["properties"]["image"]["nullable"], true, "v3 keeps the CRD schema as given");
}

#[test]
fn operation_ids_follow_upstream() {
    let v2 = v2_json(&build());
    let id =
        |path: &str, method: &str| v2["paths"][path][method]["operationId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(id("/api/v1/namespaces/{namespace}/pods", "get"), "listCoreV1NamespacedPod");
    assert_eq!(id("/api/v1/namespaces/{namespace}/pods", "delete"), "deleteCoreV1CollectionNamespacedPod");
    assert_eq!(id("/api/v1/pods", "get"), "listCoreV1PodForAllNamespaces");
    assert_eq!(id("/api/v1/watch/namespaces/{namespace}/pods", "get"), "watchCoreV1NamespacedPodList");
    assert_eq!(id("/api/v1/watch/namespaces/{namespace}/pods/{name}", "get"), "watchCoreV1NamespacedPod");
    assert_eq!(id("/api/v1/watch/pods", "get"), "watchCoreV1PodListForAllNamespaces");
    assert_eq!(id("/api/v1/namespaces/{namespace}/pods/{name}/status", "patch"), "patchCoreV1NamespacedPodStatus");
    assert_eq!(id("/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post"), "createCoreV1NamespacedPodEviction");
    assert_eq!(id("/api/v1/namespaces/{name}", "put"), "replaceCoreV1Namespace");
    assert_eq!(id("/apis/rbac.authorization.k8s.io/v1/clusterroles", "get"), "listRbacAuthorizationV1ClusterRole");
    assert_eq!(
        id("/apis/stable.example.com/v1/namespaces/{namespace}/crontabs", "post"),
        "createStableExampleComV1NamespacedCronTab"
    );
    assert_eq!(v2["paths"]["/api/v1/pods"]["get"]["tags"], json!(["core_v1"]));
    assert_eq!(v2["paths"]["/api/v1/watch/pods"]["get"]["x-kubernetes-action"], "watchlist");
    assert!(
        v2["paths"].get("/api/v1/namespaces/{namespace}/pods/{name}/log").is_none(),
        "connect subresources are not published"
    );
    let list_params: Vec<&str> = v2["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch", "watch"]
    {
        assert!(list_params.contains(&p), "{p}");
    }
    for p in ["allowWatchBookmarks", "sendInitialEvents", "timeoutSeconds"] {
        assert!(list_params.contains(&p), "{p}");
    }
    let delete_options = &v2["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"];
    let gvks = delete_options["x-kubernetes-group-version-kind"].as_array().unwrap();
    assert!(gvks.contains(&json!({"group": "apps", "kind": "DeleteOptions", "version": "v1"})));
    assert!(gvks.contains(&json!({"group": "", "kind": "DeleteOptions", "version": "v1"})));
}

#[test]
fn crd_schemas_are_converted_for_v2() {
    let v2 = v2_json(&build());
    let spec = &v2["definitions"]["com.example.stable.v1.CronTab"]["properties"]["spec"];
    assert_eq!(spec["required"], json!(["cronSpec"]), "nullable fields leave required");
    assert_eq!(spec["properties"]["image"], json!({}), "nullable loses its type");
    assert!(spec["properties"]["port"].get("anyOf").is_none(), "junctors dropped");
    assert_eq!(spec["properties"]["extra"], json!({"x-kubernetes-preserve-unknown-fields": true}));
    assert_eq!(spec["properties"]["raw"], json!({"x-kubernetes-preserve-unknown-fields": true}));
    assert_eq!(spec["properties"]["replicas"], json!({"default": 1, "minimum": 0, "type": "integer"}));
    let widget = &v2["definitions"]["com.example.other.v1alpha1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "other.example.com", "kind": "Widget", "version": "v1alpha1"}])
    );
}

#[test]
fn invalid_input_is_rejected() {
    let mut bad = resources();
    bad[0].version.clear();
    assert!(matches!(OpenApi::new(&bad, &[]), Err(OpenApiError::InvalidResource { reason: "empty version", .. })));
    let mut bad = resources();
    bad[1].plural = "a/b".into();
    assert!(matches!(OpenApi::new(&bad, &[]), Err(OpenApiError::InvalidResource { .. })));
    let crd = CrdSchema { schema: json!("not an object"), ..crontab_schema() };
    let err = OpenApi::new(&resources(), &[crd]).unwrap_err();
    assert_eq!(err, OpenApiError::InvalidCrdSchema { gvk: "stable.example.com/v1, Kind=CronTab".into() });
}

#[test]
fn negotiation_follows_kube_openapi() {
    let pb2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    assert_eq!(negotiate_v2(Some(pb2)), Some(Format::Protobuf));
    assert_eq!(
        negotiate_v2(Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")),
        Some(Format::Protobuf)
    );
    assert_eq!(negotiate_v2(Some("application/json")), Some(Format::Json));
    assert_eq!(negotiate_v2(None), Some(Format::Json));
    assert_eq!(negotiate_v2(Some("*/*")), Some(Format::Json));
    assert_eq!(negotiate_v2(Some(&format!("application/json;q=0.5, {pb2}"))), Some(Format::Protobuf));
    assert_eq!(negotiate_v2(Some("text/html")), None);
    assert_eq!(negotiate_v2(Some(&format!("*/*, {pb2}"))), Some(Format::Protobuf), "concrete types before wildcards");
    assert_eq!(negotiate_v2(Some(&format!("{pb2};q=0, application/json"))), Some(Format::Json));
    assert_eq!(negotiate_v3(Some("application/json, */*")), Some(Format::Json));
    assert_eq!(negotiate_v3(Some("application/com.github.proto-openapi.spec.v3@v1.0+protobuf")), None);
    assert_eq!(Format::Protobuf.content_type(), "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
}

#[test]
fn v2_form_rules() {
    use super::schema_forms::to_v2;
    assert_eq!(to_v2(&json!({"type": ["string", "null"]})), json!({"type": "string"}));
    assert_eq!(to_v2(&json!({"type": ["string", "integer"]})), json!({}));
    assert_eq!(to_v2(&json!({"type": "array"})), json!({}));
    assert_eq!(
        to_v2(&json!({"type": "array", "items": [{"type": "string"}]})),
        json!({"type": "array", "items": {"type": "string"}})
    );
    assert_eq!(
        to_v2(&json!({"$ref": "#/definitions/X", "type": "object", "description": "d"})),
        json!({"$ref": "#/definitions/X", "description": "d"})
    );
    assert_eq!(
        to_v2(
            &json!({"type": "object", "additionalProperties": {"type": "string", "nullable": true}, "required": ["a"]})
        ),
        json!({"type": "object", "additionalProperties": {}})
    );
    assert_eq!(to_v2(&json!({"oneOf": [{"type": "string"}], "not": {}, "$schema": "x"})), json!({}));
    assert_eq!(to_v2(&json!(true)), json!({}));
}

/// Every built-in kind served at once: the complete definition set must satisfy kubectl's
/// v2 parser and every v3 reference must resolve.
#[test]
fn all_builtin_kinds_publish_cleanly() {
    let all: Vec<ResourceInfo> = definitions::builtin()
        .kinds
        .keys()
        .map(|gvk| {
            resource(&gvk.group, &gvk.version, &gvk.kind, &format!("{}s", gvk.kind.to_lowercase()), true, &["status"])
        })
        .collect();
    assert!(all.len() > 90, "{}", all.len());
    let api = OpenApi::new(&all, &[]).expect("build");
    let doc = v2_proto(&api);
    let defs = &doc.definitions.as_ref().unwrap().additional_properties;
    let names: BTreeSet<String> = defs.iter().map(|d| d.name.clone()).collect();
    assert!(names.len() > 500, "{}", names.len());
    for d in defs {
        check_v2_schema(d.value.as_ref().unwrap(), &names, &d.name);
    }
    for key in api.v3_paths() {
        let doc = v3_json(&api, key);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        walk_refs(&doc, &mut refs);
        for r in refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "{key}: dangling {name}");
        }
    }
}
