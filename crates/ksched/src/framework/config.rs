//! `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1): profiles with their
//! plugins per extension point, weights and plugin args, turned into [`Profile`]s.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use super::profile::Profile;
use super::registry::{PluginError, Registry};

/// Errors of the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not valid YAML of the expected shape.
    #[error("invalid scheduler configuration: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// A plugin could not be built.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Two profiles share a scheduler name, or a profile has none.
    #[error("invalid scheduler configuration: {0}")]
    Invalid(String),
}

/// The default scheduler name.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// The v1 default plugins (multiPoint) with their score weights, in upstream's order.
pub const DEFAULT_PLUGINS: &[(&str, i64)] = &[
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("NodeVolumeLimits", 0),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginRef {
    name: String,
    #[serde(default)]
    weight: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginSet {
    #[serde(default)]
    enabled: Vec<PluginRef>,
    #[serde(default)]
    disabled: Vec<PluginRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plugins {
    #[serde(default)]
    multi_point: PluginSet,
    #[serde(flatten)]
    points: BTreeMap<String, PluginSet>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginConfig {
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileConfig {
    #[serde(default)]
    scheduler_name: Option<String>,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<u32>,
    #[serde(default)]
    plugins: Option<Plugins>,
    #[serde(default)]
    plugin_config: Vec<PluginConfig>,
}

/// The parsed configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerConfig {
    /// `percentageOfNodesToScore` (0 = adaptive).
    #[serde(default)]
    pub percentage_of_nodes_to_score: u32,
    /// `podInitialBackoffSeconds` (1).
    #[serde(default = "one")]
    pub pod_initial_backoff_seconds: u64,
    /// `podMaxBackoffSeconds` (10).
    #[serde(default = "ten")]
    pub pod_max_backoff_seconds: u64,
    #[serde(default)]
    profiles: Vec<ProfileConfig>,
}

fn one() -> u64 {
    1
}

fn ten() -> u64 {
    10
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff_seconds: 1,
            pod_max_backoff_seconds: 10,
            profiles: Vec::new(),
        }
    }
}

/// The extension points a `plugins.<point>` key names.
const POINTS: &[&str] = &[
    "preEnqueue",
    "queueSort",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
    "postBind",
];

impl SchedulerConfig {
    /// Parses YAML (or JSON).
    ///
    /// # Errors
    /// Invalid YAML or shape.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let c: SchedulerConfig = serde_yaml::from_str(text)?;
        let mut names = BTreeSet::new();
        for p in &c.profiles {
            let name = p.scheduler_name.clone().unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into());
            if !names.insert(name.clone()) {
                return Err(ConfigError::Invalid(format!("duplicate profile schedulerName {name:?}")));
            }
        }
        Ok(c)
    }

    /// Builds the profiles with plugins from `registry` (the default profile when the
    /// configuration lists none). Default plugins missing from the registry are left out.
    ///
    /// # Errors
    /// An unknown plugin explicitly enabled, or invalid plugin args.
    pub fn build_profiles(&self, registry: &Registry) -> Result<Vec<Profile>, ConfigError> {
        let profiles = if self.profiles.is_empty() { vec![ProfileConfig::default()] } else { self.profiles.clone() };
        profiles.iter().map(|p| build_profile(p, registry)).collect()
    }
}

