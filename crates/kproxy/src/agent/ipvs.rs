//! Applying IPVS mode: service addresses bound on the `kube-ipvs0` dummy device, the ipsets,
//! the iptables rules and the virtual server table, each diffed against the kernel so a sync
//! only changes what differs.
//!
//! Order matters: new addresses are bound before virtual servers use them, and addresses are
//! unbound only after their virtual servers are gone.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::apply::{ApplyError, IPTABLES_RESTORE_ARGS, ensure_jumps};
use super::runner::{CommandRunner, run_checked};
use crate::ipvs::table::IpvsTable;
use crate::ipvs::{DUMMY_DEVICE, IpvsDocuments, jump_rules};

/// What one IPVS apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsApplied {
    /// Addresses bound on the dummy device.
    pub bound: usize,
    /// Addresses unbound from it.
    pub unbound: usize,
    /// `ipvsadm -R` lines (virtual and real server changes).
    pub ipvs_changes: usize,
}

/// Checks that the kernel has IPVS (`ipvsadm -L -n` succeeds). Upstream kube-proxy refuses to
/// start in IPVS mode without it, and so does the agent.
pub fn check_ipvs(runner: &dyn CommandRunner) -> Result<(), ApplyError> {
    let out = runner.run("ipvsadm", &["-L", "-n"], None)?;
    if out.success() { Ok(()) } else { Err(ApplyError::IpvsUnavailable(out.stderr.trim().to_string())) }
}

/// Creates [`DUMMY_DEVICE`] (type dummy) unless a link of that name exists; returns whether
/// it was created.
pub fn ensure_device(runner: &dyn CommandRunner) -> Result<bool, ApplyError> {
    if runner.run("ip", &["link", "show", DUMMY_DEVICE], None)?.success() {
        return Ok(false);
    }
    run_checked(runner, "ip", &["link", "add", DUMMY_DEVICE, "type", "dummy"], None)?;
    Ok(true)
}

/// IPv4 addresses in `ip -o -4 addr show` output.
pub fn parse_addresses(text: &str) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" {
                if let Some(ip) = words.next().and_then(|a| a.split('/').next()).and_then(|a| a.parse().ok()) {
                    out.insert(ip);
                }
                break;
            }
        }
    }
    out
}

/// The addresses bound on [`DUMMY_DEVICE`].
pub fn bound_addresses(runner: &dyn CommandRunner) -> Result<BTreeSet<Ipv4Addr>, ApplyError> {
    let out = run_checked(runner, "ip", &["-o", "-4", "addr", "show", "dev", DUMMY_DEVICE], None)?;
    Ok(parse_addresses(&out.stdout))
}

/// `ip -batch` lines adding (`op` = "add") or deleting (`"del"`) `/32` addresses.
fn address_batch<'a>(op: &str, ips: impl Iterator<Item = &'a Ipv4Addr>) -> String {
    ips.map(|ip| format!("address {op} {ip}/32 dev {DUMMY_DEVICE}\n")).collect()
}

/// The kernel's virtual server table (`ipvsadm -S -n`).
pub fn read_table(runner: &dyn CommandRunner) -> Result<IpvsTable, ApplyError> {
    let out = run_checked(runner, "ipvsadm", &["-S", "-n"], None)?;
    Ok(IpvsTable::parse(&out.stdout)?)
}

/// Makes the kernel's virtual server table equal to `desired` with one `ipvsadm -R` of the
/// differences; returns how many commands it held.
pub fn apply_table(runner: &dyn CommandRunner, desired: &IpvsTable) -> Result<usize, ApplyError> {
    let diff = read_table(runner)?.diff_to(desired);
    if !diff.is_empty() {
        run_checked(runner, "ipvsadm", &["-R"], Some(&diff))?;
    }
    Ok(diff.lines().count())
}

/// Binds the addresses `docs` needs on the device (creating it when missing); returns the
/// addresses bound now that `docs` does not need, to unbind after the table is applied.
pub fn bind_addresses(runner: &dyn CommandRunner, docs: &IpvsDocuments) -> Result<(usize, Vec<Ipv4Addr>), ApplyError> {
    ensure_device(runner)?;
    let have = bound_addresses(runner)?;
    let want: BTreeSet<Ipv4Addr> = docs.bind_addresses.iter().copied().collect();
    let add: Vec<&Ipv4Addr> = want.difference(&have).collect();
    if !add.is_empty() {
        run_checked(runner, "ip", &["-batch", "-"], Some(&address_batch("add", add.iter().copied())))?;
    }
    Ok((add.len(), have.difference(&want).copied().collect()))
}

/// Applies the ipsets (`ipset restore -exist`: sets are created when missing, then flushed and
/// refilled).
pub fn apply_ipsets(runner: &dyn CommandRunner, docs: &IpvsDocuments) -> Result<(), ApplyError> {
    run_checked(runner, "ipset", &["restore", "-exist"], Some(&docs.ipset))?;
    Ok(())
}

