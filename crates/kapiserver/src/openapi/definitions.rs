//! Schemas of the built-in kinds, from k8s-openapi's `schemars` implementations.
//!
//! The schemas are kept in one internal form: OpenAPI v2 style, `$ref`s pointing at
//! `#/definitions/<name>`, a `$ref` possibly next to a `description` or an extension.
//! [`super::schema_forms`] turns that into what each document version needs.
//!
//! k8s-openapi's schemas carry descriptions but none of the Kubernetes extensions that
//! clients rely on, so this module adds them: `x-kubernetes-group-version-kind` on every
//! kind (from the `Resource` trait), and the merge and list markers of the Go types
//! (`x-kubernetes-patch-strategy`, `-patch-merge-key`, `-list-type`, `-list-map-keys`,
//! `-map-type`) from [`super::markers`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::markers;

/// Where `$ref`s of the internal form point.
pub(super) const REF_PREFIX: &str = "#/definitions/";

/// Definition names of the schemas every document refers to.
pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
pub(super) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// Schemas whose k8s-openapi form is a `oneOf` or a typed object where upstream publishes
/// only a description (any JSON value is allowed there).
const UNTYPED: &[&str] = &[
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
];

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Gvk {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) kind: String,
}

impl Gvk {
    pub(super) fn new(group: &str, version: &str, kind: &str) -> Self {
        Self { group: group.to_owned(), version: version.to_owned(), kind: kind.to_owned() }
    }

    /// The `x-kubernetes-group-version-kind` value of one operation.
    pub(super) fn to_json(&self) -> Value {
        json!({ "group": self.group, "kind": self.kind, "version": self.version })
    }
}

impl std::fmt::Display for Gvk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}, Kind={}", self.version, self.kind)
        } else {
            write!(f, "{}/{}, Kind={}", self.group, self.version, self.kind)
        }
    }
}

/// The built-in schemas and which definition holds each kind.
#[derive(Debug)]
pub(super) struct Builtin {
    pub(super) defs: BTreeMap<String, Value>,
    pub(super) kinds: BTreeMap<Gvk, String>,
}

/// Collects schemas through schemars; the generated registration table calls
/// [`Registry::resource`] for every kind.
pub(super) struct Registry {
    generator: SchemaGenerator,
    kinds: BTreeMap<Gvk, String>,
}

impl Registry {
    /// Adds `T`'s schema (and the schemas it refers to) and records its kind.
    pub(super) fn resource<T: JsonSchema + k8s_openapi::Resource>(&mut self) {
        self.generator.subschema_for::<T>();
        self.kinds.insert(Gvk::new(T::GROUP, T::VERSION, T::KIND), T::schema_name().into_owned());
    }
}

/// The built-in schemas, generated on first use and shared afterwards (they depend on
/// nothing but the k8s-openapi version).
pub(super) fn builtin() -> &'static Builtin {
    static BUILTIN: OnceLock<Builtin> = OnceLock::new();
    BUILTIN.get_or_init(generate)
}

fn generate() -> Builtin {
    let settings = SchemaSettings::draft07().with(|s| {
        s.definitions_path = "/definitions".into();
        s.meta_schema = None;
    });
    let mut registry = Registry { generator: settings.into_generator(), kinds: BTreeMap::new() };
    super::builtin_kinds::register(&mut registry);
    // Bodies and responses of every group-version; not kinds with a single GVK of their own.
    registry.generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
    registry.generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Patch>();
    registry
        .generator
        .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent<k8s_openapi::api::core::v1::Pod>>();

    let Registry { mut generator, kinds } = registry;
    let mut defs: BTreeMap<String, Value> = generator.take_definitions(false).into_iter().collect();

    for (gvk, name) in &kinds {
        if let Some(Value::Object(schema)) = defs.get_mut(name) {
            add_gvk(schema, gvk);
        }
    }
    for schema in defs.values_mut() {
        if let Value::Object(schema) = schema {
            drop_required_metadata(schema);
        }
    }
    for name in UNTYPED {
        if let Some(Value::Object(schema)) = defs.get_mut(*name) {
            schema.retain(|key, _| key == "description");
        }
    }
    // Upstream's v2 forms; the v3 forms are substituted in `schema_forms`.
    if let Some(Value::Object(schema)) = defs.get_mut(INT_OR_STRING) {
        schema.retain(|key, _| key == "description");
        schema.insert("type".into(), "string".into());
        schema.insert("format".into(), "int-or-string".into());
    }
    if let Some(Value::Object(schema)) = defs.get_mut(QUANTITY) {
        schema.retain(|key, _| key == "description");
        schema.insert("type".into(), "string".into());
    }
    markers::apply(&mut defs);
    Builtin { defs, kinds }
}

/// Appends `gvk` to the schema's `x-kubernetes-group-version-kind` list (kept sorted by
/// group, version, kind, as upstream sorts it).
pub(super) fn add_gvk(schema: &mut Map<String, Value>, gvk: &Gvk) {
    let entry = schema.entry("x-kubernetes-group-version-kind").or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = entry {
        let value = gvk.to_json();
        if !list.contains(&value) {
            list.push(value);
            list.sort_by_key(|v| {
                let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                (field("group"), field("version"), field("kind"))
            });
        }
    }
}

/// k8s-openapi lists `metadata` as required because its Rust field is not optional;
/// upstream never requires it (it is `omitempty`).
fn drop_required_metadata(schema: &mut Map<String, Value>) {
    let is_meta_ref = schema
        .get("properties")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("$ref"))
        .and_then(Value::as_str)
        .is_some_and(|r| r == format!("{REF_PREFIX}{OBJECT_META}") || r == format!("{REF_PREFIX}{LIST_META}"));
    if !is_meta_ref {
        return;
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|v| v != "metadata");
        if required.is_empty() {
            schema.remove("required");
        }
    }
}

/// The schema of `<Kind>List` for a kind whose item schema is `item`.
pub(super) fn list_schema(kind: &str, item: &str, gvk: &Gvk) -> Value {
    let mut schema = json!({
        "description": format!("{kind}List is a list of {kind} objects."),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object.",
                "type": "string",
            },
            "items": {
                "description": format!("The {kind} objects."),
                "type": "array",
                "items": { "$ref": format!("{REF_PREFIX}{item}") },
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents.",
                "type": "string",
            },
            "metadata": {
                "$ref": format!("{REF_PREFIX}{LIST_META}"),
                "description": "Standard list metadata.",
            },
        },
        "required": ["items"],
    });
    if let Value::Object(map) = &mut schema {
        add_gvk(map, gvk);
    }
    schema
}
