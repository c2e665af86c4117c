//! The IPVS table as data: parsed from `ipvsadm -S -n` (or a rendered document), written back
//! as `ipvsadm -R` input, and diffed so a sync only touches what changed. Diffing instead of
//! `ipvsadm -C` + restore keeps established connections on virtual servers that stay.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddrV4;

use super::IpvsError;
use crate::model::Protocol;

/// A virtual server: protocol and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VirtualServer {
    /// Transport protocol.
    pub protocol: Protocol,
    /// Service address and port.
    pub addr: SocketAddrV4,
}

impl VirtualServer {
    /// The `ipvsadm` service argument (`-t 10.0.0.1:80`).
    fn arg(&self) -> String {
        let flag = match self.protocol {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
            Protocol::Sctp => "--sctp-service",
        };
        format!("{flag} {}", self.addr)
    }
}

/// Options of a virtual server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Scheduler name (`rr`, `lc`, …).
    pub scheduler: String,
    /// Persistence timeout in seconds (session affinity), if any.
    pub persistence: Option<u32>,
}

/// A virtual server's options and real servers (address → weight). Real servers are always
/// masqueraded (`-m`), as kube-proxy configures them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Scheduler and persistence.
    pub options: ServiceOptions,
    /// Real servers and their weights.
    pub real_servers: BTreeMap<SocketAddrV4, u32>,
}

/// A set of virtual servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsTable {
    /// Virtual servers by protocol and address.
    pub services: BTreeMap<VirtualServer, ServiceEntry>,
}

fn parse_addr(s: &str, line: &str) -> Result<SocketAddrV4, IpvsError> {
    s.parse().map_err(|_| IpvsError::Parse(format!("bad address {s:?} in {line:?}")))
}

impl IpvsTable {
    /// Adds (or replaces) a virtual server with no real servers.
    pub fn add_service(&mut self, vs: VirtualServer, options: ServiceOptions) {
        self.services.insert(vs, ServiceEntry { options, real_servers: BTreeMap::new() });
    }

    /// Adds a real server to an existing virtual server; returns false if there is none.
    pub fn add_real_server(&mut self, vs: &VirtualServer, rs: SocketAddrV4, weight: u32) -> bool {
        match self.services.get_mut(vs) {
            Some(e) => {
                e.real_servers.insert(rs, weight);
                true
            }
            None => false,
        }
    }

