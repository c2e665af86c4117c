//! `metadata.managedFields`: decoding, encoding, manager identities and the cap on update
//! entries.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use super::element::write_json_string;
use super::fieldset::FieldSet;

/// The operation a managed fields entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write: create, update, patch.
    Update,
}

impl Operation {
    /// The wire form, `Apply` or `Update`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who owns a set: upstream keys entries by manager, operation, subresource and, for updates
/// only, the API version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ManagerId {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    /// Empty for `Apply`: an applier keeps one entry across versions.
    pub(crate) api_version: String,
    pub(crate) subresource: String,
}

impl ManagerId {
    pub(crate) fn new(manager: &str, operation: Operation, api_version: &str, subresource: &str) -> Self {
        let manager = if manager.is_empty() { "unknown" } else { manager };
        let api_version = if operation == Operation::Apply { "" } else { api_version };
        Self {
            manager: manager.to_owned(),
            operation,
            api_version: api_version.to_owned(),
            subresource: subresource.to_owned(),
        }
    }

    /// Upstream's identifier: the entry's JSON without time and fields. Conflicts are grouped
    /// and sorted by it.
    pub(crate) fn identifier(&self) -> String {
        let mut out = String::from("{");
        let field = |out: &mut String, name: &str, value: &str| {
            if value.is_empty() {
                return;
            }
            if out.len() > 1 {
                out.push(',');
            }
            write_json_string(out, name, true);
            out.push(':');
            write_json_string(out, value, true);
        };
        field(&mut out, "manager", &self.manager);
        field(&mut out, "operation", self.operation.as_str());
        field(&mut out, "apiVersion", &self.api_version);
        field(&mut out, "subresource", &self.subresource);
        out.push('}');
        out
    }
}

/// The key of a set: a real manager, or the placeholder upstream uses while it works out
/// what the current update changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ManagerKey {
    Current,
    Id(ManagerId),
}

/// One manager's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) set: FieldSet,
    pub(crate) api_version: String,
    pub(crate) applied: bool,
    pub(crate) time: Option<String>,
}

pub(crate) type Managed = BTreeMap<ManagerKey, Entry>;

/// Whether a request's `managedFields` asks to clear them: an empty list, or a list of one
/// empty entry.
pub(crate) fn is_reset(list: Option<&Value>) -> bool {
    match list {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [Value::Object(entry)] => entry.values().all(|v| match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            }),
            _ => false,
        },
        _ => false,
    }
}

fn string_field<'a>(entry: &'a Map<String, Value>, name: &str, index: usize) -> Result<&'a str, String> {
    match entry.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("managed fields entry {index}: {name} must be a string, got {other}")),
    }
}

/// Decodes `metadata.managedFields` (absent or null is empty). Fails like upstream on an
/// unknown operation, a missing API version or fields type, or unreadable fields.
pub(crate) fn decode(list: Option<&Value>) -> Result<Managed, String> {
    let items = match list {
        None | Some(Value::Null) => return Ok(Managed::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(format!("managedFields must be a list, got {other}")),
    };
    let mut managed = Managed::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            return Err(format!("managed fields entry {i} must be an object"));
        };
        let operation = match string_field(entry, "operation", i)? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return Err("operation must be `Apply` or `Update`".to_owned()),
        };
        let api_version = string_field(entry, "apiVersion", i)?;
        if api_version.is_empty() {
            return Err("apiVersion must not be empty".to_owned());
        }
        match string_field(entry, "fieldsType", i)? {
            "FieldsV1" => {}
            "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
            other => {
                return Err(format!("invalid fieldsType {} in managed fields entry {i}", crate::gofmt::quote(other)));
            }
        }
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(fields) => FieldSet::from_value(fields).map_err(|e| format!("error decoding set: {e}"))?,
        };
        let time = match entry.get("time") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => return Err(format!("managed fields entry {i}: time must be a string, got {other}")),
        };
        let id = ManagerId {
            manager: string_field(entry, "manager", i)?.to_owned(),
            operation,
            api_version: if operation == Operation::Apply { String::new() } else { api_version.to_owned() },
            subresource: string_field(entry, "subresource", i)?.to_owned(),
        };
        let applied = operation == Operation::Apply;
        managed.insert(ManagerKey::Id(id), Entry { set, api_version: api_version.to_owned(), applied, time });
    }
    Ok(managed)
}

