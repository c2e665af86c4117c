//! The version-neutral model of paths and operations, built from the served resources.
//!
//! Layout and names follow upstream's installer: for a namespaced `pods` in `v1`
//!
//! | path | operations (operationId) |
//! |---|---|
//! | `/api/v1/namespaces/{namespace}/pods` | `listCoreV1NamespacedPod`, `createCoreV1NamespacedPod`, `deleteCoreV1CollectionNamespacedPod` |
//! | `/api/v1/namespaces/{namespace}/pods/{name}` | `readCoreV1NamespacedPod`, `replace…`, `patch…`, `delete…` |
//! | `/api/v1/namespaces/{namespace}/pods/{name}/status` | `readCoreV1NamespacedPodStatus`, `replace…`, `patch…` |
//! | `/api/v1/pods` | `listCoreV1PodForAllNamespaces` |
//! | `/api/v1/watch/…` | `watchCoreV1NamespacedPod`, `watchCoreV1NamespacedPodList`, `watchCoreV1PodListForAllNamespaces` |
//!
//! Every operation carries `x-kubernetes-group-version-kind` and `x-kubernetes-action`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::definitions::{self, DELETE_OPTIONS, Gvk, PATCH, STATUS, WATCH_EVENT};
use super::params::{self, Action, Param};
use super::{CrdSchema, OpenApiError, ResourceInfo, crd};

const MEDIA: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
const STREAM: &[&str] = &["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"];
const CRD_MEDIA: &[&str] = &["application/json", "application/yaml"];
const CRD_STREAM: &[&str] = &["application/json;stream=watch"];
/// Patch content types; custom resources have no strategic merge patch, and kubectl
/// (1.29+) computes a strategic merge patch only when this list has it.
const PATCH_TYPES: &[&str] = &[
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];
const CRD_PATCH_TYPES: &[&str] =
    &["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];

/// HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Method {
    Get,
    Put,
    Post,
    Delete,
    Patch,
}

impl Method {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Patch => "patch",
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub(super) struct Body {
    pub(super) def: String,
    pub(super) required: bool,
}

/// One response.
#[derive(Debug, Clone)]
pub(super) struct Response {
    pub(super) code: &'static str,
    pub(super) description: &'static str,
    pub(super) def: Option<String>,
}

/// One operation.
#[derive(Debug, Clone)]
pub(super) struct Operation {
    pub(super) method: Method,
    pub(super) id: String,
    pub(super) description: String,
    pub(super) tag: String,
    pub(super) gvk: Gvk,
    pub(super) action: Action,
    pub(super) params: Vec<Param>,
    pub(super) body: Option<Body>,
    pub(super) consumes: Vec<&'static str>,
    pub(super) produces: Vec<&'static str>,
    pub(super) responses: Vec<Response>,
}

/// One path with its shared parameters and operations.
#[derive(Debug, Clone)]
pub(super) struct PathItem {
    /// Key of the v3 document the path belongs to (`api/v1`, `apis/apps/v1`).
    pub(super) gv_key: String,
    pub(super) params: Vec<Param>,
    pub(super) ops: Vec<Operation>,
}

/// Paths and the definitions they may refer to (internal schema form).
#[derive(Debug)]
pub(super) struct Model {
    pub(super) paths: BTreeMap<String, PathItem>,
    /// The shared built-in schemas.
    builtin: &'static BTreeMap<String, Value>,
    /// Schemas of this build (custom kinds, lists, per-build GVK lists); they win over
    /// `builtin`, which is never copied.
    overlay: BTreeMap<String, Value>,
}

/// What a resource (or subresource) operates on.
struct Target<'a> {
    res: &'a ResourceInfo,
    /// `Status`, `Scale`, or empty for the resource itself.
    sub_title: String,
    gvk: Gvk,
    def: String,
    custom: bool,
}

