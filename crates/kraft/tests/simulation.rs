//! Runs the deterministic simulator (examples/sim) on a batch of seeds as part of
//! `cargo test`. CI additionally runs 1,000+ seeds of the release build (see `.ci/run`).

#![allow(clippy::unwrap_used, dead_code)]

#[path = "../examples/sim/cluster.rs"]
mod cluster;
#[path = "../examples/sim/kv.rs"]
mod kv;
#[path = "../examples/sim/linearizability.rs"]
mod linearizability;
#[path = "../examples/sim/rng.rs"]
mod rng;

use cluster::{Sim, SimConfig};

fn config(seed: u64, nodes: u64) -> SimConfig {
    SimConfig { seed, nodes, fault_ms: 3_000, heal_ms: 2_000, clients: 5, keys: 4, trace: false, max_events: None }
}

#[test]
fn simulated_faults_keep_raft_safe_and_linearizable() {
    let mut ops = 0;
    for seed in 0..24 {
        let nodes = if seed % 2 == 0 { 3 } else { 5 };
        let out = Sim::new(config(seed, nodes)).run();
        assert!(out.violations.is_empty(), "seed {seed}: {:#?}", out.violations);
        assert!(out.ops > 0, "seed {seed}: no operation completed");
        ops += out.ops;
    }
    assert!(ops > 1000, "the workload ran ({ops} ops)");
}

#[test]
fn replays_are_deterministic() {
    let a = Sim::new(config(42, 5)).run();
    let b = Sim::new(config(42, 5)).run();
    assert_eq!((a.events, a.ops, a.elections, a.crashes), (b.events, b.ops, b.elections, b.crashes));
}
