//! kproxy: the pure core of a kube-proxy. It turns Services and EndpointSlices into
//! kube-proxy's packet-forwarding rules, without root, sockets or kernel calls.
//!
//! Render a ClusterIP service as an `iptables-restore` document and trace a packet through it:
//!
//! ```
//! use std::time::Duration;
//! use kproxy::model::{Cidr, Endpoint, NamespacedName, Protocol, ProxyConfig, ServicePortInfo, ServicePortName};
//! use kproxy::convert::{SliceAddress, SliceEndpoints, SlicePort};
//! use kproxy::trace::{IptablesState, Packet};
//! use kproxy::tracker::{Mode, Proxier};
//!
//! let mut cfg = ProxyConfig::new("node-a");
//! cfg.node_ips = vec!["192.168.0.2".parse()?];
//! cfg.cluster_cidr = Some(Cidr::parse("10.0.0.0/8")?);
//!
//! let name = NamespacedName::new("ns1", "svc1");
//! let port = ServicePortInfo::new(
//!     ServicePortName::new("ns1", "svc1", "p80"), Protocol::Tcp, "172.30.0.41".parse()?, 80);
//! let mut proxier = Proxier::new(cfg.clone(), Mode::Iptables)?;
//! proxier.set_service(name.clone(), vec![port])?;
//! proxier.set_slice(SliceEndpoints {
//!     service: name,
//!     slice_name: "svc1-abc".into(),
//!     ports: vec![SlicePort { name: "p80".into(), port: 80, protocol: Protocol::Tcp }],
//!     addresses: vec![SliceAddress {
//!         ip: "10.180.0.1".parse()?, conditions: Default::default(), node_name: None, zone: None }],
//! });
//!
//! let sync = proxier.sync(Duration::ZERO)?;
//! assert!(sync.full);
//! assert!(sync.document.contains(":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]"));
//!
//! let rules = IptablesState::parse(sync.document)?;
//! rules.check_jumps()?;
//! let packet = Packet::tcp("10.0.0.2".parse()?, "172.30.0.41".parse()?, 80);
//! let result = rules.trace(&packet, &cfg.node_ips);
//! assert_eq!(result.output(), "10.180.0.1:80");
//! assert!(!result.masquerade);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules:
//! * [`model`]: input types, traffic-policy endpoint selection; [`convert`]: from
//!   `core/v1 Service` and `discovery/v1 EndpointSlice`.
//! * [`names`]: hashed chain names; [`prep`]: per-service derived data computed once.
//! * [`iptables`], [`nftables`], [`ipvs`]: renderers.
//! * [`tracker`]: change tracking and full/partial syncs (KEP-3453), conntrack cleanup hints.
//! * [`trace`]: document loaders, jump checkers and packet tracers for tests and debugging.
//! * `agent` (feature `agent`, on by default): the node agent that watches the API server and
//!   applies the rules with `iptables-restore`, `nft` and `conntrack`.
//!
//! Only IPv4 is modelled (kube-proxy runs one proxier per IP family).

#[cfg(feature = "agent")]
pub mod agent;
pub mod convert;
pub mod iptables;
pub mod ipvs;
pub mod model;
pub mod names;
pub mod nftables;
pub mod prep;
pub mod trace;
pub mod tracker;

/// Re-export of the Kubernetes API types used by [`convert`].
pub use kapi::k8s;