fn build_profile(p: &ProfileConfig, registry: &Registry) -> Result<Profile, ConfigError> {
    let plugins = p.plugins.clone().unwrap_or_default();
    let known: BTreeSet<&str> = registry.names().collect();
    // multiPoint: the defaults, minus what is disabled, plus what is enabled.
    let disabled_all = plugins.multi_point.disabled.iter().any(|d| d.name == "*");
    let disabled: BTreeSet<&str> = plugins.multi_point.disabled.iter().map(|d| d.name.as_str()).collect();
    let mut order: Vec<(String, i64)> = Vec::new();
    if !disabled_all {
        for (name, weight) in DEFAULT_PLUGINS {
            if !disabled.contains(name) && known.contains(name) {
                order.push(((*name).to_owned(), *weight));
            }
        }
    }
    for e in &plugins.multi_point.enabled {
        let w = e.weight.unwrap_or(1);
        match order.iter_mut().find(|(n, _)| *n == e.name) {
            Some(entry) => entry.1 = e.weight.unwrap_or(entry.1),
            None => order.push((e.name.clone(), w)),
        }
    }
    // Specific points: plugins enabled only there, and points disabled for a plugin.
    let mut only: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut off: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (point, set) in &plugins.points {
        if !POINTS.contains(&point.as_str()) {
            return Err(ConfigError::Invalid(format!("unknown extension point {point:?}")));
        }
        for e in &set.enabled {
            only.entry(e.name.clone()).or_default().insert(point.clone());
            if !order.iter().any(|(n, _)| *n == e.name) {
                order.push((e.name.clone(), e.weight.unwrap_or(1)));
            } else if let (Some(w), "score") = (e.weight, point.as_str()) {
                if let Some(entry) = order.iter_mut().find(|(n, _)| *n == e.name) {
                    entry.1 = w;
                }
            }
        }
        for d in &set.disabled {
            if d.name == "*" {
                for (n, _) in &order {
                    if !set.enabled.iter().any(|e| e.name == *n) {
                        off.entry(n.clone()).or_default().insert(point.clone());
                    }
                }
            } else {
                off.entry(d.name.clone()).or_default().insert(point.clone());
            }
        }
    }
    let args: BTreeMap<&str, &Value> =
        p.plugin_config.iter().filter_map(|c| c.args.as_ref().map(|a| (c.name.as_str(), a))).collect();
    let mut profile = Profile::new(p.scheduler_name.clone().unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.into()));
    profile.percentage_of_nodes_to_score = p.percentage_of_nodes_to_score;
    for (name, weight) in &order {
        let mut handle = registry.build(name, args.get(name.as_str()).copied())?;
        // Keep only the points this configuration enables for the plugin.
        let explicit = only.get(name).filter(|_| !plugins.multi_point.enabled.iter().any(|e| e.name == *name));
        let from_defaults = DEFAULT_PLUGINS.iter().any(|(n, _)| n == name);
        let allowed = |point: &str| {
            let off = off.get(name).is_some_and(|o| o.contains(point));
            let on = match explicit {
                Some(set) if !from_defaults => set.contains(point),
                _ => true,
            };
            on && !off
        };
        macro_rules! gate {
            ($field:ident, $point:literal) => {
                if !allowed($point) {
                    handle.$field = None;
                }
            };
        }
        gate!(pre_enqueue, "preEnqueue");
        gate!(queue_sort, "queueSort");
        gate!(pre_filter, "preFilter");
        gate!(filter, "filter");
        gate!(post_filter, "postFilter");
        gate!(pre_score, "preScore");
        gate!(score, "score");
        gate!(reserve, "reserve");
        gate!(permit, "permit");
        gate!(pre_bind, "preBind");
        gate!(bind, "bind");
        gate!(post_bind, "postBind");
        profile.add(&handle, *weight);
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(p: &Profile) -> Vec<(&'static str, i64)> {
        p.score.iter().map(|(s, w)| (s.name(), *w)).collect()
    }

    #[test]
    fn default_profile_has_upstream_plugins_and_weights() {
        let profiles = SchedulerConfig::default().build_profiles(&crate::memory::registry()).unwrap();
        assert_eq!(profiles.len(), 1);
        let p = &profiles[0];
        assert_eq!(p.scheduler_name, DEFAULT_SCHEDULER_NAME);
        let w = weights(p);
        for expected in [("TaintToleration", 3), ("NodeAffinity", 2), ("NodeResourcesFit", 1), ("ImageLocality", 1)] {
            assert!(w.contains(&expected), "{expected:?} in {w:?}");
        }
        assert_eq!(p.queue_sort().map(|q| q.name()), Some("PrioritySort"));
        assert!(p.filter.iter().any(|f| f.name() == "NodeUnschedulable"));
        assert_eq!(p.bind.len(), 1);
    }

    #[test]
    fn profiles_enable_disable_weights_and_args() {
        let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  plugins:
    multiPoint:
      disabled: [{name: ImageLocality}]
    score:
      enabled: [{name: NodeResourcesFit, weight: 5}]
      disabled: [{name: TaintToleration}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}]
"#;
        let c = SchedulerConfig::from_yaml(yaml).unwrap();
        assert_eq!(c.percentage_of_nodes_to_score, 30);
        let profiles = c.build_profiles(&crate::memory::registry()).unwrap();
        assert_eq!(profiles.len(), 2);
        let packing = &profiles[1];
        assert_eq!(packing.scheduler_name, "bin-packing");
        let w = weights(packing);
        assert!(w.contains(&("NodeResourcesFit", 5)));
        assert!(!w.iter().any(|(n, _)| *n == "ImageLocality" || *n == "TaintToleration"));
        // TaintToleration still filters: only its score was disabled.
        assert!(packing.filter.iter().any(|f| f.name() == "TaintToleration"));

        let bad = "profiles:\n- schedulerName: a\n- schedulerName: a\n";
        assert!(matches!(SchedulerConfig::from_yaml(bad), Err(ConfigError::Invalid(_))));
        let unknown = "profiles:\n- plugins:\n    multiPoint:\n      enabled: [{name: NoSuchPlugin}]\n";
        let c = SchedulerConfig::from_yaml(unknown).unwrap();
        assert!(matches!(c.build_profiles(&crate::memory::registry()), Err(ConfigError::Plugin(_))));
        let bad_args =
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args: {scoringStrategy: {type: Nope}}\n";
        let c = SchedulerConfig::from_yaml(bad_args).unwrap();
        assert!(c.build_profiles(&crate::memory::registry()).is_err());
    }
}
