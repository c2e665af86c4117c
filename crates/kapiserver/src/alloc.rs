//! Service ClusterIP and NodePort allocation from `--service-cluster-ip-range` and
//! `--service-node-port-range`.
//!
//! The taken set is what the services watch cache shows plus what this process handed
//! out recently (the cache may not have seen a just-created service yet). One API server
//! per store is assumed; several would need the allocation bitmap in the store, as
//! upstream keeps it.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// Why a range or an allocation is bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// The CIDR text does not parse or is not IPv4.
    #[error("invalid service CIDR {0:?}: want an IPv4 CIDR such as 10.96.0.0/12")]
    Cidr(String),
    /// The port range text does not parse.
    #[error("invalid node port range {0:?}: want FROM-TO such as 30000-32767")]
    PortRange(String),
    /// Nothing free.
    #[error("range is full")]
    Full,
    /// A requested value is outside the range.
    #[error("provided {what} {value} is not in the valid range {range}")]
    OutOfRange {
        /// "IP" or "port".
        what: &'static str,
        /// The value.
        value: String,
        /// The range.
        range: String,
    },
    /// A requested value is taken.
    #[error("provided {what} {value} is already allocated")]
    Taken {
        /// "IP" or "port".
        what: &'static str,
        /// The value.
        value: String,
    },
}

/// How long a handed-out value stays reserved before the cache must show it.
const RESERVATION: Duration = Duration::from_secs(60);

/// Allocates service IPs and node ports.
#[derive(Debug)]
pub struct ServiceAllocator {
    network: u32,
    prefix: u8,
    ports: RangeInclusive<u16>,
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    ips: HashMap<u32, Instant>,
    ports: HashMap<u16, Instant>,
}

