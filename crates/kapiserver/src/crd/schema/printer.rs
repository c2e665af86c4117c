//! Table output from `additionalPrinterColumns` (upstream's customresource `tableconvertor`).
//!
//! The columns are `Name` followed by the version's printer columns; a version without printer
//! columns gets upstream's default `Age` column (`.metadata.creationTimestamp`). There is no
//! implicit `Age` column otherwise.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::formats::parse_date;
use super::jsonpath::JsonPath;
use crate::gofmt::{Num, go_f64_to_i64};
use crate::gotime::{GO_ZERO_TIME, days_from_civil, human_duration_nanos, system_nanos};

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although \
    some resources may allow a client to request the generation of an appropriate name automatically. Name is \
    primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: \
    https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_TIMESTAMP_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when \
    this object was created. It is not guaranteed to be set in happens-before order across separate operations. \
    Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. \
    Read-only. Null for lists. More info: \
    https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

#[derive(Clone, Debug)]
struct Column {
    definition: Value,
    column_type: String,
    path: JsonPath,
}

/// The parsed printer columns of one CRD version.
#[derive(Clone, Debug)]
pub struct PrinterColumns {
    columns: Vec<Column>,
    invalid: Option<String>,
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

impl PrinterColumns {
    /// Reads `additionalPrinterColumns` from a CRD version (an entry of `spec.versions`).
    ///
    /// Like upstream, a column whose `jsonPath` does not parse ends the list there (the earlier
    /// columns are kept) and is reported by [`PrinterColumns::invalid_column`].
    pub fn from_version(version: &Value) -> PrinterColumns {
        let declared = version.get("additionalPrinterColumns").and_then(Value::as_array).filter(|c| !c.is_empty());
        let default_age = [json!({
            "name": "Age",
            "type": "date",
            "description": CREATION_TIMESTAMP_DESCRIPTION,
            "jsonPath": ".metadata.creationTimestamp",
        })];
        let declared = declared.map_or(&default_age[..], Vec::as_slice);
        let mut columns = Vec::new();
        let mut invalid = None;
        for c in declared {
            let json_path = text(c, "jsonPath");
            let Ok(path) = JsonPath::parse(&format!("{{{json_path}}}")) else {
                invalid = Some(format!("unrecognized column definition {}", crate::gofmt::quote(json_path)));
                break;
            };
            let description = match text(c, "description") {
                "" => format!("Custom resource definition column (in JSONPath format): {json_path}"),
                d => d.to_owned(),
            };
            let definition = json!({
                "name": text(c, "name"),
                "type": text(c, "type"),
                "format": text(c, "format"),
                "description": description,
                "priority": c.get("priority").and_then(Value::as_i64).unwrap_or(0),
            });
            columns.push(Column { definition, column_type: text(c, "type").to_owned(), path });
        }
        PrinterColumns { columns, invalid }
    }

    /// The error for the first column whose `jsonPath` did not parse, if any.
    pub fn invalid_column(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// The table's `columnDefinitions`: `Name`, then the printer columns.
    pub fn definitions(&self) -> Vec<Value> {
        let name =
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0});
        std::iter::once(name).chain(self.columns.iter().map(|c| c.definition.clone())).collect()
    }

    /// The cells of one object's row, aligned with [`PrinterColumns::definitions`]; `now` is the
    /// server's clock for `date` columns.
    pub fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let mut cells = vec![Value::String(name.to_owned())];
        for c in &self.columns {
            let found = c.path.find(obj).ok().and_then(|r| r.into_iter().next());
            cells.push(match found {
                None => Value::Null,
                Some(v) if c.column_type == "string" => Value::String(JsonPath::print(&v)),
                Some(v) => cell(&c.column_type, &v, now),
            });
        }
        cells
    }
}

/// The column definitions of a CRD version (see [`PrinterColumns::definitions`]).
pub fn columns(version: &Value) -> Vec<Value> {
    PrinterColumns::from_version(version).definitions()
}

