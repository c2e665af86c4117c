//! Pruning of unknown fields (upstream's `pruning/algorithm.go`).
//!
//! Fields not declared in the schema are removed, except below
//! `x-kubernetes-preserve-unknown-fields: true`. At the resource root and in embedded resources,
//! `apiVersion`, `kind` and `metadata` are kept untouched (ObjectMeta has its own coercion).

use serde_json::{Map, Value};

use super::structural::Structural;

const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn is_meta(k: &str) -> bool {
    META_FIELDS.contains(&k)
}

/// Removes from a custom resource `obj` every field its schema `s` does not declare.
///
/// Returns the pruned paths, sorted, in upstream's notation (`spec.foo`, `spec.list[0].bar`); the
/// server turns them into `unknown field "spec.foo"` errors (`fieldValidation=Strict`) or
/// warnings (`Warn`).
pub fn prune(obj: &mut Value, s: &Structural) -> Vec<String> {
    let mut paths = Vec::new();
    let mut ctx = Ctx { track: true, path: String::new(), pruned: &mut paths };
    prune_node(obj, Some(s), true, &mut ctx);
    paths.sort();
    paths
}

/// Prunes `x` against `s` without recording paths; `resource_root` keeps `apiVersion`, `kind`
/// and `metadata` at the top level like an embedded resource.
pub(crate) fn prune_value(x: &mut Value, s: &Structural, resource_root: bool) {
    let mut sink = Vec::new();
    let mut ctx = Ctx { track: false, path: String::new(), pruned: &mut sink };
    prune_node(x, Some(s), resource_root, &mut ctx);
}

struct Ctx<'a> {
    track: bool,
    path: String,
    pruned: &'a mut Vec<String>,
}

impl Ctx<'_> {
    fn enter_key(&mut self, k: &str) -> usize {
        let len = self.path.len();
        if self.track {
            if !self.path.is_empty() {
                self.path.push('.');
            }
            self.path.push_str(k);
        }
        len
    }

    fn enter_index(&mut self, i: usize) -> usize {
        let len = self.path.len();
        if self.track {
            self.path.push_str(&format!("[{i}]"));
        }
        len
    }

    fn leave(&mut self, len: usize) {
        self.path.truncate(len);
    }

    fn record(&mut self, k: &str) {
        if self.track {
            let len = self.enter_key(k);
            self.pruned.push(self.path.clone());
            self.leave(len);
        }
    }
}

/// `s == None` stands for "no schema": every object field below is unknown.
fn prune_node(x: &mut Value, s: Option<&Structural>, embedded_override: bool, ctx: &mut Ctx<'_>) {
    if let Some(s) = s.filter(|s| s.preserve_unknown) {
        skip_prune(x, s, embedded_override, ctx);
        return;
    }
    match x {
        Value::Object(m) => {
            let Some(s) = s else {
                let mut keys: Vec<String> = m.keys().cloned().collect();
                keys.sort();
                for k in keys {
                    ctx.record(&k);
                }
                m.clear();
                return;
            };
            let embedded = s.embedded || embedded_override;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if embedded && is_meta(&k) {
                    continue;
                }
                if let Some(prop) = s.properties.get(&k) {
                    descend_key(m, &k, Some(prop), ctx);
                } else if let Some(additional) = &s.additional {
                    descend_key(m, &k, additional.schema(), ctx);
                } else {
                    // Upstream records meta fields only below the root.
                    if !is_meta(&k) || !ctx.path.is_empty() {
                        ctx.record(&k);
                    }
                    m.remove(&k);
                }
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for (i, v) in items.iter_mut().enumerate() {
                let len = ctx.enter_index(i);
                prune_node(v, item_schema, false, ctx);
                ctx.leave(len);
            }
        }
        _ => {}
    }
}

fn descend_key(m: &mut Map<String, Value>, k: &str, s: Option<&Structural>, ctx: &mut Ctx<'_>) {
    if let Some(v) = m.get_mut(k) {
        let len = ctx.enter_key(k);
        prune_node(v, s, false, ctx);
        ctx.leave(len);
    }
}

