//! The scheduler: the serial scheduling loop over the queue, concurrent binding cycles,
//! and preemption's nominations — fed through a [`SchedulerHandle`] either by an
//! application (in memory) or by informers (the `kube` module).

pub mod cycle;
mod events;
mod metrics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kapi::k8s::api::core::v1::{Node, Pod};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub use cycle::{CycleContext, FitError, ScheduleResult, num_feasible_nodes_to_find, schedule_pod};
pub use metrics::SchedulerMetrics;

use crate::cache::Cache;
use crate::framework::{
    ClusterEvent, ClusterObject, ClusterState, Code, CycleState, EventResource, Handle, Plugin, PreEnqueuePlugin,
    Profile, QueueSortPlugin, QueuedPodInfo, SchedulerConfig, Snapshot, Status, WaitingPods,
};

/// The queue order when no profile has a QueueSort plugin: higher priority, then older.
struct PriorityOrder;

impl Plugin for PriorityOrder {
    fn name(&self) -> &'static str {
        "PrioritySort"
    }
}

impl QueueSortPlugin for PriorityOrder {
    fn less(&self, a: &QueuedPodInfo, b: &QueuedPodInfo) -> bool {
        (a.pod.priority, std::cmp::Reverse(a.timestamp)) > (b.pod.priority, std::cmp::Reverse(b.timestamp))
    }
}
use crate::queue::{NominationsBySlot, QueueSettings, QueueingHintMap, SchedulingQueue};
use crate::types::{NodeInfo, PodInfo};

/// What happened to a pod, for the driver to report (PodScheduled condition, events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Bound to a node.
    Bound {
        /// `namespace/name`.
        pod: String,
        /// The node.
        node: String,
    },
    /// No node fits; the pod waits in the queue.
    Unschedulable {
        /// `namespace/name`.
        pod: String,
        /// Upstream's message (`0/3 nodes are available: …`).
        message: String,
        /// A node nominated by preemption, whose victims are being evicted.
        nominated_node: Option<String>,
        /// Victims to evict (`namespace/name`).
        victims: Vec<String>,
        /// Lower-priority pods whose nomination to `nominated_node` was withdrawn: they may
        /// no longer fit there (`namespace/name`; the driver clears their
        /// `status.nominatedNodeName`).
        cleared_nominations: Vec<String>,
    },
    /// An error (plugin error, binding failure); the pod is retried with backoff.
    Error {
        /// `namespace/name`.
        pod: String,
        /// What failed.
        message: String,
    },
}

struct Shared {
    cache: Mutex<Cache>,
    queue: Mutex<SchedulingQueue>,
    wake: Notify,
    waiting: WaitingPods,
    profiles: HashMap<String, Arc<Profile>>,
    /// In memory, nobody reports bindings back: the scheduler confirms them itself.
    confirm_bindings: bool,
    outcomes: mpsc::UnboundedSender<Outcome>,
    metrics: std::sync::OnceLock<SchedulerMetrics>,
    /// Some plugin registered for `UnscheduledPod` ADD: raise it when a pending pod arrives.
    announce_pending_adds: bool,
}

impl Shared {
    /// Reports an outcome, counting it in the metrics.
    fn report(&self, outcome: Outcome, profile: &str, started: Instant) {
        if let Some(m) = self.metrics.get() {
            let result = match &outcome {
                Outcome::Bound { .. } => "scheduled",
                Outcome::Unschedulable { victims, nominated_node, .. } => {
                    if nominated_node.is_some() {
                        m.preemption(victims.len());
                    }
                    "unschedulable"
                }
                Outcome::Error { .. } => "error",
            };
            m.attempt(result, profile, started.elapsed().as_secs_f64());
        }
        let _ = self.outcomes.send(outcome);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Feeds the scheduler with nodes, pods and cluster objects (and their changes).
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerHandle").finish()
    }
}

impl SchedulerHandle {
    fn event(&self, event: ClusterEvent, old: Option<ClusterObject>, new: Option<ClusterObject>) {
        lock(&self.shared.queue).on_event(event, old.as_ref(), new.as_ref(), Instant::now());
        self.shared.wake.notify_one();
    }

