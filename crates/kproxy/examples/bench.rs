//! Render-time benchmark: `cargo run --release --example bench -- --services N --endpoints M [--apply]`.
//!
//! Prints one line per mode with the full render time, the time to apply a one-service
//! endpoint change and render the resulting partial sync, and the full document size.
//! With `--apply` (root, iproute2, iptables, nft), the full document and then one partial
//! one are also applied with `iptables-restore --noflush` / `nft -f` inside a network
//! namespace made for the run (never the host's tables), and those times printed too.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kproxy::convert::{SliceAddress, SliceEndpoints, SlicePort};
use kproxy::model::{Cidr, Conditions, NamespacedName, Protocol, ProxyConfig, ServicePortInfo, ServicePortName};
use kproxy::tracker::{Mode, Proxier};

fn arg(args: &[String], name: &str, default: u32) -> u32 {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn slice(svc: &NamespacedName, i: u32, eps: u32, generation: u32) -> SliceEndpoints {
    SliceEndpoints {
        service: svc.clone(),
        slice_name: format!("{}-slice", svc.name),
        ports: vec![SlicePort { name: "http".into(), port: 8080, protocol: Protocol::Tcp }],
        addresses: (0..eps)
            .map(|j| SliceAddress {
                ip: std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + i * 64 + j + generation),
                conditions: Conditions::default(),
                node_name: Some(format!("node-{}", j % 50)),
                zone: None,
            })
            .collect(),
    }
}

/// A network namespace that exists for the run.
struct Netns(String);

impl Netns {
    fn new() -> Result<Self, String> {
        let name = format!("kpbench-{}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().map_err(|e| format!("ip: {e}"))?;
        if !ok.success() {
            return Err(format!("ip netns add {name} failed"));
        }
        Ok(Self(name))
    }

    /// Feeds `doc` to `cmd` inside the namespace; the wall time it took.
    fn apply(&self, cmd: &[&str], doc: &str) -> Result<f64, String> {
        let t = Instant::now();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        child.stdin.take().ok_or("no stdin")?.write_all(doc.as_bytes()).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.0]).status();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let services = arg(&args, "--services", 1000);
    let endpoints = arg(&args, "--endpoints", 10);
    let apply = args.iter().any(|a| a == "--apply");
    let mut cfg = ProxyConfig::new("node-0");
    cfg.node_ips = vec![std::net::Ipv4Addr::new(192, 168, 0, 2)];
    cfg.cluster_cidr = Cidr::parse("10.0.0.0/8").ok();
    for (mode, label) in [(Mode::Iptables, "iptables"), (Mode::Nftables, "nftables")] {
        let Ok(mut p) = Proxier::new(cfg.clone(), mode) else { return };
        for i in 0..services {
            let name = NamespacedName::new("bench", format!("svc{i}"));
            let ip = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(172, 20, 0, 0)) + i);
            let info =
                ServicePortInfo::new(ServicePortName::new("bench", format!("svc{i}"), "http"), Protocol::Tcp, ip, 80);
            if p.set_service(name.clone(), vec![info]).is_err() {
                return;
            }
            p.set_slice(slice(&name, i, endpoints, 0));
        }
        // Preparing inputs (hashing) happens in the first sync; it is not the render itself.
        let t = Instant::now();
        let full_doc = match p.sync(Duration::ZERO) {
            Ok(r) => r.document.to_string(),
            Err(e) => {
                eprintln!("sync failed: {e}");
                return;
            }
        };
        let bytes = full_doc.len();
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        // Full render with prepared state (what a periodic/forced full resync costs).
        let mut full_ms = f64::MAX;
        for _ in 0..3 {
            p.force_full_sync();
            let t = Instant::now();
            let _ = p.sync(Duration::ZERO);
            full_ms = full_ms.min(t.elapsed().as_secs_f64() * 1e3);
        }
        // One service's endpoints change: update + partial sync.
        let mut inc_ms = f64::MAX;
        let mut partial_docs = Vec::new();
        for g in 1..=5u32 {
            let name = NamespacedName::new("bench", "svc0");
            let t = Instant::now();
            p.set_slice(slice(&name, 0, endpoints, g));
            let synced = p.sync(Duration::from_secs(u64::from(g) * 2));
            // The clock stops before the harness copies the document for its own checks.
            inc_ms = inc_ms.min(t.elapsed().as_secs_f64() * 1e3);
            if let Ok(r) = synced {
                partial_docs.push(r.document.to_string());
            }
        }
        let mut line = format!(
            "mode={label} services={services} endpoints={endpoints} full_render_ms={full_ms:.2} incremental_one_service_ms={inc_ms:.3} bytes={bytes} first_sync_with_prepare_ms={first_ms:.1}"
        );
        if apply {
            let cmd: &[&str] = match mode {
                Mode::Iptables => &["iptables-restore", "--noflush", "--counters"],
                _ => &["nft", "-f", "-"],
            };
            // The partial documents build on each other: apply them in order, time the last.
            let timed = Netns::new().and_then(|ns| {
                let full = ns.apply(cmd, &full_doc)?;
                let mut partial = 0.0;
                for doc in &partial_docs {
                    partial = ns.apply(cmd, doc)?;
                }
                Ok((full, partial))
            });
            match timed {
                Ok((full, partial)) => {
                    line.push_str(&format!(" apply_full_ms={full:.1} apply_partial_ms={partial:.1}"))
                }
                Err(e) => {
                    eprintln!("apply failed: {e}");
                    return;
                }
            }
        }
        println!("{line}");
    }
}
