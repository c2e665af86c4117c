//! Applying rendered documents to the kernel through a [`CommandRunner`]: `iptables-restore`
//! plus the jumps from the built-in chains, `nft -f -`, and UDP conntrack cleanup.

use std::net::Ipv4Addr;

use super::runner::{CommandRunner, RunnerError, run_checked};
use crate::iptables::{JumpRule, jump_rules};
use crate::tracker::{ConntrackCleanup, UdpServiceTarget};

/// Errors applying rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A command failed or could not be started.
    #[error(transparent)]
    Command(#[from] RunnerError),
    /// The kernel has no IPVS (`ipvsadm` cannot reach it).
    #[error("IPVS is not available in this kernel (ip_vs): {0}")]
    IpvsUnavailable(String),
    /// The kernel's IPVS table could not be read.
    #[error(transparent)]
    Ipvs(#[from] crate::ipvs::IpvsError),
}

/// `iptables-restore` flags: keep chains the document does not name, keep counters, wait for
/// the xtables lock (legacy backend).
pub const IPTABLES_RESTORE_ARGS: &[&str] = &["-w", "--noflush", "--counters"];

fn jump_args<'a>(j: &'a JumpRule, op: &'a str) -> Vec<&'a str> {
    let mut args = vec!["-w", "-t", j.table, op, j.from];
    args.extend(j.args.split_whitespace());
    args.extend(["-j", j.to]);
    args
}

/// Ensures every jump of [`jump_rules`] exists (`iptables -C`, else `-I` at the top), so it is
/// idempotent. The target chains must exist (apply a document first). Returns how many rules
/// were inserted.
pub fn ensure_jump_rules(runner: &dyn CommandRunner) -> Result<usize, ApplyError> {
    ensure_jumps(runner, jump_rules())
}

/// [`ensure_jump_rules`] for any set of jumps (IPVS mode has its own).
pub fn ensure_jumps(runner: &dyn CommandRunner, rules: &[JumpRule]) -> Result<usize, ApplyError> {
    let mut inserted = 0;
    for j in rules {
        let check = runner.run("iptables", &jump_args(j, "-C"), None)?;
        if !check.success() {
            run_checked(runner, "iptables", &jump_args(j, "-I"), None)?;
            inserted += 1;
        }
    }
    Ok(inserted)
}

/// Prefixes of the per-service nat chains kube-proxy owns.
const SERVICE_CHAIN_PREFIXES: &[&str] = &["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"];

/// Per-service nat chains present in `saved` (`iptables-save -t nat` output) but not declared
/// by `document`: left behind by a failed sync or an earlier run, they are deleted by the next
/// full sync (as upstream does).
pub fn leftover_chains(saved: &str, document: &str) -> Vec<String> {
    let nat = document.find("*nat\n").map_or("", |i| &document[i..]);
    let declared: std::collections::HashSet<&str> =
        nat.lines().filter_map(|l| l.strip_prefix(':')).filter_map(|l| l.split(' ').next()).collect();
    let mut out: Vec<String> = saved
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split(' ').next())
        .filter(|c| SERVICE_CHAIN_PREFIXES.iter().any(|p| c.starts_with(p)) && !declared.contains(c))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `document` with `chains` flushed and deleted at the end of its nat table.
pub fn with_deleted_chains(document: &str, chains: &[String]) -> String {
    let Some(at) = document.rfind("COMMIT\n") else { return document.to_string() };
    let mut out = String::with_capacity(document.len() + chains.len() * 64);
    out.push_str(&document[..at]);
    for c in chains {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    for c in chains {
        out.push_str(&format!("-X {c}\n"));
    }
    out.push_str(&document[at..]);
    out
}

/// Applies an `iptables-restore` document (`--noflush --counters`, on stdin). A `full` sync
/// also deletes leftover per-service chains (see [`leftover_chains`]) and ensures the
/// built-in chain jumps.
pub fn apply_iptables(runner: &dyn CommandRunner, document: &str, full: bool) -> Result<(), ApplyError> {
    let mut owned = None;
    if full {
        let saved = runner.run("iptables-save", &["-t", "nat"], None)?;
        if saved.success() {
            let stale = leftover_chains(&saved.stdout, document);
            if !stale.is_empty() {
                owned = Some(with_deleted_chains(document, &stale));
            }
        }
    }
    run_checked(runner, "iptables-restore", IPTABLES_RESTORE_ARGS, Some(owned.as_deref().unwrap_or(document)))?;
    if full {
        ensure_jump_rules(runner)?;
    }
    Ok(())
}

/// Applies an nftables transaction with `nft -f -`.
pub fn apply_nftables(runner: &dyn CommandRunner, document: &str) -> Result<(), ApplyError> {
    run_checked(runner, "nft", &["-f", "-"], Some(document))?;
    Ok(())
}

fn delete_udp(args: &mut Vec<Vec<String>>, filter: &[(&str, String)]) {
    let mut a: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
    for (k, v) in filter {
        a.push((*k).to_string());
        a.push(v.clone());
    }
    args.push(a);
}

fn target_filters(t: &UdpServiceTarget, dst_nat: Option<Ipv4Addr>) -> Vec<Vec<(&'static str, String)>> {
    let nat: Vec<(&'static str, String)> = dst_nat.map(|ip| ("--dst-nat", ip.to_string())).into_iter().collect();
    let mut out = Vec::new();
    for ip in &t.ips {
        let mut f = vec![("--orig-dst", ip.to_string()), ("--orig-port-dst", t.port.to_string())];
        f.extend(nat.iter().cloned());
        out.push(f);
    }
    if let Some(np) = t.node_port {
        let mut f = vec![("--orig-port-dst", np.to_string())];
        f.extend(nat.iter().cloned());
        out.push(f);
    }
    out
}

/// The `conntrack` argument lists for `cleanup`:
/// * a removed UDP endpoint: `-D -p udp --orig-dst <service IP> --orig-port-dst <port>
///   --dst-nat <endpoint IP>` per service IP, and `--orig-port-dst <nodePort> --dst-nat …`;
/// * a UDP service that got endpoints: `-D -p udp --orig-dst <service IP> --orig-port-dst
///   <port>` (entries that cached the earlier reject), and the same for its NodePort.
pub fn conntrack_commands(cleanup: &ConntrackCleanup) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    for s in &cleanup.stale_endpoints {
        for f in target_filters(&s.target, Some(s.endpoint_ip)) {
            delete_udp(&mut cmds, &f);
        }
    }
    for t in &cleanup.newly_reachable {
        for f in target_filters(t, None) {
            delete_udp(&mut cmds, &f);
        }
    }
    cmds.sort();
    cmds.dedup();
    cmds
}

/// Whether a `conntrack -D` outcome is fine: success, or "0 flow entries have been deleted"
/// (conntrack exits with 1 when nothing matched).
fn conntrack_ok(out: &super::runner::CommandOutput) -> bool {
    out.success() || out.stderr.contains("0 flow entries")
}

/// Runs the cleanup; returns how many commands ran and the failures (which do not stop the
/// others: stale entries are harmful but a failed deletion must not block rule syncs).
pub fn clear_conntrack(runner: &dyn CommandRunner, cleanup: &ConntrackCleanup) -> (usize, Vec<RunnerError>) {
    let mut errors = Vec::new();
    let cmds = conntrack_commands(cleanup);
    for args in &cmds {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match runner.run("conntrack", &a, None) {
            Ok(out) if conntrack_ok(&out) => {}
            Ok(out) => errors.push(RunnerError::Failed {
                command: super::runner::command_line("conntrack", &a),
                status: out.status,
                stderr: out.stderr.trim().to_string(),
            }),
            Err(e) => errors.push(e),
        }
    }
    (cmds.len(), errors)
}

#[cfg(test)]
mod tests {
    use super::super::runner::{CommandOutput, RecordingRunner};
    use super::*;
    use crate::model::ServicePortName;
    use crate::tracker::StaleUdpEndpoint;

    fn target() -> UdpServiceTarget {
        UdpServiceTarget {
            service: ServicePortName::new("ns", "dns", "udp"),
            ips: vec![[172, 30, 0, 10].into()],
            port: 53,
            node_port: Some(30053),
        }
    }

    #[test]
    fn conntrack_commands_for_removed_endpoints_and_new_services() {
        let cleanup = ConntrackCleanup {
            stale_endpoints: vec![StaleUdpEndpoint {
                target: target(),
                endpoint_ip: [10, 1, 0, 5].into(),
                endpoint_port: 53,
            }],
            newly_reachable: vec![target()],
        };
        let lines: Vec<String> = conntrack_commands(&cleanup).iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            lines,
            vec![
                "-D -p udp --orig-dst 172.30.0.10 --orig-port-dst 53",
                "-D -p udp --orig-dst 172.30.0.10 --orig-port-dst 53 --dst-nat 10.1.0.5",
                "-D -p udp --orig-port-dst 30053",
                "-D -p udp --orig-port-dst 30053 --dst-nat 10.1.0.5",
            ]
        );
    }

    #[test]
    fn jump_rules_are_inserted_only_when_missing() {
        // `-C` fails for FORWARD rules only: those get inserted.
        let r = RecordingRunner::new().respond_with(|c| CommandOutput {
            status: Some(if c.args.contains(&"-C".to_string()) && c.args.contains(&"FORWARD".to_string()) {
                1
            } else {
                0
            }),
            ..CommandOutput::default()
        });
        apply_iptables(&r, "*nat\nCOMMIT\n", true).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let cmds = r.take();
        assert_eq!(cmds[0].line(), "iptables-save -t nat");
        assert_eq!(cmds[1].line(), "iptables-restore -w --noflush --counters");
        assert_eq!(cmds[1].stdin.as_deref(), Some("*nat\nCOMMIT\n"));
        let inserts: Vec<String> =
            cmds.iter().filter(|c| c.args.contains(&"-I".to_string())).map(|c| c.line()).collect();
        let forward = jump_rules().iter().filter(|j| j.from == "FORWARD").count();
        assert_eq!(inserts.len(), forward);
        assert!(inserts.contains(&"iptables -w -t filter -I FORWARD -j KUBE-FORWARD".to_string()), "{inserts:?}");
    }

    #[test]
    fn leftover_chains_are_deleted_on_full_syncs() {
        let saved = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAA - [0:0]\n\
                     :KUBE-SEP-OLD - [0:0]\n:OTHER - [0:0]\nCOMMIT\n";
        let doc = "*filter\n:KUBE-SEP-OLD - [0:0]\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAA - [0:0]\n\
                   -A KUBE-SERVICES -j KUBE-SVC-AAA\nCOMMIT\n";
        let stale = leftover_chains(saved, doc);
        assert_eq!(stale, vec!["KUBE-SEP-OLD".to_string()]);
        let patched = with_deleted_chains(doc, &stale);
        assert!(
            patched.ends_with("-A KUBE-SERVICES -j KUBE-SVC-AAA\n:KUBE-SEP-OLD - [0:0]\n-X KUBE-SEP-OLD\nCOMMIT\n")
        );
    }

    #[test]
    fn conntrack_no_match_is_not_an_error() {
        let r = RecordingRunner::new().respond_with(|_| CommandOutput {
            status: Some(1),
            stdout: String::new(),
            stderr: "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n".into(),
        });
        let cleanup = ConntrackCleanup { stale_endpoints: vec![], newly_reachable: vec![target()] };
        let (ran, errors) = clear_conntrack(&r, &cleanup);
        assert_eq!((ran, errors.len()), (2, 0));
    }
}
