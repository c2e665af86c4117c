use super::*;

fn q(s: &str) -> Quantity {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn canonical_forms() {
    // (input, canonical) — cases from upstream's documentation and test tables.
    for (input, want) in [
        ("0", "0"),
        ("-0", "0"),
        ("0Ki", "0"),
        ("0.0", "0"),
        ("1", "1"),
        ("+1", "1"),
        ("1.", "1"),
        (".5", "500m"),
        ("1.5", "1500m"),
        ("1.5Gi", "1536Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1536Ki", "1536Ki"),
        ("1.5Ki", "1536"),
        ("0.5Ki", "512"),
        ("1.1Ki", "1126400m"),
        ("1000m", "1"),
        ("1001m", "1001m"),
        ("100m", "100m"),
        ("0.1", "100m"),
        ("0.1n", "1n"),
        ("0.9n", "1n"),
        ("-0.1n", "-1n"),
        ("1.0000000001", "1000000001n"),
        ("1n", "1n"),
        ("1u", "1u"),
        ("1000u", "1m"),
        ("1k", "1k"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("1M", "1M"),
        ("1G", "1G"),
        ("1T", "1T"),
        ("1P", "1P"),
        ("1E", "1E"),
        ("1000E", "1e21"),
        ("1e3", "1e3"),
        ("1E3", "1e3"),
        ("1e1", "10"),
        ("12e6", "12e6"),
        ("100e-3", "100e-3"),
        ("1e-3", "1e-3"),
        ("1.5e3", "1500"),
        ("1e+3", "1e3"),
        ("-1Ki", "-1Ki"),
        ("-1.5Gi", "-1536Mi"),
        ("-1500m", "-1500m"),
        ("8Ei", "9223372036854775807"),
        ("9Ei", "9223372036854775807"),
        ("-9Ei", "-9223372036854775807"),
        ("7Ei", "7Ei"),
        ("1023", "1023"),
        ("1024", "1024"),
        ("18446744073709551616", "18446744073709551616"),
        ("0000123", "123"),
        ("1.2345", "1234500u"),
    ] {
        assert_eq!(q(input).to_string(), want, "{input:?}");
        // The canonical form parses back to the same value and the same text.
        assert_eq!(q(want), q(input), "{input:?}");
        assert_eq!(q(want).to_string(), want, "{want:?} reformat");
    }
}

#[test]
fn rejects_invalid_forms() {
    for bad in [
        "",
        ".",
        "+",
        "-",
        "Ki",
        "1.2.3",
        "1Kb",
        "abc",
        "1 Ki",
        " 1",
        "1e",
        "1e+",
        "e3",
        "--1",
        "1i",
        "1K",
        "1ki",
        "1mi",
        "1.5.Gi",
        "1Gi1",
        "1e1.5",
        "1e3Ki",
        "0x10",
        "1_000",
        "∞",
        "1e99999999999",
    ] {
        assert!(bad.parse::<Quantity>().is_err(), "{bad:?} should not parse");
    }
    assert_eq!("".parse::<Quantity>(), Err(QuantityError::Empty));
    assert!(matches!("1Kb".parse::<Quantity>(), Err(QuantityError::Format(_))));
    assert!(matches!("1ki".parse::<Quantity>(), Err(QuantityError::Suffix(_))));
    let huge = format!("{}1", "9".repeat(40));
    assert!(matches!(huge.parse::<Quantity>(), Err(QuantityError::TooLarge(_))));
}

#[test]
fn values_round_away_from_zero() {
    assert_eq!(q("100m").milli_value(), Ok(100));
    assert_eq!(q("1").milli_value(), Ok(1000));
    assert_eq!(q("1.5").value(), Ok(2));
    assert_eq!(q("-1.5").value(), Ok(-2));
    assert_eq!(q("1m").value(), Ok(1));
    assert_eq!(q("0.1m").milli_value(), Ok(1));
    assert_eq!(q("1n").milli_value(), Ok(1));
    assert_eq!(q("1Gi").value(), Ok(1 << 30));
    assert_eq!(q("1.5Gi").value(), Ok(1_610_612_736));
    assert_eq!(q("2Ki").value(), Ok(2048));
    assert_eq!(q("1E").value(), Ok(1_000_000_000_000_000_000));
    assert_eq!(q("8Ei").value(), Ok(i64::MAX));
    assert!(matches!(q("10E").value(), Err(QuantityError::Overflow(_))));
    assert!(matches!(q("8Ei").milli_value(), Err(QuantityError::Overflow(_))));
    assert_eq!(q("1e-12").value(), Ok(1), "rounded to 1n at parse, then up to 1");
    assert_eq!(q("1k").scaled_value(3), Ok(1));
    assert_eq!(q("1500").scaled_value(3), Ok(2));
    assert_eq!(q("123").scaled_value(-9), Ok(123_000_000_000));
}

#[test]
fn constructors() {
    assert_eq!(Quantity::from_milli(1500, Format::DecimalSI).to_string(), "1500m");
    assert_eq!(Quantity::from_milli(2000, Format::DecimalSI).to_string(), "2");
    assert_eq!(Quantity::from_value(1 << 20, Format::BinarySI).to_string(), "1Mi");
    assert_eq!(Quantity::from_value(1000, Format::BinarySI).to_string(), "1k");
    assert_eq!(Quantity::from_milli(500, Format::BinarySI).to_string(), "500m");
    assert_eq!(Quantity::from_value(i64::MIN, Format::BinarySI).to_string(), "-8Ei");
    assert_eq!(Quantity::from_scaled(15, -10, Format::DecimalSI).to_string(), "2n");
    assert_eq!(Quantity::from_scaled(-15, -10, Format::DecimalSI).to_string(), "-2n");
    assert_eq!(Quantity::from_scaled(1, -40, Format::DecimalSI).to_string(), "1n");
    assert_eq!(Quantity::from_value(5, Format::DecimalExponent).to_string(), "5");
    assert_eq!(Quantity::from_value(5000, Format::DecimalExponent).to_string(), "5e3");
    assert_eq!(q("1Ki").with_format(Format::DecimalSI).to_string(), "1024");
}

#[test]
fn equality_ignores_format_and_orders_by_value() {
    assert_eq!(q("1Ki"), q("1024"));
    assert_eq!(q("1k"), q("1e3"));
    assert_eq!(q("1"), q("1000m"));
    assert!(q("1Ki") > q("1k"));
    assert!(q("-1") < q("1m"));
    assert!(q("-2") < q("-1"));
    assert!(q("1e30") > q("999999999999999999999999999999999n"));
    assert!(q("-1e30") < q("-999999999999999999999999999999999n"));
    let mut v = [q("1Gi"), q("100m"), q("-1"), q("0"), q("1G")];
    v.sort();
    let s: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(s, ["-1", "0", "100m", "1G", "1Gi"]);
    use std::collections::HashSet;
    let set: HashSet<Quantity> = [q("1Ki"), q("1024"), q("1.024k")].into();
    assert_eq!(set.len(), 1);
}

#[test]
fn arithmetic() {
    assert_eq!(q("1").checked_add(&q("500m")).unwrap().to_string(), "1500m");
    assert_eq!(q("1Gi").checked_add(&q("1Gi")).unwrap().to_string(), "2Gi");
    assert_eq!(q("0").checked_add(&q("1Ki")).unwrap().to_string(), "1Ki", "zero takes the other's format");
    assert_eq!(q("1Gi").checked_sub(&q("512Mi")).unwrap().to_string(), "512Mi");
    assert_eq!(q("100m").checked_sub(&q("200m")).unwrap().to_string(), "-100m");
    assert!(q("9e35").checked_add(&q("1n")).is_none(), "45 significant digits");
    assert_eq!((-q("5")).to_string(), "-5");
}

#[test]
fn serde_forms() {
    let v: Quantity = serde_json::from_str("\"1.5Gi\"").unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), "\"1536Mi\"");
    let n: Quantity = serde_json::from_str("2").unwrap();
    assert_eq!(n.to_string(), "2");
    let f: Quantity = serde_json::from_str("0.5").unwrap();
    assert_eq!(f.to_string(), "500m");
    let t: Quantity = serde_json::from_str("\" 100m \"").unwrap();
    assert_eq!(t.milli_value(), Ok(100));
    assert!(serde_json::from_str::<Quantity>("\"1Kb\"").is_err());
    assert!(serde_json::from_str::<Quantity>("true").is_err());
    let k = k8s_openapi::apimachinery::pkg::api::resource::Quantity("1000m".into());
    let ours = Quantity::try_from(&k).unwrap();
    assert_eq!(k8s_openapi::apimachinery::pkg::api::resource::Quantity::from(ours).0, "1");
}
