//! How messages leave a node: the [`Transport`] contract and an in-process network.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use crate::message::Message;
use crate::types::NodeId;

/// Sends Raft messages to peers.
///
/// # Correctness
///
/// Raft tolerates loss, duplication and reordering, so a transport may drop messages
/// (a full queue, a broken connection) — it must never corrupt or forge them, and it must
/// deliver each message to the node named in `to`. `send` must not block: it is called from
/// the node's event loop.
pub trait Transport: Send + 'static {
    /// Queues messages for delivery.
    fn send(&mut self, messages: Vec<Message>);
}

/// Inboxes of the nodes of one process, by id.
#[derive(Debug, Clone, Default)]
pub struct MemNetwork {
    inboxes: Arc<RwLock<HashMap<NodeId, mpsc::Sender<Message>>>>,
}

impl MemNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects a node's inbox.
    pub fn register(&self, id: NodeId, inbox: mpsc::Sender<Message>) {
        if let Ok(mut map) = self.inboxes.write() {
            map.insert(id, inbox);
        }
    }

    /// Disconnects a node (messages to it are dropped).
    pub fn unregister(&self, id: NodeId) {
        if let Ok(mut map) = self.inboxes.write() {
            map.remove(&id);
        }
    }

    /// A transport that sends through this network.
    pub fn transport(&self) -> MemTransport {
        MemTransport { net: self.clone() }
    }
}

/// The [`Transport`] of a [`MemNetwork`].
#[derive(Debug, Clone)]
pub struct MemTransport {
    net: MemNetwork,
}

impl Transport for MemTransport {
    fn send(&mut self, messages: Vec<Message>) {
        let Ok(map) = self.net.inboxes.read() else { return };
        for m in messages {
            if let Some(inbox) = map.get(&m.to) {
                // A full inbox drops the message, like a congested network.
                let _ = inbox.try_send(m);
            }
        }
    }
}