/// One object's cells for the given columns (see [`PrinterColumns::cells`]).
pub fn cells(columns: &PrinterColumns, obj: &Value, now: SystemTime) -> Vec<Value> {
    columns.cells(obj, now)
}

/// `cellForJSONValue`.
fn cell(column_type: &str, v: &Value, now: SystemTime) -> Value {
    match (column_type, v) {
        ("integer", Value::Number(_)) => match Num::of(v) {
            Some(Num::Int(i)) => Value::from(i),
            Some(Num::Float(f)) => Value::from(go_f64_to_i64(f)),
            None => Value::Null,
        },
        ("number", Value::Number(_)) => Num::of(v).map_or(Value::Null, |n| Value::from(n.as_f64())),
        ("boolean", Value::Bool(b)) => Value::Bool(*b),
        ("string", Value::String(s)) => Value::String(s.clone()),
        ("date", Value::String(s)) => Value::String(match s.as_str() {
            "" | "null" => "<unknown>".to_owned(),
            s => match parse_rfc3339_nanos(s) {
                None => "<invalid>".to_owned(),
                Some(GO_ZERO_TIME) => "<unknown>".to_owned(),
                Some(t) => human_duration_nanos(system_nanos(now) - t),
            },
        }),
        _ => Value::Null,
    }
}

fn two_digits(s: &str, max: u32) -> Option<u32> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok().filter(|v| *v <= max) } else { None }
}

