//! Whole rollouts against an in-memory cluster: plan, apply the actions, let a minimal
//! ReplicaSet controller create or terminate pods, let the pods become ready, plan again.

use super::fixtures::*;
use super::revision::*;
use super::status::*;
use super::*;
use kapi::k8s::api::core::v1::{PodCondition, PodStatus};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::{ProptestConfig, Strategy as _, prop_assert_eq, prop_oneof, proptest};

#[derive(Debug, Clone)]
struct SimPod {
    name: String,
    rs_uid: String,
    labels: BTreeMap<String, String>,
    ready: bool,
    terminating: bool,
}

struct Sim {
    d: Deployment,
    rss: Vec<ReplicaSet>,
    pods: Vec<SimPod>,
    now: i64,
    uid_seq: u32,
    pod_seq: u32,
}

/// Counts observed right after the controllers acted (before pods become ready or go away).
#[derive(Debug, Clone, Copy)]
struct Snapshot {
    live: usize,
    ready: usize,
    /// Pods (terminating ones included) of the ReplicaSet matching the current template, and
    /// of every other ReplicaSet.
    new_any: usize,
    old_any: usize,
}

impl Sim {
    fn new(d: Deployment) -> Self {
        Self { d, rss: Vec::new(), pods: Vec::new(), now: 0, uid_seq: 0, pod_seq: 0 }
    }

