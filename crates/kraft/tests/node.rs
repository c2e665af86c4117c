//! Integration tests of the async driver: an in-process network, then real TCP with the
//! write-ahead log, restarts and chunked snapshot streaming.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kraft::node::tcp::{self, TcpTransport};
use kraft::node::{MemNetwork, MemStorage, Node, NodeConfig, NodeHandle, Start, StateMachine, WalStorage};
use kraft::wal::WalOptions;
use kraft::{Change, Config, NodeId, Role};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Adds u64s; the snapshot also carries a blob so that it can be made large.
#[derive(Clone, Default)]
struct Sum {
    total: Arc<Mutex<u64>>,
    blob: Vec<u8>,
}

impl StateMachine for Sum {
    fn apply(&mut self, _index: u64, data: Bytes) -> Bytes {
        let n = data.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        let mut t = self.total.lock().unwrap();
        *t += n;
        Bytes::copy_from_slice(&t.to_le_bytes())
    }
    fn snapshot(&self) -> Bytes {
        let mut v = self.total.lock().unwrap().to_le_bytes().to_vec();
        v.extend_from_slice(&self.blob);
        Bytes::from(v)
    }
    fn restore(&mut self, data: &[u8]) {
        let n = data.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        *self.total.lock().unwrap() = n;
        self.blob = data.get(8..).unwrap_or_default().to_vec();
    }
}

fn cfg(id: NodeId) -> NodeConfig {
    let mut c = NodeConfig::new(Config::new(id));
    c.tick = Duration::from_millis(10);
    c
}

