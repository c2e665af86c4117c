//! iptables-restore loader, jump checker and packet walker.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::{Packet, TraceError, TraceResult, Verdict, ip_matches, tokenize_with};

const BUILTIN_TARGETS: &[&str] = &["ACCEPT", "DROP", "REJECT", "RETURN", "MARK", "DNAT", "SNAT", "MASQUERADE"];
const BUILTIN_CHAINS: &[&str] = &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    chains: BTreeMap<String, Vec<Vec<String>>>,
}

/// iptables state built by loading restore documents with `--noflush` semantics: a chain line
/// creates or flushes a chain, `-A` appends, `-X` deletes; chains not named are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IptablesState {
    tables: BTreeMap<String, Table>,
}

enum Flow {
    Continue,
    Return,
    Terminal,
}

struct Walk<'a> {
    table: &'a Table,
    pkt: Packet,
    src_local: bool,
    dst_local: bool,
    mark: u32,
    dnat: BTreeSet<SocketAddrV4>,
    verdict: Option<Verdict>,
}

impl IptablesState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `doc` into a fresh state.
    pub fn parse(doc: &str) -> Result<Self, TraceError> {
        let mut s = Self::new();
        s.apply(doc)?;
        Ok(s)
    }

    /// Applies a restore document on top of the current state.
    pub fn apply(&mut self, doc: &str) -> Result<(), TraceError> {
        let mut current: Option<String> = None;
        for (i, line) in doc.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || TraceError::Parse { line: n, text: line.to_string() };
            if let Some(t) = line.strip_prefix('*') {
                self.tables.entry(t.to_string()).or_default();
                current = Some(t.to_string());
                continue;
            }
            if line == "COMMIT" {
                current = None;
                continue;
            }
            let table_name = current.clone().ok_or_else(bad)?;
            let table = self.tables.entry(table_name).or_default();
            if let Some(rest) = line.strip_prefix(':') {
                let name = rest.split_whitespace().next().ok_or_else(bad)?;
                table.chains.insert(name.to_string(), Vec::new());
            } else if let Some(rest) = line.strip_prefix("-X ") {
                let name = rest.trim();
                if table.chains.remove(name).is_none() {
                    return Err(TraceError::Undefined { line: n, what: "chain", name: name.to_string() });
                }
            } else if line.starts_with("-A ") {
                let toks = tokenize_with(line, false);
                let chain = toks.get(1).ok_or_else(bad)?;
                let is_builtin = BUILTIN_CHAINS.contains(&chain.as_str());
                match table.chains.get_mut(chain.as_str()) {
                    Some(rules) => rules.push(toks[2..].to_vec()),
                    None if is_builtin => {
                        table.chains.insert(chain.clone(), vec![toks[2..].to_vec()]);
                    }
                    None => return Err(TraceError::Undefined { line: n, what: "chain", name: chain.clone() }),
                }
            } else {
                return Err(bad());
            }
        }
        Ok(())
    }

    /// Rules in a chain (tokens after `-A CHAIN`), if it exists.
    pub fn chain(&self, table: &str, chain: &str) -> Option<&[Vec<String>]> {
        self.tables.get(table)?.chains.get(chain).map(Vec::as_slice)
    }

    /// Names of the chains of a table.
    pub fn chains(&self, table: &str) -> Vec<&str> {
        self.tables.get(table).map(|t| t.chains.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    /// Number of rules in a table.
    pub fn rule_count(&self, table: &str) -> usize {
        self.tables.get(table).map(|t| t.chains.values().map(Vec::len).sum()).unwrap_or(0)
    }

    /// Fails if any `-j` targets a chain that does not exist, or if a service or endpoint
    /// chain that is jumped to has no rules.
    pub fn check_jumps(&self) -> Result<(), TraceError> {
        for (tname, table) in &self.tables {
            for (cname, rules) in &table.chains {
                for r in rules {
                    let Some(pos) = r.iter().position(|t| t == "-j") else { continue };
                    let Some(target) = r.get(pos + 1) else { continue };
                    if BUILTIN_TARGETS.contains(&target.as_str()) {
                        continue;
                    }
                    match table.chains.get(target) {
                        None => {
                            return Err(TraceError::DanglingJump {
                                table: tname.clone(),
                                from: cname.clone(),
                                to: target.clone(),
                            });
                        }
                        Some(t)
                            if t.is_empty()
                                && target.starts_with("KUBE-")
                                && target.len() > 12
                                && !target.starts_with("KUBE-MARK") =>
                        {
                            if ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"]
                                .iter()
                                .any(|p| target.starts_with(p))
                            {
                                return Err(TraceError::Invalid(format!(
                                    "{tname}: chain {cname} jumps to empty chain {target}"
                                )));
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Traces `pkt`; `local_addrs` are the node's addresses (127.0.0.0/8 is always local).
    ///
    /// Order: nat `KUBE-SERVICES` (from PREROUTING, or OUTPUT for local sources); if nothing
    /// DNATed the packet, the filter chains that would see it (`KUBE-PROXY-FIREWALL`,
    /// `KUBE-SERVICES`, and for non-local sources `KUBE-EXTERNAL-SERVICES` and, to local
    /// destinations, `KUBE-NODEPORTS`).
    pub fn trace(&self, pkt: &Packet, local_addrs: &[Ipv4Addr]) -> TraceResult {
        let is_local = |ip: Ipv4Addr| ip.is_loopback() || local_addrs.contains(&ip);
        let src_local = is_local(pkt.src);
        let dst_local = is_local(pkt.dst);
        let empty = Table::default();
        let nat = self.tables.get("nat").unwrap_or(&empty);
        let mut w = Walk { table: nat, pkt: *pkt, src_local, dst_local, mark: 0, dnat: BTreeSet::new(), verdict: None };
        w.run("KUBE-SERVICES", 0);
        let masquerade = w.mark != 0;
        if !w.dnat.is_empty() {
            return TraceResult { verdict: Verdict::Dnat(w.dnat.into_iter().collect()), masquerade };
        }
        let filter = self.tables.get("filter").unwrap_or(&empty);
        let mut chains = vec!["KUBE-PROXY-FIREWALL", "KUBE-SERVICES"];
        if !src_local {
            chains.push("KUBE-EXTERNAL-SERVICES");
            if dst_local {
                chains.push("KUBE-NODEPORTS");
            }
        }
        for c in chains {
            let mut f =
                Walk { table: filter, pkt: *pkt, src_local, dst_local, mark: 0, dnat: BTreeSet::new(), verdict: None };
            f.run(c, 0);
            if let Some(v) = f.verdict {
                return TraceResult { verdict: v, masquerade };
            }
        }
        TraceResult { verdict: Verdict::Untouched, masquerade }
    }
}

impl Walk<'_> {
    fn run(&mut self, chain: &str, depth: usize) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::Terminal;
        }
        let table = self.table;
        let Some(rules) = table.chains.get(chain) else { return Flow::Continue };
        for r in rules {
            let Some(probabilistic) = self.matches(r) else { continue };
            let flow = self.execute(r, depth);
            if probabilistic {
                continue;
            }
            match flow {
                Flow::Continue => {}
                Flow::Return => return Flow::Continue,
                Flow::Terminal => return Flow::Terminal,
            }
        }
        Flow::Continue
    }

    /// `None` if the rule does not match; `Some(probabilistic)` if it does.
    fn matches(&self, r: &[String]) -> Option<bool> {
        let mut probabilistic = false;
        let mut neg = false;
        let mut i = 0;
        while i < r.len() {
            let t = r[i].as_str();
            let arg = r.get(i + 1).map(String::as_str).unwrap_or("");
            let ok = match t {
                "!" => {
                    neg = true;
                    i += 1;
                    continue;
                }
                "-j" => break,
                "-m" | "--comment" | "--mode" | "--name" | "--seconds" => {
                    i += 2;
                    continue;
                }
                "--reap" | "--set" => {
                    i += 1;
                    continue;
                }
                "--rcheck" => false,
                "--probability" => {
                    probabilistic = true;
                    true
                }
                "-p" => arg == self.pkt.protocol.as_lower(),
                "-s" => ip_matches(arg, self.pkt.src),
                "-d" => ip_matches(arg, self.pkt.dst),
                "--dport" => arg.parse::<u16>().is_ok_and(|p| p == self.pkt.dport),
                "--dst-type" => arg == "LOCAL" && self.dst_local,
                "--src-type" => arg == "LOCAL" && self.src_local,
                "--ctstate" => arg.split(',').any(|s| s == "NEW"),
                "--mark" => {
                    let (v, m) = arg.split_once('/').unwrap_or((arg, "0xffffffff"));
                    match (parse_hex(v), parse_hex(m)) {
                        (Some(v), Some(m)) => self.mark & m == v,
                        _ => false,
                    }
                }
                _ => false,
            };
            if ok == neg {
                return None;
            }
            neg = false;
            i += if t == "--rcheck" { 1 } else { 2 };
        }
        Some(probabilistic)
    }

    fn execute(&mut self, r: &[String], depth: usize) -> Flow {
        let Some(pos) = r.iter().position(|t| t == "-j") else { return Flow::Continue };
        let target = r.get(pos + 1).map(String::as_str).unwrap_or("");
        let opt = |name: &str| r.iter().position(|t| t == name).and_then(|k| r.get(k + 1)).map(String::as_str);
        match target {
            "ACCEPT" => {
                self.verdict.get_or_insert(Verdict::Accept);
                Flow::Terminal
            }
            "DROP" => {
                self.verdict.get_or_insert(Verdict::Drop);
                Flow::Terminal
            }
            "REJECT" => {
                self.verdict.get_or_insert(Verdict::Reject);
                Flow::Terminal
            }
            "RETURN" => Flow::Return,
            "MARK" => {
                if let Some(v) = opt("--or-mark").and_then(parse_hex) {
                    self.mark |= v;
                } else if let Some(v) = opt("--xor-mark").and_then(parse_hex) {
                    self.mark ^= v;
                }
                Flow::Continue
            }
            "DNAT" => {
                if let Some(d) = opt("--to-destination").and_then(|d| d.parse().ok()) {
                    self.dnat.insert(d);
                }
                Flow::Terminal
            }
            "MASQUERADE" | "SNAT" => Flow::Terminal,
            chain => self.run(chain, depth + 1),
        }
    }
}

fn parse_hex(s: &str) -> Option<u32> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    u32::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment \"x has no endpoints\" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-1 - [0:0]\n:KUBE-SEP-2 - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n-A KUBE-SERVICES -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-A\n-A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-1\n-A KUBE-SVC-A -j KUBE-SEP-2\n-A KUBE-SEP-1 -s 10.180.0.1 -j KUBE-MARK-MASQ\n-A KUBE-SEP-1 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80\n-A KUBE-SEP-2 -s 10.180.0.2 -j KUBE-MARK-MASQ\n-A KUBE-SEP-2 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80\nCOMMIT\n";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn walks_probabilistic_jumps() {
        let s = IptablesState::parse(DOC).unwrap();
        s.check_jumps().unwrap();
        let r = s.trace(&Packet::tcp(ip("10.0.0.2"), ip("172.30.0.41"), 80), &[]);
        assert_eq!(r.output(), "10.180.0.1:80, 10.180.0.2:80");
        assert!(!r.masquerade);
        let r = s.trace(&Packet::tcp(ip("10.180.0.1"), ip("172.30.0.41"), 80), &[]);
        assert!(r.masquerade, "hairpin");
        assert_eq!(s.trace(&Packet::tcp(ip("10.0.0.2"), ip("172.30.0.46"), 80), &[]).output(), "REJECT");
        assert_eq!(s.trace(&Packet::tcp(ip("10.0.0.2"), ip("172.30.0.99"), 80), &[]).output(), "");
    }

    #[test]
    fn detects_dangling_jumps_and_bad_lines() {
        let doc = "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-SVC-MISSING\nCOMMIT\n";
        assert!(matches!(IptablesState::parse(doc).unwrap().check_jumps(), Err(TraceError::DanglingJump { .. })));
        assert!(matches!(IptablesState::parse("*nat\n-A NOPE -j ACCEPT\nCOMMIT\n"), Err(TraceError::Undefined { .. })));
        assert!(matches!(IptablesState::parse("*nat\ngarbage\n"), Err(TraceError::Parse { .. })));
        let mut s = IptablesState::parse(DOC).unwrap();
        s.apply("*nat\n:KUBE-SEP-2 - [0:0]\n-X KUBE-SEP-2\nCOMMIT\n").unwrap();
        assert!(s.check_jumps().is_err());
    }
}
