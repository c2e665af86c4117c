//! Cluster events and queueing hints: which changes may make an unschedulable pod
//! schedulable, per plugin.

use std::sync::Arc;

use super::snapshot::ClusterObject;
use crate::types::PodInfo;

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventResource {
    /// A pod not yet bound (another pending pod).
    UnscheduledPod,
    /// A pod bound to a node.
    AssignedPod,
    /// A node.
    Node,
    /// A PersistentVolume.
    PersistentVolume,
    /// A PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// A StorageClass.
    StorageClass,
    /// A namespace (labels matter to namespace selectors).
    Namespace,
    /// Anything (plugins that register no events get every event).
    Wildcard,
}

/// What happened, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionType(pub u32);

impl ActionType {
    /// Created.
    pub const ADD: Self = Self(1);
    /// Deleted.
    pub const DELETE: Self = Self(1 << 1);
    /// A node's allocatable changed.
    pub const UPDATE_NODE_ALLOCATABLE: Self = Self(1 << 2);
    /// A node's labels changed.
    pub const UPDATE_NODE_LABEL: Self = Self(1 << 3);
    /// A node's taints (or unschedulable flag) changed.
    pub const UPDATE_NODE_TAINT: Self = Self(1 << 4);
    /// A node's conditions changed.
    pub const UPDATE_NODE_CONDITION: Self = Self(1 << 5);
    /// A node's images changed.
    pub const UPDATE_NODE_IMAGES: Self = Self(1 << 6);
    /// A pod's labels changed.
    pub const UPDATE_POD_LABEL: Self = Self(1 << 7);
    /// A pod's requests went down (in-place resize).
    pub const UPDATE_POD_SCALE_DOWN: Self = Self(1 << 8);
    /// A pod's scheduling gates were removed.
    pub const UPDATE_POD_GATES: Self = Self(1 << 9);
    /// Any other update.
    pub const UPDATE: Self = Self(1 << 10);
    /// Every update.
    pub const ALL_UPDATES: Self = Self(0b111_1111_1100);
    /// Everything.
    pub const ALL: Self = Self(0b111_1111_1111);

    /// Both sets.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether the sets overlap.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

/// An event: a resource and what happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterEvent {
    /// The resource.
    pub resource: EventResource,
    /// What happened.
    pub action: ActionType,
}

impl ClusterEvent {
    /// An event.
    pub fn new(resource: EventResource, action: ActionType) -> Self {
        Self { resource, action }
    }

    /// Whether a registration `self` covers the actual event `actual`.
    pub fn covers(&self, actual: &ClusterEvent) -> bool {
        (self.resource == EventResource::Wildcard || self.resource == actual.resource)
            && self.action.intersects(actual.action)
    }
}

/// A plugin's answer to "may this event make the pod schedulable?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueingHint {
    /// Yes: retry the pod.
    Queue,
    /// No: keep it where it is.
    Skip,
}

/// Decides [`QueueingHint`] from the pod and the changed object (old, new).
pub type QueueingHintFn =
    Arc<dyn Fn(&PodInfo, Option<&ClusterObject>, Option<&ClusterObject>) -> QueueingHint + Send + Sync>;

/// An event registration with an optional hint (none means always [`QueueingHint::Queue`]).
#[derive(Clone)]
pub struct ClusterEventWithHint {
    /// The event.
    pub event: ClusterEvent,
    /// The hint.
    pub hint: Option<QueueingHintFn>,
}

impl std::fmt::Debug for ClusterEventWithHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterEventWithHint").field("event", &self.event).field("hint", &self.hint.is_some()).finish()
    }
}

impl ClusterEventWithHint {
    /// An event without a hint.
    pub fn new(resource: EventResource, action: ActionType) -> Self {
        Self { event: ClusterEvent::new(resource, action), hint: None }
    }

    /// An event with a hint.
    pub fn with_hint(
        resource: EventResource,
        action: ActionType,
        hint: impl Fn(&PodInfo, Option<&ClusterObject>, Option<&ClusterObject>) -> QueueingHint + Send + Sync + 'static,
    ) -> Self {
        Self { event: ClusterEvent::new(resource, action), hint: Some(Arc::new(hint)) }
    }
}
