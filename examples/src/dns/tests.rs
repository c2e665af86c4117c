#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::*;

struct Fixed(HashMap<(&'static str, &'static str), ServiceRecord>);

impl Directory for Fixed {
    fn service(&self, namespace: &str, name: &str) -> Option<ServiceRecord> {
        self.0.iter().find(|((ns, n), _)| *ns == namespace && *n == name).map(|(_, s)| s.clone())
    }
}

fn dir() -> Fixed {
    let web = ServiceRecord {
        cluster_ip: Some(Ipv4Addr::new(10, 96, 0, 20)),
        endpoints: vec![],
        ports: vec![("http".into(), "tcp".into(), 80)],
        external_name: None,
    };
    let db = ServiceRecord {
        cluster_ip: None,
        endpoints: vec![Ipv4Addr::new(10, 88, 0, 5), Ipv4Addr::new(10, 88, 0, 6)],
        ports: vec![("pg".into(), "tcp".into(), 5432)],
        external_name: None,
    };
    let ext = ServiceRecord { external_name: Some("example.com".into()), ..ServiceRecord::default() };
    Fixed(HashMap::from([(("default", "web"), web), (("data", "db"), db), (("default", "ext"), ext)]))
}

fn ask(name: &str, qtype: RecordType) -> Message {
    let mut q = Message::new(7, MessageType::Query, OpCode::Query);
    q.queries.push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    // Through the wire format, as the server sees it.
    let bytes = Resolver::new("cluster.local").answer_bytes(&q.to_vec().unwrap(), &dir()).unwrap();
    let resp = Message::from_vec(&bytes).unwrap();
    assert_eq!(resp.metadata.id, 7);
    assert_eq!(resp.metadata.message_type, MessageType::Response);
    resp
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[test]
fn cluster_ip_and_headless_services() {
    let r = ask("web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(a_records(&r), [Ipv4Addr::new(10, 96, 0, 20)]);
    assert_eq!(r.answers[0].ttl, TTL);
    // Case does not matter.
    assert_eq!(a_records(&ask("WEB.Default.svc.Cluster.Local.", RecordType::A)), [Ipv4Addr::new(10, 96, 0, 20)]);
    let h = ask("db.data.svc.cluster.local.", RecordType::A);
    assert_eq!(a_records(&h), [Ipv4Addr::new(10, 88, 0, 5), Ipv4Addr::new(10, 88, 0, 6)]);
    // An existing name without that record type: NOERROR, no data.
    let aaaa = ask("web.default.svc.cluster.local.", RecordType::AAAA);
    assert_eq!((aaaa.metadata.response_code, aaaa.answers.len()), (ResponseCode::NoError, 0));
}

#[test]
fn srv_names_the_service_and_its_port() {
    let r = ask("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    let RData::SRV(srv) = &r.answers[0].data else { panic!("{r:?}") };
    assert_eq!((srv.port, srv.target.to_ascii().as_str()), (80, "web.default.svc.cluster.local."));
    let mut extra = r.clone();
    extra.answers = r.additionals.clone();
    assert_eq!(a_records(&extra), [Ipv4Addr::new(10, 96, 0, 20)]);
    let missing = ask("_grpc._tcp.web.default.svc.cluster.local.", RecordType::SRV);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn pods_external_names_unknown_and_foreign_names() {
    assert_eq!(a_records(&ask("10-88-0-9.default.pod.cluster.local.", RecordType::A)), [Ipv4Addr::new(10, 88, 0, 9)]);
    let ext = ask("ext.default.svc.cluster.local.", RecordType::A);
    let RData::CNAME(c) = &ext.answers[0].data else { panic!("{ext:?}") };
    assert_eq!(c.0.to_ascii(), "example.com.");
    assert_eq!(ask("nope.default.svc.cluster.local.", RecordType::A).metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ask("a.b.c.cluster.local.", RecordType::A).metadata.response_code, ResponseCode::NXDomain);
    // Nothing is forwarded: other zones are refused.
    let foreign = ask("example.com.", RecordType::A);
    assert_eq!(foreign.metadata.response_code, ResponseCode::Refused);
    assert!(!foreign.metadata.authoritative);
    assert_eq!(ask("local.", RecordType::A).metadata.response_code, ResponseCode::Refused);
}

#[test]
fn garbage_gets_no_answer() {
    assert!(Resolver::new("cluster.local").answer_bytes(b"\x01\x02", &dir()).is_none());
}
