//! Network namespaces for kernel tests: created with `ip netns add`, commands run through
//! `ip netns exec`, deleted on drop. Every name starts with `kpt-<pid>-`, so namespaces left
//! behind by a crashed run (whose pid is gone) are removed when the next run starts.
//!
//! These tests need root and the tools `ip`, `iptables-restore`, `iptables`, `nft`,
//! `conntrack` and `busybox`; a missing tool fails the test.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PREFIX: &str = "kpt-";

static CLEANUP: Once = Once::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Fails (does not skip) when a tool is missing.
#[track_caller]
pub fn require_tools(tools: &[&str]) {
    for t in tools {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{t} is missing: scripts/install-deps.sh installs it (kernel tests need root and {tools:?})");
    }
}

/// Removes `kpt-<pid>-*` namespaces whose process no longer exists.
pub fn remove_stale() {
    CLEANUP.call_once(|| {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some(name) = line.split_whitespace().next() else { continue };
            let Some(rest) = name.strip_prefix(PREFIX) else { continue };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    });
}

/// Runs `cmd`, panicking with its output when it fails.
#[track_caller]
pub fn check(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace deleted on drop (with the processes started in it).
pub struct Netns {
    pub name: String,
    children: Vec<Child>,
}

impl Netns {
    /// A fresh namespace with loopback up.
    pub fn new(tag: &str) -> Netns {
        remove_stale();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{tag}-{n}", std::process::id());
        check(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, children: Vec::new() };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec <ns> program args…` as a command to adjust.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Runs a command in the namespace; panics on failure; returns stdout.
    #[track_caller]
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        check(&mut self.command(program, args))
    }

    /// Runs a command in the namespace without checking it.
    pub fn output(&self, program: &str, args: &[&str]) -> Output {
        self.command(program, args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs a command with `input` on stdin.
    pub fn output_stdin(&self, program: &str, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(program, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.as_bytes().to_vec();
        // A writer thread: a large document must not deadlock against a full stdout pipe.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        out
    }

    /// Like [`Netns::output_stdin`], panicking with the document's numbered lines on failure.
    #[track_caller]
    pub fn run_stdin(&self, program: &str, args: &[&str], input: &str) -> String {
        let out = self.output_stdin(program, args, input);
        if !out.status.success() {
            let numbered: String =
                input.lines().enumerate().map(|(i, l)| format!("{:4} {l}\n", i + 1)).collect::<String>();
            panic!(
                "{program} {args:?} in {} failed ({}):\nstderr: {}\ninput:\n{numbered}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ip -n <ns> args…`.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) -> String {
        check(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Sets a sysctl inside the namespace.
    #[track_caller]
    pub fn sysctl(&self, key: &str, value: &str) {
        self.run("sysctl", &["-q", "-w", &format!("{key}={value}")]);
    }

    /// Starts a long-running process in the namespace; it is killed on drop.
    pub fn spawn(&mut self, program: &str, args: &[&str]) {
        let child = self.command(program, args).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
        self.children.push(child);
    }

    /// Kills the processes started with [`Netns::spawn`].
    pub fn stop_processes(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.stop_processes();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Connects `a` and `b` with a veth pair: `a_if` with `a_addr` (CIDR) in `a`, `b_if` with
/// `b_addr` in `b`; both up.
#[track_caller]
pub fn veth(a: &Netns, a_if: &str, a_addr: &str, b: &Netns, b_if: &str, b_addr: &str) {
    a.ip(&["link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b.name]);
    a.ip(&["addr", "add", a_addr, "dev", a_if]);
    b.ip(&["addr", "add", b_addr, "dev", b_if]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// Polls `f` every 20 ms until it returns `Some`, panicking after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
