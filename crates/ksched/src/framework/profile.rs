//! [`Profile`]: one scheduler name with its plugins per extension point and score weights —
//! and the code that runs each point (upstream's `frameworkImpl`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;

use super::events::ClusterEventWithHint;
use super::plugin::{
    BindPlugin, FilterPlugin, MAX_NODE_SCORE, NodeScore, PermitPlugin, PostBindPlugin, PostFilterPlugin, PreBindPlugin,
    PreEnqueuePlugin, PreFilterPlugin, PreFilterResult, PreScorePlugin, QueueSortPlugin, ReservePlugin, ScorePlugin,
};
use super::registry::PluginHandle;
use super::snapshot::Snapshot;
use super::state::{CycleState, SkipBits};
use super::status::{Code, Status};
use super::waiting::WaitingPods;
use crate::types::{NodeInfo, PodInfo};

/// Below this many nodes, Filter and Score run on the scheduling thread: measured on 2
/// cores, handing 500 nodes to worker threads cost more than it saved.
pub const PARALLEL_MIN_NODES: usize = 1024;

/// A configured scheduler profile.
#[derive(Clone, Default)]
pub struct Profile {
    /// The `schedulerName` pods select it with.
    pub scheduler_name: String,
    /// `percentageOfNodesToScore` for this profile (`None`: the scheduler's, adaptive by default).
    pub percentage_of_nodes_to_score: Option<u32>,
    pub(crate) queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    pub(crate) pre_enqueue: Vec<Arc<dyn PreEnqueuePlugin>>,
    pub(crate) pre_filter: Vec<Arc<dyn PreFilterPlugin>>,
    pub(crate) filter: Vec<Arc<dyn FilterPlugin>>,
    /// Bit `i`: `filter[i]` does not read the node's pods ([`FilterPlugin::reads_node_pods`]);
    /// no bit (the default) runs the plugin.
    filter_ignores_pods: u64,
    pub(crate) post_filter: Vec<Arc<dyn PostFilterPlugin>>,
    pub(crate) pre_score: Vec<Arc<dyn PreScorePlugin>>,
    pub(crate) score: Vec<(Arc<dyn ScorePlugin>, i64)>,
    pub(crate) reserve: Vec<Arc<dyn ReservePlugin>>,
    pub(crate) permit: Vec<Arc<dyn PermitPlugin>>,
    pub(crate) pre_bind: Vec<Arc<dyn PreBindPlugin>>,
    pub(crate) bind: Vec<Arc<dyn BindPlugin>>,
    pub(crate) post_bind: Vec<Arc<dyn PostBindPlugin>>,
    pub(crate) events: BTreeMap<&'static str, Option<Vec<ClusterEventWithHint>>>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[Arc<dyn FilterPlugin>]| v.iter().map(|p| p.name()).collect::<Vec<_>>();
        f.debug_struct("Profile")
            .field("scheduler_name", &self.scheduler_name)
            .field("filter", &names(&self.filter))
            .field("score", &self.score.iter().map(|(p, w)| (p.name(), *w)).collect::<Vec<_>>())
            .finish()
    }
}

/// Which points of a plugin a profile enables, and its score weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    /// Score weight (used when the plugin scores).
    pub weight: i64,
}

impl Profile {
    /// An empty profile named `scheduler_name`.
    pub fn new(scheduler_name: impl Into<String>) -> Self {
        Self { scheduler_name: scheduler_name.into(), ..Self::default() }
    }

    /// Enables every point `plugin` implements, scoring with `weight`.
    #[must_use]
    pub fn with(mut self, plugin: &PluginHandle, weight: i64) -> Self {
        self.add(plugin, weight);
        self
    }

