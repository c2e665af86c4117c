//! Chain, set and map names derived from service and endpoint identities.
//!
//! kube-proxy names its per-service objects with a truncated base32 (RFC 4648, standard
//! alphabet) encoding of a SHA-256 digest, so that names are short, stable across restarts and
//! practically unique:
//!
//! * iptables: `KUBE-SVC-` + 16 characters of `base32(sha256("ns/svc:port" + "tcp"))`, and the
//!   same for `KUBE-SVL-`, `KUBE-EXT-`, `KUBE-FW-`; endpoints use `KUBE-SEP-` + 16 characters of
//!   the digest of `"ns/svc:port" + "tcp" + "ip:port"`.
//! * nftables: a *base* `H8-ns/svc/tcp/port` where `H8` is 8 characters of the digest of the rest;
//!   endpoint bases append `__ip/port`.

use sha2::{Digest, Sha256};

/// Prefix of the chain holding the cluster-policy endpoints of a service port.
pub const SVC_PREFIX: &str = "KUBE-SVC-";
/// Prefix of the chain holding the local-policy endpoints of a service port.
pub const SVL_PREFIX: &str = "KUBE-SVL-";
/// Prefix of the chain handling external (NodePort, external IP, load-balancer) traffic.
pub const EXT_PREFIX: &str = "KUBE-EXT-";
/// Prefix of the chain implementing `loadBalancerSourceRanges`.
pub const FW_PREFIX: &str = "KUBE-FW-";
/// Prefix of the per-endpoint DNAT chain.
pub const SEP_PREFIX: &str = "KUBE-SEP-";

/// Longest nftables chain-name base before truncation (the name itself may hold 256 bytes).
pub const NFT_BASE_MAX: usize = 200;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Appends the first `n` characters of the standard base32 encoding of `data` to `out`.
///
/// `n` is clamped to the unpadded length of the encoding.
pub fn push_base32_prefix(out: &mut String, data: &[u8], n: usize) {
    let max = data.len() * 8 / 5 + usize::from(data.len() * 8 % 5 != 0);
    let n = n.min(max);
    for i in 0..n {
        let bit = i * 5;
        let byte = bit / 8;
        let shift = bit % 8;
        let hi = u16::from(data.get(byte).copied().unwrap_or(0));
        let lo = u16::from(data.get(byte + 1).copied().unwrap_or(0));
        let window = (hi << 8) | lo;
        let idx = (window >> (11 - shift)) & 0x1f;
        out.push(char::from(ALPHABET[usize::from(idx)]));
    }
}

/// Returns the first `n` base32 characters of `sha256(parts[0] + parts[1] + …)`.
pub fn hash_prefix(parts: &[&str], n: usize) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p.as_bytes());
    }
    let digest = hasher.finalize();
    let mut s = String::with_capacity(n);
    push_base32_prefix(&mut s, &digest, n);
    s
}

/// The 16-character hash shared by a service port's `KUBE-SVC/SVL/EXT/FW` chains.
///
/// `port_name` is the `ns/svc:port` string and `protocol` the lower-case protocol.
pub fn service_port_hash(port_name: &str, protocol: &str) -> String {
    hash_prefix(&[port_name, protocol], 16)
}

/// The `KUBE-SEP-…` chain of one endpoint (`endpoint` is `ip:port`).
pub fn endpoint_chain(port_name: &str, protocol: &str, endpoint: &str) -> String {
    let mut s = String::with_capacity(SEP_PREFIX.len() + 16);
    s.push_str(SEP_PREFIX);
    s.push_str(&hash_prefix(&[port_name, protocol, endpoint], 16));
    s
}

/// Builds `prefix + hash`.
pub fn prefixed(prefix: &str, hash: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + hash.len());
    s.push_str(prefix);
    s.push_str(hash);
    s
}

/// Prefixes `name` with 8 characters of its own hash and truncates it like upstream.
pub fn nft_hash_and_truncate(name: &str) -> String {
    let mut s = hash_prefix(&[name], 8);
    s.push('-');
    s.push_str(name);
    if s.len() > NFT_BASE_MAX {
        let mut cut = NFT_BASE_MAX - 3;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The nftables base name of a service port: `H8-ns/svc/proto/port`.
pub fn nft_service_base(namespace: &str, name: &str, protocol: &str, port_name: &str) -> String {
    let raw = format!("{namespace}/{name}/{protocol}/{port_name}");
    nft_hash_and_truncate(&raw)
}

/// The nftables base name of an endpoint: `H8-ns/svc/proto/port__ip/port`.
pub fn nft_endpoint_base(namespace: &str, name: &str, protocol: &str, port_name: &str, ip: &str, port: u16) -> String {
    // IPv6 addresses would need ':' escaped; only IPv4 is modelled, but keep the mapping.
    let ip: String = ip.chars().map(|c| if c == ':' { '.' } else { c }).collect();
    let raw = format!("{namespace}/{name}/{protocol}/{port_name}__{ip}/{port}");
    nft_hash_and_truncate(&raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        let cases: [(&str, &str); 6] = [
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (input, want) in cases {
            let mut s = String::new();
            push_base32_prefix(&mut s, input.as_bytes(), 100);
            assert_eq!(s, want, "{input}");
        }
    }

    #[test]
    fn iptables_vectors() {
        assert_eq!(prefixed(SVC_PREFIX, &service_port_hash("ns1/svc1:p80", "tcp")), "KUBE-SVC-XPGD46QRK7WJZT7O");
        assert_eq!(endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"), "KUBE-SEP-SXIVWICOYRO3J4NJ");
        assert_eq!(prefixed(SVC_PREFIX, &service_port_hash("ns2/svc2:p80", "tcp")), "KUBE-SVC-GNZBNJ2PO5MGZ6GT");
        assert_eq!(prefixed(FW_PREFIX, &service_port_hash("ns5/svc5:p80", "tcp")), "KUBE-FW-NUKIZ6OKUXPJNT4C");
        assert_eq!(endpoint_chain("ns4/svc4:p80", "tcp", "10.180.0.5:80"), "KUBE-SEP-C6EBXVWJJZMIWKLZ");
    }

    #[test]
    fn nftables_vectors() {
        assert_eq!(nft_service_base("ns1", "svc1", "tcp", "p80"), "ULMVA6XW-ns1/svc1/tcp/p80");
        assert_eq!(
            nft_endpoint_base("ns1", "svc1", "tcp", "p80", "10.180.0.1", 80),
            "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"
        );
        assert_eq!(nft_service_base("ns2", "svc2", "tcp", "p80"), "42NFTM6N-ns2/svc2/tcp/p80");
        assert_eq!(
            nft_endpoint_base("ns5", "svc5", "tcp", "p80", "10.180.0.3", 80),
            "GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80"
        );
    }

    #[test]
    fn nft_names_are_truncated() {
        let long = "x".repeat(300);
        let b = nft_hash_and_truncate(&long);
        assert_eq!(b.len(), NFT_BASE_MAX);
        assert!(b.ends_with("..."));
    }
}
