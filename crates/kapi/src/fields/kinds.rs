//! Which fields each built-in kind can be selected on, and how to read them from an object.
//! The sets are upstream's field-label conversion functions (`pkg/apis/*/v1/conversion.go`)
//! and the values its `ToSelectableFields` functions produce.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{FieldSelector, FieldSelectorError, FieldTerm};

/// How a field's value is read from the object's JSON.
#[derive(Debug, Clone, Copy)]
enum Read {
    /// A string at a path; missing reads as "".
    Str(&'static [&'static str]),
    /// A boolean at a path, printed `true`/`false`; missing reads as `false`.
    Bool(&'static [&'static str]),
    /// An integer at a path; missing reads as `0`.
    Int(&'static [&'static str]),
    /// The first entry of `status.podIPs` (or `status.podIP`).
    PodIp,
    /// Accepted in selectors but not in the object's field set (reads as "").
    Unset,
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    read: Read,
}

const fn f(name: &'static str, read: Read) -> Field {
    Field { name, read }
}

const NAME: Field = f("metadata.name", Read::Str(&["metadata", "name"]));
const NAMESPACE: Field = f("metadata.namespace", Read::Str(&["metadata", "namespace"]));

static DEFAULT: [Field; 2] = [NAME, NAMESPACE];

static POD: [Field; 11] = [
    NAME,
    NAMESPACE,
    f("spec.nodeName", Read::Str(&["spec", "nodeName"])),
    f("spec.restartPolicy", Read::Str(&["spec", "restartPolicy"])),
    f("spec.schedulerName", Read::Str(&["spec", "schedulerName"])),
    f("spec.serviceAccountName", Read::Str(&["spec", "serviceAccountName"])),
    f("spec.hostNetwork", Read::Bool(&["spec", "hostNetwork"])),
    f("status.phase", Read::Str(&["status", "phase"])),
    f("status.podIP", Read::PodIp),
    f("status.podIPs", Read::Unset),
    f("status.nominatedNodeName", Read::Str(&["status", "nominatedNodeName"])),
];

static NODE: [Field; 2] = [NAME, f("spec.unschedulable", Read::Bool(&["spec", "unschedulable"]))];

static REPLICAS: [Field; 3] = [NAME, NAMESPACE, f("status.replicas", Read::Int(&["status", "replicas"]))];

static EVENT: [Field; 13] = [
    f("involvedObject.kind", Read::Str(&["involvedObject", "kind"])),
    f("involvedObject.namespace", Read::Str(&["involvedObject", "namespace"])),
    f("involvedObject.name", Read::Str(&["involvedObject", "name"])),
    f("involvedObject.uid", Read::Str(&["involvedObject", "uid"])),
    f("involvedObject.apiVersion", Read::Str(&["involvedObject", "apiVersion"])),
    f("involvedObject.resourceVersion", Read::Str(&["involvedObject", "resourceVersion"])),
    f("involvedObject.fieldPath", Read::Str(&["involvedObject", "fieldPath"])),
    f("reason", Read::Str(&["reason"])),
    f("reportingComponent", Read::Str(&["reportingComponent"])),
    f("source", Read::Str(&["source", "component"])),
    f("type", Read::Str(&["type"])),
    NAMESPACE,
    NAME,
];

static NAMESPACE_KIND: [Field; 2] = [f("status.phase", Read::Str(&["status", "phase"])), NAME];

static SECRET: [Field; 3] = [f("type", Read::Str(&["type"])), NAMESPACE, NAME];

static SERVICE: [Field; 4] = [
    NAMESPACE,
    NAME,
    f("spec.clusterIP", Read::Str(&["spec", "clusterIP"])),
    f("spec.type", Read::Str(&["spec", "type"])),
];

static JOB: [Field; 3] = [NAME, NAMESPACE, f("status.successful", Read::Int(&["status", "successful"]))];

static CSR: [Field; 2] = [NAME, f("spec.signerName", Read::Str(&["spec", "signerName"]))];

/// The selectable fields of one kind.
#[derive(Debug, Clone, Copy)]
pub struct KindFields {
    fields: &'static [Field],
    /// Legacy names accepted and rewritten (pods: `spec.host` → `spec.nodeName`).
    aliases: &'static [(&'static str, &'static str)],
}

/// The selectable fields of a built-in kind; other kinds (including custom resources)
/// support `metadata.name` and `metadata.namespace`.
pub fn kind_fields(group: &str, kind: &str) -> KindFields {
    let (fields, aliases): (&'static [Field], &'static [(&str, &str)]) = match (group, kind) {
        ("", "Pod") => (&POD, &[("spec.host", "spec.nodeName")]),
        ("", "Node") => (&NODE, &[]),
        ("", "ReplicationController") | ("apps", "ReplicaSet") => (&REPLICAS, &[]),
        ("", "Event") => (&EVENT, &[]),
        ("", "Namespace") => (&NAMESPACE_KIND, &[]),
        ("", "Secret") => (&SECRET, &[]),
        ("", "Service") => (&SERVICE, &[]),
        ("batch", "Job") => (&JOB, &[]),
        ("certificates.k8s.io", "CertificateSigningRequest") => (&CSR, &[]),
        _ => (&DEFAULT, &[]),
    };
    KindFields { fields, aliases }
}

fn at<'v>(obj: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(obj, |v, key| v.get(key))
}

impl KindFields {
    /// The supported field names.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }

    /// Whether `field` may be selected on (legacy aliases included).
    pub fn supports(&self, field: &str) -> bool {
        self.names().any(|n| n == field) || self.aliases.iter().any(|(a, _)| *a == field)
    }

    /// Checks a selector against this kind, rewriting legacy field names; rejects
    /// unsupported fields with upstream's `field label not supported: <field>`.
    pub fn check(&self, selector: FieldSelector) -> Result<FieldSelector, FieldSelectorError> {
        selector.try_map(|term| {
            if let Some((_, to)) = self.aliases.iter().find(|(from, _)| *from == term.field) {
                return Ok(FieldTerm { field: (*to).to_owned(), ..term });
            }
            if self.names().any(|n| n == term.field) {
                Ok(term)
            } else {
                Err(FieldSelectorError::Unsupported(term.field))
            }
        })
    }

    /// The object's selectable fields, read from its JSON form.
    pub fn extract(&self, obj: &Value) -> BTreeMap<&'static str, String> {
        let mut out = BTreeMap::new();
        for field in self.fields {
            let value = match field.read {
                Read::Str(path) => at(obj, path).and_then(Value::as_str).unwrap_or("").to_owned(),
                Read::Bool(path) => at(obj, path).and_then(Value::as_bool).unwrap_or(false).to_string(),
                Read::Int(path) => at(obj, path).and_then(Value::as_i64).unwrap_or(0).to_string(),
                Read::PodIp => obj
                    .pointer("/status/podIPs/0/ip")
                    .or_else(|| at(obj, &["status", "podIP"]))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                Read::Unset => continue,
            };
            out.insert(field.name, value);
        }
        out
    }
}