/// Encodes entries in upstream's order (Apply before Update, then oldest first, then by
/// manager, API version and subresource). `None` when there are none: the field is omitted.
pub(crate) fn encode(managed: &Managed) -> Option<Value> {
    let mut entries: Vec<(&ManagerId, &Entry)> = managed
        .iter()
        .filter_map(|(key, entry)| match key {
            ManagerKey::Id(id) => Some((id, entry)),
            ManagerKey::Current => None,
        })
        .collect();
    if entries.is_empty() {
        return None;
    }
    let seconds = |entry: &Entry| entry.time.as_deref().and_then(rfc3339_seconds).unwrap_or(0);
    entries.sort_by(|(a, ea), (b, eb)| {
        a.operation
            .cmp(&b.operation)
            .then_with(|| seconds(ea).cmp(&seconds(eb)))
            .then_with(|| a.manager.cmp(&b.manager))
            .then_with(|| ea.api_version.cmp(&eb.api_version))
            .then_with(|| a.subresource.cmp(&b.subresource))
    });
    let encoded = entries
        .into_iter()
        .map(|(id, entry)| {
            let operation = if entry.applied { Operation::Apply } else { id.operation };
            let mut out = Map::new();
            if !id.manager.is_empty() {
                out.insert("manager".into(), Value::String(id.manager.clone()));
            }
            out.insert("operation".into(), Value::String(operation.as_str().into()));
            out.insert("apiVersion".into(), Value::String(entry.api_version.clone()));
            if let Some(time) = &entry.time {
                out.insert("time".into(), Value::String(time.clone()));
            }
            out.insert("fieldsType".into(), Value::String("FieldsV1".into()));
            out.insert("fieldsV1".into(), entry.set.to_value());
            if !id.subresource.is_empty() {
                out.insert("subresource".into(), Value::String(id.subresource.clone()));
            }
            Value::Object(out)
        })
        .collect();
    Some(Value::Array(encoded))
}

/// Merges the oldest update entries into per-version `ancient-changes` entries until at most
/// `max` update entries remain (upstream's `capManagersManager`).
pub(crate) fn cap_update_managers(managed: &mut Managed, max: usize) {
    let mut updaters: Vec<ManagerKey> = managed.iter().filter(|(_, e)| !e.applied).map(|(k, _)| k.clone()).collect();
    if updaters.len() <= max {
        return;
    }
    let seconds =
        |key: &ManagerKey| managed.get(key).and_then(|e| e.time.as_deref()).and_then(rfc3339_seconds).unwrap_or(0);
    let identifier = |key: &ManagerKey| match key {
        ManagerKey::Id(id) => id.identifier(),
        ManagerKey::Current => String::new(),
    };
    updaters.sort_by_cached_key(|key| (seconds(key), identifier(key)));
    let mut first_of_version: HashMap<String, ManagerKey> = HashMap::new();
    let mut remaining = updaters.len();
    for key in updaters {
        if remaining <= max {
            break;
        }
        let Some(entry) = managed.get(&key).cloned() else { continue };
        let bucket = ManagerKey::Id(ManagerId::new("ancient-changes", Operation::Update, &entry.api_version, ""));
        let Some(first) = first_of_version.get(&entry.api_version) else {
            first_of_version.insert(entry.api_version.clone(), key);
            continue;
        };
        if !managed.contains_key(&bucket) {
            if let Some(moved) = managed.remove(first) {
                managed.insert(bucket.clone(), moved);
            }
        }
        let merged = managed.get(&bucket).map(|b| entry.set.union(&b.set)).unwrap_or_else(|| entry.set.clone());
        managed.remove(&key);
        managed.insert(
            bucket,
            Entry { set: merged, api_version: entry.api_version.clone(), applied: false, time: entry.time.clone() },
        );
        remaining -= 1;
    }
}

