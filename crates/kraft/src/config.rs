//! Typed configuration of a Raft node, checked by [`Config::validate`].

use crate::types::NodeId;

/// Errors in a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Node id 0 is reserved.
    #[error("node id must not be 0")]
    ZeroId,
    /// `heartbeat_tick` must be at least 1.
    #[error("heartbeat_tick must be at least 1")]
    HeartbeatTick,
    /// `election_tick` must exceed `heartbeat_tick`.
    #[error("election_tick ({election}) must be greater than heartbeat_tick ({heartbeat})")]
    ElectionTick {
        /// Configured election ticks.
        election: u32,
        /// Configured heartbeat ticks.
        heartbeat: u32,
    },
    /// `max_inflight_msgs` must be at least 1.
    #[error("max_inflight_msgs must be at least 1")]
    Inflight,
    /// Lease-based reads are only safe when the leader steps down without a quorum.
    #[error("lease-based reads require check_quorum")]
    LeaseWithoutCheckQuorum,
}

/// How linearizable reads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// ReadIndex: the leader confirms with a quorum of heartbeats that it is still leader.
    #[default]
    Safe,
    /// The leader answers from its lease without a round trip.
    ///
    /// # Correctness
    ///
    /// Assumes clocks (tick rates) on all nodes drift by less than the gap between the
    /// leader's check-quorum interval and the followers' election timeout: with
    /// `check_quorum`, a leader that has not heard from a quorum for `election_tick` ticks
    /// steps down, and followers refuse to vote for `election_tick` ticks after hearing from
    /// a leader, so no other leader can exist while the lease holds — unless one node's
    /// clock runs fast enough to break that window (e.g. a paused VM).
    LeaseBased,
}

/// Configuration of one Raft node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout is
    /// randomized in `[election_tick, 2 × election_tick)`.
    pub election_tick: u32,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: u32,
    /// Run a pre-vote round before incrementing the term, so that a partitioned node
    /// rejoining cannot disrupt a healthy leader.
    pub pre_vote: bool,
    /// Leader steps down when it has not heard from a quorum within an election timeout;
    /// followers ignore vote requests while they have a live leader.
    pub check_quorum: bool,
    /// Largest total entry size in one append message (at least one entry is always sent).
    pub max_size_per_msg: usize,
    /// Most append messages in flight to one follower in the replicate state.
    pub max_inflight_msgs: usize,
    /// Most entry bytes in flight to one follower; 0 = unlimited.
    pub max_inflight_bytes: usize,
    /// Most bytes of uncommitted entries the leader accepts before dropping proposals;
    /// 0 = unlimited.
    pub max_uncommitted_size: usize,
    /// Largest total size of committed entries handed out in one `Ready`; 0 = unlimited.
    pub max_committed_size_per_ready: usize,
    /// How linearizable reads are served.
    pub read_mode: ReadMode,
    /// Seed of the pseudo-random election timeouts (the core has no other randomness).
    pub seed: u64,
}

impl Config {
    /// Defaults close to etcd's: election 10 ticks, heartbeat 1 tick, pre-vote and
    /// check-quorum on, 1 MiB messages, 256 messages in flight.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_inflight_bytes: 0,
            max_uncommitted_size: 0,
            max_committed_size_per_ready: 0,
            read_mode: ReadMode::Safe,
            seed: id,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroId);
        }
        if self.heartbeat_tick == 0 {
            return Err(ConfigError::HeartbeatTick);
        }
        if self.election_tick <= self.heartbeat_tick {
            return Err(ConfigError::ElectionTick { election: self.election_tick, heartbeat: self.heartbeat_tick });
        }
        if self.max_inflight_msgs == 0 {
            return Err(ConfigError::Inflight);
        }
        if self.read_mode == ReadMode::LeaseBased && !self.check_quorum {
            return Err(ConfigError::LeaseWithoutCheckQuorum);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(Config::new(1).validate(), Ok(()));
        assert_eq!(Config::new(0).validate(), Err(ConfigError::ZeroId));
        let mut c = Config::new(1);
        c.election_tick = 1;
        assert!(matches!(c.validate(), Err(ConfigError::ElectionTick { .. })));
        let mut c = Config::new(1);
        c.heartbeat_tick = 0;
        assert_eq!(c.validate(), Err(ConfigError::HeartbeatTick));
        let mut c = Config::new(1);
        c.max_inflight_msgs = 0;
        assert_eq!(c.validate(), Err(ConfigError::Inflight));
        let mut c = Config::new(1);
        c.read_mode = ReadMode::LeaseBased;
        c.check_quorum = false;
        assert_eq!(c.validate(), Err(ConfigError::LeaseWithoutCheckQuorum));
    }
}
