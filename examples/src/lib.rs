//! Shared flag handling for the kcluster binaries.
//!
//! ```
//! use kcluster::flags::{member_id, parse_initial_cluster, parse_urls};
//!
//! let peers = parse_initial_cluster("s1=http://127.0.0.1:2380,s2=http://127.0.0.1:2381")?;
//! assert_eq!(peers.len(), 2);
//! assert_eq!(peers[0].0, "s1");
//! let clients = parse_urls("http://127.0.0.1:2379")?;
//! assert_eq!(clients[0].port(), 2379);
//! assert_ne!(member_id("s1"), member_id("s2"));
//! # Ok::<(), kcluster::flags::FlagError>(())
//! ```

pub mod flags;
