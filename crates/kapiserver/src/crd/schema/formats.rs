//! String formats CRD schemas validate (kube-openapi `strfmt` with apiextensions' allow-list).
//!
//! Format names are normalized by dropping `-` (so `date-time` is `datetime`). `uri`, `email`,
//! `cidr` and `duration` approximate Go's `net/url`, `net/mail`, `net` and `time` parsers.

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

use super::goregex;

/// Formats supported in CRD schemas (normalized), as of Kubernetes 1.34.
const SUPPORTED: [&str; 26] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "k8sshortname",
    "k8slongname",
];

fn normalize(format: &str) -> String {
    format.replace('-', "")
}

/// Whether a `type: string` format is validated (others are stripped from the schema).
pub(crate) fn is_supported(format: &str) -> bool {
    SUPPORTED.contains(&normalize(format).as_str())
}

fn rx(pattern: &str) -> Option<Regex> {
    goregex::compile(pattern).ok()
}

static HOSTNAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    rx(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    )
});
static UUID: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID3: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID4: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static UUID5: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static CREDIT_CARD: LazyLock<Option<Regex>> = LazyLock::new(|| {
    rx(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$",
    )
});
static SSN: LazyLock<Option<Regex>> = LazyLock::new(|| rx(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$"));
static HEX_COLOR: LazyLock<Option<Regex>> = LazyLock::new(|| rx(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let c = r"(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])";
    rx(&format!(r"^rgb\(\s*{c}\s*,\s*{c}\s*,\s*{c}\s*\)$"))
});
static BASE64: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$"));
static DATE_TIME_TAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$"));
static SHORT_NAME: LazyLock<Option<Regex>> = LazyLock::new(|| rx(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"));
static LONG_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| rx(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"));
static DURATION_PART: LazyLock<Option<Regex>> = LazyLock::new(|| rx(r"((\d+)\s*([A-Za-zµ]+))"));

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

/// Whether `s` is valid for `format` (which must be supported).
pub(crate) fn validates(format: &str, s: &str) -> bool {
    match normalize(format).as_str() {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => matches(&HOSTNAME, s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63),
        "ipv4" => parse_ipv4_sloppy(s).is_some() || (s.contains('.') && s.parse::<Ipv6Addr>().is_ok()),
        "ipv6" => s.contains(':') && s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => matches(&UUID, s),
        "uuid3" => matches(&UUID3, s),
        "uuid4" => matches(&UUID4, s),
        "uuid5" => matches(&UUID5, s),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => s.len() == 11 && matches(&SSN, s),
        "hexcolor" => matches(&HEX_COLOR, s),
        "rgbcolor" => matches(&RGB_COLOR, s),
        "byte" => matches(&BASE64, s),
        "password" => true,
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        "k8sshortname" => s.len() <= 63 && matches(&SHORT_NAME, s),
        "k8slongname" => s.len() <= 253 && matches(&LONG_NAME, s),
        _ => true,
    }
}

/// `net.ParseIPSloppy` for dotted quads: leading zeros are allowed.
fn parse_ipv4_sloppy(s: &str) -> Option<[u8; 4]> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut out = [0u8; 4];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse::<u16>().ok().filter(|v| *v <= 255)? as u8;
    }
    Some(out)
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, prefix)) = s.split_once('/') else { return false };
    let bits = if parse_ipv4_sloppy(ip).is_some() {
        32
    } else if ip.contains(':') && ip.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) && prefix.parse::<u32>().is_ok_and(|p| p <= bits)
}

/// `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx…`, `xx-xx…` or `xxxx.xxxx…`.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    for sep in [':', '-'] {
        if s.len() > 2 && s.as_bytes()[2] == sep as u8 {
            let parts: Vec<&str> = s.split(sep).collect();
            return [6, 8, 20].contains(&parts.len()) && parts.iter().all(|p| hex(p, 2));
        }
    }
    if s.len() > 4 && s.as_bytes()[4] == b'.' {
        let parts: Vec<&str> = s.split('.').collect();
        return [3, 4, 10].contains(&parts.len()) && parts.iter().all(|p| hex(p, 4));
    }
    false
}

