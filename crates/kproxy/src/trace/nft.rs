//! `nft -f` loader, reference checker and packet walker for the subset of nftables syntax
//! kube-proxy generates.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::{Packet, TraceError, TraceResult, Verdict, ip_matches, tokenize};

const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Chain {
    hook: Option<(String, String, i32)>,
    rules: Vec<Vec<String>>,
}

/// nftables state of one table built by applying transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftState {
    chains: BTreeMap<String, Chain>,
    /// Set or map name → key → verdict tokens (empty for sets).
    sets: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

enum Flow {
    Continue,
    Accept,
    Drop,
    Reject,
}

struct Walk<'a> {
    st: &'a NftState,
    pkt: Packet,
    local: &'a [Ipv4Addr],
    mark: u32,
    dnat: BTreeSet<SocketAddrV4>,
    masquerade: bool,
}

fn local(ip: Ipv4Addr, addrs: &[Ipv4Addr]) -> bool {
    ip.is_loopback() || addrs.contains(&ip)
}

impl NftState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one transaction into a fresh state.
    pub fn parse(doc: &str) -> Result<Self, TraceError> {
        let mut s = Self::new();
        s.apply(doc)?;
        Ok(s)
    }

    /// Applies a transaction (`add`/`flush`/`delete` of tables, chains, sets, maps, rules and
    /// elements) on top of the current state.
    pub fn apply(&mut self, doc: &str) -> Result<(), TraceError> {
        for (i, line) in doc.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || TraceError::Parse { line: n, text: line.to_string() };
            let toks = tokenize(line);
            if toks.len() < 3 {
                return Err(bad());
            }
            let verb = toks[0].as_str();
            let kind = toks[1].as_str();
            if kind == "table" {
                if verb == "delete" {
                    *self = Self::new();
                }
                continue;
            }
            // toks: verb kind family table name …
            let name = toks.get(4).ok_or_else(bad)?.clone();
            let undefined = |what: &'static str| TraceError::Undefined { line: n, what, name: name.clone() };
            match (verb, kind) {
                ("add", "chain") => {
                    let hook = if toks.get(5).map(String::as_str) == Some("{")
                        && toks.get(6).map(String::as_str) == Some("type")
                    {
                        let t = toks.get(7).cloned().unwrap_or_default();
                        let h = toks.get(9).cloned().unwrap_or_default();
                        let p = toks.get(11).and_then(|p| p.parse().ok()).unwrap_or(0);
                        Some((t, h, p))
                    } else {
                        None
                    };
                    let c = self.chains.entry(name).or_default();
                    if hook.is_some() {
                        c.hook = hook;
                    }
                }
                ("flush", "chain") => self.chains.get_mut(&name).ok_or_else(|| undefined("chain"))?.rules.clear(),
                ("delete", "chain") => {
                    self.chains.remove(&name).ok_or_else(|| undefined("chain"))?;
                }
                ("add", "rule") => {
                    let c = self.chains.get_mut(&name).ok_or_else(|| undefined("chain"))?;
                    c.rules.push(toks[5..].to_vec());
                }
                ("add", "set" | "map") => {
                    self.sets.entry(name).or_default();
                }
                ("flush", "set" | "map") => self.sets.get_mut(&name).ok_or_else(|| undefined("set"))?.clear(),
                ("delete", "set" | "map") => {
                    self.sets.remove(&name).ok_or_else(|| undefined("set"))?;
                }
                ("add" | "delete", "element") => {
                    let set = self.sets.get_mut(&name).ok_or_else(|| undefined("set"))?;
                    let inner: Vec<&String> = toks[5..].iter().filter(|t| *t != "{" && *t != "}").collect();
                    let colon = inner.iter().position(|t| *t == ":");
                    let key_end = inner.iter().position(|t| *t == "comment").or(colon).unwrap_or(inner.len());
                    let key = inner[..key_end].iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                    let value: Vec<String> =
                        colon.map(|c| inner[c + 1..].iter().map(|s| (*s).clone()).collect()).unwrap_or_default();
                    if verb == "add" {
                        set.insert(key, value);
                    } else if set.remove(&key).is_none() {
                        return Err(TraceError::Undefined { line: n, what: "element", name: key });
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(())
    }

    /// Rules of a chain, if it exists.
    pub fn chain(&self, name: &str) -> Option<&[Vec<String>]> {
        self.chains.get(name).map(|c| c.rules.as_slice())
    }

    /// All chain names.
    pub fn chain_names(&self) -> Vec<&str> {
        self.chains.keys().map(String::as_str).collect()
    }

    /// Elements of a set or map (key → verdict text).
    pub fn elements(&self, set: &str) -> Vec<(String, String)> {
        self.sets.get(set).map(|m| m.iter().map(|(k, v)| (k.clone(), v.join(" "))).collect()).unwrap_or_default()
    }

    /// Fails if a rule or map element jumps/goes to a missing chain, or uses a missing set.
    pub fn check_jumps(&self) -> Result<(), TraceError> {
        let check_target = |from: &str, toks: &[String]| -> Result<(), TraceError> {
            for (i, t) in toks.iter().enumerate() {
                if t == "jump" || t == "goto" {
                    if let Some(target) = toks.get(i + 1) {
                        if !self.chains.contains_key(target) {
                            return Err(TraceError::DanglingJump {
                                table: "ip kube-proxy".into(),
                                from: from.into(),
                                to: target.clone(),
                            });
                        }
                    }
                }
                if let Some(set) = t.strip_prefix('@') {
                    if !self.sets.contains_key(set) {
                        return Err(TraceError::Undefined { line: 0, what: "set", name: set.to_string() });
                    }
                }
            }
            Ok(())
        };
        for (name, c) in &self.chains {
            for r in &c.rules {
                check_target(name, r)?;
            }
        }
        for (name, set) in &self.sets {
            for v in set.values() {
                check_target(name, v)?;
            }
        }
        Ok(())
    }

    /// Traces `pkt` through the base chains in hook and priority order: prerouting then
    /// input/forward for remote sources, output for local ones, then postrouting (masquerade).
    /// The destination seen after the nat hook is the DNATed one.
    pub fn trace(&self, pkt: &Packet, local_addrs: &[Ipv4Addr]) -> TraceResult {
        let mut w = Walk { st: self, pkt: *pkt, local: local_addrs, mark: 0, dnat: BTreeSet::new(), masquerade: false };
        let first = if local(pkt.src, local_addrs) { "output" } else { "prerouting" };
        let mut verdict = None;
        if let Some(v) = w.hook(first) {
            verdict = Some(v);
        }
        if verdict.is_none() && first == "prerouting" {
            // After DNAT the packet is routed by its new destination.
            let after_dst = w.dnat.iter().next().map(|d| *d.ip()).unwrap_or(pkt.dst);
            let second = if local(after_dst, local_addrs) { "input" } else { "forward" };
            let saved = w.pkt;
            w.pkt.dst = after_dst;
            verdict = w.hook(second);
            w.pkt = saved;
        }
        if verdict.is_none() && !w.dnat.is_empty() {
            w.hook("postrouting");
        }
        let verdict = match verdict {
            Some(v) => v,
            None if !w.dnat.is_empty() => Verdict::Dnat(w.dnat.iter().copied().collect()),
            None => Verdict::Untouched,
        };
        TraceResult { verdict, masquerade: w.masquerade || w.mark != 0 }
    }
}

impl Walk<'_> {
    /// Runs every base chain on `hook` in priority order; returns a final drop/reject.
    fn hook(&mut self, hook: &str) -> Option<Verdict> {
        let mut bases: Vec<(&String, i32)> = self
            .st
            .chains
            .iter()
            .filter_map(|(n, c)| c.hook.as_ref().filter(|h| h.1 == hook).map(|h| (n, h.2)))
            .collect();
        bases.sort_by_key(|b| b.1);
        for (name, _) in bases {
            // Chains after the DNAT (higher priority, later hooks) see the new destination.
            let saved = self.pkt;
            if let Some(d) = self.dnat.iter().next() {
                self.pkt.dst = *d.ip();
            }
            let flow = self.run(name, 0);
            self.pkt = saved;
            match flow {
                Flow::Drop => return Some(Verdict::Drop),
                Flow::Reject => return Some(Verdict::Reject),
                Flow::Accept | Flow::Continue => {}
            }
        }
        None
    }

    fn run(&mut self, chain: &str, depth: usize) -> Flow {
        if depth > MAX_DEPTH {
            return Flow::Drop;
        }
        let st = self.st;
        let Some(c) = st.chains.get(chain) else { return Flow::Continue };
        for r in &c.rules {
            match self.rule(r, depth) {
                Some(Step::Next) | None => {}
                Some(Step::Return) => return Flow::Continue,
                Some(Step::Done(f)) => return f,
            }
        }
        Flow::Continue
    }

    fn verdict(&mut self, toks: &[String], depth: usize) -> Step {
        match toks.first().map(String::as_str) {
            Some("jump") => match self.run(toks.get(1).map(String::as_str).unwrap_or(""), depth + 1) {
                Flow::Continue => Step::Next,
                f => Step::Done(f),
            },
            Some("goto") => match self.run(toks.get(1).map(String::as_str).unwrap_or(""), depth + 1) {
                Flow::Continue => Step::Return,
                f => Step::Done(f),
            },
            Some("drop") => Step::Done(Flow::Drop),
            Some("reject") => Step::Done(Flow::Reject),
            Some("accept") => Step::Done(Flow::Accept),
            Some("return") => Step::Return,
            _ => Step::Next,
        }
    }

    fn lookup_key(&self, parts: &[&str]) -> String {
        let mut k = Vec::new();
        for p in parts {
            k.push(match *p {
                "daddr" => self.pkt.dst.to_string(),
                "l4proto" => self.pkt.protocol.as_lower().to_string(),
                "dport" => self.pkt.dport.to_string(),
                other => other.to_string(),
            });
        }
        k.join(" . ")
    }

    /// Evaluates one rule: `None` if it does not match.
    fn rule(&mut self, r: &[String], depth: usize) -> Option<Step> {
        let mut i = 0;
        while i < r.len() {
            let t = r[i].as_str();
            let at = |k: usize| r.get(i + k).map(String::as_str).unwrap_or("");
            match t {
                "comment" => i += 2,
                "ct" => i += 3, // ct state new: traced packets are new
                "ip" => {
                    let field = at(1);
                    let addr = if field == "saddr" { self.pkt.src } else { self.pkt.dst };
                    if at(2) == "." {
                        // ip daddr . meta l4proto . th dport vmap @map
                        let map = at(9).trim_start_matches('@');
                        let key = self.lookup_key(&[field, "l4proto", "dport"]);
                        return self.vmap(map, &key, depth);
                    }
                    let (neg, mut j) = if at(2) == "!=" { (true, 3) } else { (false, 2) };
                    let spec = at(j);
                    let hit = if spec == "{" {
                        let mut hit = false;
                        j += 1;
                        while at(j) != "}" && i + j < r.len() {
                            if at(j) != "," {
                                hit |= ip_matches(at(j), addr);
                            }
                            j += 1;
                        }
                        hit
                    } else if let Some(set) = spec.strip_prefix('@') {
                        self.st.sets.get(set).is_some_and(|s| s.contains_key(&addr.to_string()))
                    } else {
                        ip_matches(spec, addr)
                    };
                    if hit == neg {
                        return None;
                    }
                    i += j + 1;
                }
                "meta" if at(1) == "l4proto" && at(2) == "." => {
                    let map = at(6).trim_start_matches('@');
                    let key = self.lookup_key(&["l4proto", "dport"]);
                    return self.vmap(map, &key, depth);
                }
                "meta" => {
                    if at(2) != self.pkt.protocol.as_lower() {
                        return None;
                    }
                    i += 3;
                }
                "tcp" | "udp" | "sctp" | "th" if at(1) == "dport" => {
                    if (t != "th" && t != self.pkt.protocol.as_lower())
                        || at(2).parse::<u16>().ok() != Some(self.pkt.dport)
                    {
                        return None;
                    }
                    i += 3;
                }
                "fib" => {
                    let addr = if at(1) == "saddr" { self.pkt.src } else { self.pkt.dst };
                    if !local(addr, self.local) {
                        return None;
                    }
                    i += 4;
                }
                "mark" if at(1) == "and" => {
                    let m = parse_hex(at(2)).unwrap_or(0);
                    let v = parse_hex(at(4)).unwrap_or(0);
                    let hit = if at(3) == "==" { self.mark & m == v } else { self.mark & m != v };
                    if !hit {
                        return None;
                    }
                    i += 5;
                }
                "mark" if at(1) == "set" => {
                    // mark set mark or|xor VALUE
                    let v = parse_hex(at(4)).unwrap_or(0);
                    match at(3) {
                        "or" => self.mark |= v,
                        "xor" => self.mark ^= v,
                        _ => {}
                    }
                    i += 5;
                }
                "numgen" => {
                    // numgen random mod N vmap { k : goto X , … }: try every branch.
                    let mut any = false;
                    let mut j = i + 6;
                    while j < r.len() {
                        if (r[j] == "goto" || r[j] == "jump") && j + 1 < r.len() {
                            let f = self.run(&r[j + 1], depth + 1);
                            any = true;
                            if let Flow::Drop | Flow::Reject = f {
                                return Some(Step::Done(f));
                            }
                        }
                        j += 1;
                    }
                    return Some(if any && !self.dnat.is_empty() { Step::Done(Flow::Accept) } else { Step::Return });
                }
                "update" => {
                    // update @set { ip saddr }: affinity bookkeeping, no effect on the trace.
                    i += 1;
                    while i < r.len() && r[i] != "}" {
                        i += 1;
                    }
                    i += 1;
                }
                "dnat" => {
                    if let Ok(d) = at(2).parse() {
                        self.dnat.insert(d);
                    }
                    return Some(Step::Done(Flow::Accept));
                }
                "masquerade" => {
                    self.masquerade = true;
                    return Some(Step::Done(Flow::Accept));
                }
                "jump" | "goto" | "drop" | "reject" | "accept" | "return" => return Some(self.verdict(&r[i..], depth)),
                _ => return None,
            }
        }
        Some(Step::Next)
    }

    fn vmap(&mut self, map: &str, key: &str, depth: usize) -> Option<Step> {
        let v = self.st.sets.get(map)?.get(key)?.clone();
        Some(self.verdict(&v, depth))
    }
}

enum Step {
    Next,
    Return,
    Done(Flow),
}

fn parse_hex(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_checks() {
        let doc = "add table ip kube-proxy\nadd chain ip kube-proxy a\nadd map ip kube-proxy m { type inet_proto . inet_service : verdict ; }\nadd element ip kube-proxy m { tcp . 80 : goto b }\n";
        let s = NftState::parse(doc).unwrap();
        assert!(matches!(s.check_jumps(), Err(TraceError::DanglingJump { .. })));
        assert!(matches!(NftState::parse("add rule ip kube-proxy nope drop\n"), Err(TraceError::Undefined { .. })));
        assert!(matches!(NftState::parse("frobnicate ip kube-proxy x\n"), Err(TraceError::Parse { .. })));
        let mut s = NftState::parse("add chain ip kube-proxy a\n").unwrap();
        assert!(s.apply("delete element ip kube-proxy a { 1 }\n").is_err());
    }
}