    /// A node appeared.
    pub fn add_node(&self, node: Arc<Node>) {
        let info = Arc::new(NodeInfo::new(Arc::clone(&node)));
        lock(&self.shared.cache).upsert_node(node);
        self.event(events::node_added(), None, Some(ClusterObject::Node(info)));
    }

    /// A node changed.
    pub fn update_node(&self, old: Arc<Node>, new: Arc<Node>) {
        let (o, n) = (Arc::new(NodeInfo::new(old)), Arc::new(NodeInfo::new(Arc::clone(&new))));
        let action = events::node_update_action(&o, &n);
        lock(&self.shared.cache).upsert_node(new);
        if let Some(action) = action {
            self.event(events::node(action), Some(ClusterObject::Node(o)), Some(ClusterObject::Node(n)));
        }
    }

    /// A node went away.
    pub fn delete_node(&self, name: &str) {
        lock(&self.shared.cache).remove_node(name);
    }

    /// A pod appeared: bound pods are counted on their node, pending pods of a known
    /// scheduler name are queued.
    pub fn add_pod(&self, pod: Arc<Pod>) {
        let info = Arc::new(PodInfo::new(pod));
        if info.node_name.is_some() {
            lock(&self.shared.cache).add_pod(Arc::clone(&info));
            lock(&self.shared.queue).remove_nomination(&info.key);
            self.event(events::assigned_pod(crate::framework::ActionType::ADD), None, Some(ClusterObject::Pod(info)));
        } else if self.shared.profiles.contains_key(&info.scheduler_name) && !events::terminal(&info) {
            lock(&self.shared.queue).add(Arc::clone(&info), Instant::now());
            if self.shared.announce_pending_adds {
                // A sibling's arrival may complete a group another pod waits for (gang scheduling).
                self.event(events::unscheduled_pod_added(), None, Some(ClusterObject::Pod(info)));
            } else {
                self.shared.wake.notify_one();
            }
        }
    }

    /// A pod changed.
    pub fn update_pod(&self, old: Arc<Pod>, new: Arc<Pod>) {
        let (o, n) = (Arc::new(PodInfo::new(old)), Arc::new(PodInfo::new(new)));
        match (&o.node_name, &n.node_name) {
            (_, Some(_)) => {
                // Bound (now or before): the cache follows; labels may matter to affinity.
                lock(&self.shared.cache).add_pod(Arc::clone(&n));
                lock(&self.shared.queue).delete(&n.key);
                if let Some(action) = events::assigned_pod_update_action(&o, &n) {
                    self.event(events::assigned_pod(action), Some(ClusterObject::Pod(o)), Some(ClusterObject::Pod(n)));
                }
            }
            (None, None) if self.shared.profiles.contains_key(&n.scheduler_name) => {
                if events::terminal(&n) {
                    lock(&self.shared.queue).delete(&n.key);
                } else {
                    lock(&self.shared.queue).update(&o, n, Instant::now());
                    self.shared.wake.notify_one();
                }
            }
            _ => {}
        }
    }

    /// A pod went away.
    pub fn delete_pod(&self, pod: &Pod) {
        let info = Arc::new(PodInfo::new(Arc::new(pod.clone())));
        if info.node_name.is_some() {
            lock(&self.shared.cache).remove_pod(&info.key);
            self.event(
                events::assigned_pod(crate::framework::ActionType::DELETE),
                Some(ClusterObject::Pod(info)),
                None,
            );
        } else {
            let mut q = lock(&self.shared.queue);
            q.delete(&info.key);
            q.remove_nomination(&info.key);
        }
    }

    /// Changes the cluster objects plugins read, then announces `event`.
    pub fn update_cluster(&self, event: Option<ClusterEvent>, f: impl FnOnce(&mut ClusterState)) {
        lock(&self.shared.cache).update_cluster_state(f);
        if let Some(e) = event {
            self.event(e, None, None);
        }
    }

