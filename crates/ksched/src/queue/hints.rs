//! Queueing hints: which events each plugin of each profile registered, and the decision
//! whether an event may make a rejected pod schedulable (upstream `isPodWorthRequeuing`).

use std::collections::{BTreeMap, HashMap};

use crate::framework::{
    ActionType, ClusterEvent, ClusterEventWithHint, ClusterObject, EventResource, Plugin, QueuedPodInfo, QueueingHint,
};

/// The wildcard event: every rejected pod is worth retrying (after its backoff). Used for
/// forced moves, the leftover flush (`UnschedulableTimeout`) and activation.
pub const WILDCARD_EVENT: ClusterEvent = ClusterEvent { resource: EventResource::Wildcard, action: ActionType::ALL };

/// Whether `event` is the wildcard event.
pub(super) fn is_wildcard(event: &ClusterEvent) -> bool {
    event.resource == EventResource::Wildcard && event.action == ActionType::ALL
}

/// Where a rejected pod goes after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Strategy {
    /// Stays where it is.
    Skip,
    /// To backoffQ while its backoff runs, else activeQ.
    AfterBackoff,
    /// To activeQ at once (a Pending plugin said Queue).
    Immediately,
}

#[derive(Clone)]
struct Registration {
    plugin: &'static str,
    event: ClusterEventWithHint,
}

/// Per profile (`schedulerName`), the events each plugin registered with their hints.
#[derive(Clone, Default)]
pub struct QueueingHintMap {
    profiles: HashMap<String, Vec<Registration>>,
}

impl std::fmt::Debug for QueueingHintMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (profile, regs) in &self.profiles {
            m.entry(profile, &regs.iter().map(|r| (r.plugin, r.event.event)).collect::<Vec<_>>());
        }
        m.finish()
    }
}

impl QueueingHintMap {
    /// No registrations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `plugin` of `profile` for `events`; `None` (a plugin without
    /// `events_to_register`) means every event, always worth a retry. Replaces an earlier
    /// registration of the same plugin in the profile.
    pub fn register(&mut self, profile: &str, plugin: &'static str, events: Option<Vec<ClusterEventWithHint>>) {
        let events =
            events.unwrap_or_else(|| vec![ClusterEventWithHint::new(EventResource::Wildcard, ActionType::ALL)]);
        let regs = self.profiles.entry(profile.to_owned()).or_default();
        regs.retain(|r| r.plugin != plugin);
        regs.extend(events.into_iter().map(|event| Registration { plugin, event }));
    }

    /// Registers what `plugin.events_to_register()` returns.
    pub fn register_plugin(&mut self, profile: &str, plugin: &dyn Plugin) {
        self.register(profile, plugin.name(), plugin.events_to_register());
    }

    /// From each profile's plugin → events map (`Profile::events`).
    pub fn from_profiles<'a>(
        profiles: impl IntoIterator<Item = (&'a str, &'a BTreeMap<&'static str, Option<Vec<ClusterEventWithHint>>>)>,
    ) -> Self {
        let mut m = Self::new();
        for (profile, plugins) in profiles {
            m.profiles.entry(profile.to_owned()).or_default();
            for (plugin, events) in plugins {
                m.register(profile, plugin, events.clone());
            }
        }
        m
    }

    /// Whether any plugin of any profile registered for `event` (the wildcard always is).
    pub fn is_event_of_interest(&self, event: &ClusterEvent) -> bool {
        is_wildcard(event) || self.profiles.values().flatten().any(|r| r.event.event.covers(event))
    }

    /// Whether `plugin` of `profile` registered for `event`.
    pub(super) fn plugin_registered_for(&self, profile: &str, plugin: &str, event: &ClusterEvent) -> bool {
        self.profiles
            .get(profile)
            .is_some_and(|regs| regs.iter().any(|r| r.plugin == plugin && r.event.event.covers(event)))
    }

    /// Whether `event` may make the pod of `info` schedulable, from the hints of the plugins
    /// that rejected it: a Pending plugin saying Queue → at once; an Unschedulable one →
    /// after backoff; all Skip (or none registered) → stays. A pod no plugin rejected (an
    /// error) and the wildcard event always move after backoff; a wildcard event carrying
    /// a pod as `new` concerns that pod only.
    pub(super) fn strategy(
        &self,
        info: &QueuedPodInfo,
        event: &ClusterEvent,
        old: Option<&ClusterObject>,
        new: Option<&ClusterObject>,
    ) -> Strategy {
        let pod = info.pod.as_ref();
        if info.unschedulable_plugins.is_empty() && info.pending_plugins.is_empty() {
            return Strategy::AfterBackoff;
        }
        if is_wildcard(event) {
            return match new {
                Some(ClusterObject::Pod(p)) if p.key == pod.key => Strategy::AfterBackoff,
                Some(_) => Strategy::Skip,
                None => Strategy::AfterBackoff,
            };
        }
        let Some(regs) = self.profiles.get(&pod.scheduler_name) else {
            // No profile for this pod: do not let it starve.
            return Strategy::AfterBackoff;
        };
        let mut strategy = Strategy::Skip;
        for r in regs.iter().filter(|r| r.event.event.covers(event)) {
            let pending = info.pending_plugins.contains(r.plugin);
            if !pending && !info.unschedulable_plugins.contains(r.plugin) {
                continue;
            }
            let hint = r.event.hint.as_ref().map_or(QueueingHint::Queue, |f| f(pod, old, new));
            if hint == QueueingHint::Skip {
                continue;
            }
            if pending {
                return Strategy::Immediately;
            }
            if info.pending_plugins.is_empty() {
                return Strategy::AfterBackoff;
            }
            strategy = Strategy::AfterBackoff;
        }
        strategy
    }
}
