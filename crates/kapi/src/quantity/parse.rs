//! Quantity parsing on decimal digit strings, so that rounding is exact whatever the input's
//! length (upstream falls back to arbitrary precision for the same reason).

use super::{Format, MAX_DIGITS, Quantity, QuantityError};

/// The suffix of a quantity: its base, exponent and format.
fn suffix(s: &str) -> Option<(u32, i64, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match s {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = s.strip_prefix(['e', 'E'])?;
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Exponents beyond i32 cannot be represented; report them as a bad suffix.
            let e: i32 = rest.parse().ok()?;
            Some((10, i64::from(e), Format::DecimalExponent))
        }
    }
}

/// A non-negative decimal number: `digits × 10^exp`, digits most significant first,
/// without leading zeros (empty = zero).
struct Decimal {
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    fn strip(&mut self) {
        let lead = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..lead);
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exp += 1;
        }
        if self.digits.is_empty() {
            self.exp = 0;
        }
    }

    /// Multiplies by a small factor (schoolbook, exact).
    fn mul_small(&mut self, factor: u32) {
        let mut carry = 0u64;
        for d in self.digits.iter_mut().rev() {
            let v = u64::from(*d) * u64::from(factor) + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            self.digits.insert(0, (carry % 10) as u8);
            carry /= 10;
        }
    }

    /// Rounds away from zero to a multiple of `10^min_exp` (upstream rounds "up" to nano so
    /// that asking for a tiny amount still gets some).
    fn round_up_to(&mut self, min_exp: i64) {
        if self.digits.is_empty() || self.exp >= min_exp {
            return;
        }
        let cut = min_exp - self.exp;
        let keep = self.digits.len() as i64 - cut;
        if keep <= 0 {
            // Entirely below the unit: the smallest non-zero value.
            self.digits = vec![1];
            self.exp = min_exp;
            return;
        }
        let dropped = self.digits.split_off(keep as usize);
        self.exp = min_exp;
        if dropped.iter().any(|&d| d != 0) {
            let mut i = self.digits.len();
            loop {
                if i == 0 {
                    self.digits.insert(0, 1);
                    break;
                }
                i -= 1;
                if self.digits[i] == 9 {
                    self.digits[i] = 0;
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
        self.strip();
    }

    /// Compares with `i64::MAX` (for the binarySI cap).
    fn exceeds_i64_max(&self) -> bool {
        if self.digits.is_empty() {
            return false;
        }
        let int_len = self.digits.len() as i64 + self.exp;
        if int_len > 19 {
            return true;
        }
        if int_len < 19 {
            return false;
        }
        // Exactly 19 integer digits: compare the integer part, then any fraction.
        let max = i64::MAX.to_string();
        let mut int_digits: Vec<u8> = self.digits.iter().copied().take(19).collect();
        int_digits.resize(19, 0);
        let int_str: String = int_digits.iter().map(|d| char::from(b'0' + d)).collect();
        match int_str.as_str().cmp(max.as_str()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => self.digits.len() > 19,
        }
    }
}

pub(super) fn parse(s: &str) -> Result<Quantity, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_part = &s[int_start..pos];
    let mut frac_part = "";
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_part = &s[frac_start..pos];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(QuantityError::Format(s.to_owned()));
    }
    let suffix_str = &s[pos..];
    if !suffix_str.bytes().all(|b| b"eEinumkKMGTP+-0123456789".contains(&b)) {
        return Err(QuantityError::Format(s.to_owned()));
    }
    let (base, exponent, mut format) = suffix(suffix_str).ok_or_else(|| QuantityError::Suffix(s.to_owned()))?;

    let mut value = Decimal {
        digits: int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect(),
        exp: -(frac_part.len() as i64),
    };
    value.strip();
    if base == 10 {
        value.exp += exponent;
    } else {
        for _ in 0..exponent / 10 {
            value.mul_small(1024);
        }
        value.strip();
    }
    value.round_up_to(-9);
    if format == Format::BinarySI {
        if value.exceeds_i64_max() {
            // Upstream silently caps binarySI quantities at 2^63-1.
            value = Decimal { digits: i64::MAX.to_string().bytes().map(|b| b - b'0').collect(), exp: 0 };
        }
        if !value.digits.is_empty() && (value.digits.len() as i64 + value.exp) <= 0 {
            // Below one: binary suffixes cannot express it, so it stays decimal.
            format = Format::DecimalSI;
        }
    }
    if value.digits.len() > MAX_DIGITS {
        return Err(QuantityError::TooLarge(s.to_owned()));
    }
    let exp = i32::try_from(value.exp).map_err(|_| QuantityError::TooLarge(s.to_owned()))?;
    let mut mantissa: i128 = value.digits.iter().fold(0i128, |acc, &d| acc * 10 + i128::from(d));
    if negative {
        mantissa = -mantissa;
    }
    Ok(Quantity::from_parts(mantissa, exp, format))
}