    /// Pods waiting on Permit (gang scheduling).
    pub fn waiting_pods(&self) -> &WaitingPods {
        &self.shared.waiting
    }

    /// Queue sizes: (active, backoff, unschedulable, gated).
    pub fn pending(&self) -> (usize, usize, usize, usize) {
        lock(&self.shared.queue).pending_counts()
    }
}

/// The scheduling loop. Build with [`Scheduler::new`], feed through the handle, drive with
/// [`Scheduler::run`].
pub struct Scheduler {
    shared: Arc<Shared>,
    snapshot: Snapshot,
    /// The queue's nominations by snapshot position, kept in step each cycle.
    nominations: NominationsBySlot,
    next_start: usize,
    percentage: u32,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("profiles", &self.shared.profiles.keys().collect::<Vec<_>>()).finish()
    }
}

/// The PostFilter plugins' view of the cycle.
struct CycleHandle<'a> {
    profile: &'a Profile,
    snapshot: &'a Snapshot,
    shared: &'a Shared,
}

impl Handle for CycleHandle<'_> {
    fn snapshot(&self) -> &Snapshot {
        self.snapshot
    }
    fn run_filters(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        self.profile.run_filters(state, pod, node)
    }
    fn run_remove_pod(&self, state: &mut CycleState, pod: &PodInfo, victim: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        self.profile.run_remove_pod(state, pod, victim, node)
    }
    fn run_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodInfo>, node: &NodeInfo) -> Status {
        self.profile.run_add_pod(state, pod, added, node)
    }
    fn nominated_pods(&self, node: &str) -> Vec<Arc<PodInfo>> {
        lock(&self.shared.queue).nominated_pods_for_node(node)
    }
}

