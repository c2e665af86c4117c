//! Structural-schema rules for CRD create/update (upstream's `schema/validation.go` and
//! `schema/complete.go`), and the entry points that combine them with the CRD schema rules.

use serde_json::Value;

use super::crdcheck;
use super::field::{Bad, FieldError, FieldPath};
use super::structural::{Additional, Structural};

/// Checks a CRD version's `openAPIV3Schema` like CRD create validation does, with error paths
/// rooted at `openAPIV3Schema`; see [`check_structural_at`] for the full paths.
pub fn check_structural(schema: &Value) -> Vec<String> {
    check_structural_at("openAPIV3Schema", schema).iter().map(ToString::to_string).collect()
}

/// Checks an `openAPIV3Schema` found at `path` (e.g. `spec.versions[0].schema.openAPIV3Schema`)
/// like CRD create validation does: the structural invariants, default values, then the OpenAPI
/// keyword rules; schema parse errors are reported only when nothing else is.
///
/// Not covered: CEL rules (`x-kubernetes-validations`), the status-subresource root
/// restrictions, and ratcheting of rules for unchanged schemas on update.
pub fn check_structural_at(path: &str, schema: &Value) -> Vec<FieldError> {
    let path = FieldPath::new(path);
    let mut errs = Vec::new();
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        errs.push(FieldError::forbidden(&path.child("nullable"), "nullable cannot be true at the root"));
    }
    let mut init_errs = Vec::new();
    match Structural::from_json(schema) {
        Err(e) => init_errs.push(FieldError::invalid(&path, &Bad::str(""), &e.to_string())),
        Ok(ss) => {
            let invariants = structural(&path, &ss);
            if invariants.is_empty() {
                errs.extend(crdcheck::defaults(&path, &ss));
            } else {
                errs.extend(invariants);
            }
        }
    }
    errs.extend(crdcheck::openapi_rules(&path, schema));
    if errs.is_empty() {
        errs.extend(init_errs);
    }
    errs
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// `ValidateStructural`: invariants and completeness, sorted by their rendering like upstream.
pub(crate) fn structural(path: &FieldPath, s: &Structural) -> Vec<FieldError> {
    let mut errs = Vec::new();
    invariants(s, Level::Root, path, &mut errs);
    completeness_vv(s, Some(s), path, path, &mut errs);
    errs.sort_by_key(ToString::to_string);
    errs
}

fn invariants(s: &Structural, lvl: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    if s.type_ == "array" && s.items.is_none() {
        errs.push(FieldError::required(&path.child("items"), "must be specified"));
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &path.child("items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &path.child("properties").key(k), errs);
    }
    if let Some(a) = &s.additional {
        if lvl == Level::Root {
            errs.push(FieldError::forbidden(&path.child("additionalProperties"), "must not be used at the root"));
        }
        if let Some(schema) = a.schema() {
            invariants(schema, Level::Field, &path.child("additionalProperties"), errs);
        }
    }
    let must_be_false = "must be false if x-kubernetes-int-or-string is true";
    if s.int_or_string && s.preserve_unknown {
        errs.push(FieldError::invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            &Bad::Bool(true),
            must_be_false,
        ));
    }
    if s.int_or_string && s.embedded {
        errs.push(FieldError::invalid(&path.child("x-kubernetes-embedded-resource"), &Bad::Bool(true), must_be_false));
    }
    value_validation(s, is_int_or_string_any_of(&s.vv.any_of), is_int_or_string_all_of(s), path, errs);

    let check_metadata = lvl == Level::Root || s.embedded;
    let ty = path.child("type");
    if s.embedded && s.type_ != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(if s.type_.is_empty() {
            FieldError::required(&ty, msg)
        } else {
            FieldError::invalid(&ty, &Bad::str(&s.type_), msg)
        });
    } else if s.type_.is_empty() && !s.int_or_string && !s.preserve_unknown {
        let msg = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(&ty, msg));
    }
    if s.embedded && s.additional.is_some() {
        let msg = "must not be used if x-kubernetes-embedded-resource is set";
        errs.push(FieldError::forbidden(&path.child("additionalProperties"), msg));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        errs.push(FieldError::invalid(&ty, &Bad::str(&s.type_), "must be object at the root"));
    }
    for f in ["kind", "apiVersion"] {
        if let Some(p) = s.properties.get(f).filter(|p| check_metadata && p.type_ != "string") {
            let at = path.child("properties").key(f).child("type");
            errs.push(FieldError::invalid(&at, &Bad::str(&p.type_), "must be string"));
        }
    }
    if let Some(meta) = s.properties.get("metadata") {
        metadata(meta, check_metadata, lvl, &path.child("properties").key("metadata"), errs);
    }
    if s.embedded && !s.preserve_unknown && s.properties.is_empty() {
        let msg =
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields";
        errs.push(FieldError::required(&path.child("properties"), msg));
    }
}

