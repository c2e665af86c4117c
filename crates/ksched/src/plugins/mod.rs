//! The default plugins, with upstream's semantics, weights and formulas.

pub mod coscheduling;
pub mod defaultpreemption;
pub(crate) mod fasthash;
pub(crate) mod helper;
pub mod imagelocality;
pub mod interpodaffinity;
mod memo;
pub mod nodeaffinity;
pub mod nodename;
pub mod nodeports;
pub mod noderesources;
pub mod nodeunschedulable;
pub mod podtopologyspread;
pub mod prioritysort;
pub mod schedulinggates;
pub mod tainttoleration;
pub mod volumebinding;

#[cfg(test)]
pub(crate) mod testing;

use crate::framework::Registry;

/// Registers the basic default plugins: queue sort, scheduling gates, node name,
/// unschedulable, taints, node affinity, ports, resources and image locality.
pub fn register_basic(registry: &mut Registry) {
    registry.register(prioritysort::NAME, prioritysort::factory);
    registry.register(schedulinggates::NAME, schedulinggates::factory);
    registry.register(nodeunschedulable::NAME, nodeunschedulable::factory);
    registry.register(nodename::NAME, nodename::factory);
    registry.register(tainttoleration::NAME, tainttoleration::factory);
    registry.register(nodeaffinity::NAME, nodeaffinity::factory);
    registry.register(nodeports::NAME, nodeports::factory);
    registry.register(noderesources::fit::NAME, noderesources::fit::factory);
    registry.register(noderesources::balanced::NAME, noderesources::balanced::factory);
    registry.register(imagelocality::NAME, imagelocality::factory);
}

/// Registers PodTopologySpread and InterPodAffinity.
pub fn register_affinity(registry: &mut Registry) {
    registry.register(podtopologyspread::NAME, podtopologyspread::factory);
    registry.register(interpodaffinity::NAME, interpodaffinity::factory);
}

/// Registers DefaultPreemption (PostFilter).
pub fn register_preemption(registry: &mut Registry) {
    registry.register(defaultpreemption::NAME, defaultpreemption::factory);
}

/// Registers VolumeBinding.
pub fn register_volumes(registry: &mut Registry) {
    registry.register(volumebinding::NAME, volumebinding::factory);
}

/// Registers Coscheduling (gang scheduling). It is not in the default profile: enable it in
/// a profile's `plugins.multiPoint.enabled`.
pub fn register_gang(registry: &mut Registry) {
    registry.register(coscheduling::NAME, coscheduling::factory);
}

/// The in-tree plugins (a `DefaultBinder` that talks to an API server is added by the
/// `kube` module; the in-memory one by [`crate::memory::registry`]).
pub fn default_registry() -> Registry {
    let mut r = Registry::new();
    register_basic(&mut r);
    register_affinity(&mut r);
    register_preemption(&mut r);
    register_volumes(&mut r);
    register_gang(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_basic_plugin_with_default_args() {
        let mut r = Registry::new();
        register_basic(&mut r);
        let names: Vec<&str> = r.names().collect();
        assert_eq!(names.len(), 10);
        for name in names {
            let h = r.build(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(h.name, name);
            assert!(h.plugin.is_some());
        }
    }
}