impl Scheduler {
    /// A scheduler with `profiles` (the first one's QueueSort orders the queue). With
    /// `confirm_bindings`, successful bindings are counted as confirmed at once (in memory;
    /// against an API server the informer confirms them). Returns the scheduler, its handle
    /// and the stream of outcomes.
    ///
    /// # Panics
    /// Never; a profile list without a QueueSort plugin falls back to priority order.
    pub fn new(
        profiles: Vec<Profile>,
        config: &SchedulerConfig,
        confirm_bindings: bool,
    ) -> (Scheduler, SchedulerHandle, mpsc::UnboundedReceiver<Outcome>) {
        let settings = QueueSettings {
            initial_backoff: Duration::from_secs(config.pod_initial_backoff_seconds.max(1)),
            max_backoff: Duration::from_secs(config.pod_max_backoff_seconds.max(1)),
            ..QueueSettings::default()
        };
        let sort: Arc<dyn QueueSortPlugin> = match profiles.iter().find_map(|p| p.queue_sort().cloned()) {
            Some(s) => s,
            None => Arc::new(PriorityOrder),
        };
        let pre_enqueue: HashMap<String, Vec<Arc<dyn PreEnqueuePlugin>>> =
            profiles.iter().map(|p| (p.scheduler_name.clone(), p.pre_enqueue_plugins().to_vec())).collect();
        let hints = QueueingHintMap::from_profiles(profiles.iter().map(|p| (p.scheduler_name.as_str(), p.events())));
        let queue = SchedulingQueue::new(sort, pre_enqueue, hints, settings);
        // Explicit registrations only: plugins registered for every event (wildcard) do not
        // reject pods, and raising the event for every arriving pod is not free.
        let pending_add = events::unscheduled_pod_added();
        let announce_pending_adds = profiles.iter().any(|p| {
            p.events()
                .values()
                .flatten()
                .flatten()
                .any(|e| e.event.resource == EventResource::UnscheduledPod && e.event.covers(&pending_add))
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::new()),
            queue: Mutex::new(queue),
            wake: Notify::new(),
            waiting: WaitingPods::default(),
            profiles: profiles.into_iter().map(|p| (p.scheduler_name.clone(), Arc::new(p))).collect(),
            confirm_bindings,
            outcomes: tx,
            metrics: std::sync::OnceLock::new(),
            announce_pending_adds,
        });
        let handle = SchedulerHandle { shared: Arc::clone(&shared) };
        let s = Scheduler {
            shared,
            snapshot: Snapshot::default(),
            nominations: NominationsBySlot::default(),
            next_start: 0,
            percentage: config.percentage_of_nodes_to_score,
        };
        (s, handle, rx)
    }

    /// Reports `scheduler_*` metrics into `metrics` (call before running).
    pub fn set_metrics(&self, metrics: SchedulerMetrics) {
        let _ = self.shared.metrics.set(metrics);
    }

    /// Runs until `cancel` fires: pops pods, schedules them one at a time, and spawns their
    /// binding cycles.
    ///
    /// # Cancel safety
    /// Dropping the future stops scheduling; binding cycles already spawned finish.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut leftover = tokio::time::interval(Duration::from_secs(30));
        loop {
            let now = Instant::now();
            let next = {
                let mut q = lock(&self.shared.queue);
                q.flush(now);
                if let Some(m) = self.shared.metrics.get() {
                    m.pending(q.pending_counts());
                }
                q.pop(now)
            };
            if let Some(queued) = next {
                self.schedule_one(queued);
                tokio::task::yield_now().await;
                continue;
            }
            let sleep = lock(&self.shared.queue)
                .next_backoff_expiry()
                .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(Instant::now()));
            tokio::select! {
                () = cancel.cancelled() => return,
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(sleep.max(Duration::from_millis(1))) => {}
                _ = leftover.tick() => {
                    lock(&self.shared.queue).flush_unschedulable_leftover(Instant::now());
                }
            }
        }
    }

    /// Schedules until no pod is active or backing off (pods left unschedulable stay),
    /// running each binding cycle inline: the in-memory path benchmarks and tests drive.
    /// Returns how many attempts were made.
    pub async fn drain(&mut self) -> usize {
        self.drain_timed().await.len()
    }

    /// [`Scheduler::drain`], returning the duration of each scheduling attempt (the cycle
    /// and its binding).
    pub async fn drain_timed(&mut self) -> Vec<Duration> {
        let mut latencies = Vec::new();
        loop {
            let (next, backoff) = {
                let mut q = lock(&self.shared.queue);
                q.flush(Instant::now());
                (q.pop(Instant::now()), q.next_backoff_expiry())
            };
            let Some(queued) = next else {
                match backoff {
                    // Wait for the next pod to come out of backoff.
                    Some(t) => {
                        tokio::time::sleep(t.saturating_duration_since(Instant::now())).await;
                        continue;
                    }
                    None => return latencies,
                }
            };
            let started = Instant::now();
            if let Some(binding) = self.schedule_one_inner(queued) {
                binding.await;
            }
            latencies.push(started.elapsed());
        }
    }

    fn schedule_one(&mut self, queued: QueuedPodInfo) {
        if let Some(binding) = self.schedule_one_inner(queued) {
            tokio::spawn(binding);
        }
    }

    /// The scheduling cycle; returns the binding cycle to run when a node was chosen.
    fn schedule_one_inner(&mut self, mut queued: QueuedPodInfo) -> Option<impl Future<Output = ()> + Send + 'static> {
        let started = Instant::now();
        let pod = Arc::clone(&queued.pod);
        let Some(profile) = self.shared.profiles.get(&pod.scheduler_name).cloned() else {
            lock(&self.shared.queue).done(&pod.key);
            return None;
        };
        lock(&self.shared.cache).update_snapshot(&mut self.snapshot);
        let mut state = CycleState::new();
        // The nominations are read once per cycle: filtering asks for every node it checks.
        let nominated_node = {
            let mut q = lock(&self.shared.queue);
            let (nominated, changes) = q.nominations_and_changes();
            let replaced = self.snapshot.take_replaced();
            self.nominations.sync(&self.snapshot, &nominated, changes, replaced);
            q.nominated_node(&pod.key).map(str::to_owned)
        };
        let ctx = CycleContext {
            profile: &profile,
            snapshot: &self.snapshot,
            percentage: profile.percentage_of_nodes_to_score.unwrap_or(self.percentage),
            nominated: &self.nominations,
            nominated_node: nominated_node.as_deref(),
        };
        let result = schedule_pod(&ctx, &mut state, &pod, &mut self.next_start);
        let chosen = match result {
            Ok(r) => r.node,
            Err(fit) => {
                self.handle_failure(&profile, &mut state, &mut queued, fit, started);
                return None;
            }
        };
        // Assume: the next cycle counts the pod on its node before the binding is confirmed.
        let assumed = match lock(&self.shared.cache).assume_pod(&pod, &chosen) {
            Ok(a) => a,
            Err(e) => {
                warn!(pod = %pod.key, error = %e, "assume failed");
                lock(&self.shared.queue).done(&pod.key);
                return None;
            }
        };
        // The pod now counts on its node: its nomination (from an earlier preemption) must
        // not count it a second time (upstream `DeleteNominatedPodIfExists` in `assume`).
        lock(&self.shared.queue).remove_nomination(&pod.key);
        let reserve = profile.run_reserve(&mut state, &assumed, &chosen);
        if !reserve.is_success() {
            profile.run_unreserve(&mut state, &assumed, &chosen);
            self.fail_attempt(&mut queued, &chosen, reserve, &profile.scheduler_name, started);
            return None;
        }
        let (permit, wait_for, timeout) = profile.run_permit(&state, &assumed, &chosen, &self.shared.waiting);
        if !permit.is_success() && permit.code() != Code::Wait {
            profile.run_unreserve(&mut state, &assumed, &chosen);
            self.fail_attempt(&mut queued, &chosen, permit, &profile.scheduler_name, started);
            return None;
        }
        let waiting = (!wait_for.is_empty())
            .then(|| self.shared.waiting.add(Arc::clone(&assumed), &chosen, wait_for.into_iter().collect()));
        let shared = Arc::clone(&self.shared);
        Some(async move {
            binding_cycle(shared, profile, state, queued, assumed, chosen, waiting, timeout, started).await;
        })
    }

    /// A failed scheduling cycle: PostFilter (preemption) when nothing fit, then back to the
    /// queue.
    fn handle_failure(
        &self,
        profile: &Profile,
        state: &mut CycleState,
        queued: &mut QueuedPodInfo,
        fit: FitError,
        started: Instant,
    ) {
        let pod = Arc::clone(&queued.pod);
        let error = fit.pre_filter.as_ref().is_some_and(|s| s.code() == Code::Error);
        let mut nominated = None;
        let mut victims = Vec::new();
        // Upstream's `PostFilterMsg`: the reasons of the PostFilter plugins that did not
        // nominate, appended to the filter message.
        let mut post_filter_reasons: Vec<String> = Vec::new();
        if !error && profile.has_post_filter() && fit.pre_filter.is_none() {
            let handle = CycleHandle { profile, snapshot: &self.snapshot, shared: &self.shared };
            for p in profile.post_filter_plugins() {
                let r = p.post_filter(state, &pod, &fit.statuses, &handle);
                if r.status.is_success() {
                    nominated = r.nominated_node;
                    victims = r.victims;
                    post_filter_reasons.clear();
                    break;
                }
                post_filter_reasons.extend(r.status.reasons().iter().map(|r| r.to_string()));
                if r.status.code() == Code::Error {
                    break;
                }
            }
        }
        let mut message = fit.message();
        if !post_filter_reasons.is_empty() {
            message.push(' ');
            message.push_str(&post_filter_reasons.join(", "));
        }
        debug!(pod = %pod.key, %message, "unschedulable");
        let mut q = lock(&self.shared.queue);
        let mut cleared_nominations = Vec::new();
        if let Some(node) = &nominated {
            q.nominate(Arc::clone(&pod), node);
            // Upstream `prepareCandidate`: lower-priority pods nominated to the same node may
            // no longer fit there once the preemptor takes the room.
            for other in q.nominated_pods_for_node(node) {
                if other.priority < pod.priority {
                    q.remove_nomination(&other.key);
                    cleared_nominations.push(other.key.clone());
                }
            }
        }
        queued.unschedulable_plugins = fit.rejecting_plugins().into_iter().collect();
        if error {
            queued.unschedulable_plugins.clear();
        }
        q.add_unschedulable(queued.clone(), Instant::now());
        drop(q);
        if self.shared.confirm_bindings {
            // In memory, preemption's victims are removed here (against an API server the
            // driver deletes them and the informer reports it).
            let mut cache = lock(&self.shared.cache);
            for v in &victims {
                cache.remove_pod(&v.key);
            }
            drop(cache);
            let mut q = lock(&self.shared.queue);
            for v in &victims {
                let event = events::assigned_pod(crate::framework::ActionType::DELETE);
                q.on_event(event, Some(&ClusterObject::Pod(Arc::clone(v))), None, Instant::now());
            }
        }
        let outcome = if error {
            Outcome::Error { pod: pod.key.clone(), message }
        } else {
            Outcome::Unschedulable {
                pod: pod.key.clone(),
                message,
                nominated_node: nominated,
                victims: victims.iter().map(|v| v.key.clone()).collect(),
                cleared_nominations,
            }
        };
        self.shared.report(outcome, &profile.scheduler_name, started);
        if !victims.is_empty() {
            self.shared.wake.notify_one();
        }
    }

    fn fail_attempt(&self, queued: &mut QueuedPodInfo, node: &str, status: Status, profile: &str, started: Instant) {
        let pod = Arc::clone(&queued.pod);
        let _ = lock(&self.shared.cache).forget_pod(&pod.key);
        queued.unschedulable_plugins = status.plugin().into_iter().collect();
        lock(&self.shared.queue).add_unschedulable(queued.clone(), Instant::now());
        let outcome = Outcome::Unschedulable {
            pod: pod.key.clone(),
            message: format!("{status} (node {node})"),
            nominated_node: None,
            victims: Vec::new(),
            cleared_nominations: Vec::new(),
        };
        self.shared.report(outcome, profile, started);
    }
}