fn metadata(s: &Structural, check_metadata: bool, lvl: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    if check_metadata && s.type_ != "object" {
        errs.push(FieldError::invalid(&path.child("type"), &Bad::str(&s.type_), "must be object"));
    }
    if lvl != Level::Root {
        return;
    }
    // Only restrictions of name and generateName are allowed (their schemas are not looked at);
    // type and default are checked elsewhere.
    let only_names = s.properties.keys().all(|k| k == "name" || k == "generateName");
    let anything_else = !only_names
        || !s.title.is_empty()
        || !s.description.is_empty()
        || s.nullable
        || s.example.is_some()
        || s.external_docs.is_some()
        || has_extensions(s)
        || !s.x_validations.is_empty()
        || s.items.is_some()
        || s.additional.is_some()
        || !s.vv.is_empty();
    if anything_else {
        let msg = "must not specify anything other than name and generateName, but metadata is implicitly specified";
        errs.push(FieldError::forbidden(path, msg));
    }
}

fn has_extensions(s: &Structural) -> bool {
    s.preserve_unknown
        || s.embedded
        || s.int_or_string
        || s.list_type.is_some()
        || !s.list_map_keys.is_empty()
        || s.map_type.is_some()
}

/// A value validation made of nothing but `type: t`.
fn is_bare_type(n: &Structural, t: &str) -> bool {
    n.type_ == t
        && n.title.is_empty()
        && n.description.is_empty()
        && n.default.is_none()
        && !n.nullable
        && n.example.is_none()
        && n.external_docs.is_none()
        && !has_extensions(n)
        && n.x_validations.is_empty()
        && n.items.is_none()
        && n.properties.is_empty()
        && n.additional.is_none()
        && n.vv.is_empty()
}

fn is_int_or_string_any_of(any_of: &[Structural]) -> bool {
    matches!(any_of, [a, b] if is_bare_type(a, "integer") && is_bare_type(b, "string"))
}

fn is_int_or_string_all_of(s: &Structural) -> bool {
    s.vv.all_of.first().is_some_and(|first| is_int_or_string_any_of(&first.vv.any_of))
}

fn value_validation(
    s: &Structural,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, n) in s.vv.any_of.iter().enumerate() {
            nested(n, false, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, n) in s.vv.all_of.iter().enumerate() {
        nested(n, skip_first_all_of_any_of && i == 0, &path.child("allOf").index(i), errs);
    }
    for (i, n) in s.vv.one_of.iter().enumerate() {
        nested(n, false, &path.child("oneOf").index(i), errs);
    }
    if let Some(n) = &s.vv.not {
        nested(n, false, &path.child("not"), errs);
    }
    if let Some(Err(e)) = s.vv.pattern.as_ref().map(|p| &p.compiled) {
        let source = s.vv.pattern.as_ref().map(|p| p.source.as_str()).unwrap_or_default();
        let msg = format!("must be a valid regular expression, but isn't: {e}");
        errs.push(FieldError::invalid(&path.child("pattern"), &Bad::str(source), &msg));
    }
}

