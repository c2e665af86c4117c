//! Throughput and queue latency of `WorkQueue` with concurrent producers and workers.
//!
//! ```text
//! cargo run --release --example workqueue_bench -- --workers 8 --keys 100000 --adds 1000000
//! ```
//!
//! Producer tasks add `--adds` random keys out of `--keys` (so many adds are merged) while
//! `--workers` tasks take leases and do trivial work. Prints one line of `name=value` pairs:
//! keys processed per second, adds per second, and the 50th/99th percentile and maximum of
//! the time keys waited from becoming ready to being handed out (`Lease::waited`).

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use kcontroller::workqueue::{WorkQueue, WorkQueueMetrics};
use prometheus_client::registry::Registry;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Args {
    workers: usize,
    producers: usize,
    keys: u64,
    adds: u64,
    metrics: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { workers: 8, producers: 4, keys: 100_000, adds: 1_000_000, metrics: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--metrics" {
            args.metrics = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--workers" => args.workers = value.parse().map_err(bad)?,
            "--producers" => args.producers = value.parse().map_err(bad)?,
            "--keys" => args.keys = value.parse().map_err(bad)?,
            "--adds" => args.adds = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag} (--workers --producers --keys --adds --metrics)")),
        }
    }
    if args.workers == 0 || args.producers == 0 || args.keys == 0 {
        return Err("--workers, --producers and --keys must be positive".into());
    }
    Ok(args)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

async fn run(args: Args) {
    let mut registry = Registry::default();
    let mut builder = WorkQueue::<u64>::builder("bench");
    let metrics;
    if args.metrics {
        metrics = WorkQueueMetrics::register(&mut registry);
        builder = builder.metrics(&metrics);
    }
    let queue = builder.build();
    let start = Instant::now();

    let workers: Vec<_> = (0..args.workers)
        .map(|_| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut waited_ns = Vec::new();
                while let Some(lease) = queue.next().await {
                    waited_ns.push(lease.waited().as_nanos() as u64);
                    std::hint::black_box(lease.key());
                }
                waited_ns
            })
        })
        .collect();

    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let queue = queue.clone();
            let share = args.adds / args.producers as u64 + u64::from((p as u64) < args.adds % args.producers as u64);
            let keys = args.keys;
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(p as u64);
                for i in 0..share {
                    queue.add(rng.random_range(0..keys));
                    // Let workers in between, as event handlers would.
                    if i % 256 == 255 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();

    for p in producers {
        p.await.unwrap();
    }
    let added = Instant::now();
    // Workers take what is ready, then `next` returns `None`.
    queue.shutdown();
    let mut waited = Vec::new();
    for w in workers {
        waited.extend(w.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let adding = added.duration_since(start).as_secs_f64();
    waited.sort_unstable();
    let processed = waited.len();
    println!(
        "workers={} producers={} keys={} adds={} metrics={} processed={} elapsed_s={:.3} keys_per_s={:.0} adds_per_s={:.0} \
         p50_queue_latency_us={:.1} p99_queue_latency_us={:.1} max_queue_latency_us={:.1}",
        args.workers,
        args.producers,
        args.keys,
        args.adds,
        args.metrics,
        processed,
        elapsed,
        processed as f64 / elapsed,
        args.adds as f64 / adding,
        percentile(&waited, 50.0) / 1e3,
        percentile(&waited, 99.0) / 1e3,
        waited.last().copied().unwrap_or(0) as f64 / 1e3,
    );
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("workqueue_bench: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(args));
}
