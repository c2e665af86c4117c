//! The victims on one node (upstream `SelectVictimsOnNode`): on a copy of the node, remove
//! every pod of lower priority than the preemptor, check that it fits, then reprieve as many
//! of them as possible — those whose eviction would violate a PodDisruptionBudget first,
//! each group from the most important pod down.

use std::cmp::Ordering;
use std::sync::Arc;

use jiff::Timestamp;

use super::pdb::{Budget, split_by_violation};
use crate::framework::{CycleState, Handle, Status};
use crate::types::{NodeInfo, PodInfo};

/// Status reason of a node without lower-priority pods.
pub(super) const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// The pods to evict on a node, most important first.
#[derive(Debug, Clone)]
pub(super) struct Victims {
    /// The victims, by decreasing importance (the first has the highest priority).
    pub(super) pods: Vec<Arc<PodInfo>>,
    /// How many of them violate a PodDisruptionBudget.
    pub(super) num_pdb_violations: usize,
}

/// When the pod started (`status.startTime`); pods that have not started count as `now`
/// (upstream reads the clock each time; one instant per attempt keeps ties stable).
pub(super) fn start_time(pod: &PodInfo, now: Timestamp) -> Timestamp {
    pod.pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(now, |t| t.0)
}

/// Upstream `MoreImportantPod` as an ordering: higher priority first, then the pod that has
/// run longer (earlier start).
fn importance(a: &PodInfo, b: &PodInfo, now: Timestamp) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| start_time(a, now).cmp(&start_time(b, now)))
}

/// Sorts by decreasing importance, reading each start time once.
fn sort_by_importance(pods: &mut [Arc<PodInfo>], now: Timestamp) {
    if pods.iter().all(|p| p.priority == pods[0].priority) {
        // Start times decide: read them once.
        pods.sort_by_cached_key(|p| start_time(p, now));
    } else {
        pods.sort_by(|a, b| importance(a, b, now));
    }
}

/// What a dry run needs besides the node.
pub(super) struct DryRun<'a> {
    /// The framework (filters, PreFilter extensions, nominated pods).
    pub(super) handle: &'a dyn Handle,
    /// The cycle state after PreFilter; copied per node.
    pub(super) state: &'a CycleState,
    /// The preemptor.
    pub(super) pod: &'a PodInfo,
    /// PodDisruptionBudgets of the cluster.
    pub(super) budgets: &'a [Budget],
    /// The instant standing for "not started yet".
    pub(super) now: Timestamp,
}

/// A PreFilter extension failure as an error (upstream wraps it with `AsStatus`).
fn extension_error(what: &str, s: Status) -> Status {
    let msg = match s.plugin() {
        Some(p) => format!("running {what} on PreFilter plugin {p:?}: {s}"),
        None => format!("running {what}: {s}"),
    };
    Status::error(msg)
}

/// A node copy with its cycle state, kept consistent through the PreFilter extensions.
struct NodeCopy {
    node: NodeInfo,
    state: CycleState,
}

/// The node being simulated. Upstream runs the filters with the nominated pods of at least
/// the preemptor's priority added to a fresh copy of the node, then (if there are any)
/// without them (`RunFilterPluginsWithNominatedPods`); here a second copy keeps them added
/// for the whole simulation, so each filter run costs no copy.
struct Sim<'a, 'b> {
    dry: &'b DryRun<'a>,
    plain: NodeCopy,
    with_nominated: Option<NodeCopy>,
}

impl<'a, 'b> Sim<'a, 'b> {
    fn new(dry: &'b DryRun<'a>, node: &NodeInfo, nominated: &[Arc<PodInfo>]) -> Result<Self, Status> {
        let plain = NodeCopy { node: node.clone(), state: dry.state.clone() };
        let with_nominated = if nominated.is_empty() {
            None
        } else {
            let mut c = NodeCopy { node: node.clone(), state: dry.state.clone() };
            for p in nominated {
                c.node.add_pod(Arc::clone(p));
                let s = dry.handle.run_add_pod(&mut c.state, dry.pod, p, &c.node);
                if !s.is_success() {
                    return Err(extension_error("AddPod", s));
                }
            }
            Some(c)
        };
        Ok(Self { dry, plain, with_nominated })
    }