    /// Enables every point `plugin` implements, scoring with `weight`.
    pub fn add(&mut self, plugin: &PluginHandle, weight: i64) {
        if let Some(p) = &plugin.queue_sort {
            self.queue_sort = Some(Arc::clone(p));
        }
        macro_rules! push {
            ($field:ident) => {
                if let Some(p) = &plugin.$field {
                    self.$field.push(Arc::clone(p));
                }
            };
        }
        push!(pre_enqueue);
        push!(pre_filter);
        if let Some(p) = &plugin.filter
            && !p.reads_node_pods()
        {
            // Past 64 plugins, no bit: counted as reading pods (always correct).
            self.filter_ignores_pods |=
                1u64.checked_shl(u32::try_from(self.filter.len()).unwrap_or(u32::MAX)).unwrap_or(0);
        }
        push!(filter);
        push!(post_filter);
        push!(pre_score);
        push!(reserve);
        push!(permit);
        push!(pre_bind);
        push!(bind);
        push!(post_bind);
        if let Some(p) = &plugin.score {
            self.score.push((Arc::clone(p), weight.max(1)));
        }
        if let Some(p) = &plugin.plugin {
            self.events.insert(p.name(), p.events_to_register());
        }
    }

    /// The QueueSort plugin.
    pub fn queue_sort(&self) -> Option<&Arc<dyn QueueSortPlugin>> {
        self.queue_sort.as_ref()
    }

    /// The PreEnqueue plugins.
    pub fn pre_enqueue_plugins(&self) -> &[Arc<dyn PreEnqueuePlugin>] {
        &self.pre_enqueue
    }