    fn k8s_pods(&self) -> Vec<Pod> {
        self.pods
            .iter()
            .map(|p| Pod {
                metadata: ObjectMeta {
                    name: Some(p.name.clone()),
                    namespace: Some("ns".into()),
                    uid: Some(format!("uid-{}", p.name)),
                    labels: Some(p.labels.clone()),
                    deletion_timestamp: p.terminating.then(|| Time(t(self.now))),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "ReplicaSet".into(),
                        name: String::new(),
                        uid: p.rs_uid.clone(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]),
                    ..Default::default()
                },
                spec: None,
                status: Some(PodStatus {
                    phase: Some("Running".into()),
                    conditions: Some(vec![PodCondition {
                        type_: "Ready".into(),
                        status: if p.ready { "True" } else { "False" }.into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            })
            .collect()
    }

    fn uid(rs: &ReplicaSet) -> String {
        rs.metadata.uid.clone().unwrap_or_default()
    }

    /// The ReplicaSet controller's status for each ReplicaSet.
    fn refresh_status(&mut self) {
        for rs in &mut self.rss {
            let uid = Self::uid(rs);
            let live: Vec<&SimPod> = self.pods.iter().filter(|p| p.rs_uid == uid && !p.terminating).collect();
            let ready = i32::try_from(live.iter().filter(|p| p.ready).count()).unwrap();
            let status = rs.status.get_or_insert_with(Default::default);
            status.replicas = i32::try_from(live.len()).unwrap();
            status.ready_replicas = Some(ready);
            status.available_replicas = Some(ready);
            status.observed_generation = rs.metadata.generation;
        }
    }

    /// The ReplicaSet controller creating or terminating (unready first) pods.
    fn reconcile_pods(&mut self) {
        for rs in &self.rss {
            let uid = Self::uid(rs);
            let want = usize::try_from(spec_replicas(rs)).unwrap();
            let mut live: Vec<usize> =
                (0..self.pods.len()).filter(|i| self.pods[*i].rs_uid == uid && !self.pods[*i].terminating).collect();
            live.sort_by_key(|i| self.pods[*i].ready);
            if live.len() > want {
                for &i in &live[..live.len() - want] {
                    self.pods[i].terminating = true;
                }
            }
            let labels =
                rs.spec.as_ref().unwrap().template.as_ref().unwrap().metadata.as_ref().unwrap().labels.clone().unwrap();
            for _ in live.len()..want {
                self.pod_seq += 1;
                self.pods.push(SimPod {
                    name: format!("pod-{}", self.pod_seq),
                    rs_uid: uid.clone(),
                    labels: labels.clone(),
                    ready: false,
                    terminating: false,
                });
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let template = self.d.spec.as_ref().unwrap().template.clone();
        let new_uid = self
            .rss
            .iter()
            .find(|rs| equal_ignore_hash(rs.spec.as_ref().unwrap().template.as_ref().unwrap(), &template))
            .map(Self::uid);
        let live = self.pods.iter().filter(|p| !p.terminating);
        Snapshot {
            live: live.clone().count(),
            ready: live.filter(|p| p.ready).count(),
            new_any: self.pods.iter().filter(|p| Some(&p.rs_uid) == new_uid.as_ref()).count(),
            old_any: self.pods.iter().filter(|p| Some(&p.rs_uid) != new_uid.as_ref()).count(),
        }
    }

    /// One round: plan, apply, pods reconciled. Returns the plan and the snapshot.
    fn step(&mut self) -> (DeploymentPlan, Snapshot) {
        self.refresh_status();
        let pods = self.k8s_pods();
        let input = DeploymentInput { deployment: &self.d, replica_sets: &self.rss, pods: &pods, now: t(self.now) };
        let plan = plan(input).expect("valid deployment");
        apply(&plan, &mut self.d, &mut self.rss, t(self.now), &mut self.uid_seq);
        self.reconcile_pods();
        let snap = self.snapshot();
        (plan, snap)
    }

    /// Time passes: terminating pods go away, the others become ready.
    fn tick(&mut self) {
        self.pods.retain(|p| !p.terminating);
        for p in &mut self.pods {
            p.ready = true;
        }
        self.now += 10;
    }

    fn complete(&self) -> bool {
        let status = self.d.status.clone().unwrap_or_default();
        let replicas = self.d.spec.as_ref().unwrap().replicas.unwrap();
        condition(&status, PROGRESSING).and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE_REASON)
            && status.available_replicas.unwrap_or(0) == replicas
            && status.replicas.unwrap_or(0) == replicas
    }

    /// Steps until complete and quiet; `check` sees every snapshot. Returns the step count.
    fn run(&mut self, max_steps: usize, mut check: impl FnMut(&Snapshot)) -> usize {
        for n in 0..max_steps {
            let (plan, snap) = self.step();
            check(&snap);
            if self.complete() && plan.actions.is_empty() && !plan.status_changed && snap.old_any == 0 {
                return n;
            }
            self.tick();
        }
        panic!("rollout did not complete in {max_steps} steps: {:?} {:?}", self.d.status, self.snapshot());
    }

    fn rs_by_image(&self, image: &str) -> Vec<&ReplicaSet> {
        self.rss
            .iter()
            .filter(|rs| equal_ignore_hash(rs.spec.as_ref().unwrap().template.as_ref().unwrap(), &template(image)))
            .collect()
    }
}

#[test]
fn rolling_update_10_replicas_stays_within_bounds() {
    let mut sim = Sim::new(deployment(10, pct("25%"), pct("25%")));
    sim.run(20, |s| assert!(s.live <= 13));
    assert_eq!(sim.rss.len(), 1);
    assert_eq!(sim.pods.len(), 10);

    set_image(&mut sim.d, "v2");
    let (mut max_live, mut min_ready) = (0, usize::MAX);
    let steps = sim.run(50, |s| {
        max_live = max_live.max(s.live);
        min_ready = min_ready.min(s.ready);
        assert!(s.live <= 13, "{s:?}");
        assert!(s.ready >= 8, "{s:?}");
    });
    assert!(steps > 2, "a real rolling update takes several rounds");
    assert_eq!(max_live, 13, "the surge is used");
    assert_eq!(min_ready, 8, "the unavailability budget is used");
    let v1 = sim.rs_by_image("v1");
    let v2 = sim.rs_by_image("v2");
    assert_eq!((spec_replicas(v1[0]), spec_replicas(v2[0])), (0, 10));
    assert_eq!(annotation(v2[0], REVISION_ANNOTATION).as_deref(), Some("2"));
    assert_eq!(annotation(&sim.rss[0], REVISION_ANNOTATION).as_deref(), Some("1"));
    assert_eq!(sim.d.metadata.annotations.as_ref().unwrap().get(REVISION_ANNOTATION).map(String::as_str), Some("2"));
    let status = sim.d.status.clone().unwrap();
    assert_eq!(status.updated_replicas, Some(10));
    assert_eq!(condition(&status, AVAILABLE).unwrap().status, "True");

    // kubectl rollout undo: the template goes back to v1; the v1 ReplicaSet is reused and
    // becomes revision 3.
    sim.d.spec.as_mut().unwrap().template = v1[0].spec.as_ref().unwrap().template.clone().unwrap();
    if let Some(l) = sim.d.spec.as_mut().unwrap().template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove(POD_TEMPLATE_HASH_LABEL);
    }
    sim.d.metadata.generation = Some(sim.d.metadata.generation.unwrap() + 1);
    sim.run(50, |s| {
        assert!(s.live <= 13, "{s:?}");
        assert!(s.ready >= 8, "{s:?}");
    });
    assert_eq!(sim.rss.len(), 2, "no new ReplicaSet for a rollback");
    let v1 = sim.rs_by_image("v1");
    assert_eq!(spec_replicas(v1[0]), 10);
    assert_eq!(annotation(v1[0], REVISION_ANNOTATION).as_deref(), Some("3"));
    assert_eq!(annotation(v1[0], REVISION_HISTORY_ANNOTATION).as_deref(), Some("1"));
    assert_eq!(sim.d.metadata.annotations.as_ref().unwrap().get(REVISION_ANNOTATION).map(String::as_str), Some("3"));
}

#[test]
fn recreate_never_overlaps() {
    let mut sim = Sim::new(recreate(5));
    sim.run(20, |_| {});
    for image in ["v2", "v3"] {
        set_image(&mut sim.d, image);
        let mut saw_gap = false;
        sim.run(50, |s| {
            assert!(s.new_any == 0 || s.old_any == 0, "old and new pods together: {s:?}");
            saw_gap |= s.new_any == 0 && s.live == 0;
            assert!(s.live <= 5);
        });
        assert!(saw_gap, "recreate goes through zero running pods");
        assert_eq!(spec_replicas(sim.rs_by_image(image)[0]), 5);
    }
}

#[test]
fn scaling_mid_rollout_is_proportional_then_completes() {
    let mut sim = Sim::new(deployment(10, pct("25%"), pct("25%")));
    sim.run(20, |_| {});
    set_image(&mut sim.d, "v2");
    // Two rounds of the rollout: new RS 5, old RS 8 (13 pods).
    sim.step();
    sim.tick();
    sim.step();
    sim.tick();
    let sizes = |sim: &Sim| (spec_replicas(sim.rs_by_image("v1")[0]), spec_replicas(sim.rs_by_image("v2")[0]));
    assert_eq!(sizes(&sim), (8, 5));

    set_replicas(&mut sim.d, 20);
    sim.step();
    assert_eq!(sizes(&sim), (15, 10), "13 → 25 split as 8:5");
    sim.tick();
    sim.run(50, |s| assert!(s.live <= 25, "{s:?}"));
    assert_eq!(sizes(&sim), (0, 20));
}

#[test]
fn history_is_trimmed_to_the_limit() {
    let mut d = deployment(3, pct("25%"), pct("25%"));
    d.spec.as_mut().unwrap().revision_history_limit = Some(2);
    let mut sim = Sim::new(d);
    sim.run(20, |_| {});
    for i in 2..=8 {
        set_image(&mut sim.d, &format!("v{i}"));
        sim.run(50, |_| {});
        assert!(sim.rss.len() <= 3, "{} ReplicaSets after revision {i}", sim.rss.len());
    }
    let mut revisions: Vec<i64> = sim.rss.iter().map(|rs| revision(rs).unwrap()).collect();
    revisions.sort();
    assert_eq!(revisions, vec![6, 7, 8], "the oldest revisions went first");
}

#[test]
fn paused_deployment_does_not_roll_out_until_resumed() {
    let mut sim = Sim::new(deployment(4, pct("25%"), pct("25%")));
    sim.run(20, |_| {});
    sim.d.spec.as_mut().unwrap().paused = Some(true);
    set_image(&mut sim.d, "v2");
    for _ in 0..3 {
        sim.step();
        sim.tick();
    }
    assert_eq!(sim.rss.len(), 1, "no new ReplicaSet while paused");
    let status = sim.d.status.clone().unwrap();
    assert_eq!(condition(&status, PROGRESSING).unwrap().reason.as_deref(), Some(PAUSED_REASON));
    sim.d.spec.as_mut().unwrap().paused = Some(false);
    sim.run(50, |s| assert!(s.live <= 5));
    assert_eq!(spec_replicas(sim.rs_by_image("v2")[0]), 4);
}

fn int_or_pct() -> impl proptest::strategy::Strategy<Value = IntOrString> {
    prop_oneof![(0..6_i32).prop_map(IntOrString::Int), (0..=100_i32).prop_map(|p| IntOrString::String(format!("{p}%")))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any rolling update keeps `replicas + maxSurge` and `replicas - maxUnavailable` as
    /// resolved by upstream's fenceposts, and completes.
    #[test]
    fn rolling_update_bounds(replicas in 1..20_i32, surge in int_or_pct(), unavailable in int_or_pct()) {
        let (max_surge, max_unavailable) = spec::resolve_fenceposts(Some(&surge), Some(&unavailable), replicas).unwrap();
        let max_unavailable = max_unavailable.min(replicas);
        let max_live = usize::try_from(replicas + max_surge).unwrap();
        let min_ready = usize::try_from(replicas - max_unavailable).unwrap();
        let mut sim = Sim::new(deployment(replicas, surge, unavailable));
        sim.run(40, |_| {});
        set_image(&mut sim.d, "v2");
        sim.run(400, |s| {
            assert!(s.live <= max_live, "{s:?} > {max_live}");
            assert!(s.ready >= min_ready, "{s:?} < {min_ready}");
        });
        prop_assert_eq!(spec_replicas(sim.rs_by_image("v2")[0]), replicas);
        prop_assert_eq!(sim.pods.len(), usize::try_from(replicas).unwrap());
    }
}
