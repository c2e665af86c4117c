//! Reading and writing `metadata` on JSON objects, and server-set values (uid, timestamps).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// `metadata`, created when missing; `None` when `obj` is not a JSON object.
pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    if !map.get("metadata").is_some_and(Value::is_object) {
        map.insert("metadata".into(), Value::Object(Map::new()));
    }
    map.get_mut("metadata").and_then(Value::as_object_mut)
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name` ("" when unset).
pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

/// `metadata.namespace` ("" when unset).
pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or("")
}

/// `metadata.labels` as a map (non-string values are skipped).
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj.get("metadata").and_then(|m| m.get("labels")))
}

/// A JSON object of strings as a map.
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// `metadata.finalizers`.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Sets a `metadata` field.
pub fn set(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = metadata_mut(obj) {
        m.insert(field.into(), value);
    }
}

/// Removes a `metadata` field.
pub fn remove(obj: &mut Value, field: &str) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(field);
    }
}

/// The current time as upstream's `metav1.Time` (RFC 3339, whole seconds, UTC).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    let secs = now.as_second();
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_else(|_| now.to_string())
}

/// A fresh object uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Characters upstream uses for `generateName` suffixes (no vowels, no ambiguous digits).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `generateName` plus five random characters, trimming the prefix so the result stays
/// within 63 characters like upstream.
pub fn generate_name(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut base: String = prefix.to_owned();
    if base.len() > 58 {
        let mut cut = 58;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    for _ in 0..5 {
        let i = rng.random_range(0..SUFFIX_ALPHABET.len());
        base.push(char::from(SUFFIX_ALPHABET[i]));
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_have_upstream_shape() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
        assert!(t.parse::<jiff::Timestamp>().is_ok());
    }

    #[test]
    fn generated_names_keep_the_prefix_and_length() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
        assert_eq!(generate_name(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn metadata_helpers() {
        let mut o = json!({"metadata": {"name": "a", "labels": {"x": "1", "bad": 3}}});
        assert_eq!(name(&o), "a");
        assert_eq!(labels(&o).len(), 1);
        set(&mut o, "uid", json!("u"));
        assert_eq!(meta_str(&o, "uid"), Some("u"));
        let mut bare = json!({});
        set(&mut bare, "name", json!("b"));
        assert_eq!(name(&bare), "b");
    }
}
