//! A packet tracer over generated rules, in the spirit of upstream's `tracePacket` test helper.
//!
//! [`IptablesState`] and [`NftState`] load documents (several in a row, to follow partial
//! syncs) with the semantics of `iptables-restore --noflush` and `nft -f`, check that every
//! jump targets a defined chain, and walk a [`Packet`] through the hooks kube-proxy uses.
//! Probabilistic choices (`-m statistic`, `numgen random`) are expanded: every endpoint that
//! could be chosen is collected. Session-affinity lookups never match (no recorded clients).

mod ipt;
mod nft;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

pub use ipt::IptablesState;
pub use nft::NftState;

use crate::model::Protocol;

/// Errors loading or checking documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A line the loader does not understand.
    #[error("line {line}: cannot parse {text:?}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A rule appended to, or an object used from, an undefined chain, set or map.
    #[error("line {line}: {what} {name:?} is not defined")]
    Undefined {
        /// 1-based line number (0 when found by a consistency check).
        line: usize,
        /// `chain`, `set` or `map`.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A jump or goto to a chain that does not exist.
    #[error("{table}: chain {from} jumps to undefined chain {to}")]
    DanglingJump {
        /// Table (`nat`, `filter`, or the nftables table).
        table: String,
        /// Source chain (or map name).
        from: String,
        /// Missing target.
        to: String,
    },
    /// A chain referenced by a rule was deleted.
    #[error("{0}")]
    Invalid(String),
}

/// A packet to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol.
    pub protocol: Protocol,
    /// Destination port.
    pub dport: u16,
}

impl Packet {
    /// A TCP packet.
    pub fn tcp(src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> Self {
        Packet { src, dst, protocol: Protocol::Tcp, dport }
    }

    /// The same packet with another protocol.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }
}

/// Final disposition of a traced packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not touched by kube-proxy.
    Untouched,
    /// DNATed to one of these endpoints.
    Dnat(Vec<SocketAddrV4>),
    /// Accepted (e.g. a health-check NodePort).
    Accept,
    /// Dropped.
    Drop,
    /// Rejected.
    Reject,
}

/// Outcome of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceResult {
    /// What happened.
    pub verdict: Verdict,
    /// Whether the packet was marked for masquerade.
    pub masquerade: bool,
}

impl TraceResult {
    /// Upstream's output format: `"ip:port, ip:port"`, `"DROP"`, `"REJECT"`, `"ACCEPT"` or `""`.
    pub fn output(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Untouched => Ok(()),
            Verdict::Accept => f.write_str("ACCEPT"),
            Verdict::Drop => f.write_str("DROP"),
            Verdict::Reject => f.write_str("REJECT"),
            Verdict::Dnat(eps) => {
                for (i, e) in eps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Splits a rule into tokens: whitespace-separated, double-quoted strings kept whole (without
/// quotes), `{`, `}` and `,` as their own tokens.
pub(crate) fn tokenize(s: &str) -> Vec<String> {
    tokenize_with(s, true)
}

/// Like [`tokenize`]; with `punct` false, `{`, `}` and `,` are ordinary characters (iptables).
pub(crate) fn tokenize_with(s: &str, punct: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
                out.push(std::mem::take(&mut cur));
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '{' | '}' | ',' if punct => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `ip` matches `spec`: an address or a CIDR.
pub(crate) fn ip_matches(spec: &str, ip: Ipv4Addr) -> bool {
    if spec.contains('/') {
        crate::model::Cidr::parse(spec).is_ok_and(|c| c.contains(ip))
    } else {
        spec.parse::<Ipv4Addr>().is_ok_and(|a| a == ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_handles_quotes_and_braces() {
        assert_eq!(
            tokenize(r#"-A X -m comment --comment "a b" -j Y"#),
            vec!["-A", "X", "-m", "comment", "--comment", "a b", "-j", "Y"]
        );
        assert_eq!(
            tokenize("vmap { 0 : goto a , 1 : goto b }"),
            vec!["vmap", "{", "0", ":", "goto", "a", ",", "1", ":", "goto", "b", "}"]
        );
    }

    #[test]
    fn output_format() {
        let r = TraceResult {
            verdict: Verdict::Dnat(vec!["10.180.0.1:80".parse().unwrap(), "10.180.0.2:80".parse().unwrap()]),
            masquerade: false,
        };
        assert_eq!(r.output(), "10.180.0.1:80, 10.180.0.2:80");
        assert_eq!(TraceResult { verdict: Verdict::Untouched, masquerade: false }.output(), "");
    }
}
