//! Cluster DNS (the CoreDNS role): answers `<svc>.<ns>.svc.<zone>` A and
//! `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV queries from the Services and
//! EndpointSlices of the API, and `<a-b-c-d>.<ns>.pod.<zone>` A queries; refuses every
//! name outside the zone (it forwards nothing).
//!
//! Answers follow the Kubernetes DNS specification: a ClusterIP service resolves to its
//! cluster IP, a headless one to the addresses of its ready endpoints, an ExternalName one
//! to a CNAME; names in the zone that do not exist get NXDOMAIN; TTL 5 s (CoreDNS's
//! default for the kubernetes plugin).

mod server;

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub use server::{DnsServer, ServeError};

/// Seconds answers may be cached.
pub const TTL: u32 = 5;

/// A service as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceRecord {
    /// The cluster IP; `None` for a headless service.
    pub cluster_ip: Option<Ipv4Addr>,
    /// Addresses of the ready endpoints (headless services answer with these).
    pub endpoints: Vec<Ipv4Addr>,
    /// Named ports: (name, protocol in lower case, port).
    pub ports: Vec<(String, String, u16)>,
    /// `spec.externalName` of an ExternalName service.
    pub external_name: Option<String>,
}

/// Where the resolver looks services up.
pub trait Directory {
    /// The service `name` in `namespace`, if it exists.
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord>;
}

/// What a name in the zone denotes.
enum Target<'a> {
    Service { ns: &'a str, svc: &'a str },
    ServicePort { port: &'a str, proto: &'a str, ns: &'a str, svc: &'a str },
    Pod { ip: Ipv4Addr },
}

/// Splits `labels` (lower case, zone removed) into what they name.
fn classify<'a>(labels: &[&'a str]) -> Option<Target<'a>> {
    match labels {
        [svc, ns, "svc"] => Some(Target::Service { ns, svc }),
        [port, proto, svc, ns, "svc"] => {
            let port = port.strip_prefix('_')?;
            let proto = proto.strip_prefix('_')?;
            Some(Target::ServicePort { port, proto, ns, svc })
        }
        [dashed, _ns, "pod"] => Ipv4Addr::from_str(&dashed.replace('-', ".")).ok().map(|ip| Target::Pod { ip }),
        _ => None,
    }
}

/// Answers DNS queries for one cluster zone (`cluster.local`).
#[derive(Debug, Clone)]
pub struct Resolver {
    zone: Vec<String>,
}

impl Resolver {
    /// A resolver for `zone` (e.g. `cluster.local`).
    pub fn new(zone: &str) -> Self {
        Self { zone: zone.trim_end_matches('.').split('.').map(str::to_ascii_lowercase).collect() }
    }

    /// The response to a query (wire format in, wire format out); `None` when the bytes
    /// are not a DNS query (nothing is sent back).
    pub fn answer_bytes(&self, request: &[u8], dir: &dyn Directory) -> Option<Vec<u8>> {
        let req = Message::from_vec(request).ok()?;
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        self.answer(&req, dir).to_vec().ok()
    }

    /// The response to `req`.
    pub fn answer(&self, req: &Message, dir: &dyn Directory) -> Message {
        let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
        resp.metadata = Metadata::response_from_request(&req.metadata);
        resp.queries = req.queries.clone();
        let (code, answers, additionals) = match (req.metadata.op_code, req.queries.as_slice()) {
            (OpCode::Query, [q]) => self.lookup(q.name(), q.query_type(), dir),
            (OpCode::Query, _) => (ResponseCode::FormErr, Vec::new(), Vec::new()),
            _ => (ResponseCode::NotImp, Vec::new(), Vec::new()),
        };
        resp.metadata.authoritative = code != ResponseCode::Refused;
        resp.metadata.response_code = code;
        resp.answers = answers;
        resp.additionals = additionals;
        resp
    }

    fn lookup(&self, name: &Name, qtype: RecordType, dir: &dyn Directory) -> (ResponseCode, Vec<Record>, Vec<Record>) {
        let ascii = name.to_lowercase().to_ascii();
        let labels: Vec<&str> = ascii.trim_end_matches('.').split('.').collect();
        let Some(prefix_len) = labels.len().checked_sub(self.zone.len()) else {
            return (ResponseCode::Refused, Vec::new(), Vec::new());
        };
        if labels[prefix_len..].iter().zip(&self.zone).any(|(a, b)| a != b) {
            return (ResponseCode::Refused, Vec::new(), Vec::new());
        }
        let Some(target) = classify(&labels[..prefix_len]) else {
            return (ResponseCode::NXDomain, Vec::new(), Vec::new());
        };
        let a = |ip: Ipv4Addr| Record::from_rdata(name.clone(), TTL, RData::A(A(ip)));
        match target {
            Target::Pod { ip } => {
                (ResponseCode::NoError, if wants(qtype, RecordType::A) { vec![a(ip)] } else { vec![] }, vec![])
            }
            Target::Service { ns, svc } => {
                let Some(s) = dir.service(ns, svc) else { return (ResponseCode::NXDomain, vec![], vec![]) };
                if let Some(ext) = &s.external_name {
                    return match Name::from_ascii(format!("{}.", ext.trim_end_matches('.'))) {
                        Ok(target) => (
                            ResponseCode::NoError,
                            vec![Record::from_rdata(name.clone(), TTL, RData::CNAME(CNAME(target)))],
                            vec![],
                        ),
                        Err(_) => (ResponseCode::ServFail, vec![], vec![]),
                    };
                }
                if !wants(qtype, RecordType::A) {
                    return (ResponseCode::NoError, vec![], vec![]);
                }
                let ips = match s.cluster_ip {
                    Some(ip) => vec![ip],
                    None => s.endpoints.clone(),
                };
                (ResponseCode::NoError, ips.into_iter().map(a).collect(), vec![])
            }
            Target::ServicePort { port, proto, ns, svc } => {
                let Some(s) = dir.service(ns, svc) else { return (ResponseCode::NXDomain, vec![], vec![]) };
                let Some((_, _, number)) = s.ports.iter().find(|(n, p, _)| n == port && p == proto) else {
                    return (ResponseCode::NXDomain, vec![], vec![]);
                };
                if !wants(qtype, RecordType::SRV) {
                    return (ResponseCode::NoError, vec![], vec![]);
                }
                let Ok(host) = Name::from_ascii(format!("{svc}.{ns}.svc.{}.", self.zone.join("."))) else {
                    return (ResponseCode::ServFail, vec![], vec![]);
                };
                let srv = Record::from_rdata(name.clone(), TTL, RData::SRV(SRV::new(0, 100, *number, host.clone())));
                let extra = match s.cluster_ip {
                    Some(ip) => vec![Record::from_rdata(host, TTL, RData::A(A(ip)))],
                    None => Vec::new(),
                };
                (ResponseCode::NoError, vec![srv], extra)
            }
        }
    }
}

fn wants(qtype: RecordType, have: RecordType) -> bool {
    qtype == have || qtype == RecordType::ANY
}

#[cfg(test)]
mod tests;