    fn copies(&mut self) -> impl Iterator<Item = &mut NodeCopy> {
        self.with_nominated.iter_mut().chain(std::iter::once(&mut self.plain))
    }

    fn remove(&mut self, victim: &Arc<PodInfo>) -> Result<(), Status> {
        let (handle, pod) = (self.dry.handle, self.dry.pod);
        for c in self.copies() {
            c.node.remove_pod(&victim.key);
            let s = handle.run_remove_pod(&mut c.state, pod, victim, &c.node);
            if !s.is_success() {
                return Err(extension_error("RemovePod", s));
            }
        }
        Ok(())
    }

    fn add(&mut self, victim: &Arc<PodInfo>) -> Result<(), Status> {
        let (handle, pod) = (self.dry.handle, self.dry.pod);
        for c in self.copies() {
            c.node.add_pod(Arc::clone(victim));
            let s = handle.run_add_pod(&mut c.state, pod, victim, &c.node);
            if !s.is_success() {
                return Err(extension_error("AddPod", s));
            }
        }
        Ok(())
    }

    /// The filters' verdict, with the nominated pods, then without.
    fn fits(&self) -> Status {
        let (handle, pod) = (self.dry.handle, self.dry.pod);
        if let Some(c) = &self.with_nominated {
            let s = handle.run_filters(&c.state, pod, &c.node);
            if !s.is_success() {
                return s;
            }
        }
        handle.run_filters(&self.plain.state, pod, &self.plain.node)
    }

    /// Puts `victim` back; keeps it unless the preemptor stops fitting. Returns whether it
    /// was reprieved.
    fn reprieve(&mut self, victim: &Arc<PodInfo>) -> Result<bool, Status> {
        self.add(victim)?;
        if self.fits().is_success() {
            return Ok(true);
        }
        self.remove(victim)?;
        Ok(false)
    }
}

impl DryRun<'_> {
    /// The pods of `node` the preemptor may evict.
    fn potential_victims(&self, node: &NodeInfo) -> Vec<Arc<PodInfo>> {
        node.pods.iter().filter(|p| p.priority < self.pod.priority).cloned().collect()
    }

    /// The pods nominated to `node` that count as present for the preemptor: those of at
    /// least its priority, itself excluded.
    pub(super) fn nominated_on(&self, node: &NodeInfo) -> Vec<Arc<PodInfo>> {
        let mut pods = self.handle.nominated_pods(&node.name);
        pods.retain(|p| p.priority >= self.pod.priority && p.key != self.pod.key);
        pods
    }

    /// The fewest victims on `node` that make room for the preemptor, with how many of them
    /// violate a budget; `nominated` comes from [`DryRun::nominated_on`]. A rejection (the
    /// preemptor does not fit even without them, or there are none) or an error comes back
    /// as the node's status.
    pub(super) fn select_victims(&self, node: &NodeInfo, nominated: &[Arc<PodInfo>]) -> Result<Victims, Status> {
        let mut potential = self.potential_victims(node);
        if potential.is_empty() {
            // Nothing changes on the node: no need to copy it or run the filters again.
            return Err(Status::unresolvable(NO_VICTIMS));
        }
        let mut sim = Sim::new(self, node, nominated)?;
        for v in &potential {
            sim.remove(v)?;
        }
        // If the preemptor does not fit even without them, this node cannot help (pod
        // affinity to a victim is deliberately not considered, as upstream).
        let s = sim.fits();
        if !s.is_success() {
            return Err(s);
        }
        sort_by_importance(&mut potential, self.now);
        let (violating, others) = split_by_violation(potential, self.budgets);
        let mixed = !violating.is_empty() && !others.is_empty();
        let mut victims = Vec::new();
        let mut num_pdb_violations = 0;
        for v in violating {
            if !sim.reprieve(&v)? {
                num_pdb_violations += 1;
                victims.push(v);
            }
        }
        for v in others {
            if !sim.reprieve(&v)? {
                victims.push(v);
            }
        }
        if mixed {
            sort_by_importance(&mut victims, self.now);
        }
        Ok(Victims { pods: victims, num_pdb_violations })
    }
}
