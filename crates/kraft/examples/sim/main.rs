//! Deterministic Raft simulator.
//!
//! ```text
//! cargo run --release -p kraft --example sim -- --seeds N [--start S] [--nodes 3|5] [--trace] [--events E]
//! ```
//!
//! Each seed runs a 3- or 5-node group (alternating, unless `--nodes` is given) through a
//! fault phase — message loss, duplication, reordering and delay, symmetric and one-way
//! partitions, crashes that lose unsynced writes, restarts, slow disks, pauses, clock
//! drift, membership changes and leadership transfers — then a healing phase. Raft's invariants are checked as it
//! runs and the client history is checked for linearizability. The last line is
//! `seeds=N violations=V ops=… elections=… crashes=… partitions=…`; the exit code is
//! non-zero when V > 0. A failing seed is replayed with `--trace` up to the first
//! violation and the command to reproduce it is printed.

mod cluster;
mod kv;
mod linearizability;
mod rng;

use std::process::ExitCode;
use std::time::Instant;

use cluster::{Outcome, Sim, SimConfig};

struct Args {
    seeds: u64,
    start: u64,
    nodes: Option<u64>,
    trace: bool,
    events: Option<u64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { seeds: 100, start: 0, nodes: None, trace: false, events: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seeds" => args.seeds = value("--seeds")?,
            "--start" => args.start = value("--start")?,
            "--nodes" => args.nodes = Some(value("--nodes")?),
            "--events" => args.events = Some(value("--events")?),
            "--trace" => args.trace = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn config(seed: u64, args: &Args, trace: bool, max_events: Option<u64>) -> SimConfig {
    SimConfig {
        seed,
        nodes: args.nodes.unwrap_or(if seed % 2 == 0 { 3 } else { 5 }),
        fault_ms: 3_000,
        heal_ms: 2_000,
        clients: 5,
        keys: 4,
        trace,
        max_events,
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let seeds: Vec<u64> = (args.start..args.start + args.seeds).collect();
    let results: Vec<(u64, Outcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let mine: Vec<u64> = seeds.iter().copied().filter(|s| s % workers == w).collect();
                let args = &args;
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|seed| (seed, Sim::new(config(seed, args, args.trace, args.events)).run()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });

    let mut totals = Outcome::default();
    let mut failed = Vec::new();
    for (seed, out) in &results {
        totals.ops += out.ops;
        totals.elections += out.elections;
        totals.crashes += out.crashes;
        totals.partitions += out.partitions;
        totals.transfers += out.transfers;
        totals.conf_changes += out.conf_changes;
        totals.snapshots += out.snapshots;
        totals.pauses += out.pauses;
        totals.events += out.events;
        if args.trace {
            for line in &out.trace {
                println!("{line}");
            }
        }
        if !out.violations.is_empty() {
            failed.push(*seed);
            for v in &out.violations {
                println!("seed={seed} violation: {v}");
            }
        }
    }
    if let Some(&seed) = failed.first() {
        // Minimal replay: the same seed, traced, stopped at the first violation.
        let first = results.iter().find(|(s, _)| *s == seed).and_then(|(_, o)| o.first_violation_event);
        let replay = Sim::new(config(seed, &args, true, first)).run();
        let tail = replay.trace.len().saturating_sub(40);
        println!("--- last events before the first violation of seed {seed} ---");
        for line in &replay.trace[tail..] {
            println!("{line}");
        }
        let nodes = args.nodes.map(|n| format!(" --nodes {n}")).unwrap_or_default();
        println!(
            "replay: cargo run --release -p kraft --example sim -- --seeds 1 --start {seed}{nodes} --trace --events {}",
            first.unwrap_or(0)
        );
    }
    println!(
        "elapsed_s={:.1} events={} transfers={} conf_changes={} snapshots={} pauses={}",
        started.elapsed().as_secs_f64(),
        totals.events,
        totals.transfers,
        totals.conf_changes,
        totals.snapshots,
        totals.pauses
    );
    println!(
        "seeds={} violations={} ops={} elections={} crashes={} partitions={}",
        args.seeds,
        failed.len(),
        totals.ops,
        totals.elections,
        totals.crashes,
        totals.partitions
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