#[allow(clippy::too_many_arguments)]
async fn binding_cycle(
    shared: Arc<Shared>,
    profile: Arc<Profile>,
    mut state: CycleState,
    mut queued: QueuedPodInfo,
    assumed: Arc<PodInfo>,
    node: String,
    waiting: Option<tokio::sync::oneshot::Receiver<Status>>,
    timeout: Duration,
    started: Instant,
) {
    let mut status = Status::success();
    if let Some(rx) = waiting {
        status = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => Status::error("permit wait abandoned"),
            Err(_) => {
                shared.waiting.remove(&assumed.uid);
                Status::unschedulable("rejected due to timeout after waiting at permit")
            }
        };
    }
    if status.is_success() {
        status = profile.run_pre_bind(&state, &assumed, &node).await;
    }
    if status.is_success() {
        status = profile.run_bind(&state, &assumed, &node).await;
    }
    if status.is_success() {
        if shared.confirm_bindings {
            lock(&shared.cache).add_pod(Arc::clone(&assumed));
        }
        lock(&shared.queue).done(&assumed.key);
        profile.run_post_bind(&state, &assumed, &node).await;
        shared.report(Outcome::Bound { pod: assumed.key.clone(), node }, &profile.scheduler_name, started);
        return;
    }
    // Undo: unreserve, forget the assumption, retry later.
    profile.run_unreserve(&mut state, &assumed, &node);
    let _ = lock(&shared.cache).forget_pod(&assumed.key);
    queued.unschedulable_plugins = status.plugin().into_iter().filter(|_| status.is_rejected()).collect();
    lock(&shared.queue).add_unschedulable(queued, Instant::now());
    shared.wake.notify_one();
    let outcome = if status.is_rejected() {
        Outcome::Unschedulable {
            pod: assumed.key.clone(),
            message: status.to_string(),
            nominated_node: None,
            victims: Vec::new(),
            cleared_nominations: Vec::new(),
        }
    } else {
        Outcome::Error { pod: assumed.key.clone(), message: status.to_string() }
    };
    shared.report(outcome, &profile.scheduler_name, started);
}