impl Model {
    /// Builds the model for `resources`.
    pub(super) fn build(resources: &[ResourceInfo], crds: &[CrdSchema]) -> Result<Self, OpenApiError> {
        let builtin = definitions::builtin();
        let mut defs: BTreeMap<String, Value> = BTreeMap::new();
        let mut paths: BTreeMap<String, PathItem> = BTreeMap::new();
        let mut group_versions: BTreeSet<(String, String)> = BTreeSet::new();
        group_versions.insert((String::new(), "v1".to_owned()));

        for res in resources {
            validate(res)?;
            let gvk = Gvk::new(&res.group, &res.version, &res.kind);
            group_versions.insert((res.group.clone(), res.version.clone()));
            let (def, custom) = match builtin.kinds.get(&gvk) {
                Some(def) => (def.clone(), false),
                None => {
                    let name = crd::definition_name(&gvk);
                    let schema = match crds.iter().find(|c| Gvk::new(&c.group, &c.version, &c.kind) == gvk) {
                        Some(c) => crd::definition(&gvk, &c.schema)
                            .ok_or_else(|| OpenApiError::InvalidCrdSchema { gvk: gvk.to_string() })?,
                        None => crd::open_definition(&gvk),
                    };
                    defs.insert(name.clone(), schema);
                    (name, true)
                }
            };
            let list_kind = format!("{}List", res.kind);
            let list_def = format!("{def}List");
            let list_gvk = Gvk::new(&res.group, &res.version, &list_kind);
            if !builtin.defs.contains_key(&list_def) {
                defs.entry(list_def.clone()).or_insert_with(|| definitions::list_schema(&res.kind, &def, &list_gvk));
            }

            let target = Target { res, sub_title: String::new(), gvk, def, custom };
            add_resource(&mut paths, &target, &list_def);
            for sub in &res.subresources {
                if let Some(sub_target) = subresource(&target, sub, &builtin.kinds) {
                    add_subresource(&mut paths, &sub_target, sub);
                }
            }
        }

        // Options and watch events are registered in every group-version.
        for (def, kind) in [(DELETE_OPTIONS, "DeleteOptions"), (WATCH_EVENT, "WatchEvent")] {
            if let Some(Value::Object(mut schema)) = builtin.defs.get(def).cloned() {
                for (group, version) in &group_versions {
                    definitions::add_gvk(&mut schema, &Gvk::new(group, version, kind));
                }
                defs.insert(def.to_owned(), Value::Object(schema));
            }
        }
        Ok(Self { paths, builtin: &builtin.defs, overlay: defs })
    }

    /// The schema of a definition (internal form).
    pub(super) fn def(&self, name: &str) -> Option<&Value> {
        self.overlay.get(name).or_else(|| self.builtin.get(name))
    }
}

fn validate(res: &ResourceInfo) -> Result<(), OpenApiError> {
    let reason = if res.version.is_empty() {
        Some("empty version")
    } else if res.kind.is_empty() {
        Some("empty kind")
    } else if res.plural.is_empty() {
        Some("empty plural")
    } else if [&res.group, &res.version, &res.plural].iter().any(|s| s.contains(['/', '{', '}', '?', '#', ' '])) {
        Some("group, version and plural must be single path segments")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(OpenApiError::InvalidResource {
            resource: format!("{}/{}/{}", res.group, res.version, res.plural),
            reason,
        }),
        None => Ok(()),
    }
}

/// The target of a known subresource, `None` for connect-style ones (`log`, `exec`, …).
fn subresource<'a>(main: &Target<'a>, sub: &str, kinds: &BTreeMap<Gvk, String>) -> Option<Target<'a>> {
    let same = |title: &str| Target {
        res: main.res,
        sub_title: title.to_owned(),
        gvk: main.gvk.clone(),
        def: main.def.clone(),
        custom: main.custom,
    };
    let other = |title: &str, gvk: Gvk| {
        kinds.get(&gvk).map(|def| Target {
            res: main.res,
            sub_title: title.to_owned(),
            def: def.clone(),
            gvk,
            custom: main.custom,
        })
    };
    match sub {
        "status" => Some(same("Status")),
        "ephemeralcontainers" => Some(same("Ephemeralcontainers")),
        "resize" => Some(same("Resize")),
        "approval" => Some(same("Approval")),
        "scale" => other("Scale", Gvk::new("autoscaling", "v1", "Scale")),
        "binding" => other("Binding", Gvk::new("", "v1", "Binding")),
        "eviction" => other("Eviction", Gvk::new("policy", "v1", "Eviction")),
        "token" => other("Token", Gvk::new("authentication.k8s.io", "v1", "TokenRequest")),
        _ => None,
    }
}

/// kube-openapi's `ToValidOperationID`: drops punctuation, upper-casing the letter after it.
fn operation_id_part(s: &str, capitalize_first: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut capitalize = capitalize_first;
    for (i, c) in s.char_indices() {
        if c.is_alphabetic() || c == '_' || (i != 0 && c.is_numeric()) {
            if capitalize {
                out.extend(c.to_uppercase());
                capitalize = false;
            } else {
                out.push(c);
            }
        } else {
            capitalize = true;
        }
    }
    out
}

fn group_version_parts(res: &ResourceInfo) -> (String, String) {
    let group = if res.group.is_empty() { "core" } else { res.group.trim_end_matches(".k8s.io") };
    (
        format!("{}{}", operation_id_part(group, true), operation_id_part(&res.version, true)),
        format!("{}_{}", operation_id_part(group, false), operation_id_part(&res.version, false)),
    )
}

fn prefix(res: &ResourceInfo) -> (String, String) {
    if res.group.is_empty() {
        (format!("/api/{}", res.version), format!("api/{}", res.version))
    } else {
        (format!("/apis/{}/{}", res.group, res.version), format!("apis/{}/{}", res.group, res.version))
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['A', 'E', 'I', 'O', 'U']) { "an" } else { "a" }
}