fn nested(n: &Structural, skip_any_of: bool, path: &FieldPath, errs: &mut Vec<FieldError>) {
    value_validation(n, skip_any_of, false, path, errs);
    if let Some(items) = &n.items {
        nested(items, false, &path.child("items"), errs);
    }
    for (k, v) in &n.properties {
        nested(v, false, &path.child("properties").key(k), errs);
    }
    let forbidden = |field: &str, msg: &str| FieldError::forbidden(&path.child(field), msg);
    if !n.type_.is_empty() {
        errs.push(forbidden("type", "must be empty to be structural"));
    }
    // `additionalProperties: false` converts to no nested additionalProperties at all.
    if n.additional.as_ref().is_some_and(Additional::allows) {
        errs.push(forbidden("additionalProperties", "must be undefined to be structural"));
    }
    if n.default.is_some() {
        errs.push(forbidden("default", "must be undefined to be structural"));
    }
    if !n.title.is_empty() {
        errs.push(forbidden("title", "must be empty to be structural"));
    }
    if !n.description.is_empty() {
        errs.push(forbidden("description", "must be empty to be structural"));
    }
    if n.nullable {
        errs.push(forbidden("nullable", "must be false to be structural"));
    }
    if n.preserve_unknown {
        errs.push(forbidden("x-kubernetes-preserve-unknown-fields", "must be false to be structural"));
    }
    if n.embedded {
        errs.push(forbidden("x-kubernetes-embedded-resource", "must be false to be structural"));
    }
    if n.int_or_string {
        errs.push(forbidden("x-kubernetes-int-or-string", "must be false to be structural"));
    }
    if !n.list_map_keys.is_empty() {
        errs.push(forbidden("x-kubernetes-list-map-keys", "must be empty to be structural"));
    }
    if n.list_type.is_some() {
        errs.push(forbidden("x-kubernetes-list-type", "must be undefined to be structural"));
    }
    if n.map_type.is_some() {
        errs.push(forbidden("x-kubernetes-map-type", "must be undefined to be structural"));
    }
    if !n.x_validations.is_empty() {
        errs.push(forbidden("x-kubernetes-validations", "must be empty to be structural"));
    }
    if n.properties.contains_key("metadata") {
        let at = path.child("properties").key("metadata");
        errs.push(FieldError::forbidden(&at, "must not be specified in a nested context"));
    }
}

fn required_because(s_path: &FieldPath, v_path: &FieldPath) -> FieldError {
    FieldError::required(s_path, &format!("because it is defined in {}", v_path.render()))
}

/// Every value validation must apply to structurally specified fields and items.
fn completeness_vv(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &FieldPath,
    v_path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(required_because(s_path, v_path));
        return;
    };
    if let Some(n) = &v.vv.not {
        completeness_nested(n, Some(s), s_path, &v_path.child("not"), errs);
    }
    for (name, list) in [("allOf", &v.vv.all_of), ("anyOf", &v.vv.any_of), ("oneOf", &v.vv.one_of)] {
        for (i, n) in list.iter().enumerate() {
            completeness_nested(n, Some(s), s_path, &v_path.child(name).index(i), errs);
        }
    }
}

fn completeness_nested(
    v: &Structural,
    s: Option<&Structural>,
    s_path: &FieldPath,
    v_path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(required_because(s_path, v_path));
        return;
    };
    completeness_vv(v, Some(s), s_path, v_path, errs);
    if let Some(items) = &v.items {
        completeness_nested(items, s.items.as_deref(), &s_path.child("items"), &v_path.child("items"), errs);
    }
    for (k, vf) in &v.properties {
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match s.properties.get(k) {
            None => errs.push(required_because(&sp, &vp)),
            Some(sf) => completeness_nested(vf, Some(sf), &sp, &vp, errs),
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
