//! Resource quantities (`100m`, `1.5`, `2Ki`, `1Gi`, `1e3`, `1E`) with the parsing,
//! rounding and canonical formatting of upstream `resource.Quantity`.
//!
//! - Syntax: `<sign>?<digits>[.<digits>]<suffix>`, suffix one of the decimal SI suffixes
//!   `n u m "" k M G T P E`, the binary SI suffixes `Ki Mi Gi Ti Pi Ei`, or a decimal
//!   exponent `e<int>` / `E<int>`.
//! - Values keep precision down to nano; anything finer is rounded away from zero
//!   (`0.1n` → `1n`). Binary-SI values are capped at 2^63-1 (`8Ei` → `9223372036854775807`)
//!   as upstream does.
//! - Formatting is canonical: no fractional digits, the largest exponent (a multiple of 3,
//!   or a power of 1024 for binary SI) that loses nothing, and the suffix family the value
//!   was parsed with: `1.5` → `1500m`, `1.5Gi` → `1536Mi`, `1000m` → `1`. Binary-SI values
//!   below 1024 or with a fraction print as decimal SI (`0.5Ki` → `512`).
//! - [`Quantity::value`] and [`Quantity::milli_value`] round away from zero, like upstream's
//!   `Value()`/`MilliValue()`, but report overflow instead of wrapping.
//!
//! Deliberate differences: forms without any digit (`""`, `"."`, `"+"`, `"Ki"`) are
//! rejected (upstream reads some of them as zero), and values needing more than 36
//! significant digits are rejected instead of being carried in arbitrary precision.

mod parse;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most significant digits a quantity may carry (so that canonical formatting, which may
/// multiply the mantissa by 100, stays in an `i128`).
pub const MAX_DIGITS: usize = 36;

/// Errors parsing or converting quantities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The empty string.
    #[error("quantities must not be empty")]
    Empty,
    /// Not of the form `<signedNumber><suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
    Format(String),
    /// The suffix is not one of the known forms.
    #[error("unable to parse quantity's suffix: {0:?}")]
    Suffix(String),
    /// More significant digits, or a larger exponent, than can be represented.
    #[error("quantity {0:?} is too large or too precise to represent")]
    TooLarge(String),
    /// The value does not fit the requested integer type.
    #[error("quantity {0} does not fit in a 64-bit integer at the requested scale")]
    Overflow(String),
}

/// How a quantity prints: the suffix family it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi` (powers of 1024)
    BinarySI,
    /// `12M` (powers of 1000)
    #[default]
    DecimalSI,
}

/// An exact decimal quantity: `mantissa × 10^exp`, plus the format it prints in.
///
/// Equality, ordering and hashing look at the value only: `1Ki == 1024`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantity {
    /// No trailing decimal zeros (they live in `exp`); zero is `(0, 0)`.
    mantissa: i128,
    /// At least -9 (nano).
    exp: i32,
    format: Format,
}

const fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Quantity {
    fn from_parts(mut mantissa: i128, mut exp: i32, format: Format) -> Self {
        if mantissa == 0 {
            return Self { mantissa: 0, exp: 0, format };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exp += 1;
        }
        Self { mantissa, exp, format }
    }

    /// `value × 10^scale`, e.g. `from_scaled(5, -3, DecimalSI)` is `5m`.
    ///
    /// Values finer than nano are rounded away from zero, as parsing does.
    pub fn from_scaled(value: i64, scale: i32, format: Format) -> Self {
        let q = Self::from_parts(i128::from(value), scale, format);
        if q.exp >= -9 {
            return q;
        }
        let shift = (-9 - q.exp) as u32;
        let m = match pow10(shift) {
            Some(div) => div_away(q.mantissa, div),
            None => q.mantissa.signum(),
        };
        Self::from_parts(m, -9, format)
    }

    /// An integer quantity.
    pub fn from_value(value: i64, format: Format) -> Self {
        Self::from_scaled(value, 0, format)
    }

    /// A quantity of `value / 1000`.
    pub fn from_milli(value: i64, format: Format) -> Self {
        Self::from_scaled(value, -3, format)
    }

    /// The format the quantity prints in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The same value printed in another format.
    #[must_use]
    pub fn with_format(self, format: Format) -> Self {
        Self { format, ..self }
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// `ceil(q / 10^scale)`, rounding away from zero (upstream `ScaledValue`).
    pub fn scaled_value(&self, scale: i32) -> Result<i64, QuantityError> {
        let overflow = || QuantityError::Overflow(self.to_string());
        let shift = i64::from(self.exp) - i64::from(scale);
        let v = if shift >= 0 {
            let factor = u32::try_from(shift).ok().and_then(pow10).ok_or_else(overflow)?;
            self.mantissa.checked_mul(factor).ok_or_else(overflow)?
        } else {
            match u32::try_from(-shift).ok().and_then(pow10) {
                Some(div) => div_away(self.mantissa, div),
                None => self.mantissa.signum(),
            }
        };
        i64::try_from(v).map_err(|_| overflow())
    }

    /// The value rounded away from zero to an integer (upstream `Value`); bytes for memory.
    pub fn value(&self) -> Result<i64, QuantityError> {
        self.scaled_value(0)
    }

    /// `ceil(q × 1000)` away from zero (upstream `MilliValue`); millicores for CPU.
    pub fn milli_value(&self) -> Result<i64, QuantityError> {
        self.scaled_value(-3)
    }

    /// Aligns two quantities to a common exponent; `None` when that overflows.
    fn aligned(&self, other: &Self) -> Option<(i128, i128, i32)> {
        let exp = self.exp.min(other.exp);
        let a = self.mantissa.checked_mul(pow10((self.exp - exp) as u32)?)?;
        let b = other.mantissa.checked_mul(pow10((other.exp - exp) as u32)?)?;
        Some((a, b, exp))
    }

    fn combine(&self, other: &Self, f: impl Fn(i128, i128) -> Option<i128>) -> Option<Self> {
        let (a, b, exp) = self.aligned(other)?;
        let format = if self.is_zero() { other.format } else { self.format };
        let q = Self::from_parts(f(a, b)?, exp, format);
        let digits = q.mantissa.unsigned_abs().checked_ilog10().map_or(1, |d| d as usize + 1);
        (digits <= MAX_DIGITS).then_some(q)
    }

    /// `self + other`; the result keeps `self`'s format unless `self` is zero (as upstream).
    /// `None` when the result cannot be represented.
    pub fn checked_add(&self, other: &Self) -> Option<Self> {
        self.combine(other, i128::checked_add)
    }

    /// `self - other`, with the format rule of [`checked_add`](Self::checked_add).
    pub fn checked_sub(&self, other: &Self) -> Option<Self> {
        self.combine(other, i128::checked_sub)
    }

    /// The canonical string form (what [`Display`](fmt::Display) prints).
    fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".to_owned();
        }
        // Binary suffixes only express integers of at least 1024 in magnitude.
        if self.format == Format::BinarySI && self.exp >= 0 {
            if let Some(mut int) = pow10(self.exp as u32).and_then(|p| self.mantissa.checked_mul(p)) {
                if int.unsigned_abs() >= 1024 {
                    let mut power = 0;
                    while power < 6 && int % 1024 == 0 {
                        int /= 1024;
                        power += 1;
                    }
                    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
                    return format!("{int}{suffix}");
                }
            }
        }
        // Decimal: lower the exponent to a multiple of three.
        let r = self.exp.rem_euclid(3);
        let mantissa = self.mantissa * [1, 10, 100][r as usize];
        let exp = self.exp - r;
        let suffix = match (self.format, exp) {
            (Format::DecimalExponent, 0) => String::new(),
            (Format::DecimalExponent, e) => format!("e{e}"),
            (_, -9) => "n".into(),
            (_, -6) => "u".into(),
            (_, -3) => "m".into(),
            (_, 0) => String::new(),
            (_, 3) => "k".into(),
            (_, 6) => "M".into(),
            (_, 9) => "G".into(),
            (_, 12) => "T".into(),
            (_, 15) => "P".into(),
            (_, 18) => "E".into(),
            // No SI suffix beyond exa: fall back to an exponent rather than lose the value.
            (_, e) => format!("e{e}"),
        };
        format!("{mantissa}{suffix}")
    }
}

/// `a / b` rounded away from zero (`b > 0`).
fn div_away(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b == 0 { q } else { q + a.signum() }
}

impl std::ops::Neg for Quantity {
    type Output = Self;

    fn neg(self) -> Self {
        Self { mantissa: -self.mantissa, ..self }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, QuantityError> {
        parse::parse(s)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        // Normalized: equal values have equal parts.
        self.mantissa == other.mantissa && self.exp == other.exp
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.mantissa.hash(state);
        self.exp.hash(state);
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.signum().cmp(&other.signum()) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        match self.aligned(other) {
            Some((a, b, _)) => a.cmp(&b),
            // Alignment overflows only for the operand with the larger exponent, whose
            // magnitude is then the larger one.
            None => {
                let larger_mag = self.exp.cmp(&other.exp);
                if self.signum() < 0 { larger_mag.reverse() } else { larger_mag }
            }
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a string (surrounding whitespace ignored, as upstream) or a JSON number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity string or number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                v.trim().parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::from_value(v, Format::DecimalSI))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                v.to_string().parse().map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                if !v.is_finite() {
                    return Err(E::custom("quantity must be finite"));
                }
                v.to_string().parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl TryFrom<&k8s_openapi::apimachinery::pkg::api::resource::Quantity> for Quantity {
    type Error = QuantityError;

    fn try_from(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Result<Self, QuantityError> {
        q.0.trim().parse()
    }
}

impl From<Quantity> for k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    fn from(q: Quantity) -> Self {
        Self(q.canonical())
    }
}

#[cfg(test)]
mod tests;