struct OpSpec<'t, 'a> {
    target: &'t Target<'a>,
    method: Method,
    action: Action,
    /// Verb part of the operation name (`read`, `list`, `deletecollection`, …).
    verb: &'static str,
    /// Whether the name says `Namespaced` (namespaced resource, not across namespaces).
    namespaced: bool,
    /// `ForAllNamespaces` or empty.
    suffix: &'static str,
    /// `List` for watch-list operations, else empty.
    list_word: &'static str,
}

fn operation(spec: OpSpec<'_, '_>, list_def: Option<&str>) -> Operation {
    let t = spec.target;
    let kind = &t.res.kind;
    let (gv, tag) = group_version_parts(t.res);
    // Upstream splits the operation name at its shortest verb prefix: `deletecollection…`
    // becomes `delete` + `Collection…`.
    let (verb, rest) = match spec.verb {
        "deletecollection" => ("delete", "collection"),
        verb => (verb, ""),
    };
    let name_rest = format!(
        "{rest}{}{kind}{}{}{}",
        if spec.namespaced { "Namespaced" } else { "" },
        t.sub_title,
        spec.list_word,
        spec.suffix
    );
    let id = format!("{verb}{gv}{}", operation_id_part(&name_rest, true));
    let sub = t.sub_title.to_lowercase();
    let of = |what: &str| {
        if sub.is_empty() {
            format!("{what} the specified {kind}")
        } else {
            format!("{what} {sub} of the specified {kind}")
        }
    };
    let description = match spec.action {
        Action::Get => of("read"),
        Action::Put => of("replace"),
        Action::Patch => of("partially update"),
        Action::List => format!("list or watch objects of kind {kind}"),
        Action::Post if sub.is_empty() => format!("create {} {kind}", article(kind)),
        Action::Post => format!("create {sub} of {} {kind}", article(kind)),
        Action::Delete => format!("delete {} {kind}", article(kind)),
        Action::DeleteCollection => format!("delete collection of {kind}"),
        Action::Watch => format!(
            "watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list \
             operation instead, filtered to a single item with the 'fieldSelector' parameter."
        ),
        Action::WatchList => {
            format!(
                "watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."
            )
        }
    };
    let (media, stream, patch_types) =
        if t.custom { (CRD_MEDIA, CRD_STREAM, CRD_PATCH_TYPES) } else { (MEDIA, STREAM, PATCH_TYPES) };
    let all_media = || media.iter().chain(stream).copied().collect::<Vec<_>>();
    let ok = |def: &str| Response { code: "200", description: "OK", def: Some(def.to_owned()) };
    let created = |def: &str| Response { code: "201", description: "Created", def: Some(def.to_owned()) };
    let accepted = |def: &str| Response { code: "202", description: "Accepted", def: Some(def.to_owned()) };
    let obj = t.def.as_str();
    let (body, consumes, produces, mut responses) = match spec.action {
        Action::Get => (None, vec!["*/*"], media.to_vec(), vec![ok(obj)]),
        Action::List => (None, vec!["*/*"], all_media(), vec![ok(list_def.unwrap_or(obj))]),
        Action::Watch | Action::WatchList => (None, vec!["*/*"], all_media(), vec![ok(WATCH_EVENT)]),
        Action::Post => {
            (Some(body(obj, true)), vec!["*/*"], media.to_vec(), vec![ok(obj), created(obj), accepted(obj)])
        }
        Action::Put => (Some(body(obj, true)), vec!["*/*"], media.to_vec(), vec![ok(obj), created(obj)]),
        Action::Patch => (Some(body(PATCH, true)), patch_types.to_vec(), media.to_vec(), vec![ok(obj), created(obj)]),
        Action::Delete => {
            (Some(body(DELETE_OPTIONS, false)), vec!["*/*"], media.to_vec(), vec![ok(STATUS), accepted(STATUS)])
        }
        Action::DeleteCollection => (Some(body(DELETE_OPTIONS, false)), vec!["*/*"], media.to_vec(), vec![ok(STATUS)]),
    };
    responses.push(Response { code: "401", description: "Unauthorized", def: None });
    Operation {
        method: spec.method,
        id,
        description,
        tag,
        gvk: t.gvk.clone(),
        action: spec.action,
        params: spec.action.query_params(),
        body,
        consumes,
        produces,
        responses,
    }
}

fn body(def: &str, required: bool) -> Body {
    Body { def: def.to_owned(), required }
}

