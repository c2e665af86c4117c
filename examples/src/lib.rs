//! What the kcluster binaries share, so each binary stays flag parsing and composition.
//!
//! ```
//! use kcluster::flags::{parse_initial_cluster, parse_urls};
//!
//! let peers = parse_initial_cluster("s1=http://127.0.0.1:2380,s2=http://127.0.0.1:2381")?;
//! assert_eq!(peers.len(), 2);
//! assert_eq!(peers[0].0, "s1");
//! let clients = parse_urls("http://127.0.0.1:2379")?;
//! assert_eq!(clients[0].port(), 2379);
//! // Member ids come from peer URLs, as when a member is added at run time.
//! assert_ne!(kstore::member_id_for_peer(peers[0].1), kstore::member_id_for_peer(peers[1].1));
//! # Ok::<(), kcluster::flags::FlagError>(())
//! ```
//!
//! - [`cluster`]: the whole cluster in one process (`kcluster up`).
//! - [`control_plane`]: the control plane as static pods of a kubelet, and their image.
//! - [`cli`]: the `kcluster` subcommands.
//! - [`dns`]: the cluster DNS server.
//! - [`node`]: the kubelet binary's runtime and capacity.
//! - [`flags`], [`serve`]: upstream flag formats; metrics and health endpoints.

pub mod cli;
pub mod cluster;
pub mod control_plane;
pub mod dns;
pub mod flags;
pub mod node;
pub mod serve;
