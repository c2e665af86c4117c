//! Minimal `resource.Quantity` parsing: enough to compare requests with limits.

use serde_json::Value;

/// Upstream's parse error text for malformed quantities.
pub(crate) const QUANTITY_FORMAT_MSG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Parses a quantity into nano-units (`1` → 1_000_000_000, `1Ki` → 1024e9), rounding sub-nano
/// fractions up like upstream. Accepts JSON numbers too (upstream accepts them on decode).
pub(crate) fn parse_value(value: &Value) -> Option<i128> {
    match value {
        Value::String(s) => parse(s),
        Value::Number(n) => parse(&n.to_string()),
        _ => None,
    }
}

/// Parses a quantity string into nano-units; `None` when malformed or out of range.
pub(crate) fn parse(s: &str) -> Option<i128> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_len = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
    let (number, suffix) = rest.split_at(num_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let frac_digits = i32::try_from(frac_part.len()).ok()?;
    // Each suffix is (power of two, power of ten).
    let (pow2, pow10): (u32, i32) = match suffix {
        "" => (0, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        exp if exp.starts_with(['e', 'E']) => (0, exp[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let scaled = mantissa.checked_mul(1i128.checked_shl(pow2)?)?;
    let shift = pow10 + 9 - frac_digits;
    let nanos = if shift >= 0 {
        scaled.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        // Round up, as upstream rounds to the nearest representable value away from zero.
        (scaled + div - 1) / div
    };
    Some(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_suffixes_and_fractions() {
        assert_eq!(parse("1"), Some(1_000_000_000));
        assert_eq!(parse("500m"), Some(500_000_000));
        assert_eq!(parse("0.5"), Some(500_000_000));
        assert_eq!(parse("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(parse("1e3"), Some(1000 * 1_000_000_000));
        assert_eq!(parse("2k"), parse("2000"));
        assert_eq!(parse("-1"), Some(-1_000_000_000));
        assert_eq!(parse("1.5Gi"), Some(3 * (1i128 << 29) * 1_000_000_000));
        assert_eq!(parse("1n"), Some(1));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "abc", "1x", "1..2", ".", "1Kii", "--1"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