fn insert(paths: &mut BTreeMap<String, PathItem>, path: String, gv_key: &str, params: Vec<Param>, op: Operation) {
    let item = paths.entry(path).or_insert_with(|| PathItem { gv_key: gv_key.to_owned(), params, ops: Vec::new() });
    item.ops.retain(|o| o.method != op.method);
    item.ops.push(op);
    item.ops.sort_by_key(|o| o.method);
}

fn has(res: &ResourceInfo, verb: &str) -> bool {
    res.verbs.iter().any(|v| v == verb)
}

fn add_resource(paths: &mut BTreeMap<String, PathItem>, t: &Target<'_>, list_def: &str) {
    let res = t.res;
    let (prefix, gv_key) = prefix(res);
    let ns = res.namespaced;
    let scope = if ns { format!("/namespaces/{{namespace}}/{}", res.plural) } else { format!("/{}", res.plural) };
    let collection = format!("{prefix}{scope}");
    let item = format!("{collection}/{{name}}");
    let scope_params = |named: bool| {
        let mut p = Vec::new();
        if named {
            p.push(params::name(&res.kind));
        }
        if ns {
            p.push(params::namespace());
        }
        p.push(params::pretty());
        p
    };
    let spec =
        |method, action, verb| OpSpec { target: t, method, action, verb, namespaced: ns, suffix: "", list_word: "" };
    let mut add =
        |path: &String, named: bool, op: Operation| insert(paths, path.clone(), &gv_key, scope_params(named), op);

    if has(res, "list") {
        add(&collection, false, operation(spec(Method::Get, Action::List, "list"), Some(list_def)));
    }
    if has(res, "create") {
        add(&collection, false, operation(spec(Method::Post, Action::Post, "create"), None));
    }
    if has(res, "deletecollection") {
        add(&collection, false, operation(spec(Method::Delete, Action::DeleteCollection, "deletecollection"), None));
    }
    if has(res, "get") {
        add(&item, true, operation(spec(Method::Get, Action::Get, "read"), None));
    }
    if has(res, "update") {
        add(&item, true, operation(spec(Method::Put, Action::Put, "replace"), None));
    }
    if has(res, "patch") {
        add(&item, true, operation(spec(Method::Patch, Action::Patch, "patch"), None));
    }
    if has(res, "delete") {
        add(&item, true, operation(spec(Method::Delete, Action::Delete, "delete"), None));
    }
    if ns && has(res, "list") {
        let all = OpSpec { namespaced: false, suffix: "ForAllNamespaces", ..spec(Method::Get, Action::List, "list") };
        insert(
            paths,
            format!("{prefix}/{}", res.plural),
            &gv_key,
            vec![params::pretty()],
            operation(all, Some(list_def)),
        );
    }
    if has(res, "watch") {
        let watch_collection = format!("{prefix}/watch{scope}");
        let named = OpSpec { ..spec(Method::Get, Action::Watch, "watch") };
        insert(paths, format!("{watch_collection}/{{name}}"), &gv_key, scope_params(true), operation(named, None));
        let list = OpSpec { list_word: "List", ..spec(Method::Get, Action::WatchList, "watch") };
        insert(paths, watch_collection, &gv_key, scope_params(false), operation(list, None));
        if ns {
            let all = OpSpec {
                namespaced: false,
                suffix: "ForAllNamespaces",
                list_word: "List",
                ..spec(Method::Get, Action::WatchList, "watch")
            };
            insert(
                paths,
                format!("{prefix}/watch/{}", res.plural),
                &gv_key,
                vec![params::pretty()],
                operation(all, None),
            );
        }
    }
}

fn add_subresource(paths: &mut BTreeMap<String, PathItem>, t: &Target<'_>, sub: &str) {
    let res = t.res;
    let (prefix, gv_key) = prefix(res);
    let ns = res.namespaced;
    let scope = if ns { format!("/namespaces/{{namespace}}/{}", res.plural) } else { format!("/{}", res.plural) };
    let path = format!("{prefix}{scope}/{{name}}/{sub}");
    let mut scope_params = vec![params::name(&t.res.kind)];
    if ns {
        scope_params.push(params::namespace());
    }
    scope_params.push(params::pretty());
    let spec =
        |method, action, verb| OpSpec { target: t, method, action, verb, namespaced: ns, suffix: "", list_word: "" };
    let ops: Vec<(Method, Action, &'static str, &str)> = match sub {
        "binding" | "eviction" | "token" => vec![(Method::Post, Action::Post, "create", "create")],
        _ => vec![
            (Method::Get, Action::Get, "read", "get"),
            (Method::Put, Action::Put, "replace", "update"),
            (Method::Patch, Action::Patch, "patch", "patch"),
        ],
    };
    for (method, action, verb, needs) in ops {
        // Subresources that only create are allowed whenever the resource exists.
        if needs == "create" || has(res, needs) {
            insert(paths, path.clone(), &gv_key, scope_params.clone(), operation(spec(method, action, verb), None));
        }
    }
}