fn n(v: u64) -> Bytes {
    Bytes::copy_from_slice(&v.to_le_bytes())
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn leader_of(handles: &[NodeHandle]) -> NodeHandle {
    for _ in 0..1000 {
        for h in handles {
            if let Ok(s) = h.status().await {
                if s.role == Role::Leader {
                    return h.clone();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no leader elected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_cluster_commits_reads_transfers_and_grows() {
    let net = MemNetwork::new();
    let mut nodes = Vec::new();
    let mut sums = Vec::new();
    for id in 1..=3 {
        let sm = Sum::default();
        sums.push(sm.total.clone());
        let start = Start::Bootstrap { voters: vec![1, 2, 3], learners: vec![] };
        let node = Node::start(cfg(id), start, MemStorage::new(), net.transport(), sm).unwrap();
        net.register(id, node.inbox());
        nodes.push(node);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(Node::handle).collect();
    let leader = leader_of(&handles).await;

    // Concurrent proposals through the leader.
    let mut tasks = Vec::new();
    for i in 1..=50u64 {
        let h = leader.clone();
        tasks.push(tokio::spawn(async move { h.propose(n(i)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // A follower forwards to the leader and still gets the applied result.
    let follower = handles.iter().find(|h| h.id() != leader.id()).unwrap().clone();
    let out = follower.propose(n(1000)).await.unwrap();
    assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), 1275 + 1000);
    // A linearizable read on the follower sees everything committed before it.
    follower.read_barrier().await.unwrap();
    let fid = follower.id() as usize - 1;
    assert_eq!(*sums[fid].lock().unwrap(), 2275);

    // Leadership transfer.
    leader.transfer_leader(follower.id()).await.unwrap();
    let new_leader = leader_of(std::slice::from_ref(&follower)).await;
    assert_eq!(new_leader.id(), follower.id());

    // Add a fourth node as a learner, then promote it.
    let sm4 = Sum::default();
    let total4 = sm4.total.clone();
    let node4 = Node::start(cfg(4), Start::Existing, MemStorage::new(), net.transport(), sm4).unwrap();
    net.register(4, node4.inbox());
    new_leader.change_membership(vec![Change::AddLearner(4)]).await.unwrap();
    wait_until("learner catch-up", || *total4.lock().unwrap() == 2275).await;
    let mut promoted = false;
    for _ in 0..100 {
        if new_leader.change_membership(vec![Change::AddVoter(4)]).await.is_ok() {
            promoted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(promoted);
    let h4 = node4.handle();
    for _ in 0..200 {
        if h4.status().await.unwrap().membership.is_voter(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(h4.status().await.unwrap().membership.is_voter(4));

    for node in nodes {
        node.shutdown().await.unwrap();
    }
    node4.shutdown().await.unwrap();
    assert!(matches!(h4.status().await, Err(kraft::node::NodeError::Stopped)));
}

struct TcpCluster {
    addrs: HashMap<NodeId, SocketAddr>,
    listeners: HashMap<NodeId, TcpListener>,
}

async fn tcp_cluster(ids: &[NodeId]) -> TcpCluster {
    let mut addrs = HashMap::new();
    let mut listeners = HashMap::new();
    for &id in ids {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.insert(id, l.local_addr().unwrap());
        listeners.insert(id, l);
    }
    TcpCluster { addrs, listeners }
}

struct Running {
    node: Node,
    stop: CancellationToken,
    total: Arc<Mutex<u64>>,
}

fn start_tcp(
    id: NodeId,
    start: Start,
    dir: &std::path::Path,
    listener: TcpListener,
    peers: &HashMap<NodeId, SocketAddr>,
    node_cfg: NodeConfig,
    blob: usize,
) -> Running {
    let stop = CancellationToken::new();
    let peers: HashMap<NodeId, SocketAddr> = peers.iter().filter(|(p, _)| **p != id).map(|(&p, &a)| (p, a)).collect();
    let transport = TcpTransport::new(peers, stop.clone());
    let storage = WalStorage::open(dir, WalOptions::default().with_segment_bytes(1 << 20)).unwrap();
    let sm = Sum { blob: vec![7u8; blob], ..Sum::default() };
    let total = sm.total.clone();
    let node = Node::start(node_cfg, start, storage, transport, sm).unwrap();
    tokio::spawn(tcp::serve(listener, node.inbox(), stop.clone()));
    Running { node, stop, total }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_cluster_survives_full_restart_with_the_wal() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut cluster = tcp_cluster(&[1, 2, 3]).await;
    let addrs = cluster.addrs.clone();
    let mut running = Vec::new();
    for id in 1..=3u64 {
        let l = cluster.listeners.remove(&id).unwrap();
        let start = Start::Bootstrap { voters: vec![1, 2, 3], learners: vec![] };
        running.push(start_tcp(id, start, dirs[id as usize - 1].path(), l, &addrs, cfg(id), 0));
    }
    let handles: Vec<NodeHandle> = running.iter().map(|r| r.node.handle()).collect();
    let leader = leader_of(&handles).await;
    for i in 1..=20u64 {
        leader.propose(n(i)).await.unwrap();
    }
    for r in running {
        r.node.shutdown().await.unwrap();
        r.stop.cancel();
    }

    // Restart everyone from disk on fresh ports: the state comes back and the group works.
    let mut cluster = tcp_cluster(&[1, 2, 3]).await;
    let addrs = cluster.addrs.clone();
    let mut running = Vec::new();
    for id in 1..=3u64 {
        let l = cluster.listeners.remove(&id).unwrap();
        running.push(start_tcp(id, Start::Existing, dirs[id as usize - 1].path(), l, &addrs, cfg(id), 0));
    }
    let handles: Vec<NodeHandle> = running.iter().map(|r| r.node.handle()).collect();
    let leader = leader_of(&handles).await;
    let out = leader.propose(n(5)).await.unwrap();
    assert_eq!(u64::from_le_bytes(out[..8].try_into().unwrap()), 210 + 5);
    for r in &running {
        let total = r.total.clone();
        wait_until("replicas to converge", || *total.lock().unwrap() == 215).await;
    }
    for r in running {
        r.node.shutdown().await.unwrap();
        r.stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_member_receives_a_chunked_snapshot_over_tcp() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut cluster = tcp_cluster(&[1, 2, 3, 4]).await;
    let addrs = cluster.addrs.clone();
    let small_log = |id| {
        let mut c = cfg(id);
        c.snapshot_entries = 20;
        c.keep_entries = 0;
        c
    };
    // A 3 MiB snapshot: three chunks and a bit.
    let blob = 3 * tcp::SNAPSHOT_CHUNK + 123;
    let mut running = Vec::new();
    for id in 1..=3u64 {
        let l = cluster.listeners.remove(&id).unwrap();
        let start = Start::Bootstrap { voters: vec![1, 2, 3], learners: vec![] };
        running.push(start_tcp(id, start, dirs[id as usize - 1].path(), l, &addrs, small_log(id), blob));
    }
    let handles: Vec<NodeHandle> = running.iter().map(|r| r.node.handle()).collect();
    let leader = leader_of(&handles).await;
    for i in 1..=60u64 {
        leader.propose(n(i)).await.unwrap();
    }
    let status = leader.status().await.unwrap();
    assert!(status.applied >= 60);
    let l4 = cluster.listeners.remove(&4).unwrap();
    let r4 = start_tcp(4, Start::Existing, dirs[3].path(), l4, &addrs, small_log(4), 0);
    leader.change_membership(vec![Change::AddVoter(4)]).await.unwrap();
    let total4 = r4.total.clone();
    wait_until("node 4 to install the snapshot and catch up", || *total4.lock().unwrap() == 1830).await;
    // The snapshot made it to disk: its data file holds the streamed blob.
    let data = std::fs::read(dirs[3].path().join("snapshot.data")).unwrap();
    assert_eq!(data.len(), 8 + blob);
    r4.node.shutdown().await.unwrap();
    r4.stop.cancel();
    for r in running {
        r.node.shutdown().await.unwrap();
        r.stop.cancel();
    }
}