impl ServiceAllocator {
    /// Parses `10.96.0.0/12` and `30000-32767`.
    pub fn new(cidr: &str, ports: &str) -> Result<Self, AllocError> {
        let (addr, len) = cidr.split_once('/').ok_or_else(|| AllocError::Cidr(cidr.into()))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| AllocError::Cidr(cidr.into()))?;
        let prefix: u8 =
            len.parse().ok().filter(|p| (8..=30).contains(p)).ok_or_else(|| AllocError::Cidr(cidr.into()))?;
        let mask = u32::MAX << (32 - prefix);
        let (from, to) = ports.split_once('-').ok_or_else(|| AllocError::PortRange(ports.into()))?;
        let from: u16 = from.trim().parse().map_err(|_| AllocError::PortRange(ports.into()))?;
        let to: u16 = to.trim().parse().map_err(|_| AllocError::PortRange(ports.into()))?;
        if from == 0 || from > to {
            return Err(AllocError::PortRange(ports.into()));
        }
        Ok(Self { network: u32::from(addr) & mask, prefix, ports: from..=to, recent: Mutex::new(Recent::default()) })
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The first usable address, reserved for the `kubernetes` Service.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    /// The CIDR.
    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }

    fn contains(&self, ip: u32) -> bool {
        ip > self.network && ip < self.network + self.size() - 1
    }

    /// Allocates `wanted` (if given) or a random free IP; `taken` is what existing services use.
    pub fn allocate_ip(&self, wanted: Option<&str>, taken: &HashSet<String>) -> Result<Ipv4Addr, AllocError> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.ips.retain(|_, at| at.elapsed() < RESERVATION);
        let used =
            |ip: u32, recent: &Recent| taken.contains(&Ipv4Addr::from(ip).to_string()) || recent.ips.contains_key(&ip);
        if let Some(w) = wanted {
            let ip: Ipv4Addr =
                w.parse().map_err(|_| AllocError::OutOfRange { what: "IP", value: w.into(), range: self.cidr() })?;
            let n = u32::from(ip);
            if !self.contains(n) {
                return Err(AllocError::OutOfRange { what: "IP", value: w.into(), range: self.cidr() });
            }
            if used(n, &recent) {
                return Err(AllocError::Taken { what: "IP", value: w.into() });
            }
            recent.ips.insert(n, Instant::now());
            return Ok(ip);
        }
        // Random probing, then a sweep, so small ranges still fill completely. The first
        // address is left for the `kubernetes` Service.
        let usable = self.size().saturating_sub(3);
        let mut rng = rand::rng();
        for _ in 0..64 {
            let n = self.network + 2 + rng.random_range(0..usable.max(1));
            if self.contains(n) && !used(n, &recent) {
                recent.ips.insert(n, Instant::now());
                return Ok(Ipv4Addr::from(n));
            }
        }
        for n in self.network + 2..self.network + self.size() - 1 {
            if !used(n, &recent) {
                recent.ips.insert(n, Instant::now());
                return Ok(Ipv4Addr::from(n));
            }
        }
        Err(AllocError::Full)
    }

    /// Allocates `wanted` (if non-zero) or a random free node port.
    pub fn allocate_port(&self, wanted: u16, taken: &HashSet<u16>) -> Result<u16, AllocError> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.ports.retain(|_, at| at.elapsed() < RESERVATION);
        let range = format!("{}-{}", self.ports.start(), self.ports.end());
        if wanted != 0 {
            if !self.ports.contains(&wanted) {
                return Err(AllocError::OutOfRange { what: "port", value: wanted.to_string(), range });
            }
            if taken.contains(&wanted) || recent.ports.contains_key(&wanted) {
                return Err(AllocError::Taken { what: "port", value: wanted.to_string() });
            }
            recent.ports.insert(wanted, Instant::now());
            return Ok(wanted);
        }
        let mut rng = rand::rng();
        for _ in 0..64 {
            let p = rng.random_range(self.ports.clone());
            if !taken.contains(&p) && !recent.ports.contains_key(&p) {
                recent.ports.insert(p, Instant::now());
                return Ok(p);
            }
        }
        for p in self.ports.clone() {
            if !taken.contains(&p) && !recent.ports.contains_key(&p) {
                recent.ports.insert(p, Instant::now());
                return Ok(p);
            }
        }
        Err(AllocError::Full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_rejects_garbage() {
        let a = ServiceAllocator::new("10.96.0.0/12", "30000-32767").unwrap();
        assert_eq!(a.first_ip().to_string(), "10.96.0.1");
        assert!(ServiceAllocator::new("10.96.0.0", "30000-32767").is_err());
        assert!(ServiceAllocator::new("10.96.0.0/12", "32767-30000").is_err());
        assert!(ServiceAllocator::new("fd00::/64", "1-2").is_err());
    }

    #[test]
    fn a_small_range_fills_up_without_duplicates() {
        let a = ServiceAllocator::new("10.0.0.0/29", "30000-30002").unwrap();
        let mut seen = HashSet::new();
        // /29: 8 addresses minus network, broadcast and the reserved first one.
        for _ in 0..5 {
            let ip = a.allocate_ip(None, &HashSet::new()).unwrap();
            assert!(seen.insert(ip), "duplicate {ip}");
            assert_ne!(ip, a.first_ip());
        }
        assert_eq!(a.allocate_ip(None, &HashSet::new()), Err(AllocError::Full));
        let mut ports = HashSet::new();
        for _ in 0..3 {
            assert!(ports.insert(a.allocate_port(0, &HashSet::new()).unwrap()));
        }
        assert_eq!(a.allocate_port(0, &HashSet::new()), Err(AllocError::Full));
    }

    #[test]
    fn requested_values_are_checked() {
        let a = ServiceAllocator::new("10.0.0.0/24", "30000-30010").unwrap();
        let taken: HashSet<String> = ["10.0.0.5".to_owned()].into();
        assert!(matches!(a.allocate_ip(Some("10.0.0.5"), &taken), Err(AllocError::Taken { .. })));
        assert!(matches!(a.allocate_ip(Some("10.0.1.5"), &taken), Err(AllocError::OutOfRange { .. })));
        assert_eq!(a.allocate_ip(Some("10.0.0.1"), &taken).unwrap().to_string(), "10.0.0.1");
        assert!(matches!(a.allocate_port(29999, &HashSet::new()), Err(AllocError::OutOfRange { .. })));
        assert_eq!(a.allocate_port(30005, &HashSet::new()).unwrap(), 30005);
    }
}
