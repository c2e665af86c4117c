//! The framework: extension-point traits, statuses, the per-cycle state, snapshots, cluster
//! events and queueing hints, waiting pods, profiles and the plugin registry.

pub mod config;
pub mod events;
pub mod plugin;
pub mod profile;
pub mod registry;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod statuses;
pub mod waiting;

pub use crate::plugins::fasthash::Fnv;
pub use config::{ConfigError, DEFAULT_PLUGINS, DEFAULT_SCHEDULER_NAME, SchedulerConfig};
pub use events::{ActionType, ClusterEvent, ClusterEventWithHint, EventResource, QueueingHint, QueueingHintFn};
pub use plugin::{
    BindPlugin, FilterPlugin, Handle, MAX_NODE_SCORE, NodeScore, PermitPlugin, Plugin, PostBindPlugin,
    PostFilterPlugin, PostFilterResult, PreBindPlugin, PreEnqueuePlugin, PreFilterExtensions, PreFilterPlugin,
    PreFilterResult, PreScorePlugin, QueueSortPlugin, QueuedPodInfo, ReservePlugin, ScorePlugin,
};
pub use profile::Profile;
pub use registry::{PluginBuilder, PluginError, PluginFactory, PluginHandle, Registry};
pub use snapshot::{ClusterObject, ClusterState, Snapshot};
pub use state::{CycleState, SkipSet, StateData};
pub use status::{Code, FixedStatus, Reason, Status};
pub use statuses::NodeStatuses;
pub use waiting::{WaitingPod, WaitingPods};