    /// Events each plugin registered (`None`: every event).
    pub fn events(&self) -> &BTreeMap<&'static str, Option<Vec<ClusterEventWithHint>>> {
        &self.events
    }

    /// Whether any PostFilter plugin is configured.
    pub fn has_post_filter(&self) -> bool {
        !self.post_filter.is_empty()
    }

    /// PreFilter: merges node restrictions; Skip disables the plugin's Filter for this cycle.
    pub fn run_pre_filter(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
    ) -> (PreFilterResult, Status) {
        let mut result = PreFilterResult::default();
        for (i, p) in self.pre_filter.iter().enumerate() {
            let (r, s) = p.pre_filter(state, pod, snapshot);
            if s.is_skip() {
                if !state.skip_filter.contains(p.name()) {
                    state.skip_filter.insert(p.name());
                    state.skip_bits.filter_names += 1;
                }
                SkipBits::set(&mut state.skip_bits.pre_filter, i);
                if let Some(f) = self.filter.iter().position(|f| f.name() == p.name()) {
                    SkipBits::set(&mut state.skip_bits.filter, f);
                }
                continue;
            }
            if !s.is_success() {
                return (result, s.with_plugin(p.name()));
            }
            result = result.merge(r);
            if result.node_names.as_ref().is_some_and(|n| n.is_empty()) {
                let msg = format!("node(s) didn't satisfy plugin(s) [{}]", p.name());
                return (result, Status::unresolvable(msg).with_plugin(p.name()));
            }
        }
        (result, Status::success())
    }

    /// Whether a PreFilter plugin that runs this cycle has AddPod/RemovePod extensions (if
    /// not, adding a pod to a node copy leaves the cycle state as it is).
    pub fn has_pre_filter_extensions(&self, state: &CycleState) -> bool {
        self.pre_filter.iter().enumerate().any(|(i, p)| {
            p.extensions().is_some()
                && !SkipBits::skipped(
                    state.skip_bits.pre_filter,
                    &state.skip_filter,
                    state.skip_bits.filter_names,
                    i,
                    p.name(),
                )
        })
    }

    /// Runs every PreFilter extension's AddPod.
    pub fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        for (i, p) in self.pre_filter.iter().enumerate() {
            if SkipBits::skipped(
                state.skip_bits.pre_filter,
                &state.skip_filter,
                state.skip_bits.filter_names,
                i,
                p.name(),
            ) {
                continue;
            }
            if let Some(ext) = p.extensions() {
                let s = ext.add_pod(state, pod, added, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Runs every PreFilter extension's RemovePod.
    pub fn run_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodInfo>,
        node: &NodeInfo,
    ) -> Status {
        for (i, p) in self.pre_filter.iter().enumerate() {
            if SkipBits::skipped(
                state.skip_bits.pre_filter,
                &state.skip_filter,
                state.skip_bits.filter_names,
                i,
                p.name(),
            ) {
                continue;
            }
            if let Some(ext) = p.extensions() {
                let s = ext.remove_pod(state, pod, removed, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Filter: the first plugin that does not succeed decides.
    pub fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        self.run_filters_masked(state, pod, node, u64::MAX)
    }

    /// Filter on a node that already passed [`Profile::run_filters`], with pods added to
    /// it (nominated pods): only the plugins that read the node's pods can now decide
    /// otherwise, so only they run.
    pub fn run_filters_with_added_pods(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        self.run_filters_masked(state, pod, node, !self.filter_ignores_pods)
    }

    /// Filter with the plugins whose bit is in `mask` (all past the 64th).
    fn run_filters_masked(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, mask: u64) -> Status {
        // Runs for every node: when the skip bits say it all, walk only the plugins that run.
        if self.filter.len() <= 64 && state.skip_filter.len() <= state.skip_bits.filter_names {
            let all = if self.filter.len() == 64 { u64::MAX } else { (1u64 << self.filter.len()) - 1 };
            let mut active = all & !state.skip_bits.filter & mask;
            while active != 0 {
                let i = active.trailing_zeros() as usize;
                active &= active - 1;
                let p = &self.filter[i];
                let s = p.filter(state, pod, node);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
            return Status::success();
        }
        for (i, p) in self.filter.iter().enumerate() {
            let masked = i < 64 && mask & (1 << i) == 0;
            if masked
                || SkipBits::skipped(
                    state.skip_bits.filter,
                    &state.skip_filter,
                    state.skip_bits.filter_names,
                    i,
                    p.name(),
                )
            {
                continue;
            }
            let s = p.filter(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// PostFilter plugins in order until one nominates.
    pub fn post_filter_plugins(&self) -> &[Arc<dyn PostFilterPlugin>] {
        &self.post_filter
    }

    /// PreScore; Skip disables the plugin's Score for this cycle.
    pub fn run_pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_score {
            let s = p.pre_score(state, pod, nodes, snapshot);
            if s.is_skip() {
                if !state.skip_score.contains(p.name()) {
                    state.skip_score.insert(p.name());
                    state.skip_bits.score_names += 1;
                }
                if let Some(i) = self.score.iter().position(|(s, _)| s.name() == p.name()) {
                    SkipBits::set(&mut state.skip_bits.score, i);
                }
                continue;
            }
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Score, NormalizeScore and weights: the total per node (same order as `nodes`).
    /// Plugins score in parallel over nodes.
    pub fn run_score(&self, state: &CycleState, pod: &PodInfo, nodes: &[&NodeInfo]) -> Result<Vec<i64>, Status> {
        let active: Vec<&(Arc<dyn ScorePlugin>, i64)> = self
            .score
            .iter()
            .enumerate()
            .filter(|(i, (p, _))| {
                !SkipBits::skipped(state.skip_bits.score, &state.skip_score, state.skip_bits.score_names, *i, p.name())
            })
            .map(|(_, entry)| entry)
            .collect();
        let mut totals = vec![0i64; nodes.len()];
        let k = active.len();
        if k == 0 {
            return Ok(totals);
        }
        // Node by node, every plugin (as upstream): a node's data is brought into the cache
        // once for all plugins. `raw[node * k + plugin]`.
        let mut raw = vec![0i64; nodes.len() * k];
        let score_node = |(row, n): (&mut [i64], &&NodeInfo)| -> Result<(), Status> {
            for (slot, (p, _)) in row.iter_mut().zip(&active) {
                let (v, st) = p.score(state, pod, n);
                if !st.is_success() {
                    return Err(st.with_plugin(p.name()));
                }
                *slot = v;
            }
            Ok(())
        };
        if nodes.len() >= PARALLEL_MIN_NODES {
            raw.par_chunks_mut(k).zip(nodes.par_iter()).with_min_len(64).try_for_each(score_node)?;
        } else {
            raw.chunks_mut(k).zip(nodes.iter()).try_for_each(score_node)?;
        }
        let mut scores: Vec<NodeScore<'_>> = nodes.iter().map(|n| NodeScore { name: &n.key, score: 0 }).collect();
        for (i, (p, weight)) in active.iter().enumerate() {
            for (s, row) in scores.iter_mut().zip(raw.chunks(k)) {
                s.score = row[i];
            }
            let st = p.normalize(state, pod, &mut scores);
            if !st.is_success() {
                return Err(st.with_plugin(p.name()));
            }
            for (t, s) in totals.iter_mut().zip(&scores) {
                if !(0..=MAX_NODE_SCORE).contains(&s.score) {
                    let msg = format!("plugin {} returned score {} outside [0, 100]", p.name(), s.score);
                    return Err(Status::error(msg).with_plugin(p.name()));
                }
                *t += s.score * weight;
            }
        }
        Ok(totals)
    }

    /// Reserve in order; on failure the caller runs Unreserve.
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.reserve {
            let s = p.reserve(state, pod, node);
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Unreserve in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        for p in self.reserve.iter().rev() {
            p.unreserve(state, pod, node);
        }
    }

    /// Permit: a rejection, or the plugins that asked to wait with the longest timeout.
    pub fn run_permit(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &str,
        waiting: &WaitingPods,
    ) -> (Status, Vec<&'static str>, Duration) {
        let mut wait = Vec::new();
        let mut timeout = Duration::ZERO;
        for p in &self.permit {
            let (s, t) = p.permit(state, pod, node, waiting);
            match s.code() {
                Code::Success | Code::Skip => {}
                Code::Wait => {
                    wait.push(p.name());
                    // Upstream caps a plugin's wait at 15 minutes.
                    timeout = timeout.max(t.min(Duration::from_secs(15 * 60)));
                }
                _ => return (s.with_plugin(p.name()), Vec::new(), Duration::ZERO),
            }
        }
        let code = if wait.is_empty() { Status::success() } else { Status::new(Code::Wait, "waiting on permit") };
        (code, wait, timeout)
    }

    /// PreBind in order.
    pub async fn run_pre_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.pre_bind {
            let s = p.pre_bind(state, pod, node).await;
            if !s.is_success() && !s.is_skip() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Bind: the first plugin not returning Skip.
    pub async fn run_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) -> Status {
        for p in &self.bind {
            let s = p.bind(state, pod, node).await;
            if s.is_skip() {
                continue;
            }
            return if s.is_success() { s } else { s.with_plugin(p.name()) };
        }
        Status::error("no bind plugin bound the pod")
    }

    /// PostBind.
    pub async fn run_post_bind(&self, state: &CycleState, pod: &PodInfo, node: &str) {
        for p in &self.post_bind {
            p.post_bind(state, pod, node).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::framework::{Code, Plugin, PluginHandle};
    use crate::plugins::testing::{node, pod};
    use serde_json::json;

    /// Rejects every node; `reads_pods` is what it declares.
    struct Reject {
        name: &'static str,
        reads_pods: bool,
    }

    impl Plugin for Reject {
        fn name(&self) -> &'static str {
            self.name
        }
    }

    impl FilterPlugin for Reject {
        fn filter(&self, _: &CycleState, _: &PodInfo, _: &NodeInfo) -> Status {
            Status::unschedulable(self.name)
        }
        fn reads_node_pods(&self) -> bool {
            self.reads_pods
        }
    }

    #[test]
    fn with_added_pods_only_the_filters_that_read_pods_run() {
        let profile = |plugins: Vec<Reject>| {
            plugins.into_iter().fold(Profile::new("p"), |p, r| p.with(&PluginHandle::of(r).filter().build(), 1))
        };
        let (state, p, n) = (CycleState::new(), pod(json!({"metadata": {"name": "p"}})), node(json!({})));
        let both = profile(vec![
            Reject { name: "NodeOnly", reads_pods: false },
            Reject { name: "ReadsPods", reads_pods: true },
        ]);
        assert_eq!(both.run_filters(&state, &p, &n).plugin(), Some("NodeOnly"));
        let s = both.run_filters_with_added_pods(&state, &p, &n);
        assert_eq!((s.code(), s.plugin()), (Code::Unschedulable, Some("ReadsPods")));
        // Only plugins that read the node itself: nothing can change with pods added.
        let node_only = profile(vec![Reject { name: "NodeOnly", reads_pods: false }]);
        assert!(node_only.run_filters_with_added_pods(&state, &p, &n).is_success());
    }
}