/// Below `x-kubernetes-preserve-unknown-fields`: unknown fields stay, declared ones are pruned.
fn skip_prune(x: &mut Value, s: &Structural, embedded_override: bool, ctx: &mut Ctx<'_>) {
    match x {
        Value::Object(m) => {
            let embedded = s.embedded || embedded_override;
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if embedded && is_meta(&k) {
                    continue;
                }
                if let Some(prop) = s.properties.get(&k) {
                    descend_key(m, &k, Some(prop), ctx);
                } else if let Some(additional) = &s.additional {
                    descend_key(m, &k, additional.schema(), ctx);
                }
            }
        }
        Value::Array(items) => {
            // Upstream keeps skipping (not pruning) into the items of a preserved array.
            let Some(item_schema) = s.items.as_deref() else { return };
            for (i, v) in items.iter_mut().enumerate() {
                let len = ctx.enter_index(i);
                skip_prune(v, item_schema, false, ctx);
                ctx.leave(len);
            }
        }
        _ => {}
    }
}

/// Removes `null` values whose schema is neither nullable nor defaulted (upstream's
/// `PruneNonNullableNullsWithoutDefaults`, run right after pruning). Nulls that have a default
/// are left for [`apply_defaults`](super::apply_defaults) to replace.
pub fn drop_non_nullable_nulls(x: &mut Value, s: &Structural) {
    drop_nulls(x, Some(s));
}

fn field_schema<'a>(s: Option<&'a Structural>, k: &str) -> Option<&'a Structural> {
    let s = s?;
    match s.properties.get(k) {
        Some(p) => Some(p),
        None => s.additional.as_ref().and_then(|a| a.schema()),
    }
}

