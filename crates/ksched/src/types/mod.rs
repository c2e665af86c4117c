//! The scheduler's view of pods and nodes, parsed once and shared.

pub mod node;
pub mod pod;
pub mod resource;

pub use node::{ImageState, NodeInfo, PodPriorities};
pub use pod::{AffinityTerm, HostPort, PodInfo, WeightedAffinityTerm};
pub use resource::Resource;