    /// Parses `ipvsadm -S -n` output (`-A`/`-a` lines). Firewall-mark services (`-f`) are not
    /// kube-proxy's and are left out; options this module does not set (`-M`, `-x`, `-y`, `-o`)
    /// are read and dropped.
    pub fn parse(text: &str) -> Result<IpvsTable, IpvsError> {
        let mut t = IpvsTable::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (cmd, rest) = words.split_first().ok_or_else(|| IpvsError::Parse(line.to_string()))?;
            let mut vs = None;
            let mut scheduler = String::from("wlc");
            let mut persistence = None;
            let mut real = None;
            let mut weight = 1;
            let mut fwmark = false;
            let mut i = 0;
            while i < rest.len() {
                let value = || rest.get(i + 1).copied().ok_or_else(|| IpvsError::Parse(line.to_string()));
                let proto = match rest[i] {
                    "-t" | "--tcp-service" => Some(Protocol::Tcp),
                    "-u" | "--udp-service" => Some(Protocol::Udp),
                    "--sctp-service" => Some(Protocol::Sctp),
                    _ => None,
                };
                if let Some(protocol) = proto {
                    vs = Some(VirtualServer { protocol, addr: parse_addr(value()?, line)? });
                    i += 2;
                    continue;
                }
                match rest[i] {
                    "-f" | "--fwmark-service" => {
                        fwmark = true;
                        i += 2;
                    }
                    "-s" | "--scheduler" => {
                        scheduler = value()?.to_string();
                        i += 2;
                    }
                    "-p" | "--persistent" => {
                        let v = value()?;
                        persistence =
                            Some(v.parse().map_err(|_| IpvsError::Parse(format!("bad timeout {v:?} in {line:?}")))?);
                        i += 2;
                    }
                    "-r" | "--real-server" => {
                        real = Some(parse_addr(value()?, line)?);
                        i += 2;
                    }
                    "-w" | "--weight" => {
                        let v = value()?;
                        weight = v.parse().map_err(|_| IpvsError::Parse(format!("bad weight {v:?} in {line:?}")))?;
                        i += 2;
                    }
                    "-M" | "--netmask" | "-x" | "--u-threshold" | "-y" | "--l-threshold" | "--pe" | "-b"
                    | "--sched-flags" => i += 2,
                    "-m" | "--masquerading" | "-g" | "--gatewaying" | "-i" | "--ipip" | "-o" | "--ops" => i += 1,
                    other => return Err(IpvsError::Parse(format!("unknown option {other:?} in {line:?}"))),
                }
            }
            if fwmark {
                continue;
            }
            let vs = vs.ok_or_else(|| IpvsError::Parse(format!("no service address in {line:?}")))?;
            match *cmd {
                "-A" | "--add-service" => t.add_service(vs, ServiceOptions { scheduler, persistence }),
                "-a" | "--add-server" => {
                    let rs = real.ok_or_else(|| IpvsError::Parse(format!("no real server in {line:?}")))?;
                    if !t.add_real_server(&vs, rs, weight) {
                        return Err(IpvsError::Parse(format!("real server before its service: {line:?}")));
                    }
                }
                other => return Err(IpvsError::Parse(format!("unknown command {other:?} in {line:?}"))),
            }
        }
        Ok(t)
    }

    fn write_add_service(out: &mut String, vs: &VirtualServer, o: &ServiceOptions, cmd: &str) {
        let _ = write!(out, "{cmd} {} -s {}", vs.arg(), o.scheduler);
        if let Some(p) = o.persistence {
            let _ = write!(out, " -p {p}");
        }
        out.push('\n');
    }

    fn write_real_server(out: &mut String, vs: &VirtualServer, rs: &SocketAddrV4, weight: u32, cmd: &str) {
        let _ = writeln!(out, "{cmd} {} -r {rs} -m -w {weight}", vs.arg());
    }

    /// The whole table as `ipvsadm -R` input (the same form as `ipvsadm -S -n`).
    pub fn to_restore(&self) -> String {
        let mut out = String::new();
        for (vs, e) in &self.services {
            Self::write_add_service(&mut out, vs, &e.options, "-A");
            for (rs, w) in &e.real_servers {
                Self::write_real_server(&mut out, vs, rs, *w, "-a");
            }
        }
        out
    }

    /// `ipvsadm -R` commands that turn `self` (the kernel's table) into `desired`: deleted
    /// services first, then edits, additions and removals of real servers. Empty when equal.
    pub fn diff_to(&self, desired: &IpvsTable) -> String {
        let mut out = String::new();
        for vs in self.services.keys().filter(|vs| !desired.services.contains_key(vs)) {
            let _ = writeln!(out, "-D {}", vs.arg());
        }
        for (vs, want) in &desired.services {
            let Some(have) = self.services.get(vs) else {
                Self::write_add_service(&mut out, vs, &want.options, "-A");
                for (rs, w) in &want.real_servers {
                    Self::write_real_server(&mut out, vs, rs, *w, "-a");
                }
                continue;
            };
            if have.options != want.options {
                Self::write_add_service(&mut out, vs, &want.options, "-E");
            }
            for rs in have.real_servers.keys().filter(|rs| !want.real_servers.contains_key(rs)) {
                let _ = writeln!(out, "-d {} -r {rs}", vs.arg());
            }
            for (rs, w) in &want.real_servers {
                match have.real_servers.get(rs) {
                    None => Self::write_real_server(&mut out, vs, rs, *w, "-a"),
                    Some(old) if old != w => Self::write_real_server(&mut out, vs, rs, *w, "-e"),
                    Some(_) => {}
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vs(s: &str) -> VirtualServer {
        VirtualServer { protocol: Protocol::Tcp, addr: s.parse().unwrap() }
    }

    #[test]
    fn parses_ipvsadm_save_output() {
        let saved = "-A -t 10.96.0.1:443 -s rr -p 10800\n\
                     -a -t 10.96.0.1:443 -r 192.168.0.2:6443 -m -w 1\n\
                     -A -u 10.96.0.10:53 -s lc\n\
                     -a -u 10.96.0.10:53 -r 10.244.0.5:53 -m -w 0\n\
                     -A -f 7 -s rr\n\
                     -a -f 7 -r 10.0.0.9:0 -g -w 1\n\
                     -A --sctp-service 10.96.0.11:38412 -s rr -p 60 -M 255.255.255.255\n";
        let t = IpvsTable::parse(saved).unwrap();
        assert_eq!(t.services.len(), 3);
        let api = &t.services[&vs("10.96.0.1:443")];
        assert_eq!(api.options, ServiceOptions { scheduler: "rr".into(), persistence: Some(10800) });
        assert_eq!(api.real_servers.get(&"192.168.0.2:6443".parse().unwrap()), Some(&1));
        let dns = VirtualServer { protocol: Protocol::Udp, addr: "10.96.0.10:53".parse().unwrap() };
        assert_eq!(t.services[&dns].real_servers.values().copied().collect::<Vec<_>>(), vec![0]);
        // Round trip through our own writer.
        assert_eq!(IpvsTable::parse(&t.to_restore()).unwrap(), t);
        assert!(IpvsTable::parse("-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1\n").is_err());
        assert!(IpvsTable::parse("-A -t 10.0.0.1 -s rr\n").is_err());
        assert!(IpvsTable::parse("-A -t 10.0.0.1:80 --frobnicate\n").is_err());
    }

    #[test]
    fn diff_touches_only_what_changed() {
        let have = IpvsTable::parse(
            "-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.244.0.1:8080 -m -w 1\n\
             -a -t 10.96.0.1:80 -r 10.244.0.2:8080 -m -w 1\n\
             -A -t 10.96.0.2:80 -s rr\n-a -t 10.96.0.2:80 -r 10.244.0.3:8080 -m -w 1\n\
             -A -t 10.96.0.3:80 -s rr\n",
        )
        .unwrap();
        let want = IpvsTable::parse(
            "-A -t 10.96.0.1:80 -s rr\n-a -t 10.96.0.1:80 -r 10.244.0.2:8080 -m -w 1\n\
             -a -t 10.96.0.1:80 -r 10.244.0.4:8080 -m -w 1\n\
             -A -t 10.96.0.3:80 -s rr -p 300\n-a -t 10.96.0.3:80 -r 10.244.0.9:80 -m -w 2\n\
             -A -t 10.96.0.5:80 -s rr\n",
        )
        .unwrap();
        assert_eq!(
            have.diff_to(&want),
            "-D -t 10.96.0.2:80\n\
             -d -t 10.96.0.1:80 -r 10.244.0.1:8080\n\
             -a -t 10.96.0.1:80 -r 10.244.0.4:8080 -m -w 1\n\
             -E -t 10.96.0.3:80 -s rr -p 300\n\
             -a -t 10.96.0.3:80 -r 10.244.0.9:80 -m -w 2\n\
             -A -t 10.96.0.5:80 -s rr\n"
        );
        assert_eq!(want.diff_to(&want), "");
        assert_eq!(apply(&have, &have.diff_to(&want)), want);
    }

    /// Interprets `ipvsadm -R` commands on a table, as the kernel would.
    fn apply(t: &IpvsTable, cmds: &str) -> IpvsTable {
        let mut t = t.clone();
        for line in cmds.lines() {
            let (cmd, rest) = line.split_at(2);
            match cmd {
                "-A" | "-E" => {
                    let one = IpvsTable::parse(&format!("-A{rest}\n")).unwrap();
                    let (vs, e) = one.services.into_iter().next().unwrap();
                    let real = t.services.get(&vs).map(|o| o.real_servers.clone()).unwrap_or_default();
                    assert_eq!(cmd == "-E", t.services.contains_key(&vs), "{line}");
                    t.services.insert(vs, ServiceEntry { options: e.options, real_servers: real });
                }
                "-D" => {
                    let vs = IpvsTable::parse(&format!("-A{rest} -s rr\n")).unwrap().services.into_keys().next();
                    assert!(t.services.remove(&vs.unwrap()).is_some(), "{line}");
                }
                "-a" | "-e" | "-d" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let vs = IpvsTable::parse(&format!("-A {} {} -s rr\n", words[0], words[1])).unwrap();
                    let vs = *vs.services.keys().next().unwrap();
                    let rs: SocketAddrV4 = words[3].parse().unwrap();
                    let entry = t.services.get_mut(&vs).unwrap();
                    let had = entry.real_servers.contains_key(&rs);
                    assert_eq!(cmd != "-a", had, "{line}");
                    if cmd == "-d" {
                        entry.real_servers.remove(&rs);
                    } else {
                        let w = words[words.len() - 1].parse().unwrap();
                        entry.real_servers.insert(rs, w);
                    }
                }
                other => panic!("unexpected command {other}"),
            }
        }
        t
    }

    fn arb_table() -> impl proptest::strategy::Strategy<Value = IpvsTable> {
        use proptest::prelude::*;
        let service =
            (0u8..6, any::<bool>(), prop::option::of(1u32..3), prop::collection::btree_map(0u8..6, 0u32..3, 0..4));
        prop::collection::vec(service, 0..6).prop_map(|services| {
            let mut t = IpvsTable::default();
            for (ip, udp, persistence, reals) in services {
                let vs = VirtualServer {
                    protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                    addr: SocketAddrV4::new([10, 96, 0, ip].into(), 80),
                };
                t.add_service(vs, ServiceOptions { scheduler: "rr".into(), persistence });
                for (r, w) in reals {
                    t.add_real_server(&vs, SocketAddrV4::new([10, 244, 0, r].into(), 8080), w);
                }
            }
            t
        })
    }

    proptest::proptest! {
        #[test]
        fn applying_the_diff_gives_the_desired_table(have in arb_table(), want in arb_table()) {
            proptest::prop_assert_eq!(apply(&have, &have.diff_to(&want)), want.clone());
            proptest::prop_assert_eq!(IpvsTable::parse(&want.to_restore()).unwrap(), want);
        }
    }
}
