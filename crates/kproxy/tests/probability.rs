//! Property tests: the `-m statistic` cascade gives every endpoint an equal share.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;

/// Probabilities of the `KUBE-SVC` jump rules, in order (the last rule is unconditional: 1).
fn cascade(n: u16) -> Vec<f64> {
    let info = port("ns", "svc", "172.30.0.1", 80);
    let eps = (0..n).map(|i| ep(&format!("10.{}.{}.{}", i / 65025, (i / 255) % 255, i % 255 + 1), 80)).collect();
    let (doc, _) = full_iptables(cfg(), &[Fixture { ports: vec![(info, eps)] }]);
    doc.lines()
        .filter(|l| l.starts_with("-A KUBE-SVC-") && l.contains("-j KUBE-SEP-"))
        .map(|l| match l.split_once("--probability ") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap().parse::<f64>().unwrap(),
            None => 1.0,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_endpoint_gets_an_equal_share(n in 1u16..400) {
        let probs = cascade(n);
        prop_assert_eq!(probs.len(), usize::from(n));
        prop_assert_eq!(*probs.last().unwrap(), 1.0);
        let mut remaining = 1.0f64;
        let mut total = 0.0;
        for (i, p) in probs.iter().enumerate() {
            let share = remaining * p;
            // Each printed probability is rounded to 10 decimals, so shares drift by at most
            // ~n * 5e-11 relative to 1/n.
            prop_assert!((share - 1.0 / f64::from(n)).abs() < 1e-7, "endpoint {} of {}: {}", i, n, share);
            remaining -= share;
            total += share;
        }
        prop_assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn probability_strings_are_go_formatted(n in 2usize..5000) {
        let s = kproxy::iptables::probability(n);
        prop_assert_eq!(s.len(), 12);
        prop_assert!(s.starts_with("0."));
        let v: f64 = s.parse().unwrap();
        prop_assert!((v - 1.0 / n as f64).abs() <= 5e-11);
    }
}