/// Applies the iptables part (`iptables-restore --noflush`) and, on full syncs, the jumps from
/// the built-in chains. The ipsets it matches must exist first.
pub fn apply_rules(runner: &dyn CommandRunner, docs: &IpvsDocuments, full: bool) -> Result<(), ApplyError> {
    run_checked(runner, "iptables-restore", IPTABLES_RESTORE_ARGS, Some(&docs.iptables))?;
    if full {
        ensure_jumps(runner, jump_rules())?;
    }
    Ok(())
}

/// One IPVS sync: bind new addresses, ipsets, iptables rules, the virtual server table, then
/// unbind addresses no longer used.
pub fn apply_ipvs(runner: &dyn CommandRunner, docs: &IpvsDocuments, full: bool) -> Result<IpvsApplied, ApplyError> {
    let (bound, stale) = bind_addresses(runner, docs)?;
    apply_ipsets(runner, docs)?;
    apply_rules(runner, docs, full)?;
    let ipvs_changes = apply_table(runner, &docs.table)?;
    if !stale.is_empty() {
        run_checked(runner, "ip", &["-batch", "-"], Some(&address_batch("del", stale.iter())))?;
    }
    Ok(IpvsApplied { bound, unbound: stale.len(), ipvs_changes })
}

#[cfg(test)]
mod tests {
    use super::super::runner::{CommandOutput, RecordingRunner};
    use super::*;
    use crate::ipvs::table::{ServiceOptions, VirtualServer};
    use crate::model::Protocol;

    fn docs(ips: &[[u8; 4]]) -> IpvsDocuments {
        let mut d = IpvsDocuments::default();
        for ip in ips {
            let vs = VirtualServer { protocol: Protocol::Tcp, addr: std::net::SocketAddrV4::new((*ip).into(), 80) };
            d.table.add_service(vs, ServiceOptions { scheduler: "rr".into(), persistence: None });
            d.table.add_real_server(&vs, "10.244.0.5:8080".parse().unwrap(), 1);
            d.bind_addresses.push((*ip).into());
        }
        d.ipset = "create KUBE-CLUSTER-IP hash:ip,port -exist\n".into();
        d.iptables = "*nat\nCOMMIT\n".into();
        d
    }

    #[test]
    fn parses_bound_addresses() {
        let text = "7: kube-ipvs0    inet 10.96.0.1/32 scope global kube-ipvs0\\       valid_lft forever preferred_lft forever\n\
                    7: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\\       valid_lft forever\n";
        let got: Vec<Ipv4Addr> = parse_addresses(text).into_iter().collect();
        assert_eq!(got, vec![Ipv4Addr::new(10, 96, 0, 1), Ipv4Addr::new(10, 96, 0, 10)]);
    }

    #[test]
    fn a_sync_changes_only_the_differences_in_order() {
        // The kernel has 10.96.0.1 (bound, with a virtual server) and a stale 10.96.0.9.
        let r = RecordingRunner::new().respond_with(|c| {
            let stdout = match c.line().as_str() {
                "ip -o -4 addr show dev kube-ipvs0" => {
                    "7: kube-ipvs0 inet 10.96.0.1/32 scope global\n7: kube-ipvs0 inet 10.96.0.9/32 scope global\n"
                }
                "ipvsadm -S -n" => {
                    "-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.244.0.5:8080 -m -w 1\n-A -t 10.96.0.9:80 -s rr\n"
                }
                _ => "",
            };
            CommandOutput { status: Some(0), stdout: stdout.into(), ..CommandOutput::default() }
        });
        let applied = apply_ipvs(&r, &docs(&[[10, 96, 0, 1], [10, 96, 0, 2]]), false).unwrap();
        assert_eq!(applied, IpvsApplied { bound: 1, unbound: 1, ipvs_changes: 3 });
        let cmds = r.take();
        let lines: Vec<String> = cmds.iter().map(|c| c.line()).collect();
        assert_eq!(
            lines,
            vec![
                "ip link show kube-ipvs0",
                "ip -o -4 addr show dev kube-ipvs0",
                "ip -batch -",
                "ipset restore -exist",
                "iptables-restore -w --noflush --counters",
                "ipvsadm -S -n",
                "ipvsadm -R",
                "ip -batch -",
            ]
        );
        assert_eq!(cmds[2].stdin.as_deref(), Some("address add 10.96.0.2/32 dev kube-ipvs0\n"));
        assert_eq!(
            cmds[6].stdin.as_deref(),
            Some("-D -t 10.96.0.9:80\n-A -t 10.96.0.2:80 -s rr\n-a -t 10.96.0.2:80 -r 10.244.0.5:8080 -m -w 1\n")
        );
        assert_eq!(cmds[7].stdin.as_deref(), Some("address del 10.96.0.9/32 dev kube-ipvs0\n"));
    }

    #[test]
    fn missing_ipvs_is_a_clear_error() {
        let r = RecordingRunner::new().respond_with(|_| CommandOutput {
            status: Some(2),
            stderr: "Can't initialize ipvs: Protocol not available\n".into(),
            ..CommandOutput::default()
        });
        let err = check_ipvs(&r).unwrap_err();
        assert!(matches!(err, ApplyError::IpvsUnavailable(_)));
        assert!(err.to_string().contains("Protocol not available"), "{err}");
    }
}