/// Go's `time.Parse(time.RFC3339, s)` (fast path): Unix nanoseconds. Stricter than
/// [`crate::gotime::parse_rfc3339`] (two-digit fields, upper-case `T`/`Z`), as upstream's
/// printer columns are.
pub(crate) fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let date = s.get(..10)?;
    let (y, mo, d) = parse_date(date)?;
    let b = s.as_bytes();
    if b.len() < 19 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let hour = two_digits(s.get(11..13)?, 23)?;
    let min = two_digits(s.get(14..16)?, 59)?;
    let sec = two_digits(s.get(17..19)?, 59)?;
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if rest.len() >= 2 && rest.starts_with('.') && rest.as_bytes()[1].is_ascii_digit() {
        let n = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        let digits = &rest[1..1 + n];
        let mut frac = digits.chars().take(9).collect::<String>();
        while frac.len() < 9 {
            frac.push('0');
        }
        nanos = frac.parse().ok()?;
        rest = &rest[1 + n..];
    }
    let offset_secs: i64 = if rest == "Z" {
        0
    } else {
        let rb = rest.as_bytes();
        if rb.len() != 6 || !(rb[0] == b'+' || rb[0] == b'-') || rb[3] != b':' {
            return None;
        }
        let oh = i64::from(two_digits(rest.get(1..3)?, 23)?);
        let om = i64::from(two_digits(rest.get(4..6)?, 59)?);
        let o = (oh * 60 + om) * 60;
        if rb[0] == b'-' { -o } else { o }
    };
    let secs = days_from_civil(y, i64::from(mo), i64::from(d)) * 86_400
        + i64::from(hour) * 3600
        + i64::from(min) * 60
        + i64::from(sec)
        - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(rfc3339: &str) -> SystemTime {
        let nanos = parse_rfc3339_nanos(rfc3339).unwrap();
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    }

    #[test]
    fn default_columns_are_name_and_age() {
        let cols = columns(&json!({"name": "v1"}));
        let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(cols[0]["format"], "name");
        assert!(cols[0]["description"].as_str().unwrap().starts_with("Name must be unique within a namespace."));
        assert_eq!(cols[1]["type"], "date");
        assert_eq!(cols[1]["priority"], 0);
    }

    #[test]
    fn declared_columns_follow_name_without_implicit_age() {
        let v = json!({"additionalPrinterColumns": [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status", "priority": 1, "description": "d"},
        ]});
        let cols = columns(&v);
        assert_eq!(cols.len(), 3);
        assert_eq!(
            cols[1],
            json!({"name": "Replicas", "type": "integer", "format": "",
            "description": "Custom resource definition column (in JSONPath format): .spec.replicas", "priority": 0})
        );
        assert_eq!(cols[2]["priority"], 1);
        assert_eq!(cols[2]["description"], "d");
    }

    #[test]
    fn cells_are_typed_like_upstream() {
        let v = json!({"additionalPrinterColumns": [
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
            {"name": "On", "type": "boolean", "jsonPath": ".spec.on"},
            {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
            {"name": "App", "type": "string", "jsonPath": ".metadata.labels.app"},
            {"name": "First", "type": "string", "jsonPath": ".spec.list[0]"},
            {"name": "Obj", "type": "string", "jsonPath": ".spec.obj"},
            {"name": "Missing", "type": "string", "jsonPath": ".spec.nope"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            {"name": "Trunc", "type": "integer", "jsonPath": ".spec.ratio"},
            {"name": "Mismatch", "type": "boolean", "jsonPath": ".spec.replicas"},
            {"name": "Null", "type": "string", "jsonPath": ".spec.null"},
        ]});
        let obj = json!({
            "metadata": {"name": "a", "labels": {"app": "web"}, "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"replicas": 3, "ratio": 2.5, "on": true, "list": ["x", "y"], "obj": {"b": 1, "a": [1]}, "null": null},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}
        });
        let p = PrinterColumns::from_version(&v);
        assert!(p.invalid_column().is_none());
        let row = p.cells(&obj, at("2024-01-01T00:05:00Z"));
        assert_eq!(
            row,
            vec![
                json!("a"),
                json!(3),
                json!(2.5),
                json!(true),
                json!("True"),
                json!("web"),
                json!("x"),
                json!(r#"{"a":[1],"b":1}"#),
                Value::Null,
                json!("5m"),
                json!(2),
                Value::Null,
                json!("<no value>")
            ]
        );
    }

    #[test]
    fn invalid_paths_end_the_column_list() {
        let v = json!({"additionalPrinterColumns": [
            {"name": "A", "type": "string", "jsonPath": ".a"},
            {"name": "B", "type": "string", "jsonPath": ".b["},
            {"name": "C", "type": "string", "jsonPath": ".c"},
        ]});
        let p = PrinterColumns::from_version(&v);
        assert_eq!(p.definitions().len(), 2);
        assert_eq!(p.invalid_column(), Some(r#"unrecognized column definition ".b[""#));
    }

    #[test]
    fn dates() {
        let now = at("2024-03-01T12:00:00Z");
        let c = |s: &str| cell("date", &json!(s), now);
        assert_eq!(c("2024-03-01T11:59:30Z"), json!("30s"));
        assert_eq!(c("2024-03-01T10:00:00+00:00"), json!("120m"));
        assert_eq!(c("2024-03-01T08:00:00Z"), json!("4h"));
        assert_eq!(c("2024-03-01T13:00:00+02:00"), json!("60m"));
        assert_eq!(c("2024-02-28T12:00:00.5Z"), json!("47h"));
        assert_eq!(c("2024-02-28T12:00:00Z"), json!("2d"));
        assert_eq!(c("2024-03-01T12:00:05Z"), json!("<invalid>"));
        assert_eq!(c("not a date"), json!("<invalid>"));
        assert_eq!(c(""), json!("<unknown>"));
        assert_eq!(c("0001-01-01T00:00:00Z"), json!("<unknown>"));
        assert_eq!(cell("date", &json!(5), now), Value::Null);
    }

    #[test]
    fn human_durations() {
        const S: i64 = 1_000_000_000;
        let cases = [
            (-2 * S, "<invalid>"),
            (-S, "0s"),
            (119 * S, "119s"),
            (125 * S, "2m5s"),
            (600 * S, "10m"),
            (3 * 3600 * S + 5 * 60 * S, "3h5m"),
            (10 * 3600 * S, "10h"),
            (50 * 3600 * S, "2d2h"),
            (30 * 24 * 3600 * S, "30d"),
            (3 * 365 * 24 * 3600 * S + 10 * 24 * 3600 * S, "3y10d"),
            (9 * 365 * 24 * 3600 * S, "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration_nanos(i128::from(d)), want, "{d}");
        }
    }
}
