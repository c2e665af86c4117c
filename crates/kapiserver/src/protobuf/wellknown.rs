//! The meta/v1, intstr and resource types whose Go JSON form is not an object of their fields:
//! Time, MicroTime, Duration, FieldsV1, IntOrString and Quantity.

use prost_reflect::{DynamicMessage, ReflectMessage};
use serde_json::Value;

use super::ProtoError;
use super::convert::Path;

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";

/// Go's zero `time.Time` (January 1, year 1, UTC) in Unix seconds; it is written as `null`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The JSON of `message` if it is one of the special types, else `None`.
pub(crate) fn to_json(message: &DynamicMessage, path: &Path) -> Result<Option<Value>, ProtoError> {
    let json = match message.descriptor().full_name() {
        TIME => time(message, false, path)?,
        MICRO_TIME => time(message, true, path)?,
        DURATION => Value::String(go_duration(int_field(message, "duration"))),
        FIELDS_V1 => fields_v1(message, path)?,
        INT_OR_STRING => int_or_string(message, path)?,
        QUANTITY => quantity(message, path)?,
        _ => return Ok(None),
    };
    Ok(Some(json))
}

fn invalid(path: &Path, reason: String) -> ProtoError {
    ProtoError::InvalidValue { path: path.to_string(), reason }
}

/// An integer field's value, 0 when unset.
fn int_field(message: &DynamicMessage, name: &str) -> i64 {
    let value = message.get_field_by_name(name);
    value.and_then(|v| v.as_i64().or_else(|| v.as_i32().map(i64::from))).unwrap_or_default()
}

/// metav1.Time (RFC 3339, whole seconds: upstream drops `nanos` when decoding) or MicroTime
/// (six fractional digits, truncated). An empty message is Go's zero time, written as `null`.
fn time(message: &DynamicMessage, micro: bool, path: &Path) -> Result<Value, ProtoError> {
    if !message.has_field_by_name("seconds") && !message.has_field_by_name("nanos") {
        return Ok(Value::Null);
    }
    let seconds = int_field(message, "seconds");
    let nanos = if micro {
        let nanos = int_field(message, "nanos");
        // Go truncates toward zero (time.Duration.Truncate), then time.Unix normalizes.
        nanos - nanos % 1_000
    } else {
        0
    };
    let seconds = seconds.checked_add(nanos.div_euclid(NANOS_PER_SECOND));
    let nanos = nanos.rem_euclid(NANOS_PER_SECOND);
    let seconds = seconds.ok_or_else(|| invalid(path, "time out of range".to_owned()))?;
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return Err(invalid(path, format!("time {seconds}s after the Unix epoch is outside years 0000-9999")));
    }
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let fraction = if micro { format!(".{:06}", nanos / 1_000) } else { String::new() };
    Ok(Value::String(format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")))
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5s`, `250ms`, `1.5µs`, `0s`.
pub(crate) fn go_duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (unit, precision) = match u {
            0..1_000 => ("ns", 0),
            1_000..1_000_000 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (whole, fraction) = split_fraction(u, precision);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (whole_seconds, fraction) = split_fraction(u, 9);
    let (hours, minutes, seconds) = (whole_seconds / 3600, whole_seconds / 60 % 60, whole_seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}{fraction}s"),
        (0, _) => format!("{sign}{minutes}m{seconds}{fraction}s"),
        _ => format!("{sign}{hours}h{minutes}m{seconds}{fraction}s"),
    }
}

/// `value / 10^precision` and its fraction as `.digits` without trailing zeros (empty if 0).
fn split_fraction(value: u64, precision: u32) -> (u64, String) {
    let scale = 10u64.pow(precision);
    let fraction = value % scale;
    if fraction == 0 {
        return (value / scale, String::new());
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    (value / scale, format!(".{}", digits.trim_end_matches('0')))
}

/// metav1.FieldsV1: its `Raw` bytes are JSON, written as they are (`null` when unset).
fn fields_v1(message: &DynamicMessage, path: &Path) -> Result<Value, ProtoError> {
    if !message.has_field_by_name("Raw") {
        return Ok(Value::Null);
    }
    let raw = message.get_field_by_name("Raw");
    let raw = raw.as_deref().and_then(prost_reflect::Value::as_bytes).map(|b| b.as_ref()).unwrap_or_default();
    // Upstream would also accept CBOR here (from CBOR clients); protobuf clients send JSON.
    serde_json::from_slice(raw).map_err(|error| invalid(path, format!("FieldsV1 is not JSON: {error}")))
}

/// intstr.IntOrString: `intVal` as a number when `type` is 0, `strVal` as a string when 1.
fn int_or_string(message: &DynamicMessage, path: &Path) -> Result<Value, ProtoError> {
    match int_field(message, "type") {
        0 => Ok(Value::from(int_field(message, "intVal"))),
        1 => {
            let text = message.get_field_by_name("strVal");
            Ok(Value::String(text.as_deref().and_then(prost_reflect::Value::as_str).unwrap_or_default().to_owned()))
        }
        other => Err(invalid(path, format!("IntOrString type {other} is neither 0 (int) nor 1 (string)"))),
    }
}

/// resource.Quantity: its string, checked with upstream's grammar. An unset string is the zero
/// Quantity, written as `"0"`.
///
/// Upstream re-renders a parsed quantity in canonical form (`1000` → `1k`); clients such as
/// kubectl send canonical strings already, and JSON bodies are stored as sent, so the string is
/// kept as it is.
fn quantity(message: &DynamicMessage, path: &Path) -> Result<Value, ProtoError> {
    if !message.has_field_by_name("string") {
        return Ok(Value::String("0".to_owned()));
    }
    let text = message.get_field_by_name("string");
    let text = text.as_deref().and_then(prost_reflect::Value::as_str).unwrap_or_default().to_owned();
    if quantity_is_valid(&text) {
        Ok(Value::String(text))
    } else {
        Err(invalid(path, format!("quantity {text:?} does not match upstream's quantity syntax")))
    }
}

/// Whether upstream's `resource.ParseQuantity` accepts `text`; follows its
/// `parseQuantityString` and suffix table (which are lenient: `"."`, `"-"` and `"k"` are 0).
pub(crate) fn quantity_is_valid(text: &str) -> bool {
    let bytes = text.as_bytes();
    let end = bytes.len();
    if end == 0 {
        return false;
    }
    let digits_from = |mut pos: usize| {
        while pos < end && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        pos
    };
    let mut pos = usize::from(matches!(bytes[0], b'+' | b'-'));
    pos = digits_from(pos);
    if pos < end && bytes[pos] == b'.' {
        pos = digits_from(pos + 1);
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < end && matches!(bytes[pos], b'+' | b'-') {
        pos += 1;
    }
    if digits_from(pos) < end {
        return false;
    }
    let suffix = &text[suffix_start..];
    const SUFFIXES: &[&str] = &["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    SUFFIXES.contains(&suffix)
        || (suffix.len() > 1 && suffix.starts_with(['e', 'E']) && suffix[1..].parse::<i64>().is_ok())
}