/// Seconds since the epoch of an RFC 3339 timestamp (`2024-05-01T10:00:00Z`, optional
/// fraction and offset), for ordering entries.
pub(crate) fn rfc3339_seconds(text: &str) -> Option<i64> {
    let nanos = crate::gotime::parse_rfc3339(text)?;
    i64::try_from(nanos.div_euclid(crate::gotime::NANOS)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_times() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2024-03-01T12:30:05Z"), Some(1_709_296_205));
        assert_eq!(rfc3339_seconds("2024-03-01T14:30:05.123+02:00"), Some(1_709_296_205));
        assert_eq!(rfc3339_seconds("2024-03-01 12:30:05"), None);
        assert_eq!(rfc3339_seconds("garbage"), None);
    }

    #[test]
    fn identifiers_match_upstream_json() {
        let update = ManagerId::new("kubectl-edit", Operation::Update, "apps/v1", "");
        assert_eq!(update.identifier(), r#"{"manager":"kubectl-edit","operation":"Update","apiVersion":"apps/v1"}"#);
        let apply = ManagerId::new("", Operation::Apply, "apps/v1", "status");
        assert_eq!(apply.identifier(), r#"{"manager":"unknown","operation":"Apply","subresource":"status"}"#);
    }

    #[test]
    fn decodes_and_rejects_like_upstream() {
        let good = json!([{"manager": "m", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}}]);
        let managed = decode(Some(&good)).unwrap();
        assert_eq!(managed.len(), 1);
        assert_eq!(encode(&managed), Some(good));
        let cases = [
            (
                json!([{"operation": "Get", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
                "operation must be `Apply` or `Update`",
            ),
            (json!([{"operation": "Apply", "fieldsType": "FieldsV1"}]), "apiVersion must not be empty"),
            (json!([{"operation": "Apply", "apiVersion": "v1"}]), "missing fieldsType in managed fields entry 0"),
            (
                json!([{"operation": "Apply", "apiVersion": "v1", "fieldsType": "V2"}]),
                "invalid fieldsType \"V2\" in managed fields entry 0",
            ),
        ];
        for (list, message) in cases {
            assert_eq!(decode(Some(&list)).unwrap_err(), message);
        }
        assert!(
            decode(Some(
                &json!([{"operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"x": 1}}])
            ))
            .is_err()
        );
        assert!(is_reset(Some(&json!([]))));
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(Some(&json!([{"manager": "a"}]))));
        assert!(!is_reset(None));
    }

    #[test]
    fn caps_update_entries_into_ancient_changes() {
        let mut managed = Managed::new();
        for i in 0..12 {
            let id = ManagerId::new(&format!("m{i:02}"), Operation::Update, "v1", "");
            let set = FieldSet::from_paths(&[vec![super::super::PathElement::field(&format!("f{i}"))]]);
            let time = Some(format!("2024-01-01T00:00:{i:02}Z"));
            managed.insert(ManagerKey::Id(id), Entry { set, api_version: "v1".into(), applied: false, time });
        }
        cap_update_managers(&mut managed, 10);
        assert_eq!(managed.len(), 10);
        let bucket = ManagerKey::Id(ManagerId::new("ancient-changes", Operation::Update, "v1", ""));
        let entry = &managed[&bucket];
        assert_eq!(entry.set.path_strings(), [".f0", ".f1", ".f2"]);
        assert_eq!(entry.time.as_deref(), Some("2024-01-01T00:00:02Z"));
    }
}