fn strip_isbn(s: &str) -> String {
    s.chars().filter(|c| !matches!(c, '-' | ' ' | '\t' | '\n' | '\x0C' | '\r')).collect()
}

fn is_isbn10(s: &str) -> bool {
    let s = strip_isbn(s);
    let b = s.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) || !(b[9].is_ascii_digit() || b[9] == b'X') {
        return false;
    }
    let mut sum: u32 = b[..9].iter().enumerate().map(|(i, d)| (i as u32 + 1) * u32::from(d - b'0')).sum();
    sum += 10 * if b[9] == b'X' { 10 } else { u32::from(b[9] - b'0') };
    sum % 11 == 0
}

fn is_isbn13(s: &str) -> bool {
    let s = strip_isbn(s);
    let b = s.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12].iter().enumerate().map(|(i, d)| if i % 2 == 0 { 1 } else { 3 } * u32::from(d - b'0')).sum();
    u32::from(b[12] - b'0') == (10 - sum % 10) % 10
}

fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !matches(&CREDIT_CARD, &digits) {
        return false;
    }
    let mut sum = 0;
    for (i, d) in digits.bytes().rev().enumerate() {
        let mut n = u32::from(d - b'0');
        if i % 2 == 1 {
            n *= 2;
            if n >= 10 {
                n = n % 10 + 1;
            }
        }
        sum += n;
    }
    sum % 10 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// `time.Parse("2006-01-02", s)`.
pub(crate) fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    let (year, month, day) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((year, month, day))
}

fn is_date(s: &str) -> bool {
    parse_date(s).is_some()
}

fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Some(caps) = DATE_TIME_TAIL.as_ref().and_then(|r| r.captures(parts[1])) else { return false };
    let group = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or("");
    group(1) <= "23" && group(2) <= "59" && group(3) <= "59"
}

/// Go's `time.ParseDuration` grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`.
fn is_go_duration(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    if s == "0" {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let units: [(&str, u128); 9] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("", 0),
    ];
    let mut rest = s;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            frac = &r[..n];
            if int_len == 0 && n == 0 {
                return false;
            }
            rest = &r[n..];
        } else if int_len == 0 {
            return false;
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(&(_, scale)) = units.iter().find(|(u, _)| !u.is_empty() && *u == unit) else { return false };
        let Ok(v) = (if int_part.is_empty() { Ok(0) } else { int_part.parse::<u128>() }) else { return false };
        if v > (1u128 << 63) {
            return false;
        }
        let frac_ns = frac.parse::<f64>().ok().map_or(0.0, |f| f / 10f64.powi(frac.len() as i32) * scale as f64);
        total = total.saturating_add(v.saturating_mul(scale)).saturating_add(frac_ns as u128);
        if total > (1u128 << 63) {
            return false;
        }
    }
    true
}

/// kube-openapi's `ParseDuration`: Go durations or Scala-like `5 days` parts.
fn is_duration(s: &str) -> bool {
    if is_go_duration(s) {
        return true;
    }
    let units: [&[&str]; 8] = [
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let Some(re) = DURATION_PART.as_ref() else { return false };
    let mut ok = false;
    for caps in re.captures_iter(s) {
        let factor = caps.get(2).map_or("", |m| m.as_str());
        if factor.parse::<i64>().is_err() {
            return false;
        }
        let unit = caps.get(3).map_or(String::new(), |m| m.as_str().trim().to_lowercase());
        for variants in units {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || v.eq_ignore_ascii_case(&unit) {
                    ok = true;
                }
            }
        }
    }
    ok
}

fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Approximates `url.ParseRequestURI`: an absolute path, or `scheme:` followed by an authority
/// and path or by opaque data, without control characters or bad `%` escapes and no fragment.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let without_query = s.split_once('?').map_or(s, |(a, _)| a);
    if s.starts_with('/') {
        return valid_escapes(without_query);
    }
    let Some(colon) = s.find(':') else { return false };
    let scheme = &s[..colon];
    let mut sc = scheme.chars();
    let scheme_ok = sc.next().is_some_and(|c| c.is_ascii_alphabetic())
        && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return false;
    }
    let rest = &without_query[colon + 1..];
    match rest.strip_prefix("//") {
        Some(auth_and_path) => {
            let (authority, path) = auth_and_path.split_at(auth_and_path.find('/').unwrap_or(auth_and_path.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            !host.contains(' ') && valid_escapes(path)
        }
        None => true,
    }
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|p| !p.is_empty() && p.chars().all(is_atext))
}

/// Approximates `mail.ParseAddress`: `local@domain` optionally inside `Display Name <…>`.
fn is_email(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        !local[1..local.len() - 1].contains('"')
    } else {
        is_dot_atom(local)
    };
    let domain_ok = is_dot_atom(domain) || (domain.starts_with('[') && domain.ends_with(']'));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_formats_are_normalized() {
        assert!(is_supported("date-time"));
        assert!(is_supported("k8s-short-name"));
        assert!(!is_supported("int32"));
        assert!(!is_supported("url"));
    }

    #[test]
    fn format_checks() {
        let ok = |f: &str, s: &str| assert!(validates(f, s), "{f} should accept {s:?}");
        let bad = |f: &str, s: &str| assert!(!validates(f, s), "{f} should reject {s:?}");
        ok("uuid", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8");
        bad("uuid", "abc");
        ok("uuid4", "f47ac10b-58cc-4372-a567-0e02b2c3d479");
        bad("uuid4", "f47ac10b-58cc-3372-a567-0e02b2c3d479");
        ok("ipv4", "10.0.0.1");
        ok("ipv4", "010.0.0.1");
        bad("ipv4", "10.0.0.256");
        ok("ipv6", "::1");
        bad("ipv6", "10.0.0.1");
        ok("cidr", "10.0.0.0/8");
        bad("cidr", "10.0.0.0/33");
        ok("cidr", "fd00::/64");
        ok("mac", "00:1A:2b:3c:4d:5e");
        ok("mac", "0000.5e00.5301");
        bad("mac", "00:1A:2b:3c:4d");
        ok("hostname", "example.com");
        ok("hostname", "localhost");
        bad("hostname", "-bad-.com");
        ok("date", "2024-02-29");
        bad("date", "2023-02-29");
        bad("date", "2024-1-01");
        ok("date-time", "2024-01-02T03:04:05Z");
        ok("date-time", "2024-01-02t03:04:05.123+02:00");
        bad("date-time", "2024-01-02T24:00:00Z");
        bad("date-time", "2024-01-02");
        ok("duration", "1h30m");
        ok("duration", "1.5s");
        ok("duration", "3 days");
        ok("duration", "0");
        bad("duration", "forever");
        ok("byte", "aGVsbG8=");
        bad("byte", "not base64!");
        ok("isbn10", "0-321-75104-3");
        ok("isbn13", "978-0321751041");
        bad("isbn13", "978-0321751042");
        ok("creditcard", "4111 1111 1111 1111");
        bad("creditcard", "4111 1111 1111 1112");
        ok("ssn", "123-45-6789");
        bad("ssn", "123456789");
        ok("hexcolor", "#FFF");
        ok("rgbcolor", "rgb(255, 0, 10)");
        bad("rgbcolor", "rgb(256,0,0)");
        ok("email", "a.b@example.com");
        ok("email", "Name <a@b>");
        bad("email", "no-at-sign");
        ok("uri", "https://example.com/a%20b?x=1");
        ok("uri", "/absolute/path");
        ok("uri", "mailto:x@y");
        bad("uri", "relative/path");
        bad("uri", "http://a b/");
        ok("bsonobjectid", "507f1f77bcf86cd799439011");
        ok("k8s-short-name", "my-name");
        bad("k8s-short-name", "a-");
        bad("k8s-long-name", "a.-");
        ok("k8s-long-name", "a.b-c.d");
        ok("password", "");
    }
}