fn drop_nulls(x: &mut Value, s: Option<&Structural>) {
    match x {
        Value::Object(m) => {
            m.retain(|k, v| {
                let fs = field_schema(s, k);
                !(v.is_null() && fs.is_some_and(|fs| !fs.nullable && fs.default.is_none()))
            });
            for (k, v) in m.iter_mut() {
                drop_nulls(v, field_schema(s, k));
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for v in items {
                drop_nulls(v, item_schema);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Structural {
        Structural::from_json(&v).unwrap()
    }

    #[test]
    fn removes_unknown_fields_and_reports_paths() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "a": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
                }}
            }
        }));
        let mut obj = json!({
            "apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "junk": 1},
            "spec": {"a": "x", "foo": 1, "list": [{"x": 1, "y": 2}, {"z": {"deep": 1}}]},
            "extra": true
        });
        let paths = prune(&mut obj, &s);
        assert_eq!(paths, ["extra", "spec.foo", "spec.list[0].y", "spec.list[1].z"]);
        assert_eq!(
            obj,
            json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "junk": 1},
                   "spec": {"a": "x", "list": [{"x": 1}, {}]}})
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_unknowns_but_prunes_known_subtrees() {
        let s = schema(json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "known": {"type": "object", "properties": {"a": {"type": "string"}}}
            }}}
        }));
        let mut obj = json!({"spec": {"anything": {"x": 1}, "known": {"a": "1", "b": 2}}});
        assert_eq!(prune(&mut obj, &s), ["spec.known.b"]);
        assert_eq!(obj, json!({"spec": {"anything": {"x": 1}, "known": {"a": "1"}}}));
    }

    #[test]
    fn embedded_resources_keep_type_and_object_meta() {
        let s = schema(json!({
            "type": "object",
            "properties": {"template": {"type": "object", "x-kubernetes-embedded-resource": true,
                "properties": {"spec": {"type": "object"}}}}
        }));
        let mut obj = json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "spec": {"a": 1}, "other": 1}});
        assert_eq!(prune(&mut obj, &s), ["template.other", "template.spec.a"]);
        assert_eq!(obj, json!({"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"x": 1}, "spec": {}}}));
    }

    #[test]
    fn nested_meta_field_names_are_pruned_and_reported() {
        let s = schema(json!({"type": "object", "properties": {"spec": {"type": "object"}}}));
        let mut obj = json!({"spec": {"metadata": 1, "kind": "x"}});
        assert_eq!(prune(&mut obj, &s), ["spec.kind", "spec.metadata"]);
    }

    #[test]
    fn additional_properties_schemas_apply_to_every_value() {
        let s = schema(json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"a": {"type": "string"}}
        }}}}));
        let mut obj = json!({"m": {"k1": {"a": "x", "b": 1}, "k2": {}}});
        assert_eq!(prune(&mut obj, &s), ["m.k1.b"]);
    }

    #[test]
    fn additional_properties_true_prunes_nested_objects() {
        // Upstream prunes with a nil schema below `additionalProperties: true`.
        let s =
            schema(json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": true}}}));
        let mut obj = json!({"m": {"k": {"x": 1}, "s": "v"}});
        assert_eq!(prune(&mut obj, &s), ["m.k.x"]);
        assert_eq!(obj, json!({"m": {"k": {}, "s": "v"}}));
    }

    #[test]
    fn arrays_under_preserved_nodes_keep_unknown_item_fields() {
        let s = schema(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
            "l": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}}
        }}));
        let mut obj = json!({"l": [{"a": "x", "b": 1}]});
        assert_eq!(prune(&mut obj, &s), ["l[0].b"]);
        let s = schema(json!({"type": "array", "x-kubernetes-preserve-unknown-fields": true,
            "items": {"type": "object", "properties": {"a": {"type": "string"}}}}));
        let mut obj = json!([{"a": "x", "b": 1}]);
        assert!(prune_paths_only(&mut obj, &s).is_empty());
    }

    fn prune_paths_only(obj: &mut Value, s: &Structural) -> Vec<String> {
        let mut paths = Vec::new();
        let mut ctx = Ctx { track: true, path: String::new(), pruned: &mut paths };
        prune_node(obj, Some(s), false, &mut ctx);
        paths
    }

    fn tracked(obj: &mut Value, s: Option<&Structural>) -> Vec<String> {
        let mut paths = Vec::new();
        let mut ctx = Ctx { track: true, path: String::new(), pruned: &mut paths };
        prune_node(obj, s, false, &mut ctx);
        paths.sort();
        paths
    }

    #[test]
    fn upstream_algorithm_cases() {
        // Cases of upstream's pruning/algorithm_test.go (not at a resource root).
        let mut obj = json!([{"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}]);
        let s = schema(json!({"items": {"properties": {"a": {}, "c": {}}}}));
        assert_eq!(tracked(&mut obj, Some(&s)), ["[1].b", "[2].b"]);
        assert_eq!(obj, json!([{"a": 1}, {}, {"a": 1, "c": 3}]));

        let mut obj = json!([{"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}]);
        assert_eq!(tracked(&mut obj, None), ["[0].a", "[1].b", "[2].a", "[2].b", "[2].c"]);
        assert_eq!(obj, json!([{}, {}, {}]));

        let mut obj = json!({"array": [{"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}], "unspecified": {"a": 1}, "specified": {"a": 1, "b": 2, "c": 3}});
        let s = schema(
            json!({"properties": {"array": {"items": {"properties": {"a": {}, "c": {}}}}, "specified": {"properties": {"a": {}, "c": {}}}}}),
        );
        assert_eq!(tracked(&mut obj, Some(&s)), ["array[1].b", "array[2].b", "specified.b", "unspecified"]);
        assert_eq!(obj, json!({"array": [{"a": 1}, {}, {"a": 1, "c": 3}], "specified": {"a": 1, "c": 3}}));

        let mut obj = json!({"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1}}});
        let s = schema(json!({"properties": {"a": {}, "c": {"additionalProperties": {"type": "integer"}}}}));
        assert_eq!(tracked(&mut obj, Some(&s)), ["b", "c.c.a"]);
        assert_eq!(obj, json!({"a": 1, "c": {"a": 1, "b": 2, "c": {}}}));

        let mut obj = json!({"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1, "apiVersion": "unknown"}}});
        let s = schema(json!({"properties": {"a": {}, "c": {"additionalProperties": false}}}));
        assert_eq!(tracked(&mut obj, Some(&s)), ["b", "c.c.a", "c.c.apiVersion"]);
        assert_eq!(obj, json!({"a": 1, "c": {"a": 1, "b": 2, "c": {}}}));

        let mut obj = json!([1, 2]);
        assert!(tracked(&mut obj, Some(&schema(json!({"items": {}})))).is_empty());
        assert_eq!(obj, json!([1, 2]));
    }

    #[test]
    fn drops_only_non_nullable_nulls_without_default() {
        let s = schema(json!({"type": "object", "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": true},
            "c": {"type": "string", "default": "x"},
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "l": {"type": "array", "items": {"type": "object", "properties": {"z": {"type": "integer"}}}}
        }}));
        let mut obj = json!({"a": null, "b": null, "c": null, "u": null, "m": {"k": null}, "l": [{"z": null}, null]});
        drop_non_nullable_nulls(&mut obj, &s);
        assert_eq!(obj, json!({"b": null, "c": null, "u": null, "m": {}, "l": [{}, null]}));
    }
}
