//! PrioritySort (QueueSort): higher `spec.priority` first, then the pod queued earlier.

use crate::framework::{Plugin, PluginError, PluginHandle, QueueSortPlugin, QueuedPodInfo};

/// The plugin's name.
pub const NAME: &str = "PrioritySort";

/// Orders the active queue by priority, then by queue timestamp.
#[derive(Debug, Default, Clone, Copy)]
pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events_to_register(&self) -> Option<Vec<crate::framework::ClusterEventWithHint>> {
        // Never rejects a pod.
        Some(Vec::new())
    }
}

impl QueueSortPlugin for PrioritySort {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        let (pa, pb) = (a.pod.priority, b.pod.priority);
        pa > pb || (pa == pb && a.timestamp < b.timestamp)
    }
}

/// Builds the plugin (no arguments).
///
/// # Errors
/// Never.
pub fn factory(_args: Option<&serde_json::Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(PrioritySort).queue_sort().build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;
    use std::collections::BTreeSet;

    fn queued(priority: i32, timestamp: u128) -> QueuedPodInfo {
        QueuedPodInfo {
            pod: pod(json!({"metadata": {"name": format!("p{priority}-{timestamp}")},
                "spec": {"priority": priority, "containers": [{"name": "c"}]}})),
            timestamp,
            attempts: 0,
            initial_timestamp: timestamp,
            unschedulable_plugins: BTreeSet::new(),
            pending_plugins: BTreeSet::new(),
        }
    }

    #[test]
    fn priority_then_age() {
        let p = PrioritySort;
        assert!(p.less(&queued(10, 5), &queued(1, 1)), "higher priority first, even if newer");
        assert!(!p.less(&queued(1, 1), &queued(10, 5)));
        assert!(p.less(&queued(3, 1), &queued(3, 2)), "same priority: older first");
        assert!(!p.less(&queued(3, 2), &queued(3, 1)));
        assert!(!p.less(&queued(3, 2), &queued(3, 2)), "strict: equal is not less");
        assert!(p.less(&queued(0, 9), &queued(-5, 1)), "negative priorities sort last");
        let h = factory(None).expect("factory");
        assert!(h.queue_sort.is_some() && h.filter.is_none());
    }
}
