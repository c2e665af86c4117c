//! Property tests: quantities survive format → parse, ordering agrees with integer
//! arithmetic, and conversions round away from zero.

use kapi::quantity::{Format, Quantity};
use proptest::prelude::*;

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::DecimalSI), Just(Format::BinarySI), Just(Format::DecimalExponent)]
}

fn suffix() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "e-3", "E6", "e0",
    ])
}

proptest! {
    #[test]
    fn canonical_form_round_trips(mantissa in -10_000_000i64..10_000_000, frac in 0u32..6, suffix in suffix()) {
        let digits = mantissa.unsigned_abs().to_string();
        let text = if frac == 0 || (frac as usize) >= digits.len() {
            format!("{mantissa}{suffix}")
        } else {
            let (int, dec) = digits.split_at(digits.len() - frac as usize);
            let sign = if mantissa < 0 { "-" } else { "" };
            format!("{sign}{int}.{dec}{suffix}")
        };
        let q: Quantity = text.parse().map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let canonical = q.to_string();
        let again: Quantity = canonical.parse().map_err(|e| TestCaseError::fail(format!("{canonical:?}: {e}")))?;
        prop_assert_eq!(again, q, "{} -> {}", text, canonical);
        prop_assert_eq!(again.to_string(), canonical.clone(), "canonical form is a fixed point");
        // Canonical strings carry no fraction and no redundant sign.
        prop_assert!(!canonical.contains('.') && !canonical.starts_with('+'), "{}", canonical);
    }

    #[test]
    fn milli_values_round_trip(v in any::<i64>().prop_map(|v| v / 1000), f in format()) {
        let q = Quantity::from_milli(v, f);
        prop_assert_eq!(q.milli_value(), Ok(v));
        let parsed: Quantity = q.to_string().parse().expect("canonical parses");
        prop_assert_eq!(parsed.milli_value(), Ok(v));
    }

    #[test]
    fn integer_values_round_trip(v in any::<i64>(), f in format()) {
        let q = Quantity::from_value(v, f);
        prop_assert_eq!(q.value(), Ok(v));
        let parsed: Quantity = q.to_string().parse().expect("canonical parses");
        prop_assert_eq!(parsed.value(), Ok(v));
    }

    #[test]
    fn ordering_matches_integers(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000) {
        let (qa, qb) = (Quantity::from_milli(a, Format::DecimalSI), Quantity::from_milli(b, Format::BinarySI));
        prop_assert_eq!(qa.cmp(&qb), a.cmp(&b));
        prop_assert_eq!(qa.checked_add(&qb).and_then(|s| s.milli_value().ok()), Some(a + b));
        prop_assert_eq!(qa.checked_sub(&qb).and_then(|s| s.milli_value().ok()), Some(a - b));
    }

    #[test]
    fn value_is_ceiling_away_from_zero(milli in -10_000_000i64..10_000_000) {
        let q = Quantity::from_milli(milli, Format::DecimalSI);
        let want = if milli % 1000 == 0 { milli / 1000 } else { milli / 1000 + milli.signum() };
        prop_assert_eq!(q.value(), Ok(want));
    }

    #[test]
    fn binary_values_print_with_binary_suffix(n in 1i64..1024, power in 1u32..6) {
        let v = n << (10 * power);
        let q = Quantity::from_value(v, Format::BinarySI);
        let s = q.to_string();
        prop_assert!(s.ends_with('i'), "{} -> {}", v, s);
        prop_assert_eq!(s.parse::<Quantity>().expect("parses").value(), Ok(v));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "[-+0-9.eEinumkKMGTP]{0,24}") {
        if let Ok(q) = s.parse::<Quantity>() {
            let again: Quantity = q.to_string().parse().expect("canonical form parses");
            prop_assert_eq!(again, q);
        }
    }
}
